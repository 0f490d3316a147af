/**
 * Storage reduction and codec throughput on realistic JSON events (issue 4): the same events are
 * produced through the real client and broker (embedded, fsync interval) into one topic per codec, in
 * producer batches of 500 records; the report compares each topic's bytes on disk with the
 * uncompressed topic's, and times compression and decompression of the same batches in this process.
 *
 *   npm run bench:compression [-- --events 200000]
 *
 * With `--address host:port` it drives a broker that is already running (the suite, bench/run.ts,
 * passes its broker process) instead of an embedded one; `--json` prints the rows as one JSON line.
 */
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { COMPRESSION, COMPRESSION_NAMES, compress, decompress } from '../src/records/compression.ts';
import { startBroker } from '../src/server.ts';
import { jsonEvents } from './json-events.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '500' },
    address: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const total = Number(values.events);
const batchSize = Number(values.batch);

const events: { key: string; value: string }[] = [];
for (const e of jsonEvents(7)) {
  events.push(e);
  if (events.length === total) break;
}
const rawBytes = events.reduce((n, e) => n + e.key.length + e.value.length, 0);

const broker = values.address
  ? null
  : await startBroker({
      fsync: 'interval',
      retentionMs: -1,
      retentionBytes: -1,
      segmentBytes: 256 * 1024 * 1024,
    });
const client = await BrokerClient.connect(values.address ?? broker!.grpcAddress);
// A suffix keeps topic names fresh when the same broker process is measured again.
const suffix = values.address ? `-${process.pid}` : '';
const rows: {
  codec: string;
  diskBytes: number;
  produceSeconds: number;
  compressMBps: number;
  decompressMBps: number;
}[] = [];
for (const codec of COMPRESSION_NAMES) {
  const topic = `events-${codec}${suffix}`;
  await client.createTopic(topic, { partitions: 1 });
  const started = process.hrtime.bigint();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i += batchSize) {
    inflight.push(
      client.produceBatch(topic, events.slice(i, i + batchSize), {
        partition: 0,
        compression: codec,
        acks: 1,
      }),
    );
    if (inflight.length >= 8) await inflight.shift();
  }
  await Promise.all(inflight);
  const produceSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const diskBytes = (await client.describeTopic(topic)).partitionInfo[0].sizeBytes;

  // Codec speed alone on one representative batch's records section.
  const section = Buffer.from(
    events
      .slice(0, batchSize)
      .map((e) => e.value)
      .join('\n'),
  );
  const rounds = 50;
  let t0 = process.hrtime.bigint();
  let packed: Buffer = section;
  for (let r = 0; r < rounds; r++) packed = await compress(COMPRESSION[codec], section);
  const cSec = Number(process.hrtime.bigint() - t0) / 1e9;
  t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) await decompress(COMPRESSION[codec], packed, { maxOutputBytes: 64 << 20 });
  const dSec = Number(process.hrtime.bigint() - t0) / 1e9;
  rows.push({
    codec,
    diskBytes,
    produceSeconds,
    compressMBps: (section.length * rounds) / cSec / 2 ** 20,
    decompressMBps: (section.length * rounds) / dSec / 2 ** 20,
  });
}
client.close();
await broker?.close();

const none = rows.find((r) => r.codec === 'none')!.diskBytes;
if (values.json) {
  console.log(
    JSON.stringify({
      events: total,
      rawBytes,
      batch: batchSize,
      rows: rows.map((r) => ({
        ...r,
        ratio: none / r.diskBytes,
        eventsPerSec: total / r.produceSeconds,
        inputMBps: rawBytes / r.produceSeconds / 2 ** 20,
      })),
    }),
  );
  process.exit(0);
}
console.log(
  `${total.toLocaleString('en-US')} JSON events, ${(rawBytes / 2 ** 20).toFixed(1)} MiB of keys and values, batches of ${batchSize}\n`,
);
console.log(
  '| codec | bytes on disk | reduction vs none | produce events/s | compress MB/s | decompress MB/s |',
);
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.codec} | ${r.diskBytes.toLocaleString('en-US')} | ${((1 - r.diskBytes / none) * 100).toFixed(1)}% | ${Math.round(total / r.produceSeconds).toLocaleString('en-US')} | ${r.codec === 'none' ? '-' : r.compressMBps.toFixed(0)} | ${r.codec === 'none' ? '-' : r.decompressMBps.toFixed(0)} |`,
  );
}
