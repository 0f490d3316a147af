/**
 * Record validation on append (issue 10 findings 1, 3 and 4): a batch under a valid CRC whose records
 * are not framed, whose count differs from what it holds, whose data is not in the declared codec, or
 * whose control bit is set without the transactional bit is refused; so is a small batch that expands
 * past the record or byte bounds. Every batch a real encoder writes is accepted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { isBrokerError } from '../../src/errors.ts';
import { batchDecompressedBytesMax, batchRecordsMax, decompressInlineBytesMax } from '../../src/limits.ts';
import {
  ATTR,
  BATCH_HEADER_BYTES,
  decodeBatch,
  encodeBatch,
  F,
  LOG_OVERHEAD,
  readBatchHeader,
} from '../../src/records/batch.ts';
import { COMPRESSION, type CompressionCode, compressSync } from '../../src/records/compression.ts';
import { recordsSectionSync, STOP, walkRecords } from '../../src/records/record-walk.ts';
import { validateClientBatch } from '../../src/records/validate.ts';
import { craftBatch, emptyRecords, resign } from '../helpers/craft-batch.ts';

const codecArb = fc.constantFrom(...([0, 1, 2, 3, 4] as CompressionCode[]));

const recordArb = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a))),
  value: fc.option(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))),
  headers: fc.array(
    fc.record({
      key: fc.string({ maxLength: 8 }),
      value: fc.option(fc.uint8Array({ maxLength: 10 }).map((a) => Buffer.from(a))),
    }),
    { maxLength: 3 },
  ),
  timestamp: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
});

const recordsArb = fc.array(recordArb, { minLength: 1, maxLength: 40 });

/** The error code a validation ends with, or 'ok'. */
async function verdict(batch: Buffer): Promise<string> {
  try {
    await validateClientBatch(batch, 0, batch.length);
    return 'ok';
  } catch (err) {
    assert.ok(isBrokerError(err), `validation threw a non-BrokerError: ${String(err)}`);
    return err.code;
  }
}

/**
 * The reference: the materializing decoder reads the batch, its records are at deltas 0..n-1 and their
 * number is lastOffsetDelta + 1, and no control bit is set.
 */
function referenceAccepts(batch: Buffer): boolean {
  try {
    const { header, records } = decodeBatch(batch);
    if (header.attributes & ATTR.control) return false;
    if (records.length === 0 || records.length !== header.lastOffsetDelta + 1) return false;
    return records.every((r, i) => r.offset - header.baseOffset === i);
  } catch {
    return false;
  }
}

test('every batch the encoder writes passes validation, for every codec', async () => {
  await fc.assert(
    fc.asyncProperty(recordsArb, codecArb, async (records, compression) => {
      const batch = encodeBatch({ records, compression });
      const v = await validateClientBatch(batch, 0, batch.length);
      assert.equal(v.size, batch.length);
      assert.equal(v.codec, compression);
      // The walk sees what the decoder sees.
      const decoded = decodeBatch(batch).records;
      const seen: { offset: number; timestamp: number; key: string | null }[] = [];
      walkRecords(v.header, v.records, {}, (r) => {
        seen.push({
          offset: r.offsetDelta,
          timestamp: r.timestamp,
          key:
            r.keyLength < 0 ? null : v.records.subarray(r.keyStart, r.keyStart + r.keyLength).toString('hex'),
        });
        return undefined;
      });
      assert.deepEqual(
        seen,
        decoded.map((d) => ({
          offset: d.offset,
          timestamp: d.timestamp,
          key: d.key?.toString('hex') ?? null,
        })),
      );
    }),
    { numRuns: 150 },
  );
});

