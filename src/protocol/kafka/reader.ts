/**
 * A bounds-checked reader for Kafka's primitive types (the "Protocol Primitive Types" section of
 * https://kafka.apache.org/protocol#protocol_types).
 *
 * Hostile input is the normal case here: every length field is checked against the bytes that are
 * actually left in the frame before anything is allocated or sliced, so a frame that claims a
 * 2 GiB string costs nothing but the error (issue 5, "Hostile input"). Variable-length values
 * (bytes, records) are returned as zero-copy `subarray` views of the frame.
 *
 * The reader works on one contiguous buffer: the connection (connection.ts) reassembles a frame from
 * the socket's chunks into a single buffer (a zero-copy view when the frame arrived in one chunk, one
 * copy otherwise), which keeps every read here a single bounds check instead of a walk over a chunk
 * list on each field.
 */
import { BrokerError } from '../../errors.ts';
import { readVarint } from '../../records/varint.ts';

/** The all-zero UUID, Kafka's `Uuid.ZERO_UUID`, used as the default of every uuid field. */
export const zeroUuid = '00000000-0000-0000-0000-000000000000';

const twoPow32 = 4294967296;

export class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    if (pos < 0 || end > buf.length || pos > end) throw new RangeError('reader bounds outside the buffer');
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  /** Throws unless `n` more bytes are present. Every read goes through here first. */
  need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `${what} needs ${n} bytes but only ${this.end - this.pos} remain at offset ${this.pos}`,
      );
    }
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buf.readInt8(this.pos++);
  }

  /** Kafka's BOOLEAN: one byte, and (as Java's `readByte() != 0`) any non-zero value is true. */
  bool(): boolean {
    this.need(1, 'boolean');
    return this.buf[this.pos++] !== 0;
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(): number {
    this.need(2, 'uint16');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * INT64 as a JS number, as the rest of the broker holds offsets and timestamps (records/batch.ts).
   * Values outside the safe-integer range would silently round, so they are refused here; the codec
   * reads schema fields with `int64Wide()` instead, which never refuses a valid int64.
   */
  int64(): number {
    const v = this.int64Wide();
    if (typeof v === 'bigint') {
      throw new BrokerError(
        'INVALID_REQUEST',
        `int64 at offset ${this.pos - 8} is outside the safe-integer range`,
      );
    }
    return v;
  }

  /**
   * INT64 exactly: a number when it is a safe integer (|v| < 2^53, every real offset, timestamp and
   * producer id), otherwise a bigint. Kafka accepts any int64, so a value beyond 2^53 is valid input
   * and must not fail the request (issue 10); what it means is the field's business (schema.ts
   * `beyondSafe`).
   */
  int64Wide(): number | bigint {
    this.need(8, 'int64');
    const hi = this.buf.readInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    const v = hi * twoPow32 + lo;
    if (Number.isSafeInteger(v)) {
      this.pos += 8;
      return v;
    }
    const big = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return big;
  }

  float64(): number {
    this.need(8, 'float64');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** UUID as its canonical lowercase 8-4-4-4-12 text, so that values compare with `===`. */
  uuid(): string {
    this.need(16, 'uuid');
    const hex = this.buf.toString('hex', this.pos, this.pos + 16);
    this.pos += 16;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /**
   * UNSIGNED_VARINT: at most five bytes for a 32-bit value (Kafka's `ByteUtils.readUnsignedVarint`
   * rejects longer encodings, and so do we).
   */
  uvarint(): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 5; i++) {
      this.need(1, 'unsigned varint');
      const byte = this.buf[this.pos++];
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) break;
        return value;
      }
      multiplier *= 128;
    }
    throw new BrokerError('INVALID_REQUEST', 'unsigned varint longer than 32 bits');
  }

  /** VARINT (zigzag, 32-bit). */
  varint(): number {
    const v = this.varlong();
    if (v < -2147483648 || v > 2147483647) throw new BrokerError('INVALID_REQUEST', 'varint exceeds 32 bits');
    return v;
  }

  /** VARLONG (zigzag, 64-bit), limited to safe integers as `int64()` is. */
  varlong(): number {
    return readVarint(this);
  }

  /** A length that a later read will consume: checked against what remains before anyone uses it. */
  private length(n: number, what: string): number {
    this.need(n, what);
    return n;
  }

  /** STRING / NULLABLE_STRING: int16 length (-1 for null) then UTF-8 bytes. */
  string(nullable: boolean): string | null {
    const n = this.int16();
    if (n < 0) return this.nullOr(n === -1 && nullable, 'string');
    return this.utf8(this.length(n, 'string'));
  }

  /** COMPACT_STRING / COMPACT_NULLABLE_STRING: unsigned varint length+1 (0 for null). */
  compactString(nullable: boolean): string | null {
    const n = this.uvarint() - 1;
    if (n < 0) return this.nullOr(nullable, 'compact string');
    return this.utf8(this.length(n, 'compact string'));
  }

  /** BYTES / NULLABLE_BYTES: int32 length (-1 for null), returned as a view of the frame. */
  bytes(nullable: boolean): Buffer | null {
    const n = this.int32();
    if (n < 0) return this.nullOr(n === -1 && nullable, 'bytes');
    return this.slice(this.length(n, 'bytes'));
  }

  /** COMPACT_BYTES / COMPACT_NULLABLE_BYTES (and COMPACT_RECORDS). */
  compactBytes(nullable: boolean): Buffer | null {
    const n = this.uvarint() - 1;
    if (n < 0) return this.nullOr(nullable, 'compact bytes');
    return this.slice(this.length(n, 'compact bytes'));
  }

  /**
   * ARRAY / COMPACT_ARRAY count, or null for a null array. `minElementBytes` is the least an element
   * can occupy on the wire; a count that could not fit in the bytes left is refused here, before the
   * caller allocates anything for it.
   */
  arrayLength(compact: boolean, nullable: boolean, minElementBytes: number): number | null {
    const n = compact ? this.uvarint() - 1 : this.int32();
    if (n < 0) return this.nullOr((compact || n === -1) && nullable, 'array');
    if (n * minElementBytes > this.end - this.pos) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `array claims ${n} elements of at least ${minElementBytes} bytes but only ${this.end - this.pos} bytes remain`,
      );
    }
    return n;
  }

  /** Skips `n` bytes (an unknown tagged field). */
  skip(n: number): void {
    this.need(n, 'skipped field');
    this.pos += n;
  }

  private slice(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  private utf8(n: number): string {
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  private nullOr(allowed: boolean, what: string): null {
    if (!allowed)
      throw new BrokerError('INVALID_REQUEST', `null or negative-length ${what} where none is allowed`);
    return null;
  }
}
