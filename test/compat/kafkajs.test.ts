/**
 * kafkajs 2.2.4 (npm) against the real broker process over the Kafka protocol (issue 5): produce and
 * consume with each codec kafkajs ships (none and gzip: snappy, lz4 and zstd need codec plugins that are
 * not part of kafkajs), a two-member group that rebalances and resumes from committed offsets after a
 * broker restart, topic create and delete through its admin client, and idempotent produce.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type Admin,
  CompressionTypes,
  type Consumer,
  type EachMessagePayload,
  Kafka,
  logLevel,
  type Producer,
} from 'kafkajs';
import { BrokerClient } from '../../src/client/index.ts';
import { CompatBroker, expectedValues, isSplit, waitFor, within } from './helpers.ts';

const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP } as const;

let broker: CompatBroker;
let kafka: Kafka;
const closers: (() => Promise<unknown>)[] = [];

before(async () => {
  broker = await CompatBroker.start();
  kafka = new Kafka({
    clientId: 'compat-kafkajs',
    brokers: [broker.kafkaAddress],
    logLevel: process.env.COMPAT_DEBUG ? logLevel.DEBUG : logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2000 },
  });
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await broker.close();
});

function track<T extends Producer | Consumer | Admin>(client: T): T {
  closers.push(() => client.disconnect());
  return client;
}

interface Seen {
  topic: string;
  partition: number;
  offset: number;
  value: string;
}

function collector(into: Seen[]) {
  return async ({ topic, partition, message }: EachMessagePayload) => {
    into.push({ topic, partition, offset: Number(message.offset), value: message.value?.toString() ?? '' });
  };
}

test('kafkajs: produce and consume with each codec it ships (none, gzip)', async () => {
  const producer = track(kafka.producer({ allowAutoTopicCreation: true }));
  await producer.connect();
  for (const [codec, type] of Object.entries(codecs)) {
    await within(
      `produce ${codec}`,
      producer.send({
        topic: `kafkajs-codec-${codec}`,
        compression: type,
        messages: expectedValues(codec, 25).map((value, i) => ({ key: `k${i}`, value })),
      }),
    );
  }
  // The broker stored each batch as kafkajs compressed it (the codec is in the batch attributes).
  for (const codec of Object.keys(codecs)) {
    const batches = broker.storedBatches(`kafkajs-codec-${codec}`, 0);
    assert.ok(batches.length > 0);
    assert.deepEqual(new Set(batches.map((b) => b.codec)), new Set([codec]), `stored codec for ${codec}`);
  }

  const seen: Seen[] = [];
  const consumer = track(
    kafka.consumer({ groupId: 'kafkajs-codecs', heartbeatInterval: 500, maxWaitTimeInMs: 500 }),
  );
  await consumer.connect();
  await consumer.subscribe({
    topics: Object.keys(codecs).map((c) => `kafkajs-codec-${c}`),
    fromBeginning: true,
  });
  await consumer.run({ eachMessage: collector(seen) });
  await waitFor('every codec record consumed', () => seen.length >= 25 * Object.keys(codecs).length);
  for (const codec of Object.keys(codecs)) {
    const values = seen.filter((s) => s.topic === `kafkajs-codec-${codec}`);
    assert.deepEqual(
      values.map((s) => s.value),
      expectedValues(codec, 25),
    );
    assert.deepEqual(
      values.map((s) => s.offset),
      [...Array(25).keys()],
    );
  }
  await consumer.disconnect();
  await producer.disconnect();
});

test('kafkajs: admin creates and deletes topics', async () => {
  const admin = track(kafka.admin());
  await admin.connect();
  assert.equal(
    await admin.createTopics({
      topics: [{ topic: 'kafkajs-admin', numPartitions: 3 }],
      waitForLeaders: true,
    }),
    true,
  );
  assert.ok((await admin.listTopics()).includes('kafkajs-admin'));
  const meta = await admin.fetchTopicMetadata({ topics: ['kafkajs-admin'] });
  assert.deepEqual(meta.topics[0]!.partitions.map((p) => p.partitionId).sort(), [0, 1, 2]);
  // Creating it again is refused with TOPIC_ALREADY_EXISTS, which kafkajs reports as `false`.
  assert.equal(await admin.createTopics({ topics: [{ topic: 'kafkajs-admin', numPartitions: 3 }] }), false);
  // One core behind both doors: the gRPC API sees the topic kafkajs made, and then its deletion.
  const grpc = await BrokerClient.connect(broker.grpcAddress);
  try {
    assert.equal((await grpc.describeTopic('kafkajs-admin')).partitions, 3);
    await admin.deleteTopics({ topics: ['kafkajs-admin'] });
    assert.ok(!(await admin.listTopics()).includes('kafkajs-admin'));
    assert.ok(!(await grpc.listTopics()).some((x) => x.name === 'kafkajs-admin'));
  } finally {
    grpc.close();
  }
  await admin.disconnect();
});

test('kafkajs: idempotent produce stores batches with a producer id and consecutive sequences', async () => {
  const topic = 'kafkajs-idempotent';
  const admin = track(kafka.admin());
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = track(kafka.producer({ idempotent: true, maxInFlightRequests: 1 }));
  await producer.connect();
  for (let round = 0; round < 3; round++) {
    await within(
      'idempotent send',
      producer.send({
        topic,
        acks: -1,
        messages: expectedValues(`idem${round}`, 10).map((value) => ({ value, partition: 0 })),
      }),
    );
  }
  await producer.disconnect();
  const batches = broker.storedBatches(topic, 0);
  assert.equal(batches.length, 3);
  assert.ok(batches[0]!.producerId >= 0, 'kafkajs obtained a producer id through InitProducerId');
  for (const [i, b] of batches.entries()) {
    assert.equal(b.producerId, batches[0]!.producerId);
    assert.equal(b.producerEpoch, batches[0]!.producerEpoch);
    assert.equal(b.baseSequence, i * 10);
    assert.equal(b.baseOffset, i * 10);
  }

  const seen: Seen[] = [];
  const consumer = track(
    kafka.consumer({ groupId: 'kafkajs-idempotent', heartbeatInterval: 500, maxWaitTimeInMs: 500 }),
  );
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: collector(seen) });
  await waitFor('idempotent records consumed', () => seen.length >= 30);
  assert.deepEqual(
    seen.map((s) => s.value),
    [0, 1, 2].flatMap((r) => expectedValues(`idem${r}`, 10)),
  );
  await consumer.disconnect();
});

test('kafkajs: a two-member group splits partitions, commits, and resumes after a broker restart', async () => {
  const topic = 'kafkajs-group';
  const partitions = 4;
  const groupId = 'kafkajs-group';
  const admin = track(kafka.admin());
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();

  const member = async (name: string) => {
    const seen: Seen[] = [];
    const assignments: number[][] = [];
    const consumer = track(
      kafka.consumer({
        groupId,
        heartbeatInterval: 300,
        sessionTimeout: 10_000,
        rebalanceTimeout: 10_000,
        maxWaitTimeInMs: 500,
      }),
    );
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments.push([...(e.payload.memberAssignment[topic] ?? [])].sort());
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachMessage: collector(seen) });
    return { name, consumer, seen, assignments, latest: () => assignments.at(-1) ?? [] };
  };

  const a = await member('a');
  await waitFor('member a owns every partition', () => isSplit([a.latest()], partitions));
  const b = await member('b');
  // The second member's join rebalances the group: each ends up with a disjoint share of the partitions.
  await waitFor('the partitions split between a and b', () => isSplit([a.latest(), b.latest()], partitions));

  // Records for every partition; each member must see exactly those of its own partitions.
  const producer = track(kafka.producer());
  await producer.connect();
  const first = expectedValues('first', 5 * partitions);
  await producer.send({ topic, messages: first.map((value, i) => ({ value, partition: i % partitions })) });
  await waitFor('batch 1 consumed by the group', () => a.seen.length + b.seen.length >= first.length);
  for (const m of [a, b]) {
    for (const s of m.seen)
      assert.ok(m.latest().includes(s.partition), `${m.name} got partition ${s.partition}`);
  }
  assert.deepEqual([...a.seen, ...b.seen].map((s) => s.value).sort(), [...first].sort());

  // Commit what each consumed (the next offset to read, as Kafka means it), then leave.
  for (const m of [a, b]) {
    const next = new Map<number, number>();
    for (const s of m.seen) next.set(s.partition, Math.max(next.get(s.partition) ?? 0, s.offset + 1));
    await m.consumer.commitOffsets(
      [...next].map(([partition, o]) => ({ topic, partition, offset: String(o) })),
    );
  }
  const committed = await (async () => {
    const adm = track(kafka.admin());
    await adm.connect();
    const r = await adm.fetchOffsets({ groupId, topics: [topic] });
    await adm.disconnect();
    return r[0]!.partitions.map((p) => [p.partition, Number(p.offset)]).sort((x, y) => x[0]! - y[0]!);
  })();
  assert.deepEqual(
    committed,
    [...Array(partitions).keys()].map((p) => [p, 5]),
  );
  await a.consumer.disconnect();
  await b.consumer.disconnect();
  await producer.disconnect();

  await broker.restart();

  // After the restart: new records, and a fresh member of the same group starts at the committed
  // offsets. Records are delivered in offset order per partition, so had it started from the beginning,
  // batch 1 would arrive before batch 2 is complete.
  const producer2 = track(kafka.producer());
  await producer2.connect();
  const second = expectedValues('second', 3 * partitions);
  await within(
    'produce after restart',
    producer2.send({ topic, messages: second.map((value, i) => ({ value, partition: i % partitions })) }),
  );
  const c = await member('c');
  await waitFor('batch 2 consumed after the restart', () => c.seen.length >= second.length);
  assert.deepEqual(c.seen.map((s) => s.value).sort(), [...second].sort(), 'resumed at the committed offsets');
  assert.ok(c.seen.every((s) => s.offset >= 5));
  await c.consumer.disconnect();
  await producer2.disconnect();
});
