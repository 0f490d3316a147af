/**
 * Striped replica placement (issue 11): for any broker count, partition count, factor and start,
 * every replica set has distinct brokers, and per-broker replica counts and leader counts are within
 * one of each other; racks are spread; a factor above the broker count is refused with the count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { placeReplicas, stripeOrder, validateAssignment } from '../../src/controller/placement.ts';
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
