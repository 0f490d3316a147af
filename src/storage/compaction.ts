/**
 * Key-based compaction (cleanup.policy=compact), as Kafka's log cleaner does it, one closed segment at
 * a time:
 *
 * 1. Build a map from each key to the offset of its newest record over the closed segments (bounded by
 *    `cleanerKeysMax`: a log with more keys is compacted over several passes).
 * 2. Rewrite each closed segment keeping only records whose offset is their key's newest. Tombstones
 *    (null values) go too once their segment is older than delete.retention.ms. A batch keeps its base
 *    offset and lastOffsetDelta, so surviving records keep their offsets and producer sequence spans;
 *    an emptied batch is dropped unless it is its producer's last (idempotence state needs it).
 *    Records without a key are kept.
 * 3. Swap the rewritten segment in without a moment where a crash could lose or duplicate data:
 *      write B.log.cleaned, B.index.cleaned, B.timeindex.cleaned and fdatasync them;
 *      rename B.log.cleaned -> B.log.swap and fsync the directory     (the commit point);
 *      rename the .cleaned indexes over B.index and B.timeindex, then B.log.swap over B.log.
 *    On open, `recoverCompactionLeftovers` finishes a swap that committed and removes one that did not.
 */
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { cleanerKeysMax, scanChunkBytes } from '../limits.ts';
import {
  ATTR,
  batchSizeAt,
  decodeBatchAsync,
  LOG_OVERHEAD,
  readBatchHeader,
  rebuildBatch,
} from '../records/batch.ts';
import type { CompressionCode } from '../records/compression.ts';
import type { PartitionLog, StorageLogger } from './partition-log.ts';
import { Segment, syncDir, writeFileSynced } from './segment.ts';

export interface CompactionStats {
  segmentsRewritten: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
}

/** Finishes or discards a compaction swap that a crash interrupted. Runs before segments are loaded. */
export async function recoverCompactionLeftovers(dir: string, logger: StorageLogger): Promise<void> {
  const names = new Set(await readdir(dir));
  let changed = false;
  for (const name of names) {
    if (!name.endsWith('.log.swap')) continue;
    const stem = path.join(dir, name.slice(0, -'.log.swap'.length));
    for (const ext of ['index', 'timeindex']) {
      if (names.has(`${path.basename(stem)}.${ext}.cleaned`)) {
        await rename(`${stem}.${ext}.cleaned`, `${stem}.${ext}`);
        names.delete(`${path.basename(stem)}.${ext}.cleaned`);
      }
    }
    await rename(`${stem}.log.swap`, `${stem}.log`);
    logger.warn({ segment: `${stem}.log` }, 'finished a compaction swap interrupted by a crash');
    changed = true;
  }
  for (const name of names) {
    if (name.endsWith('.cleaned')) {
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
      const size = batchSizeAt(chunk, at);
      yield chunk.subarray(at, at + size);
      at += size;
    }
    if (at === 0) {
      // A batch larger than the chunk: read it whole.
      const header = await seg.readAt(position, LOG_OVERHEAD);
      const size = batchSizeAt(header, 0);
      yield await seg.readAt(position, size);
      at = size;
    }
    position += at;
  }
}

const keyOf = (key: Buffer) => key.toString('latin1');

