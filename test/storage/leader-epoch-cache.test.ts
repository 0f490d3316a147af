import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Prng } from '../../src/raft/prng.ts';
import { F, writeInt64 } from '../../src/records/batch.ts';
import {
  type EpochEntry,
  encodeEpochCheckpoint,
  LEADER_EPOCH_FILE,
  LeaderEpochCache,
  leaderEpochCheckpointBytesMax,
  parseEpochCheckpoint,
} from '../../src/storage/leader-epoch-cache.ts';
import { type LogOptions, PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch } from './helpers.ts';

const e = (epoch: number, startOffset: number): EpochEntry => ({ epoch, startOffset });
const UNDEFINED = { epoch: -1, endOffset: -1 };

// ---------------------------------------------------------------- the cache, stepped

test('assign records a new epoch only when it is above the latest, and ignores negative epochs', () => {
  const c = new LeaderEpochCache();
  assert.equal(c.latestEpoch, -1);
  assert.equal(c.earliest, undefined);
  assert.equal(c.assign(-1, 0), false, 'a batch without an epoch');
  assert.equal(c.assign(-7, 0), false);
  assert.deepEqual(c.entries(), []);
  assert.equal(c.assign(0, 0), true);
  assert.equal(c.assign(0, 5), false, 'the same epoch again');
  assert.equal(c.assign(2, 10), true);
  assert.equal(c.assign(1, 20), false, 'a lower epoch');
  assert.equal(c.assign(-1, 30), false);
  assert.equal(c.latestEpoch, 2);
  assert.deepEqual(c.earliest, e(0, 0));
  assert.deepEqual(c.entries(), [e(0, 0), e(2, 10)]);
  // entries() is a copy.
  c.entries()[0].startOffset = 99;
  assert.deepEqual(c.earliest, e(0, 0));
});

test('a new epoch first removes the entries that start at or after its start offset', () => {
  const c = LeaderEpochCache.of([e(0, 0), e(2, 10), e(4, 20)]);
  assert.equal(c.assign(5, 15), true);
  assert.deepEqual(c.entries(), [e(0, 0), e(2, 10), e(5, 15)]);
  assert.equal(c.assign(6, 10), true, 'removes two entries');
  assert.deepEqual(c.entries(), [e(0, 0), e(6, 10)]);
  assert.equal(c.assign(7, 0), true, 'removes every entry');
  assert.deepEqual(c.entries(), [e(7, 0)]);
  assert.equal(c.latestEpoch, 7);
  assert.throws(() => LeaderEpochCache.of([e(1, 5), e(1, 6)]), 'entries must increase');
  assert.throws(() => LeaderEpochCache.of([e(1, 5), e(2, 5)]));
});

test('endOffsetFor: the latest epoch, the middle, gaps, below the earliest, above the latest, empty', () => {
  const c = LeaderEpochCache.of([e(1, 0), e(3, 10), e(6, 25)]);
  const leo = 40;
  assert.deepEqual(c.endOffsetFor(6, leo), { epoch: 6, endOffset: 40 }, 'the latest ends at the log end');
  assert.deepEqual(c.endOffsetFor(3, leo), { epoch: 3, endOffset: 25 });
  assert.deepEqual(c.endOffsetFor(1, leo), { epoch: 1, endOffset: 10 });
  assert.deepEqual(c.endOffsetFor(4, leo), { epoch: 3, endOffset: 25 }, 'a gap answers the epoch below');
  assert.deepEqual(c.endOffsetFor(5, leo), { epoch: 3, endOffset: 25 });
  assert.deepEqual(c.endOffsetFor(2, leo), { epoch: 1, endOffset: 10 });
  // Kafka's LeaderEpochFileCache.endOffsetFor: an epoch below every entry answers itself and the first
  // entry's start offset (the follower truncates to where the leader's epochs begin).
  assert.deepEqual(c.endOffsetFor(0, leo), { epoch: 0, endOffset: 0 });
  assert.deepEqual(c.endOffsetFor(7, leo), UNDEFINED, 'above the latest');
  assert.deepEqual(c.endOffsetFor(-1, leo), UNDEFINED, 'UNDEFINED_EPOCH');
  assert.deepEqual(new LeaderEpochCache().endOffsetFor(0, 0), UNDEFINED, 'empty');
  assert.deepEqual(new LeaderEpochCache().endOffsetFor(-1, 0), UNDEFINED);
  const raised = LeaderEpochCache.of([e(3, 12), e(6, 25)]);
  assert.deepEqual(raised.endOffsetFor(1, leo), { epoch: 1, endOffset: 12 });
});

