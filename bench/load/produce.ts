/**
 * Produce load generator (issue 7), run as its own process by bench/run.ts: for `durationMs` (or
 * until `maxRecords`), keeps `concurrency` ProduceBatch calls of `batch` records of `recordBytes`
 * bytes in flight through the TypeScript client, spreading batches round-robin over `partitions`.
 * Prints one JSON line.
 *   node bench/load/produce.ts '{"address":"127.0.0.1:8080","topic":"t",...}'
 */
import { BrokerClient } from '../../src/client/index.ts';
import type { CompressionName } from '../../src/records/compression.ts';

interface Params {
  address: string;
  topic: string;
  partitions: number;
  recordBytes: number;
  batch: number;
  acks: 0 | 1 | -1;
  concurrency: number;
  durationMs: number;
  maxRecords?: number;
  compression?: CompressionName;
}

const p = JSON.parse(process.argv[2]) as Params;
const client = await BrokerClient.connect(p.address, { requestTimeoutMs: 120_000 });
const value = Buffer.alloc(p.recordBytes, 'x');
const messages = Array.from({ length: p.batch }, () => ({ value }));
const maxBatches = p.maxRecords ? Math.ceil(p.maxRecords / p.batch) : Number.POSITIVE_INFINITY;
let issued = 0;
let acked = 0;
const cpu0 = process.cpuUsage();
const started = performance.now();
const deadline = started + p.durationMs;
await Promise.all(
  Array.from({ length: p.concurrency }, async () => {
    while (issued < maxBatches && performance.now() < deadline) {
      const partition = issued++ % p.partitions;
      await client.produceBatch(p.topic, messages, { partition, acks: p.acks, compression: p.compression });
      acked++;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
client.close();
console.log(
  JSON.stringify({
    records: acked * p.batch,
    seconds,
    recordsPerSec: (acked * p.batch) / seconds,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
);
