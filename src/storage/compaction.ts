/**
 * Key-based compaction (cleanup.policy=compact), as Kafka's log cleaner does it:
 *
 * 1. Build a map from each key to the offset of its newest record over the closed segments (bounded by
 *    `cleanerKeysMax`: a log with more keys is compacted over several passes).
 * 2. Thin each closed segment, keeping only records whose offset is their key's newest. Tombstones
 *    (null values) go too once their segment is older than delete.retention.ms. A batch keeps its base
 *    offset and lastOffsetDelta, so surviving records keep their offsets and producer sequence spans;
 *    an emptied batch is dropped unless it is its producer's last (idempotence state needs it).
 *    Records without a key are kept.
 * 3. Group consecutive thinned segments, as Kafka's LogCleaner.groupSegmentsBySize does, while their
 *    cleaned bytes fit in segment.bytes and their offsets fit the indexes' int32 relative offsets from
 *    the group's first base offset; each group is written as ONE segment named by that base offset, so
 *    a heavily compacted log does not keep its segment count forever.
 * 4. Swap each written group in without a moment where a crash could lose or duplicate data:
 *      write B.log.cleaned, B.index.cleaned, B.timeindex.cleaned and fdatasync them;
 *      when the group replaces more than B, write B.swap-manifest (the replaced base offsets), fdatasync;
 *      fsync the directory, so the manifest is on disk before the commit can be;
 *      rename B.log.cleaned -> B.log.swap and fsync the directory     (the commit point);
 *      rename the .cleaned indexes over B.index and B.timeindex;
 *      remove the other replaced segments' files and fsync the directory;
 *      rename B.log.swap over B.log, remove the manifest, fsync the directory.
 *    The replaced segments go before B.log.swap becomes B.log: once the swap is gone, nothing on disk
 *    says they were replaced, and keeping them beside the merged segment would duplicate their records.
 *    On open, `recoverCompactionLeftovers` finishes a swap that committed and removes one that did not.
 */
import assert from 'node:assert/strict';
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError } from '../errors.ts';
import { cleanerKeysMax, scanChunkBytes, segmentRelativeOffsetMax } from '../limits.ts';
import {
  ATTR,
  batchSizeAt,
  LOG_OVERHEAD,
  readBatchHeader,
  thinBatch,
  verifyBatch,
} from '../records/batch.ts';
import { type RecordView, walkBatch } from '../records/record-walk.ts';
import type { PartitionLog, StorageLogger } from './partition-log.ts';
import { Segment, segmentName, segmentPaths, syncDir, writeFileSynced } from './segment.ts';

export interface CompactionStats {
  /** Closed segments whose files were rewritten (alone or as part of a merged group). */
  segmentsRewritten: number;
  /** Segments that merging removed: a group of n segments written as one removes n - 1. */
  segmentsMerged: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
}

/** Names the segments a committed merge replaces; written next to `B.log.cleaned` before the commit. */
const MANIFEST_SUFFIX = '.swap-manifest';

/** The largest relative offset the `.index` and `.timeindex` entries can hold (int32). */
const relativeOffsetMax = segmentRelativeOffsetMax;

/**
 * Whether a thinned segment may join a group that starts at `groupBaseOffset` and holds `groupBytes`
 * cleaned bytes: the merged segment must fit in segment.bytes, and every offset in it must be
 * expressible relative to the group's base offset in the indexes' int32 field.
 */
export function canJoinGroup(
  groupBaseOffset: number,
  groupBytes: number,
  next: { nextOffset: number; bytes: number },
  segmentBytes: number,
): boolean {
  return (
    groupBytes + next.bytes <= segmentBytes && next.nextOffset - 1 - groupBaseOffset <= relativeOffsetMax
  );
}

function manifestPath(dir: string, baseOffset: number): string {
  return path.join(dir, `${segmentName(baseOffset)}${MANIFEST_SUFFIX}`);
}

/** The replaced base offsets a manifest lists, checked: ascending, starting with the swap's own base. */
function parseManifest(file: string, text: string, baseOffset: number): number[] {
  let replaces: unknown;
  try {
    replaces = (JSON.parse(text) as { replaces?: unknown }).replaces;
  } catch {
    replaces = undefined;
  }
  const valid =
    Array.isArray(replaces) &&
    replaces[0] === baseOffset &&
    replaces.every((o, i) => Number.isSafeInteger(o) && (i === 0 || o > replaces[i - 1]));
  // The manifest was fdatasync'd, and the directory fsync'd, before the commit rename: a committed swap
  // with a damaged manifest is a disk that lost synced data, not a state this code can produce.
  if (!valid) throw new BrokerError('KAFKA_STORAGE_ERROR', `compaction manifest ${file} is damaged`);
  return replaces as number[];
}

