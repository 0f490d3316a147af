/**
 * kafkajs commits negative offsets and relies on the broker storing them (issue 16 section 2): -2
 * ("earliest", or -1 "latest") from admin.resetOffsets, and its default offset after a fetch gets
 * OFFSET_OUT_OF_RANGE. A broker that refused the commit made the consumer retry it forever. Its
 * consumer then resolves a negative committed offset by the subscription's fromBeginning.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type EachMessagePayload, Kafka, logLevel } from 'kafkajs';
import { CompatBroker, expectedValues, waitFor, within } from './helpers.ts';

test('kafkajs: resetOffsets and an out-of-range committed offset commit -2 and the group reads from the start', async (t) => {
  const broker = await CompatBroker.start();
  // Clients disconnect first, newest first, and the broker stops last.
  const closers: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const close of closers.reverse()) await within('close', close(), 10_000).catch(() => {});
    await broker.close();
  });
  const kafka = new Kafka({
    clientId: 'offsets',
    brokers: [broker.kafkaAddress],
    logLevel: logLevel.NOTHING,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const admin = kafka.admin();
  await admin.connect();
  closers.push(() => admin.disconnect());
  const topic = 'resets';
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  const producer = kafka.producer();
  await producer.connect();
  closers.push(() => producer.disconnect());
  await producer.send({
    topic,
    messages: expectedValues('r', 10).map((value, i) => ({ value, partition: i % 2 })),
  });

  const consumeAll = async (groupId: string) => {
    const seen: string[] = [];
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 300,
      maxWaitTimeInMs: 200,
    });
    closers.push(() => consumer.disconnect());
    await consumer.connect();
    // kafkajs resolves any negative committed offset by the subscription's fromBeginning.
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }: EachMessagePayload) => {
        seen.push(message.value?.toString() ?? '');
      },
    });
    await waitFor(`${groupId} reads all ten records`, () => seen.length >= 10);
    await consumer.disconnect();
    return seen.sort();
  };

  // 1. admin.resetOffsets({ earliest: true }) commits -2 for every partition; it is stored as such.
  await admin.setOffsets({
    groupId: 'reset',
    topic,
    partitions: [
      { partition: 0, offset: '5' },
      { partition: 1, offset: '5' },
    ],
  });
  await within('resetOffsets', admin.resetOffsets({ groupId: 'reset', topic, earliest: true }));
  const fetched = await admin.fetchOffsets({ groupId: 'reset', topics: [topic] });
  assert.deepEqual(fetched[0]!.partitions.map((p) => [p.partition, p.offset]).sort(), [
    [0, '-2'],
    [1, '-2'],
  ]);
  // The group then starts from the earliest offset again, not from the 5 committed before the reset.
  assert.deepEqual(await consumeAll('reset'), expectedValues('r', 10).sort());

  // 2. A committed offset past the log end: the fetch gets OFFSET_OUT_OF_RANGE, kafkajs commits its
  // default (-2, as the subscription is fromBeginning) and reads from the start instead of looping.
  await admin.setOffsets({
    groupId: 'beyond',
    topic,
    partitions: [
      { partition: 0, offset: '1000' },
      { partition: 1, offset: '1000' },
    ],
  });
  const consumer = kafka.consumer({
    groupId: 'beyond',
    sessionTimeout: 10_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
  });
  closers.push(() => consumer.disconnect());
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  await consumer.run({
    eachMessage: async ({ message }: EachMessagePayload) => {
      seen.push(message.value?.toString() ?? '');
    },
  });
  await waitFor('the out-of-range group reads from the start', () => seen.length >= 10);
  assert.deepEqual(seen.sort(), expectedValues('r', 10).sort());
});
