/**
 * A writer for Kafka's primitive types that builds a list of buffers rather than one growing buffer,
 * in the manner of @platformatic/kafka's `DynamicBuffer` (STYLE.md, "Readers and writers over lists of
 * buffers"):
 *
 * - small values are written into a chunk that is allocated once and filled in place;
 * - large byte strings (record batches, above `inlineBytesMax`) are appended as they are, zero-copy,
 *   so a Fetch response carrying megabytes of stored batches copies none of them;
 * - `prependLength()` adds the frame's size field in front once the body is known, without a copy.
 *
 * The result goes to the socket as a list (`buffers()`), never through `Buffer.concat`.
 */
import assert from 'node:assert/strict';
import { varintBytes, writeVarint } from '../../records/varint.ts';

/** Byte strings up to this size are copied into the current chunk; larger ones are referenced. */
const inlineBytesMax = 512;

const twoPow32 = 4294967296;

export class Writer {
  private readonly chunks: Buffer[] = [];
  private cur: Buffer;
  private pos = 0;
  /** Bytes in `chunks` (not counting `cur`). */
  private doneBytes = 0;
  private readonly chunkBytes: number;

  constructor(chunkBytes = 4096) {
    assert.ok(chunkBytes >= 16, 'a writer chunk must hold at least a UUID');
    this.chunkBytes = chunkBytes;
    this.cur = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.doneBytes + this.pos;
  }

  private ensure(n: number): void {
    if (this.cur.length - this.pos >= n) return;
    this.seal();
    this.cur = Buffer.allocUnsafe(Math.max(this.chunkBytes, n));
  }

  /** Moves the filled part of the current chunk onto the list. */
  private seal(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.doneBytes += this.pos;
    this.cur = this.cur.subarray(this.pos);
    this.pos = 0;
  }

  int8(v: number): this {
    this.ensure(1);
    this.cur.writeInt8(v, this.pos++);
    return this;
  }

  bool(v: boolean): this {
    this.ensure(1);
    this.cur[this.pos++] = v ? 1 : 0;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.pos = this.cur.writeInt16BE(v, this.pos);
    return this;
  }

  uint16(v: number): this {
    this.ensure(2);
    this.pos = this.cur.writeUInt16BE(v, this.pos);
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.pos = this.cur.writeInt32BE(v, this.pos);
    return this;
  }

  uint32(v: number): this {
    this.ensure(4);
    this.pos = this.cur.writeUInt32BE(v, this.pos);
    return this;
  }

  int64(v: number): this {
    assert.ok(Number.isSafeInteger(v), `int64 must be a safe integer, got ${v}`);
    this.ensure(8);
    const hi = Math.floor(v / twoPow32);
    this.cur.writeInt32BE(hi, this.pos);
    this.cur.writeUInt32BE(v - hi * twoPow32, this.pos + 4);
    this.pos += 8;
    return this;
  }

  /** INT64 from a bigint (a value beyond the safe-integer range that a request carried). */
  int64Big(v: bigint): this {
    assert.ok(v >= -(2n ** 63n) && v < 2n ** 63n, `int64 out of range: ${v}`);
    this.ensure(8);
    this.pos = this.cur.writeBigInt64BE(v, this.pos);
    return this;
  }

  float64(v: number): this {
    this.ensure(8);
    this.pos = this.cur.writeDoubleBE(v, this.pos);
    return this;
  }

  uuid(v: string): this {
    const hex = v.replaceAll('-', '');
    assert.ok(/^[0-9a-f]{32}$/i.test(hex), `not a UUID: ${v}`);
    this.ensure(16);
    this.cur.write(hex, this.pos, 16, 'hex');
    this.pos += 16;
    return this;
  }

  uvarint(v: number): this {
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, `unsigned varint out of range: ${v}`);
    this.ensure(5);
    while (v >= 0x80) {
      this.cur[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.cur[this.pos++] = v;
    return this;
  }

  varint(v: number): this {
    assert.ok(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647, `varint out of range: ${v}`);
    return this.varlong(v);
  }

  varlong(v: number): this {
    assert.ok(Number.isSafeInteger(v), `varlong must be a safe integer, got ${v}`);
    this.ensure(varintBytes(v));
    this.pos = writeVarint(this.cur, this.pos, v);
    return this;
  }

  /** STRING / NULLABLE_STRING (int16 length). */
  string(v: string | null): this {
    if (v === null) return this.int16(-1);
    const n = Buffer.byteLength(v, 'utf8');
    assert.ok(n <= 0x7fff, `string of ${n} bytes exceeds the int16 length field`);
    this.int16(n);
    return this.utf8(v, n);
  }

  /** COMPACT_STRING / COMPACT_NULLABLE_STRING (unsigned varint length + 1). */
  compactString(v: string | null): this {
    if (v === null) return this.uvarint(0);
    const n = Buffer.byteLength(v, 'utf8');
    assert.ok(n <= 0x7fff, `string of ${n} bytes exceeds Kafka's string bound`);
    this.uvarint(n + 1);
    return this.utf8(v, n);
  }

  /** BYTES / NULLABLE_BYTES / RECORDS (int32 length). */
  bytes(v: Uint8Array | null): this {
    if (v === null) return this.int32(-1);
    this.int32(v.length);
    return this.raw(v);
  }

  /** COMPACT_BYTES / COMPACT_NULLABLE_BYTES / COMPACT_RECORDS. */
  compactBytes(v: Uint8Array | null): this {
    if (v === null) return this.uvarint(0);
    this.uvarint(v.length + 1);
    return this.raw(v);
  }

  /** Appends bytes as they are: copied when small, referenced (zero-copy) when large. */
  raw(v: Uint8Array): this {
    if (v.length <= inlineBytesMax) {
      this.ensure(v.length);
      this.cur.set(v, this.pos);
      this.pos += v.length;
      return this;
    }
    this.seal();
    this.chunks.push(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.length));
    this.doneBytes += v.length;
    return this;
  }

  /** Appends everything another writer holds (used for tagged fields, whose size precedes them). */
  append(other: Writer): this {
    for (const b of other.buffers()) this.raw(b);
    return this;
  }

  /**
   * Puts the int32 size of everything written so far in front of it: the request/response frame's
   * "Size" field (https://kafka.apache.org/protocol#protocol_common).
   */
  prependLength(): this {
    this.seal();
    const size = Buffer.allocUnsafe(4);
    size.writeInt32BE(this.doneBytes, 0);
    this.chunks.unshift(size);
    this.doneBytes += 4;
    return this;
  }

  /** The bytes written, as a list of buffers in order. The writer may not be written to afterwards. */
  buffers(): Buffer[] {
    this.seal();
    return this.chunks;
  }

  /** One contiguous copy of the bytes; for tests and cold paths only. */
  toBuffer(): Buffer {
    return Buffer.concat(this.buffers(), this.length);
  }

  private utf8(v: string, n: number): this {
    this.ensure(n);
    this.pos += this.cur.write(v, this.pos, n, 'utf8');
    return this;
  }
}
