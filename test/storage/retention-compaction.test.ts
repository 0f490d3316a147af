import assert from 'node:assert/strict';
import { readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, readAll, recordsOf } from './helpers.ts';

const day = 24 * 60 * 60 * 1000;

test('retention by time deletes whole closed segments and advances the log start', async (t) => {
  let now = 1_700_000_000_000;
  const log = await PartitionLog.open({
    dir: await tempDir(t),
    config: { segmentBytes: 2048, retentionMs: day },
    clock: () => now,
  });
  t.after(() => log.close());
  for (let i = 0; i < 20; i++)
    await log.append(makeBatch(`old${i}`, 4, { valueBytes: 40, timestamp: now - 3 * day }));
  const oldEnd = log.logEndOffset;
  await log.roll();
  for (let i = 0; i < 5; i++) await log.append(makeBatch(`new${i}`, 4, { valueBytes: 40, timestamp: now }));
  const removed = await log.deleteRetainedSegments();
  assert.ok(removed.segments >= 2);
  assert.equal(log.logStartOffset, oldEnd, 'every old segment went, no new one did');
  await assert.rejects(log.read(0, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  assert.equal(recordsOf(await readAll(log)).length, 20);
  // An idle log whose every record expired is emptied, the active segment included.
  now += 2 * day;
  await log.deleteRetainedSegments();
  assert.equal(log.logStartOffset, log.logEndOffset);
  assert.equal((await log.append(makeBatch('after', 1, { timestamp: now }))).baseOffset, oldEnd + 20);
});

test('retention by size keeps the log under retention.bytes, oldest segments first', async (t) => {
  const log = await PartitionLog.open({
    dir: await tempDir(t),
    config: { segmentBytes: 2048, retentionBytes: 5000, retentionMs: -1 },
  });
  t.after(() => log.close());
  for (let i = 0; i < 60; i++) await log.append(makeBatch(`b${i}`, 4, { valueBytes: 40 }));
  const before = log.sizeBytes;
  await log.deleteRetainedSegments();
  assert.ok(log.sizeBytes <= 5000 + 2048, `size ${log.sizeBytes} after retention`);
  assert.ok(log.sizeBytes < before);
  const records = recordsOf(await readAll(log));
  assert.equal(records.at(-1)!.offset, 239, 'the newest data is kept');
  assert.equal(records[0].offset, log.logStartOffset);
  assert.ok(!(await readdir(log.dir)).some((n) => n.endsWith('.deleted')));
});

test('cleanup.policy=compact without delete never deletes by retention', async (t) => {
  const log = await PartitionLog.open({
    dir: await tempDir(t),
    config: { segmentBytes: 2048, retentionBytes: 100, cleanupPolicy: { delete: false, compact: true } },
  });
  t.after(() => log.close());
  for (let i = 0; i < 30; i++)
    await log.append(makeBatch(`b${i}`, 4, { valueBytes: 40, keys: (j) => `k${i}-${j}` }));
  assert.deepEqual(await log.deleteRetainedSegments(), { segments: 0, bytes: 0 });
  assert.equal(log.logStartOffset, 0);
});

async function compactedLog(t: import('node:test').TestContext, now: () => number) {
  const dir = await tempDir(t);
  const config = {
    segmentBytes: 4096,
    cleanupPolicy: { delete: false, compact: true },
    deleteRetentionMs: day,
  };
  const log = await PartitionLog.open({ dir, config, clock: now });
  // 10 keys, each written 20 times; key k3 ends with a tombstone.
  const latest = new Map<string, { offset: number; value: string | null }>();
  for (let round = 0; round < 20; round++) {
    const keys = (i: number) => `k${(round * 5 + i) % 10}`;
    const batch = makeBatch(`r${round}`, 5, { valueBytes: 30, keys, timestamp: now() - 2 * day });
    const { baseOffset } = await log.append(batch);
    for (let i = 0; i < 5; i++)
      latest.set(keys(i), { offset: baseOffset + i, value: `r${round}:${i}:`.padEnd(30, 'x') });
  }
  const { encodeBatch } = await import('../../src/records/batch.ts');
  const tomb = await log.append(
    encodeBatch({ records: [{ key: Buffer.from('k3'), value: null, timestamp: now() - 2 * day }] }),
  );
  latest.set('k3', { offset: tomb.baseOffset, value: null });
  await log.roll();
  await log.append(makeBatch('active', 2, { keys: (i) => `k${i}`, timestamp: now() }));
  return { dir, config, log, latest };
}

test('compaction keeps the newest record per key, keeps offsets, and drops old tombstones', async (t) => {
  const now = () => 1_700_000_000_000;
  const { log, latest } = await compactedLog(t, now);
  t.after(() => log.close());
  const endBefore = log.logEndOffset;
  const stats = await log.compact();
  assert.ok(stats.segmentsRewritten > 0);
  assert.ok(stats.bytesAfter < stats.bytesBefore);
  assert.equal(log.logEndOffset, endBefore);
  const records = recordsOf(await readAll(log));
  const closed = records.filter((r) => r.value?.startsWith('active') !== true);
  // Each surviving record is its key's newest, with its original offset; k3's old tombstone is gone.
  const want = [...latest.entries()]
    .filter(([, v]) => v.value !== null)
    .map(([key, v]) => ({ offset: v.offset, key, value: v.value }))
    .sort((a, b) => a.offset - b.offset);
  assert.deepEqual(closed, want);
  assert.deepEqual(
    records.filter((r) => r.value?.startsWith('active')).map((r) => r.key),
    ['k0', 'k1'],
  );
  // Reading from an offset that compaction removed starts at the next surviving record.
  const r = await log.read(1, 1 << 20);
  assert.ok(recordsOf(r.bytes)[0].offset >= 1);
  // A second pass finds nothing more to do.
  assert.equal((await log.compact()).segmentsRewritten, 0);
});

test('compaction keeps tombstones younger than delete.retention.ms', async (t) => {
  let now = 1_700_000_000_000;
  const { log } = await compactedLog(t, () => now);
  t.after(() => log.close());
  // The records were written two days before `now`; move the clock back so they are half a day old.
  now -= 1.5 * day;
  await log.compact();
  const k3 = recordsOf(await readAll(log)).filter((r) => r.key === 'k3');
  assert.deepEqual(
    k3.map((r) => r.value),
    [null],
  );
});

test('compaction survives a restart and leftover files from an interrupted swap', async (t) => {
  const now = () => 1_700_000_000_000;
  const { dir, config, log } = await compactedLog(t, now);
  await log.compact();
  const expected = await readAll(log);
  await log.close();

  // An uncommitted cleaning (.cleaned files) is discarded on open.
  await writeFile(path.join(dir, '00000000000000000000.log.cleaned'), Buffer.from('half-written garbage'));
  await writeFile(path.join(dir, '00000000000000000000.index.cleaned'), Buffer.from('x'));
  let reopened = await PartitionLog.open({ dir, config, clock: now });
  assert.deepEqual(await readAll(reopened), expected);
  assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.cleaned')));
  await reopened.close();

  // A committed swap (.log.swap present) is rolled forward: simulate the crash between the commit rename
  // and the final renames by moving the current files back into swap position.
  await rename(path.join(dir, '00000000000000000000.log'), path.join(dir, '00000000000000000000.log.swap'));
  await rename(
    path.join(dir, '00000000000000000000.index'),
    path.join(dir, '00000000000000000000.index.cleaned'),
  );
  await writeFile(path.join(dir, '00000000000000000000.log'), Buffer.from('the stale uncompacted segment'));
  reopened = await PartitionLog.open({ dir, config, clock: now });
  t.after(() => reopened.close());
  assert.deepEqual(await readAll(reopened), expected);
  assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.swap') || n.endsWith('.cleaned')));
});
