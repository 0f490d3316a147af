/**
 * @confluentinc/kafka-javascript 1.10.1 (librdkafka 2.15.1 inside, built by the test set-up) against the
 * real broker process (issue 16): the client Node teams are told to pick, and a current librdkafka,
 * which sends Metadata v12 with three trailing bytes (librdkafka #5049) and the newest versions of every
 * API. Metadata of all topics, every codec, a two-member classic group that rebalances, commits and
 * resumes after a broker restart, admin create / list / delete / create partitions, and idempotent
 * produce. (The package has no describe-configs; confluent-kafka-python's librdkafka covers it.)
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import type { KafkaJS as KafkaJSTypes } from '@confluentinc/kafka-javascript';
import { BrokerClient } from '../../src/client/index.ts';
import { CODECS, CompatBroker, expectedValues, isSplit, waitFor, within } from './helpers.ts';

// The package is CommonJS with a native addon; its KafkaJS-compatible API is the one it documents.
const { KafkaJS } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
  KafkaJS: typeof KafkaJSTypes;
};
const { Kafka, logLevel } = KafkaJS;
type Consumer = KafkaJSTypes.Consumer;

let broker: CompatBroker;
let kafka: KafkaJSTypes.Kafka;
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  broker = await CompatBroker.start();
  kafka = new Kafka({
    kafkaJS: {
      brokers: [broker.kafkaAddress],
      clientId: 'compat-confluent-javascript',
      logLevel: process.env.COMPAT_DEBUG ? logLevel.DEBUG : logLevel.NOTHING,
    },
  });
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await broker.close();
});

function track<T extends { disconnect(): Promise<void> }>(client: T): T {
  closers.push(() => client.disconnect());
  return client;
}

interface Seen {
  topic: string;
  partition: number;
  offset: number;
  value: string;
}

function consumer(groupId: string, extra: Record<string, unknown> = {}): Consumer {
  return track(
    kafka.consumer({
      kafkaJS: { groupId, fromBeginning: true, autoCommit: false, ...extra },
      'session.timeout.ms': 10_000,
      'heartbeat.interval.ms': 500,
      'fetch.wait.max.ms': 200,
      'topic.metadata.refresh.interval.ms': 1000,
    }),
  );
}

async function run(c: Consumer, into: Seen[]): Promise<void> {
  await c.run({
    eachMessage: async ({ topic, partition, message }) => {
      into.push({ topic, partition, offset: Number(message.offset), value: message.value?.toString() ?? '' });
    },
  });
}

test('confluent-javascript: admin lists all topics (Metadata v12 with trailing bytes), creates and deletes', async () => {
  const admin = track(kafka.admin());
  await within('admin connect', admin.connect());
  await within('create topic', admin.createTopics({ topics: [{ topic: 'ckjs-admin', numPartitions: 3 }] }));
  // listTopics asks for every topic: librdkafka 2.15 sends Metadata v12 with three bytes after the
  // body, which the broker used to answer by closing the connection.
  await waitFor('the topic is listed', async () => (await admin.listTopics()).includes('ckjs-admin'));
  const meta = await admin.fetchTopicMetadata({ topics: ['ckjs-admin'] });
  assert.deepEqual(meta[0]!.partitions.map((p) => p.partitionId).sort(), [0, 1, 2]);
  const grpc = await BrokerClient.connect(broker.grpcAddress);
  try {
    assert.equal((await grpc.describeTopic('ckjs-admin')).partitions, 3);
    await within('delete topic', admin.deleteTopics({ topics: ['ckjs-admin'] }));
    await waitFor('the topic is gone', async () => !(await admin.listTopics()).includes('ckjs-admin'));
    assert.ok(!(await grpc.listTopics()).some((x) => x.name === 'ckjs-admin'));
  } finally {
    grpc.close();
  }
  await admin.disconnect();
});

test('confluent-javascript: librdkafka AdminClient createPartitions grows a topic and is refused a shrink', async () => {
  // The package's librdkafka AdminClient (its KafkaJS-style admin has no createPartitions).
  const { AdminClient } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
    AdminClient: {
      create(conf: Record<string, unknown>): {
        createTopic(
          t: { topic: string; num_partitions: number; replication_factor: number },
          timeout: number,
          cb: (err: unknown) => void,
        ): void;
        createPartitions(topic: string, total: number, timeout: number, cb: (err: unknown) => void): void;
        disconnect(): void;
      };
    };
  };
  const admin = AdminClient.create({
    'bootstrap.servers': broker.kafkaAddress,
    'client.id': 'ckjs-partitions',
  });
  const call = (f: (cb: (err: unknown) => void) => void) =>
    new Promise<void>((resolve, reject) => f((err) => (err ? reject(err) : resolve())));
  const grpc = await BrokerClient.connect(broker.grpcAddress);
  try {
    await within(
      'create topic',
      call((cb) =>
        admin.createTopic({ topic: 'ckjs-grow', num_partitions: 2, replication_factor: 1 }, 10_000, cb),
      ),
    );
    await within(
      'create partitions',
      call((cb) => admin.createPartitions('ckjs-grow', 5, 10_000, cb)),
    );
    assert.equal((await grpc.describeTopic('ckjs-grow')).partitions, 5);
    await assert.rejects(
      call((cb) => admin.createPartitions('ckjs-grow', 3, 10_000, cb)),
      (err: { message?: string }) => /partition/i.test(String(err.message)),
    );
    assert.equal((await grpc.describeTopic('ckjs-grow')).partitions, 5);
  } finally {
    grpc.close();
    admin.disconnect();
  }
});

test('confluent-javascript: produce and consume with every codec', async () => {
  const admin = track(kafka.admin());
  await admin.connect();
  await admin.createTopics({ topics: CODECS.map((c) => ({ topic: `ckjs-codec-${c}`, numPartitions: 1 })) });
  await admin.disconnect();
  for (const codec of CODECS) {
    const producer = track(
      // The package's types name the snappy member `Snappy`, its code `SNAPPY`; the values are the codec names.
      kafka.producer({ kafkaJS: { compression: codec as KafkaJSTypes.CompressionTypes } }),
    );
    await producer.connect();
    await within(
      `produce ${codec}`,
      producer.send({
        topic: `ckjs-codec-${codec}`,
        messages: expectedValues(codec, 25).map((value, i) => ({ key: `k${i}`, value })),
      }),
    );
    await producer.disconnect();
    const batches = broker.storedBatches(`ckjs-codec-${codec}`, 0);
    assert.ok(batches.length > 0);
    assert.deepEqual(new Set(batches.map((b) => b.codec)), new Set([codec]), `stored codec for ${codec}`);
  }
  const seen: Seen[] = [];
  const c = consumer('ckjs-codecs');
  await c.connect();
  await c.subscribe({ topics: CODECS.map((codec) => `ckjs-codec-${codec}`) });
  await run(c, seen);
  await waitFor('every codec record consumed', () => seen.length >= 25 * CODECS.length);
  for (const codec of CODECS) {
    const values = seen.filter((s) => s.topic === `ckjs-codec-${codec}`);
    assert.deepEqual(
      values.map((s) => s.value),
      expectedValues(codec, 25),
    );
    assert.deepEqual(
      values.map((s) => s.offset),
      [...Array(25).keys()],
    );
  }
  await c.disconnect();
});

test('confluent-javascript: idempotent produce stores one producer id with consecutive sequences', async () => {
  const topic = 'ckjs-idempotent';
  const admin = track(kafka.admin());
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = track(kafka.producer({ kafkaJS: { idempotent: true, acks: -1 }, 'linger.ms': 0 }));
  await producer.connect();
  for (let round = 0; round < 3; round++) {
    await within(
      'idempotent send',
      producer.send({
        topic,
        messages: expectedValues(`idem${round}`, 10).map((value) => ({ value, partition: 0 })),
      }),
    );
  }
  await producer.disconnect();
  const batches = broker.storedBatches(topic, 0);
  assert.ok(batches.length >= 3);
  assert.ok(batches[0]!.producerId >= 0, 'the client obtained a producer id through InitProducerId');
  let sequence = 0;
  for (const b of batches) {
    assert.equal(b.producerId, batches[0]!.producerId);
    assert.equal(b.baseSequence, sequence);
    assert.equal(b.baseOffset, sequence);
    sequence += b.recordsCount;
  }
  assert.equal(sequence, 30);
});

test('confluent-javascript: a two-member group splits partitions, commits, and resumes after a broker restart', async () => {
  const topic = 'ckjs-group';
  const partitions = 4;
  const groupId = 'ckjs-group';
  const admin = track(kafka.admin());
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
  const member = async (name: string) => {
    const seen: Seen[] = [];
    const c = consumer(groupId);
    await c.connect();
    await c.subscribe({ topics: [topic] });
    await run(c, seen);
    const owned = () =>
      c
        .assignment()
        .filter((tp) => tp.topic === topic)
        .map((tp) => tp.partition)
        .sort();
    return { name, c, seen, owned };
  };
  const a = await member('a');
  await waitFor('member a owns every partition', () => isSplit([a.owned()], partitions), 60_000);
  const b = await member('b');
  await waitFor(
    'the partitions split between a and b',
    () => isSplit([a.owned(), b.owned()], partitions),
    60_000,
  );

  const producer = track(kafka.producer());
  await producer.connect();
  const first = expectedValues('first', 5 * partitions);
  await producer.send({ topic, messages: first.map((value, i) => ({ value, partition: i % partitions })) });
  await waitFor('batch 1 consumed by the group', () => a.seen.length + b.seen.length >= first.length);
  for (const m of [a, b]) {
    for (const s of m.seen)
      assert.ok(m.owned().includes(s.partition), `${m.name} got partition ${s.partition}`);
  }
  assert.deepEqual([...a.seen, ...b.seen].map((s) => s.value).sort(), [...first].sort());
  for (const m of [a, b]) {
    const next = new Map<number, number>();
    for (const s of m.seen) next.set(s.partition, Math.max(next.get(s.partition) ?? 0, s.offset + 1));
    await m.c.commitOffsets([...next].map(([partition, o]) => ({ topic, partition, offset: String(o) })));
  }
  // librdkafka may resolve a manual commit's callback a moment before the coordinator has applied
  // the second member's request, so the admin client's view is awaited (it must show every
  // partition committed at 5; a lost commit times this out).
  const adm = track(kafka.admin());
  await adm.connect();
  const expected = JSON.stringify([...Array(partitions).keys()].map((p) => [p, 5]));
  let seen = '';
  await waitFor(`committed offsets ${expected}`, async () => {
    const offsets = await adm.fetchOffsets({ groupId, topics: [topic] });
    seen = JSON.stringify(
      offsets[0]!.partitions.map((p) => [p.partition, Number(p.offset)]).sort((x, y) => x[0]! - y[0]!),
    );
    return seen === expected;
  });
  assert.equal(seen, expected);
  await adm.disconnect();
  await a.c.disconnect();
  await b.c.disconnect();
  await producer.disconnect();

  await broker.restart();

  const producer2 = track(kafka.producer());
  await producer2.connect();
  const second = expectedValues('second', 3 * partitions);
  await within(
    'produce after restart',
    producer2.send({ topic, messages: second.map((value, i) => ({ value, partition: i % partitions })) }),
  );
  const c = await member('c');
  await waitFor('batch 2 consumed after the restart', () => c.seen.length >= second.length, 60_000);
  assert.deepEqual(c.seen.map((s) => s.value).sort(), [...second].sort(), 'resumed at the committed offsets');
  assert.ok(c.seen.every((s) => s.offset >= 5));
  await c.c.disconnect();
  await producer2.disconnect();
});
