import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ATTR,
  type BatchInput,
  computeBatchCrc,
  decodeBatch,
  decodeBatchAsync,
  encodeBatch,
  encodeBatchAsync,
  F,
  readBatchHeader,
  verifyBatch,
} from '../../src/records/batch.ts';
import { COMPRESSION, COMPRESSION_NAMES, type CompressionCode } from '../../src/records/compression.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';

const fixtures = new URL('./fixtures/', import.meta.url);

interface ExpectedRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: { key: string; value: string | null }[];
}

const b64 = (b: Buffer | null) => (b === null ? null : b.toString('base64'));

const recordArb = fc.record({
  key: fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))),
  value: fc.option(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))),
  headers: fc.array(
    fc.record({
      key: fc.string({ maxLength: 12 }),
      value: fc.option(fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a))),
    }),
    { maxLength: 3 },
  ),
  timestamp: fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
});

const batchArb = fc.record({
  records: fc.array(recordArb, { minLength: 1, maxLength: 30 }),
  compression: fc.constantFrom(...([0, 1, 2, 3, 4] as CompressionCode[])),
  baseOffset: fc.integer({ min: 0, max: 2 ** 50 }),
  partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
  producerId: fc.integer({ min: -1, max: 2 ** 52 }),
  producerEpoch: fc.integer({ min: -1, max: 32767 }),
  baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
});

function assertDecodedEqual(input: BatchInput, decoded: ReturnType<typeof decodeBatch>): void {
  assert.equal(decoded.records.length, input.records.length);
  input.records.forEach((r, i) => {
    const d = decoded.records[i];
    assert.equal(d.offset, (input.baseOffset ?? 0) + i);
    assert.equal(d.timestamp, r.timestamp);
    assert.deepEqual(d.key, r.key ?? null);
    assert.deepEqual(d.value, r.value);
    assert.deepEqual(
      d.headers,
      (r.headers ?? []).map((h) => ({ key: h.key, value: h.value })),
    );
  });
}

test('every header field and record round-trips through encode and decode, for every codec', () => {
  fc.assert(
    fc.property(batchArb, (input) => {
      const buf = encodeBatch(input);
      assert.equal(verifyBatch(buf, 0, buf.length), buf.length);
      const decoded = decodeBatch(buf);
      const h = decoded.header;
      assert.equal(h.baseOffset, input.baseOffset);
      assert.equal(h.partitionLeaderEpoch, input.partitionLeaderEpoch);
      assert.equal(h.magic, 2);
      assert.equal(h.attributes & ATTR.compressionMask, input.compression);
      assert.equal(h.lastOffsetDelta, input.records.length - 1);
      assert.equal(h.producerId, input.producerId);
      assert.equal(h.producerEpoch, input.producerEpoch);
      assert.equal(h.baseSequence, input.baseSequence);
      assert.equal(h.recordsCount, input.records.length);
      assert.equal(h.maxTimestamp, Math.max(...input.records.map((r) => r.timestamp)));
      assertDecodedEqual(input, decoded);
    }),
    { numRuns: 300 },
  );
});

test('the async encoder and decoder agree with the sync ones', async () => {
  await fc.assert(
    fc.asyncProperty(batchArb, async (input) => {
      const a = encodeBatch(input);
      const b = await encodeBatchAsync(input);
      assertDecodedEqual(input, await decodeBatchAsync(a));
      assertDecodedEqual(input, decodeBatch(b));
    }),
    { numRuns: 50 },
  );
});

test('batches written by kafka-python decode exactly, for every codec', () => {
  const expected = JSON.parse(readFileSync(new URL('expected.json', fixtures), 'utf8'));
  for (const name of COMPRESSION_NAMES) {
    const buf = readFileSync(new URL(`${name}.bin`, fixtures));
    const { header, records } = decodeBatch(buf);
    assert.equal(header.attributes & ATTR.compressionMask, COMPRESSION[name], name);
    assert.equal(header.producerId, expected.producerId);
    assert.equal(header.producerEpoch, expected.producerEpoch);
    assert.equal(header.baseSequence, expected.baseSequence);
    const got: ExpectedRecord[] = records.map((r) => ({
      offset: r.offset,
      timestamp: r.timestamp,
      key: b64(r.key),
      value: b64(r.value),
      headers: r.headers.map((h) => ({ key: h.key, value: b64(h.value) })),
    }));
    assert.deepEqual(got, expected.records, `${name} fixture`);
  }
});

