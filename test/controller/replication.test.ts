/**
 * The controller side of ISR replication, stepped with the metadata harness: batched AlterPartition
 * (each partition answered on its own, Kafka's order of checks), preferred-leader election (only
 * partitions whose first replica is active and back in the ISR, bounded per operation, off by cluster
 * config) and internal topics raised toward their replication factor as brokers join (DESIGN.md
 * decision 12: replicas appended and spread, never a fenced broker, never the ISR).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlterPartitionResult } from '../../src/controller/controller.ts';
import { decodeAnswer, decodeOp, encodeAnswer, encodeOp, runOp } from '../../src/controller/ops.ts';
import { BrokerError, isBrokerError } from '../../src/errors.ts';
import { MetadataDelta } from '../../src/metadata/delta.ts';
import { checkImage } from '../../src/metadata/image.ts';
import { Harness, uuidOf } from '../helpers/metadata.ts';

const code = (c: string) => (err: unknown) => isBrokerError(err) && err.code === c;
const OFFSETS = '__consumer_offsets';

function partitionOf(h: Harness, topic: string, i: number) {
  const t = h.image.topic(topic);
  assert.ok(t, `topic ${topic} exists`);
  return { topicId: t.id, partition: i, ...t.partitions[i] };
}

/** The leader's request for `topic`-`i` as it stands now, with `newIsr`. */
function current(h: Harness, topic: string, i: number, newIsr: number[]) {
  const p = partitionOf(h, topic, i);
  return {
    topicId: p.topicId,
    partition: i,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch,
    newIsr,
  };
}

const epochOf = (h: Harness, id: number) => h.image.brokers.get(id)!.epoch;

/** Replica counts per broker over the partitions of `topic`. */
function replicaCounts(h: Harness, topic: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of h.image.topic(topic)!.partitions)
    for (const id of p.replicas) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

test('alterPartitions answers each partition on its own, in Kafka’s order of checks, and commits only the valid changes', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  h.run((c) =>
    c.createTopics([
      {
        name: 't',
        assignments: [
          [1, 2, 3],
          [1, 2, 3],
          [3, 1, 2],
          [2, 1, 3],
        ],
      },
      { name: 'dup', assignments: [[1, 2]] },
      { name: 'w', assignments: [[1, 2, 3]] },
      { name: 'y', assignments: [[1, 2]] },
      { name: 'z', assignments: [[1, 2]] },
    ]),
  );
  const ledBy3 = partitionOf(h, 't', 2);
  assert.equal(ledBy3.leader, 3);
  // Broker 3 starts a controlled shutdown: it leaves every ISR and t-2 moves to broker 1.
  assert.equal(h.heartbeat(3, true).inControlledShutdown, true);
  assert.equal(partitionOf(h, 't', 2).leader, 1);
  assert.equal(partitionOf(h, 't', 2).leaderEpoch, ledBy3.leaderEpoch + 1);
  const y = current(h, 'y', 0, [1]);
  const before = h.log.length;
  const answer = h.run((c) =>
    c.alterPartitions({
      brokerId: 1,
      brokerEpoch: epochOf(h, 1),
      partitions: [
        current(h, 't', 0, [1]),
        current(h, 't', 1, [1, 2, 3]),
        { ...current(h, 't', 2, [1, 2]), leaderEpoch: ledBy3.leaderEpoch },
        current(h, 't', 3, [2, 1]),
        current(h, 'dup', 0, [1]),
        current(h, 'dup', 0, [1, 2]),
        { ...current(h, 'w', 0, [1]), partitionEpoch: 0 },
        { ...y, leaderEpoch: y.leaderEpoch + 1 },
        { ...current(h, 'z', 0, [1]), partitionEpoch: 5 },
        { ...current(h, 't', 1, [1]), topicId: uuidOf(99) },
        { ...current(h, 't', 1, [1]), partition: 9 },
      ],
    }),
  );
  const codes = answer.map((r) => r.error?.code ?? 'OK');
  assert.deepEqual(codes, [
    'OK',
    'INELIGIBLE_REPLICA',
    'FENCED_LEADER_EPOCH',
    'INVALID_REQUEST',
    'INVALID_REQUEST',
    'INVALID_REQUEST',
    'INVALID_UPDATE_VERSION',
    'NOT_CONTROLLER',
    'NOT_CONTROLLER',
    'UNKNOWN_TOPIC_OR_PARTITION',
    'UNKNOWN_TOPIC_OR_PARTITION',
  ]);
  assert.match(answer[1].error!.message, /broker 3 is fenced or shutting down/);
  assert.match(answer[3].error!.message, /not the leader/);
  assert.match(answer[4].error!.message, /more than once/);
  // One record, for the one valid change; its answer is the new state.
  assert.equal(h.log.length, before + 1);
  assert.equal(h.log.at(-1)!.length, 1);
  const ok = answer[0];
  assert.ok(!ok.error);
  const t0 = partitionOf(h, 't', 0);
  assert.deepEqual(
    { leader: ok.leader, leaderEpoch: ok.leaderEpoch, isr: ok.isr, partitionEpoch: ok.partitionEpoch },
    { leader: 1, leaderEpoch: t0.leaderEpoch, isr: [1], partitionEpoch: t0.partitionEpoch },
  );
  assert.deepEqual(partitionOf(h, 't', 1).isr, [1, 2], 'a refused change leaves the ISR as it was');
  // A stale broker epoch refuses the whole request, as Kafka's checkBrokerEpoch does.
  assert.throws(
    () =>
      h.controller.alterPartitions({
        brokerId: 1,
        brokerEpoch: epochOf(h, 1) + 1,
        partitions: [current(h, 't', 1, [1])],
      }),
    code('STALE_BROKER_EPOCH'),
  );
  checkImage(h.image);
});

