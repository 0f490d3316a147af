/**
 * The controller's operations, stepped with a clock the test moves (issue 11): registration and its
 * idempotence, fencing after the session lapses and leader election, controlled shutdown, topics,
 * configs, producer-id blocks and AlterPartition's epoch guards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrokerError } from '../../src/errors.ts';
import { checkImage } from '../../src/metadata/image.ts';
import { NO_LEADER } from '../../src/metadata/records.ts';
import { Harness, listenersOf } from '../helpers/metadata.ts';

const code = (c: string) => (err: unknown) => isBrokerError(err) && err.code === c;

test('registration of the same incarnation is idempotent; another live incarnation is refused; after the session lapses it gets a new epoch', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  const epoch = h.join(1);
  assert.equal(h.image.brokers.get(1)?.fenced, false);
  const logLength = h.log.length;
  // The same process registering again (a retried request): same epoch, no records, still unfenced.
  const again = h.run((c) =>
    c.registerBroker(
      { brokerId: 1, incarnationId: 'inc-1', listeners: listenersOf(1), controllerEligible: true },
      h.nowMs,
    ),
  );
  assert.equal(again.brokerEpoch, epoch);
  assert.equal(h.log.length, logLength);
  assert.equal(h.image.brokers.get(1)?.fenced, false);
  // A second process claiming id 1 while the first is alive.
  assert.throws(
    () =>
      h.controller.registerBroker(
        { brokerId: 1, incarnationId: 'other', listeners: listenersOf(1), controllerEligible: true },
        h.nowMs + 1000,
      ),
    (err: unknown) =>
      code('DUPLICATE_BROKER_REGISTRATION')(err) && /another live process/.test((err as Error).message),
  );
  // Once its session has lapsed (no heartbeats for 9 s), a new incarnation is accepted with a new epoch.
  h.nowMs += 9000;
  const fresh = h.run((c) =>
    c.registerBroker(
      { brokerId: 1, incarnationId: 'restarted', listeners: listenersOf(1), controllerEligible: true },
      h.nowMs,
    ),
  );
  assert.ok(fresh.brokerEpoch > epoch, `${fresh.brokerEpoch} > ${epoch}`);
  const b = h.image.brokers.get(1);
  assert.equal(b?.incarnationId, 'restarted');
  assert.equal(b?.fenced, true, 'a new incarnation starts fenced');
  // Its old epoch is now stale.
  assert.throws(
    () =>
      h.controller.heartbeat(
        { brokerId: 1, brokerEpoch: epoch, metadataOffset: h.offset, wantShutDown: false },
        h.nowMs,
      ),
    code('STALE_BROKER_EPOCH'),
  );
  assert.throws(
    () =>
      h.controller.heartbeat(
        { brokerId: 9, brokerEpoch: 0, metadataOffset: 0, wantShutDown: false },
        h.nowMs,
      ),
    code('BROKER_ID_NOT_REGISTERED'),
  );
});

test('a new incarnation whose registration never commits leaves the old one’s session as it was', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  const epoch = h.join(1);
  h.nowMs += 9000;
  // The op runs, but its records are never committed (the commit failed): nothing is replayed.
  const { records } = h.controller.registerBroker(
    { brokerId: 1, incarnationId: 'lost', listeners: listenersOf(1), controllerEligible: true },
    h.nowMs,
  );
  assert.ok(records.length > 0);
  assert.equal(h.image.brokers.get(1)?.epoch, epoch);
  const answer = h.heartbeat(1);
  assert.deepEqual(answer, {
    isCaughtUp: true,
    isFenced: false,
    inControlledShutdown: false,
    shouldShutDown: false,
  });
});

test('a broker is unfenced only once it has applied its own registration', () => {
  const h = new Harness();
  h.run((c) =>
    c.registerBroker(
      { brokerId: 1, incarnationId: 'a', listeners: listenersOf(1), controllerEligible: true },
      0,
    ),
  );
  const registeredAt = h.offset;
  const behind = h.heartbeat(1, false, registeredAt - 1);
  assert.deepEqual(behind, {
    isCaughtUp: false,
    isFenced: true,
    inControlledShutdown: false,
    shouldShutDown: false,
  });
  assert.equal(h.image.brokers.get(1)?.fenced, true);
  const caughtUp = h.heartbeat(1, false, registeredAt);
  assert.equal(caughtUp.isCaughtUp, true);
  assert.equal(caughtUp.isFenced, false);
  assert.equal(h.image.brokers.get(1)?.fenced, false);
});

test('a lapsed session fences the broker and its partitions move to the first live ISR member with a bumped leader epoch', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  const [created] = h.run((c) => c.createTopics([{ name: 'orders', partitions: 3, replicationFactor: 3 }]));
  assert.equal(created.error, undefined);
  const t = h.image.topic('orders')!;
  const ledBy1 = t.partitions.findIndex((p) => p.leader === 1);
  assert.ok(ledBy1 >= 0, 'broker 1 leads one of the three partitions');
  const before = t.partitions[ledBy1];

  // 8 s later everyone but 1 heartbeats; nothing is fenced yet. At 9 s broker 1's session lapses.
  assert.deepEqual(h.advance(8000, [2, 3]), []);
  assert.deepEqual(h.advance(1000, [2, 3]), [1]);
  assert.equal(h.image.brokers.get(1)?.fenced, true);
  const after = h.image.topic('orders')!.partitions[ledBy1];
  const expected = before.replicas.find((id) => id !== 1 && before.isr.includes(id));
  assert.equal(after.leader, expected);
  assert.equal(after.leaderEpoch, before.leaderEpoch + 1);
  assert.ok(after.partitionEpoch > before.partitionEpoch);
  assert.ok(!after.isr.includes(1), 'the fenced broker left the ISR');
  // Partitions broker 1 only followed lost it from the ISR without a leader change.
  for (const [i, p] of h.image.topic('orders')!.partitions.entries()) {
    assert.ok(!p.isr.includes(1), `partition ${i}`);
    if (i !== ledBy1)
      assert.equal(p.leaderEpoch, t.partitions[i].leaderEpoch, `partition ${i} kept its leader epoch`);
  }
  checkImage(h.image);
});

test('a broker fenced for silence is unfenced only once it has applied its fencing and the leaderships it lost (issue 13, chaos seed 13000)', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  h.run((c) => c.createTopics([{ name: 'orders', partitions: 3, replicationFactor: 3 }]));
  const before = h.offset;
  // Broker 1 is cut off (it goes on running, its image stuck at `before`): fenced, its partitions move.
  assert.deepEqual(h.advance(9000, [2, 3]), [1]);
  const fencedAt = h.offset;
  assert.ok(fencedAt > before);
  // The network heals: its first heartbeat reports the image it had when cut off. Unfencing it now would
  // give it a leader lease while it still believes it leads what moved away.
  const stale = h.heartbeat(1, false, before);
  assert.equal(stale.isFenced, true);
  assert.equal(stale.isCaughtUp, false);
  assert.equal(h.image.brokers.get(1)?.fenced, true);
  const current = h.heartbeat(1, false, fencedAt);
  assert.equal(current.isFenced, false);
  assert.equal(h.image.brokers.get(1)?.fenced, false);
});

test('the last ISR member going away leaves the partition offline, and it leads again when it returns', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  h.join(1);
  h.join(2);
  h.run((c) => c.createTopics([{ name: 'solo', assignments: [[1]] }]));
  assert.equal(h.image.topic('solo')!.partitions[0].leader, 1);
  assert.deepEqual(h.advance(9000, [2]), [1]);
  const offline = h.image.topic('solo')!.partitions[0];
  assert.equal(offline.leader, NO_LEADER);
  assert.deepEqual(offline.isr, [1], 'the last member stays in the ISR: it holds every committed record');
  // Broker 1 comes back (a new incarnation after a restart), catches up and is unfenced: it leads again.
  h.join(1, null, 'inc-1-restarted');
  const back = h.image.topic('solo')!.partitions[0];
  assert.equal(back.leader, 1);
  assert.equal(back.leaderEpoch, offline.leaderEpoch + 1);
});

test('no unclean election unless the topic allows it; then the first live replica outside the ISR leads alone', () => {
  // The validator accepts a boolean in any case and with spaces around it; the election reads it alike.
  for (const value of [undefined, 'false', ' FALSE', 'true', 'TRUE', ' true ', 'True']) {
    const unclean = value?.trim().toLowerCase() === 'true';
    const h = new Harness({ sessionTimeoutMs: 9000 });
    for (const id of [1, 2]) h.join(id);
    const configs: Record<string, string> =
      value === undefined ? {} : { 'unclean.leader.election.enable': value };
    h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]], configs }]));
    const tid = h.image.topic('t')!.id;
    // Broker 2 falls out of the ISR (the leader says so), then broker 1 dies.
    const p = h.image.topic('t')!.partitions[0];
    h.run((c) =>
      c.alterPartition({
        brokerId: 1,
        brokerEpoch: h.image.brokers.get(1)!.epoch,
        topicId: tid,
        partition: 0,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        newIsr: [1],
      }),
    );
    assert.deepEqual(h.advance(9000, [2]), [1]);
    const q = h.image.topic('t')!.partitions[0];
    assert.equal(q.leader === 2, unclean, `unclean.leader.election.enable=${JSON.stringify(value)}`);
    if (unclean) {
      assert.equal(q.leader, 2);
      assert.deepEqual(q.isr, [2]);
    } else {
      assert.equal(q.leader, NO_LEADER);
      assert.deepEqual(q.isr, [1]);
    }
  }
});

test('a cluster-wide unclean default applies to topics that do not set it, and a bad value is refused', () => {
  const h = new Harness();
  h.join(1);
  const [bad] = h.run((c) =>
    c.alterConfigs([
      { resourceType: 'broker', resourceName: '', changes: { 'unclean.leader.election.enable': 'yes' } },
    ]),
  );
  assert.ok(bad.error && code('INVALID_CONFIG')(bad.error));
  const [ok] = h.run((c) =>
    c.alterConfigs([
      { resourceType: 'broker', resourceName: '', changes: { 'unclean.leader.election.enable': 'true' } },
    ]),
  );
  assert.equal(ok.error, undefined);
  assert.equal(h.image.config('broker', '').get('unclean.leader.election.enable'), 'true');
  // A topic that does not set the key follows the default: its out-of-sync replica may lead.
  h.join(2);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  const t = h.image.topic('t')!;
  const p = t.partitions[0];
  h.run((c) =>
    c.alterPartition({
      brokerId: 1,
      brokerEpoch: h.image.brokers.get(1)!.epoch,
      topicId: t.id,
      partition: 0,
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      newIsr: [1],
    }),
  );
  h.advance(9000, [2]);
  assert.equal(h.image.topic('t')!.partitions[0].leader, 2);
  // The topic's own setting wins over the default.
  h.run((c) =>
    c.alterConfigs([
      { resourceType: 'topic', resourceName: 't', changes: { 'unclean.leader.election.enable': 'false' } },
    ]),
  );
  assert.equal(h.image.config('topic', 't').get('unclean.leader.election.enable'), 'false');
});

test('controlled shutdown moves leaderships away, then lets the broker stop once the others have seen it', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  h.run((c) => c.createTopics([{ name: 'orders', partitions: 6, replicationFactor: 2 }]));
  const leadsOf = (id: number) => h.image.topic('orders')!.partitions.filter((p) => p.leader === id).length;
  assert.ok(leadsOf(1) > 0);
  const first = h.heartbeat(1, true);
  assert.deepEqual(first, {
    isCaughtUp: true,
    isFenced: false,
    inControlledShutdown: true,
    shouldShutDown: false,
  });
  assert.equal(leadsOf(1), 0, 'every leadership moved at once');
  assert.equal(h.image.brokers.get(1)?.inControlledShutdown, true);
  const shutdownAt = h.offset;
  // Brokers 2 and 3 have not yet reported applying the move: broker 1 must wait.
  h.heartbeat(2, false, shutdownAt - 1);
  h.heartbeat(3, false, shutdownAt - 1);
  assert.equal(h.heartbeat(1, true).shouldShutDown, false);
  h.heartbeat(2, false, shutdownAt);
  h.heartbeat(3, false, shutdownAt);
  const last = h.heartbeat(1, true);
  assert.equal(last.shouldShutDown, true);
  assert.equal(h.image.brokers.get(1)?.fenced, true);
  // A broker in controlled shutdown may not join an ISR or receive new partitions.
  const [t] = h.run((c) => c.createTopics([{ name: 'later', partitions: 4, replicationFactor: 2 }]));
  assert.equal(t.error, undefined);
  for (const p of h.image.topic('later')!.partitions) assert.ok(!p.replicas.includes(1));
});

test('a broker leading nothing that asks to shut down is told to stop at once', () => {
  const h = new Harness();
  h.join(1);
  assert.equal(h.heartbeat(1, true).shouldShutDown, true);
  assert.equal(h.image.brokers.get(1)?.fenced, true);
});

test('createTopics: validation, defaults, placement limits and per-topic errors', () => {
  const h = new Harness({ defaultPartitions: 2, partitionsPerTopicMax: 100 });
  for (const id of [1, 2, 3]) h.join(id);
  const results = h.run((c) =>
    c.createTopics([
      { name: 'a' },
      { name: 'bad name' },
      { name: 'big', partitions: 101 },
      { name: 'rf4', partitions: 1, replicationFactor: 4 },
      { name: 'twice' },
      { name: 'twice' },
      { name: 'cfg', configs: { 'unclean.leader.election.enable': 'maybe' } },
      { name: 'manual', assignments: [[1, 2], [2, 3], [3]] },
      { name: 'manual2', assignments: [[1, 7]] },
      { name: 'c', partitions: 3, replicationFactor: 3, configs: { 'retention.ms': '1000' } },
    ]),
  );
  const byName = (n: string) => results.filter((r) => r.name === n);
  assert.equal(byName('a')[0].error, undefined);
  assert.equal(byName('a')[0].partitions, 2);
  assert.equal(byName('a')[0].replicationFactor, 1);
  assert.ok(code('INVALID_TOPIC_EXCEPTION')(byName('bad name')[0].error));
  assert.ok(code('INVALID_PARTITIONS')(byName('big')[0].error));
  const rf = byName('rf4')[0].error;
  assert.ok(code('INVALID_REPLICATION_FACTOR')(rf));
  assert.match(rf!.message, /replication factor 4 is larger than the 3 available/);
  for (const r of byName('twice')) assert.ok(code('INVALID_REQUEST')(r.error));
  assert.ok(code('INVALID_CONFIG')(byName('cfg')[0].error));
  assert.ok(code('INVALID_REPLICA_ASSIGNMENT')(byName('manual')[0].error), 'replica counts differ');
  assert.match(byName('manual2')[0].error!.message, /broker 7, which is not registered/);
  assert.equal(byName('c')[0].error, undefined);
  assert.equal(h.image.config('topic', 'c').get('retention.ms'), '1000');
  assert.deepEqual([...h.image.topicsByName.keys()].sort(), ['a', 'c']);
  const [again] = h.run((c) => c.createTopics([{ name: 'a' }]));
  assert.ok(code('TOPIC_ALREADY_EXISTS')(again.error));
  checkImage(h.image);
});

test('successive topics continue the placement rotation, so small topics spread their leaders', () => {
  const h = new Harness();
  for (const id of [1, 2, 3]) h.join(id);
  for (let i = 0; i < 9; i++)
    h.run((c) => c.createTopics([{ name: `t${i}`, partitions: 1, replicationFactor: 2 }]));
  const leaders = new Map<number, number>();
  const replicas = new Map<number, number>();
  for (const t of h.image.topicsById.values()) {
    const p = t.partitions[0];
    leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
    for (const r of p.replicas) replicas.set(r, (replicas.get(r) ?? 0) + 1);
  }
  assert.deepEqual([...leaders.values()], [3, 3, 3]);
  assert.deepEqual([...replicas.values()], [6, 6, 6]);
});

test('a creation too large for one batch of records is refused, and the others in the request still made', () => {
  const h = new Harness();
  h.join(1);
  const [big, small] = h.run((c) =>
    c.createTopics([
      { name: 'big', partitions: 6000 },
      { name: 'small', partitions: 2 },
    ]),
  );
  assert.ok(code('POLICY_VIOLATION')(big.error));
  assert.match(big.error!.message, /recordsPerBatchMax/);
  assert.equal(small.error, undefined);
  assert.equal(h.image.topic('big'), undefined);
  assert.equal(h.image.topic('small')?.partitions.length, 2);
});

test('a replication factor above the unfenced brokers is refused, counting only unfenced ones', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  for (const id of [1, 2, 3]) h.join(id);
  h.advance(9000, [1, 2]);
  const [r] = h.run((c) => c.createTopics([{ name: 't', replicationFactor: 3 }]));
  assert.ok(code('INVALID_REPLICATION_FACTOR')(r.error));
  assert.match(r.error!.message, /the 2 available/);
  const [ok] = h.run((c) => c.createTopics([{ name: 't', replicationFactor: 2 }]));
  assert.equal(ok.error, undefined);
});

test('deleteTopics removes the topic and its configs; unknown names are reported one by one', () => {
  const h = new Harness();
  h.join(1);
  h.run((c) => c.createTopics([{ name: 'x', configs: { 'retention.ms': '5' } }]));
  const results = h.run((c) => c.deleteTopics(['x', 'nope', 'x']));
  assert.equal(results[0].error, undefined);
  assert.ok(code('UNKNOWN_TOPIC_OR_PARTITION')(results[1].error));
  assert.equal(results[2].error, undefined, 'a repeated name is deleted once');
  assert.equal(h.image.topic('x'), undefined);
  assert.equal(h.image.config('topic', 'x').size, 0);
  // The name can be used again, with a new id.
  const [again] = h.run((c) => c.createTopics([{ name: 'x' }]));
  assert.notEqual(again.topicId, results[0].topicId);
});

test('alterConfigs is incremental: set, delete, no-op changes make no records, unknown topics refused', () => {
  const h = new Harness();
  h.join(1);
  h.run((c) => c.createTopics([{ name: 'x', configs: { 'retention.ms': '5' } }]));
  const before = h.log.length;
  h.run((c) =>
    c.alterConfigs([{ resourceType: 'topic', resourceName: 'x', changes: { 'retention.ms': '5' } }]),
  );
  assert.equal(h.log.length, before, 'setting the same value commits nothing');
  const res = h.run((c) =>
    c.alterConfigs([
      { resourceType: 'topic', resourceName: 'x', changes: { 'retention.ms': null, 'segment.ms': '10' } },
      { resourceType: 'topic', resourceName: 'nope', changes: { a: 'b' } },
      { resourceType: 'broker', resourceName: 'node-1', changes: { a: 'b' } },
    ]),
  );
  assert.equal(res[0].error, undefined);
  assert.ok(code('UNKNOWN_TOPIC_OR_PARTITION')(res[1].error));
  assert.ok(code('INVALID_REQUEST')(res[2].error));
  assert.deepEqual([...h.image.config('topic', 'x')], [['segment.ms', '10']]);
});

test('producer-id blocks follow one another and are never handed out twice', () => {
  const h = new Harness();
  const e1 = h.join(1);
  const e2 = h.join(2);
  const a = h.run((c) => c.allocateProducerIds(1, e1));
  const b = h.run((c) => c.allocateProducerIds(2, e2));
  const c2 = h.run((c) => c.allocateProducerIds(1, e1));
  assert.deepEqual(a, { firstProducerId: 0, size: 1000 });
  assert.deepEqual(b, { firstProducerId: 1000, size: 1000 });
  assert.deepEqual(c2, { firstProducerId: 2000, size: 1000 });
  assert.equal(h.image.producerIds.nextProducerId, 3000);
  assert.throws(() => h.controller.allocateProducerIds(1, e1 + 100), code('STALE_BROKER_EPOCH'));
});

test('alterPartition is guarded by the leader epoch and the partition epoch', () => {
  const h = new Harness();
  for (const id of [1, 2, 3]) h.join(id);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2, 3]] }]));
  const tid = h.image.topic('t')!.id;
  const p = h.image.topic('t')!.partitions[0];
  const epochOf = (id: number) => h.image.brokers.get(id)!.epoch;
  const req = {
    brokerId: 1,
    brokerEpoch: epochOf(1),
    topicId: tid,
    partition: 0,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch,
    newIsr: [1, 2],
  };
  const shrunk = h.run((c) => c.alterPartition(req));
  assert.deepEqual(shrunk.isr, [1, 2]);
  assert.equal(shrunk.partitionEpoch, p.partitionEpoch + 1);
  assert.equal(shrunk.leaderEpoch, p.leaderEpoch, 'an ISR change keeps the leader epoch');
  // The same request again is based on the old partition epoch.
  assert.throws(() => h.controller.alterPartition(req), code('INVALID_UPDATE_VERSION'));
  const next = { ...req, partitionEpoch: shrunk.partitionEpoch };
  assert.throws(
    () => h.controller.alterPartition({ ...next, leaderEpoch: p.leaderEpoch - 1 }),
    code('FENCED_LEADER_EPOCH'),
  );
  assert.throws(
    () => h.controller.alterPartition({ ...next, brokerId: 2, brokerEpoch: epochOf(2) }),
    (e: unknown) => code('INVALID_REQUEST')(e) && /not the leader/.test((e as Error).message),
  );
  assert.throws(() => h.controller.alterPartition({ ...next, newIsr: [1, 4] }), code('INELIGIBLE_REPLICA'));
  assert.throws(() => h.controller.alterPartition({ ...next, newIsr: [2] }), code('INVALID_REQUEST'));
  assert.throws(
    () => h.controller.alterPartition({ ...next, topicId: '00000000-0000-4000-8000-0000000000ff' }),
    code('UNKNOWN_TOPIC_OR_PARTITION'),
  );
  // Growing back to include a fenced broker is refused.
  h.nowMs += 9000;
  h.heartbeat(1);
  h.heartbeat(2);
  h.run((c) => c.tick(h.nowMs));
  assert.equal(h.image.brokers.get(3)?.fenced, true);
  assert.throws(
    () => h.controller.alterPartition({ ...next, newIsr: [1, 2, 3] }),
    code('INELIGIBLE_REPLICA'),
  );
  // An unchanged ISR commits nothing and answers the current state.
  const logLength = h.log.length;
  const same = h.run((c) => c.alterPartition({ ...next, newIsr: [1, 2] }));
  assert.equal(h.log.length, logLength);
  assert.equal(same.partitionEpoch, shrunk.partitionEpoch);
});

test('unregistering a broker moves its leaderships and forgets it', () => {
  const h = new Harness();
  h.join(1);
  h.join(2);
  h.run((c) => c.createTopics([{ name: 't', assignments: [[1, 2]] }]));
  h.run((c) => c.unregisterBroker(1));
  assert.equal(h.image.brokers.has(1), false);
  assert.equal(h.image.topic('t')!.partitions[0].leader, 2);
  assert.throws(() => h.controller.unregisterBroker(1), code('BROKER_ID_NOT_REGISTERED'));
});

test('a controller taking over gives every registered broker a fresh session', () => {
  const h = new Harness({ sessionTimeoutMs: 9000 });
  h.join(1);
  h.nowMs = 100_000;
  const next = new Harness({ sessionTimeoutMs: 9000 }, h.image);
  next.nowMs = 100_000;
  // Constructed at time 0 in the harness: fresh sessions from then; ticking at 8 s fences nobody.
  assert.deepEqual(next.run((c) => c.tick(8000)).fenced, []);
  assert.deepEqual(next.run((c) => c.tick(9000)).fenced, [1]);
  assert.equal(next.controller.nextDeadlineMs(), null);
});
