/**
 * Striped replica placement (issue 11): for any broker count, partition count, factor and start,
 * every replica set has distinct brokers, and per-broker replica counts and leader counts are within
 * one of each other; racks are spread; a factor above the broker count is refused with the count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  additionalReplicas,
  placeReplicas,
  stripeOrder,
  validateAssignment,
} from '../../src/controller/placement.ts';
import { isBrokerError } from '../../src/errors.ts';

function spread(counts: Map<number, number>, brokers: readonly number[]): number {
  const values = brokers.map((b) => counts.get(b) ?? 0);
  return Math.max(...values) - Math.min(...values);
}

test('placement: distinct replicas, replica and leader counts within one, for any sizes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 12 }),
      fc.nat(1000),
      fc.integer({ min: 0, max: 4 }),
      (n, partitions, rfWanted, start, rackCount) => {
        const rf = Math.min(rfWanted, n);
        const brokers = Array.from({ length: n }, (_, i) => ({
          id: 10 + i * 3,
          rack: rackCount === 0 ? null : `r${i % rackCount}`,
        }));
        const ids = brokers.map((b) => b.id);
        const sets = placeReplicas(brokers, partitions, rf, start);
        assert.equal(sets.length, partitions);
        const replicas = new Map<number, number>();
        const leaders = new Map<number, number>();
        for (const set of sets) {
          assert.equal(set.length, rf);
          assert.equal(new Set(set).size, rf, `distinct brokers in ${set}`);
          for (const b of set) {
            assert.ok(ids.includes(b));
            replicas.set(b, (replicas.get(b) ?? 0) + 1);
          }
          leaders.set(set[0], (leaders.get(set[0]) ?? 0) + 1);
        }
        assert.ok(spread(replicas, ids) <= 1, `replica counts ${[...replicas]}`);
        assert.ok(spread(leaders, ids) <= 1, `leader counts ${[...leaders]}`);
        // With equal racks at least as many as the factor, every replica set spans rf racks.
        if (rackCount > 0 && n % rackCount === 0 && rf <= Math.min(rackCount, n)) {
          const rackOf = new Map(brokers.map((b) => [b.id, b.rack]));
          for (const set of sets)
            assert.equal(new Set(set.map((b) => rackOf.get(b))).size, rf, `racks of ${set}`);
        }
      },
    ),
    { numRuns: 400 },
  );
});

test('the stripe alternates racks', () => {
  const order = stripeOrder([
    { id: 1, rack: 'a' },
    { id: 2, rack: 'a' },
    { id: 3, rack: 'b' },
    { id: 4, rack: 'b' },
    { id: 5, rack: 'c' },
  ]);
  assert.deepEqual(order, [1, 3, 5, 2, 4]);
});

test('a replication factor above the broker count is refused with the count in the message', () => {
  const brokers = [
    { id: 1, rack: null },
    { id: 2, rack: null },
  ];
  assert.throws(
    () => placeReplicas(brokers, 3, 3),
    (err: unknown) =>
      isBrokerError(err, 'INVALID_REPLICATION_FACTOR') &&
      /3 is larger than the 2 available/.test(err.message),
  );
  assert.throws(
    () => placeReplicas(brokers, 3, 0),
    (err: unknown) => isBrokerError(err, 'INVALID_REPLICATION_FACTOR'),
  );
  assert.throws(() => placeReplicas([], 1, 1), /larger than the 0 available/);
});

test('manual assignments are checked for unknown, repeated, fenced and uneven replicas', () => {
  const registered = (id: number) => id >= 1 && id <= 4;
  const active = (id: number) => id !== 4;
  const bad = (a: number[][], re: RegExp) =>
    assert.throws(
      () => validateAssignment(a, registered, active, 8),
      (err: unknown) => isBrokerError(err, 'INVALID_REPLICA_ASSIGNMENT') && re.test(err.message),
    );
  validateAssignment(
    [
      [1, 2],
      [2, 3],
      [4, 1],
    ],
    registered,
    active,
    8,
  );
  bad([], /at least one partition/);
  bad([[1, 1]], /repeats a broker/);
  bad([[1, 9]], /broker 9, which is not registered/);
  bad([[1, 2], [3]], /partition 1 has 1 replicas; partition 0 has 2/);
  bad([[4]], /all fenced or shutting down/);
  bad([[]], /no replicas/);
});

test('additional replicas: new brokers only, distinct, and the brokers taking them end within one of each other', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 6 }),
      (holders, joiners, partitions, rfWanted) => {
        // Every partition starts on one of the first `holders` brokers; `joiners` new brokers join.
        const brokers = Array.from({ length: holders + joiners }, (_, i) => ({ id: i + 1, rack: null }));
        const rf = Math.min(rfWanted, brokers.length);
        const topic = new Map<number, number>();
        const lists = Array.from({ length: partitions }, (_, p) => [brokers[p % holders].id]);
        for (const l of lists) topic.set(l[0], (topic.get(l[0]) ?? 0) + 1);
        const added = new Map<number, number>();
        for (const l of lists) {
          const current = l.map((id) => ({ id, rack: null }));
          const extra = additionalReplicas(current, brokers, rf - l.length, topic, topic);
          assert.equal(extra.length, rf - l.length);
          assert.equal(new Set([...l, ...extra]).size, rf, 'distinct, and none already a replica');
          for (const id of extra) {
            topic.set(id, (topic.get(id) ?? 0) + 1);
            if (id > holders) added.set(id, (added.get(id) ?? 0) + 1);
          }
        }
        // The joiners held nothing, so least-loaded first deals them the additions evenly.
        const joined = brokers.filter((b) => b.id > holders).map((b) => added.get(b.id) ?? 0);
        if (joined.some((n) => n > 0)) assert.ok(Math.max(...joined) - Math.min(...joined) <= 1, `${joined}`);
      },
    ),
    { numRuns: 300 },
  );
});

test('additional replicas prefer a rack the partition does not span, then the least loaded', () => {
  const brokers = [
    { id: 1, rack: 'a' },
    { id: 2, rack: 'a' },
    { id: 3, rack: 'b' },
    { id: 4, rack: 'b' },
  ];
  const none = new Map<number, number>();
  // On rack a already: rack b first, though broker 2 is the lower id.
  assert.deepEqual(additionalReplicas([brokers[0]], brokers, 1, none, none), [3]);
  // Broker 3 holds more of the topic: broker 4, same rack, takes it.
  assert.deepEqual(additionalReplicas([brokers[0]], brokers, 1, new Map([[3, 2]]), none), [4]);
  // Asking for more than the brokers left gives what there is.
  assert.deepEqual(additionalReplicas([brokers[0]], brokers, 5, none, none), [3, 2, 4]);
});
