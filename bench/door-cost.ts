/**
 * What each door costs the broker (issue 17): broker CPU seconds per MiB of record values produced
 * and consumed through the Kafka door (kcat, librdkafka) and through the gRPC door (the TypeScript
 * client, in its own process), the same records into the same broker process, in one run, so that the
 * ratio holds on a shared, noisy machine. Each figure is the median of `--rounds` rounds, the doors
 * alternating. Reported, never asserted.
 *
 *   npm run bench:doors [-- --records 250000 --bytes 1024 --rounds 3 --json out.json]
 *
 * `npm run bench` runs it as its `doors` section, with --json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { type BrokerProcess, run, runLoad, sampleProc, startBroker } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '250000' },
    bytes: { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const records = Number(values.records);
const bytes = Number(values.bytes);
const rounds = Number(values.rounds);
const mib = (records * bytes) / 2 ** 20;

async function cost(broker: BrokerProcess, fn: () => Promise<unknown>): Promise<{ cpu: number; s: number }> {
  const before = sampleProc(broker.pid).cpuSeconds;
  const t = performance.now();
  await fn();
  return { cpu: sampleProc(broker.pid).cpuSeconds - before, s: (performance.now() - t) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(path.join(tmpdir(), 'bench-doors-'));
const input = path.join(dir, 'records.txt');
// kcat sends each line as a record, without its newline.
writeFileSync(input, `${'x'.repeat(bytes)}\n`.repeat(records));
const broker = await startBroker({
  dataDir: path.join(dir, 'data'),
  fsync: 'interval',
  env: { BROKER_STORAGE_MAX_SEGMENT_BYTES: String(1 << 30) },
});
const bootstrap = `127.0.0.1:${broker.kafkaPort}`;
const rows: Record<string, { cpu: number; s: number }[]> = {
  'Kafka produce': [],
  'gRPC produce': [],
  'Kafka consume': [],
  'gRPC consume': [],
};
try {
  const admin = await BrokerClient.connect(broker.grpcAddress);
  for (let r = 0; r < rounds; r++) {
    const k = `kafka-${r}`;
    const g = `grpc-${r}`;
    await admin.createTopic(k, { partitions: 1 });
    await admin.createTopic(g, { partitions: 1 });
    rows['Kafka produce'].push(
      await cost(broker, () =>
        run(
          'kcat',
          ['-P', '-b', bootstrap, '-t', k, '-p', '0', '-X', 'linger.ms=5', '-X', 'batch.size=1000000'].concat(
            ['-X', 'queue.buffering.max.kbytes=1000000', '-X', 'acks=1', '-l', input],
          ),
          { timeoutMs: 600_000 },
        ),
      ),
    );
    rows['gRPC produce'].push(
      await cost(broker, () =>
        runLoad(
          'produce',
          {
            address: broker.grpcAddress,
            topic: g,
            partitions: 1,
            recordBytes: bytes,
            batch: 1000,
            acks: 1,
            concurrency: 8,
            durationMs: 600_000,
            maxRecords: records,
          },
          600_000,
        ),
      ),
    );
    rows['Kafka consume'].push(
      await cost(broker, () =>
        run(
          'kcat',
          ['-C', '-b', bootstrap, '-t', k, '-p', '0', '-o', 'beginning', '-c', String(records)].concat([
            '-e',
            '-q',
            '-f',
            '%o\n',
          ]),
          { timeoutMs: 600_000 },
        ),
      ),
    );
    rows['gRPC consume'].push(
      await cost(broker, () =>
        runLoad(
          'consume',
          {
            address: broker.grpcAddress,
            topic: g,
            partition: 0,
            fromOffset: 0,
            mode: 'drain',
            maxBytes: 4 * 2 ** 20,
            durationMs: 600_000,
          },
          600_000,
        ),
      ),
    );
  }
  admin.close();
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}

const perMiB = (name: string) => (median(rows[name].map((x) => x.cpu)) / mib) * 1000;
console.log(
  `${records.toLocaleString('en')} records of ${bytes} B (${mib.toFixed(0)} MiB) per round, ${rounds} rounds, medians:`,
);
console.log('| door | records/s | broker CPU ms per MiB |');
console.log('|---|---:|---:|');
for (const name of Object.keys(rows)) {
  const rate = records / median(rows[name].map((x) => x.s));
  console.log(`| ${name} | ${Math.round(rate).toLocaleString('en')} | ${perMiB(name).toFixed(2)} |`);
}
console.log(
  `gRPC / Kafka broker CPU per MiB: produce ${(perMiB('gRPC produce') / perMiB('Kafka produce')).toFixed(2)}x, consume ${(perMiB('gRPC consume') / perMiB('Kafka consume')).toFixed(2)}x (goal: at most 1.5x)`,
);
if (values.json)
  writeFileSync(
    values.json,
    JSON.stringify({
      records,
      recordBytes: bytes,
      rounds,
      rows: Object.keys(rows).map((door) => ({
        door,
        recordsPerSec: records / median(rows[door].map((x) => x.s)),
        brokerCpuMsPerMiB: perMiB(door),
      })),
    }),
  );