/** Finishes or discards a compaction swap that a crash interrupted. Runs before segments are loaded. */
export async function recoverCompactionLeftovers(dir: string, logger: StorageLogger): Promise<void> {
  const names = new Set(await readdir(dir));
  let changed = false;
  for (const name of names) {
    if (!name.endsWith('.log.swap')) continue;
    const base = name.slice(0, -'.log.swap'.length);
    const stem = path.join(dir, base);
    for (const ext of ['index', 'timeindex']) {
      if (names.has(`${base}.${ext}.cleaned`)) {
        await rename(`${stem}.${ext}.cleaned`, `${stem}.${ext}`);
        names.delete(`${base}.${ext}.cleaned`);
      }
    }
    if (names.has(`${base}${MANIFEST_SUFFIX}`)) {
      // A committed merge: the segments it replaced go before the swap becomes B.log (see the header).
      const file = manifestPath(dir, Number(base));
      const replaced = parseManifest(file, await readFile(file, 'utf8'), Number(base));
      for (const other of replaced.slice(1)) {
        const paths = segmentPaths(dir, other);
        for (const f of [paths.log, paths.index, paths.timeindex]) await rm(f, { force: true });
      }
      await syncDir(dir);
      logger.warn(
        { segment: `${stem}.log`, replaced },
        'finished removing the segments of a compaction merge interrupted by a crash',
      );
    }
    await rename(`${stem}.log.swap`, `${stem}.log`);
    logger.warn({ segment: `${stem}.log` }, 'finished a compaction swap interrupted by a crash');
    changed = true;
  }
  for (const name of names) {
    // Without its .log.swap, a manifest is either uncommitted or left after its swap finished.
    if (name.endsWith('.cleaned') || name.endsWith(MANIFEST_SUFFIX)) {
      await rm(path.join(dir, name), { force: true });
      changed = true;
    }
  }
  if (changed) await syncDir(dir);
}

/** Yields every batch of a closed segment, reading it in chunks. */
async function* batchesOf(seg: Segment): AsyncGenerator<Buffer> {
  let position = 0;
  while (position < seg.size) {
    const chunk = await seg.readAt(position, Math.min(scanChunkBytes, seg.size - position));
    let at = 0;
    while (at + LOG_OVERHEAD <= chunk.length && at + batchSizeAt(chunk, at) <= chunk.length) {
      // Never rewrite a corrupt batch into a valid one (issue 10 finding 9): a bad one stops the pass.
      const size = verifyBatch(chunk, at, chunk.length, false);
      yield chunk.subarray(at, at + size);
      at += size;
    }
    if (at === 0) {
      // A batch larger than the chunk: read it whole.
      const header = await seg.readAt(position, LOG_OVERHEAD);
      const claimed = header.length === LOG_OVERHEAD ? batchSizeAt(header, 0) : 0;
      if (claimed < LOG_OVERHEAD || claimed > seg.size - position) {
        throw new BrokerError(
          'CORRUPT_MESSAGE',
          `${seg.paths.log}: batch at ${position} claims ${claimed} bytes`,
        );
      }
      const whole = await seg.readAt(position, claimed);
      const size = verifyBatch(whole, 0, whole.length, false);
      yield whole;
      at = size;
    }
    position += at;
  }
}

/** A record's key as a map key: latin1 maps each byte to one char, so distinct keys stay distinct. */
const keyString = (r: RecordView, records: Buffer) =>
  records.toString('latin1', r.keyStart, r.keyStart + r.keyLength);

export interface CompactionHooks {
  /** Runs `fn` under the log's write lock: the in-memory segment list changes only in there. */
  swap: (fn: () => Promise<void>) => Promise<void>;
  /**
   * Called after each durable step of the swap protocol with the segment being swapped in. Tests stop
   * the protocol there for good, to reproduce every on-disk state a crash can leave. @default none
   */
  afterStep?: (step: string, incoming: Segment) => Promise<void> | void;
}

/** One closed segment after thinning: the batches to keep, not yet written. */
interface Thinned {
  seg: Segment;
  batches: Buffer[];
  bytes: number;
  recordsRemoved: number;
}

/** A group of consecutive segments being written as one, into `B.log.cleaned`. */
interface Group {
  members: Thinned[];
  bytes: number;
  /** Opened once the group is known to need writing (more than one member, or something removed). */
  out: { file: FileHandle; segment: Segment } | null;
}