test('batches we encode are read by kafka-python, for every codec', (t) => {
  if (!requireDebian(t, pythonHas('kafka', 'snappy', 'lz4', 'zstandard'), 'python3-kafka with its codecs'))
    return;
  for (const name of COMPRESSION_NAMES) {
    const input: BatchInput = {
      baseOffset: 100,
      compression: COMPRESSION[name],
      producerId: 7,
      producerEpoch: 1,
      baseSequence: 0,
      records: Array.from({ length: 200 }, (_, i) => ({
        key: i % 3 === 0 ? null : Buffer.from(`key-${i}`),
        value: i % 5 === 0 ? null : Buffer.from(`{"event": ${i}, "payload": "${'x'.repeat(i)}"}`),
        headers: i % 2 ? [{ key: 'h', value: Buffer.from([i & 0xff]) }] : [],
        timestamp: 1_700_000_000_000 + i,
      })),
    };
    const r = spawnSync(debianPython, [new URL('read-batches.py', fixtures).pathname], {
      input: encodeBatch(input),
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 200, name);
    lines.forEach((l, i) => {
      const want = input.records[i];
      assert.equal(l.offset, 100 + i);
      assert.equal(l.compression, COMPRESSION[name]);
      assert.equal(l.timestamp, want.timestamp);
      assert.equal(l.key, b64(want.key ?? null));
      assert.equal(l.value, b64(want.value));
      assert.deepEqual(
        l.headers,
        (want.headers ?? []).map((h) => ({ key: h.key, value: b64(h.value) })),
      );
    });
  }
});

test('verifyBatch names each kind of damage', () => {
  const good = encodeBatch({ records: [{ value: Buffer.from('hello') }, { value: Buffer.from('world') }] });
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1] ^= 0xff;
  assert.throws(() => verifyBatch(flipped, 0, flipped.length), { code: 'CORRUPT_MESSAGE', message: /CRC/ });
  assert.throws(() => verifyBatch(good, 0, good.length - 1), { code: 'CORRUPT_MESSAGE', message: /claims/ });
  assert.throws(() => verifyBatch(good, 0, 30), { code: 'CORRUPT_MESSAGE', message: /header/ });
  const v1 = Buffer.from(good);
  v1[F.magic] = 1;
  assert.throws(() => verifyBatch(v1, 0, v1.length), { code: 'UNSUPPORTED_FOR_MESSAGE_FORMAT' });
  const badCount = Buffer.from(good);
  badCount.writeInt32BE(5, F.recordsCount);
  assert.throws(() => verifyBatch(badCount, 0, badCount.length), { code: 'CORRUPT_MESSAGE' });
  const badLength = Buffer.from(good);
  badLength.writeInt32BE(0x7fffffff, F.batchLength);
  assert.throws(() => verifyBatch(badLength, 0, badLength.length), { code: 'CORRUPT_MESSAGE' });
});

test('decoding hostile record sections is a typed error, never a crash or a huge allocation', () => {
  fc.assert(
    fc.property(
      batchArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (input, flips) => {
        const buf = encodeBatch(input);
        for (const [at, byte] of flips) buf[F.records + (at % (buf.length - F.records))] = byte;
        // Re-sign the batch so that the damage reaches the record decoder instead of stopping at the CRC.
        buf.writeUInt32BE(0, F.crc);
        buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), F.crc);
        try {
          decodeBatch(buf);
        } catch (err) {
          assert.ok(
            ['CORRUPT_MESSAGE', 'MESSAGE_TOO_LARGE'].includes((err as { code: string }).code),
            String(err),
          );
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('readBatchHeader reads what the encoder wrote at a non-zero position', () => {
  const a = encodeBatch({ baseOffset: 5, records: [{ value: Buffer.from('a') }] });
  const b = encodeBatch({ baseOffset: 6, records: [{ value: Buffer.from('b') }, { value: null }] });
  const both = Buffer.concat([a, b]);
  const h = readBatchHeader(both, a.length);
  assert.equal(h.baseOffset, 6);
  assert.equal(h.recordsCount, 2);
});
