/**
 * Readers waiting at the log end are answered from the write round's batches kept in memory (#tail in
 * partition-log.ts), with what a read of the file would return, and never with bytes the log no longer
 * holds.
 */
import assert from 'node:assert/strict';
import { truncate } from 'node:fs/promises';
import { test } from 'node:test';
import { followTailBytesMax, tailBytesMax } from '../../src/limits.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, recordsOf } from './helpers.ts';

const config = { segmentBytes: 1 << 20, fsync: 'interval' as const, fsyncIntervalMs: 60_000 };

/** Appends `batches` in one write round while a reader waits at the log end. */
async function appendWhileWaiting(log: PartitionLog, batches: Buffer[]): Promise<void> {
  const waiting = log.waitForData(log.logEndOffset, 10_000);
  await Promise.all(batches.map((b) => log.append(b)));
  await waiting;
}

test('a reader waiting at the log end is answered from memory with the bytes the file holds', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config });
  t.after(() => log.close());
  await log.append(makeBatch('before', 2));
  const batches = [makeBatch('a', 3), makeBatch('b', 2), makeBatch('c', 4)];
  await appendWhileWaiting(log, batches);
  const fromMemory = await log.read(2, 1 << 20);
  assert.deepEqual(fromMemory.bytes, Buffer.concat(batches));
  assert.equal(fromMemory.nextOffset, 11);
  // From the middle of a batch, within a byte limit (the first batch always), below a high watermark.
  assert.deepEqual((await log.read(6, 1)).bytes, batches[1]);
  assert.deepEqual((await log.read(2, batches[0].length + 1)).bytes, batches[0]);
  assert.deepEqual((await log.read(2, 1 << 20, { maxOffset: 7 })).bytes, Buffer.concat(batches.slice(0, 2)));
  assert.deepEqual((await log.read(2, 1 << 20, { maxOffset: 4 })).bytes, Buffer.alloc(0));
  // The reader's copy is its own.
  fromMemory.bytes.fill(0);
  assert.deepEqual((await log.read(2, 1 << 20)).bytes, Buffer.concat(batches));
  // Not read back from the file: the file cut behind the log's back does not change the answer.
  await truncate(`${dir}/00000000000000000000.log`, 0);
  assert.deepEqual((await log.read(5, 1 << 20)).bytes, Buffer.concat(batches.slice(1)));
  // Below the kept round, the file is read (and is now empty there).
  await assert.rejects(log.read(0, 1 << 20));
});

test('the kept round goes once a reader waits past it, and at truncation', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config });
  t.after(() => log.close());
  await appendWhileWaiting(log, [makeBatch('a', 2), makeBatch('b', 2)]);
  await log.truncateTo(2);
  await appendWhileWaiting(log, [makeBatch('new', 3)]);
  const after = recordsOf((await log.read(0, 1 << 20)).bytes);
  assert.deepEqual(
    after.map((r) => r.value?.split(':').slice(0, 2).join(':')),
    ['a:0', 'a:1', 'new:0', 'new:1', 'new:2'],
  );
  assert.deepEqual(
    recordsOf((await log.read(2, 1 << 20)).bytes).map((r) => r.offset),
    [2, 3, 4],
  );
  // A reader past the round drops it: later reads come from the file, with the same bytes.
  const kept = (await log.read(2, 1 << 20)).bytes;
  const waiting = log.waitForData(5, 1);
  await waiting;
  assert.deepEqual((await log.read(2, 1 << 20)).bytes, kept);
});

test('a reader that took the kept round and has not waited again gets the next rounds from memory', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config });
  t.after(() => log.close());
  const first = makeBatch('first', 2);
  await appendWhileWaiting(log, [first]);
  // The reader takes the round, and is still answering it when two more rounds land.
  assert.deepEqual((await log.read(0, 1 << 20)).bytes, first);
  const later = [makeBatch('second', 3), makeBatch('third', 1)];
  for (const b of later) await log.append(b);
  await truncate(`${dir}/00000000000000000000.log`, 0);
  const r = await log.read(2, 1 << 20);
  assert.deepEqual(r.bytes, Buffer.concat(later), 'answered from memory: the file is cut');
  assert.equal(r.nextOffset, 6);
  // That read took what was below it: the first round now comes from the (cut) file.
  await assert.rejects(log.read(0, 1 << 20));
  // Once it waits past them, they go.
  await log.waitForData(6, 1);
  await assert.rejects(log.read(2, 1 << 20));
});