test('a mutated records section under a valid CRC is refused exactly when the reference decoder refuses it', async () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      recordsArb,
      codecArb,
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      async (records, codec, mutations) => {
        const good = encodeBatch({ records, compression: codec });
        let section = Buffer.from(good.subarray(F.records));
        for (const m of mutations) {
          const at = section.length === 0 ? 0 : m.at % section.length;
          if (m.kind === 'flip') section[at] = m.byte;
          else if (m.kind === 'cut')
            section = Buffer.concat([section.subarray(0, at), section.subarray(at + m.n)]);
          else section = Buffer.concat([section.subarray(0, at), Buffer.from(m.bytes), section.subarray(at)]);
        }
        const batch = Buffer.concat([good.subarray(0, F.records), section]);
        batch.writeInt32BE(batch.length - LOG_OVERHEAD, F.batchLength);
        resign(batch);
        const v = await verdict(batch);
        const expected = referenceAccepts(batch);
        assert.equal(
          v === 'ok',
          expected,
          `validator said ${v}, reference ${expected ? 'accepts' : 'refuses'}`,
        );
        if (v !== 'ok') assert.ok(v === 'CORRUPT_MESSAGE' || v === 'MESSAGE_TOO_LARGE', v);
        if (v !== 'ok' && codec === COMPRESSION.none) assert.equal(v, 'CORRUPT_MESSAGE');
      },
    ),
    { numRuns: 400 },
  );
});

test('a garbage records section under a valid CRC is refused with CORRUPT_MESSAGE', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      async (bytes, count) => {
        const batch = craftBatch({ section: Buffer.from(bytes), count });
        const v = await verdict(batch);
        assert.equal(v === 'ok', referenceAccepts(batch));
        if (v !== 'ok') assert.equal(v, 'CORRUPT_MESSAGE');
      },
    ),
    { numRuns: 300 },
  );
});

test('a count and lastOffsetDelta that disagree with the records held are refused (finding 1)', async () => {
  await fc.assert(
    fc.asyncProperty(
      recordsArb,
      codecArb,
      fc.oneof(
        fc.integer({ min: 1, max: 100 }),
        fc.constant(2 ** 31 - 1),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      ),
      async (records, codec, claimed) => {
        fc.pre(claimed !== records.length);
        const batch = encodeBatch({ records, compression: codec });
        batch.writeInt32BE(claimed, F.recordsCount);
        batch.writeInt32BE(claimed - 1, F.lastOffsetDelta);
        assert.equal(await verdict(resign(batch)), 'CORRUPT_MESSAGE');
      },
    ),
    { numRuns: 200 },
  );
});

test('data that is not in the declared codec is refused with CORRUPT_MESSAGE', async () => {
  await fc.assert(
    fc.asyncProperty(recordsArb, codecArb, codecArb, async (records, actual, declared) => {
      fc.pre(actual !== declared);
      const batch = encodeBatch({ records, compression: actual });
      const attributes = batch.readInt16BE(F.attributes);
      batch.writeInt16BE((attributes & ~ATTR.compressionMask) | declared, F.attributes);
      const v = await verdict(resign(batch));
      assert.equal(v, 'CORRUPT_MESSAGE');
    }),
    { numRuns: 200 },
  );
});

test('a control bit is refused: CORRUPT_MESSAGE without the transactional bit, INVALID_RECORD with it', async () => {
  await fc.assert(
    fc.asyncProperty(recordsArb, codecArb, fc.boolean(), async (records, codec, transactional) => {
      const batch = encodeBatch({ records, compression: codec, control: true, transactional });
      assert.equal(await verdict(batch), transactional ? 'INVALID_RECORD' : 'CORRUPT_MESSAGE');
    }),
    { numRuns: 60 },
  );
});

test('offset deltas out of order are refused even when count and lastOffsetDelta agree', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(recordArb, { minLength: 2, maxLength: 20 }), fc.nat(), async (records, k) => {
      const i = k % records.length;
      const j = (i + 1) % records.length;
      const shuffled = records.map((r, n) => ({ ...r, offsetDelta: n === i ? j : n === j ? i : n }));
      const batch = encodeBatch({ records: shuffled, lastOffsetDelta: records.length - 1 });
      assert.equal(await verdict(batch), 'CORRUPT_MESSAGE');
    }),
    { numRuns: 100 },
  );
});

