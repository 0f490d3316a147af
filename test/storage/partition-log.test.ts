import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { F, readInt64 } from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, readAll, recordsOf } from './helpers.ts';

test('append assigns offsets in place and read returns exactly what was appended', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  const a = makeBatch('a', 3);
  const b = makeBatch('b', 2);
  assert.deepEqual(await log.append(a, { leaderEpoch: 7 }), {
    baseOffset: 0,
    lastOffset: 2,
    batchCount: 1,
    maxTimestamp: 1_700_000_000_002,
  });
  const rb = await log.append(b);
  assert.equal(rb.baseOffset, 3);
  assert.equal(rb.lastOffset, 4);
  assert.equal(readInt64(b, F.baseOffset), 3, "baseOffset rewritten in the caller's buffer");
  assert.equal(a.readInt32BE(F.partitionLeaderEpoch), 7);
  assert.equal(log.logEndOffset, 5);
  const { bytes, nextOffset } = await log.read(0, 1 << 20);
  assert.deepEqual(bytes, Buffer.concat([a, b]));
  assert.equal(nextOffset, 5);
  // A read from the middle of a batch starts with that batch.
  const mid = await log.read(4, 1 << 20);
  assert.deepEqual(mid.bytes, b);
  assert.equal((await log.read(5, 100)).bytes.length, 0);
  await assert.rejects(log.read(6, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  await assert.rejects(log.read(-1, 100), { code: 'OFFSET_OUT_OF_RANGE' });
  await log.close();
  const names = await readdir(dir);
  assert.ok(names.includes('00000000000000000000.log'));
  assert.ok(names.includes('00000000000000000000.index'));
  assert.ok(names.includes('00000000000000000000.timeindex'));
});

test('read returns at least one whole batch, and no more batches than fit in maxBytes', async (t) => {
  const log = await PartitionLog.open({ dir: await tempDir(t) });
  t.after(() => log.close());
  const big = makeBatch('big', 10, { valueBytes: 1000 });
  const small = makeBatch('small', 1);
  await log.append(big);
  await log.append(small);
  const r = await log.read(0, 10);
  assert.deepEqual(r.bytes, big);
  assert.equal(r.nextOffset, 10);
  const both = await log.read(0, big.length + small.length);
  assert.equal(both.bytes.length, big.length + small.length);
  const one = await log.read(0, big.length + small.length - 1);
  assert.equal(one.bytes.length, big.length);
  assert.equal(
    (await log.read(0, 1 << 20, { maxOffset: 10 })).bytes.length,
    big.length,
    'maxOffset bounds the read',
  );
  assert.equal(
    (await log.read(0, 1 << 20, { maxOffset: 5 })).bytes.length,
    0,
    'a batch crossing maxOffset is not served',
  );
});

test('several batches in one append, and rejections that name the problem', async (t) => {
  const log = await PartitionLog.open({ dir: await tempDir(t), config: { maxMessageBytes: 2000 } });
  t.after(() => log.close());
  const r = await log.append(Buffer.concat([makeBatch('x', 2), makeBatch('y', 3)]));
  assert.deepEqual([r.baseOffset, r.lastOffset, r.batchCount], [0, 4, 2]);
  const corrupt = makeBatch('c', 2);
  corrupt[corrupt.length - 3] ^= 1;
  await assert.rejects(log.append(corrupt), { code: 'CORRUPT_MESSAGE', message: /CRC/ });
  await assert.rejects(log.append(makeBatch('big', 5, { valueBytes: 1000 })), { code: 'MESSAGE_TOO_LARGE' });
  await assert.rejects(log.append(Buffer.alloc(0)), { code: 'CORRUPT_MESSAGE' });
  const v1 = makeBatch('old', 1);
  v1[F.magic] = 1;
  await assert.rejects(log.append(v1), { code: 'UNSUPPORTED_FOR_MESSAGE_FORMAT' });
  await assert.rejects(log.append(makeBatch('t', 1).subarray(0, 70)), { code: 'CORRUPT_MESSAGE' });
  assert.equal(log.logEndOffset, 5, 'rejected appends consume no offsets');
});

test('segments roll by size and by age, and reads cross segment boundaries', async (t) => {
  let now = 1_700_000_000_000;
  const dir = await tempDir(t);
  const log = await PartitionLog.open({
    dir,
    config: { segmentBytes: 4096, segmentMs: 60_000 },
    clock: () => now,
  });
  for (let i = 0; i < 20; i++) await log.append(makeBatch(`b${i}`, 5, { valueBytes: 100, timestamp: now }));
  assert.ok(log.segments.length > 3, `expected several segments, got ${log.segments.length}`);
  for (const seg of log.segments.slice(0, -1)) assert.ok(seg.size <= 4096);
  const all = [];
  let offset = 0;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, 1500);
    all.push(...recordsOf(r.bytes));
    offset = r.nextOffset;
  }
  assert.deepEqual(
    all.map((r) => r.offset),
    Array.from({ length: 100 }, (_, i) => i),
  );
  const before = log.segments.length;
  await log.append(makeBatch('young', 1, { timestamp: now }));
  assert.equal(log.segments.length, before, 'a young segment does not roll');
  now += 61_000;
  await log.append(makeBatch('late', 1, { timestamp: now }));
  assert.equal(log.segments.length, before + 1, 'an old segment rolls on the next append');
  await log.close();
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.endsWith('.log')),
    log.segmentNames(),
  );
});

