/**
 * gRPC produce throughput (issue 3): 100-byte records in batches of 1000 from one client process
 * into the real broker process (fsync interval), beside the storage engine's own append rate for the
 * same batches measured in the same run.
 *
 *   npm run bench:grpc [-- --records 2000000 --concurrency 8]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { encodeBatch } from '../src/records/batch.ts';
import { PartitionLog } from '../src/storage/partition-log.ts';
import { root, sampleProc, startBroker } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '2000000' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    acks: { type: 'string', default: '1' },
  },
});
const records = Number(values.records);
const batch = Number(values.batch);

async function storageOnly(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-storage-'));
  const log = await PartitionLog.open({ dir, config: { fsync: 'interval', retentionMs: -1 } });
  const value = Buffer.alloc(100, 'x');
  const pool = Array.from({ length: 32 }, () =>
    encodeBatch({ records: Array.from({ length: batch }, () => ({ value })) }),
  );
  const batches = Math.ceil(records / batch);
  let issued = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 8 }, async (_, a) => {
      let k = 0;
      while (issued < batches) {
        issued++;
        await log.append(pool[a * 4 + (k++ % 4)]);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  return (batches * batch) / seconds;
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-broker-'));
const broker = await startBroker({
  dataDir,
  fsync: 'interval',
  env: { BROKER_STORAGE_MAX_SEGMENT_BYTES: String(1 << 30) },
});
const address = broker.grpcAddress;
const admin = await BrokerClient.connect(address);
await admin.createTopic('bench', {
  partitions: 1,
  configs: { 'retention.ms': '-1', 'retention.bytes': '-1' },
});
admin.close();

const cpuBefore = sampleProc(broker.pid).cpuSeconds;
const load = spawn(
  process.execPath,
  [
    path.join(root, 'bench/grpc-load.ts'),
    address,
    'bench',
    String(records),
    String(batch),
    values.concurrency!,
    values.acks!,
  ],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
let out = '';
load.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
await new Promise((r) => load.on('exit', r));
const result = JSON.parse(out.trim()) as { recordsPerSec: number; seconds: number; clientCpuSeconds: number };
const after = sampleProc(broker.pid);
const brokerCpu = after.cpuSeconds - cpuBefore;
const rss = after.peakRssBytes;
await broker.stop();
rmSync(dataDir, { recursive: true, force: true });

const storage = await storageOnly();
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`| path | records/s | MB/s (values) | notes |`);
console.log(`|---|---:|---:|---|`);
console.log(
  `| gRPC ProduceBatch, ${batch}-record batches, ${values.concurrency} in flight, acks=${values.acks} | ${fmt(result.recordsPerSec)} | ${((result.recordsPerSec * 100) / 2 ** 20).toFixed(0)} | broker CPU ${brokerCpu.toFixed(1)} s, client CPU ${result.clientCpuSeconds.toFixed(1)} s, broker peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB |`,
);
console.log(
  `| storage engine append (same batches, in process) | ${fmt(storage)} | ${((storage * 100) / 2 ** 20).toFixed(0)} | fsync interval |`,
);
console.log(
  `\ngRPC path reaches ${((result.recordsPerSec / storage) * 100).toFixed(0)}% of the storage engine's rate.`,
);
