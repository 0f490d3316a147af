/**
 * Replica placement for new partitions (issue 11), after Kafka's
 * `metadata/src/main/java/org/apache/kafka/metadata/placement/StripedReplicaPlacer.java`: replicas are
 * striped across the unfenced brokers so that every broker holds as many replicas, and leads as many
 * partitions, as any other, within one; when brokers name racks, consecutive brokers in the stripe are
 * on different racks, so a partition's replicas span as many racks as the factor allows.
 *
 * The method differs from Kafka's, which shuffles with a random number generator and balances only in
 * expectation. Here the brokers are ordered rack by rack alternately (r1b1, r2b1, r3b1, r1b2, ...;
 * Kafka's older `AdminUtils.getRackAlternatedBrokerList`), and replica slots are dealt round-robin
 * along that order from a start position the caller chooses (the controller passes the cluster's
 * partition count, so successive topics continue the rotation): replica j of partition p takes the
 * broker at `start + p * rf + j`. Dealing slots round-robin makes replica counts differ by at most one,
 * and since rf never exceeds the broker count, the rf consecutive slots of a partition are distinct
 * brokers. Leaders are chosen apart: within each run of n partitions (n brokers), a bipartite matching
 * gives every partition a distinct leader from its own replicas (it exists by Hall's theorem: any k of
 * those replica runs cover at least k brokers), so leader counts also differ by at most one. Each
 * list is rotated to start at its leader, where Kafka expects the preferred leader. Pure and
 * deterministic: the same brokers and start give the same placement.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../errors.ts';

export interface PlacementBroker {
  id: number;
  rack: string | null;
}

/** The brokers in stripe order: by rack alternately, each rack's brokers by id; racks by name. */
export function stripeOrder(brokers: readonly PlacementBroker[]): number[] {
  const byRack = new Map<string, number[]>();
  for (const b of brokers) {
    // Brokers without a rack share one unnamed rack, as Kafka's placer treats them.
    const rack = b.rack ?? '';
    let list = byRack.get(rack);
    if (!list) byRack.set(rack, (list = []));
    list.push(b.id);
  }
  const racks = [...byRack.keys()].sort();
  for (const r of racks) byRack.get(r)!.sort((a, b) => a - b);
  const out: number[] = [];
  for (let round = 0; out.length < brokers.length; round++) {
    for (const r of racks) {
      const list = byRack.get(r)!;
      if (round < list.length) out.push(list[round]);
    }
  }
  return out;
}

/**
 * Replica lists for `partitions` new partitions of factor `replicationFactor` over `brokers` (the
 * unfenced ones), the leader first in each. INVALID_REPLICATION_FACTOR when the factor is below 1 or
 * above the number of brokers.
 */
export function placeReplicas(
  brokers: readonly PlacementBroker[],
  partitions: number,
  replicationFactor: number,
  start = 0,
): number[][] {
  assert.ok(Number.isSafeInteger(partitions) && partitions >= 1, `partitions ${partitions} must be >= 1`);
  assert.equal(new Set(brokers.map((b) => b.id)).size, brokers.length, 'brokers are distinct');
  if (!Number.isSafeInteger(replicationFactor) || replicationFactor < 1) {
    throw new BrokerError(
      'INVALID_REPLICATION_FACTOR',
      `replication factor must be at least 1, got ${replicationFactor}`,
    );
  }
  if (replicationFactor > brokers.length) {
    throw new BrokerError(
      'INVALID_REPLICATION_FACTOR',
      `replication factor ${replicationFactor} is larger than the ${brokers.length} available (unfenced) broker${brokers.length === 1 ? '' : 's'}`,
    );
  }
  const order = stripeOrder(brokers);
  const n = order.length;
  const base = ((start % n) + n) % n;
  const sets: number[][] = [];
  for (let p = 0; p < partitions; p++) {
    const set: number[] = [];
    for (let j = 0; j < replicationFactor; j++) set.push(order[(base + p * replicationFactor + j) % n]);
    sets.push(set);
  }
  // Distinct leaders within each run of n partitions. Partition p first tries the member at p mod rf
  // of its run, which already gives distinct leaders when rf = n; the matching settles the rest. The
  // list is then rotated to start at the leader, keeping the stripe's cyclic order, so the next
  // replica in line (the one a failover prefers) is spread as evenly as the leaders are.
  for (let from = 0; from < partitions; from += n) {
    const run = sets.slice(from, from + n);
    const preferences = run.map((set, i) => set.map((_, j) => set[(j + from + i) % set.length]));
    const leaders = distinctRepresentatives(preferences);
    run.forEach((set, i) => {
      const at = set.indexOf(leaders[i]);
      set.push(...set.splice(0, at));
    });
  }
  for (const set of sets) assert.equal(new Set(set).size, set.length, `placement ${set} repeats a broker`);
  return sets;
}

