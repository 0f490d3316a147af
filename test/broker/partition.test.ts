/**
 * The Partition object over a real log (partition.ts): the high watermark it starts from after a
 * restart, and the followers it tracks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partition, type PartitionOptions } from '../../src/broker/partition.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch } from '../storage/helpers.ts';

async function partitionOver(t: import('node:test').TestContext, opts: Partial<PartitionOptions> = {}) {
  const log = await PartitionLog.open({ dir: await tempDir(t) });
  t.after(() => log.close());
  await log.append(makeBatch('a', 5), { leaderEpoch: 0 });
  let now = 1_000;
  const part = new Partition({
    topic: 't',
    partition: 0,
    topicId: 'id',
    localId: 1,
    log: () => log,
    nodeName: (id) => `node-${id}`,
    clock: () => now,
    ...opts,
  });
  return { part, log, advance: (ms: number) => (now += ms) };
}

test('a restarted replica starts from its checkpointed high watermark, in either role', async (t) => {
  // Leader with a follower in the ISR that has not fetched yet: the high watermark cannot step, so
  // without the checkpoint it would sit at the log start (0) until the follower fetched.
  const led = await partitionOver(t, { highWatermark: 3 });
  assert.equal(led.part.highWatermark, 3, 'before any role');
  led.part.update({ replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 1, partitionEpoch: 1 });
  assert.equal(led.part.role, 'leader');
  assert.equal(led.part.highWatermark, 3);

  const followed = await partitionOver(t, { highWatermark: 4 });
  followed.part.update({ replicas: [1, 2], isr: [1, 2], leader: 2, leaderEpoch: 1, partitionEpoch: 1 });
  assert.equal(followed.part.role, 'follower');
  assert.equal(followed.part.highWatermark, 4);

  // Capped by the log end (the log lost a tail the checkpoint had seen), floored at the log start.
  const capped = await partitionOver(t, { highWatermark: 99 });
  assert.equal(capped.part.highWatermark, 5);
  capped.part.update({ replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 1, partitionEpoch: 1 });
  assert.equal(capped.part.highWatermark, 5);
  const floored = await partitionOver(t, { highWatermark: 1 });
  await floored.log.deleteRecordsBefore(2);
  assert.equal(floored.part.highWatermark, 2);
});

test('a closed leader keeps its high watermark readable for the shutdown checkpoint', async (t) => {
  const { part } = await partitionOver(t);
  part.update({ replicas: [1], isr: [1], leader: 1, leaderEpoch: 1, partitionEpoch: 1 });
  assert.equal(part.highWatermark, 5);
  part.close();
  assert.equal(part.role, 'offline');
  assert.equal(part.highWatermark, 5);
});