export async function compactLog(log: PartitionLog, hooks: CompactionHooks): Promise<CompactionStats> {
  const stats: CompactionStats = {
    segmentsRewritten: 0,
    segmentsMerged: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    recordsRemoved: 0,
  };
  if (!log.config.cleanupPolicy.compact) return stats;
  const closed = log.segments.slice(0, -1);
  if (closed.length === 0) return stats;

  // Pass 1: the newest offset of each key, and each producer's last batch.
  const newest = new Map<string, number>();
  const producerLast = new Map<number, number>();
  let covered = 0;
  for (const seg of closed) {
    if (newest.size >= cleanerKeysMax) break;
    seg.acquire();
    try {
      for await (const batch of batchesOf(seg)) {
        const header = readBatchHeader(batch);
        if (header.producerId >= 0) producerLast.set(header.producerId, header.baseOffset);
        if (header.attributes & ATTR.control) continue;
        await walkBatch(batch, (r, records) => {
          if (r.keyLength >= 0) newest.set(keyString(r, records), header.baseOffset + r.offsetDelta);
          return undefined;
        });
      }
    } finally {
      seg.release();
    }
    covered++;
  }

  // Pass 2: thin each covered segment and group consecutive ones while they fit in one segment. At most
  // two segments' thinned batches are in memory at once: a group's first member until a second joins or
  // the group ends, and the segment being thinned; the rest go straight to the group's file.
  const now = log.clock();
  let group: Group | null = null;
  try {
    for (const seg of closed.slice(0, covered)) {
      const dropTombstones = seg.maxTimestamp < now - log.config.deleteRetentionMs;
      const thinned = await thinSegment(seg, newest, producerLast, dropTombstones);
      if (
        group !== null &&
        !canJoinGroup(
          group.members[0].seg.baseOffset,
          group.bytes,
          { nextOffset: seg.nextOffset, bytes: thinned.bytes },
          log.config.segmentBytes,
        )
      ) {
        await finishGroup(log, group, hooks, stats);
        group = null;
      }
      if (group === null) {
        group = { members: [thinned], bytes: thinned.bytes, out: null };
        continue;
      }
      group.members.push(thinned);
      group.bytes += thinned.bytes;
      await writeMembers(log, group);
    }
    if (group !== null) {
      await finishGroup(log, group, hooks, stats);
      group = null;
    }
  } finally {
    // A group that failed before its commit leaves nothing behind; finishGroup drops `out` at the commit.
    if (group?.out) await abandon(log, group.out);
  }
  if (stats.segmentsRewritten > 0) log.logger.info({ dir: log.dir, ...stats }, 'compacted log');
  return stats;
}

/** Reads a closed segment and keeps what compaction keeps; writes nothing. */
async function thinSegment(
  seg: Segment,
  newest: Map<string, number>,
  producerLast: Map<number, number>,
  dropTombstones: boolean,
): Promise<Thinned> {
  const batches: Buffer[] = [];
  let bytes = 0;
  let removed = 0;
  seg.acquire();
  try {
    for await (const batch of batchesOf(seg)) {
      const header = readBatchHeader(batch);
      let keep: Buffer | null = batch;
      if (!(header.attributes & ATTR.control)) {
        // The kept records' byte spans (adjacent ones merged), in order; records are walked in place,
        // never decoded, and copied as they are.
        const spans: number[] = [];
        let kept = 0;
        let total = 0;
        let section: Buffer = batch;
        await walkBatch(batch, (r, records) => {
          section = records;
          total++;
          if (r.keyLength >= 0) {
            if (newest.get(keyString(r, records)) !== header.baseOffset + r.offsetDelta) return undefined;
            if (dropTombstones && r.valueLength < 0) return undefined;
          }
          kept++;
          const last = spans.length - 1;
          if (last > 0 && spans[last] === r.start) spans[last] = r.end;
          else spans.push(r.start, r.end);
          return undefined;
        });
        removed += total - kept;
        if (kept === total) {
          keep = batch;
        } else if (
          kept > 0 ||
          (header.producerId >= 0 && producerLast.get(header.producerId) === header.baseOffset)
        ) {
          keep = await thinBatch(batch, section, spans, kept);
        } else {
          keep = null;
        }
      }
      if (keep !== null) {
        batches.push(keep);
        bytes += keep.length;
      }
    }
  } finally {
    seg.release();
  }
  return { seg, batches, bytes, recordsRemoved: removed };
}

