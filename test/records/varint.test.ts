import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVarint, varintBytes, writeVarint } from '../../src/records/varint.ts';

test('zigzag varints round-trip every safe integer and take the predicted size', () => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), (n) => {
      const buf = Buffer.alloc(10);
      const end = writeVarint(buf, 0, n);
      assert.equal(end, varintBytes(n));
      const c = { buf, pos: 0, end };
      assert.equal(readVarint(c), n);
      assert.equal(c.pos, end);
    }),
  );
});

test('zigzag encoding matches the protobuf examples', () => {
  const cases: [number, string][] = [
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [-2, '03'],
    [63, '7e'],
    [-64, '7f'],
    [64, '8001'],
    [2147483647, 'feffffff0f'],
    [-2147483648, 'ffffffff0f'],
  ];
  for (const [n, hex] of cases) {
    const buf = Buffer.alloc(10);
    const end = writeVarint(buf, 0, n);
    assert.equal(buf.subarray(0, end).toString('hex'), hex, `varint of ${n}`);
  }
});

test('a truncated or overlong varint is a typed error, not a crash', () => {
  assert.throws(() => readVarint({ buf: Buffer.from([0x80, 0x80]), pos: 0, end: 2 }), {
    code: 'CORRUPT_MESSAGE',
  });
  assert.throws(() => readVarint({ buf: Buffer.alloc(11, 0xff), pos: 0, end: 11 }), {
    code: 'CORRUPT_MESSAGE',
  });
});