test('a small compressed batch holding more than batchRecordsMax records is refused (finding 4)', async () => {
  const n = batchRecordsMax + 1;
  const records = emptyRecords(n);
  for (const codec of [COMPRESSION.gzip, COMPRESSION.zstd, COMPRESSION.lz4, COMPRESSION.snappy]) {
    const section = compressSync(codec, records);
    const batch = craftBatch({ section, count: n, attributes: codec });
    if (codec === COMPRESSION.gzip || codec === COMPRESSION.zstd) {
      assert.ok(batch.length * 4 < records.length, `the batch is small: ${batch.length} bytes`);
    }
    assert.equal(await verdict(batch), 'MESSAGE_TOO_LARGE', `codec ${codec}`);
    // The same batch claiming the count it could never reach is refused too.
    batch.writeInt32BE(2 ** 31 - 1, F.recordsCount);
    batch.writeInt32BE(2 ** 31 - 2, F.lastOffsetDelta);
    assert.ok(['MESSAGE_TOO_LARGE', 'CORRUPT_MESSAGE'].includes(await verdict(resign(batch))));
  }
  // Exactly at the bound it is accepted: the bound is where the documentation says.
  const atBound = craftBatch({
    section: compressSync(COMPRESSION.zstd, emptyRecords(batchRecordsMax)),
    count: batchRecordsMax,
    attributes: COMPRESSION.zstd,
  });
  assert.equal(await verdict(atBound), 'ok');
});

test('records that decompress past batchDecompressedBytesMax are refused before they are held', async () => {
  // One record whose value is all zeros: a few hundred kilobytes of gzip that expand past the bound.
  const valueBytes = batchDecompressedBytesMax;
  const record = Buffer.alloc(valueBytes + 16);
  let pos = 0;
  const body = 1 + 1 + 1 + 1 + 5 + valueBytes + 1;
  pos = writeZigzag(record, pos, body);
  record[pos++] = 0;
  record[pos++] = 0;
  record[pos++] = 0;
  record[pos++] = 1;
  pos = writeZigzag(record, pos, valueBytes);
  pos += valueBytes;
  record[pos++] = 0;
  const section = zlib.gzipSync(record.subarray(0, pos), { level: 1 });
  const batch = craftBatch({ section, count: 1, attributes: COMPRESSION.gzip });
  assert.ok(batch.length < 1024 * 1024);
  assert.equal(await verdict(batch), 'MESSAGE_TOO_LARGE');
});

function writeZigzag(buf: Buffer, pos: number, v: number): number {
  let zz = v * 2;
  while (zz >= 0x80) {
    buf[pos++] = (zz % 128) | 0x80;
    zz = Math.floor(zz / 128);
  }
  buf[pos++] = zz;
  return pos;
}

test('a walk stops where its visitor says and reads no further', () => {
  const batch = encodeBatch({
    records: Array.from({ length: 50 }, (_, i) => ({ value: Buffer.from(`v${i}`) })),
  });
  const header = readBatchHeader(batch);
  const section = recordsSectionSync(COMPRESSION.none, batch.subarray(BATCH_HEADER_BYTES));
  const seen: number[] = [];
  const read = walkRecords(header, section, {}, (r) => {
    seen.push(r.offsetDelta);
    return r.offsetDelta === 9 ? STOP : undefined;
  });
  assert.equal(read, 10);
  assert.deepEqual(seen, [...Array(10).keys()]);
});

test('records past decompressInlineBytesMax are decompressed on the thread pool and accepted, in every codec', async () => {
  const value = Buffer.alloc(decompressInlineBytesMax * 3, 'abcdefgh');
  for (const compression of [COMPRESSION.gzip, COMPRESSION.snappy, COMPRESSION.lz4, COMPRESSION.zstd]) {
    const batch = encodeBatch({ compression, records: [{ value }, { value: Buffer.from('small') }] });
    const v = await validateClientBatch(batch, 0, batch.length);
    assert.ok(v.records.length > decompressInlineBytesMax, `codec ${compression}`);
    const values = decodeBatch(batch).records.map((r) => r.value?.length);
    assert.deepEqual(values, [value.length, 5]);
  }
});

test('a gzip trailer or zstd frame header that lies about the output size is refused, not trusted', async () => {
  const records = Array.from({ length: 50 }, (_, i) => ({ value: Buffer.from(`value ${i}`) }));
  const gz = encodeBatch({ compression: COMPRESSION.gzip, records });
  gz.writeUInt32LE(0x7fffffff, gz.length - 4); // ISIZE
  assert.equal(await verdict(resign(gz)), 'CORRUPT_MESSAGE');
  const small = encodeBatch({ compression: COMPRESSION.gzip, records });
  small.writeUInt32LE(1, small.length - 4);
  assert.equal(await verdict(resign(small)), 'CORRUPT_MESSAGE');
});
