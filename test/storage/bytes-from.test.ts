/**
 * PartitionLog.bytesFrom: the bytes of the log past an offset, from segment sizes and the in-memory
 * sparse offset index (the replica lag in bytes metric), against the bytes a read from there returns.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, readAll } from './helpers.ts';

async function fill(log: PartitionLog): Promise<number> {
  let batchBytesMax = 0;
  for (let i = 0; i < 60; i++) {
    const b = makeBatch(`b${i}`, 1 + (i % 4), { valueBytes: 20 + ((i * 37) % 90) });
    batchBytesMax = Math.max(batchBytesMax, b.length);
    await log.append(b);
  }
  return batchBytesMax;
}

/** Every offset's estimate is at least the exact bytes from the batch holding it, and within `slack` of them. */
async function checkEveryOffset(log: PartitionLog, slack: number): Promise<void> {
  for (let o = log.logStartOffset; o <= log.logEndOffset; o++) {
    const exact = (await readAll(log, o)).length;
    const estimate = log.bytesFrom(o);
    assert.ok(estimate >= exact, `offset ${o}: estimate ${estimate} below ${exact}`);
    assert.ok(
      estimate - exact <= slack,
      `offset ${o}: estimate ${estimate} is ${estimate - exact} past ${exact}`,
    );
  }
}

test('bytesFrom is within one index interval and a batch of the bytes a read returns, across segments and a reopen', async (t) => {
  const dir = await tempDir(t);
  const config = { segmentBytes: 4096, indexIntervalBytes: 512 };
  let log = await PartitionLog.open({ dir, config });
  const batchBytesMax = await fill(log);
  assert.ok(log.segments.length >= 3, `${log.segments.length} segments`);
  const slack = config.indexIntervalBytes + batchBytesMax;
  await checkEveryOffset(log, slack);
  assert.equal(log.bytesFrom(0), log.sizeBytes);
  assert.equal(log.bytesFrom(log.logEndOffset), 0);
  assert.equal(log.bytesFrom(log.logEndOffset + 10), 0);
  // Closed and reopened: the indexes come from their files.
  await log.close();
  log = await PartitionLog.open({ dir, config });
  t.after(() => log.close());
  await checkEveryOffset(log, slack);
  // Below the log start: the whole log that is left.
  await log.deleteRecordsBefore(log.segments[1].baseOffset + 1);
  assert.ok(log.logStartOffset > 0);
  assert.equal(log.bytesFrom(0), log.sizeBytes);
  assert.equal(log.bytesFrom(-1), log.sizeBytes, 'a follower whose end is unknown (-1)');
  await checkEveryOffset(log, slack);
});

test('with every batch indexed, bytesFrom is exact', async (t) => {
  const log = await PartitionLog.open({
    dir: await tempDir(t),
    config: { segmentBytes: 4096, indexIntervalBytes: 0 },
  });
  t.after(() => log.close());
  await fill(log);
  await checkEveryOffset(log, 0);
});
