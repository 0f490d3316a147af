/**
 * The partition log: an ordered list of segments in one directory, of which the last is active.
 *
 * Appends are validated at once (framing, CRC-32C, sizes) and queued; a single writer takes everything
 * queued, assigns offsets by rewriting each batch's baseOffset (and partitionLeaderEpoch) in place,
 * writes it all with one writev, and, under `fsync: always`, runs one fdatasync for the lot: appends that
 * arrive while a write or fsync is in flight share the next round (group commit). Readers see a batch
 * only after its write completed, and every batch they get has passed its CRC-32C check.
 *
 * Recovery on open:
 * - leftover compaction files are rolled forward (a committed `.swap`, first removing the segments its
 *   manifest says a merge replaced) or removed (`.cleaned`, and manifests without a `.swap`);
 * - after a clean shutdown (the `clean-shutdown` marker matches the active segment's size), indexes are
 *   loaded and no data is scanned;
 * - otherwise the active segment is scanned batch by batch, verifying framing, CRC-32C and offsets, and
 *   the file is truncated at the first torn or corrupt batch; its indexes are rebuilt;
 * - a closed segment whose index files are missing or damaged is rescanned the same way.
 */
import assert from 'node:assert/strict';
import { writevSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError, isBrokerError } from '../errors.ts';
import {
  appendsPerWriteMax,
  bytesPerWriteMax,
  corruptSitesMax,
  followTailBytesMax,
  readBytesMax,
  scanChunkBytes,
  segmentRelativeOffsetMax,
  tailBytesMax,
  writeInlineBytesMax,
} from '../limits.ts';
import {
  BATCH_HEADER_BYTES,
  batchSizeAt,
  F,
  lastOffsetOf,
  readInt64,
  verifyBatch,
  writeInt64,
} from '../records/batch.ts';
import { STOP, walkBatch } from '../records/record-walk.ts';
import { type CompactionStats, compactLog, recoverCompactionLeftovers } from './compaction.ts';
import {
  type EpochEndOffset,
  type EpochEntry,
  LeaderEpochCache,
  readEpochCheckpoint,
  writeEpochCheckpoint,
} from './leader-epoch-cache.ts';
import { type LogConfig, resolveLogConfig } from './log-config.ts';
import { Mutex } from './mutex.ts';
import {
  headerProblem,
  isTemporaryFile,
  replaceFileDurably,
  Segment,
  type SegmentCheckpoint,
  segmentName,
  segmentPaths,
  syncDir,
  writeFileSynced,
} from './segment.ts';

/**
 * The log start offset that DeleteRecords set, when it lies past the first segment's base (Kafka's
 * log-start-offset-checkpoint, kept here per partition): one decimal number, replaced durably.
 */
const LOG_START_FILE = 'log-start-offset';

export interface StorageLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silentLogger: StorageLogger = { info() {}, warn() {}, error() {} };

export interface LogOptions {
  dir: string;
  config?: Partial<LogConfig>;
  /** Milliseconds since the epoch; injected so tests can move time. @default Date.now */
  clock?: () => number;
  logger?: StorageLogger;
  /** Called once for each corrupt place found in the log (at open or by a read): the metrics hook. */
  onCorruption?: (event: CorruptionEvent) => void;
}

export interface CorruptionEvent {
  segment: string;
  position: number;
  reason: string;
}

export interface AppendOptions {
  /** Written into each batch's partitionLeaderEpoch. @default leave the producer's value */
  leaderEpoch?: number;
  /**
   * When false the batches keep their offsets (a follower copying its leader's log); each must start at
   * or after the log end offset. @default true
   */
  assignOffsets?: boolean;
  /**
   * The caller has verified every batch's framing and CRC-32C on these very bytes (the core's record
   * validation does, src/records/validate.ts), so the log checks only that the batches tile the bytes
   * and their sizes, and does not compute each CRC a second time. @default false
   */
  verified?: boolean;
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** Batches in the appended bytes. */
  batchCount: number;
  /** The largest maxTimestamp among the appended batches. */
  maxTimestamp: number;
}

export interface ReadOptions {
  /** Serve no batch whose last offset reaches this (a high watermark). @default the log end offset */
  maxOffset?: number;
}

export interface ReadResult {
  /** Whole batches, concatenated; empty when there is nothing to read yet. */
  bytes: Buffer;
  /** The offset after the last batch returned (the next to ask for), or the requested offset if none. */
  nextOffset: number;
}

/** A batch of a write round, as written: its offsets, its segment, and its bytes. */
interface TailBatch {
  base: number;
  last: number;
  segment: Segment;
  bytes: Buffer;
}

/** The memory a kept batch holds: its buffer's, which may be a larger request's (#keepTail). */
function heldBytes(b: TailBatch): number {
  return Math.max(b.bytes.length, b.bytes.buffer.byteLength);
}

interface PendingAppend {
  bytes: Buffer;
  /** Positions and sizes of the batches inside `bytes`. */
  batches: { pos: number; size: number }[];
  opts: AppendOptions;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

interface CleanShutdownMarker {
  version: 1;
  activeBaseOffset: number;
  activeBytes: number;
  nextOffset: number;
}

const MARKER = 'clean-shutdown';
/** The copy of a segment's overflowing tail while recovery splits it (removed at open if left). */
const SPLIT_SUFFIX = '.split';

/** The size of a batch the caller verified, checked only so far as the writes below rely on it. */
function verifiedBatchSize(bytes: Buffer, pos: number): number {
  assert.ok(pos + BATCH_HEADER_BYTES <= bytes.length, 'a verified batch has a whole header');
  const size = batchSizeAt(bytes, pos);
  assert.ok(size >= BATCH_HEADER_BYTES && pos + size <= bytes.length, 'a verified batch fits its bytes');
  return size;
}

export class PartitionLog {
  readonly dir: string;
  readonly config: LogConfig;
  readonly clock: () => number;
  readonly logger: StorageLogger;
  /** Oldest first; the last one is active. Never empty while open. */
  segments: Segment[] = [];
  #nextOffset = 0;
  #flushedOffset = 0;
  /** The log start offset DeleteRecords set (0 when none): offsets below it are gone to readers. */
  #deletedBefore = 0;
  #queue: PendingAppend[] = [];
  #writing = false;
  #writeLock = new Mutex();
  #maintenanceLock = new Mutex();
  #closed = false;
  /** Set by close(): new appends are refused while queued ones are still written. */
  #closing = false;
  #failure: BrokerError | null = null;
  /** Bytes a failed round left past `size` in this segment's file, not cut yet. */
  #pendingCut: { segment: Segment; size: number } | null = null;
  #markerPresent = false;
  /**
   * The closed segment a roll left to finish in the background (fsync other than always): its fdatasync
   * and then its index files, while appends go on into the new segment. At most one at a time: the next
   * roll, and every operation that changes or removes closed segments, waits for it (#settledLocked).
   * Stays set after a failure until a write round's repair finishes it.
   */
  #unfinalized: Segment | null = null;
  /**
   * The batches of the last write rounds, kept while readers wait at the log end so that they are
   * answered from memory rather than by reading back what was just written (#keepTail). A read from
   * them drops the batches below it (#readTail). Dropped once a reader waits past them, when what they
   * hold reaches `followTailBytesMax` and another round comes, at any change to the log other than an
   * append, and at close; all logs together keep at most `tailBytesMax`.
   */
  #tail: { end: number; bytes: number; batches: TailBatch[] } | null = null;
  static #tailBytes = 0;
  /**
   * The logs keeping a tail, the least recently read first: a round that would pass `tailBytesMax`
   * drops theirs from the front, so that tails nobody reads any more (a reader that went away) do not
   * keep the budget from the readers that are there.
   */
  static #tailHolders = new Set<PartitionLog>();
  /** Readers waiting for data outside waitForData (readerWaiting): a broker's partition waits itself. */
  #readersWaiting = 0;
  #finalizing: Promise<void> | null = null;
  #fsyncTimer: NodeJS.Timeout | null = null;
  /** Under fsync always or never, the retry of a failed log's repair (#scheduleRepair). */
  #repairTimer: NodeJS.Timeout | null = null;
  #unsynced = false;
  #waiters = new Set<() => void>();
  #onCorruption: ((event: CorruptionEvent) => void) | undefined;
  /** Corrupt places already reported (`segment base:position`), so each is counted once. */
  #corruptSites = new Set<string>();
  /** Index rebuilds that reads started, one per segment at a time. */
  #indexRebuilds = new Map<Segment, Promise<void>>();
  /** Corrupt places found since open (data that cannot be served, or an index that had to be rebuilt). */
  corruptions = 0;
  /** For each leader epoch that wrote here, its first offset (leader-epoch-cache.ts; #loadEpochs). */
  #epochs = new LeaderEpochCache();
  /** The epochs changed since `leader-epoch-checkpoint` was last written (or its write failed). */
  #epochsUnsaved = false;
  /** Serialises the checkpoint's writes, so that the last one to finish holds the latest entries. */
  #epochFileLock = new Mutex();

  private constructor(opts: LogOptions, config: LogConfig) {
    this.dir = opts.dir;
    this.config = config;
    this.clock = opts.clock ?? Date.now;
    this.logger = opts.logger ?? silentLogger;
    this.#onCorruption = opts.onCorruption;
  }

