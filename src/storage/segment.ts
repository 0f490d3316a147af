/**
 * One segment of a partition log: a `.log` file of RecordBatch v2 bytes, named by its base offset in
 * twenty digits as Kafka names it, with its sparse `.index` and `.timeindex` (offset-index.ts).
 *
 * A segment knows its bytes, its offsets and its timestamps. It does not decide when to roll, what to
 * retain or how to recover a log; partition-log.ts does.
 */
import assert from 'node:assert/strict';
import type { FileHandle } from 'node:fs/promises';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError } from '../errors.ts';
import { scanChunkBytes, segmentRelativeOffsetMax } from '../limits.ts';
import {
  BATCH_HEADER_BYTES,
  batchSizeAt,
  F,
  LOG_OVERHEAD,
  lastOffsetOf,
  readInt64,
  verifyBatch,
} from '../records/batch.ts';
import { OffsetIndex, TimeIndex } from './offset-index.ts';

export function segmentName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
}

export function segmentPaths(dir: string, baseOffset: number) {
  const stem = path.join(dir, segmentName(baseOffset));
  return { log: `${stem}.log`, index: `${stem}.index`, timeindex: `${stem}.timeindex` };
}

/** What a scan of a segment found: where valid data ends and why it stopped there. */
export interface ScanResult {
  validBytes: number;
  nextOffset: number;
  /** Why the scan stopped before the end of the file; undefined when every byte was a valid batch. */
  stoppedBecause?: string;
  /**
   * Set when the scan stopped at a valid batch whose last offset is too far from the segment's base
   * for the int32 relative offsets of the indexes (a log written by an older release): the base
   * offset of that batch, where the rest of the file must become a segment of its own.
   */
  overflowOffset?: number;
}

/**
 * Where a closed segment's bytes stop being trustworthy (issue 10 finding 9): from `position` on, the
 * file does not hold the batches its offsets `offset` to the next segment's base should be. Reads that
 * reach it answer CORRUPT_MESSAGE instead of skipping to the next segment.
 */
export interface SegmentDamage {
  position: number;
  /** The first offset that cannot be read (one past the last whole batch before `position`). */
  offset: number;
  reason: string;
}

/**
 * What is wrong with the batch header at `at` of `buf` (file position `position`) as the next batch of
 * a walk, or null: its frame must fit before `fileEnd`, its magic be 2, its offsets follow `prevLast`
 * and stay below `endOffset` (the next segment's base).
 */
export function headerProblem(
  buf: Buffer,
  at: number,
  position: number,
  fileEnd: number,
  prevLast: number,
  endOffset: number,
): string | null {
  if (at + BATCH_HEADER_BYTES > buf.length) return `a partial batch header at ${position}`;
  const size = batchSizeAt(buf, at);
  if (size < BATCH_HEADER_BYTES || position + size > fileEnd) {
    return `batch at ${position} claims ${size} bytes, ${fileEnd - position} are left in the segment`;
  }
  const magic = buf.readInt8(at + F.magic);
  if (magic !== 2) return `batch at ${position} has magic ${magic}`;
  const base = readInt64(buf, at + F.baseOffset);
  const last = lastOffsetOf(buf, at);
  if (base <= prevLast || last < base || !Number.isSafeInteger(last)) {
    return `batch at ${position} has offsets ${base}..${last}, which do not follow ${prevLast}`;
  }
  if (last >= endOffset)
    return `batch at ${position} ends at offset ${last}, past the next segment's base ${endOffset}`;
  return null;
}

export interface SegmentCheckpoint {
  lastBatch: { baseOffset: number; position: number } | null;
  size: number;
  nextOffset: number;
  maxTimestamp: number;
  firstBatchTimestamp: number;
  bytesSinceIndexEntry: number;
}

