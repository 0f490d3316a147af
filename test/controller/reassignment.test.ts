/**
 * Reassignment (issue 14, KIP-455), leader elections and decommissioning, stepped on the controller:
 * a move adds the target replicas, completes when they are all in the ISR (the leader moves if it was
 * leaving), can be replaced or cancelled; bad requests change nothing; the records survive a snapshot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Controller } from '../../src/controller/controller.ts';
import { decodeAnswer, decodeOp, encodeAnswer, encodeOp, runOp } from '../../src/controller/ops.ts';
import { ongoingReassignments } from '../../src/controller/reassignments.ts';
import { isBrokerError } from '../../src/errors.ts';
import { NO_LEADER } from '../../src/metadata/records.ts';
import { decodeSnapshot, encodeSnapshot } from '../../src/metadata/snapshot.ts';
import type { Harness } from '../helpers/metadata.ts';
import { prng } from '../helpers/prng.ts';
import { catchUp, cluster, epochOf, part } from '../helpers/reassignment.ts';

const reassign = (h: Harness, topic: string, partition: number, replicas: number[] | null) =>
  h.run((c) => c.alterPartitionReassignments([{ topic, partition, replicas }]))[0];

test('a move adds the target replicas as followers and completes once they are in the ISR', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  const before = part(h, 't', 0);
  assert.equal(reassign(h, 't', 0, [3, 1]).error, undefined);
  let p = part(h, 't', 0);
  assert.deepEqual(p.replicas, [3, 1, 2], 'the target first, then the replica leaving');
  assert.deepEqual(p.addingReplicas, [3]);
  assert.deepEqual(p.removingReplicas, [2]);
  assert.deepEqual(p.isr, [1, 2], 'the new replica joins the ISR only once it has caught up');
  assert.equal(p.leader, 1);
  assert.equal(p.leaderEpoch, before.leaderEpoch, 'starting a move does not change the leader');
  assert.deepEqual(ongoingReassignments(h.image, null), [
    { topic: 't', partition: 0, replicas: [3, 1, 2], addingReplicas: [3], removingReplicas: [2] },
  ]);
  // Broker 3 caught up: the move completes in the same operation as the ISR change.
  const state = catchUp(h, 't', 0, [3]);
  p = part(h, 't', 0);
  assert.deepEqual(p.replicas, [3, 1]);
  assert.deepEqual(p.isr, [1, 3]);
  assert.equal(p.addingReplicas, undefined);
  assert.equal(p.removingReplicas, undefined);
  assert.equal(p.leader, 1, 'the leader is a target replica: it stays');
  assert.equal(p.leaderEpoch, before.leaderEpoch);
  assert.deepEqual(state.isr, [1, 3], 'the leader is answered the state after completion');
  assert.deepEqual(ongoingReassignments(h.image, null), []);
});

test('a leader that is being removed hands over to the first target replica in the ISR when the move completes', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  const epoch = part(h, 't', 0).leaderEpoch;
  reassign(h, 't', 0, [2, 3]);
  assert.equal(part(h, 't', 0).leader, 1, 'it leads while the new replica copies');
  catchUp(h, 't', 0, [3]);
  const p = part(h, 't', 0);
  assert.deepEqual(p.replicas, [2, 3]);
  assert.deepEqual(p.isr, [2, 3]);
  assert.equal(p.leader, 2);
  assert.equal(p.leaderEpoch, epoch + 1, 'a new leader epoch fences the old leader');
});

test('a move can be replaced by another target or cancelled back to the original replicas', () => {
  const h = cluster([1, 2, 3, 4]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  reassign(h, 't', 0, [3, 1]);
  // Broker 3 caught up halfway (in the ISR) when the target changes to [4, 1]: 3 leaves again.
  const p0 = part(h, 't', 0);
  h.run((c) =>
    c.alterPartition({
      brokerId: 1,
      brokerEpoch: epochOf(h, 1),
      topicId: p0.topicId,
      partition: 0,
      leaderEpoch: p0.leaderEpoch,
      partitionEpoch: p0.partitionEpoch,
      newIsr: [1, 2],
    }),
  );
  reassign(h, 't', 0, [4, 1]);
  let p = part(h, 't', 0);
  assert.deepEqual(p.replicas, [4, 1, 2], 'computed from the original replicas [1, 2]');
  assert.deepEqual(p.addingReplicas, [4]);
  assert.deepEqual(p.removingReplicas, [2]);
  // Cancelled: back to [1, 2], broker 4 gone from the replicas.
  assert.equal(reassign(h, 't', 0, null).error, undefined);
  p = part(h, 't', 0);
  assert.deepEqual(p.replicas, [1, 2]);
  assert.deepEqual(p.isr, [1, 2]);
  assert.equal(p.addingReplicas, undefined);
  // A second cancellation has nothing to cancel.
  assert.equal(reassign(h, 't', 0, null).error?.code, 'NO_REASSIGNMENT_IN_PROGRESS');
});

test('a move that only removes replicas (lowering the factor) completes at once; a new order only reorders', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2, 3]] }]));
  reassign(h, 't', 0, [2]);
  let p = part(h, 't', 0);
  assert.deepEqual(p.replicas, [2]);
  assert.deepEqual(p.isr, [2]);
  assert.equal(p.leader, 2);
  assert.equal(p.addingReplicas, undefined);
  // The same brokers in another order: the preferred leader changes, nothing moves.
  h.run((c) => c.createTopics([{ name: 'u', assignments: [[1, 2]] }]));
  const epoch = part(h, 'u', 0).leaderEpoch;
  reassign(h, 'u', 0, [2, 1]);
  p = part(h, 'u', 0);
  assert.deepEqual(p.replicas, [2, 1]);
  assert.equal(p.leader, 1, 'the preferred-leader election moves leadership later');
  assert.equal(p.leaderEpoch, epoch);
  assert.deepEqual(ongoingReassignments(h.image, null), []);
  // The same list again changes nothing at all.
  const length = h.log.length;
  assert.equal(reassign(h, 'u', 0, [2, 1]).error, undefined);
  assert.equal(h.log.length, length);
});

test('bad reassignments get a clear error each and change nothing; good ones in the same request go ahead', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) =>
    c.createTopics([
      {
        name: 't',
        assignments: [
          [1, 2],
          [2, 3],
        ],
      },
    ]),
  );
  const before = h.image;
  const cases: [Parameters<Controller['alterPartitionReassignments']>[0][number], string, RegExp][] = [
    [
      { topic: 't', partition: 0, replicas: [1, 99] },
      'INVALID_REPLICA_ASSIGNMENT',
      /broker 99 is not registered/,
    ],
    [{ topic: 't', partition: 0, replicas: [3, 3] }, 'INVALID_REPLICA_ASSIGNMENT', /names broker 3 twice/],
    [{ topic: 't', partition: 0, replicas: [] }, 'INVALID_REPLICA_ASSIGNMENT', /at least one broker/],
    [{ topic: 't', partition: 5, replicas: [1] }, 'UNKNOWN_TOPIC_OR_PARTITION', /has no partition 5/],
    [{ topic: 't', partition: -1, replicas: [1] }, 'UNKNOWN_TOPIC_OR_PARTITION', /has no partition -1/],
    [{ topic: 'nope', partition: 0, replicas: [1] }, 'UNKNOWN_TOPIC_OR_PARTITION', /does not exist/],
    [{ topic: 't', partition: 0, replicas: null }, 'NO_REASSIGNMENT_IN_PROGRESS', /not being reassigned/],
  ];
  for (const [request, code, message] of cases) {
    const [r] = h.run((c) => c.alterPartitionReassignments([request]));
    assert.equal(r.error?.code, code, JSON.stringify(request));
    assert.match(r.error!.message, message);
    assert.equal(h.image, before, `${JSON.stringify(request)} committed nothing`);
  }
  // A partition named twice is refused for both entries; the other partition still moves.
  const answer = h.run((c) =>
    c.alterPartitionReassignments([
      { topic: 't', partition: 0, replicas: [3, 1] },
      { topic: 't', partition: 0, replicas: [2, 3] },
      { topic: 't', partition: 1, replicas: [3, 1] },
    ]),
  );
  assert.deepEqual(
    answer.map((r) => r.error?.code),
    ['INVALID_REQUEST', 'INVALID_REQUEST', undefined],
  );
  assert.deepEqual(part(h, 't', 0).replicas, [1, 2]);
  assert.deepEqual(part(h, 't', 1).addingReplicas, [1]);
  // A deleted topic is unknown: its moves went with it.
  h.run((c) => c.deleteTopics(['t']));
  assert.equal(reassign(h, 't', 1, [1]).error?.code, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.deepEqual(ongoingReassignments(h.image, null), []);
});

test('the operation travels between nodes and its errors come back typed', () => {
  const h = cluster([1, 2]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1]] }]));
  const op = {
    op: 'alterPartitionReassignments' as const,
    requests: [
      { topic: 't', partition: 0, replicas: [2] },
      { topic: 't', partition: 0, replicas: null },
    ],
  };
  assert.deepEqual(decodeOp(encodeOp(op)), op);
  const { answer } = runOp(h.controller, decodeOp(encodeOp(op)), h.nowMs);
  const back = decodeAnswer<{ error?: Error }[]>(encodeAnswer(answer));
  assert.ok(back.every((r) => isBrokerError(r.error, 'INVALID_REQUEST')));
  for (const bad of [
    { op: 'alterPartitionReassignments', requests: [{ topic: 't', partition: 0, replicas: [-1] }] },
    { op: 'alterPartitionReassignments', requests: [{ topic: 't', partition: 0, replicas: 'x' }] },
    { op: 'alterPartitionReassignments', requests: [{ topic: 't', partition: 0.5, replicas: [1] }] },
    {
      op: 'alterPartitionReassignments',
      requests: [{ topic: 't', partition: 0, replicas: Array.from({ length: 65 }, (_, i) => i) }],
    },
    { op: 'electLeaders', request: { type: 'dirty', partitions: null } },
    { op: 'decommissionBroker', brokerId: -3 },
    { op: 'alterReplicationFactor', request: { topic: 't', replicationFactor: 0 }, validateOnly: false },
  ]) {
    assert.throws(
      () => decodeOp(Buffer.from(JSON.stringify(bad))),
      (err: unknown) => isBrokerError(err, 'INVALID_REQUEST'),
      JSON.stringify(bad),
    );
  }
});

test('moves in progress survive a snapshot of the image', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  reassign(h, 't', 0, [3, 1]);
  h.run((c) => c.decommissionBroker(2));
  const restored = decodeSnapshot(encodeSnapshot(h.image));
  assert.deepEqual(restored.topic('t')!.partitions[0], h.image.topic('t')!.partitions[0]);
  assert.equal(restored.brokers.get(2)?.decommissioning, true);
});

test('ElectLeaders: preferred moves leadership back to the first replica once it is in the ISR; unclean revives a leaderless partition', () => {
  const h = cluster([1, 2]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  const preferred = () =>
    h.run((c) => c.electLeaders({ type: 'preferred', partitions: [{ topic: 't', partition: 0 }] }))[0];
  assert.equal(preferred().error?.code, 'ELECTION_NOT_NEEDED');
  // Broker 1 is fenced: 2 leads; 1 comes back but is not in the ISR yet.
  h.advance(9001, [2]);
  assert.equal(part(h, 't', 0).leader, 2);
  h.heartbeat(1);
  assert.equal(preferred().error?.code, 'PREFERRED_LEADER_NOT_AVAILABLE');
  catchUp(h, 't', 0, [1]);
  assert.equal(preferred().error, undefined);
  assert.equal(part(h, 't', 0).leader, 1);
  // Unknown partitions are answered as such; null tries every partition and answers those elected.
  const unknown = h.run((c) =>
    c.electLeaders({ type: 'preferred', partitions: [{ topic: 'nope', partition: 0 }] }),
  );
  assert.equal(unknown[0].error?.code, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.deepEqual(
    h.run((c) => c.electLeaders({ type: 'preferred', partitions: null })),
    [],
  );
  // Both replicas fenced, 2 last: the ISR keeps 2. 1 returns: clean election needs 2; unclean takes 1.
  h.advance(9001, [2]);
  h.advance(9001, []);
  assert.equal(part(h, 't', 0).leader, NO_LEADER);
  h.heartbeat(1);
  assert.equal(part(h, 't', 0).leader, NO_LEADER, 'no clean leader: 1 was not in the last ISR');
  const [r] = h.run((c) => c.electLeaders({ type: 'unclean', partitions: [{ topic: 't', partition: 0 }] }));
  assert.equal(r.error, undefined);
  assert.equal(part(h, 't', 0).leader, 1);
  assert.deepEqual(part(h, 't', 0).isr, [1]);
  const [again] = h.run((c) =>
    c.electLeaders({ type: 'unclean', partitions: [{ topic: 't', partition: 0 }] }),
  );
  assert.equal(again.error?.code, 'ELECTION_NOT_NEEDED');
});

test('createPartitions takes a manual assignment and checks it against the registered brokers', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  const [ok] = h.run((c) =>
    c.createPartitions([
      {
        name: 't',
        count: 3,
        assignments: [
          [3, 1],
          [2, 3],
        ],
      },
    ]),
  );
  assert.equal(ok.error, undefined);
  assert.deepEqual(
    h.image.topic('t')!.partitions.map((p) => p.replicas),
    [
      [1, 2],
      [3, 1],
      [2, 3],
    ],
  );
  for (const [assignments, message] of [
    [[[9, 1]], /broker 9, which is not registered/],
    [[[1, 1]], /repeats a broker/],
    [[[1]], /Inconsistent replication factor/],
    [
      [
        [1, 2],
        [2, 3],
      ],
      /only 2 assignment/,
    ],
  ] as const) {
    const before = h.image;
    const [r] = h.run((c) =>
      c.createPartitions([{ name: 't', count: 4, assignments: assignments.map((a) => [...a]) }]),
    );
    assert.equal(r.error?.code, 'INVALID_REPLICA_ASSIGNMENT', JSON.stringify(assignments));
    assert.match(r.error!.message, message);
    assert.equal(h.image, before);
  }
});

test('decommissioning refuses what the cluster cannot hold, and marks a node that a restart keeps marked', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 'wide', assignments: [[1, 2, 3]] }]));
  assert.throws(
    () => h.controller.decommissionBroker(3),
    (err: unknown) =>
      isBrokerError(err, 'INVALID_REPLICATION_FACTOR') &&
      /wide-0 has replication factor 3, and only 2 other nodes/.test((err as Error).message),
  );
  assert.throws(
    () => h.controller.decommissionBroker(7),
    (err: unknown) => isBrokerError(err, 'BROKER_ID_NOT_REGISTERED'),
  );
  h.run((c) => c.deleteTopics(['wide']));
  h.run((c) => c.decommissionBroker(3));
  assert.equal(h.image.brokers.get(3)?.decommissioning, true);
  // Asked again: nothing more.
  const length = h.log.length;
  h.run((c) => c.decommissionBroker(3));
  assert.equal(h.log.length, length);
  // A restart of node 3 (a new incarnation after its session lapsed) keeps it marked.
  h.advance(9001, [1, 2]);
  h.join(3, null, 'inc-3b');
  assert.equal(h.image.brokers.get(3)?.decommissioning, true);
  // New topics are not placed on it.
  h.run((c) => c.createTopics([{ name: 'n', partitions: 6, replicationFactor: 2 }]));
  assert.ok(h.image.topic('n')!.partitions.every((p) => !p.replicas.includes(3)));
  // The last two: 2 may go once nothing needs two nodes (1 is left, controller-eligible); 1 then cannot.
  assert.throws(
    () => h.controller.decommissionBroker(2),
    (err: unknown) => isBrokerError(err, 'INVALID_REPLICATION_FACTOR'),
  );
  h.run((c) => c.deleteTopics(['n']));
  h.run((c) => c.decommissionBroker(2));
  assert.throws(
    () => h.controller.decommissionBroker(1),
    (err: unknown) => isBrokerError(err, 'INVALID_REQUEST') && /last node/.test((err as Error).message),
  );
});

test('generated bad reassignments (unknown nodes, repeated nodes, deleted topics, bad partitions) are each refused with its code and change nothing', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const random = prng(seed);
    const pick = (n: number) => Math.floor(random() * n);
    const h = cluster([1, 2, 3, 4]);
    h.run((c) =>
      c.createTopics([
        { name: 't', partitions: 4, replicationFactor: 2 },
        { name: 'gone', partitions: 2 },
      ]),
    );
    h.run((c) => c.deleteTopics(['gone']));
    for (let i = 0; i < 50; i++) {
      const before = h.image;
      const good = [1, 2, 3, 4].filter(() => random() < 0.5);
      const base = good.length > 0 ? good : [1 + pick(4)];
      const kind = pick(4);
      let request: { topic: string; partition: number; replicas: number[] };
      let code: string;
      if (kind === 0) {
        // An unknown node somewhere in the list.
        const unknown = 5 + pick(1000);
        const replicas = [...base];
        replicas.splice(pick(replicas.length + 1), 0, unknown);
        request = { topic: 't', partition: pick(4), replicas };
        code = 'INVALID_REPLICA_ASSIGNMENT';
      } else if (kind === 1) {
        // A node named twice.
        const replicas = [...base];
        replicas.splice(pick(replicas.length + 1), 0, replicas[pick(replicas.length)]!);
        request = { topic: 't', partition: pick(4), replicas };
        code = 'INVALID_REPLICA_ASSIGNMENT';
      } else if (kind === 2) {
        request = { topic: 'gone', partition: pick(2), replicas: base };
        code = 'UNKNOWN_TOPIC_OR_PARTITION';
      } else {
        const partition = random() < 0.5 ? -1 - pick(100) : 4 + pick(100);
        request = { topic: 't', partition, replicas: base };
        code = 'UNKNOWN_TOPIC_OR_PARTITION';
      }
      const [r] = h.run((c) => c.alterPartitionReassignments([request]));
      assert.equal(r.error?.code, code, `seed ${seed}: ${JSON.stringify(request)}`);
      assert.equal(h.image, before, `seed ${seed}: ${JSON.stringify(request)} committed nothing`);
    }
    // Removing nodes until one is left: the last is always refused, and nothing changes.
    h.run((c) => c.deleteTopics(['t']));
    for (const id of [4, 3, 2]) h.run((c) => c.decommissionBroker(id));
    const before = h.image;
    assert.throws(
      () => h.controller.decommissionBroker(1),
      (err: unknown) => isBrokerError(err, 'INVALID_REQUEST') && /last node/.test((err as Error).message),
    );
    assert.equal(h.image, before);
  }
});