/** Writes the batches of the group's members that are not yet in its `.cleaned` file. */
async function writeMembers(log: PartitionLog, group: Group): Promise<void> {
  if (group.out === null) {
    const base = group.members[0].seg.baseOffset;
    const file = await open(`${segmentPaths(log.dir, base).log}.cleaned`, 'w+');
    group.out = { file, segment: new Segment(log.dir, base, file, 0) };
  }
  const { file, segment } = group.out;
  for (const member of group.members) {
    for (const batch of member.batches) {
      const position = segment.size;
      const { bytesWritten } = await file.write(batch, 0, batch.length, position);
      if (bytesWritten !== batch.length) throw new Error('short write while compacting');
      const h = readBatchHeader(batch);
      segment.noteBatch(
        position,
        batch.length,
        h.baseOffset,
        h.baseOffset + h.lastOffsetDelta,
        h.maxTimestamp,
        log.config.indexIntervalBytes,
      );
    }
    member.batches = [];
  }
}

async function abandon(log: PartitionLog, out: { file: FileHandle; segment: Segment }): Promise<void> {
  const stem = segmentPaths(log.dir, out.segment.baseOffset).log.slice(0, -'.log'.length);
  await out.file.close().catch(() => {});
  for (const ext of ['log', 'index', 'timeindex']) await rm(`${stem}.${ext}.cleaned`, { force: true });
  await rm(manifestPath(log.dir, out.segment.baseOffset), { force: true });
}

/** Writes a group as one segment and swaps it in for its members, unless there is nothing to gain. */
async function finishGroup(
  log: PartitionLog,
  group: Group,
  hooks: CompactionHooks,
  stats: CompactionStats,
): Promise<void> {
  const members = group.members;
  const removed = members.reduce((n, m) => n + m.recordsRemoved, 0);
  if (members.length === 1 && removed === 0) return;
  await writeMembers(log, group);
  const out = group.out;
  assert.ok(out, 'a group being swapped in has its file');
  const { file, segment: merged } = out;
  const base = merged.baseOffset;
  const olds = members.map((m) => m.seg);
  const stem = segmentPaths(log.dir, base).log.slice(0, -'.log'.length);
  const step = async (name: string) => {
    if (hooks.afterStep) await hooks.afterStep(name, merged);
  };

  await file.datasync();
  merged.seal();
  await writeFileSynced(`${stem}.index.cleaned`, merged.index.toBuffer());
  await writeFileSynced(`${stem}.timeindex.cleaned`, merged.timeIndex.toBuffer());
  if (olds.length > 1) {
    const manifest = { version: 1, replaces: olds.map((s) => s.baseOffset) };
    await writeFileSynced(manifestPath(log.dir, base), Buffer.from(JSON.stringify(manifest)));
  }
  await syncDir(log.dir);
  await step('cleaned written');

  await hooks.swap(async () => {
    // Under the write lock: the members are still the same consecutive closed segments (compaction runs
    // under the maintenance lock, so retention and truncation cannot have moved them).
    const at = log.segments.indexOf(olds[0]);
    assert.ok(
      at >= 0 && olds.every((s, i) => log.segments[at + i] === s) && at + olds.length < log.segments.length,
      `compaction: the closed segments from ${base} changed under the cleaner`,
    );
    // From the commit on, a failure must leave the files for recovery to finish: removing the manifest
    // now would let recovery rename the swap in beside the segments it replaces.
    group.out = null;
    await rename(`${stem}.log.cleaned`, `${stem}.log.swap`);
    await syncDir(log.dir);
    await step('committed');
    await rename(`${stem}.index.cleaned`, olds[0].paths.index);
    await rename(`${stem}.timeindex.cleaned`, olds[0].paths.timeindex);
    await step('indexes renamed');
    if (olds.length > 1) {
      // Reads in flight on these keep their open descriptors; unlinking does not disturb them.
      for (const old of olds.slice(1)) {
        for (const f of [old.paths.log, old.paths.index, old.paths.timeindex]) await rm(f, { force: true });
        await step(`removed ${old.baseOffset}`);
      }
      await syncDir(log.dir);
    }
    await rename(`${stem}.log.swap`, olds[0].paths.log);
    await step('swapped');
    await rm(manifestPath(log.dir, base), { force: true });
    await syncDir(log.dir);
    merged.nextOffset = olds[olds.length - 1].nextOffset;
    log.segments.splice(at, olds.length, merged);
  });

  stats.segmentsRewritten += olds.length;
  stats.segmentsMerged += olds.length - 1;
  for (const old of olds) stats.bytesBefore += old.size;
  stats.bytesAfter += merged.size;
  stats.recordsRemoved += removed;
  for (const old of olds) {
    // Reads in flight keep the old file open (its inode lives on until they finish).
    old
      .retire()
      .catch((err) => log.logger.warn({ err: String(err) }, 'closing a compacted-away segment failed'));
  }
}
