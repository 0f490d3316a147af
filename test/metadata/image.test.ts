/**
 * The image, the delta, snapshots and the migration of today's meta/ files (issue 11): invariants are
 * asserted on replay, structure is shared, local changes name what a node must lead, follow and
 * delete, snapshots refuse damage, and a legacy topics.json becomes a one-node cluster's records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrokerError } from '../../src/errors.ts';
import { applyRecords, MetadataDelta } from '../../src/metadata/delta.ts';
import { checkImage, MetadataImage } from '../../src/metadata/image.ts';
import { type LegacyTopic, migrateLegacyMetadata } from '../../src/metadata/migrate.ts';
import type { MetadataRecord } from '../../src/metadata/records.ts';
import { decodeSnapshot, encodeSnapshot, imageToRecords } from '../../src/metadata/snapshot.ts';
import { listenersOf, uuidOf } from '../helpers/metadata.ts';

const A = uuidOf(1);
const B = uuidOf(2);

function broker(id: number, epoch = 1, fenced = false): MetadataRecord {
  return {
    type: 'RegisterBroker',
    brokerId: id,
    incarnationId: `inc-${id}`,
    brokerEpoch: epoch,
    listeners: listenersOf(id),
    rack: null,
    controllerEligible: true,
    fenced,
    inControlledShutdown: false,
  };
}

function partition(topicId: string, i: number, replicas: number[], leader = replicas[0]): MetadataRecord {
  return {
    type: 'Partition',
    topicId,
    partition: i,
    replicas,
    isr: replicas,
    leader,
    leaderEpoch: 0,
    partitionEpoch: 0,
  };
}

const base = applyRecords(
  MetadataImage.EMPTY,
  [
    broker(1),
    broker(2),
    broker(3),
    { type: 'Topic', name: 'a', topicId: A },
    partition(A, 0, [1, 2]),
    partition(A, 1, [2, 3]),
    { type: 'Topic', name: 'b', topicId: B },
    partition(B, 0, [3, 1]),
    { type: 'Config', resourceType: 'topic', resourceName: 'b', key: 'retention.ms', value: '5' },
  ],
  { offset: 10, epoch: 2 },
);

test('an image indexes topics by id and name and records its provenance', () => {
  checkImage(base);
  assert.deepEqual(base.provenance, { offset: 10, epoch: 2 });
  assert.equal(base.topic('a')?.id, A);
  assert.equal(base.topicsById.get(B)?.name, 'b');
  assert.deepEqual(base.partition(A, 1)?.replicas, [2, 3]);
  assert.equal(base.partitionCount, 3);
  assert.equal(base.config('topic', 'b').get('retention.ms'), '5');
  assert.ok(Object.isFrozen(base) && Object.isFrozen(base.partition(A, 0)));
});

test('a delta shares what it did not change and bumps epochs by the rules', () => {
  const delta = new MetadataDelta(base);
  delta.replay({ type: 'PartitionChange', topicId: A, partition: 0, isr: [1] });
  delta.replay({ type: 'PartitionChange', topicId: A, partition: 1, leader: 3 });
  const next = delta.apply({ offset: 11, epoch: 2 });
  assert.equal(next.topicsById.get(B), base.topicsById.get(B), 'topic b is shared');
  assert.equal(next.brokers, base.brokers, 'the broker map is shared');
  assert.notEqual(next.topicsById.get(A), base.topicsById.get(A));
  const p0 = next.partition(A, 0)!;
  const p1 = next.partition(A, 1)!;
  assert.deepEqual(
    [p0.leaderEpoch, p0.partitionEpoch],
    [0, 1],
    'an ISR change bumps only the partition epoch',
  );
  assert.deepEqual([p1.leader, p1.leaderEpoch, p1.partitionEpoch], [3, 1, 1]);
  assert.equal(base.partition(A, 0)!.isr.length, 2, 'the base image did not change');
  assert.throws(() => delta.apply({ offset: 9, epoch: 2 }), /before the base image/);
});

test('replay asserts the invariants: leader in ISR within replicas, unique names, epochs forward', () => {
  const bad: [MetadataRecord[], RegExp][] = [
    [[{ type: 'PartitionChange', topicId: A, partition: 0, leader: 3 }], /leader 3 is not in the ISR/],
    [[{ type: 'PartitionChange', topicId: A, partition: 0, isr: [1, 3] }], /ISR member 3 is not a replica/],
    [[{ type: 'PartitionChange', topicId: A, partition: 0, isr: [] }], /empty ISR/],
    [[{ type: 'PartitionChange', topicId: A, partition: 5, isr: [1] }], /unknown partition/],
    [[{ type: 'Topic', name: 'a', topicId: uuidOf(9) }], /a second topic named a/],
    [[{ type: 'Topic', name: 'z', topicId: A }], /a second topic with id/],
    [[partition(uuidOf(9), 0, [1])], /unknown topic/],
    [[partition(A, 3, [1])], /leaves a gap/],
    [[partition(A, 0, [1])], /partition epoch did not advance/],
    [[broker(1, 0)], /epoch went back/],
    [
      [{ ...broker(1, 1), incarnationId: 'other' } as MetadataRecord],
      /new incarnation of broker 1 kept epoch/,
    ],
    [[{ type: 'BrokerRegistrationChange', brokerId: 1, brokerEpoch: 5, fenced: true }], /has epoch 1, not 5/],
    [
      [{ type: 'Config', resourceType: 'topic', resourceName: 'nope', key: 'k', value: 'v' }],
      /unknown topic nope/,
    ],
    [[{ type: 'ProducerIds', brokerId: 1, brokerEpoch: 1, nextProducerId: 0 }], /producer ids went back/],
    [[{ type: 'Topic', name: 'empty', topicId: uuidOf(8) }], /created without partitions/],
  ];
  for (const [records, message] of bad) {
    assert.throws(
      () => applyRecords(base, records, base.provenance),
      (err: unknown) => err instanceof assert.AssertionError && message.test(err.message),
      String(message),
    );
  }
});

test('localChanges: leaders, followers and deletes for one node, Kafka’s TopicsDelta.localChanges', () => {
  const delta = new MetadataDelta(base);
  // Broker 1 becomes leader of b-0, leaves a-0's replicas, and a new topic c puts it as a follower.
  delta.replay({ type: 'PartitionChange', topicId: B, partition: 0, leader: 1 });
  delta.replay({ type: 'PartitionChange', topicId: A, partition: 0, replicas: [2, 3], isr: [2], leader: 2 });
  delta.replay({ type: 'Topic', name: 'c', topicId: uuidOf(3) });
  delta.replay(partition(uuidOf(3), 0, [2, 1]));
  const changes = delta.localChanges(1);
  assert.deepEqual(
    changes.leaders.map((p) => [p.topicName, p.partition, p.isNew]),
    [['b', 0, false]],
  );
  assert.deepEqual(
    changes.followers.map((p) => [p.topicName, p.partition, p.isNew, p.registration.leader]),
    [['c', 0, true, 2]],
  );
  assert.deepEqual(changes.deletes, [{ topicId: A, topicName: 'a', partition: 0 }]);
  // Broker 3 is unaffected by c, gains a-0 as a follower, and keeps following b-0 under a new leader.
  const three = delta.localChanges(3);
  assert.deepEqual(three.followers.map((p) => [p.topicName, p.partition, p.isNew]).sort(), [
    ['a', 0, true],
    ['b', 0, false],
  ]);
  // Removing a topic deletes every local replica of it.
  const removal = new MetadataDelta(base);
  removal.replay({ type: 'RemoveTopic', topicId: A });
  assert.deepEqual(
    removal.localChanges(2).deletes.map((d) => d.partition),
    [0, 1],
  );
  const after = removal.apply();
  assert.equal(after.topic('a'), undefined);
  assert.equal(after.topicsById.has(A), false);
});

test('snapshots round-trip, carry the provenance, and refuse truncation and damage', () => {
  const withIds = applyRecords(
    base,
    [{ type: 'ProducerIds', brokerId: 2, brokerEpoch: 1, nextProducerId: 3000 }],
    {
      offset: 12,
      epoch: 3,
    },
  );
  const bytes = encodeSnapshot(withIds);
  const restored = decodeSnapshot(bytes);
  assert.deepStrictEqual(restored, withIds);
  assert.deepEqual(restored.provenance, { offset: 12, epoch: 3 });
  assert.deepStrictEqual(decodeSnapshot(encodeSnapshot(MetadataImage.EMPTY)), MetadataImage.EMPTY);
  // The records rebuild the image from empty.
  assert.deepStrictEqual(
    applyRecords(MetadataImage.EMPTY, imageToRecords(withIds), withIds.provenance),
    withIds,
  );
  const text = new TextDecoder().decode(bytes);
  const lines = text.split('\n');
  const damaged = [
    lines.slice(0, -1).join('\n'),
    text.replace('"offset":12', '"offset":"12"'),
    text.replace('"type":"Topic"', '"type":"Topik"'),
    `${text}\n${lines[1]}`,
  ];
  for (const d of damaged) {
    assert.throws(
      () => decodeSnapshot(new TextEncoder().encode(d)),
      (err: unknown) => isBrokerError(err, 'CORRUPT_MESSAGE') || err instanceof assert.AssertionError,
    );
  }
  assert.throws(
    () => decodeSnapshot(new TextEncoder().encode(lines.slice(0, -1).join('\n'))),
    /holds \d+ records; its header says/,
  );
});

test('migration turns topics.json and producer-ids.json into a one-node cluster’s records', () => {
  // The shape the single-node release wrote to topics.json.
  const legacy: LegacyTopic[] = [
    {
      name: 'orders',
      id: uuidOf(7),
      partitions: 3,
      replicationFactor: 1,
      configs: { 'retention.ms': '1000', 'cleanup.policy': 'compact' },
      createdMs: 1,
    },
    {
      name: '__consumer_offsets',
      id: uuidOf(8),
      partitions: 2,
      replicationFactor: 1,
      configs: {},
      createdMs: 2,
    },
  ];
  const asInput = legacy;
  const records = migrateLegacyMetadata({
    nodeId: 1,
    topicsJson: JSON.stringify({ version: 1, topics: asInput }, null, 2),
    producerIdsJson: JSON.stringify({ blockEnd: 4000 }),
    partitionsPerTopicMax: 100,
  });
  const image = applyRecords(MetadataImage.EMPTY, records, { offset: 0, epoch: 0 });
  checkImage(image);
  const orders = image.topic('orders')!;
  assert.equal(orders.id, uuidOf(7));
  assert.equal(orders.partitions.length, 3);
  for (const p of orders.partitions) {
    assert.deepEqual([p.replicas, p.isr, p.leader, p.leaderEpoch], [[1], [1], 1, 0]);
  }
  assert.deepEqual(Object.fromEntries(image.config('topic', 'orders')), {
    'cleanup.policy': 'compact',
    'retention.ms': '1000',
  });
  assert.equal(image.topic('__consumer_offsets')?.partitions.length, 2);
  assert.equal(
    image.producerIds.nextProducerId,
    4000,
    'ids handed out before the migration are never reused',
  );
  assert.deepEqual(migrateLegacyMetadata({ nodeId: 1, topicsJson: null, partitionsPerTopicMax: 1 }), []);
});

test('migration refuses a damaged or hostile topics.json with KAFKA_STORAGE_ERROR', () => {
  const cases: [string, RegExp][] = [
    ['{', /not valid JSON/],
    ['{"version":2,"topics":[]}', /not version 1/],
    ['{"version":1,"topics":[{"name":"a"}]}', /no name or id/],
    [
      `{"version":1,"topics":[{"name":"a","id":"${A}","partitions":1e9,"configs":{}}]}`,
      /1000000000 partitions/,
    ],
    [`{"version":1,"topics":[{"name":"a b","id":"${A}","partitions":1,"configs":{}}]}`, /may only use/],
    [`{"version":1,"topics":[{"name":"a","id":"not-a-uuid","partitions":1,"configs":{}}]}`, /lowercase UUID/],
    [
      `{"version":1,"topics":[{"name":"a","id":"${A}","partitions":1,"configs":{}},{"name":"a","id":"${B}","partitions":1,"configs":{}}]}`,
      /twice/,
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => migrateLegacyMetadata({ nodeId: 1, topicsJson: text, partitionsPerTopicMax: 100 }),
      (err: unknown) => isBrokerError(err, 'KAFKA_STORAGE_ERROR') && message.test(err.message),
      text,
    );
  }
  assert.throws(
    () =>
      migrateLegacyMetadata({
        nodeId: 1,
        topicsJson: null,
        producerIdsJson: '{"blockEnd":-1}',
        partitionsPerTopicMax: 1,
      }),
    /blockEnd -1/,
  );
});