test('a batch grows ISRs of many partitions at once, and the single alterPartition throws its partition’s error', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2]) h.join(id);
  h.run((c) =>
    c.createTopics([
      {
        name: 't',
        assignments: [
          [1, 2],
          [1, 2],
          [1, 2],
        ],
      },
    ]),
  );
  const shrunk = h.run((c) =>
    c.alterPartitions({
      brokerId: 1,
      brokerEpoch: epochOf(h, 1),
      partitions: [0, 1, 2].map((i) => current(h, 't', i, [1])),
    }),
  );
  assert.deepEqual(
    shrunk.map((r) => (r.error ? r.error.code : r.isr)),
    [[1], [1], [1]],
  );
  const grown = h.run((c) =>
    c.alterPartitions({
      brokerId: 1,
      brokerEpoch: epochOf(h, 1),
      partitions: [0, 1, 2].map((i) => current(h, 't', i, [1, 2])),
    }),
  );
  assert.ok(grown.every((r) => !r.error && r.isr.length === 2));
  assert.throws(
    () =>
      h.controller.alterPartition({ brokerId: 1, brokerEpoch: epochOf(h, 1), ...current(h, 't', 0, [2]) }),
    code('INVALID_REQUEST'),
  );
});

test('alterPartitions travels as a forwarded operation and its per-partition errors come back as BrokerErrors', () => {
  const h = new Harness();
  for (const id of [1, 2]) h.join(id);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  const op = {
    op: 'alterPartitions' as const,
    request: {
      brokerId: 1,
      brokerEpoch: epochOf(h, 1),
      partitions: [current(h, 't', 0, [1]), { ...current(h, 't', 0, [1]), partition: 3 }],
    },
  };
  const decoded = decodeOp(encodeOp(op));
  assert.deepEqual(decoded, op);
  const { answer } = runOp(h.controller, decoded, h.nowMs);
  const back = decodeAnswer<AlterPartitionResult[]>(encodeAnswer(answer));
  assert.ok(!back[0].error);
  assert.deepEqual(back[0].isr, [1]);
  assert.ok(back[1].error instanceof BrokerError);
  assert.equal(back[1].error.code, 'UNKNOWN_TOPIC_OR_PARTITION');
  // The single form answers the PartitionState itself.
  const single = decodeOp(
    encodeOp({
      op: 'alterPartition',
      request: { brokerId: 1, brokerEpoch: epochOf(h, 1), ...current(h, 't', 0, [1, 2]) },
    }),
  );
  assert.equal(single.op, 'alterPartition');
  const state = runOp(h.controller, single, h.nowMs).answer as { isr: number[]; partitionEpoch: number };
  assert.deepEqual(state.isr, [1, 2]);
});

