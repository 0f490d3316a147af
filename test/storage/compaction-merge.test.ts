/**
 * Compaction merges consecutive closed segments into one (compaction.ts): the merged log reads as the
 * one-to-one compacted log would, its indexes are what a rebuild would produce, and a crash at any step
 * of the merge's swap protocol leaves a log that recovery turns into a correct one.
 */
import assert from 'node:assert/strict';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { encodeBatch } from '../../src/records/batch.ts';
import { canJoinGroup, compactLog } from '../../src/storage/compaction.ts';
import type { LogConfig } from '../../src/storage/log-config.ts';
import { PartitionLog, type StorageLogger } from '../../src/storage/partition-log.ts';
import { Segment } from '../../src/storage/segment.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, readAll, recordsOf } from './helpers.ts';

const day = 24 * 60 * 60 * 1000;
const now = 1_700_000_000_000;

/** A logger that remembers warnings, so a test can tell that an index was loaded, not rebuilt. */
function recordingLogger(): StorageLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, warn: (_obj, msg) => warnings.push(msg), error() {} };
}

/** Every offset's one-batch read, so that reads starting anywhere can be compared. */
async function readsAtEveryOffset(log: PartitionLog): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let o = log.logStartOffset; o < log.logEndOffset; o++) out.push((await log.read(o, 1)).bytes);
  return out;
}

/** offsetForTimestamp at every half second across the test data's timestamps. */
async function lookupsByTime(log: PartitionLog) {
  const out: ({ offset: number; timestamp: number } | null)[] = [];
  for (let ms = -500; ms <= 101_000; ms += ms < 82_000 ? 500 : 9_500) {
    out.push(await log.offsetForTimestamp(now + ms));
  }
  return out;
}

/**
 * Checks each closed segment's loaded indexes against indexes rebuilt from its bytes, and that no
 * segment's records run into the next one (reads, which go by base offset, would hide an overlap).
 */
async function assertIndexesMatchRebuild(log: PartitionLog): Promise<void> {
  for (const [i, seg] of log.segments.slice(0, -1).entries()) {
    const fresh = await Segment.openExisting(log.dir, seg.baseOffset);
    try {
      const scan = await fresh.rebuild(log.config.indexIntervalBytes);
      assert.equal(scan.stoppedBecause, undefined, `segment ${seg.baseOffset} scans clean`);
      assert.ok(
        scan.nextOffset <= log.segments[i + 1].baseOffset,
        `segment ${seg.baseOffset} overlaps the next`,
      );
      assert.deepEqual(seg.index.toBuffer(), fresh.index.toBuffer(), `offset index of ${seg.baseOffset}`);
      assert.deepEqual(
        seg.timeIndex.toBuffer(),
        fresh.timeIndex.toBuffer(),
        `time index of ${seg.baseOffset}`,
      );
    } finally {
      await fresh.file.close();
    }
  }
}

const compactConfig: Partial<LogConfig> = {
  segmentBytes: 4096,
  indexIntervalBytes: 256,
  cleanupPolicy: { delete: false, compact: true },
  deleteRetentionMs: day,
};

test('canJoinGroup bounds a merged segment by segment.bytes and by int32 relative offsets', () => {
  assert.ok(canJoinGroup(0, 1000, { nextOffset: 50, bytes: 3096 }, 4096));
  assert.ok(!canJoinGroup(0, 1000, { nextOffset: 50, bytes: 3097 }, 4096));
  const base = 10_000_000_000;
  assert.ok(canJoinGroup(base, 0, { nextOffset: base + 0x7fffffff + 1, bytes: 1 }, 4096));
  assert.ok(!canJoinGroup(base, 0, { nextOffset: base + 0x7fffffff + 2, bytes: 1 }, 4096));
});