  /** The base offset of the segment after the one holding `offset`, or the log end offset. */
  offsetPastSegmentOf(offset: number): number {
    return this.segments[this.#segmentIndexFor(offset) + 1]?.baseOffset ?? this.#nextOffset;
  }

  /**
   * The damaged ranges of closed segments: offsets from `offset` to `endOffset` cannot be read.
   * The hook for repair by replication (issue 10 finding 9, not built yet): a follower with a range here
   * truncates to its `offset` (`truncateTo`) and fetches again from its leader; a leader hands its
   * leadership to an in-sync replica first.
   */
  damagedRanges(): { offset: number; endOffset: number; reason: string }[] {
    const out: { offset: number; endOffset: number; reason: string }[] = [];
    for (let i = 0; i < this.segments.length - 1; i++) {
      const d = this.segments[i].damage;
      if (d) out.push({ offset: d.offset, endOffset: this.segments[i + 1].baseOffset, reason: d.reason });
    }
    return out;
  }

  static async open(opts: LogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(opts, resolveLogConfig(opts.config));
    await mkdir(log.dir, { recursive: true });
    await log.#load();
    if (log.config.fsync === 'interval') {
      log.#fsyncTimer = setInterval(() => void log.#periodicFlush(), log.config.fsyncIntervalMs);
      log.#fsyncTimer.unref();
    }
    return log;
  }

  /**
   * The first offset still stored: the first segment's base, or past it where DeleteRecords moved it
   * (the batch holding it may then start earlier, as in Kafka, but is never read from below it).
   */
  get logStartOffset(): number {
    return Math.max(this.segments[0].baseOffset, Math.min(this.#deletedBefore, this.#nextOffset));
  }

  /** One past the last offset written (readable). */
  get logEndOffset(): number {
    return this.#nextOffset;
  }

  /** One past the last offset known to be on disk (fdatasync'd). */
  get flushedOffset(): number {
    return this.#flushedOffset;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  /**
   * Bytes of the log from `offset` to its end, from the segments' sizes and their in-memory sparse
   * offset indexes only (no file read: the metrics' scrape path asks it for every follower). It counts
   * from the last index entry at or below `offset`, so it is an estimate that may exceed the bytes from
   * the batch holding `offset` by up to one index interval (`index.interval.bytes`) plus that batch,
   * and never falls short. 0 at or past the log end; below the log start, the whole log.
   */
  bytesFrom(offset: number): number {
    if (offset >= this.#nextOffset) return 0;
    const i = this.#segmentIndexFor(offset);
    const seg = this.segments[i];
    let total = seg.size - (offset <= seg.baseOffset ? 0 : seg.index.lookup(offset));
    for (let j = i + 1; j < this.segments.length; j++) total += this.segments[j].size;
    assert.ok(total >= 0, `bytes from ${offset}: ${total}`);
    return total;
  }

  get activeSegment(): Segment {
    return this.segments[this.segments.length - 1];
  }

  // ---------------------------------------------------------------- open and recovery

  async #load(): Promise<void> {
    await recoverCompactionLeftovers(this.dir, this.logger);
    const names = await readdir(this.dir);
    for (const name of names) {
      // A segment removal interrupted by a crash: finish it. A temporary file of a snapshot write
      // interrupted by a crash (the producer state's) is garbage.
      if (name.endsWith('.deleted') || name.endsWith(SPLIT_SUFFIX) || isTemporaryFile(name))
        await rm(path.join(this.dir, name), { force: true });
    }
    const bases = names
      .filter((n) => /^\d{20}\.log$/.test(n))
      .map((n) => Number(n.slice(0, 20)))
      .sort((a, b) => a - b);
    const marker = await this.#readMarker();
    this.#markerPresent = marker !== null;
    if (bases.length === 0) {
      this.segments = [await Segment.create(this.dir, 0)];
      await syncDir(this.dir);
      this.#nextOffset = 0;
      this.#flushedOffset = 0;
      await this.#loadEpochs();
      return;
    }
    for (const base of bases) this.segments.push(await Segment.openExisting(this.dir, base));
    const lastSegment = this.segments[this.segments.length - 1];
    const clean =
      marker !== null &&
      marker.activeBaseOffset === lastSegment.baseOffset &&
      marker.activeBytes === lastSegment.size;
    // The list can grow while it is walked: recovery splits a segment whose offsets overflow.
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i];
      const isActive = i === this.segments.length - 1;
      if (!isActive || clean) {
        const loaded = await seg.loadIndexes(this.segments[i + 1]?.baseOffset);
        if (loaded === true) {
          if (isActive) {
            assert.ok(marker);
            seg.nextOffset = marker.nextOffset;
          }
          continue;
        }
        if (!isActive) {
          if (loaded === false && !clean && i === this.segments.length - 2) {
            // The newest closed segment, without indexes after a crash: its roll may not have finished
            // (#finalizeLater), so its tail may be unsynced.
            await this.#recoverNewestClosed(i);
            continue;
          }
          if (loaded === false)
            this.logger.warn({ segment: seg.paths.log }, 'index missing or damaged; rebuilding it');
          await this.#recoverClosedSegment(i, loaded === false ? undefined : loaded);
          continue;
        }
      }
      await this.#recoverSegment(i);
    }
    const active = this.activeSegment;
    this.#nextOffset = Math.max(active.nextOffset, active.baseOffset);
    this.#flushedOffset = this.#nextOffset;
    this.#deletedBefore = await this.#readLogStart();
    if (this.#deletedBefore > this.#nextOffset) {
      // The log lost its unsynced tail (fsync other than always) after DeleteRecords moved its start:
      // the start becomes the log end, recorded so that later appends stay readable after a restart.
      this.#deletedBefore = this.#nextOffset;
      await replaceFileDurably(path.join(this.dir, LOG_START_FILE), Buffer.from(`${this.#nextOffset}\n`));
    }
    // A crash between recording a new log start and removing the segments below it: remove them now.
    await this.#removeSegmentsBelow(this.logStartOffset);
    await this.#loadEpochs();
    if (!clean) {
      this.logger.info(
        { dir: this.dir, logEndOffset: this.#nextOffset, segments: this.segments.length },
        'recovered log after an unclean shutdown',
      );
    }
  }

  // ---------------------------------------------------------------- leader epochs

  /**
   * Loads the leader-epoch cache once recovery has fixed both ends of the log. The checkpoint is cut to
   * the log: entries at or past the log end go (a truncation or a lost unsynced tail that the file did
   * not hear of), and entries below the log start are raised to it. The cache is rebuilt from the batch
   * headers when the file is missing while the log holds batches (a log of the single-node release, which
   * wrote none), cannot be trusted (unparsable, wrong version or count, entries that do not increase,
   * too large), or lacks the epoch of the last batch on disk.
   *
   * Why a crash never leaves the checkpoint behind the log: an append writes a new epoch's entry to the
   * checkpoint, durably, before it writes the batch that starts the epoch (#writeOut), so after a crash
   * the file holds every epoch the segments hold, and perhaps entries past the log end (the batch was
   * never written, or was lost from an unsynced tail), which the cut below removes. A truncation changes
   * the segments first and the file after, so the file again is ahead, never behind. Emptying the log
   * clears the file first: a crash before the segments go leaves an empty file beside batches, which
   * the last-batch check turns into a rebuild. The last-batch check (one header, read from the last index
   * entry) also catches a file that is behind for any other reason, for example copied from elsewhere.
   */
  async #loadEpochs(): Promise<void> {
    const read = await readEpochCheckpoint(this.dir);
    let why: string;
    let expected = false;
    if (read === null) {
      if (!this.segments.some((s) => s.size > 0)) return;
      // A log of the single-node release, or one whose batches all carry -1: expected, so not a warning.
      why = 'there is no leader-epoch checkpoint';
      expected = true;
    } else if (!Array.isArray(read)) {
      why = `the leader-epoch checkpoint cannot be trusted: ${read.problem}`;
    } else {
      this.#epochs = LeaderEpochCache.of(read);
      const cutEnd = this.#epochs.truncateFromEnd(this.#nextOffset);
      const cutStart = this.#epochs.truncateFromStart(this.logStartOffset);
      // A last batch wholly below the log start (DeleteRecords emptied the log) has no entry to check:
      // the cut to the log end removed its epoch, as Kafka's load does.
      const lastBatch = await this.#lastBatch();
      const last = lastBatch && lastBatch.lastOffset >= this.logStartOffset ? lastBatch.epoch : null;
      if (last === null || last <= this.#epochs.latestEpoch) {
        if (cutEnd || cutStart) {
          this.#epochsUnsaved = true;
          await this.#saveEpochsOrDefer();
        }
        return;
      }
      why = `the last batch has leader epoch ${last}, the checkpoint's latest is ${this.#epochs.latestEpoch}`;
    }
    if (expected)
      this.logger.info({ dir: this.dir, why }, 'building the leader-epoch cache from the batch headers');
    else this.logger.warn({ dir: this.dir, why }, 'rebuilding the leader-epoch cache from the batch headers');
    this.#epochs = await this.#epochsFromSegments();
    this.#epochs.truncateFromStart(this.logStartOffset);
    this.#epochsUnsaved = true;
    await this.#saveEpochsOrDefer();
  }

  /**
   * The leader-epoch cache that the batches on disk imply, read from their headers only (baseOffset and
   * partitionLeaderEpoch; no record is decoded, no CRC computed: recovery checked them), in chunks of
   * `scanChunkBytes`. A header that does not frame (damage recovery left in a closed segment) ends that
   * segment's walk.
   */
  async #epochsFromSegments(): Promise<LeaderEpochCache> {
    const cache = new LeaderEpochCache();
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i];
      const end = seg.damage?.position ?? seg.size;
      const nextBase = this.segments[i + 1]?.baseOffset ?? Number.POSITIVE_INFINITY;
      let position = 0;
      let prevLast = seg.baseOffset - 1;
      walk: while (position < end) {
        const chunk = await seg.readAt(position, Math.min(scanChunkBytes, end - position));
        let at = 0;
        for (;;) {
          if (at + BATCH_HEADER_BYTES > chunk.length && at > 0) break;
          const problem = headerProblem(chunk, at, position + at, end, prevLast, nextBase);
          if (problem !== null) {
            this.logger.warn(
              { segment: seg.paths.log, position: position + at, problem },
              'the leader-epoch rebuild stops reading this segment',
            );
            break walk;
          }
          cache.assign(chunk.readInt32BE(at + F.partitionLeaderEpoch), readInt64(chunk, at + F.baseOffset));
          prevLast = lastOffsetOf(chunk, at);
          at += batchSizeAt(chunk, at);
          if (position + at >= end) break;
        }
        position += at;
      }
    }
    return cache;
  }