test('truncateFromEnd drops the entries that start at or after the new end', () => {
  const c = LeaderEpochCache.of([e(1, 0), e(3, 10), e(6, 25)]);
  assert.equal(c.truncateFromEnd(26), false);
  assert.equal(c.truncateFromEnd(25), true);
  assert.deepEqual(c.entries(), [e(1, 0), e(3, 10)]);
  assert.equal(c.latestEpoch, 3);
  assert.deepEqual(c.endOffsetFor(3, 20), { epoch: 3, endOffset: 20 }, 'epoch 3 is the latest now');
  assert.equal(c.truncateFromEnd(5), true);
  assert.deepEqual(c.entries(), [e(1, 0)]);
  assert.equal(c.truncateFromEnd(0), true);
  assert.deepEqual(c.entries(), []);
  assert.equal(c.latestEpoch, -1);
  assert.equal(c.assign(2, 0), true, 'epochs below the old latest can be assigned again');
});

test('truncateFromStart keeps the last entry at or below the new start, raised to it', () => {
  const c = LeaderEpochCache.of([e(1, 0), e(3, 10), e(6, 25)]);
  assert.equal(c.truncateFromStart(0), false, 'an entry exactly at the start stays as it is');
  assert.equal(c.truncateFromStart(5), true);
  assert.deepEqual(c.entries(), [e(1, 5), e(3, 10), e(6, 25)]);
  assert.equal(c.truncateFromStart(10), true);
  assert.deepEqual(c.entries(), [e(3, 10), e(6, 25)]);
  assert.equal(c.truncateFromStart(10), false);
  assert.equal(c.truncateFromStart(30), true, 'past the last entry: the latest epoch stays');
  assert.deepEqual(c.entries(), [e(6, 30)]);
  assert.equal(c.latestEpoch, 6);
  assert.equal(c.clear(), true);
  assert.equal(c.clear(), false);
  assert.deepEqual(c.entries(), []);
  assert.equal(c.latestEpoch, -1);
});

test('the checkpoint text is Kafka’s, and the parser refuses what it cannot trust', () => {
  assert.equal(encodeEpochCheckpoint([e(0, 0), e(3, 1200)]).toString(), '0\n2\n0 0\n3 1200\n');
  assert.equal(encodeEpochCheckpoint([]).toString(), '0\n0\n');
  assert.deepEqual(parseEpochCheckpoint('0\n2\n0 0\n3 1200\n'), [e(0, 0), e(3, 1200)]);
  assert.deepEqual(parseEpochCheckpoint('0\n0\n'), []);
  for (const bad of [
    '',
    'garbage',
    '1\n0\n',
    '0\n3\n0 0\n3 1200\n',
    '0\n1\n0 0\n3 1200\n',
    '0\n2\n3 0\n1 1200\n',
    '0\n2\n1 0\n3 0\n',
    '0\n1\n-1 0\n',
    '0\n1\n1 x\n',
    '0\n1\n1  5\n',
    '0\n1\n2147483648 5\n',
    '0\n1\n1 9007199254740993\n',
    '0\n1\n1 5\n\n',
  ]) {
    const r = parseEpochCheckpoint(bad);
    assert.ok(!Array.isArray(r), `refused: ${JSON.stringify(bad)}`);
  }
});

// ---------------------------------------------------------------- a property: the cache against a model

/**
 * The model keeps the batches themselves and recomputes the entries from scratch each time: every batch
 * whose epoch is above all before it starts an entry; a log start folds the entries at or below it
 * into the last of them. endOffsetFor is answered by linear scans.
 */