test('merging segments that lose nothing leaves every read identical, and the indexes valid', async (t) => {
  const dir = await tempDir(t);
  const logger = recordingLogger();
  let log = await PartitionLog.open({ dir, config: compactConfig, clock: () => now, logger });
  // Forty small closed segments of unique keys: compaction drops nothing, so only the merge acts.
  for (let s = 0; s < 40; s++) {
    for (let b = 0; b < 2; b++) {
      await log.append(
        makeBatch(`s${s}b${b}`, 3, {
          valueBytes: 20,
          keys: (i) => `k${s}-${b}-${i}`,
          compression: s % 2 ? 1 : 0,
          timestamp: now + (s * 2 + b) * 1000,
        }),
      );
    }
    await log.roll();
  }
  await log.append(makeBatch('active', 2, { keys: (i) => `active-${i}`, timestamp: now + 100_000 }));
  const segmentsBefore = log.segments.length;
  const allBefore = await readAll(log);
  const readsBefore = await readsAtEveryOffset(log);
  const timesBefore = await lookupsByTime(log);
  assert.ok(new Set(timesBefore.map((r) => r?.offset)).size > 80, 'the lookups land in many batches');

  // A read in flight on a segment the merge replaces keeps reading it: hold one open across the merge.
  const held = log.segments[5];
  held.acquire();
  const heldBytes = await held.readAt(0, held.size);

  const stats = await log.compact();
  assert.equal(stats.recordsRemoved, 0);
  assert.ok(stats.segmentsMerged > 0);
  assert.ok(
    log.segments.length < segmentsBefore,
    `${log.segments.length} segments, ${segmentsBefore} before`,
  );
  assert.equal(log.segments.length, segmentsBefore - stats.segmentsMerged);
  assert.ok(log.segments.slice(0, -1).every((s) => s.size <= compactConfig.segmentBytes!));
  assert.deepEqual(await held.readAt(0, held.size), heldBytes, 'the replaced segment still reads');
  held.release();

  assert.deepEqual(await readAll(log), allBefore);
  assert.deepEqual(await readsAtEveryOffset(log), readsBefore);
  assert.deepEqual(await lookupsByTime(log), timesBefore);
  await assertIndexesMatchRebuild(log);
  const names = log.segmentNames();
  assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.log')).sort(), names);
  assert.equal((await log.compact()).segmentsRewritten, 0, 'a second pass has nothing to merge');

  // After a clean close the indexes are loaded, not rebuilt, and still read the same.
  await log.close();
  log = await PartitionLog.open({ dir, config: compactConfig, clock: () => now, logger });
  assert.deepEqual(log.segmentNames(), names);
  assert.deepEqual(await readsAtEveryOffset(log), readsBefore);
  assert.deepEqual(await lookupsByTime(log), timesBefore);
  await assertIndexesMatchRebuild(log);

  // Without the clean-shutdown marker the closed segments' index files are still checked and used.
  await log.close();
  await rm(path.join(dir, 'clean-shutdown'));
  log = await PartitionLog.open({ dir, config: compactConfig, clock: () => now, logger });
  t.after(() => log.close());
  assert.deepEqual(log.segmentNames(), names);
  assert.deepEqual(await readAll(log), allBefore);
  assert.deepEqual(await readsAtEveryOffset(log), readsBefore);
  await assertIndexesMatchRebuild(log);
  assert.deepEqual(
    logger.warnings.filter((w) => w.includes('index')),
    [],
  );
});