  /**
   * The partitionLeaderEpoch and last offset of the last batch on disk, or null when the log holds none
   * or its tail does not frame. Walks headers from the last index entry of the last segment with data: recovery sealed
   * every segment's index with an entry for its last batch, so this reads about one header.
   */
  async #lastBatch(): Promise<{ epoch: number; lastOffset: number } | null> {
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const seg = this.segments[i];
      const end = seg.damage?.position ?? seg.size;
      if (end === 0) continue;
      let position = seg.index.lastPosition();
      let last: { epoch: number; lastOffset: number } | null = null;
      while (position < end) {
        const header = await seg.readAt(position, BATCH_HEADER_BYTES);
        if (header.length < BATCH_HEADER_BYTES) return null;
        const size = batchSizeAt(header, 0);
        if (size < BATCH_HEADER_BYTES) return null;
        last = { epoch: header.readInt32BE(F.partitionLeaderEpoch), lastOffset: lastOffsetOf(header, 0) };
        position += size;
      }
      return last;
    }
    return null;
  }

  /**
   * Writes the epochs to `leader-epoch-checkpoint` if they changed since the last write. Throws when the
   * write fails, leaving them marked unsaved so that the next write tries again.
   */
  #saveEpochs(): Promise<void> {
    return this.#epochFileLock.run(async () => {
      if (!this.#epochsUnsaved) return;
      // Cleared before the write: a change made while it runs marks the entries unsaved again.
      this.#epochsUnsaved = false;
      try {
        await writeEpochCheckpoint(this.dir, this.#epochs.entries());
      } catch (err) {
        this.#epochsUnsaved = true;
        throw err;
      }
    });
  }

  /**
   * For changes that only remove or raise entries (truncations, a new log start, open): a failed write
   * is logged and left for later. The file is then ahead of the log, never behind it, which the next
   * open corrects (#loadEpochs), and the next append rewrites it before it writes any batch (#writeOut).
   */
  async #saveEpochsOrDefer(): Promise<void> {
    try {
      await this.#saveEpochs();
    } catch (err) {
      this.logger.warn(
        { dir: this.dir, err: (err as Error).message },
        'cannot write the leader-epoch checkpoint; the next append retries it',
      );
    }
  }

  /** Raises the first epoch entry to a log start offset that moved (DeleteRecords, retention). */
  async #epochsFollowLogStart(): Promise<void> {
    if (!this.#epochs.truncateFromStart(this.logStartOffset)) return;
    this.#epochsUnsaved = true;
    await this.#saveEpochsOrDefer();
  }

  /** The latest leader epoch that wrote to this log, or -1 when none did. */
  latestEpoch(): number {
    return this.#epochs.latestEpoch;
  }

  /**
   * Where leader epoch `epoch` ended in this log (Kafka's `UnifiedLog.endOffsetForEpoch`, what
   * OffsetForLeaderEpoch and a diverging-epoch fetch answer): the latest epoch ends at the log end
   * offset; see `LeaderEpochCache.endOffsetFor` for the rest. (-1, -1) when it is unknown.
   */
  endOffsetForEpoch(epoch: number): EpochEndOffset {
    return this.#epochs.endOffsetFor(epoch, this.#nextOffset);
  }

  /**
   * Records that leader epoch `epoch` starts at the log end offset before it writes anything (Kafka's
   * `Partition.makeLeader` calls `maybeAssignEpochStartOffset(leaderEpoch, logEndOffset)`), so that a new
   * leader answers `endOffsetForEpoch` for the previous epoch with where it really ended. A no-op for an
   * epoch not above the latest; otherwise saved to the checkpoint before it resolves. Optional: appends
   * stamped with `leaderEpoch` record the epoch at their first batch anyway.
   */
  assignLeaderEpoch(epoch: number): Promise<void> {
    this.#checkOpen();
    assert.ok(Number.isInteger(epoch) && epoch >= 0 && epoch <= 0x7fffffff, `bad leader epoch ${epoch}`);
    return this.#writeLock.run(async () => {
      if (!this.#epochs.assign(epoch, this.#nextOffset)) return;
      this.#epochsUnsaved = true;
      await this.#saveEpochs();
    });
  }

  /** For tests and admin tools: a copy of the leader-epoch entries, oldest first. */
  epochEntries(): EpochEntry[] {
    return this.#epochs.entries();
  }

  /**
   * Rebuilds a closed segment's indexes from its bytes. A closed segment was fdatasync'd whole before
   * the next one began, so bytes that do not scan (or a file shorter than its index says: `known`) are
   * damage, not a torn write: they are never cut (the data past them may yet be repaired), the
   * segment is marked damaged from there, reads that reach it answer CORRUPT_MESSAGE, and the damage is
   * reported. A segment whose offsets overflow (an older release's) is split instead.
   */
  async #recoverClosedSegment(i: number, known?: string): Promise<void> {
    const seg = this.segments[i];
    const nextBase = this.segments[i + 1].baseOffset;
    const result = await seg.rebuild(this.config.indexIntervalBytes, nextBase);
    const { size: fileBytes } = await seg.file.stat();
    if (result.overflowOffset !== undefined) {
      await this.#splitOverflowed(i, result.validBytes, fileBytes, result.overflowOffset);
      return;
    }
    // A file shorter than its index says loses something only if offsets before the next segment are
    // missing; otherwise the index alone was wrong, and is rebuilt.
    const lost = known !== undefined && result.nextOffset < nextBase;
    if (result.validBytes < fileBytes || lost) {
      const reason = result.validBytes < fileBytes ? (result.stoppedBecause ?? 'unreadable bytes') : known!;
      seg.damage = { position: result.validBytes, offset: result.nextOffset, reason };
      seg.size = fileBytes;
      this.#reportCorruption(seg, result.validBytes, reason);
    }
  }

  /**
   * Recovers the newest closed segment after a crash that may have cut its background finish short
   * (fsync other than always): its indexes are rebuilt from its bytes and, when its tail is torn, it is
   * cut at the last whole batch and every segment after it is removed, as Kafka's recovery truncates at
   * the first bad batch after its recovery point: what follows a lost tail was written after it.
   */
  async #recoverNewestClosed(i: number): Promise<void> {
    const seg = this.segments[i];
    const result = await seg.rebuild(this.config.indexIntervalBytes, this.segments[i + 1].baseOffset);
    const { size: fileBytes } = await seg.file.stat();
    if (result.overflowOffset !== undefined) {
      await this.#splitOverflowed(i, result.validBytes, fileBytes, result.overflowOffset);
      return;
    }
    if (result.validBytes === fileBytes) return;
    const gone = this.segments.splice(i + 1);
    this.logger.warn(
      {
        segment: seg.paths.log,
        validBytes: result.validBytes,
        fileBytes,
        reason: result.stoppedBecause,
        removed: gone.map((g) => g.paths.log),
      },
      'the newest closed segment lost its unsynced tail: cut there, and the segments after it removed',
    );
    await seg.file.truncate(result.validBytes);
    await seg.file.datasync();
    for (const g of gone) {
      await g.retire();
      await g.removeFiles();
    }
    await syncDir(this.dir);
    assert.equal(seg.size, result.validBytes);
  }

  /**
   * Records a corrupt place in the log, once per place: logged, counted in `corruptions`, and passed to
   * the `onCorruption` hook (a metric). The replica can be repaired from its leader by truncating to
   * the damaged offset and fetching again (docs/storage.md, "Corruption"); that is replication's job.
   */
  #reportCorruption(seg: Segment, position: number, reason: string): void {
    const site = `${seg.baseOffset}:${position}`;
    if (this.#corruptSites.has(site)) return;
    if (this.#corruptSites.size < corruptSitesMax) this.#corruptSites.add(site);
    this.corruptions++;
    this.logger.error(
      { segment: seg.paths.log, position, reason },
      'corrupt data in the log; it is not served',
    );
    this.#onCorruption?.({ segment: seg.paths.log, position, reason });
  }

  async #recoverSegment(i: number): Promise<void> {
    const seg = this.segments[i];
    const result = await seg.rebuild(this.config.indexIntervalBytes);
    const { size: fileBytes } = await seg.file.stat();
    if (result.overflowOffset !== undefined) {
      await this.#splitOverflowed(i, result.validBytes, fileBytes, result.overflowOffset);
    } else if (result.validBytes < fileBytes) {
      this.logger.warn(
        { segment: seg.paths.log, validBytes: result.validBytes, fileBytes, reason: result.stoppedBecause },
        'truncating a torn or corrupt tail',
      );
      await seg.file.truncate(result.validBytes);
      await seg.file.datasync();
    }
    assert.equal(seg.size, result.validBytes);
  }

  /**
   * Moves the bytes of segment `i` from `from` on into a new segment at `baseOffset`, where a batch sits
   * whose offsets do not fit segment `i`'s int32 relative offsets: a log written by a release that did
   * not roll before they overflowed (issue 10). As Kafka's `splitOverflowedSegment`, but the copy is
   * one file: it is written beside the log as `<base>.log.split`, fdatasync'd and renamed in before the
   * old segment is cut, so a crash at any point leaves either the old segment whole (the split runs
   * again) or the new one in place (the cut runs again). The new segment is recovered next, and is split
   * again if it overflows too.
   */
  async #splitOverflowed(i: number, from: number, fileBytes: number, baseOffset: number): Promise<void> {
    const seg = this.segments[i];
    const next = this.segments[i + 1];
    this.logger.warn(
      { segment: seg.paths.log, position: from, splitAt: baseOffset },
      'segment holds offsets past its int32 relative range; splitting it',
    );
    if (next !== undefined && next.baseOffset < baseOffset) {
      throw new BrokerError('KAFKA_STORAGE_ERROR', `segment ${seg.paths.log} overlaps the next segment`);
    }
    if (next === undefined || next.baseOffset > baseOffset) {
      const target = segmentPaths(this.dir, baseOffset);
      const tmp = `${target.log}${SPLIT_SUFFIX}`;
      const out = await open(tmp, 'w');
      try {
        for (let at = from; at < fileBytes; ) {
          const chunk = await seg.readAt(at, Math.min(scanChunkBytes, fileBytes - at));
          if (chunk.length === 0) break;
          await out.write(chunk, 0, chunk.length, at - from);
          at += chunk.length;
        }
        await out.datasync();
      } finally {
        await out.close();
      }
      await rm(target.index, { force: true });
      await rm(target.timeindex, { force: true });
      await rename(tmp, target.log);
      await syncDir(this.dir);
      this.segments.splice(i + 1, 0, await Segment.openExisting(this.dir, baseOffset));
    }
    // Otherwise an earlier split was cut short after its copy was renamed in: only the cut is left.
    await seg.file.truncate(from);
    await seg.file.datasync();
    await seg.writeIndexes();
  }

  async #readMarker(): Promise<CleanShutdownMarker | null> {
    try {
      const m = JSON.parse(await readFile(path.join(this.dir, MARKER), 'utf8')) as CleanShutdownMarker;
      return m.version === 1 ? m : null;
    } catch {
      return null;
    }
  }

  /** The first change after a clean open invalidates the marker, before any byte moves. */
  async #dropMarker(): Promise<void> {
    if (!this.#markerPresent) return;
    await rm(path.join(this.dir, MARKER), { force: true });
    await syncDir(this.dir);
    this.#markerPresent = false;
  }

  // ---------------------------------------------------------------- append

  /**
   * Refuses work on a closed log. A log whose disk failed still serves reads and takes appends: each
   * write round first tries to make it writable again (#repairLocked), so it recovers once space returns.
   */
  #checkOpen(): void {
    if (this.#closed || this.#closing) throw new BrokerError('LOG_CLOSED', `log ${this.dir} is closed`);
  }

  /** The storage error of the last failed write, while the log has not written successfully since. */
  get storageFailure(): BrokerError | null {
    return this.#failure;
  }

  /**
   * Appends one or more concatenated RecordBatch v2 batches (a produce request's records field).
   * Validation errors reject at once, before anything is queued. The batches' baseOffset and
   * partitionLeaderEpoch fields are rewritten in `bytes` itself; no other byte changes and nothing is
   * copied. Resolves when the batches are readable (and, under `fsync: always`, on disk).
   */
  append(bytes: Buffer, opts: AppendOptions = {}): Promise<AppendResult> {
    try {
      this.#checkOpen();
      const batches = this.#validate(bytes, opts.assignOffsets !== false, opts.verified === true);
      return new Promise((resolve, reject) => {
        this.#queue.push({ bytes, batches, opts, resolve, reject });
        if (!this.#writing) {
          this.#writing = true;
          void this.#drain();
        }
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #validate(bytes: Buffer, strict: boolean, verified: boolean): { pos: number; size: number }[] {
    if (bytes.length === 0) throw new BrokerError('CORRUPT_MESSAGE', 'no record batch in the appended bytes');
    const batches: { pos: number; size: number }[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      const size = verified ? verifiedBatchSize(bytes, pos) : verifyBatch(bytes, pos, bytes.length, strict);
      if (size > this.config.maxMessageBytes) {
        throw new BrokerError(
          'MESSAGE_TOO_LARGE',
          `batch of ${size} bytes is larger than max.message.bytes (${this.config.maxMessageBytes})`,
        );
      }
      batches.push({ pos, size });
      pos += size;
    }
    return batches;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (
        n < this.#queue.length &&
        n < appendsPerWriteMax &&
        (n === 0 || bytes + this.#queue[n].bytes.length <= bytesPerWriteMax)
      ) {
        bytes += this.#queue[n].bytes.length;
        n++;
      }
      const round = this.#queue.splice(0, n);
      await this.#writeLock.run(() => this.#writeRound(round));
    }
    this.#writing = false;
  }

  async #writeRound(round: PendingAppend[]): Promise<void> {
    if (this.#closed) {
      const err = new BrokerError('LOG_CLOSED', `log ${this.dir} is closed`);
      for (const p of round) p.reject(err);
      return;
    }
    try {
      await this.#repairLocked();
    } catch (err) {
      // Nothing of this round reached the file.
      const e = new BrokerError(
        'KAFKA_STORAGE_ERROR',
        `append to ${this.dir} failed, nothing of it was stored: ${(err as Error).message}`,
        { cause: err },
      );
      for (const p of round) p.reject(e);
      return;
    }
    const results: (AppendResult | null)[] = [];
    const written: TailBatch[] = [];
    let buffers: Buffer[] = [];
    let notes: [number, number, number, number, number][] = [];
    let position = this.activeSegment.size;
    // What a failure rolls the active segment back to: its state when the round began, or when this
    // round last rolled it (everything before a roll was written whole to the closed segment, which the
    // roll fdatasyncs, so it is stored).
    let start = this.activeSegment;
    let checkpoint = start.checkpoint();
    // The append being placed, whose result is not in `results` yet: a failure must judge it too.
    let current: AppendResult | undefined;
    try {
      await this.#dropMarker();
      for (const p of round) {
        // A follower's batch that does not continue the log is refused alone; the round goes on.
        if (p.opts.assignOffsets === false) {
          const first = readInt64(p.bytes, p.batches[0].pos + F.baseOffset);
          if (first < this.#nextOffset) {
            p.reject(
              new BrokerError(
                'INVALID_RECORD',
                `batch offset ${first} is below the log end offset ${this.#nextOffset}`,
              ),
            );
            results.push(null);
            continue;
          }
        }
        const unsafe = this.#offsetsUnsafe(p);
        if (unsafe) {
          p.reject(unsafe);
          results.push(null);
          continue;
        }
        let result: AppendResult | null = null;
        current = undefined;
        for (const { pos, size } of p.batches) {
          const maxTimestamp = readInt64(p.bytes, pos + F.maxTimestamp);
          const base =
            p.opts.assignOffsets === false ? readInt64(p.bytes, pos + F.baseOffset) : this.#nextOffset;
          const last = base + p.bytes.readInt32BE(pos + F.lastOffsetDelta);
          if (this.#shouldRoll(position, size, maxTimestamp, last)) {
            await this.#writeOut(buffers, notes);
            buffers = [];
            notes = [];
            // The new segment starts at the batch itself: a follower's batch may start past the log end.
            await this.#rollLocked(base);
            position = 0;
            start = this.activeSegment;
            checkpoint = start.checkpoint();
          }
          // A batch's last offset is at most int32 past its base, so it always fits a segment that
          // starts at it; the roll above guarantees that for the active segment.
          assert.ok(last - this.activeSegment.baseOffset <= segmentRelativeOffsetMax);
          if (p.opts.assignOffsets !== false) writeInt64(p.bytes, pos + F.baseOffset, base);
          if (p.opts.leaderEpoch !== undefined)
            p.bytes.writeInt32BE(p.opts.leaderEpoch, pos + F.partitionLeaderEpoch);
          // The epoch that wrote the batch: the leader's stamp, or the batch's own (a follower copying its
          // leader keeps the leader's). A known epoch is one compare in assign; a new one is saved to the
          // checkpoint by #writeOut before this batch reaches the file.
          const epoch = p.opts.leaderEpoch ?? p.bytes.readInt32BE(pos + F.partitionLeaderEpoch);
          if (this.#epochs.assign(epoch, base)) this.#epochsUnsaved = true;
          assert.equal(lastOffsetOf(p.bytes, pos), last);
          this.#nextOffset = last + 1;
          buffers.push(p.bytes.subarray(pos, pos + size));
          notes.push([position, size, base, last, maxTimestamp]);
          written.push({ base, last, segment: this.activeSegment, bytes: buffers[buffers.length - 1] });
          position += size;
          if (result === null) {
            result = { baseOffset: base, lastOffset: last, batchCount: 0, maxTimestamp };
            current = result;
          }
          result.lastOffset = last;
          result.batchCount++;
          if (maxTimestamp > result.maxTimestamp) result.maxTimestamp = maxTimestamp;
        }
        results.push(result);
        current = undefined;
      }
      await this.#writeOut(buffers, notes);
      if (this.config.fsync === 'always') {
        await this.activeSegment.file.datasync();
        this.#flushedOffset = this.#nextOffset;
      } else {
        this.#unsynced = true;
      }
    } catch (err) {
      if (current) results.push(current);
      await this.#failRound(err, round, results, start, checkpoint);
      return;
    }
    // A background finish or a periodic fdatasync that failed while this round ran, after the repair
    // at its start found nothing to repair, is retried now rather than at the next round. The round's
    // bytes are written either way; a repair that fails leaves the failure for the next round.
    if (this.#failure) await this.#repairLocked().catch(() => {});
    round.forEach((p, i) => {
      const r = results[i];
      if (r) p.resolve(r);
    });
    this.#keepTail(written);
    this.#wakeReaders();
  }

  /**
   * Keeps a round's batches for the readers waiting at the log end, if any and within the budget; and
   * adds them to the rounds already kept, while those hold less than `followTailBytesMax`, for a
   * reader that took from them and has not come back to wait yet.
   */
  #keepTail(written: TailBatch[]): void {
    if (written.length === 0) return;
    const waiting = this.#waiters.size + this.#readersWaiting > 0;
    const tail = this.#tail;
    const follows = tail !== null && tail.end === written[0].base && tail.bytes < followTailBytesMax;
    if (!follows) {
      this.#dropTail();
      if (!waiting) return;
    }
    let bytes = 0;
    for (const b of written) {
      // A batch may be a slice of a larger request (a Kafka Produce names many partitions): kept as it
      // is, it would hold the whole request, so such a batch is copied; otherwise its buffer counts.
      const whole = b.bytes.buffer.byteLength;
      if (whole > 2 * b.bytes.length && whole > 64 * 1024) b.bytes = Buffer.from(b.bytes);
      bytes += heldBytes(b);
    }
    for (const log of PartitionLog.#tailHolders) {
      if (PartitionLog.#tailBytes + bytes <= tailBytesMax) break;
      if (log !== this) log.#dropTail();
    }
    if (PartitionLog.#tailBytes + bytes > tailBytesMax) {
      this.#dropTail();
      return;
    }
    PartitionLog.#tailBytes += bytes;
    const end = written[written.length - 1].last + 1;
    if (follows && tail !== null) {
      tail.batches.push(...written);
      tail.bytes += bytes;
      tail.end = end;
    } else {
      this.#tail = { end, bytes, batches: written };
      PartitionLog.#tailHolders.add(this);
    }
  }

  #dropTail(): void {
    if (this.#tail === null) return;
    PartitionLog.#tailBytes -= this.#tail.bytes;
    this.#tail = null;
    PartitionLog.#tailHolders.delete(this);
  }

  /**
   * A read served from the kept round, as #readSegment would serve it from the file: whole batches from
   * the one holding `offset`, within one segment, up to `limit` bytes (the first always), none whose
   * last offset reaches `end`. Null when the round does not hold `offset`. A copy, so that no reader
   * shares the caller's buffer.
   */
  #readTail(offset: number, limit: number, end: number): ReadResult | null {
    const tail = this.#tail;
    if (tail === null || offset >= tail.end || offset < tail.batches[0].base) return null;
    // The batches below `offset` are taken: a reader reads forward, and one behind reads the file.
    let first = 0;
    let taken = 0;
    while (tail.batches[first].last < offset) taken += heldBytes(tail.batches[first++]);
    if (first > 0) {
      tail.batches.splice(0, first);
      tail.bytes -= taken;
      PartitionLog.#tailBytes -= taken;
    }
    const out: Buffer[] = [];
    let total = 0;
    let last = -1;
    let segment: Segment | null = null;
    for (const b of tail.batches) {
      if (segment !== null && b.segment !== segment) break;
      if (out.length > 0 && total + b.bytes.length > limit) break;
      if (b.last >= end) break;
      segment = b.segment;
      out.push(b.bytes);
      total += b.bytes.length;
      last = b.last;
    }
    if (out.length === 0) return null;
    // The most recently read, last to be dropped for another log's round.
    PartitionLog.#tailHolders.delete(this);
    PartitionLog.#tailHolders.add(this);
    return { bytes: Buffer.concat(out, total), nextOffset: last + 1 };
  }

  /**
   * Refuses a follower's append whose batches do not follow each other, and an append whose offsets would pass what a JavaScript number holds exactly (2^53 - 1), well
   * below Kafka's int64 but far beyond any real log: a batch that no segment could ever hold.
   */
  #offsetsUnsafe(p: PendingAppend): BrokerError | null {
    let last = this.#nextOffset - 1;
    for (const { pos } of p.batches) {
      const base = p.opts.assignOffsets === false ? readInt64(p.bytes, pos + F.baseOffset) : last + 1;
      if (base <= last) {
        return new BrokerError('INVALID_RECORD', `batch offset ${base} does not follow offset ${last}`);
      }
      last = base + p.bytes.readInt32BE(pos + F.lastOffsetDelta);
    }
    if (Number.isSafeInteger(last)) return null;
    return new BrokerError(
      'INVALID_RECORD',
      `the appended batches would end at offset ${last}, past the largest offset this log stores (${Number.MAX_SAFE_INTEGER})`,
    );
  }

  /**
   * Whether a batch must start a new segment: when its last offset would not fit the int32 relative
   * offsets of the active segment's indexes (Kafka's `LogSegment.shouldRoll` with
   * `canConvertToRelativeOffset`), even if the segment is empty; when it would not fit in segment.bytes;
   * or (as Kafka measures segment.ms) when its timestamp is segment.ms past the first batch of the
   * active segment.
   */
  #shouldRoll(position: number, size: number, batchTimestamp: number, lastOffset: number): boolean {
    if (lastOffset - this.activeSegment.baseOffset > segmentRelativeOffsetMax) return true;
    if (position === 0) return false;
    if (position + size > this.config.segmentBytes) return true;
    const first = this.activeSegment.firstBatchTimestamp;
    return first >= 0 && batchTimestamp - first >= this.config.segmentMs;
  }

  /**
   * Writes buffers to the active segment at its end and records them in its indexes. A changed
   * leader-epoch cache (a new epoch among these batches, or a removal a failed write could not save) is
   * written to its checkpoint first, durably: the checkpoint may run ahead of the segments after a crash,
   * which the next open corrects, but never behind them (#loadEpochs). When that write fails, nothing of
   * the buffers is written and the round fails as for a full disk.
   */
  async #writeOut(buffers: Buffer[], notes: [number, number, number, number, number][]): Promise<void> {
    if (buffers.length === 0) return;
    if (this.#epochsUnsaved) await this.#saveEpochs();
    const active = this.activeSegment;
    let total = 0;
    for (const b of buffers) total += b.length;
    // A small round is copied into the page cache on the event loop: that costs less than the hop to
    // the thread pool and back (`npm run bench:storage`), and an open-loop producer's lone batches are
    // each such a round. A large one is written on the pool, where the copy overlaps the event loop.
    const bytesWritten =
      total <= writeInlineBytesMax
        ? writevSync(active.file.fd, buffers, active.size)
        : (await active.file.writev(buffers, active.size)).bytesWritten;
    if (bytesWritten !== total) {
      throw new BrokerError(
        'KAFKA_STORAGE_ERROR',
        `short write: ${bytesWritten} of ${total} bytes (disk full?)`,
      );
    }
    for (const [pos, size, base, last, ts] of notes)
      active.noteBatch(pos, size, base, last, ts, this.config.indexIntervalBytes);
  }

  #fail(err: unknown): BrokerError {
    const failure =
      err instanceof BrokerError
        ? err
        : new BrokerError('KAFKA_STORAGE_ERROR', `log ${this.dir}: ${(err as Error).message}`, {
            cause: err,
          });
    this.logger.error(
      { dir: this.dir, err: failure.message },
      'log write failed; reads go on, and the next append or the fsync interval retries the disk',
    );
    this.#failure = failure;
    this.#scheduleRepair();
    return failure;
  }

  /**
   * Under fsync interval the timer repairs a failed log (#periodicFlush). Under always and never no
   * timer visits the log, so an idle partition whose write failed (or whose closed segment's background
   * finish failed) would report the failure, in its gauge and its next append's latency, until another
   * append came: the repair is retried here every fsyncIntervalMs until it holds or the log closes.
   */
  #scheduleRepair(): void {
    if (this.#fsyncTimer || this.#repairTimer || this.#closed || this.#closing) return;
    this.#repairTimer = setTimeout(() => {
      this.#repairTimer = null;
      if (this.#closed || this.#closing || !this.#failure) return;
      void this.#repairInBackground().finally(() => {
        if (this.#failure) this.#scheduleRepair();
      });
    }, this.config.fsyncIntervalMs);
    this.#repairTimer.unref();
  }

  /** A timer's repair of a failed log, under the write lock; a failure stays for the next try. */
  #repairInBackground(): Promise<void> {
    return this.#writeLock
      .run(async () => {
        if (!this.#closed) await this.#repairLocked();
      })
      .catch(() => {});
  }

  /**
   * A write round failed (a full disk, an I/O error). The client must hear the truth (issue 10 finding
   * 8): the bytes this round put in the active segment since `checkpoint` are forgotten in memory and
   * cut from the file, so an append answered with an error is not stored and never reappears after a
   * restart. Appends wholly before the checkpoint were stored (fdatasync'd by a roll) and succeed. When
   * the cut itself fails the outcome is unknown, the error says so, and the cut is retried before
   * anything else is written (#repairLocked).
   */
  async #failRound(
    err: unknown,
    round: PendingAppend[],
    results: (AppendResult | null | undefined)[],
    start: Segment,
    checkpoint: SegmentCheckpoint,
  ): Promise<void> {
    this.#dropTail();
    const failure = this.#fail(err);
    const active = this.activeSegment;
    // A roll that failed half way leaves `start` active; one that finished moved `start` with it.
    assert.equal(active, start);
    active.rollBackTo(checkpoint);
    this.#nextOffset = Math.max(active.nextOffset, active.baseOffset);
    if (this.#flushedOffset > this.#nextOffset) this.#flushedOffset = this.#nextOffset;
    // Epochs of the forgotten batches go too; the checkpoint is rewritten before the next batch is written.
    if (this.#epochs.truncateFromEnd(this.#nextOffset)) this.#epochsUnsaved = true;
    let cut = true;
    try {
      await active.file.truncate(checkpoint.size);
      await active.file.datasync();
    } catch {
      cut = false;
      this.#pendingCut = { segment: active, size: checkpoint.size };
    }
    const kept = this.#nextOffset;
    for (let i = 0; i < round.length; i++) {
      const r = results[i];
      if (r === null) continue; // refused on its own already
      if (r !== undefined && r.lastOffset < kept) {
        round[i].resolve(r);
        continue;
      }
      const stored = r !== undefined && r.baseOffset < kept;
      let outcome: string;
      if (stored) outcome = `offsets ${r.baseOffset} to ${kept - 1} were stored and the rest were not`;
      else if (cut) outcome = 'nothing of it was stored';
      else outcome = 'it may or may not be stored (the log could not remove it)';
      round[i].reject(
        new BrokerError(
          'KAFKA_STORAGE_ERROR',
          `append to ${this.dir} failed, ${outcome}: ${failure.message}`,
          {
            cause: failure,
          },
        ),
      );
    }
    this.#wakeReaders();
  }

  /**
   * Under the write lock: makes a log whose last write failed writable again, if the disk now lets it:
   * finishes cutting what a failed round left in the file, then fdatasyncs. Throws a storage error when
   * the disk still fails.
   */
  async #repairLocked(): Promise<void> {
    if (!this.#failure) return;
    try {
      const cut = this.#pendingCut;
      if (cut) {
        await cut.segment.file.truncate(cut.size);
        this.#pendingCut = null;
      }
      await this.#settledLocked();
      await this.activeSegment.file.datasync();
    } catch (err) {
      throw new BrokerError(
        'KAFKA_STORAGE_ERROR',
        `log ${this.dir} is still failing: ${(err as Error).message} (first failure: ${this.#failure.message})`,
        { cause: err },
      );
    }
    this.logger.info({ dir: this.dir }, 'log writable again after a storage failure');
    this.#failure = null;
  }

  // ---------------------------------------------------------------- roll

  /** Closes the active segment (if it holds data) and starts a new one at the log end offset. */
  roll(): Promise<void> {
    this.#checkOpen();
    return this.#writeLock.run(async () => {
      if (this.activeSegment.isEmpty) return;
      await this.#repairLocked();
      await this.#dropMarker();
      await this.#rollLocked();
    });
  }

  async #rollLocked(baseOffset = this.#nextOffset): Promise<void> {
    assert.ok(baseOffset >= this.#nextOffset && baseOffset > this.activeSegment.baseOffset);
    const old = this.activeSegment;
    await this.#settledLocked();
    // The closed segment is made durable whatever the fsync policy, data first and then its indexes,
    // so that recovery trusts a closed segment whose indexes load. Under fsync always it is done before
    // the round that rolled is acknowledged; otherwise in the background (#finalizeLater), so that the
    // appends behind the roll do not wait for several fsyncs (a third of the 1 KiB produce rate at
    // the default 16 MiB segments, and tens of milliseconds of latency at each roll). A crash meanwhile
    // can leave this segment without indexes and with an unsynced tail: open() cuts that tail and the
    // segment after it (#recoverNewestClosed).
    const always = this.config.fsync === 'always';
    if (always) await this.#finalize(old);
    const next = await Segment.create(this.dir, baseOffset);
    try {
      // The new file's name made durable before anything in it is acknowledged under fsync always;
      // otherwise the background finish syncs the directory.
      if (always) await syncDir(this.dir);
    } catch (err) {
      // Leave no file behind that a retried roll would collide with.
      await next.file.close().catch(() => {});
      await rm(next.paths.log, { force: true }).catch(() => {});
      throw err;
    }
    this.segments.push(next);
    if (!always) this.#finalizeLater(old);
  }

  /**
   * fdatasyncs a closed segment, then writes its index files and syncs the directory (their names, and
   * the new segment's); the flushed offset then passes it.
   */
  async #finalize(seg: Segment): Promise<void> {
    await seg.file.datasync();
    await seg.writeIndexes();
    await syncDir(this.dir);
    if (this.#unfinalized === seg) this.#unfinalized = null;
    if (this.#flushedOffset < seg.nextOffset) this.#flushedOffset = seg.nextOffset;
  }

  #finalizeLater(seg: Segment): void {
    this.#unfinalized = seg;
    const done: Promise<void> = this.#finalize(seg)
      .catch((err: unknown) => {
        // As a failed periodic fdatasync: acknowledged bytes may be lost in a machine crash; the next
        // write round retries (#repairLocked) before writing more.
        if (!this.#closed) this.#fail(err);
      })
      .finally(() => {
        if (this.#finalizing === done) this.#finalizing = null;
      });
    this.#finalizing = done;
  }

  /**
   * Under the write lock: waits for a closed segment's background finish, and finishes it here if that
   * failed (throwing when it fails again), so that the caller may change or remove closed segments.
   */
  async #settledLocked(): Promise<void> {
    while (this.#finalizing) await this.#finalizing;
    if (this.#unfinalized) await this.#finalize(this.#unfinalized);
  }

  // ---------------------------------------------------------------- flush

  /** fdatasyncs the active segment now. */
  async flush(): Promise<void> {
    const upTo = this.#nextOffset;
    await this.#writeLock.run(async () => {
      await this.#settledLocked();
      // A log whose last write, finish or fdatasync failed is repaired here (its fdatasync included),
      // or the flush fails with the reason.
      if (this.#failure) await this.#repairLocked();
      else await this.activeSegment.file.datasync();
    });
    if (upTo > this.#flushedOffset) this.#flushedOffset = upTo;
    this.#unsynced = false;
  }

  async #periodicFlush(): Promise<void> {
    if (this.#closed) return;
    if (this.#failure) {
      // A failed log repairs itself once the disk lets it rather than at the next append, which an idle
      // partition may not get: until then what it acknowledged is not synced.
      await this.#repairInBackground();
      return;
    }
    if (!this.#unsynced) return;
    this.#unsynced = false;
    const upTo = this.#nextOffset;
    try {
      // Not under the write lock: fdatasync covers whatever has been written, and rolls sync on their own
      // (the flushed offset passes a roll only once the closed segment is synced).
      await this.activeSegment.file.datasync();
      while (this.#finalizing) await this.#finalizing;
      if (upTo > this.#flushedOffset && !this.#unfinalized) this.#flushedOffset = upTo;
    } catch (err) {
      // Acknowledged bytes may be lost in a machine crash now; they are still served, and the next round
      // retries the fdatasync before writing more.
      if (!this.#closed) this.#fail(err);
    }
  }

  // ---------------------------------------------------------------- read

  /**
   * Reads whole batches starting with the one that holds `offset`, up to `maxBytes` in total, but at
   * least one batch even when it alone is larger (as Kafka does, so a consumer always progresses).
   * Offsets below the log start or above the log end are OFFSET_OUT_OF_RANGE; at the log end (or at
   * `maxOffset`) the result is empty.
   */
  async read(offset: number, maxBytes: number, opts: ReadOptions = {}): Promise<ReadResult> {
    this.#checkOpen();
    if (!Number.isSafeInteger(offset) || offset < this.logStartOffset || offset > this.#nextOffset) {
      throw new BrokerError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} is outside the log [${this.logStartOffset}, ${this.#nextOffset}]`,
      );
    }
    const limit = Math.min(Math.max(maxBytes, 0), readBytesMax);
    const end = Math.min(opts.maxOffset ?? this.#nextOffset, this.#nextOffset);
    const kept = this.#readTail(offset, limit, end);
    if (kept) return kept;
    // The next segment is found by offset, not by position in the list: compaction may merge segments
    // (and retention remove them) while this read awaits, which shifts positions but not offsets.
    let at = offset;
    while (at < end) {
      const i = this.#segmentIndexFor(at);
      const seg = this.segments[i];
      const nextBase = this.segments[i + 1]?.baseOffset;
      seg.acquire();
      try {
        const bytes = await this.#readSegment(seg, at, limit, end);
        if (bytes.length > 0) return { bytes, nextOffset: lastOffsetOf(bytes, lastBatchStart(bytes)) + 1 };
      } catch (err) {
        // A disk that fails a read (EIO) is a storage error of this partition, for its client to see.
        if (err instanceof BrokerError) throw err;
        throw new BrokerError(
          'KAFKA_STORAGE_ERROR',
          `cannot read ${seg.paths.log}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      } finally {
        seg.release();
      }
      if (nextBase === undefined) break;
      at = nextBase;
    }
    // Nothing below `end` at or after `offset` (compaction can empty the tail of the closed segments):
    // the next offset worth asking for is `end`.
    return { bytes: Buffer.alloc(0), nextOffset: Math.max(offset, end) };
  }

  #segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segments[mid].baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Reads whole batches of one segment from the one holding `offset`. Every batch header walked is
   * checked (frame within the segment, magic 2, offsets that follow each other and stay below the next
   * segment's base) and every batch served passes its CRC-32C, so that damage answers CORRUPT_MESSAGE
   * rather than a silent skip or a stall (issue 10 finding 9). When the first header a walk finds at an
   * index entry is wrong, the closed segment's index is rebuilt from its bytes and the read retried once.
   */
  async #readSegment(
    seg: Segment,
    offset: number,
    limit: number,
    endOffset: number,
    retried = false,
  ): Promise<Buffer> {
    const segEnd = seg.size;
    const closed = seg !== this.activeSegment;
    const segmentEndOffset = closed
      ? (this.#nextBaseOf(seg) ?? Number.POSITIVE_INFINITY)
      : Number.POSITIVE_INFINITY;
    // Walk batch headers from the index entry to the first batch whose last offset reaches `offset`.
    const entry = seg.index.lookupEntry(offset);
    let position = entry?.position ?? 0;
    let prevLast = (entry?.offset ?? seg.baseOffset) - 1;
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = position;
    const chunkBytes = Math.max(limit, this.config.indexIntervalBytes) + BATCH_HEADER_BYTES;
    // The batch walked past last. When the offset asked for lies in a gap after it (compaction makes
    // gaps) or past the segment's end, that rests on its last offset alone, which a flipped bit can
    // lower: it must pass its CRC before the read serves what follows.
    let skipped: { position: number; size: number } | null = null;
    for (;;) {
      if (seg.damage && position >= seg.damage.position)
        throw this.#corrupt(seg, seg.damage.position, seg.damage.reason);
      if (position >= segEnd) {
        if (skipped !== null) await this.#checkSkipped(seg, skipped.position, skipped.size);
        return Buffer.alloc(0);
      }
      if (position + BATCH_HEADER_BYTES > chunkStart + chunk.length) {
        chunkStart = position;
        chunk = await seg.readAt(position, Math.min(segEnd - position, chunkBytes));
      }
      const at = position - chunkStart;
      let problem = headerProblem(chunk, at, position, segEnd, prevLast, segmentEndOffset);
      if (problem === null && entry !== null && position === entry.position) {
        const base = readInt64(chunk, at + F.baseOffset);
        if (base !== entry.offset) problem = `index entry for offset ${entry.offset} points at batch ${base}`;
      }
      if (problem !== null) {
        if (closed && !retried && entry !== null && position === entry.position) {
          // The index, not the data, may be wrong: rebuild it from the segment and try again.
          await this.#rebuildClosedIndex(seg, problem);
          return this.#readSegment(seg, offset, limit, endOffset, true);
        }
        throw this.#corrupt(seg, position, problem);
      }
      prevLast = lastOffsetOf(chunk, at);
      if (prevLast >= offset) {
        if (skipped !== null && readInt64(chunk, at + F.baseOffset) > offset)
          await this.#checkSkipped(seg, skipped.position, skipped.size);
        break;
      }
      skipped = { position, size: batchSizeAt(chunk, at) };
      position += skipped.size;
    }
    const startPosition = position;
    // Make sure the chunk covers `limit` bytes from the first batch, then take whole batches that fit
    // (the first one always) and end before `endOffset`; a bad header ends the read (the next read,
    // which starts there, reports it).
    const want = Math.min(segEnd - startPosition, limit + BATCH_HEADER_BYTES);
    if (startPosition + want > chunkStart + chunk.length) {
      chunkStart = startPosition;
      chunk = await seg.readAt(startPosition, want);
    }
    let endPosition = startPosition;
    let last = prevLast;
    while (endPosition < segEnd) {
      if (seg.damage && endPosition >= seg.damage.position) break;
      const at = endPosition - chunkStart;
      if (at + BATCH_HEADER_BYTES > chunk.length) break;
      if (
        endPosition > startPosition &&
        headerProblem(chunk, at, endPosition, segEnd, last, segmentEndOffset)
      )
        break;
      const size = batchSizeAt(chunk, at);
      if (endPosition > startPosition && endPosition + size - startPosition > limit) break;
      if (lastOffsetOf(chunk, at) >= endOffset) break;
      last = lastOffsetOf(chunk, at);
      endPosition += size;
    }
    if (endPosition === startPosition) return Buffer.alloc(0);
    const out =
      endPosition <= chunkStart + chunk.length
        ? chunk.subarray(startPosition - chunkStart, endPosition - chunkStart)
        : await seg.readAt(startPosition, endPosition - startPosition);
    if (out.length < endPosition - startPosition) {
      throw this.#corrupt(seg, startPosition + out.length, 'the segment file is shorter than its batches');
    }
    return this.#verified(seg, out, startPosition);
  }

  #nextBaseOf(seg: Segment): number | undefined {
    const i = this.#segmentIndexFor(seg.baseOffset);
    return this.segments[i] === seg ? this.segments[i + 1]?.baseOffset : undefined;
  }

  /** The error a reader gets for damage at `position` of `seg`, which is reported once. */
  #corrupt(seg: Segment, position: number, reason: string): BrokerError {
    this.#reportCorruption(seg, position, reason);
    return new BrokerError(
      'CORRUPT_MESSAGE',
      `corrupt data in ${seg.paths.log} at byte ${position}: ${reason}`,
    );
  }

  /**
   * Rebuilds a closed segment's in-memory indexes from its bytes after a read found an index entry
   * that does not point at its batch; bytes that do not scan mark the segment damaged (never cut).
   */
  async #rebuildClosedIndex(seg: Segment, why: string): Promise<void> {
    let pending = this.#indexRebuilds.get(seg);
    if (!pending) {
      pending = (async () => {
        this.#reportCorruption(seg, -1, `index: ${why}`);
        // Scanned into a scratch segment over the same file, then swapped in whole: readers meanwhile
        // keep the old index rather than a half-built one.
        const scratch = new Segment(this.dir, seg.baseOffset, seg.file, 0);
        const nextBase = this.#nextBaseOf(seg);
        const result = await scratch.rebuild(this.config.indexIntervalBytes, nextBase);
        seg.index = scratch.index;
        seg.timeIndex = scratch.timeIndex;
        if (result.validBytes < seg.size) {
          const reason = result.stoppedBecause ?? 'unreadable bytes';
          seg.damage = { position: result.validBytes, offset: result.nextOffset, reason };
          this.#reportCorruption(seg, result.validBytes, reason);
        }
        this.logger.warn({ segment: seg.paths.log, why }, 'rebuilt a damaged index from the segment');
      })().finally(() => this.#indexRebuilds.delete(seg));
      this.#indexRebuilds.set(seg, pending);
    }
    await pending;
  }

  /** Throws CORRUPT_MESSAGE unless the batch at `position` of `seg` passes its CRC. */
  async #checkSkipped(seg: Segment, position: number, size: number): Promise<void> {
    const bytes = await seg.readAt(position, size);
    if (bytes.length < size)
      throw this.#corrupt(seg, position, 'the segment file is shorter than its batches');
    // One batch: #verified throws when it fails.
    this.#verified(seg, bytes, position);
  }

  /** Returns the batches of `bytes` up to the first that fails verification; never serves a bad batch. */
  #verified(seg: Segment, bytes: Buffer, filePosition: number): Buffer {
    let at = 0;
    while (at < bytes.length) {
      try {
        at += verifyBatch(bytes, at, bytes.length, false);
      } catch (err) {
        if (at === 0) throw this.#corrupt(seg, filePosition, (err as Error).message);
        break;
      }
    }
    return bytes.subarray(0, at);
  }

  /**
   * Resolves once `visibleEnd()` (by default the log end offset; a broker passes its high watermark)
   * passes `offset`, or after `timeoutMs`, whichever is first: the building block of long-poll fetches.
   * Waiters are re-checked after every write round, which is also when the flushed offset moves.
   */
  waitForData(
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
    visibleEnd: () => number = () => this.#nextOffset,
  ): Promise<void> {
    // A reader waiting past the kept round has read it.
    if (this.#tail !== null && offset >= this.#tail.end) this.#dropTail();
    if (visibleEnd() > offset || this.#closed || this.#closing || timeoutMs <= 0 || signal?.aborted)
      return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (visibleEnd() > offset || this.#closed || this.#closing) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Says that a reader waits for data at `offset` somewhere else than waitForData (a broker's partition
   * runs its own long polls), so that the next write round is kept for it; the function returned ends
   * that wait.
   */
  readerWaiting(offset: number): () => void {
    if (this.#tail !== null && offset >= this.#tail.end) this.#dropTail();
    this.#readersWaiting++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#readersWaiting--;
    };
  }

  #wakeReaders(): void {
    for (const check of [...this.#waiters]) check();
  }

  // ---------------------------------------------------------------- timestamps

  /**
   * The first record whose timestamp is at or after `timestamp` (Kafka's ListOffsets by time), or null
   * when every record is older.
   */
  async offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number } | null> {
    this.#checkOpen();
    // Walked by offset rather than list position, for the reason given in read(). Offsets below `from`
    // were searched already (a merge can hand back a segment that starts before it).
    let from = this.logStartOffset;
    for (;;) {
      const i = this.#segmentIndexFor(from);
      const seg = this.segments[i];
      const nextBase = this.segments[i + 1]?.baseOffset;
      if (seg.maxTimestamp >= timestamp) {
        seg.acquire();
        try {
          let offset = Math.max(seg.timeIndex.lookup(timestamp), from, this.logStartOffset);
          while (offset < this.#nextOffset) {
            const { bytes } = await this.#readOne(seg, offset);
            if (bytes.length === 0) break;
            const size = batchSizeAt(bytes, 0);
            if (readInt64(bytes, F.maxTimestamp) >= timestamp) {
              const hit = await this.#firstAtOrAfter(seg, bytes.subarray(0, size), timestamp, offset);
              if (hit) return hit;
            }
            offset = lastOffsetOf(bytes, 0) + 1;
          }
        } finally {
          seg.release();
        }
      }
      if (nextBase === undefined) return null;
      from = nextBase;
    }
  }

  /**
   * The first record of `batch` at or after `offset` whose timestamp reaches `timestamp`, found by the
   * bounded record walk: no record object is made and the walk stops at the hit. A stored batch the walk
   * cannot finish (written before records were validated, or past the record bounds) answers with its
   * first offset at or after `offset`: a consumer that starts there reads a little more, never less.
   */
  async #firstAtOrAfter(
    seg: Segment,
    batch: Buffer,
    timestamp: number,
    offset: number,
  ): Promise<{ offset: number; timestamp: number } | null> {
    const base = readInt64(batch, F.baseOffset);
    let hit: { offset: number; timestamp: number } | null = null;
    try {
      await walkBatch(batch, (r) => {
        if (r.timestamp < timestamp || base + r.offsetDelta < offset) return undefined;
        hit = { offset: base + r.offsetDelta, timestamp: r.timestamp };
        return STOP;
      });
    } catch (err) {
      if (!isBrokerError(err)) throw err;
      this.logger.warn(
        { segment: seg.paths.log, baseOffset: base, err: err.message },
        'time lookup cannot walk the records of a batch; answering with its first offset',
      );
      return { offset: Math.max(base, offset), timestamp: readInt64(batch, F.maxTimestamp) };
    }
    return hit;
  }

  #readOne(seg: Segment, offset: number): Promise<{ bytes: Buffer }> {
    return this.#readSegment(seg, offset, 1, this.#nextOffset).then((bytes) => ({ bytes }));
  }

  // ---------------------------------------------------------------- truncation

  /**
   * Removes every batch whose last offset is at or after `offset` (a whole batch goes when `offset` falls
   * inside it). The log end offset becomes the start of the first removed batch. Used by replication
   * when a follower's log diverged from its leader's. Truncating below the log start empties the log
   * and restarts it at `offset`.
   */
  truncateTo(offset: number): Promise<void> {
    this.#checkOpen();
    return this.#maintenanceLock.run(() =>
      this.#writeLock.run(async () => {
        if (offset >= this.#nextOffset) return;
        this.#dropTail();
        await this.#repairLocked();
        await this.#settledLocked();
        await this.#dropMarker();
        if (offset <= this.logStartOffset) {
          await this.#replaceAllWithEmptyAt(offset);
          return;
        }
        while (this.segments.length > 1 && this.activeSegment.baseOffset >= offset) {
          const gone = this.segments.pop()!;
          await gone.retire();
          await gone.removeFiles();
        }
        const seg = this.activeSegment;
        const position = await this.#positionOfFirstBatchReaching(seg, offset);
        await seg.file.truncate(position);
        await seg.file.datasync();
        const result = await seg.rebuild(this.config.indexIntervalBytes);
        assert.equal(result.validBytes, position);
        await rm(seg.paths.index, { force: true });
        await rm(seg.paths.timeindex, { force: true });
        await syncDir(this.dir);
        this.#nextOffset = Math.max(seg.nextOffset, seg.baseOffset);
        if (this.#flushedOffset > this.#nextOffset) this.#flushedOffset = this.#nextOffset;
        // After the segments: a crash before this leaves the checkpoint ahead, which open cuts.
        if (this.#epochs.truncateFromEnd(this.#nextOffset)) {
          this.#epochsUnsaved = true;
          await this.#saveEpochsOrDefer();
        }
      }),
    );
  }

  /** Empties the log and starts it again at `offset` (a follower far behind its leader's log start). */
  truncateFullyAndStartAt(offset: number): Promise<void> {
    this.#checkOpen();
    return this.#maintenanceLock.run(() =>
      this.#writeLock.run(async () => {
        // Finished or not, the closed segment goes with the rest.
        while (this.#finalizing) await this.#finalizing;
        this.#unfinalized = null;
        await this.#dropMarker();
        await this.#replaceAllWithEmptyAt(offset);
        // Every old file is gone, and with it whatever a failed write left.
        this.#pendingCut = null;
        this.#failure = null;
      }),
    );
  }

  async #replaceAllWithEmptyAt(offset: number): Promise<void> {
    this.#dropTail();
    // Before the segments go: a crash between leaves an empty checkpoint beside the old batches, which
    // open rebuilds from (#loadEpochs), rather than old epochs beside an empty log.
    if (this.#epochs.clear()) {
      this.#epochsUnsaved = true;
      await this.#saveEpochsOrDefer();
    }
    if (this.#deletedBefore > 0) {
      await rm(path.join(this.dir, LOG_START_FILE), { force: true });
      this.#deletedBefore = 0;
    }
    const old = this.segments;
    for (const seg of old) await seg.retire();
    for (const seg of old) await seg.removeFiles();
    this.segments = [await Segment.create(this.dir, offset)];
    await syncDir(this.dir);
    this.#nextOffset = offset;
    this.#flushedOffset = offset;
  }

  async #positionOfFirstBatchReaching(seg: Segment, offset: number): Promise<number> {
    let position = seg.index.lookup(offset);
    while (position < seg.size) {
      const header = await seg.readAt(position, BATCH_HEADER_BYTES);
      if (lastOffsetOf(header, 0) >= offset) return position;
      position += batchSizeAt(header, 0);
    }
    return seg.size;
  }

  // ---------------------------------------------------------------- DeleteRecords

  /**
   * Moves the log start offset forward to `offset` (Kafka's DeleteRecords): the new start is written
   * durably before anything is removed or answered, then the whole segments below it are deleted; the
   * segment holding it stays and is read from `offset` on. An offset at or below the current start
   * changes nothing. The caller checks that `offset` is not past the high watermark. Returns the new
   * log start offset.
   */
  deleteRecordsBefore(offset: number): Promise<number> {
    this.#checkOpen();
    assert.ok(Number.isSafeInteger(offset) && offset <= this.#nextOffset, 'delete within the log');
    return this.#maintenanceLock.run(async () => {
      if (offset <= this.logStartOffset) return this.logStartOffset;
      await replaceFileDurably(path.join(this.dir, LOG_START_FILE), Buffer.from(`${offset}\n`));
      this.#deletedBefore = offset;
      await this.#epochsFollowLogStart();
      await this.#removeSegmentsBelow(offset);
      this.logger.info({ dir: this.dir, logStartOffset: offset }, 'deleted records before an offset');
      return this.logStartOffset;
    });
  }

  async #readLogStart(): Promise<number> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, LOG_START_FILE), 'utf8');
    } catch {
      return 0;
    }
    const n = Number(text.trim());
    if (Number.isSafeInteger(n) && n >= 0) return n;
    this.logger.warn(
      { dir: this.dir, content: text.slice(0, 40) },
      'ignoring an unreadable log start offset',
    );
    return 0;
  }

  /** Removes the closed segments whose every offset lies below `offset`, as retention removes them. */
  async #removeSegmentsBelow(offset: number): Promise<void> {
    let doomed = 0;
    while (doomed < this.segments.length - 1 && this.segments[doomed + 1].baseOffset <= offset) doomed++;
    if (doomed === 0) return;
    const gone = await this.#writeLock.run(async () => {
      await this.#settledLocked();
      await this.#dropMarker();
      return this.segments.splice(0, doomed);
    });
    await this.#epochsFollowLogStart();
    await this.#removeSegmentFiles(gone);
  }

  /** Renames, syncs, then removes retired segments' files, so that a crash leaves only `.deleted` files. */
  async #removeSegmentFiles(gone: Segment[]): Promise<number> {
    let bytes = 0;
    for (const seg of gone) {
      bytes += seg.size;
      // Renamed first so that a crash mid-way leaves files that open() recognises and removes.
      for (const file of [seg.paths.log, seg.paths.index, seg.paths.timeindex]) {
        await rename(file, `${file}.deleted`).catch(() => {});
      }
    }
    await syncDir(this.dir);
    for (const seg of gone) {
      await seg.retire();
      for (const file of [seg.paths.log, seg.paths.index, seg.paths.timeindex])
        await rm(`${file}.deleted`, { force: true });
    }
    return bytes;
  }

  // ---------------------------------------------------------------- retention and compaction

  /**
   * Deletes whole closed segments that retention allows to go: those whose newest record is older than
   * `retention.ms`, and the oldest ones while the log is larger than `retention.bytes`. An active segment
   * that is itself wholly expired is rolled first, as Kafka does, so that an idle topic empties.
   * The log start offset advances to the first remaining segment.
   */
  deleteRetainedSegments(): Promise<{ segments: number; bytes: number }> {
    this.#checkOpen();
    return this.#maintenanceLock.run(async () => {
      if (!this.config.cleanupPolicy.delete) return { segments: 0, bytes: 0 };
      const now = this.clock();
      const { retentionMs, retentionBytes } = this.config;
      const active = this.activeSegment;
      if (retentionMs >= 0 && !active.isEmpty && active.maxTimestamp < now - retentionMs) await this.roll();
      let doomed = 0;
      let total = this.sizeBytes;
      for (let i = 0; i < this.segments.length - 1; i++) {
        const seg = this.segments[i];
        const expired = retentionMs >= 0 && seg.maxTimestamp < now - retentionMs;
        const oversize = retentionBytes >= 0 && total - seg.size >= retentionBytes;
        if (!expired && !oversize) break;
        total -= seg.size;
        doomed++;
      }
      if (doomed === 0) return { segments: 0, bytes: 0 };
      const gone = await this.#writeLock.run(async () => {
        await this.#settledLocked();
        await this.#dropMarker();
        return this.segments.splice(0, doomed);
      });
      await this.#epochsFollowLogStart();
      const bytes = await this.#removeSegmentFiles(gone);
      this.logger.info(
        { dir: this.dir, segments: gone.length, bytes, logStartOffset: this.logStartOffset },
        'retention deleted segments',
      );
      return { segments: gone.length, bytes };
    });
  }

  /**
   * Compacts the closed segments (cleanup.policy=compact): keeps the newest record of each key, drops
   * tombstones older than delete.retention.ms, keeps every surviving record's offset, and merges
   * consecutive closed segments that fit in one. Crash-safe at every step (compaction.ts).
   */
  compact(): Promise<CompactionStats> {
    this.#checkOpen();
    const damaged = this.damagedRanges();
    if (damaged.length > 0) {
      // Compaction would rewrite the segments around the damage and lose the record of it.
      return Promise.reject(
        new BrokerError(
          'KAFKA_STORAGE_ERROR',
          `log ${this.dir} is not compacted while offsets ${damaged[0].offset} to ${damaged[0].endOffset - 1} are damaged`,
        ),
      );
    }
    return this.#maintenanceLock.run(() =>
      compactLog(this, {
        swap: (fn) =>
          this.#writeLock.run(async () => {
            await this.#settledLocked();
            this.#dropTail();
            await this.#dropMarker();
            await fn();
          }),
      }),
    );
  }

  // ---------------------------------------------------------------- close

  /**
   * Waits for queued appends, fdatasyncs, writes the active segment's indexes, and leaves the
   * clean-shutdown marker so that the next open skips the recovery scan.
   */
  async close(): Promise<void> {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    if (this.#fsyncTimer) clearInterval(this.#fsyncTimer);
    if (this.#repairTimer) clearTimeout(this.#repairTimer);
    this.#wakeReaders();
    // Appends queued before close still get written: the writer loop runs until its queue is empty.
    while (this.#writing) await new Promise((r) => setImmediate(r));
    await this.#maintenanceLock.run(() =>
      this.#writeLock.run(async () => {
        this.#closed = true;
        this.#dropTail();
        this.#wakeReaders();
        const active = this.activeSegment;
        await this.#repairLocked().catch(() => {});
        // A closed segment that cannot be finished leaves no clean marker: the next open recovers it.
        await this.#settledLocked().catch((err: unknown) => this.#fail(err));
        // A removal whose checkpoint write failed: the file is ahead of the log, which the next open
        // corrects anyway, so this is only a courtesy.
        if (this.#epochsUnsaved) await this.#saveEpochsOrDefer();
        if (!this.#failure) {
          try {
            await active.file.datasync();
            await active.writeIndexes();
            const marker: CleanShutdownMarker = {
              version: 1,
              activeBaseOffset: active.baseOffset,
              activeBytes: active.size,
              nextOffset: this.#nextOffset,
            };
            await writeFileSynced(path.join(this.dir, MARKER), Buffer.from(JSON.stringify(marker)));
            await syncDir(this.dir);
          } catch (err) {
            // A full disk at shutdown: without a whole marker the next open scans the active segment,
            // which is all a clean close would have saved it.
            this.logger.warn(
              { dir: this.dir, err: (err as Error).message },
              'cannot leave a clean-shutdown marker; the next open recovers the active segment',
            );
            await rm(path.join(this.dir, MARKER), { force: true }).catch(() => {});
          }
        }
        for (const seg of this.segments) await seg.retire();
      }),
    );
  }

  /** Closes the log and removes its directory. */
  async delete(): Promise<void> {
    await this.close().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }

  /** For tests and tools: the segment file names, oldest first. */
  segmentNames(): string[] {
    return this.segments.map((s) => `${segmentName(s.baseOffset)}.log`);
  }

  /** For compaction: whether an error is the log being closed under it. */
  static isClosedError(err: unknown): boolean {
    return isBrokerError(err, 'LOG_CLOSED');
  }
}

function lastBatchStart(bytes: Buffer): number {
  let at = 0;
  let last = 0;
  while (at < bytes.length) {
    last = at;
    at += batchSizeAt(bytes, at);
  }
  return last;
}