class Model {
  batches: { base: number; epoch: number }[] = [];
  start = 0;
  end = 0;

  entries(): EpochEntry[] {
    const raw: EpochEntry[] = [];
    let max = -1;
    for (const b of this.batches) {
      if (b.epoch > max) {
        raw.push(e(b.epoch, b.base));
        max = b.epoch;
      }
    }
    const below = raw.filter((x) => x.startOffset <= this.start);
    const above = raw.filter((x) => x.startOffset > this.start);
    return below.length === 0 ? above : [e(below[below.length - 1].epoch, this.start), ...above];
  }

  endOffsetFor(epoch: number): { epoch: number; endOffset: number } {
    const entries = this.entries();
    if (epoch === -1 || entries.length === 0) return UNDEFINED;
    if (epoch === entries[entries.length - 1].epoch) return { epoch, endOffset: this.end };
    const next = entries.find((x) => x.epoch > epoch);
    if (!next) return UNDEFINED;
    const floor = entries.filter((x) => x.epoch <= epoch).pop();
    return { epoch: floor ? floor.epoch : epoch, endOffset: next.startOffset };
  }
}

test('property: endOffsetFor and the entries match a brute-force model over random appends and truncations', () => {
  const seed = Number(process.env.EPOCH_SEED ?? 20261201);
  for (let run = 0; run < 200; run++) {
    const rng = new Prng(seed + run);
    const cache = new LeaderEpochCache();
    const model = new Model();
    const where = `seed ${seed + run} (EPOCH_SEED=${seed} reproduces)`;
    for (let step = 0; step < 60; step++) {
      const op = rng.int(10);
      if (op < 7) {
        const latest = cache.latestEpoch;
        const kind = rng.int(10);
        const epoch =
          kind < 5
            ? Math.max(latest, 0)
            : kind < 8
              ? latest + 1 + rng.int(3)
              : kind < 9
                ? -1
                : rng.int(latest + 2);
        const n = 1 + rng.int(5);
        cache.assign(epoch, model.end);
        model.batches.push({ base: model.end, epoch });
        model.end += n;
      } else if (op < 9) {
        // A truncation to a batch boundary past the log start (truncating to the start or below empties
        // the log instead, which clear() covers).
        const candidates = model.batches.filter((b) => b.base > model.start).map((b) => b.base);
        if (candidates.length === 0) continue;
        const to = rng.pick(candidates);
        cache.truncateFromEnd(to);
        model.batches = model.batches.filter((b) => b.base < to);
        model.end = to;
      } else {
        const to = model.start + rng.int(model.end - model.start + 1);
        cache.truncateFromStart(to);
        model.start = to;
      }
      assert.deepEqual(cache.entries(), model.entries(), `${where}, step ${step}`);
      const top = Math.max(cache.latestEpoch, 0) + 2;
      for (let q = -1; q <= top; q++) {
        assert.deepEqual(
          cache.endOffsetFor(q, model.end),
          model.endOffsetFor(q),
          `${where}, step ${step}, epoch ${q}`,
        );
      }
    }
  }
});

// ---------------------------------------------------------------- in a partition log

interface Logged {
  warnings: string[];
  infos: string[];
}

function options(dir: string, logged?: Logged, config?: LogOptions['config']): LogOptions {
  return {
    dir,
    config,
    logger: {
      info: (_: object, m: string) => logged?.infos.push(m),
      warn: (_: object, m: string) => logged?.warnings.push(m),
      error() {},
    },
  };
}

const checkpointOf = (dir: string) => readFile(path.join(dir, LEADER_EPOCH_FILE), 'utf8');

/** A log whose leader wrote epochs 0, 0, 1, 1, 3 in batches of 2, 3, 1, 4, 2 records. */
async function leaderLog(dir: string, config?: LogOptions['config']): Promise<PartitionLog> {
  const log = await PartitionLog.open(options(dir, undefined, config));
  const plan: [number, number][] = [
    [0, 2],
    [0, 3],
    [1, 1],
    [1, 4],
    [3, 2],
  ];
  for (const [epoch, n] of plan) await log.append(makeBatch(`e${epoch}`, n), { leaderEpoch: epoch });
  return log;
}