test('rounds nobody takes from stop being kept at followTailBytesMax; a reader taking them keeps them coming', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { ...config, segmentBytes: 64 << 20 } });
  t.after(() => log.close());
  await appendWhileWaiting(log, [makeBatch('waited', 1)]);
  // Rounds of about 256 KiB, past the bound twice over, with a reader taking each: all from memory.
  const round = () => makeBatch('big', 16, { valueBytes: 16 * 1024 });
  const rounds = Math.ceil(followTailBytesMax / round().length) + 2;
  for (let i = 0; i < 2 * rounds; i++) {
    const at = log.logEndOffset;
    const b = round();
    await log.append(b);
    assert.deepEqual((await log.read(at, 1 << 20)).bytes, b);
  }
  const taken = log.logEndOffset;
  const last = round();
  await log.append(last);
  await truncate(`${dir}/00000000000000000000.log`, 0);
  assert.deepEqual((await log.read(taken, 1 << 20)).bytes, last, 'from memory: the file is cut');
  // Nobody comes back: past the bound.
  for (let i = 0; i < rounds; i++) await log.append(round());
  const end = log.logEndOffset;
  await log.append(round());
  await truncate(`${dir}/00000000000000000000.log`, 0);
  // Dropped at the bound, and not kept again with no reader waiting: the last round is read from
  // the (cut) file.
  await assert.rejects(log.read(end, 1 << 20));
});

test('a round over the budget of all logs drops the tails least recently read, not its own', async (t) => {
  const roundBytes = 3 << 20;
  const count = Math.floor(tailBytesMax / roundBytes);
  const logs: { log: PartitionLog; dir: string; round: Buffer }[] = [];
  // Rounds of 3 MiB (12 batches of 256 KiB) kept in `count` logs: the budget is nearly full.
  const keepOne = async () => {
    const dir = await tempDir(t);
    const log = await PartitionLog.open({ dir, config: { ...config, segmentBytes: 64 << 20 } });
    t.after(() => log.close());
    const batches = Array.from({ length: 12 }, (_, i) =>
      makeBatch(`l${logs.length}-${i}`, 4, { valueBytes: 64 * 1024 }),
    );
    await appendWhileWaiting(log, batches);
    logs.push({ log, dir, round: Buffer.concat(batches) });
  };
  for (let i = 0; i < count; i++) await keepOne();
  // The first log's reader is still there: its tail is the most recently read.
  assert.deepEqual((await logs[0].log.read(0, 64 << 20)).bytes.length, logs[0].round.length);
  await keepOne();
  for (const { dir } of logs) await truncate(`${dir}/00000000000000000000.log`, 0);
  const fromMemory = async (i: number) => {
    try {
      return (await logs[i].log.read(0, 64 << 20)).bytes.equals(logs[i].round);
    } catch {
      return false;
    }
  };
  assert.equal(await fromMemory(count), true, 'the new round is kept');
  assert.equal(await fromMemory(0), true, 'the tail read last stays');
  assert.equal(await fromMemory(1), false, 'the tail least recently read went');
});

test('reads of a kept round that rolled stop at the segment end, as reads of the file do', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { ...config, segmentBytes: 1024 } });
  t.after(() => log.close());
  const batches = Array.from({ length: 6 }, (_, i) => makeBatch(`r${i}`, 2, { valueBytes: 150 }));
  await appendWhileWaiting(log, batches);
  assert.ok(log.segments.length >= 2, 'the round rolled');
  const first = await log.read(0, 1 << 20);
  const firstSegmentEnd = log.segments[1].baseOffset;
  assert.equal(first.nextOffset, firstSegmentEnd, 'one segment per read, as from the file');
  const all: number[] = [];
  for (let offset = 0; offset < log.logEndOffset; ) {
    const r = await log.read(offset, 1 << 20);
    all.push(...recordsOf(r.bytes).map((x) => x.offset));
    offset = r.nextOffset;
  }
  assert.deepEqual(
    all,
    Array.from({ length: 12 }, (_, i) => i),
  );
});

test('a batch that is a slice of a larger request is kept as a copy, not as the whole request', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config });
  t.after(() => log.close());
  const batch = makeBatch('slice', 3);
  // A Kafka Produce holding other partitions' data around this one's batch.
  const request = Buffer.alloc(256 * 1024, 7);
  batch.copy(request, 1000);
  const slice = request.subarray(1000, 1000 + batch.length);
  await appendWhileWaiting(log, [slice]);
  const stored = Buffer.from(slice);
  request.fill(0);
  assert.deepEqual((await log.read(0, 1 << 20)).bytes, stored, 'the kept bytes are not the request');
});