export class Segment {
  readonly baseOffset: number;
  readonly paths: ReturnType<typeof segmentPaths>;
  file: FileHandle;
  /** Bytes of whole, written batches; reads never go past this. */
  size: number;
  /** One past the last offset in the segment; `baseOffset` while empty. */
  nextOffset: number;
  /** Largest batch maxTimestamp in the segment, or -1 while empty. */
  maxTimestamp = -1;
  /** The first batch's maxTimestamp: the clock that `segment.ms` measures from. -1 while empty. */
  firstBatchTimestamp = -1;
  index: OffsetIndex;
  timeIndex: TimeIndex;
  /** Set when this (closed) segment was found damaged; null while it is whole as far as is known. */
  damage: SegmentDamage | null = null;
  #bytesSinceIndexEntry = 0;
  /** The last batch noted (for the index entry that seals the segment), or null. */
  #lastBatch: { baseOffset: number; position: number } | null = null;
  #refs = 0;
  #retired = false;
  #whenIdle: (() => void) | null = null;

  constructor(dir: string, baseOffset: number, file: FileHandle, size: number) {
    this.baseOffset = baseOffset;
    this.paths = segmentPaths(dir, baseOffset);
    this.file = file;
    this.size = size;
    this.nextOffset = baseOffset;
    this.index = new OffsetIndex(baseOffset);
    this.timeIndex = new TimeIndex(baseOffset);
  }

  static async create(dir: string, baseOffset: number): Promise<Segment> {
    const paths = segmentPaths(dir, baseOffset);
    // 'wx' refuses to clobber: a segment file at this offset already existing is a bug upstream.
    const file = await open(paths.log, 'wx+');
    return new Segment(dir, baseOffset, file, 0);
  }

