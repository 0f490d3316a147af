/**
 * The sparse indexes of a segment, kept in memory and written to disk in Kafka's file formats:
 *
 * - `.index`: 8-byte entries, relative offset (int32) then byte position (uint32), big-endian. One entry
 *   per `index.interval.bytes` of log, pointing at the start of a batch.
 * - `.timeindex`: 12-byte entries, timestamp (int64) then relative offset (int32): the largest timestamp
 *   seen so far in the segment and the batch where it was reached, appended when it grows.
 *
 * The files are written whole when a segment closes and at clean shutdown; the active segment's
 * indexes are rebuilt by the recovery scan after a crash, so they never need incremental writes.
 */
import assert from 'node:assert/strict';

const OFFSET_ENTRY_BYTES = 8;
const TIME_ENTRY_BYTES = 12;

function grow<T extends Int32Array | Uint32Array | Float64Array>(arr: T, need: number): T {
  if (need <= arr.length) return arr;
  const next = new (arr.constructor as new (n: number) => T)(Math.max(16, arr.length * 2, need));
  next.set(arr);
  return next;
}

export class OffsetIndex {
  readonly baseOffset: number;
  #rel = new Int32Array(16);
  #pos = new Uint32Array(16);
  #count = 0;

  constructor(baseOffset: number) {
    this.baseOffset = baseOffset;
  }

  get count(): number {
    return this.#count;
  }

  append(offset: number, position: number): void {
    const rel = offset - this.baseOffset;
    assert.ok(rel >= 0 && rel <= 0x7fffffff, `offset ${offset} out of range for segment ${this.baseOffset}`);
    if (this.#count > 0) {
      assert.ok(rel > this.#rel[this.#count - 1], 'offset index entries must increase');
      assert.ok(position > this.#pos[this.#count - 1], 'offset index positions must increase');
    }
    this.#rel = grow(this.#rel, this.#count + 1);
    this.#pos = grow(this.#pos, this.#count + 1);
    this.#rel[this.#count] = rel;
    this.#pos[this.#count] = position;
    this.#count++;
  }

  /** Byte position of the last indexed batch whose base offset is at most `offset`; 0 if none. */
  lookup(offset: number): number {
    const rel = offset - this.baseOffset;
    let lo = 0;
    let hi = this.#count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#rel[mid] <= rel) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : this.#pos[found];
  }

  /** The last entry, or null when there is none. */
  lastEntry(): { offset: number; position: number } | null {
    if (this.#count === 0) return null;
    return { offset: this.baseOffset + this.#rel[this.#count - 1], position: this.#pos[this.#count - 1] };
  }

  /** The last entry at or below `offset`, or null when there is none (the walk starts at 0). */
  lookupEntry(offset: number): { offset: number; position: number } | null {
    const rel = offset - this.baseOffset;
    let lo = 0;
    let hi = this.#count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#rel[mid] <= rel) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? null : { offset: this.baseOffset + this.#rel[found], position: this.#pos[found] };
  }

  /** Position of the last entry, or 0. */
  lastPosition(): number {
    return this.#count === 0 ? 0 : this.#pos[this.#count - 1];
  }

  /** Drops entries at or past `position` (after a truncation). */
  truncateToPosition(position: number): void {
    while (this.#count > 0 && this.#pos[this.#count - 1] >= position) this.#count--;
  }

  toBuffer(): Buffer {
    const buf = Buffer.allocUnsafe(this.#count * OFFSET_ENTRY_BYTES);
    for (let i = 0; i < this.#count; i++) {
      buf.writeInt32BE(this.#rel[i], i * OFFSET_ENTRY_BYTES);
      buf.writeUInt32BE(this.#pos[i], i * OFFSET_ENTRY_BYTES + 4);
    }
    return buf;
  }

  /**
   * Loads an index file, or returns null when it is damaged: a size that is not a whole number of
   * entries, entries that do not increase, or a position past the end of the log.
   */
  static fromBuffer(baseOffset: number, buf: Buffer, logBytes: number): OffsetIndex | null {
    if (buf.length % OFFSET_ENTRY_BYTES !== 0) return null;
    const index = new OffsetIndex(baseOffset);
    let prevRel = -1;
    let prevPos = -1;
    for (let at = 0; at < buf.length; at += OFFSET_ENTRY_BYTES) {
      const rel = buf.readInt32BE(at);
      const pos = buf.readUInt32BE(at + 4);
      if (rel <= prevRel || pos <= prevPos || pos >= logBytes) return null;
      index.append(baseOffset + rel, pos);
      prevRel = rel;
      prevPos = pos;
    }
    return index;
  }
}

export class TimeIndex {
  readonly baseOffset: number;
  #ts = new Float64Array(16);
  #rel = new Int32Array(16);
  #count = 0;

  constructor(baseOffset: number) {
    this.baseOffset = baseOffset;
  }

  get count(): number {
    return this.#count;
  }

  /** The largest timestamp recorded, or -1. */
  lastTimestamp(): number {
    return this.#count === 0 ? -1 : this.#ts[this.#count - 1];
  }

  /** Records that the segment's largest timestamp reached `timestamp` at the batch at `offset`. */
  maybeAppend(timestamp: number, offset: number): void {
    if (this.#count > 0 && timestamp <= this.#ts[this.#count - 1]) return;
    const rel = offset - this.baseOffset;
    assert.ok(rel >= 0 && rel <= 0x7fffffff);
    if (this.#count > 0 && rel < this.#rel[this.#count - 1]) return;
    this.#ts = grow(this.#ts, this.#count + 1);
    this.#rel = grow(this.#rel, this.#count + 1);
    this.#ts[this.#count] = timestamp;
    this.#rel[this.#count] = rel;
    this.#count++;
  }

  /**
   * An offset from which to scan for the first batch with a timestamp at or after `timestamp`: the batch
   * of the last entry whose timestamp is below it (nothing before that entry can qualify), else the
   * segment's base.
   */
  lookup(timestamp: number): number {
    let lo = 0;
    let hi = this.#count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ts[mid] < timestamp) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return this.baseOffset + (found < 0 ? 0 : this.#rel[found]);
  }

  truncateToOffset(offset: number): void {
    while (this.#count > 0 && this.baseOffset + this.#rel[this.#count - 1] >= offset) this.#count--;
  }

  toBuffer(): Buffer {
    const buf = Buffer.allocUnsafe(this.#count * TIME_ENTRY_BYTES);
    for (let i = 0; i < this.#count; i++) {
      buf.writeBigInt64BE(BigInt(this.#ts[i]), i * TIME_ENTRY_BYTES);
      buf.writeInt32BE(this.#rel[i], i * TIME_ENTRY_BYTES + 8);
    }
    return buf;
  }

  static fromBuffer(baseOffset: number, buf: Buffer): TimeIndex | null {
    if (buf.length % TIME_ENTRY_BYTES !== 0) return null;
    const index = new TimeIndex(baseOffset);
    for (let at = 0; at < buf.length; at += TIME_ENTRY_BYTES) {
      const ts = Number(buf.readBigInt64BE(at));
      const rel = buf.readInt32BE(at + 8);
      if (
        rel < 0 ||
        (index.#count > 0 && (ts <= index.lastTimestamp() || rel < index.#rel[index.#count - 1]))
      ) {
        return null;
      }
      index.maybeAppend(ts, baseOffset + rel);
    }
    return index;
  }
}
