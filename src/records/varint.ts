/**
 * Zigzag varints as Kafka's record format uses them (protobuf's encoding: 7 bits per byte, low group
 * first, high bit set on every byte but the last; signed values zigzag-mapped so small magnitudes stay
 * short). `varint` covers int32 and `varlong` covers the int64 fields; varlongs are limited to the
 * safe-integer range of a JS number, which covers every timestamp delta a real producer writes.
 */
import { BrokerError } from '../errors.ts';

/**
 * Below this magnitude the zigzag value (2|v| or 2|v|-1) is an exact double; beyond it the arithmetic
 * moves to BigInt so that every safe integer round-trips.
 */
const exactZigzagMax = 2 ** 52;

function zigzagBig(value: number): bigint {
  const v = BigInt(value);
  return v >= 0n ? v * 2n : -v * 2n - 1n;
}

/** Bytes the zigzag varint of `value` takes. */
export function varintBytes(value: number): number {
  if (Math.abs(value) >= exactZigzagMax) {
    let zz = zigzagBig(value);
    let n = 1;
    while (zz >= 0x80n) {
      zz >>= 7n;
      n++;
    }
    return n;
  }
  let zz = value >= 0 ? value * 2 : -value * 2 - 1;
  let n = 1;
  while (zz >= 0x80) {
    zz = Math.floor(zz / 128);
    n++;
  }
  return n;
}

/** Writes the zigzag varint of `value` (a safe integer) at `offset`; returns the offset after it. */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  if (Math.abs(value) >= exactZigzagMax) {
    let zz = zigzagBig(value);
    while (zz >= 0x80n) {
      buf[offset++] = Number(zz & 0x7fn) | 0x80;
      zz >>= 7n;
    }
    buf[offset++] = Number(zz);
    return offset;
  }
  let zz = value >= 0 ? value * 2 : -value * 2 - 1;
  while (zz >= 0x80) {
    buf[offset++] = (zz % 128) | 0x80;
    zz = Math.floor(zz / 128);
  }
  buf[offset++] = zz;
  return offset;
}

/** A cursor over a byte range; `readVarint` advances it. */
export interface Cursor {
  buf: Uint8Array;
  pos: number;
  end: number;
}

/**
 * Reads a zigzag varint (up to 64 bits wide on the wire) and returns it as a safe integer. Throws
 * CORRUPT_MESSAGE when the bytes run out, the varint is longer than 10 bytes, or it does not fit a
 * safe integer.
 */
export function readVarint(c: Cursor): number {
  let result = 0;
  let multiplier = 1;
  // Seven bytes carry 49 bits, which stay exact in a double; longer varints finish in BigInt.
  for (let i = 0; i < 7; i++) {
    if (c.pos >= c.end) throw new BrokerError('CORRUPT_MESSAGE', 'varint runs past the end of the record');
    const byte = c.buf[c.pos++];
    result += (byte & 0x7f) * multiplier;
    // Undo the zigzag mapping: even values are non-negative, odd values negative.
    if ((byte & 0x80) === 0) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    multiplier *= 128;
  }
  let big = BigInt(result);
  let shift = 49n;
  for (let i = 7; i < 10; i++) {
    if (c.pos >= c.end) throw new BrokerError('CORRUPT_MESSAGE', 'varint runs past the end of the record');
    const byte = c.buf[c.pos++];
    big |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) {
      const value = (big & 1n) === 0n ? big >> 1n : -((big + 1n) >> 1n);
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new BrokerError('CORRUPT_MESSAGE', 'varint does not fit a safe integer');
      }
      return Number(value);
    }
    shift += 7n;
  }
  throw new BrokerError('CORRUPT_MESSAGE', 'varint longer than 10 bytes');
}