  static async openExisting(dir: string, baseOffset: number): Promise<Segment> {
    const paths = segmentPaths(dir, baseOffset);
    const file = await open(paths.log, 'r+');
    const { size } = await file.stat();
    return new Segment(dir, baseOffset, file, size);
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** Records a batch written at `position` in the in-memory indexes and counters. */
  noteBatch(
    position: number,
    size: number,
    baseOffset: number,
    lastOffset: number,
    maxTimestamp: number,
    indexIntervalBytes: number,
  ): void {
    assert.ok(position === this.size, 'batches are noted in the order they were written');
    if (this.#bytesSinceIndexEntry >= indexIntervalBytes && position > 0) {
      this.index.append(baseOffset, position);
      this.timeIndex.maybeAppend(this.maxTimestamp, this.nextOffset - 1);
      this.#bytesSinceIndexEntry = 0;
    }
    this.#bytesSinceIndexEntry += size;
    if (this.firstBatchTimestamp < 0) this.firstBatchTimestamp = maxTimestamp;
    if (maxTimestamp > this.maxTimestamp) this.maxTimestamp = maxTimestamp;
    this.size = position + size;
    this.nextOffset = lastOffset + 1;
    this.#lastBatch = { baseOffset, position };
    // Index positions are uint32, as Kafka's; segment.bytes (at most 2 GiB - 1) keeps them in range.
    assert.ok(this.size <= 0xffffffff, 'segment positions fit uint32');
  }

  /** What `rollBackTo` needs to undo the batches noted after this moment. */
  checkpoint(): SegmentCheckpoint {
    return {
      lastBatch: this.#lastBatch,
      size: this.size,
      nextOffset: this.nextOffset,
      maxTimestamp: this.maxTimestamp,
      firstBatchTimestamp: this.firstBatchTimestamp,
      bytesSinceIndexEntry: this.#bytesSinceIndexEntry,
    };
  }

  /**
   * Forgets, in memory, the batches noted since `cp` (a write that failed after some of them were
   * noted); the caller truncates the file to `cp.size`.
   */
  rollBackTo(cp: SegmentCheckpoint): void {
    assert.ok(cp.size <= this.size, 'a segment only rolls back to an earlier checkpoint');
    this.#lastBatch = cp.lastBatch;
    this.index.truncateToPosition(cp.size);
    this.timeIndex.truncateToOffset(cp.nextOffset);
    this.size = cp.size;
    this.nextOffset = cp.nextOffset;
    this.maxTimestamp = cp.maxTimestamp;
    this.firstBatchTimestamp = cp.firstBatchTimestamp;
    this.#bytesSinceIndexEntry = cp.bytesSinceIndexEntry;
  }

  /**
   * Completes the indexes of a segment that closes: the time index's final entry (so the max survives
   * reopen, as Kafka writes it) and an offset index entry for the last batch, so that the index says
   * where the segment ends and a file cut short at any batch boundary is noticed at open.
   */
  seal(): void {
    this.sealTimeIndex();
    const last = this.#lastBatch;
    if (last && last.position > this.index.lastPosition()) this.index.append(last.baseOffset, last.position);
  }

  /** Writes the final time index entry, as Kafka does when a segment closes, so the max survives reopen. */
  sealTimeIndex(): void {
    if (this.maxTimestamp >= 0 && this.nextOffset > this.baseOffset) {
      this.timeIndex.maybeAppend(this.maxTimestamp, this.nextOffset - 1);
    }
  }

  async readAt(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.file.read(buf, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  /**
   * Walks the batches from `fromPosition` to the end of the file, verifying each one (framing, magic,
   * CRC-32C, offsets that increase), calling `onBatch` for every valid batch. Stops at the first bad or
   * partial batch and reports where valid data ends. Reads in chunks of `scanChunkBytes`.
   */
  async scan(
    fromPosition: number,
    fileBytes: number,
    minBaseOffset: number,
    onBatch: (
      position: number,
      size: number,
      baseOffset: number,
      lastOffset: number,
      maxTimestamp: number,
    ) => void,
    endOffset = Number.POSITIVE_INFINITY,
  ): Promise<ScanResult> {
    let position = fromPosition;
    let nextOffset = minBaseOffset;
    while (position < fileBytes) {
      const chunk = await this.readAt(position, Math.min(scanChunkBytes, fileBytes - position));
      let at = 0;
      while (at + LOG_OVERHEAD <= chunk.length) {
        const size = batchSizeAt(chunk, at);
        if (size < BATCH_HEADER_BYTES) {
          return {
            validBytes: position + at,
            nextOffset,
            stoppedBecause: `batch length ${size - LOG_OVERHEAD} is too small`,
          };
        }
        if (at + size > chunk.length) break;
        try {
          verifyBatch(chunk, at, at + size, false);
        } catch (err) {
          return { validBytes: position + at, nextOffset, stoppedBecause: (err as Error).message };
        }
        const base = readInt64(chunk, at + F.baseOffset);
        const last = lastOffsetOf(chunk, at);
        const bad = this.#offsetProblem(base, last, nextOffset, endOffset);
        if (bad) return { validBytes: position + at, nextOffset, ...bad };
        onBatch(position + at, size, base, last, readInt64(chunk, at + F.maxTimestamp));
        nextOffset = last + 1;
        at += size;
      }
      if (at === 0) {
        // The next batch does not fit in what is left of the chunk: read exactly that batch, if it is whole.
        const header = await this.readAt(position, LOG_OVERHEAD);
        const size = header.length === LOG_OVERHEAD ? batchSizeAt(header, 0) : 0;
        if (size < BATCH_HEADER_BYTES || position + size > fileBytes) {
          return {
            validBytes: position,
            nextOffset,
            stoppedBecause: 'a partial batch at the end of the file',
          };
        }
        const whole = await this.readAt(position, size);
        try {
          verifyBatch(whole, 0, size, false);
        } catch (err) {
          return { validBytes: position, nextOffset, stoppedBecause: (err as Error).message };
        }
        const base = readInt64(whole, F.baseOffset);
        const last = lastOffsetOf(whole, 0);
        const bad = this.#offsetProblem(base, last, nextOffset, endOffset);
        if (bad) return { validBytes: position, nextOffset, ...bad };
        onBatch(position, size, base, last, readInt64(whole, F.maxTimestamp));
        nextOffset = last + 1;
        position += size;
      } else {
        position += at;
      }
    }
    return { validBytes: position, nextOffset };
  }

  /** Why a verified batch with these offsets cannot be the next one of this segment, if it cannot. */
  #offsetProblem(
    base: number,
    last: number,
    nextOffset: number,
    endOffset: number,
  ): { stoppedBecause: string; overflowOffset?: number } | null {
    if (base < nextOffset || last < base || !Number.isSafeInteger(last)) {
      return { stoppedBecause: `batch offset ${base} does not follow ${nextOffset - 1}` };
    }
    if (last >= endOffset) {
      return { stoppedBecause: `batch offsets ${base}..${last} pass the next segment's base ${endOffset}` };
    }
    if (last - this.baseOffset > segmentRelativeOffsetMax) {
      return {
        stoppedBecause: `batch offsets ${base}..${last} do not fit the int32 relative offsets of segment ${this.baseOffset}`,
        overflowOffset: base,
      };
    }
    return null;
  }

  /**
   * Rebuilds indexes, counters and the valid length from the file's bytes. Returns what the scan found;
   * the caller truncates the file when the scan stopped early.
   */
  async rebuild(indexIntervalBytes: number, endOffset = Number.POSITIVE_INFINITY): Promise<ScanResult> {
    const { size: fileBytes } = await this.file.stat();
    this.index = new OffsetIndex(this.baseOffset);
    this.timeIndex = new TimeIndex(this.baseOffset);
    this.size = 0;
    this.nextOffset = this.baseOffset;
    this.maxTimestamp = -1;
    this.firstBatchTimestamp = -1;
    this.#bytesSinceIndexEntry = 0;
    this.#lastBatch = null;
    this.damage = null;
    const result = await this.scan(
      0,
      fileBytes,
      this.baseOffset,
      (pos, size, base, last, ts) => this.noteBatch(pos, size, base, last, ts, indexIntervalBytes),
      endOffset,
    );
    this.seal();
    return result;
  }

  /**
   * Loads the index files written when this segment closed, checking them against the log: the first
   * batch, and the last index entry, which must point at a batch holding its offset, from where whole
   * batches must run exactly to the end of the file with offsets below `nextSegmentBase` (issue 10
   * finding 9: an index shifted by a few bytes, or a file cut short, is noticed here). Returns true
   * when they hold; false (leaving fresh empty indexes) when the caller must rebuild them; a reason when
   * the file itself is shorter than its index says, which a rebuild cannot mend.
   */
  async loadIndexes(nextSegmentBase: number | undefined): Promise<boolean | string> {
    let offsetBuf: Buffer;
    let timeBuf: Buffer;
    try {
      [offsetBuf, timeBuf] = await Promise.all([readFile(this.paths.index), readFile(this.paths.timeindex)]);
    } catch {
      return false;
    }
    const lastEntryPosition =
      offsetBuf.length >= 8 && offsetBuf.length % 8 === 0 ? offsetBuf.readUInt32BE(offsetBuf.length - 4) : 0;
    const index = OffsetIndex.fromBuffer(this.baseOffset, offsetBuf, this.size);
    const timeIndex = TimeIndex.fromBuffer(this.baseOffset, timeBuf);
    if (!index && lastEntryPosition >= this.size && lastEntryPosition > 0 && nextSegmentBase !== undefined) {
      // Well-formed entries that point past the end: the segment was longer when its index was written.
      const whole = OffsetIndex.fromBuffer(this.baseOffset, offsetBuf, Number.POSITIVE_INFINITY);
      const last = whole?.lastEntry();
      if (last && last.offset < nextSegmentBase) {
        return `the file is ${this.size} bytes, but its index has an entry at ${lastEntryPosition}`;
      }
    }
    if (this.size === 0 && timeIndex && timeIndex.count > 0 && nextSegmentBase !== undefined) {
      return `the file is empty, but its time index has entries`;
    }
    if (!index || !timeIndex || (this.size > 0 && timeIndex.count === 0)) return false;
    const first = await this.readAt(0, BATCH_HEADER_BYTES);
    if (this.size > 0) {
      if (first.length < BATCH_HEADER_BYTES || readInt64(first, F.baseOffset) < this.baseOffset) return false;
      this.firstBatchTimestamp = readInt64(first, F.maxTimestamp);
    }
    const end = nextSegmentBase ?? Number.POSITIVE_INFINITY;
    const tail = await this.#walkTail(index.lastEntry(), end);
    if (tail !== null) return tail.indexToBlame ? false : tail.reason;
    this.index = index;
    this.timeIndex = timeIndex;
    this.maxTimestamp = timeIndex.lastTimestamp();
    // A closed segment ends where the next one begins; the exact last offset only matters for the
    // active segment, whose tail partition-log.ts walks.
    this.nextOffset = nextSegmentBase ?? this.baseOffset;
    return true;
  }

  /**
   * Walks batch headers from the last index entry (or the start) to the end of the file. Null when the
   * entry points at a batch that holds its offset and whole, well-framed batches follow it exactly to
   * the end; otherwise why not, and whether the index (rather than the file) is to blame.
   */
  async #walkTail(
    entry: { offset: number; position: number } | null,
    endOffset: number,
  ): Promise<{ reason: string; indexToBlame: boolean } | null> {
    let position = entry?.position ?? 0;
    let prevLast = this.baseOffset - 1;
    let first = true;
    while (position < this.size) {
      const header = await this.readAt(position, BATCH_HEADER_BYTES);
      const problem = headerProblem(header, 0, position, this.size, prevLast, endOffset);
      if (entry && first) {
        const base = header.length >= BATCH_HEADER_BYTES ? readInt64(header, F.baseOffset) : -1;
        const last = header.length >= BATCH_HEADER_BYTES ? lastOffsetOf(header, 0) : -1;
        if (problem !== null || entry.offset < base || entry.offset > last) {
          return {
            reason: `index entry for offset ${entry.offset} does not point at its batch`,
            indexToBlame: true,
          };
        }
      }
      if (problem !== null) return { reason: problem, indexToBlame: false };
      first = false;
      prevLast = lastOffsetOf(header, 0);
      if (prevLast - this.baseOffset > segmentRelativeOffsetMax) {
        // An older release's overflow, even behind a clean shutdown: the rebuild splits the segment.
        return { reason: `batch at ${position} overflows the int32 relative offsets`, indexToBlame: true };
      }
      position += batchSizeAt(header, 0);
    }
    return null;
  }

  async writeIndexes(): Promise<void> {
    this.seal();
    await writeFileSynced(this.paths.index, this.index.toBuffer());
    await writeFileSynced(this.paths.timeindex, this.timeIndex.toBuffer());
  }

  acquire(): void {
    if (this.#retired) throw new BrokerError('LOG_CLOSED', `segment ${this.baseOffset} was removed`);
    this.#refs++;
  }

  release(): void {
    assert.ok(this.#refs > 0);
    if (--this.#refs === 0 && this.#whenIdle) this.#whenIdle();
  }

  /** Stops new reads and closes the file once the reads in flight are done. */
  async retire(): Promise<void> {
    this.#retired = true;
    if (this.#refs > 0) await new Promise<void>((resolve) => (this.#whenIdle = resolve));
    await this.file.close();
  }

  async removeFiles(): Promise<void> {
    await Promise.all([
      rm(this.paths.log, { force: true }),
      rm(this.paths.index, { force: true }),
      rm(this.paths.timeindex, { force: true }),
    ]);
  }
}

/** Writes a whole file and fdatasyncs it before resolving. */
export async function writeFileSynced(file: string, data: Buffer): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a directory, so that files created, renamed or removed in it survive a machine crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