test('a leader’s appends record each epoch’s first offset, durably, and a reopen keeps them', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  const expected = [e(0, 0), e(1, 5), e(3, 10)];
  assert.deepEqual(log.epochEntries(), expected);
  assert.equal(log.latestEpoch(), 3);
  assert.equal(log.logEndOffset, 12);
  assert.deepEqual(log.endOffsetForEpoch(3), { epoch: 3, endOffset: 12 });
  assert.deepEqual(log.endOffsetForEpoch(2), { epoch: 1, endOffset: 10 });
  assert.deepEqual(log.endOffsetForEpoch(0), { epoch: 0, endOffset: 5 });
  assert.deepEqual(log.endOffsetForEpoch(4), UNDEFINED);
  assert.equal(await checkpointOf(dir), '0\n3\n0 0\n1 5\n3 10\n', 'written before the appends resolved');
  await log.close();
  const logged: Logged = { warnings: [], infos: [] };
  const again = await PartitionLog.open(options(dir, logged));
  t.after(() => again.close());
  assert.deepEqual(again.epochEntries(), expected);
  assert.deepEqual(logged.warnings, []);
  assert.ok(!logged.infos.some((m) => m.includes('leader-epoch')), 'the checkpoint was trusted');
});

test('appends of a known epoch never rewrite the checkpoint', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  t.after(() => log.close());
  await log.append(makeBatch('a', 1), { leaderEpoch: 4 });
  const before = await stat(path.join(dir, LEADER_EPOCH_FILE));
  for (let i = 0; i < 20; i++) await log.append(makeBatch(`b${i}`, 2), { leaderEpoch: 4 });
  await log.append(makeBatch('c', 1));
  const after = await stat(path.join(dir, LEADER_EPOCH_FILE));
  // Every write is a rename of a new file over it, so the inode would change.
  assert.equal(after.ino, before.ino);
  assert.equal(after.mtimeMs, before.mtimeMs);
  await log.append(makeBatch('d', 1), { leaderEpoch: 5 });
  assert.notEqual((await stat(path.join(dir, LEADER_EPOCH_FILE))).ino, before.ino);
  assert.deepEqual(log.epochEntries(), [e(4, 0), e(5, 42)]);
});

test('a follower’s append (assignOffsets: false) keeps the epochs the leader wrote in the batches', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  t.after(() => log.close());
  const copy = (base: number, epoch: number, n: number) => {
    const b = makeBatch(`f${base}`, n);
    writeInt64(b, F.baseOffset, base);
    b.writeInt32BE(epoch, F.partitionLeaderEpoch);
    return b;
  };
  await log.append(Buffer.concat([copy(0, 2, 3), copy(3, 2, 2), copy(5, 5, 1)]), { assignOffsets: false });
  await log.append(copy(6, 7, 2), { assignOffsets: false });
  await log.append(copy(8, -1, 2), { assignOffsets: false });
  assert.deepEqual(log.epochEntries(), [e(2, 0), e(5, 5), e(7, 6)]);
  const read = (await log.read(5, 1 << 20)).bytes;
  assert.equal(read.readInt32BE(F.partitionLeaderEpoch), 5, 'the batch keeps its epoch');
});