test('forwarded AlterPartition fields are checked: ids, epochs, a UUID topic id, a distinct bounded ISR, a bounded list', () => {
  const base = {
    brokerId: 1,
    brokerEpoch: 0,
    topicId: uuidOf(1),
    partition: 0,
    leaderEpoch: 0,
    partitionEpoch: 0,
    newIsr: [1],
  };
  const refused = (request: unknown, op = 'alterPartition') =>
    assert.throws(
      () => decodeOp(Buffer.from(JSON.stringify({ op, request }))),
      (err: unknown) => code('INVALID_REQUEST')(err),
      JSON.stringify(request).slice(0, 200),
    );
  refused({ ...base, topicId: 'orders' });
  refused({ ...base, topicId: uuidOf(0xabc).toUpperCase() });
  refused({ ...base, newIsr: [1, 1] });
  refused({ ...base, newIsr: [1, -2] });
  refused({ ...base, newIsr: [1, 2 ** 31] });
  refused({ ...base, newIsr: Array.from({ length: 65 }, (_, i) => i) });
  refused({ ...base, newIsr: '1,2' });
  refused({ ...base, partition: -1 });
  refused({ ...base, partition: 1.5 });
  refused({ ...base, leaderEpoch: -1 });
  refused({ ...base, partitionEpoch: '0' });
  refused({ ...base, brokerId: -1 });
  refused({ brokerId: 1, brokerEpoch: 0, partitions: base }, 'alterPartitions');
  refused(
    { brokerId: 1, brokerEpoch: 0, partitions: Array.from({ length: 5001 }, () => base) },
    'alterPartitions',
  );
  refused({ brokerId: 1, brokerEpoch: 0, partitions: [{ ...base, newIsr: [3, 3] }] }, 'alterPartitions');
  assert.equal(
    decodeOp(Buffer.from(JSON.stringify({ op: 'alterPartition', request: base }))).op,
    'alterPartition',
  );
});

test('preferred-leader election moves a leadership back only once the first replica is active and in the ISR, bumping the leader epoch', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  h.run((c) =>
    c.createTopics([
      {
        name: 't',
        assignments: [
          [1, 2, 3],
          [2, 3, 1],
          [3, 1, 2],
        ],
      },
    ]),
  );
  // Nothing to do while every partition is led by its first replica.
  assert.deepEqual(
    h.run((c) => c.electPreferredLeaders()),
    { moved: 0, more: false },
  );
  // Broker 1 dies: t-0 moves to 2 and 1 leaves every ISR.
  assert.deepEqual(h.advance(9000, [2, 3]), [1]);
  assert.equal(partitionOf(h, 't', 0).leader, 2);
  // It restarts and is unfenced, but it is not in the ISR yet (it has not caught up): no move.
  h.join(1, null, 'inc-1-again');
  assert.equal(h.image.brokers.get(1)?.fenced, false);
  const logLength = h.log.length;
  assert.deepEqual(
    h.run((c) => c.electPreferredLeaders()),
    { moved: 0, more: false },
  );
  assert.equal(h.log.length, logLength);
  // It catches up on t-0 and t-1; t-0's leader (2) adds it back to the ISR, and t-1's leader (2).
  h.run((c) =>
    c.alterPartitions({
      brokerId: 2,
      brokerEpoch: epochOf(h, 2),
      partitions: [current(h, 't', 0, [2, 3, 1]), current(h, 't', 1, [2, 3, 1])],
    }),
  );
  const before = [0, 1, 2].map((i) => partitionOf(h, 't', i));
  assert.deepEqual(
    h.run((c) => c.electPreferredLeaders()),
    { moved: 1, more: false },
  );
  const after = [0, 1, 2].map((i) => partitionOf(h, 't', i));
  assert.equal(after[0].leader, 1, 't-0 is led by its first replica again');
  assert.equal(after[0].leaderEpoch, before[0].leaderEpoch + 1);
  assert.deepEqual(after[0].isr, before[0].isr, 'the ISR is unchanged');
  for (const i of [1, 2]) assert.deepEqual(after[i], before[i], `t-${i} already had its preferred leader`);
  checkImage(h.image);
});

