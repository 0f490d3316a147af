/**
 * What record validation on append costs (issue 10 finding 3): for uncompressed batches and each codec,
 * the throughput of `validateClientBatch` (framing, CRC-32C, one bounded decompression, the in-place
 * record walk) beside the CRC-32C alone and the walk alone, over the same batches, in MB/s of batch
 * bytes as stored and in records/s.
 *
 *   npm run bench:validate [-- --seconds 1 --batch 500 --json]
 *
 * Two kinds of records: realistic JSON events (bench/json-events.ts, about 600 B) and 100-byte values,
 * as the produce benchmarks send. Each figure runs for `--seconds` over a fixed set of batches.
 */
import { parseArgs } from 'node:util';
import { BATCH_HEADER_BYTES, computeBatchCrc, encodeBatch, readBatchHeader } from '../src/records/batch.ts';
import { COMPRESSION, COMPRESSION_NAMES, type CompressionCode } from '../src/records/compression.ts';
import { recordsSectionSync, walkRecords } from '../src/records/record-walk.ts';
import { validateClientBatch } from '../src/records/validate.ts';
import { jsonEvents } from './json-events.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1' },
    batch: { type: 'string', default: '500' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const batchRecords = Number(values.batch);

function datasets(): { name: string; records: { key: Buffer | null; value: Buffer }[] }[] {
  const events: { key: Buffer | null; value: Buffer }[] = [];
  for (const e of jsonEvents(7)) {
    events.push({ key: Buffer.from(e.key), value: Buffer.from(e.value) });
    if (events.length === 20 * batchRecords) break;
  }
  const small = Array.from({ length: 20 * batchRecords }, (_, i) => ({
    key: null,
    value: Buffer.from(`${i}:`.padEnd(100, 'x')),
  }));
  return [
    { name: 'json events', records: events },
    { name: '100 B values', records: small },
  ];
}

/** Runs `fn` over `batches` for about `seconds`; returns passes per second. */
async function rate(batches: Buffer[], fn: (b: Buffer) => unknown): Promise<number> {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let passes = 0;
  const started = process.hrtime.bigint();
  while (process.hrtime.bigint() < deadline) {
    for (const b of batches) await fn(b);
    passes++;
  }
  return passes / (Number(process.hrtime.bigint() - started) / 1e9);
}

interface Row {
  data: string;
  codec: string;
  batchBytes: number;
  crcMBps: number;
  walkMBps: number;
  validateMBps: number;
  validateRecordsPerSec: number;
  walkRecordsPerSec: number;
}

const rows: Row[] = [];
for (const { name, records } of datasets()) {
  for (const codecName of COMPRESSION_NAMES) {
    const codec = COMPRESSION[codecName] as CompressionCode;
    const batches: Buffer[] = [];
    for (let i = 0; i < records.length; i += batchRecords) {
      batches.push(encodeBatch({ records: records.slice(i, i + batchRecords), compression: codec }));
    }
    const bytes = batches.reduce((n, b) => n + b.length, 0);
    const sections = batches.map((b) => ({
      header: readBatchHeader(b),
      records: recordsSectionSync(codec, b.subarray(BATCH_HEADER_BYTES)),
    }));
    const crc = await rate(batches, (b) => computeBatchCrc(b, 0, b.length));
    let i = 0;
    const walk = await rate(batches, () => {
      const s = sections[i++ % sections.length];
      return walkRecords(s.header, s.records);
    });
    const validate = await rate(batches, (b) => validateClientBatch(b, 0, b.length));
    rows.push({
      data: name,
      codec: codecName,
      batchBytes: Math.round(bytes / batches.length),
      crcMBps: (crc * bytes) / 1e6,
      walkMBps: (walk * bytes) / 1e6,
      validateMBps: (validate * bytes) / 1e6,
      validateRecordsPerSec: validate * records.length,
      walkRecordsPerSec: walk * records.length,
    });
  }
}

if (values.json) {
  console.log(JSON.stringify(rows));
} else {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  const mrec = (n: number) => `${(n / 1e6).toFixed(2)} M`;
  console.log(`batches of ${batchRecords} records; MB/s of batch bytes as stored`);
  console.log(
    'data          codec   batch B   CRC MB/s  walk MB/s  validate MB/s  validate rec/s  walk rec/s',
  );
  for (const r of rows) {
    console.log(
      `${r.data.padEnd(13)} ${r.codec.padEnd(7)} ${String(r.batchBytes).padStart(7)} ${fmt(r.crcMBps).padStart(10)} ${fmt(r.walkMBps).padStart(10)} ${fmt(r.validateMBps).padStart(14)} ${mrec(r.validateRecordsPerSec).padStart(15)} ${mrec(r.walkRecordsPerSec).padStart(11)}`,
    );
  }
}
