/**
 * gRPC produce throughput (issue 3): 100-byte records in batches of 1000 from one client process
 * into the real broker process (fsync interval), beside the storage engine's own append rate for the
 * same batches measured in the same run.
 *
 *   npm run bench:grpc [-- --records 2000000 --concurrency 8]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { encodeBatch } from '../src/records/batch.ts';
import { PartitionLog } from '../src/storage/partition-log.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '2000000' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    acks: { type: 'string', default: '1' },
  },
});
const root = new URL('../', import.meta.url).pathname;
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

function brokerCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  return (Number(stat[11]) + Number(stat[12])) / ticks;
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-broker-'));
const broker = spawn(
  process.execPath,
  [
    path.join(root, 'src/cli/broker.ts'),
    '--data-dir',
    dataDir,
    '--grpc-port',
    '0',
    '--metrics-port',
    '0',
    '--kafka-port',
    '0',
    '--bind-addr',
    '127.0.0.1',
  ],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      BROKER_STORAGE_FSYNC: 'interval',
      BROKER_STORAGE_SYNC_WRITES: 'false',
      BROKER_STORAGE_MAX_SEGMENT_BYTES: String(1 << 30),
    },
  },
);
const grpcPort = await new Promise<number>((resolve, reject) => {
  let buf = '';
  broker.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const m = /"grpcPort":(\d+)/.exec(buf);
    if (m) resolve(Number(m[1]));
  });
  broker.on('exit', (code) => reject(new Error(`broker exited ${code}`)));
});
const address = `127.0.0.1:${grpcPort}`;
const admin = await BrokerClient.connect(address);
await admin.createTopic('bench', {
  partitions: 1,
  configs: { 'retention.ms': '-1', 'retention.bytes': '-1' },
});
admin.close();

const cpuBefore = brokerCpuSeconds(broker.pid!);
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
const brokerCpu = brokerCpuSeconds(broker.pid!) - cpuBefore;
const rss = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${broker.pid}/status`, 'utf8'))![1]) * 1024;
broker.kill('SIGTERM');
await new Promise((r) => broker.on('exit', r));
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
