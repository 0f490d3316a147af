/**
 * Load generator for bench/grpc-produce.ts, run as its own process: produces `records` 100-byte
 * records in batches of `batch` with `concurrency` requests in flight through the TypeScript client,
 * and prints one JSON line with the result.
 *   node bench/grpc-load.ts <address> <topic> <records> <batch> <concurrency> <acks>
 */
import { BrokerClient } from '../src/client/index.ts';

const [address, topic, recordsArg, batchArg, concurrencyArg, acksArg] = process.argv.slice(2);
const records = Number(recordsArg);
const batch = Number(batchArg);
const concurrency = Number(concurrencyArg);
const acks = Number(acksArg) as 0 | 1 | -1;
const client = await BrokerClient.connect(address);
const value = Buffer.alloc(100, 'x');
const messages = Array.from({ length: batch }, () => ({ value }));
const batches = Math.ceil(records / batch);
let issued = 0;
const cpu0 = process.cpuUsage();
const started = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (issued < batches) {
      issued++;
      await client.produceBatch(topic, messages, { partition: 0, acks });
    }
  }),
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpu0);
client.close();
console.log(
  JSON.stringify({
    records: batches * batch,
    seconds,
    recordsPerSec: (batches * batch) / seconds,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
);
