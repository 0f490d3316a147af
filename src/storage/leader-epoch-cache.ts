/**
 * The leader-epoch cache of a partition log (Kafka's `LeaderEpochFileCache`): for each leader epoch
 * that wrote to the log, the first offset it wrote. Replication asks it where an epoch ended
 * (`endOffsetFor`), which is how a leader tells a follower that sent `lastFetchedEpoch` (Fetch v12+,
 * KIP-595) where their logs diverge, and how a follower knows where to truncate.
 *
 * The class is a pure core: it changes entries and says whether they changed; partition-log.ts decides
 * when to persist them with `writeEpochCheckpoint` and when to rebuild them from batch headers.
 *
 * On disk: `leader-epoch-checkpoint` in the log directory, Kafka's checkpoint text format, so that
 * Kafka's tools read it:
 *
 * ```
 * 0                  version
 * 2                  number of entries
 * 0 0                epoch startOffset
 * 3 1200
 * ```
 */
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { replaceFileDurably } from './segment.ts';

export const LEADER_EPOCH_FILE = 'leader-epoch-checkpoint';

/**
 * Bytes of `leader-epoch-checkpoint` that are read before the file is judged corrupt. An entry is at
 * most 28 bytes (an int32 epoch, a space, a 2^53 offset, a newline), so 1 MiB is over 37,000 epochs,
 * far more leader changes than one log sees; a larger file is damage, and is not allocated.
 * (Kept here rather than in src/limits.ts because this change is confined to src/storage/.)
 * @default 1048576
 */
export const leaderEpochCheckpointBytesMax = 1024 * 1024;

/** The version line of Kafka's leader-epoch checkpoint file. */
const CHECKPOINT_VERSION = 0;
/** The largest leader epoch (an int32 on the wire and in every batch header). */
const EPOCH_MAX = 0x7fffffff;

/** The first offset written in a leader epoch. */
export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

/** The answer to "where did this epoch end": Kafka's OffsetForLeaderEpoch (leader epoch, end offset). */
export interface EpochEndOffset {
  epoch: number;
  endOffset: number;
}

/** Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

export class LeaderEpochCache {
  /** Increasing in both epoch and start offset. */
  #entries: EpochEntry[] = [];
  /** The last entry's epoch, or -1: kept in a field so that `assign` of a known epoch is one compare. */
  #latestEpoch = UNDEFINED_EPOCH;

  /** A cache holding `entries`, which must be strictly increasing in both fields (a programmer error else). */
  static of(entries: readonly EpochEntry[]): LeaderEpochCache {
    assert.equal(entriesProblem(entries), null);
    const cache = new LeaderEpochCache();
    cache.#entries = entries.map((e) => ({ epoch: e.epoch, startOffset: e.startOffset }));
    cache.#latestEpoch = cache.#entries.at(-1)?.epoch ?? UNDEFINED_EPOCH;
    return cache;
  }

  /** The latest epoch that wrote to the log, or -1 when none did. */
  get latestEpoch(): number {
    return this.#latestEpoch;
  }

  get earliest(): EpochEntry | undefined {
    const e = this.#entries[0];
    return e && { ...e };
  }

  get latest(): EpochEntry | undefined {
    const e = this.#entries.at(-1);
    return e && { ...e };
  }

  get size(): number {
    return this.#entries.length;
  }

  /** A copy of the entries, oldest first. */
  entries(): EpochEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  /**
   * Records that `epoch` wrote its first batch at `startOffset`. A no-op (false) unless `epoch` is above
   * the latest: the same epoch's next batch is the usual case, and a negative epoch (-1: a batch written
   * before epochs existed, or a client's) is never recorded. A new epoch first removes the entries at or
   * past it, in epoch or in offset (Kafka's `maybeTruncateNonMonotonicEntries`), so that the entries stay
   * increasing in both. Returns whether the entries changed.
   */
  assign(epoch: number, startOffset: number): boolean {
    if (epoch <= this.#latestEpoch) return false;
    assert.ok(epoch <= EPOCH_MAX && Number.isInteger(epoch), `leader epoch ${epoch} is not an int32`);
    assert.ok(Number.isSafeInteger(startOffset) && startOffset >= 0, `bad epoch start offset ${startOffset}`);
    const entries = this.#entries;
    while (entries.length > 0) {
      const last = entries[entries.length - 1];
      if (last.epoch < epoch && last.startOffset < startOffset) break;
      entries.pop();
    }
    entries.push({ epoch, startOffset });
    this.#latestEpoch = epoch;
    return true;
  }

  /**
   * Where `epoch` ended (Kafka's `LeaderEpochFileCache.endOffsetFor`):
   * - the latest epoch (still being written) ends at `logEndOffset`;
   * - an epoch below every entry (its data is gone from the log start) answers the requested epoch and
   *   the first entry's start offset, so that a follower truncates to where the leader's log begins;
   * - -1, an empty cache, or an epoch above the latest answer (-1, -1), UNDEFINED;
   * - otherwise the largest epoch at or below the requested one, ending where the next epoch starts.
   */
  endOffsetFor(epoch: number, logEndOffset: number): EpochEndOffset {
    const entries = this.#entries;
    if (epoch === UNDEFINED_EPOCH || entries.length === 0)
      return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (epoch === this.#latestEpoch) return { epoch, endOffset: logEndOffset };
    // The first entry with an epoch above the requested one (binary search: the entries are sorted).
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid].epoch > epoch) hi = mid;
      else lo = mid + 1;
    }
    if (lo === entries.length) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    const higher = entries[lo];
    if (lo === 0) return { epoch, endOffset: higher.startOffset };
    return { epoch: entries[lo - 1].epoch, endOffset: higher.startOffset };
  }

  /** Drops the entries that start at or after `endOffset` (the log was cut there). Returns whether any went. */
  truncateFromEnd(endOffset: number): boolean {
    const entries = this.#entries;
    const before = entries.length;
    while (entries.length > 0 && entries[entries.length - 1].startOffset >= endOffset) entries.pop();
    if (entries.length === before) return false;
    this.#latestEpoch = entries.at(-1)?.epoch ?? UNDEFINED_EPOCH;
    return true;
  }

  /**
   * The log now starts at `startOffset`: entries wholly below it go, and the last one that starts at or
   * below it stays with its start raised to it (Kafka's `truncateFromStart`: an entry at exactly
   * `startOffset` is kept as it is). Returns whether the entries changed.
   */
  truncateFromStart(startOffset: number): boolean {
    const entries = this.#entries;
    let n = 0;
    while (n < entries.length && entries[n].startOffset <= startOffset) n++;
    if (n === 0) return false;
    const kept = entries[n - 1];
    if (n === 1 && kept.startOffset === startOffset) return false;
    entries.splice(0, n - 1);
    entries[0] = { epoch: kept.epoch, startOffset };
    return true;
  }

  /** Forgets every entry (the log was emptied and restarted). Returns whether there were any. */
  clear(): boolean {
    if (this.#entries.length === 0) return false;
    this.#entries = [];
    this.#latestEpoch = UNDEFINED_EPOCH;
    return true;
  }
}

