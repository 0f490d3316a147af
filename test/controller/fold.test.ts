/**
 * Generated sequences of controller operations (issue 11), checked as properties:
 * - folding every committed batch through its own delta gives the same image as replaying all the
 *   records on the empty image in one delta, and as decoding them from their bytes first;
 * - each image survives a snapshot round trip and keeps every invariant;
 * - epochs never go backwards; leaders are active brokers, and a partition has no leader only when no
 *   broker that may lead it (an ISR member, or any replica under unclean election) is active;
 * - a node that applies only `localChanges` (lead/follow adds, deletes remove) holds exactly the
 *   replicas the image assigns it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Controller, OperationResult } from '../../src/controller/controller.ts';
import { isBrokerError } from '../../src/errors.ts';
import { applyRecords, MetadataDelta } from '../../src/metadata/delta.ts';
import { checkImage, MetadataImage } from '../../src/metadata/image.ts';
import { decodeBatch, encodeBatch, type MetadataRecord, NO_LEADER } from '../../src/metadata/records.ts';
import { decodeSnapshot, encodeSnapshot } from '../../src/metadata/snapshot.ts';
import { Harness, listenersOf } from '../helpers/metadata.ts';

type Op = (h: Harness) => OperationResult<unknown> | null;

const brokerId = fc.integer({ min: 1, max: 4 });
// __consumer_offsets is internal: the controller raises its replication factor as brokers join.
const topicName = fc.constantFrom('a', 'b', 'c', 'd', '__consumer_offsets');

const epochOf = (h: Harness, id: number) => h.image.brokers.get(id)?.epoch ?? 0;

const ops: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .record({ id: brokerId, inc: fc.integer({ min: 0, max: 2 }), rack: fc.constantFrom(null, 'r1', 'r2') })
      .map(
        ({ id, inc, rack }): Op =>
          (h) =>
            h.controller.registerBroker(
              {
                brokerId: id,
                incarnationId: `i${inc}`,
                listeners: listenersOf(id),
                rack,
                controllerEligible: true,
              },
              h.nowMs,
            ),
      ),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({
        id: brokerId,
        shut: fc.constantFrom(false, false, false, false, true),
        lag: fc.constantFrom(0, 0, 0, 1, 2),
      })
      .map(
        ({ id, shut, lag }): Op =>
          (h) =>
            h.controller.heartbeat(
              {
                brokerId: id,
                brokerEpoch: epochOf(h, id),
                metadataOffset: Math.max(0, h.offset - lag),
                wantShutDown: shut,
              },
              h.nowMs,
            ),
      ),
  },
  // Time passes; the controller's timer may or may not have ticked since (registrations can see a
  // lapsed session that no tick has fenced yet).
  fc.record({ ms: fc.integer({ min: 1, max: 6000 }), tick: fc.boolean() }).map(
    ({ ms, tick }): Op =>
      (h) => {
        h.nowMs += ms;
        return tick ? h.controller.tick(h.nowMs) : null;
      },
  ),
  {
    weight: 3,
    arbitrary: fc
      .record({
        name: topicName,
        partitions: fc.integer({ min: 1, max: 4 }),
        rf: fc.integer({ min: 1, max: 3 }),
        unclean: fc.boolean(),
      })
      .map(
        ({ name, partitions, rf, unclean }): Op =>
          (h) =>
            h.controller.createTopics([
              {
                name,
                partitions,
                replicationFactor: rf,
                configs: unclean ? { 'unclean.leader.election.enable': 'true' } : {},
              },
            ]),
      ),
  },
  topicName.map(
    (name): Op =>
      (h) =>
        h.controller.deleteTopics([name]),
  ),
  fc.record({ name: topicName, value: fc.constantFrom(null, '1', '2') }).map(
    ({ name, value }): Op =>
      (h) =>
        h.controller.alterConfigs([
          { resourceType: 'topic', resourceName: name, changes: { 'retention.ms': value } },
        ]),
  ),
  brokerId.map(
    (id): Op =>
      (h) =>
        h.controller.allocateProducerIds(id, epochOf(h, id)),
  ),
  brokerId.map(
    (id): Op =>
      (h) =>
        h.controller.unregisterBroker(id),
  ),
  fc.constantFrom('true', 'false', null).map(
    (value): Op =>
      (h) =>
        h.controller.alterConfigs([
          { resourceType: 'broker', resourceName: '', changes: { 'unclean.leader.election.enable': value } },
        ]),
  ),
  fc.constantFrom('true', 'false', null).map(
    (value): Op =>
      (h) =>
        h.controller.alterConfigs([
          { resourceType: 'broker', resourceName: '', changes: { 'auto.leader.rebalance.enable': value } },
        ]),
  ),
  fc.constant((h: Harness) => h.controller.electPreferredLeaders()),
  fc.constant((h: Harness) => h.controller.raiseInternalReplication()),
  // The leader of a partition shrinks or grows its ISR to a subset of the replicas that includes itself.
  {
    weight: 3,
    arbitrary: fc.record({ name: topicName, partition: fc.nat(3), mask: fc.nat(15) }).map(
      ({ name, partition, mask }): Op =>
        (h) => {
          const t = h.image.topic(name);
          const p = t?.partitions[partition];
          if (!t || !p || p.leader < 0) return null;
          const isr = p.replicas.filter((id, i) => id === p.leader || (mask >> i) & 1);
          return h.controller.alterPartition({
            brokerId: p.leader,
            brokerEpoch: epochOf(h, p.leader),
            topicId: t.id,
            partition,
            leaderEpoch: p.leaderEpoch,
            partitionEpoch: p.partitionEpoch,
            newIsr: isr,
          });
        },
    ),
  },
);

function runOp(h: Harness, op: Op): MetadataRecord[] {
  let records: MetadataRecord[] = [];
  h.run((c: Controller) => {
    void c;
    try {
      const result = op(h);
      if (result) records = result.records;
      return result ?? { records: [], answer: null };
    } catch (err) {
      if (isBrokerError(err)) return { records: [], answer: null };
      throw err;
    }
  });
  return records;
}

/** Partition keys where `node` is a replica. */
function replicasOf(image: MetadataImage, node: number): Set<string> {
  const out = new Set<string>();
  for (const t of image.topicsById.values()) {
    t.partitions.forEach((p, i) => {
      if (p.replicas.includes(node)) out.add(`${t.id}/${i}`);
    });
  }
  return out;
}