test('truncateTo drops the entries at or past the new end, and a reopen keeps the cut', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  await log.truncateTo(11);
  // The batch 10..11 of epoch 3 goes whole: the log ends at 10.
  assert.equal(log.logEndOffset, 10);
  assert.deepEqual(log.epochEntries(), [e(0, 0), e(1, 5)]);
  assert.deepEqual(log.endOffsetForEpoch(1), { epoch: 1, endOffset: 10 });
  assert.equal(await checkpointOf(dir), '0\n2\n0 0\n1 5\n');
  await log.append(makeBatch('new', 2), { leaderEpoch: 4 });
  assert.deepEqual(log.epochEntries(), [e(0, 0), e(1, 5), e(4, 10)]);
  await log.close();
  const again = await PartitionLog.open({ dir });
  assert.deepEqual(again.epochEntries(), [e(0, 0), e(1, 5), e(4, 10)]);
  await again.truncateTo(3);
  assert.deepEqual(again.epochEntries(), [e(0, 0)]);
  await again.close();
  const third = await PartitionLog.open({ dir });
  t.after(() => third.close());
  assert.deepEqual(third.epochEntries(), [e(0, 0)]);
});

test('deleteRecordsBefore and retention raise the first entry to the new log start; a reopen keeps it', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir, { segmentBytes: 1024 });
  await log.deleteRecordsBefore(7);
  assert.deepEqual(log.epochEntries(), [e(1, 7), e(3, 10)]);
  assert.deepEqual(log.endOffsetForEpoch(0), { epoch: 0, endOffset: 7 });
  await log.close();
  const again = await PartitionLog.open(options(dir, undefined, { segmentBytes: 1024 }));
  assert.deepEqual(again.epochEntries(), [e(1, 7), e(3, 10)]);
  await again.deleteRecordsBefore(12);
  assert.deepEqual(again.epochEntries(), [e(3, 12)], 'an empty log keeps its latest epoch');
  assert.deepEqual(again.endOffsetForEpoch(3), { epoch: 3, endOffset: 12 });
  await again.close();
  // As Kafka's log load: the cut to the log end takes an entry that starts there, so an emptied log
  // forgets its latest epoch across a restart (a new leader assigns its epoch at the log end again).
  const logged: Logged = { warnings: [], infos: [] };
  const third = await PartitionLog.open(
    options(dir, logged, { segmentBytes: 1024, retentionBytes: 1, retentionMs: -1 }),
  );
  t.after(() => third.close());
  assert.deepEqual(third.epochEntries(), []);
  assert.deepEqual(logged.warnings, [], 'no rebuild for batches below the log start');
  // Retention: several segments, of which all but the active one go.
  for (let i = 0; i < 8; i++)
    await third.append(makeBatch(`r${i}`, 3, { valueBytes: 200 }), { leaderEpoch: 4 + (i >> 2) });
  assert.deepEqual(third.epochEntries(), [e(4, 12), e(5, 24)], 'epoch 4 at the same offset replaces epoch 3');
  await third.deleteRetainedSegments();
  assert.ok(third.logStartOffset > 24, `retention moved the start to ${third.logStartOffset}`);
  assert.deepEqual(third.epochEntries(), [e(5, third.logStartOffset)]);
  assert.equal(await checkpointOf(dir), `0\n1\n5 ${third.logStartOffset}\n`);
});

test('truncateFullyAndStartAt clears the cache, and a reopen keeps it cleared', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  await log.truncateFullyAndStartAt(100);
  assert.deepEqual(log.epochEntries(), []);
  assert.equal(log.latestEpoch(), -1);
  assert.deepEqual(log.endOffsetForEpoch(3), UNDEFINED);
  assert.equal(await checkpointOf(dir), '0\n0\n');
  await log.close();
  const again = await PartitionLog.open({ dir });
  t.after(() => again.close());
  assert.deepEqual(again.epochEntries(), []);
  await again.append(makeBatch('x', 1), { leaderEpoch: 9 });
  assert.deepEqual(again.epochEntries(), [e(9, 100)]);
});

