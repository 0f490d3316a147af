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

test('a follower added to the replicas in the same leader epoch is tracked, then joins the ISR once caught up', async (t) => {
  const { part, advance } = await partitionOver(t);
  let candidates = 0;
  part.onIsrCandidate = () => candidates++;
  part.update({ replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 1, partitionEpoch: 1 });
  await assert.rejects(part.readForFollower(3, 0, 1, -1, 1 << 20), { code: 'NOT_LEADER_OR_FOLLOWER' });
  await part.readForFollower(2, 5, 1, -1, 1 << 20);
  assert.equal(part.highWatermark, 5);
  // The controller raises the replicas (as it does for __consumer_offsets when a broker joins): a new
  // partition epoch, the same leader and leader epoch, the ISR unchanged.
  const change = part.update({
    replicas: [1, 2, 3],
    isr: [1, 2],
    leader: 1,
    leaderEpoch: 1,
    partitionEpoch: 2,
  });
  assert.deepEqual(change, { role: 'leader', newTerm: false });
  assert.deepEqual(part.leaderState!.replicas, [1, 2, 3]);
  const fresh = part.leaderState!.followers(0).find((f) => f.id === 3);
  assert.deepEqual(fresh, { id: 3, inIsr: false, logEndOffset: -1, lagOffsets: null, caughtUpLagMs: null });
  // Its first fetch, from the start, is served; it is behind, so it neither joins nor holds the HW back.
  advance(10);
  const first = await part.readForFollower(3, 0, 1, -1, 1 << 20);
  assert.ok(first.bytes.length > 0);
  assert.equal(first.logEndOffset, 5);
  assert.equal(part.leaderState!.isrChangeToPropose(1_010), null);
  assert.equal(candidates, 0);
  assert.equal(part.highWatermark, 5);
  // Caught up: it is the candidate the replica manager proposes.
  advance(10);
  await part.readForFollower(3, 5, 1, 0, 1 << 20);
  assert.equal(candidates, 1);
  assert.deepEqual(part.leaderState!.isrChangeToPropose(1_020), [1, 2, 3]);
  part.leaderState!.isrChangeSent([1, 2, 3]);
  part.update({ replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 1, partitionEpoch: 3 });
  assert.deepEqual(part.leaderState!.isr, [1, 2, 3]);
  assert.equal(part.leaderState!.inFlight, null);
});

test('a follower never adopts a batch that fails its CRC, wherever the flipped byte is; and nothing of its response is appended', async (t) => {
  const { part, log } = await partitionOver(t);
  part.update({ replicas: [1, 2], isr: [1, 2], leader: 2, leaderEpoch: 1, partitionEpoch: 1 });
  assert.equal(part.role, 'follower');
  // What a leader would send: two batches after the five offsets this replica has.
  const at = (batch: Buffer, base: number) => {
    batch.writeBigInt64BE(BigInt(base), 0); // baseOffset lies outside the CRC
    return batch;
  };
  const good = at(makeBatch('b', 3), 5);
  const second = at(makeBatch('c', 2), 8);
  // Every byte the CRC covers (from attributes on; offset 21), of the second batch, flipped in turn.
  for (let pos = 21; pos < second.length; pos += 7) {
    const bad = Buffer.from(second);
    bad[pos] ^= 0x5a;
    const end = log.logEndOffset;
    await assert.rejects(part.appendAsFollower(Buffer.concat([good, bad]), 0, 0), {
      code: 'CORRUPT_MESSAGE',
    });
    assert.equal(log.logEndOffset, end, `nothing of a response whose byte ${pos} fails the CRC is appended`);
  }
  await part.appendAsFollower(Buffer.concat([good, second]), 10, 0);
  assert.equal(log.logEndOffset, 10);
});