test('a clean close and reopen keeps everything and skips the scan', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { segmentBytes: 4096 } });
  for (let i = 0; i < 30; i++) await log.append(makeBatch(`b${i}`, 4, { valueBytes: 50 }));
  const before = (await log.read(0, 1 << 20)).bytes;
  await log.close();
  const warnings: string[] = [];
  const infos: string[] = [];
  const logger = {
    info: (_: object, m: string) => infos.push(m),
    warn: (_: object, m: string) => warnings.push(m),
    error() {},
  };
  const again = await PartitionLog.open({ dir, config: { segmentBytes: 4096 }, logger });
  t.after(() => again.close());
  assert.equal(again.logEndOffset, 120);
  assert.deepEqual(warnings, []);
  assert.ok(!infos.some((m) => m.includes('unclean')), 'no recovery after a clean shutdown');
  assert.deepEqual((await again.read(0, 1 << 20)).bytes, before);
  const r = await again.append(makeBatch('after', 1));
  assert.equal(r.baseOffset, 120);
});

test('recovery truncates a torn tail and a corrupt last batch, keeping every whole batch before it', async (t) => {
  for (const damage of ['torn', 'flipped', 'garbage']) {
    const dir = await tempDir(t);
    const log = await PartitionLog.open({ dir });
    for (let i = 0; i < 10; i++) await log.append(makeBatch(`b${i}`, 3, { valueBytes: 40 }));
    const good = (await log.read(0, 1 << 20)).bytes;
    const lastBatch = makeBatch('last', 3, { valueBytes: 40 });
    await log.append(lastBatch);
    await log.close();
    await rm(path.join(dir, 'clean-shutdown'));
    const file = path.join(dir, '00000000000000000000.log');
    const size = (await stat(file)).size;
    if (damage === 'torn') await truncate(file, size - 7);
    if (damage === 'flipped') {
      const bytes = await readFile(file);
      bytes[size - 10] ^= 0x40;
      await writeFile(file, bytes);
    }
    if (damage === 'garbage')
      await writeFile(
        file,
        Buffer.concat([await readFile(file), Buffer.from('not a batch at all, just bytes')]),
      );
    const reopened = await PartitionLog.open({ dir });
    const expectEnd = damage === 'garbage' ? 33 : 30;
    assert.equal(reopened.logEndOffset, expectEnd, damage);
    const after = (await reopened.read(0, 1 << 20)).bytes;
    assert.deepEqual(after.subarray(0, good.length), good, damage);
    assert.equal((await reopened.append(makeBatch('new', 1))).baseOffset, expectEnd);
    await reopened.close();
  }
});

test('a missing or damaged index is rebuilt, and the rebuilt log reads the same', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { segmentBytes: 2048, indexIntervalBytes: 256 } });
  for (let i = 0; i < 60; i++) await log.append(makeBatch(`b${i}`, 2, { valueBytes: 60 }));
  const expected = [];
  for (let o = 0; o < 120; o += 7) expected.push((await log.read(o, 300)).bytes);
  await log.close();
  const names = await readdir(dir);
  const indexes = names.filter((n) => n.endsWith('.index')).sort();
  await rm(path.join(dir, indexes[0]));
  await writeFile(path.join(dir, indexes[1]), Buffer.from([1, 2, 3]));
  const timeindexes = names.filter((n) => n.endsWith('.timeindex')).sort();
  await writeFile(path.join(dir, timeindexes[2]), Buffer.alloc(24, 0xff));
  const warnings: string[] = [];
  const again = await PartitionLog.open({
    dir,
    config: { segmentBytes: 2048, indexIntervalBytes: 256 },
    logger: { info() {}, warn: (_: object, m: string) => warnings.push(m), error() {} },
  });
  t.after(() => again.close());
  assert.equal(warnings.filter((w) => w.includes('rebuilding')).length, 3);
  const got = [];
  for (let o = 0; o < 120; o += 7) got.push((await again.read(o, 300)).bytes);
  assert.deepEqual(got, expected);
});