test('a log without a checkpoint (the single-node release) builds it once from the batch headers', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { segmentBytes: 1024 } });
  // The single-node release wrote epoch 0 (or left a producer's -1).
  for (let i = 0; i < 10; i++)
    await log.append(makeBatch(`s${i}`, 2, { valueBytes: 100 }), { leaderEpoch: 0 });
  await log.append(makeBatch('client', 2));
  await log.close();
  await rm(path.join(dir, LEADER_EPOCH_FILE));
  const logged: Logged = { warnings: [], infos: [] };
  const again = await PartitionLog.open(options(dir, logged, { segmentBytes: 1024 }));
  assert.ok(again.segments.length > 2, 'several segments were read');
  assert.deepEqual(again.epochEntries(), [e(0, 0)]);
  assert.deepEqual(logged.warnings, [], 'expected, so not a warning');
  assert.ok(logged.infos.some((m) => m.includes('leader-epoch cache')));
  assert.equal(await checkpointOf(dir), '0\n1\n0 0\n', 'written back');
  await again.close();
  const third: Logged = { warnings: [], infos: [] };
  const reopened = await PartitionLog.open(options(dir, third));
  t.after(() => reopened.close());
  assert.ok(!third.infos.some((m) => m.includes('leader-epoch cache')), 'built once');

  // Batches that all carry -1 build an empty cache, written so that it is not built again.
  const dir2 = await tempDir(t);
  const old = await PartitionLog.open({ dir: dir2 });
  await old.append(makeBatch('a', 1));
  await old.close();
  const opened = await PartitionLog.open({ dir: dir2 });
  t.after(() => opened.close());
  assert.deepEqual(opened.epochEntries(), []);
  assert.equal(await checkpointOf(dir2), '0\n0\n');
});

test('a checkpoint that cannot be trusted is rebuilt from the batch headers, with a warning', async (t) => {
  const huge = Buffer.alloc(leaderEpochCheckpointBytesMax + 1, '0\n');
  const cases: [string, string | Buffer][] = [
    ['garbage', 'hello world\n'],
    ['wrong version', '1\n3\n0 0\n1 5\n3 10\n'],
    ['wrong count', '0\n4\n0 0\n1 5\n3 10\n'],
    ['not increasing', '0\n3\n0 0\n3 5\n1 10\n'],
    ['huge', huge],
    ['behind the log', '0\n2\n0 0\n1 5\n'],
    ['empty', ''],
  ];
  for (const [name, content] of cases) {
    const dir = await tempDir(t);
    const log = await leaderLog(dir);
    await log.close();
    await writeFile(path.join(dir, LEADER_EPOCH_FILE), content);
    const logged: Logged = { warnings: [], infos: [] };
    const again = await PartitionLog.open(options(dir, logged));
    assert.deepEqual(again.epochEntries(), [e(0, 0), e(1, 5), e(3, 10)], name);
    assert.equal(logged.warnings.filter((w) => w.includes('leader-epoch')).length, 1, name);
    assert.equal(await checkpointOf(dir), '0\n3\n0 0\n1 5\n3 10\n', `${name}: rewritten`);
    await again.close();
  }
});

test('a checkpoint ahead of the log (a crash before the batch was written, or mid-truncation) is cut to it', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  await log.close();
  // As if epoch 5's entry was saved and the process died before its batch reached the segment, or a
  // truncation to 10 cut the segment and died before the checkpoint: and without a clean shutdown.
  await writeFile(path.join(dir, LEADER_EPOCH_FILE), '0\n5\n0 0\n1 5\n3 10\n5 12\n6 30\n');
  await rm(path.join(dir, 'clean-shutdown'));
  const logged: Logged = { warnings: [], infos: [] };
  const again = await PartitionLog.open(options(dir, logged));
  assert.deepEqual(again.epochEntries(), [e(0, 0), e(1, 5), e(3, 10)]);
  assert.deepEqual(logged.warnings, [], 'no rebuild: a cut is enough');
  assert.equal(await checkpointOf(dir), '0\n3\n0 0\n1 5\n3 10\n', 'the cut is saved');
  // Epoch 5 is new again at the log end.
  await again.append(makeBatch('five', 1), { leaderEpoch: 5 });
  assert.deepEqual(again.epochEntries(), [e(0, 0), e(1, 5), e(3, 10), e(5, 12)]);
  await again.close();

  // A truncation that cut the segments but not the checkpoint.
  const dir2 = await tempDir(t);
  const cut = await leaderLog(dir2);
  await cut.truncateTo(5);
  await cut.close();
  await writeFile(path.join(dir2, LEADER_EPOCH_FILE), '0\n3\n0 0\n1 5\n3 10\n');
  const reopened = await PartitionLog.open({ dir: dir2 });
  t.after(() => reopened.close());
  assert.deepEqual(reopened.epochEntries(), [e(0, 0)]);
  assert.deepEqual(reopened.endOffsetForEpoch(0), { epoch: 0, endOffset: 5 });
});

