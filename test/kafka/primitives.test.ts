import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Reader } from '../../src/protocol/kafka/reader.ts';
import { Writer } from '../../src/protocol/kafka/writer.ts';

const hex = (w: Writer) => w.toBuffer().toString('hex');

test('fixed-width primitives are big-endian, as the protocol guide specifies', () => {
  assert.equal(
    hex(new Writer().int8(-1).int16(0x0102).int32(-2).uint16(0xfffe).uint32(0xfffffffe)),
    'ff0102fffffffefffefffffffe',
  );
  assert.equal(hex(new Writer().int64(-1)), 'ffffffffffffffff');
  assert.equal(hex(new Writer().int64(2 ** 40 + 5)), '0000010000000005');
  assert.equal(hex(new Writer().float64(1.5)), '3ff8000000000000');
  assert.equal(hex(new Writer().bool(true).bool(false)), '0100');
  assert.equal(
    hex(new Writer().uuid('01234567-89ab-cdef-0123-456789abcdef')),
    '0123456789abcdef0123456789abcdef',
  );
});

test('unsigned varints match Kafka ByteUtils.writeUnsignedVarint', () => {
  const cases: [number, string][] = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [0xffffffff, 'ffffffff0f'],
  ];
  for (const [n, h] of cases) {
    assert.equal(hex(new Writer().uvarint(n)), h, `uvarint ${n}`);
    assert.equal(new Reader(Buffer.from(h, 'hex')).uvarint(), n);
  }
  // Six bytes, or five whose value passes 32 bits, are refused as Kafka refuses them.
  assert.throws(() => new Reader(Buffer.from('ffffffffff01', 'hex')).uvarint(), { code: 'INVALID_REQUEST' });
  assert.throws(() => new Reader(Buffer.from('ffffffff1f', 'hex')).uvarint(), { code: 'INVALID_REQUEST' });
});

test('strings and bytes: classic and compact forms, with null', () => {
  assert.equal(hex(new Writer().string('hi').string(null)), '00026869ffff');
  assert.equal(
    hex(new Writer().compactString('hi').compactString(null).compactString('')),
    '03686900' + '01',
  );
  assert.equal(hex(new Writer().bytes(Buffer.from([7])).bytes(null)), '0000000107ffffffff');
  assert.equal(hex(new Writer().compactBytes(Buffer.from([7])).compactBytes(null)), '020700');
  const r = new Reader(Buffer.from('00026869ffff03686900', 'hex'));
  assert.equal(r.string(false), 'hi');
  assert.equal(r.string(true), null);
  assert.equal(r.compactString(false), 'hi');
  assert.equal(r.compactString(true), null);
  // A null where the field is not nullable is malformed input, not a value.
  assert.throws(() => new Reader(Buffer.from('ffff', 'hex')).string(false), { code: 'INVALID_REQUEST' });
  assert.throws(() => new Reader(Buffer.from('00', 'hex')).compactBytes(false), { code: 'INVALID_REQUEST' });
});

test('a length that claims more than the bytes left is refused before anything is allocated', () => {
  // 2 GiB - 1 of bytes claimed by a 5-byte frame; the reader must refuse without allocating.
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => new Reader(Buffer.from('7fffffff00', 'hex')).bytes(false), { code: 'INVALID_REQUEST' });
  assert.throws(() => new Reader(Buffer.from('7fff00', 'hex')).string(false), { code: 'INVALID_REQUEST' });
  assert.throws(() => new Reader(Buffer.from('ffffffff0f', 'hex')).compactString(false), {
    code: 'INVALID_REQUEST',
  });
  // Array counts are checked against the least each element can take.
  assert.throws(() => new Reader(Buffer.from('0000000300000001', 'hex')).arrayLength(false, false, 4), {
    code: 'INVALID_REQUEST',
  });
  assert.equal(new Reader(Buffer.from('0000000200000001', 'hex')).arrayLength(false, false, 2), 2);
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, 'no large allocation happened');
});

test('bytes come back as views of the frame, and large ones are referenced by the writer, not copied', () => {
  const frame = Buffer.from('0000000301020304', 'hex');
  const b = new Reader(frame).bytes(false) as Buffer;
  assert.equal(b.buffer, frame.buffer);
  const big = Buffer.alloc(4096, 9);
  const w = new Writer().int8(1).bytes(big).int8(2);
  assert.ok(w.buffers().includes(big), 'the 4 KiB value is one of the output buffers');
  assert.equal(w.length, 1 + 4 + 4096 + 1);
});

test('prependLength puts the int32 size of the body in front', () => {
  const w = new Writer(16).int32(1).string('abcdefghijklmnopqrstuvwxyz').prependLength();
  const out = w.toBuffer();
  assert.equal(out.readInt32BE(0), out.length - 4);
  assert.equal(out.length, 4 + 4 + 2 + 26);
});

test('every primitive round-trips through chunked writers', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -2147483648, max: 2147483647 }),
      fc.maxSafeInteger(),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.uint8Array({ maxLength: 1200 }),
      fc.double({ noNaN: true }),
      (i32, i64, u32, s, bytes, d) => {
        const w = new Writer(16)
          .int32(i32)
          .int64(i64)
          .varint(i32)
          .varlong(i64)
          .uvarint(u32)
          .compactString(s)
          .bytes(bytes)
          .float64(d);
        const r = new Reader(w.toBuffer());
        assert.equal(r.int32(), i32);
        assert.equal(r.int64(), i64);
        assert.equal(r.varint(), i32);
        assert.equal(r.varlong(), i64);
        assert.equal(r.uvarint(), u32);
        assert.equal(r.compactString(false), s);
        assert.deepEqual(new Uint8Array(r.bytes(false) as Buffer), bytes);
        assert.equal(r.float64(), d);
        assert.equal(r.remaining(), 0);
      },
    ),
  );
});
