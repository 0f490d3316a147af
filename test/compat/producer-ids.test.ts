/**
 * Idempotent producers of @platformatic/kafka each get their own producer id (issue 16 section 2): the
 * client sends its current id and epoch (0 and 0 before it has one) in InitProducerId without a
 * transactional id, and Kafka then always allocates a fresh id. Echoing the client's id gave every
 * producer id 0 with a bumped epoch, so each new producer fenced the ones before it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';
import { CompatBroker, expectedValues, within } from './helpers.ts';

test('@platformatic/kafka: concurrent idempotent producers get distinct producer ids and never fence each other', async (t) => {
  const broker = await CompatBroker.start();
  t.after(() => broker.close());
  const base = { bootstrapBrokers: [broker.kafkaAddress], retries: 10, retryDelay: 200, timeout: 15_000 };
  const topic = 'many-producers';
  const admin = new Admin({ clientId: 'ids-admin', ...base });
  await within('create topic', admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 }));
  await admin.close();
  const producers = Array.from(
    { length: 4 },
    (_, i) =>
      new Producer({ clientId: `ids-${i}`, serializers: stringSerializers, idempotent: true, ...base }),
  );
  t.after(() => Promise.all(producers.map((p) => p.close())));
  // Rounds interleave the producers: each new one starts while the earlier ones are still sending.
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      producers.map((p, i) =>
        within(
          `producer ${i} round ${round}`,
          p.send({
            acks: -1,
            messages: expectedValues(`p${i}r${round}`, 5).map((value) => ({ topic, partition: 0, value })),
          }),
        ),
      ),
    );
  }
  const batches = broker.storedBatches(topic, 0);
  assert.equal(batches.length, 12, 'every send stored once');
  const ids = new Set(batches.map((b) => b.producerId));
  assert.equal(ids.size, 4, `four producers, four producer ids: ${[...ids].join(', ')}`);
  for (const id of ids) {
    const own = batches.filter((b) => b.producerId === id);
    assert.deepEqual(
      own.map((b) => [b.producerEpoch, b.baseSequence]),
      [
        [0, 0],
        [0, 5],
        [0, 10],
      ],
      `producer ${id}: epoch 0 and consecutive sequences`,
    );
  }
});