export async function compactLog(
  log: PartitionLog,
  hooks: { swap: (fn: () => Promise<void>) => Promise<void> },
): Promise<CompactionStats> {
  const stats: CompactionStats = { segmentsRewritten: 0, bytesBefore: 0, bytesAfter: 0, recordsRemoved: 0 };
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
        const { header, records } = await decodeBatchAsync(batch);
        if (header.producerId >= 0) producerLast.set(header.producerId, header.baseOffset);
        if (header.attributes & ATTR.control) continue;
        for (const r of records) if (r.key !== null) newest.set(keyOf(r.key), r.offset);
      }
    } finally {
      seg.release();
    }
    covered++;
  }

  // Pass 2: rewrite each covered segment that has something to drop.
  const now = log.clock();
  for (const seg of closed.slice(0, covered)) {
    if (!log.segments.includes(seg)) continue;
    const dropTombstones = seg.maxTimestamp < now - log.config.deleteRetentionMs;
    const rewritten = await rewriteSegment(log, seg, newest, producerLast, dropTombstones);
    if (rewritten === null) continue;
    stats.segmentsRewritten++;
    stats.bytesBefore += seg.size;
    stats.bytesAfter += rewritten.segment.size;
    stats.recordsRemoved += rewritten.recordsRemoved;
    await hooks.swap(async () => {
      const stem = path.join(log.dir, path.basename(seg.paths.log, '.log'));
      await rename(`${stem}.log.cleaned`, `${stem}.log.swap`);
      await syncDir(log.dir);
      await rename(`${stem}.index.cleaned`, seg.paths.index);
      await rename(`${stem}.timeindex.cleaned`, seg.paths.timeindex);
      await rename(`${stem}.log.swap`, seg.paths.log);
      await syncDir(log.dir);
      const at = log.segments.indexOf(seg);
      rewritten.segment.nextOffset = seg.nextOffset;
      log.segments[at] = rewritten.segment;
    });
    // Reads in flight keep the old file open (its inode lives on until they finish).
    seg
      .retire()
      .catch((err) => log.logger.warn({ err: String(err) }, 'closing a compacted-away segment failed'));
  }
  if (stats.segmentsRewritten > 0) log.logger.info({ dir: log.dir, ...stats }, 'compacted log');
  return stats;
}

async function rewriteSegment(
  log: PartitionLog,
  seg: Segment,
  newest: Map<string, number>,
  producerLast: Map<number, number>,
  dropTombstones: boolean,
): Promise<{ segment: Segment; recordsRemoved: number } | null> {
  const out: Buffer[] = [];
  let removed = 0;
  seg.acquire();
  try {
    for await (const batch of batchesOf(seg)) {
      const header = readBatchHeader(batch);
      if (header.attributes & ATTR.control) {
        out.push(batch);
        continue;
      }
      const { records } = await decodeBatchAsync(batch);
      const kept = records.filter((r) => {
        if (r.key === null) return true;
        if (newest.get(keyOf(r.key)) !== r.offset) return false;
        return !(dropTombstones && r.value === null);
      });
      removed += records.length - kept.length;
      if (kept.length === records.length) {
        out.push(batch);
      } else if (
        kept.length > 0 ||
        (header.producerId >= 0 && producerLast.get(header.producerId) === header.baseOffset)
      ) {
        out.push(
          await rebuildBatch(header, kept, (header.attributes & ATTR.compressionMask) as CompressionCode),
        );
      }
    }
  } finally {
    seg.release();
  }
  if (removed === 0) return null;

  const stem = path.join(log.dir, path.basename(seg.paths.log, '.log'));
  const file = await open(`${stem}.log.cleaned`, 'w+');
  const cleaned = new Segment(log.dir, seg.baseOffset, file, 0);
  try {
    let position = 0;
    for (const batch of out) {
      const { bytesWritten } = await file.write(batch, 0, batch.length, position);
      if (bytesWritten !== batch.length) throw new Error('short write while compacting');
      const h = readBatchHeader(batch);
      cleaned.noteBatch(
        position,
        batch.length,
        h.baseOffset,
        h.baseOffset + h.lastOffsetDelta,
        h.maxTimestamp,
        log.config.indexIntervalBytes,
      );
      position += batch.length;
    }
    await file.datasync();
    cleaned.sealTimeIndex();
    await writeFileSynced(`${stem}.index.cleaned`, cleaned.index.toBuffer());
    await writeFileSynced(`${stem}.timeindex.cleaned`, cleaned.timeIndex.toBuffer());
  } catch (err) {
    await file.close();
    await rm(`${stem}.log.cleaned`, { force: true });
    throw err;
  }
  return { segment: cleaned, recordsRemoved: removed };
}