test('preferred-leader election skips a first replica that is fenced or in controlled shutdown', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  // Broker 1 leads a-0 alone (its ISR shrunk to [1]) and follows a-1.
  h.run((c) =>
    c.createTopics([
      {
        name: 'a',
        assignments: [
          [1, 2],
          [3, 1],
        ],
      },
    ]),
  );
  h.run((c) =>
    c.alterPartitions({ brokerId: 1, brokerEpoch: epochOf(h, 1), partitions: [current(h, 'a', 0, [1])] }),
  );
  // Broker 1 enters controlled shutdown: a-0's only ISR member stays (last member) but leads no more,
  // and nothing may move leadership to it.
  h.heartbeat(1, true);
  assert.equal(h.image.brokers.get(1)?.inControlledShutdown, true);
  assert.deepEqual(h.run((c) => c.electPreferredLeaders()).moved, 0);
});

test('auto.leader.rebalance.enable=false stops preferred-leader election; a value that is not a boolean is refused', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2]) h.join(id);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  assert.deepEqual(h.advance(9000, [2]), [1]);
  h.join(1, null, 'again');
  h.run((c) =>
    c.alterPartitions({ brokerId: 2, brokerEpoch: epochOf(h, 2), partitions: [current(h, 't', 0, [2, 1])] }),
  );
  const set = (value: string | null) =>
    h.run((c) =>
      c.alterConfigs([
        { resourceType: 'broker', resourceName: '', changes: { 'auto.leader.rebalance.enable': value } },
      ]),
    )[0];
  const bad = set('maybe');
  assert.ok(bad.error && code('INVALID_CONFIG')(bad.error));
  assert.equal(set('false').error, undefined);
  assert.deepEqual(
    h.run((c) => c.electPreferredLeaders()),
    { moved: 0, more: false },
  );
  assert.equal(partitionOf(h, 't', 0).leader, 2);
  // Deleting the key restores Kafka's default, true.
  assert.equal(set(null).error, undefined);
  assert.deepEqual(
    h.run((c) => c.electPreferredLeaders()),
    { moved: 1, more: false },
  );
  assert.equal(partitionOf(h, 't', 0).leader, 1);
});

test('preferred-leader election is bounded per operation and says when more remain', () => {
  const h = new Harness({ sessionTimeoutMs: 9000, partitionChangesPerOperationMax: 2 });
  for (const id of [1, 2]) h.join(id);
  h.run((c) => c.createTopics([{ name: 't', assignments: Array.from({ length: 5 }, () => [1, 2]) }]));
  assert.deepEqual(h.advance(9000, [2]), [1]);
  h.join(1, null, 'again');
  h.run((c) =>
    c.alterPartitions({
      brokerId: 2,
      brokerEpoch: epochOf(h, 2),
      partitions: [0, 1, 2, 3, 4].map((i) => current(h, 't', i, [2, 1])),
    }),
  );
  const runs = [];
  for (let more = true; more; ) {
    const r = h.run((c) => c.electPreferredLeaders());
    assert.equal(h.log.at(-1)!.length, r.moved);
    runs.push(r);
    more = r.more;
  }
  assert.deepEqual(runs, [
    { moved: 2, more: true },
    { moved: 2, more: true },
    { moved: 1, more: false },
  ]);
  assert.ok(h.image.topic('t')!.partitions.every((p) => p.leader === 1));
});