test('truncateTo removes whole batches from the offset on, across segments', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { segmentBytes: 2048 } });
  t.after(() => log.close());
  for (let i = 0; i < 30; i++) await log.append(makeBatch(`b${i}`, 4, { valueBytes: 30 }));
  const segs = log.segments.length;
  await log.truncateTo(42); // inside batch 10 (offsets 40..43)
  assert.equal(log.logEndOffset, 40);
  assert.ok(log.segments.length < segs);
  const all = recordsOf(await readAll(log));
  assert.deepEqual(
    all.map((r) => r.offset),
    Array.from({ length: 40 }, (_, i) => i),
  );
  assert.equal((await log.append(makeBatch('new', 2))).baseOffset, 40);
  await log.truncateFullyAndStartAt(500);
  assert.equal(log.logStartOffset, 500);
  assert.equal(log.logEndOffset, 500);
  assert.equal((await log.append(makeBatch('fresh', 1))).baseOffset, 500);
  await assert.rejects(log.read(10, 100), { code: 'OFFSET_OUT_OF_RANGE' });
});

test("a follower append keeps the leader's offsets and refuses to go backwards", async (t) => {
  const leader = await PartitionLog.open({ dir: await tempDir(t) });
  const follower = await PartitionLog.open({ dir: await tempDir(t) });
  t.after(() => Promise.all([leader.close(), follower.close()]));
  for (let i = 0; i < 5; i++) await leader.append(makeBatch(`b${i}`, 3), { leaderEpoch: 2 });
  const { bytes } = await leader.read(0, 1 << 20);
  const r = await follower.append(Buffer.from(bytes), { assignOffsets: false });
  assert.deepEqual([r.baseOffset, r.lastOffset], [0, 14]);
  assert.deepEqual((await follower.read(0, 1 << 20)).bytes, bytes);
  await assert.rejects(follower.append(Buffer.from(bytes), { assignOffsets: false }), {
    code: 'INVALID_RECORD',
  });
});

test('offsetForTimestamp finds the first record at or after a time', async (t) => {
  const log = await PartitionLog.open({
    dir: await tempDir(t),
    config: { segmentBytes: 2048, indexIntervalBytes: 128 },
  });
  t.after(() => log.close());
  for (let i = 0; i < 40; i++)
    await log.append(makeBatch(`b${i}`, 3, { timestamp: 1000 * i, valueBytes: 20 }));
  // Batch i holds offsets 3i..3i+2 with timestamps 1000i, 1000i+1, 1000i+2.
  assert.deepEqual(await log.offsetForTimestamp(0), { offset: 0, timestamp: 0 });
  assert.deepEqual(await log.offsetForTimestamp(17_001), { offset: 52, timestamp: 17_001 });
  assert.deepEqual(await log.offsetForTimestamp(17_003), { offset: 54, timestamp: 18_000 });
  assert.equal(await log.offsetForTimestamp(10_000_000), null);
});

test('waitForData wakes a long poll when data arrives, and times out otherwise', async (t) => {
  const log = await PartitionLog.open({ dir: await tempDir(t) });
  t.after(() => log.close());
  const waiting = log.waitForData(0, 10_000);
  await log.append(makeBatch('x', 1));
  await waiting;
  assert.equal(log.logEndOffset, 1);
  const started = process.hrtime.bigint();
  await log.waitForData(1, 20);
  assert.ok(process.hrtime.bigint() - started >= 15_000_000n);
});

test('close writes queued appends before it returns, and refuses new ones', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  const pending = Array.from({ length: 50 }, (_, i) => log.append(makeBatch(`q${i}`, 2)));
  const closing = log.close();
  await assert.rejects(log.append(makeBatch('late', 1)), { code: 'LOG_CLOSED' });
  const results = await Promise.all(pending);
  await closing;
  assert.equal(results.at(-1)!.lastOffset, 99);
  const again = await PartitionLog.open({ dir });
  t.after(() => again.close());
  assert.equal(again.logEndOffset, 100);
});
