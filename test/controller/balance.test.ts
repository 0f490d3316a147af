/**
 * The controller's balancing step (issue 14): draining a decommissioned node, giving a joining node its
 * share, and changing a topic's replication factor, each by moves that complete as their new replicas
 * catch up (stepped here by the leader's AlterPartition, as a broker sends it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ongoingReassignments } from '../../src/controller/reassignments.ts';
import { isBrokerError } from '../../src/errors.ts';
import { NO_LEADER } from '../../src/metadata/records.ts';
import { catchUpAll, cluster } from '../helpers/reassignment.ts';

test('balance drains a decommissioned node a few moves at a time, then unregisters it', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', partitions: 12, replicationFactor: 2 }]));
  h.run((c) => c.decommissionBroker(2));
  const held = (id: number) => h.image.topic('t')!.partitions.filter((p) => p.replicas.includes(id)).length;
  assert.ok(held(2) > 0);
  for (let round = 0; round < 50 && h.image.brokers.has(2); round++) {
    const { started } = h.run((c) => c.balance({ auto: false, maxMoves: 2 }));
    assert.ok(ongoingReassignments(h.image, null).length <= 2, 'at most maxMoves at once');
    assert.ok(started.every((m) => !m.to.includes(2)));
    catchUpAll(h);
  }
  assert.equal(h.image.brokers.has(2), false, 'unregistered once it held nothing');
  assert.equal(held(2), 0);
  for (const p of h.image.topic('t')!.partitions) {
    assert.equal(p.replicas.length, 2, 'the replication factor is kept');
    assert.ok(p.isr.length === 2 && p.leader !== NO_LEADER);
  }
});

test('balance gives a joining node its share, within one, and only while every node is up', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', partitions: 12, replicationFactor: 2 }]));
  h.join(4);
  const counts = () => {
    const replicas = new Map<number, number>();
    const leaders = new Map<number, number>();
    for (const p of h.image.topic('t')!.partitions) {
      for (const id of p.replicas) replicas.set(id, (replicas.get(id) ?? 0) + 1);
      leaders.set(p.replicas[0], (leaders.get(p.replicas[0]) ?? 0) + 1);
    }
    return { replicas, leaders };
  };
  // Auto off: nothing moves.
  assert.deepEqual(h.run((c) => c.balance({ auto: false, maxMoves: 4 })).started, []);
  for (let round = 0; round < 50; round++) {
    const { started } = h.run((c) => c.balance({ auto: true, maxMoves: 4 }));
    if (catchUpAll(h) === 0 && started.length === 0) break;
  }
  const { replicas, leaders } = counts();
  assert.deepEqual([...replicas.keys()].sort(), [1, 2, 3, 4]);
  assert.ok(
    Math.max(...replicas.values()) - Math.min(...replicas.values()) <= 1,
    `replicas ${[...replicas]}`,
  );
  assert.ok(Math.max(...leaders.values()) - Math.min(...leaders.values()) <= 1, `leaders ${[...leaders]}`);
  // With a node down, balancing waits: node 5 joins while 4 is fenced.
  h.advance(9001, [1, 2, 3]);
  h.join(5);
  assert.deepEqual(h.run((c) => c.balance({ auto: true, maxMoves: 4 })).started, []);
});

test('alterReplicationFactor raises and lowers a topic by moves', () => {
  const h = cluster([1, 2, 3]);
  h.run((c) => c.createTopics([{ name: 't', partitions: 6, replicationFactor: 2 }]));
  const moves = h.run((c) => c.alterReplicationFactor({ topic: 't', replicationFactor: 3 }));
  assert.equal(moves.length, 6);
  catchUpAll(h);
  assert.ok(h.image.topic('t')!.partitions.every((p) => p.replicas.length === 3 && p.isr.length === 3));
  assert.throws(
    () => h.controller.alterReplicationFactor({ topic: 't', replicationFactor: 4 }),
    (err: unknown) => isBrokerError(err, 'INVALID_REPLICATION_FACTOR'),
  );
  h.run((c) => c.alterReplicationFactor({ topic: 't', replicationFactor: 1 }));
  assert.ok(h.image.topic('t')!.partitions.every((p) => p.replicas.length === 1 && p.isr.length === 1));
  assert.deepEqual(ongoingReassignments(h.image, null), []);
});