/** What is wrong with `entries` as a cache's entries (strictly increasing in both fields), or null. */
export function entriesProblem(entries: readonly EpochEntry[]): string | null {
  for (let i = 0; i < entries.length; i++) {
    const { epoch, startOffset } = entries[i];
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > EPOCH_MAX) return `entry ${i} has epoch ${epoch}`;
    if (!Number.isSafeInteger(startOffset) || startOffset < 0)
      return `entry ${i} has start offset ${startOffset}`;
    if (i > 0 && (epoch <= entries[i - 1].epoch || startOffset <= entries[i - 1].startOffset))
      return `entry ${i} (${epoch} ${startOffset}) does not follow (${entries[i - 1].epoch} ${entries[i - 1].startOffset})`;
  }
  return null;
}

/** The checkpoint file's bytes for `entries`. */
export function encodeEpochCheckpoint(entries: readonly EpochEntry[]): Buffer {
  assert.equal(entriesProblem(entries), null);
  let text = `${CHECKPOINT_VERSION}\n${entries.length}\n`;
  for (const e of entries) text += `${e.epoch} ${e.startOffset}\n`;
  return Buffer.from(text, 'utf8');
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** The entries a checkpoint file's text holds, or why it cannot be trusted. */
export function parseEpochCheckpoint(text: string): EpochEntry[] | { problem: string } {
  const lines = text.split('\n');
  // One newline ends the last line; nothing may follow it.
  if (lines.at(-1) === '') lines.pop();
  if (lines.length < 2) return { problem: 'the file has no version and count lines' };
  if (lines[0] !== String(CHECKPOINT_VERSION))
    return { problem: `version ${JSON.stringify(lines[0].slice(0, 20))}` };
  if (!DECIMAL.test(lines[1])) return { problem: `count ${JSON.stringify(lines[1].slice(0, 20))}` };
  const count = Number(lines[1]);
  if (count !== lines.length - 2)
    return { problem: `the count says ${count} entries, ${lines.length - 2} follow` };
  const entries: EpochEntry[] = [];
  for (let i = 2; i < lines.length; i++) {
    const parts = lines[i].split(' ');
    if (parts.length !== 2 || !DECIMAL.test(parts[0]) || !DECIMAL.test(parts[1]))
      return { problem: `line ${i + 1} is ${JSON.stringify(lines[i].slice(0, 40))}` };
    entries.push({ epoch: Number(parts[0]), startOffset: Number(parts[1]) });
  }
  const problem = entriesProblem(entries);
  return problem === null ? entries : { problem };
}

/**
 * Reads the checkpoint file of the log in `dir`: its entries, null when there is no file, or why it
 * cannot be trusted. Reads at most `leaderEpochCheckpointBytesMax` bytes.
 */
export async function readEpochCheckpoint(dir: string): Promise<EpochEntry[] | { problem: string } | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path.join(dir, LEADER_EPOCH_FILE), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { problem: `cannot open it: ${(err as Error).message}` };
  }
  try {
    const { size } = await fh.stat();
    if (size > leaderEpochCheckpointBytesMax)
      return { problem: `${size} bytes, more than ${leaderEpochCheckpointBytesMax}` };
    // One byte more than the stat said, to notice a file that grew since.
    const buf = Buffer.alloc(size + 1);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done > size) return { problem: 'the file grew while it was read' };
    return parseEpochCheckpoint(buf.subarray(0, done).toString('utf8'));
  } catch (err) {
    return { problem: `cannot read it: ${(err as Error).message}` };
  } finally {
    await fh.close();
  }
}

/** Replaces the checkpoint file of the log in `dir` with `entries`, durably (temp file, fsync, rename). */
export function writeEpochCheckpoint(dir: string, entries: readonly EpochEntry[]): Promise<void> {
  return replaceFileDurably(path.join(dir, LEADER_EPOCH_FILE), encodeEpochCheckpoint(entries));
}