test('folding generated operations: per-batch deltas, one delta and decoded bytes agree; snapshots round-trip; local changes track replicas', () => {
  fc.assert(
    fc.property(fc.array(ops, { minLength: 40, maxLength: 200 }), (sequence) => {
      const h = new Harness({
        sessionTimeoutMs: 9000,
        internalReplicationFactor: 3,
        partitionChangesPerOperationMax: 2,
      });
      let image = MetadataImage.EMPTY;
      const all: MetadataRecord[] = [];
      const local = new Map<number, Set<string>>([1, 2, 3, 4].map((n) => [n, new Set<string>()]));
      for (const op of sequence) {
        const records = runOp(h, op);
        if (records.length === 0) continue;
        const before = image;
        const delta = new MetadataDelta(before);
        for (const r of decodeBatch(encodeBatch(records))) delta.replay(r);
        image = delta.apply({ offset: h.offset, epoch: 1 });
        all.push(...records);
        assert.deepStrictEqual(image, h.image, 'the decoded batch gives the controller’s image');
        checkImage(image);
        // Epochs never go backwards.
        for (const t of image.topicsById.values()) {
          const old = before.topicsById.get(t.id);
          t.partitions.forEach((p, i) => {
            const o = old?.partitions[i];
            if (o) {
              assert.ok(p.leaderEpoch >= o.leaderEpoch && p.partitionEpoch >= o.partitionEpoch);
              if (p !== o)
                assert.ok(p.partitionEpoch > o.partitionEpoch, 'a changed partition has a new epoch');
              if (p.leader !== o.leader)
                assert.ok(p.leaderEpoch > o.leaderEpoch, 'a new leader has a new epoch');
              // Replicas only grow, by appending (internal topics raised toward their factor).
              assert.deepEqual(p.replicas.slice(0, o.replicas.length), o.replicas);
              if (p.replicas.length > o.replicas.length) {
                assert.ok(t.name === '__consumer_offsets' && p.replicas.length <= 3);
                for (const id of p.replicas.slice(o.replicas.length))
                  assert.ok(image.isActive(id), `added replica ${id} is active`);
              }
            }
          });
        }
        // Leaders are active brokers; a partition is leaderless only when no broker that may lead it is.
        for (const t of image.topicsById.values()) {
          const unclean =
            (
              image.config('topic', t.name).get('unclean.leader.election.enable') ??
              image.config('broker', '').get('unclean.leader.election.enable')
            )
              ?.trim()
              .toLowerCase() === 'true';
          t.partitions.forEach((p, i) => {
            if (p.leader !== NO_LEADER)
              assert.ok(image.isActive(p.leader), `${t.name}-${i} led by inactive ${p.leader}`);
            else {
              const eligible = unclean ? p.replicas : p.isr;
              assert.ok(
                !eligible.some((id) => image.isActive(id)),
                `${t.name}-${i} is leaderless with a live candidate`,
              );
            }
          });
        }
        for (const b of image.brokers.values()) {
          const o = before.brokers.get(b.id);
          if (o) assert.ok(b.epoch >= o.epoch);
        }
        // Untouched topics are shared, not copied.
        for (const t of before.topicsById.values()) {
          const now = image.topicsById.get(t.id);
          const touched = records.some((r) => 'topicId' in r && r.topicId === t.id);
          if (!touched) assert.equal(now, t);
        }
        // A node applying only its local changes holds what the image says it holds.
        for (const [node, held] of local) {
          const changes = delta.localChanges(node);
          for (const d of changes.deletes) held.delete(`${d.topicId}/${d.partition}`);
          for (const p of [...changes.leaders, ...changes.followers]) {
            assert.equal(
              p.isNew,
              !held.has(`${p.topicId}/${p.partition}`),
              'isNew says whether the node held it',
            );
            held.add(`${p.topicId}/${p.partition}`);
            if (changes.leaders.includes(p)) assert.equal(p.registration.leader, node);
          }
          assert.deepEqual([...held].sort(), [...replicasOf(image, node)].sort(), `node ${node}`);
        }
      }
      // One delta over everything from the empty image.
      assert.deepStrictEqual(applyRecords(MetadataImage.EMPTY, all, image.provenance), image);
      // Snapshot round trip, and the snapshot is a fixed point.
      const bytes = encodeSnapshot(image);
      const restored = decodeSnapshot(bytes);
      assert.deepStrictEqual(restored, image);
      assert.deepEqual(encodeSnapshot(restored), bytes);
    }),
    { numRuns: 300 },
  );
});
