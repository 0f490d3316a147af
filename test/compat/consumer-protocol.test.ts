/**
 * KIP-848 consumer groups (`group.protocol=consumer`, ConsumerGroupHeartbeat) with real clients
 * against the real broker process: @confluentinc/kafka-javascript (librdkafka 2.15) and
 * @platformatic/kafka. Two members split the partitions, one leaves and the other takes all, offsets
 * are committed with the member epoch, ConsumerGroupDescribe (librdkafka's describeGroups) shows the
 * group, and after a broker restart the group's state and offsets are back.
 *
 * The broker tells members to heartbeat every 200 ms (`consumer_groups.consumer_heartbeat_interval`)
 * so that reconciliation, which advances one heartbeat at a time, takes well under a second.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import type { KafkaJS as KafkaJSTypes } from '@confluentinc/kafka-javascript';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { BrokerClient } from '../../src/client/index.ts';
import { kafkaCaller } from '../kafka/helpers.ts';
import { CompatBroker, expectedValues, isSplit, waitFor, within } from './helpers.ts';

const { KafkaJS } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
  KafkaJS: typeof KafkaJSTypes;
};
const { Kafka, logLevel } = KafkaJS;

let broker: CompatBroker;
let kafka: KafkaJSTypes.Kafka;
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  broker = await CompatBroker.start({
    BROKER_CONSUMER_GROUPS_CONSUMER_HEARTBEAT_INTERVAL: '200ms',
    BROKER_CONSUMER_GROUPS_CONSUMER_SESSION_TIMEOUT: '10s',
  });
  kafka = new Kafka({
    kafkaJS: {
      brokers: [broker.kafkaAddress],
      clientId: 'compat-consumer-protocol',
      logLevel: process.env.COMPAT_DEBUG ? logLevel.DEBUG : logLevel.NOTHING,
    },
  });
});

after(async () => {
  for (const close of closers.reverse()) await within('close', close(), 10_000).catch(() => {});
  await broker.close();
});

interface Seen {
  partition: number;
  offset: number;
  value: string;
}

async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
}

async function produce(topic: string, values: string[], partitions: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await within(
    'produce',
    producer.send({ topic, messages: values.map((value, i) => ({ value, partition: i % partitions })) }),
  );
  await producer.disconnect();
}

async function confluentMember(
  groupId: string,
  topic: string,
  subscription: string | RegExp = topic,
  extra: Record<string, unknown> = {},
) {
  const seen: Seen[] = [];
  const c = kafka.consumer({
    kafkaJS: { groupId, fromBeginning: true, autoCommit: false },
    'group.protocol': 'consumer',
    'fetch.wait.max.ms': 200,
    'topic.metadata.refresh.interval.ms': 1000,
    ...extra,
  });
  closers.push(() => c.disconnect());
  await c.connect();
  await c.subscribe({ topics: [subscription] });
  await c.run({
    eachMessage: async ({ partition, message }) => {
      seen.push({ partition, offset: Number(message.offset), value: message.value?.toString() ?? '' });
    },
  });
  const owned = () =>
    c
      .assignment()
      .filter((tp) => tp.topic === topic)
      .map((tp) => tp.partition)
      .sort((x, y) => x - y);
  const commit = async () => {
    const next = new Map<number, number>();
    for (const s of seen) next.set(s.partition, Math.max(next.get(s.partition) ?? 0, s.offset + 1));
    await c.commitOffsets([...next].map(([partition, o]) => ({ topic, partition, offset: String(o) })));
  };
  return { c, seen, owned, commit };
}

async function committed(groupId: string, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    return JSON.stringify(
      offsets[0]!.partitions.map((p) => [p.partition, Number(p.offset)]).sort((x, y) => x[0]! - y[0]!),
    );
  } finally {
    await admin.disconnect();
  }
}

test('confluent-javascript, group.protocol=consumer: two members split, one leaves, commits survive a restart', async () => {
  const topic = 'kip848-ckjs';
  const groupId = 'kip848-ckjs';
  const partitions = 4;
  await createTopic(topic, partitions);
  const a = await confluentMember(groupId, topic);
  await waitFor('a owns every partition', () => isSplit([a.owned()], partitions), 30_000);
  const b = await confluentMember(groupId, topic);
  await waitFor('a and b split the partitions', () => isSplit([a.owned(), b.owned()], partitions), 30_000);
  assert.ok(a.owned().length > 0 && b.owned().length > 0, 'each member owns some');

  const first = expectedValues('first', 4 * partitions);
  await produce(topic, first, partitions);
  await waitFor('both consume batch 1', () => a.seen.length + b.seen.length >= first.length);
  assert.deepEqual([...a.seen, ...b.seen].map((s) => s.value).sort(), [...first].sort());
  for (const s of a.seen) assert.ok(a.owned().includes(s.partition), `a read ${s.partition}, which it owns`);
  for (const s of b.seen) assert.ok(b.owned().includes(s.partition), `b read ${s.partition}, which it owns`);

  // ConsumerGroupDescribe, through librdkafka's DescribeConsumerGroups.
  const admin = kafka.admin();
  await admin.connect();
  const described = await admin.describeGroups([groupId]);
  await admin.disconnect();
  const g = described.groups[0]!;
  assert.equal(g.groupId, groupId);
  assert.equal(g.members.length, 2);
  // Fields that only ConsumerGroupDescribe carries: the group's server assignor and each member's target.
  const raw = g as unknown as {
    protocolType: string;
    partitionAssignor: string;
    members: { targetAssignment?: { topicPartitions: { partition: number }[] } }[];
  };
  assert.equal(raw.protocolType, 'consumer');
  assert.equal(raw.partitionAssignor, 'uniform');
  assert.deepEqual(
    raw.members.flatMap((m) => m.targetAssignment!.topicPartitions.map((tp) => tp.partition)).sort(),
    [...Array(partitions).keys()],
  );

  // Commits carry the member epoch (OffsetCommit v9+); the broker checks it.
  await a.commit();
  await b.commit();
  const expected = JSON.stringify([...Array(partitions).keys()].map((p) => [p, 4]));
  await waitFor(`committed ${expected}`, async () => (await committed(groupId, topic)) === expected);

  // b leaves (epoch -1): a takes everything and reads what is produced next from all partitions.
  await b.c.disconnect();
  await waitFor('a owns every partition again', () => isSplit([a.owned()], partitions), 30_000);
  const second = expectedValues('second', 2 * partitions);
  await produce(topic, second, partitions);
  const readSecond = () => a.seen.filter((s) => s.value.startsWith('second')).length;
  await waitFor('a consumes batch 2', () => readSecond() >= second.length);
  assert.deepEqual(
    new Set(a.seen.filter((s) => s.value.startsWith('second')).map((s) => s.partition)),
    new Set([...Array(partitions).keys()]),
  );
  await a.commit();
  // Partitions added to the topic start a new group epoch: a is assigned them too.
  const grpc = await BrokerClient.connect(broker.grpcAddress);
  try {
    await grpc.createPartitions(topic, partitions + 2);
  } finally {
    grpc.close();
  }
  await waitFor('a owns the added partitions', () => isSplit([a.owned()], partitions + 2), 30_000);
  await a.c.disconnect();
  // The admin lists the partitions with commits; the added ones have none.
  const after2 = JSON.stringify([...Array(partitions).keys()].map((p) => [p, 6]));
  let last = '';
  await waitFor(`committed ${after2}`, async () => (last = await committed(groupId, topic)) === after2).catch(
    (err) => assert.fail(`${err}; last seen ${last}`),
  );

  await broker.restart();

  assert.equal(await committed(groupId, topic), after2, 'the offsets survived the restart');
  const third = expectedValues('third', partitions);
  await produce(topic, third, partitions);
  const c = await confluentMember(groupId, topic);
  await waitFor('c resumes at the committed offsets', () => c.seen.length >= third.length, 30_000);
  assert.deepEqual(c.seen.map((s) => s.value).sort(), [...third].sort());
  assert.ok(c.seen.every((s) => s.offset >= 6));
  await c.c.disconnect();
});

test('confluent-javascript, group.protocol=consumer: a regex subscription follows topics created later', async () => {
  const groupId = 'kip848-regex';
  await createTopic('kip848-re-one', 2);
  await createTopic('kip848-other', 1);
  const m = await confluentMember(groupId, 'kip848-re-one', /^kip848-re-.*/);
  const topicsOwned = () => [...new Set(m.c.assignment().map((tp) => `${tp.topic}-${tp.partition}`))].sort();
  await waitFor(
    'the matching topic is assigned',
    () => topicsOwned().join() === 'kip848-re-one-0,kip848-re-one-1',
    30_000,
  );
  await createTopic('kip848-re-two', 1);
  await waitFor(
    'the topic created later is assigned too',
    () => topicsOwned().join() === 'kip848-re-one-0,kip848-re-one-1,kip848-re-two-0',
    30_000,
  );
  // librdkafka sent the regex itself (ConsumerGroupHeartbeat v1's SubscribedTopicRegex), which the
  // broker resolves.
  const raw = await kafkaCaller(broker.kafkaPort);
  try {
    const d = await raw.call('ConsumerGroupDescribe', 1, {
      groupIds: [groupId],
      includeAuthorizedOperations: false,
    });
    // librdkafka sends its regexes joined, each in parentheses: `(^kip848-re-.*)`.
    assert.match(d.groups[0].members[0].subscribedTopicRegex, /\^kip848-re-\.\*/);
  } finally {
    raw.close();
  }
  await m.c.disconnect();
});

