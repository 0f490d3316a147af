/**
 * A roll under fsync interval or never finishes the closed segment (fdatasync, then its index files)
 * in the background while appends go on; open() recovers the newest closed segment when a crash cut
 * that finish short.
 */
import assert from 'node:assert/strict';
import { appendFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, readAll, recordsOf } from './helpers.ts';

const config = { segmentBytes: 4096, fsync: 'interval' as const, fsyncIntervalMs: 60_000 };

function recordingLogger() {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { info() {}, warn: (_: object, m: string) => warnings.push(m), error() {} },
  };
}

async function logFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /^\d{20}\.(log|index|timeindex)$/.test(n)).sort();
}

/** A log of several segments, closed cleanly, and the names of its newest closed segment's files. */
async function severalSegments(
  dir: string,
): Promise<{ before: Buffer; newestClosed: string; activeBase: number }> {
  const log = await PartitionLog.open({ dir, config });
  for (let i = 0; i < 40; i++) await log.append(makeBatch(`b${i}`, 4, { valueBytes: 60 }));
  const before = await readAll(log);
  const bases = log.segments.map((s) => s.baseOffset);
  await log.close();
  assert.ok(bases.length >= 3, `expected several segments, got ${bases.length}`);
  return {
    before,
    newestClosed: String(bases[bases.length - 2]).padStart(20, '0'),
    activeBase: bases[bases.length - 1],
  };
}

test('under fsync interval and never, rolls finish their closed segments in the background', async (t) => {
  for (const fsync of ['interval', 'never'] as const) {
    const dir = await tempDir(t);
    const log = await PartitionLog.open({ dir, config: { ...config, fsync } });
    const appends = [];
    for (let i = 0; i < 60; i++) appends.push(log.append(makeBatch(`b${i}`, 4, { valueBytes: 60 })));
    await Promise.all(appends);
    assert.ok(log.segments.length >= 4, `${log.segments.length} segments`);
    // Readable at once, whatever the background finish has done.
    const all = recordsOf(await readAll(log));
    assert.equal(all.length, 240);
    assert.deepEqual(
      all.map((r) => r.offset),
      all.map((_, i) => i),
    );
    await log.flush();
    assert.equal(log.flushedOffset, 240);
    const files = await logFiles(dir);
    for (const seg of log.segments.slice(0, -1)) {
      const base = String(seg.baseOffset).padStart(20, '0');
      for (const ext of ['log', 'index', 'timeindex'])
        assert.ok(files.includes(`${base}.${ext}`), `${base}.${ext}`);
    }
    await log.close();
    const { warnings, logger } = recordingLogger();
    const again = await PartitionLog.open({ dir, config: { ...config, fsync }, logger });
    t.after(() => again.close());
    assert.deepEqual(warnings, []);
    assert.equal(recordsOf(await readAll(again)).length, 240);
  }
});

test('a crash before the newest closed segment was finished: an intact segment keeps everything', async (t) => {
  const dir = await tempDir(t);
  const { before, newestClosed } = await severalSegments(dir);
  // As a crash leaves it: no clean-shutdown marker, the newest closed segment without its indexes.
  await rm(path.join(dir, 'clean-shutdown'));
  await rm(path.join(dir, `${newestClosed}.index`));
  await rm(path.join(dir, `${newestClosed}.timeindex`));
  const { warnings, logger } = recordingLogger();
  const log = await PartitionLog.open({ dir, config, logger });
  t.after(() => log.close());
  assert.ok(!warnings.some((w) => w.includes('lost its unsynced tail')), warnings.join('; '));
  assert.deepEqual(await readAll(log), before);
  assert.equal((await log.append(makeBatch('after', 1))).baseOffset, 160);
});

test('a crash before the newest closed segment was finished: a torn tail is cut with every segment after it', async (t) => {
  const dir = await tempDir(t);
  const { before, newestClosed, activeBase } = await severalSegments(dir);
  await rm(path.join(dir, 'clean-shutdown'));
  await rm(path.join(dir, `${newestClosed}.index`));
  await rm(path.join(dir, `${newestClosed}.timeindex`));
  // Its unsynced tail: the start of a batch that never reached the disk whole.
  await appendFile(
    path.join(dir, `${newestClosed}.log`),
    makeBatch('torn', 4, { valueBytes: 60 }).subarray(0, 70),
  );
  const { warnings, logger } = recordingLogger();
  const log = await PartitionLog.open({ dir, config, logger });
  t.after(() => log.close());
  assert.ok(
    warnings.some((w) => w.includes('lost its unsynced tail')),
    warnings.join('; '),
  );
  // Everything up to the newest closed segment's last whole batch; the segment after it is gone.
  assert.equal(log.logEndOffset, activeBase);
  const kept = recordsOf(await readAll(log));
  assert.deepEqual(kept, recordsOf(before).slice(0, activeBase));
  assert.ok(!(await logFiles(dir)).includes(`${String(activeBase).padStart(20, '0')}.log`));
  assert.equal((await log.append(makeBatch('after', 1))).baseOffset, activeBase);
  await log.close();
  const again = await PartitionLog.open({ dir, config });
  t.after(() => again.close());
  assert.equal(again.logEndOffset, activeBase + 1);
});

test('retention and truncation wait for a background finish: no index file outlives its segment', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({
    dir,
    config: {
      ...config,
      retentionMs: -1,
      retentionBytes: 8192,
      cleanupPolicy: { delete: true, compact: false },
    },
  });
  t.after(() => log.close());
  for (let round = 0; round < 8; round++) {
    // A roll, and at once a retention pass that removes the segment it closed.
    await log.append(makeBatch(`x${round}`, 4, { valueBytes: 60 }));
    await log.roll();
    await log.deleteRetainedSegments();
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 12; i++) work.push(log.append(makeBatch(`r${round}-${i}`, 4, { valueBytes: 60 })));
    work.push(log.deleteRetainedSegments());
    await Promise.all(work);
    if (round === 5) await log.truncateTo(log.logEndOffset - 10);
    if (round === 6) {
      await log.roll();
      await log.truncateTo(log.logEndOffset - 2);
    }
  }
  await log.flush();
  const files = await logFiles(dir);
  const bases = new Set(log.segments.map((s) => String(s.baseOffset).padStart(20, '0')));
  for (const f of files) assert.ok(bases.has(f.slice(0, 20)), `${f} belongs to no segment`);
  assert.ok(log.logStartOffset > 0, 'retention removed segments');
  const records = recordsOf(await readAll(log));
  assert.equal(records.at(-1)?.offset, log.logEndOffset - 1);
});