test('a crash while emptying the log (checkpoint cleared, segments still there) rebuilds the cache', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  await log.close();
  await writeFile(path.join(dir, LEADER_EPOCH_FILE), '0\n0\n');
  const again = await PartitionLog.open({ dir });
  t.after(() => again.close());
  assert.deepEqual(again.epochEntries(), [e(0, 0), e(1, 5), e(3, 10)]);
});

test('delete removes the checkpoint with the directory', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  await log.delete();
  await assert.rejects(stat(path.join(dir, LEADER_EPOCH_FILE)), { code: 'ENOENT' });
});

test('assignLeaderEpoch records a new leader’s epoch at the log end before it writes', async (t) => {
  const dir = await tempDir(t);
  const log = await leaderLog(dir);
  t.after(() => log.close());
  await log.assignLeaderEpoch(5);
  assert.deepEqual(log.epochEntries(), [e(0, 0), e(1, 5), e(3, 10), e(5, 12)]);
  assert.deepEqual(log.endOffsetForEpoch(3), { epoch: 3, endOffset: 12 }, 'epoch 3 ended at the log end');
  assert.deepEqual(log.endOffsetForEpoch(5), { epoch: 5, endOffset: 12 });
  assert.equal(await checkpointOf(dir), '0\n4\n0 0\n1 5\n3 10\n5 12\n');
  await log.assignLeaderEpoch(5);
  await log.assignLeaderEpoch(4);
  assert.equal(log.latestEpoch(), 5, 'not above the latest: nothing changes');
  await log.append(makeBatch('five', 2), { leaderEpoch: 5 });
  assert.deepEqual(log.epochEntries().at(-1), e(5, 12));
});

test('a checkpoint write that fails fails the append, stores nothing of it, and is retried by the next', async (t) => {
  const dir = await tempDir(t);
  const logged: Logged = { warnings: [], infos: [] };
  const log = await PartitionLog.open(options(dir, logged));
  t.after(() => log.close());
  await log.append(makeBatch('a', 2), { leaderEpoch: 1 });
  // A non-empty directory where the checkpoint goes: the rename of a new checkpoint over it fails.
  const file = path.join(dir, LEADER_EPOCH_FILE);
  await rm(file);
  await mkdir(path.join(file, 'blocker'), { recursive: true });
  await assert.rejects(log.append(makeBatch('b', 3), { leaderEpoch: 2 }), { code: 'KAFKA_STORAGE_ERROR' });
  assert.equal(log.logEndOffset, 2, 'nothing of the failed append is stored');
  assert.deepEqual(log.epochEntries(), [e(1, 0)], 'nor its epoch');
  // The file may hold epoch 2 at offset 2 (had the rename happened and the directory fsync failed):
  // until the cut is saved no batch is written, not even one of a known epoch, or offset 2 of epoch 1
  // could sit under a checkpoint that says epoch 2 starts there.
  await assert.rejects(log.append(makeBatch('c', 1), { leaderEpoch: 1 }), { code: 'KAFKA_STORAGE_ERROR' });
  assert.equal(log.logEndOffset, 2);
  await rm(file, { recursive: true });
  await log.append(makeBatch('c', 1), { leaderEpoch: 1 });
  assert.equal(await checkpointOf(dir), '0\n1\n1 0\n', 'the cut was saved first');
  await log.append(makeBatch('d', 3), { leaderEpoch: 2 });
  assert.deepEqual(log.epochEntries(), [e(1, 0), e(2, 3)]);
  assert.equal(await checkpointOf(dir), '0\n2\n1 0\n2 3\n');
});