test('confluent-javascript, group.protocol=consumer: a static member comes back to its partitions without a new group epoch', async () => {
  const topic = 'kip848-static';
  const groupId = 'kip848-static';
  await createTopic(topic, 4);
  const raw = await kafkaCaller(broker.kafkaPort);
  const describe = async () =>
    (await raw.call('ConsumerGroupDescribe', 1, { groupIds: [groupId], includeAuthorizedOperations: false }))
      .groups[0];
  try {
    const a = await confluentMember(groupId, topic, topic, { 'group.instance.id': 'static-a' });
    const b = await confluentMember(groupId, topic, topic, { 'group.instance.id': 'static-b' });
    await waitFor('a and b split the partitions', () => isSplit([a.owned(), b.owned()], 4), 30_000);
    await waitFor('the group is stable', async () => (await describe()).groupState === 'Stable');
    const before = await describe();
    const bOwned = b.owned();
    // A static member's close is a temporary leave (epoch -2): its partitions wait for it.
    await b.c.disconnect();
    await waitFor('b left for now', async () =>
      (await describe()).members.some(
        (m: { instanceId: string; memberEpoch: number }) =>
          m.instanceId === 'static-b' && m.memberEpoch === -2,
      ),
    );
    const b2 = await confluentMember(groupId, topic, topic, { 'group.instance.id': 'static-b' });
    await waitFor('the new b owns what b owned', () => b2.owned().join() === bOwned.join(), 30_000);
    const after = await describe();
    assert.equal(after.groupEpoch, before.groupEpoch, 'no rebalance');
    assert.equal(after.members.length, 2);
    assert.deepEqual(
      a.owned(),
      [0, 1, 2, 3].filter((p) => !bOwned.includes(p)),
    );
    await a.c.disconnect();
    await b2.c.disconnect();
  } finally {
    raw.close();
  }
});