/** Many small closed segments over ten keys, each key rewritten often; k3 ends with a tombstone. */
async function churnedLog(dir: string) {
  const log = await PartitionLog.open({ dir, config: compactConfig, clock: () => now });
  const latest = new Map<string, { offset: number; value: string | null }>();
  const written = new Map<number, { key: string; value: string | null }>();
  for (let round = 0; round < 30; round++) {
    const keys = (i: number) => `k${(round * 3 + i) % 10}`;
    const { baseOffset } = await log.append(
      makeBatch(`r${round}`, 4, {
        valueBytes: 30,
        keys,
        timestamp: now - 2 * day,
        compression: round % 3 ? 0 : 1,
      }),
    );
    for (let i = 0; i < 4; i++) {
      const value = `r${round}:${i}:`.padEnd(30, 'x');
      latest.set(keys(i), { offset: baseOffset + i, value });
      written.set(baseOffset + i, { key: keys(i), value });
    }
    if (round % 2 === 1) await log.roll();
  }
  const tomb = await log.append(
    encodeBatch({ records: [{ key: Buffer.from('k3'), value: null, timestamp: now - 2 * day }] }),
  );
  latest.set('k3', { offset: tomb.baseOffset, value: null });
  written.set(tomb.baseOffset, { key: 'k3', value: null });
  await log.roll();
  await log.append(makeBatch('active', 2, { keys: (i) => `a${i}`, timestamp: now }));
  return { log, latest, written };
}

test('merging thinned segments keeps each key newest value at its original offset', async (t) => {
  const { log, latest } = await churnedLog(await tempDir(t));
  t.after(() => log.close());
  const before = log.segments.length;
  await log.compact();
  assert.ok(log.segments.length < before, `${log.segments.length} segments, ${before} before`);
  const closed = recordsOf(await readAll(log)).filter((r) => !r.key?.startsWith('a'));
  const want = [...latest.entries()]
    .filter(([, v]) => v.value !== null)
    .map(([key, v]) => ({ offset: v.offset, key, value: v.value }))
    .sort((a, b) => a.offset - b.offset);
  assert.deepEqual(closed, want);
  await assertIndexesMatchRebuild(log);
});

test('a crash after any step of the merge protocol recovers to a correct log', async (t) => {
  // A run to the end lists the steps and gives the log every interrupted run must finish as.
  const steps: string[] = [];
  const reference = await churnedLog(await tempDir(t));
  await compactLog(reference.log, { swap: (fn) => fn(), afterStep: (s) => void steps.push(s) });
  const finalBytes = await readAll(reference.log);
  const finalNames = reference.log.segmentNames();
  await reference.log.close();
  assert.ok(
    steps.some((s) => s.startsWith('removed')),
    `the run merged segments: ${steps.join(', ')}`,
  );

  for (let k = 0; k < steps.length; k++) {
    const dir = await tempDir(t);
    const { log, latest, written } = await churnedLog(dir);
    // Stopping for good at step k leaves the files exactly as a SIGKILL there would.
    let seen = 0;
    let incoming: Segment | null = null;
    void compactLog(log, {
      swap: (fn) => fn(),
      afterStep: (_step, segment) => {
        incoming = segment;
        return seen++ === k ? new Promise<void>(() => {}) : undefined;
      },
    });
    while (seen <= k) await new Promise((r) => setImmediate(r));
    const at = `after step ${k} (${steps[k]})`;

    const logger = recordingLogger();
    const reopened = await PartitionLog.open({ dir, config: compactConfig, clock: () => now, logger });
    const leftovers = (await readdir(dir)).filter((n) => /\.(swap|cleaned|swap-manifest|deleted)$/.test(n));
    assert.deepEqual(leftovers, [], `${at}: recovery leaves no protocol files`);
    const records = recordsOf(await readAll(reopened));
    let prev = -1;
    for (const r of records) {
      assert.ok(r.offset > prev, `${at}: offset ${r.offset} is not duplicated or out of order`);
      prev = r.offset;
      if (r.key?.startsWith('a')) continue;
      assert.deepEqual({ key: r.key, value: r.value }, written.get(r.offset), `${at}: offset ${r.offset}`);
    }
    const offsets = new Set(records.map((r) => r.offset));
    for (const [key, v] of latest) {
      if (v.value !== null) assert.ok(offsets.has(v.offset), `${at}: newest ${key} at ${v.offset} is kept`);
    }
    await assertIndexesMatchRebuild(reopened);
    // Compacting the recovered log again ends where the uninterrupted run ended.
    await reopened.compact();
    assert.deepEqual(await readAll(reopened), finalBytes, `${at}: a later pass finishes the job`);
    assert.deepEqual(reopened.segmentNames(), finalNames);
    await reopened.close();
    // The stopped process's descriptors: closed only now, as a dead process's would be.
    for (const seg of [...log.segments, incoming!]) await seg.file.close().catch(() => {});
  }
});

