/**
 * Issue 10 finding 4: every path that walks the records of a stored batch (the time lookup, compaction,
 * the core's decoded fetch) goes through the bounded record walk. With batches of many records in
 * every codec the answers match a reference decoded in full; a stored batch of batchRecordsMax records
 * is walked to its end; one past the bound (written before records were validated) gets a bounded
 * answer instead of an unbounded walk, and the log goes on serving.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { batchRecordsMax, consumeRecordsMax } from '../../src/limits.ts';
import { decodeBatch, encodeBatch, forEachBatch } from '../../src/records/batch.ts';
import { COMPRESSION, type CompressionCode, compressSync } from '../../src/records/compression.ts';
import { startBroker } from '../../src/server.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { craftBatch, emptyRecords } from '../helpers/craft-batch.ts';
import { tempDir } from '../helpers/tmp.ts';
import { readAll } from './helpers.ts';

const codecArb = fc.constantFrom(...([0, 1, 2, 3, 4] as CompressionCode[]));

test('offsetForTimestamp agrees with a full decode, for timestamps out of order inside batches', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          codec: codecArb,
          stamps: fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 30 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      fc.array(fc.integer({ min: -10, max: 5100 }), { minLength: 1, maxLength: 8 }),
      async (batches, targets) => {
        const log = await PartitionLog.open({
          dir: `${dir}/${run++}`,
          config: { segmentBytes: 4096, indexIntervalBytes: 256 },
        });
        try {
          const all: { offset: number; timestamp: number }[] = [];
          for (const b of batches) {
            const batch = encodeBatch({
              compression: b.codec,
              baseTimestamp: Math.min(...b.stamps),
              records: b.stamps.map((ts, i) => ({ value: Buffer.from(`r${i}`), timestamp: ts })),
            });
            const { baseOffset } = await log.append(batch);
            for (const [i, ts] of b.stamps.entries()) all.push({ offset: baseOffset + i, timestamp: ts });
          }
          for (const target of targets) {
            const expected = all.find((r) => r.timestamp >= target) ?? null;
            assert.deepEqual(await log.offsetForTimestamp(target), expected, `target ${target}`);
          }
        } finally {
          await log.close();
        }
      },
    ),
    { numRuns: 40 },
  );
});

test('a stored batch of batchRecordsMax records is walked to its end; one more is answered within bounds', async (t) => {
  const log = await PartitionLog.open({
    dir: await tempDir(t),
    config: { maxMessageBytes: 8 * 1024 * 1024 },
  });
  t.after(() => log.close());
  const ts = 1_700_000_000_000;
  const atBound = craftBatch({
    section: compressSync(COMPRESSION.zstd, emptyRecords(batchRecordsMax, 50)),
    count: batchRecordsMax,
    attributes: COMPRESSION.zstd,
    baseTimestamp: ts,
    maxTimestamp: ts + 50,
  });
  await log.append(atBound);
  // Only its last record reaches ts + 1: the walk reads the whole batch to find it.
  assert.deepEqual(await log.offsetForTimestamp(ts + 1), { offset: batchRecordsMax - 1, timestamp: ts + 50 });
  assert.deepEqual(await log.offsetForTimestamp(ts), { offset: 0, timestamp: ts });
  // Past the bound, with a maxTimestamp no record reaches: the storage layer checks only framing and
  // CRC, so a log written before record validation existed may hold such a batch. The walk stops at
  // the bound and the lookup answers with the batch's first offset (a consumer reads more, never less).
  const over = craftBatch({
    section: compressSync(COMPRESSION.zstd, emptyRecords(batchRecordsMax + 1)),
    count: batchRecordsMax + 1,
    attributes: COMPRESSION.zstd,
    baseTimestamp: ts + 1000,
    maxTimestamp: ts + 2000,
  });
  const { baseOffset } = await log.append(over);
  assert.equal(baseOffset, batchRecordsMax);
  assert.deepEqual(await log.offsetForTimestamp(ts + 1500), { offset: baseOffset, timestamp: ts + 2000 });
  await log.append(encodeBatch({ records: [{ value: Buffer.from('after'), timestamp: ts + 3000 }] }));
  assert.deepEqual(await log.offsetForTimestamp(ts + 2500), {
    offset: baseOffset + batchRecordsMax + 1,
    timestamp: ts + 3000,
  });
  let batches = 0;
  forEachBatch(await readAll(log), () => batches++);
  assert.equal(batches, 3, 'the log still serves every batch');
});

test('the decoded fetch hands out at most consumeRecordsMax records of a large batch and goes on from there', async (t) => {
  const broker = await startBroker({ dataDir: await tempDir(t) });
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'wide', partitions: 1 });
  const n = 3 * consumeRecordsMax + 17;
  const batch = encodeBatch({
    compression: COMPRESSION.lz4,
    records: Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(String(i)) })),
  });
  await broker.core.produce('wide', 0, batch);
  const one = await broker.core.fetchRecords('wide', 0, 5, { maxRecords: 1 });
  assert.deepEqual(
    one.records.map((r) => [r.offset, r.value?.toString()]),
    [[5, '5']],
  );
  assert.equal(one.nextOffset, 6);
  let offset = 0;
  const seen: string[] = [];
  while (offset < n) {
    const r = await broker.core.fetchRecords('wide', 0, offset, { maxBytes: 64 * 1024 * 1024 });
    assert.ok(r.records.length > 0 && r.records.length <= consumeRecordsMax, `${r.records.length} records`);
    assert.equal(r.records[0].offset, offset);
    for (const rec of r.records) seen.push(rec.value!.toString());
    offset = r.nextOffset;
  }
  assert.equal(seen.length, n);
  assert.ok(seen.every((v, i) => v === String(i)));
  // maxBytes bounds the decoded records too (at least one is always handed out).
  const small = await broker.core.fetchRecords('wide', 0, 0, { maxBytes: 100 });
  assert.ok(small.records.length >= 1 && small.records.length < 30, `${small.records.length} records`);
});

test('compaction thins batches of every codec by copying the kept records, and keeps offsets and timestamps', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  let removedTotal = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          codec: codecArb,
          keys: fc.array(fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { nil: null }), {
            minLength: 1,
            maxLength: 15,
          }),
        }),
        { minLength: 2, maxLength: 10 },
      ),
      async (batches) => {
        const log = await PartitionLog.open({
          dir: `${dir}/${run++}`,
          config: { segmentBytes: 1024, cleanupPolicy: { compact: true, delete: false } },
        });
        try {
          const written: { offset: number; key: string | null; timestamp: number }[] = [];
          let ts = 1_700_000_000_000;
          for (const b of batches) {
            const records = b.keys.map((k) => ({
              key: k === null ? null : Buffer.from(k),
              value: Buffer.from('v'),
              timestamp: ts++,
            }));
            const { baseOffset } = await log.append(encodeBatch({ records, compression: b.codec }));
            for (const [i, r] of records.entries()) {
              written.push({
                offset: baseOffset + i,
                key: r.key?.toString() ?? null,
                timestamp: r.timestamp,
              });
            }
          }
          await log.roll();
          const closedEnd = log.logEndOffset;
          await log.compact();
          const after: { offset: number; key: string | null; timestamp: number }[] = [];
          for (const bytes of [await readAll(log)]) {
            forEachBatch(bytes, (pos, size) => {
              for (const r of decodeBatch(bytes.subarray(pos, pos + size)).records) {
                after.push({ offset: r.offset, key: r.key?.toString() ?? null, timestamp: r.timestamp });
              }
            });
          }
          const newest = new Map<string, number>();
          for (const w of written) if (w.key !== null && w.offset < closedEnd) newest.set(w.key, w.offset);
          const expected = written.filter(
            (w) => w.key === null || w.offset >= closedEnd || newest.get(w.key) === w.offset,
          );
          assert.deepEqual(after, expected);
          removedTotal += written.length - after.length;
        } finally {
          await log.close();
        }
      },
    ),
    { numRuns: 30 },
  );
  assert.ok(removedTotal > 0, 'compaction removed records in some runs');
});