test('@platformatic/kafka, groupProtocol consumer: two members split and the survivor takes all', async () => {
  const topic = 'kip848-platformatic';
  const groupId = 'kip848-platformatic';
  const partitions = 3;
  await createTopic(topic, partitions);
  const member = async () => {
    const consumer = new Consumer({
      clientId: 'compat-kip848-platformatic',
      bootstrapBrokers: [broker.kafkaAddress],
      groupId,
      groupProtocol: 'consumer',
      deserializers: stringDeserializers,
      maxWaitTime: 300,
    });
    closers.push(() => consumer.close(true));
    const stream = await within(
      'consume',
      consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false }),
    );
    const seen: Seen[] = [];
    stream.on('data', (m) => seen.push({ partition: m.partition, offset: Number(m.offset), value: m.value }));
    const owned = () => (consumer.assignments ?? []).flatMap((x) => x.partitions).sort((x, y) => x - y);
    return { consumer, seen, owned };
  };
  const a = await member();
  await waitFor('a owns every partition', () => isSplit([a.owned()], partitions), 30_000);
  const b = await member();
  await waitFor('a and b split the partitions', () => isSplit([a.owned(), b.owned()], partitions), 30_000);
  assert.ok(a.owned().length > 0 && b.owned().length > 0);
  await b.consumer.close(true);
  await waitFor('a owns every partition again', () => isSplit([a.owned()], partitions), 30_000);
  const values = expectedValues('p', 3 * partitions);
  const p = new Producer({
    clientId: 'compat-kip848-platformatic-producer',
    bootstrapBrokers: [broker.kafkaAddress],
    serializers: stringSerializers,
  });
  closers.push(() => p.close());
  await p.send({ messages: values.map((value, i) => ({ topic, partition: i % partitions, value })) });
  await waitFor('a reads every partition', () => a.seen.length >= values.length);
  assert.deepEqual(new Set(a.seen.map((s) => s.partition)), new Set([...Array(partitions).keys()]));
  // ConsumerGroupDescribe through @platformatic/kafka's admin.
  const admin = new Admin({ clientId: 'compat-kip848-admin', bootstrapBrokers: [broker.kafkaAddress] });
  closers.push(() => admin.close());
  const groups = await admin.listGroups({ types: ['consumer'] });
  assert.ok(
    [...groups.values()].some((x: { id: string }) => x.id === groupId),
    'ListGroups v5 lists it as a consumer group',
  );
  await a.consumer.close(true);
});