test('a committed swap whose manifest is damaged stops the open instead of guessing', async (t) => {
  const dir = await tempDir(t);
  const { log } = await churnedLog(dir);
  await log.close();
  const stem = path.join(dir, '00000000000000000000');
  await rename(`${stem}.log`, `${stem}.log.swap`);
  await writeFile(`${stem}.swap-manifest`, '{"replaces":[0,');
  await assert.rejects(PartitionLog.open({ dir, config: compactConfig }), { code: 'KAFKA_STORAGE_ERROR' });
  // A manifest that does not start with the swap's own base offset is refused the same way.
  await writeFile(`${stem}.swap-manifest`, JSON.stringify({ version: 1, replaces: [5, 9] }));
  await assert.rejects(PartitionLog.open({ dir, config: compactConfig }), { code: 'KAFKA_STORAGE_ERROR' });
  // Nothing was removed while refusing: with the manifest gone, the swap is a one-segment rewrite.
  await rm(`${stem}.swap-manifest`);
  const reopened = await PartitionLog.open({ dir, config: compactConfig });
  t.after(() => reopened.close());
  assert.equal(reopened.segments.length, log.segments.length);
});

test('a read in flight while a merge shifts the segment list still finds the next segment', async (t) => {
  const dir = await tempDir(t);
  const config = { ...compactConfig, segmentBytes: 1024 };
  const log = await PartitionLog.open({ dir, config, clock: () => now });
  t.after(() => log.close());
  const oneSegment = async (batches: Buffer[]) => {
    for (const b of batches) await log.append(b);
    await log.roll();
  };
  // S0..S3 cannot merge (two do not fit in 1024 bytes) until their keys are rewritten later.
  for (let s = 0; s < 4; s++)
    await oneSegment([makeBatch(`s${s}`, 4, { valueBytes: 150, keys: (i) => `s${s}-${i}` })]);
  // X ends with `dup`, which Y rewrites: the first pass leaves X with a gap at its end.
  await oneSegment([
    makeBatch('x', 1, { valueBytes: 300, keys: () => 'x' }),
    makeBatch('dup-old', 1, { keys: () => 'dup' }),
  ]);
  const gapOffset = log.logEndOffset - 1;
  await oneSegment([makeBatch('y', 2, { valueBytes: 380, keys: (i) => (i === 0 ? 'dup' : 'y') })]);
  await log.compact();
  const x = log.segments[4];
  assert.ok(x.nextOffset > gapOffset && x.baseOffset < gapOffset, 'X still spans the removed offset');
  const wanted = (await log.read(gapOffset, 1)).bytes;
  assert.equal(recordsOf(wanted)[0].value?.startsWith('y:0:'), true);

  // Rewriting S0..S3's keys lets the next pass merge them with X, shifting everything after it.
  for (let s = 0; s < 4; s++)
    await oneSegment([makeBatch(`w${s}`, 4, { valueBytes: 150, keys: (i) => `s${s}-${i}` })]);
  await log.append(makeBatch('active', 1));

  // Hold a read inside X (which has nothing at or after gapOffset) until the merge has happened.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const readAt = x.readAt.bind(x);
  let first = true;
  x.readAt = async (position, length) => {
    if (first) {
      first = false;
      await gate;
    }
    return readAt(position, length);
  };
  const inFlight = log.read(gapOffset, 1);
  assert.equal(first, false, 'the read is waiting inside X');
  const stats = await log.compact();
  assert.ok(stats.segmentsMerged >= 4 && !log.segments.includes(x), 'X was merged away under the read');
  release();
  assert.deepEqual((await inFlight).bytes, wanted);
  assert.deepEqual((await log.read(gapOffset, 1)).bytes, wanted);
});