test('an internal topic gains a replica on each broker that joins, up to its factor, without touching its ISR or leader; the joiner learns of it as a new follower', () => {
  const h = new Harness({ sessionTimeoutMs: 9000, defaultReplicationFactor: 3 });
  h.join(1);
  h.run((c) =>
    c.createTopics([
      { name: OFFSETS, partitions: 6 },
      { name: 'plain', partitions: 2 },
    ]),
  );
  assert.ok(
    h.image.topic(OFFSETS)!.partitions.every((p) => p.replicas.length === 1),
    'created with min(3, 1)',
  );
  const before = h.image;
  h.join(2);
  // The heartbeat that unfenced broker 2 also appended it to every offsets partition.
  const batch = h.log.at(-1)!;
  assert.equal(batch[0].type, 'BrokerRegistrationChange');
  const delta = new MetadataDelta(before);
  for (const r of h.log.slice(-2).flat()) delta.replay(r);
  const local = delta.localChanges(2);
  assert.deepEqual(
    local.followers.filter((f) => f.topicName === OFFSETS).map((f) => [f.partition, f.isNew]),
    [0, 1, 2, 3, 4, 5].map((i) => [i, true]),
  );
  assert.equal(local.leaders.length, 0);
  for (const [i, p] of h.image.topic(OFFSETS)!.partitions.entries()) {
    const old = before.topic(OFFSETS)!.partitions[i];
    assert.deepEqual(p.replicas, [...old.replicas, 2]);
    assert.deepEqual(p.isr, old.isr, 'the new replica joins the ISR only through AlterPartition');
    assert.equal(p.leader, old.leader);
    assert.equal(p.leaderEpoch, old.leaderEpoch);
  }
  assert.ok(
    h.image.topic('plain')!.partitions.every((p) => p.replicas.length === 1),
    'other topics keep theirs',
  );
  h.join(3);
  assert.ok(h.image.topic(OFFSETS)!.partitions.every((p) => p.replicas.length === 3));
  // At the factor, a fourth broker adds nothing.
  h.join(4);
  assert.ok(h.image.topic(OFFSETS)!.partitions.every((p) => p.replicas.length === 3));
  assert.deepEqual(
    h.run((c) => c.raiseInternalReplication()),
    { raised: 0, more: false },
  );
  checkImage(h.image);
});

test('raising an internal topic spreads the new replicas so the brokers end within one of each other', () => {
  const h = new Harness({ internalReplicationFactor: 3 });
  for (const id of [1, 2, 3, 4]) h.join(id);
  h.run((c) => c.createTopics([{ name: OFFSETS, assignments: Array.from({ length: 8 }, () => [1]) }]));
  assert.deepEqual(
    h.run((c) => c.raiseInternalReplication()),
    { raised: 8, more: false },
  );
  const counts = replicaCounts(h, OFFSETS);
  assert.equal(counts.get(1), 8);
  const others = [2, 3, 4].map((id) => counts.get(id) ?? 0);
  assert.equal(
    others.reduce((a, b) => a + b),
    16,
  );
  assert.ok(Math.max(...others) - Math.min(...others) <= 1, `counts ${others}`);
  for (const p of h.image.topic(OFFSETS)!.partitions) {
    assert.equal(p.replicas[0], 1, 'the preferred leader stays first');
    assert.deepEqual(p.isr, [1]);
  }
});

test('a fenced or shutting-down broker is never added to an internal topic; it is once it is active again', () => {
  const h = new Harness({ sessionTimeoutMs: 9000, internalReplicationFactor: 3 });
  for (const id of [1, 2, 3, 4]) h.join(id);
  assert.deepEqual(h.advance(9000, [1, 2, 4]), [3]);
  h.heartbeat(4, true); // leads nothing: told to stop and fenced at once
  assert.equal(h.image.brokers.get(4)?.fenced, true);
  h.run((c) => c.createTopics([{ name: OFFSETS, assignments: Array.from({ length: 4 }, () => [1]) }]));
  assert.deepEqual(
    h.run((c) => c.raiseInternalReplication()),
    { raised: 4, more: false },
  );
  for (const p of h.image.topic(OFFSETS)!.partitions) assert.deepEqual(p.replicas, [1, 2]);
  h.join(3, null, 'inc-3-again');
  for (const p of h.image.topic(OFFSETS)!.partitions) {
    assert.deepEqual(p.replicas, [1, 2, 3]);
    assert.deepEqual(p.isr, [1]);
  }
});

test('raising internal topics is bounded per operation and says when more remain', () => {
  const h = new Harness({ internalReplicationFactor: 2, partitionChangesPerOperationMax: 2 });
  for (const id of [1, 2]) h.join(id);
  h.run((c) => c.createTopics([{ name: OFFSETS, assignments: Array.from({ length: 5 }, () => [1]) }]));
  const runs = [];
  for (let more = true; more; ) {
    const r = h.run((c) => c.raiseInternalReplication());
    runs.push(r);
    more = r.more;
  }
  assert.deepEqual(runs, [
    { raised: 2, more: true },
    { raised: 2, more: true },
    { raised: 1, more: false },
  ]);
  assert.ok(h.image.topic(OFFSETS)!.partitions.every((p) => p.replicas.length === 2));
});
