import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import snappy from 'snappy';
import {
  COMPRESSION,
  COMPRESSION_NAMES,
  compress,
  compressSync,
  decompress,
  decompressSync,
} from '../../src/records/compression.ts';

const limit = { maxOutputBytes: 64 * 1024 * 1024 };

test('every codec round-trips arbitrary bytes, sync and async', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 100_000 }), async (arr) => {
      const data = Buffer.from(arr);
      for (const name of COMPRESSION_NAMES) {
        const codec = COMPRESSION[name];
        assert.deepEqual(decompressSync(codec, compressSync(codec, data), limit), data, name);
        assert.deepEqual(await decompress(codec, await compress(codec, data), limit), data, name);
      }
    }),
    { numRuns: 40 },
  );
});

test('snappy is written xerial-framed (as Kafka Java clients expect) and read framed or raw', () => {
  const data = Buffer.from('abcdefgh'.repeat(20_000));
  const framed = compressSync(COMPRESSION.snappy, data);
  assert.equal(framed.subarray(0, 8).toString('latin1'), '\x82SNAPPY\x00');
  assert.ok(framed.length < data.length / 4, 'repetitive data must shrink');
  const raw = snappy.compressSync(data);
  assert.deepEqual(decompressSync(COMPRESSION.snappy, raw, limit), data);
});

test('a small payload that claims a huge output is refused before it is inflated', () => {
  const bomb = Buffer.alloc(50 * 1024 * 1024);
  const small = { maxOutputBytes: 1024 * 1024 };
  for (const name of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const codec = COMPRESSION[name];
    const packed = compressSync(codec, bomb);
    assert.ok(packed.length < 3 * 1024 * 1024, `${name} packs zeros well`);
    assert.throws(() => decompressSync(codec, packed, small), { code: 'MESSAGE_TOO_LARGE' }, name);
  }
});

test('damaged compressed data is a CORRUPT_MESSAGE error, for every codec', async () => {
  const data = Buffer.from(JSON.stringify({ user: 'alice', action: 'login', n: 1 }).repeat(100));
  for (const name of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const codec = COMPRESSION[name];
    const packed = compressSync(codec, data);
    const truncated = packed.subarray(0, packed.length >> 1);
    assert.throws(() => decompressSync(codec, truncated, limit), { code: 'CORRUPT_MESSAGE' }, name);
    await assert.rejects(decompress(codec, truncated, limit), { code: 'CORRUPT_MESSAGE' }, name);
  }
  assert.throws(() => decompressSync(COMPRESSION.gzip, Buffer.from('not gzip'), limit), {
    code: 'CORRUPT_MESSAGE',
  });
  assert.ok(zlib.gzipSync(data).length < data.length);
});