/**
 * One distinct member of each set (Kuhn's augmenting paths), preferring earlier members. Asserts that
 * one exists, which the striping guarantees.
 */
function distinctRepresentatives(sets: readonly number[][]): number[] {
  const owner = new Map<number, number>(); // broker -> set index
  const tryAssign = (i: number, seen: Set<number>): boolean => {
    for (const b of sets[i]) {
      if (seen.has(b)) continue;
      seen.add(b);
      const other = owner.get(b);
      if (other === undefined || tryAssign(other, seen)) {
        owner.set(b, i);
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < sets.length; i++)
    assert.ok(tryAssign(i, new Set()), 'every run of replica sets has distinct leaders');
  const out: number[] = new Array(sets.length);
  for (const [b, i] of owner) out[i] = b;
  return out;
}

/**
 * The brokers to append to a partition's replicas to raise its factor by up to `count` (the controller
 * raising internal topics as brokers join, DESIGN.md decision 12): chosen one at a time from `brokers`
 * (the active ones with room) that are not replicas yet, preferring a rack the partition does not span,
 * then the broker holding fewest replicas of this topic (`topicCounts`), then fewest in the cluster
 * (`clusterCounts`), then the lower id. Choosing the least loaded each time keeps the counts of the
 * brokers that take new replicas within one of each other, as placement at creation does; existing
 * replicas never move (that is reassignment). Fewer than `count` when too few brokers qualify.
 */
export function additionalReplicas(
  current: readonly PlacementBroker[],
  brokers: readonly PlacementBroker[],
  count: number,
  topicCounts: ReadonlyMap<number, number>,
  clusterCounts: ReadonlyMap<number, number>,
): number[] {
  assert.ok(Number.isSafeInteger(count) && count >= 0, `count ${count} must be >= 0`);
  const taken = new Set(current.map((b) => b.id));
  const racks = new Set(current.map((b) => b.rack ?? ''));
  const topic = new Map(topicCounts);
  const cluster = new Map(clusterCounts);
  const out: number[] = [];
  while (out.length < count) {
    let best: PlacementBroker | undefined;
    const score = (b: PlacementBroker) =>
      [racks.has(b.rack ?? '') ? 1 : 0, topic.get(b.id) ?? 0, cluster.get(b.id) ?? 0, b.id] as const;
    for (const b of brokers) {
      if (taken.has(b.id)) continue;
      if (best === undefined || lexLess(score(b), score(best))) best = b;
    }
    if (best === undefined) break;
    out.push(best.id);
    taken.add(best.id);
    racks.add(best.rack ?? '');
    topic.set(best.id, (topic.get(best.id) ?? 0) + 1);
    cluster.set(best.id, (cluster.get(best.id) ?? 0) + 1);
  }
  return out;
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * Checks a manual assignment (CreateTopics' `assignments`): partitions 0 to n - 1 each with a
 * non-empty list of distinct registered brokers, all lists of one length, and at least one unfenced
 * broker in each (else the partition could never get a leader). Kafka's
 * `ReplicationControlManager.validateManualPartitionAssignment`.
 */
export function validateAssignment(
  assignment: readonly (readonly number[])[],
  isRegistered: (id: number) => boolean,
  isActive: (id: number) => boolean,
  replicasMax: number,
  /** The number of the first partition assigned (CreatePartitions adds after the existing ones). */
  firstPartition = 0,
): void {
  if (assignment.length === 0)
    throw invalidAssignment('a manual assignment must list at least one partition');
  const rf = assignment[0].length;
  assignment.forEach((replicas, i) => {
    const p = firstPartition + i;
    if (replicas.length === 0) throw invalidAssignment(`partition ${p} has no replicas`);
    if (replicas.length > replicasMax)
      throw invalidAssignment(`partition ${p} has more than ${replicasMax} replicas`);
    if (replicas.length !== rf) {
      throw invalidAssignment(
        `partition ${p} has ${replicas.length} replicas; partition ${firstPartition} has ${rf}, and all must match`,
      );
    }
    if (new Set(replicas).size !== replicas.length)
      throw invalidAssignment(`partition ${p} repeats a broker in ${replicas}`);
    for (const id of replicas) {
      if (!Number.isSafeInteger(id) || !isRegistered(id)) {
        throw invalidAssignment(`partition ${p} names broker ${id}, which is not registered`);
      }
    }
    if (!replicas.some(isActive)) {
      throw invalidAssignment(`partition ${p}'s brokers ${replicas} are all fenced or shutting down`);
    }
  });
}

function invalidAssignment(message: string): BrokerError {
  return new BrokerError('INVALID_REPLICA_ASSIGNMENT', message);
}
