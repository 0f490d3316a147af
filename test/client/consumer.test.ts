/**
 * The high-level consumer against an in-process broker: what each mode counts as processed, seek,
 * pause and resume, manual commits, and two members sharing a topic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerClient, type ConsumedMessage } from '../../src/client/index.ts';
import { startBroker } from '../../src/index.ts';

async function setup(t: import('node:test').TestContext) {
  const broker = await startBroker({ heartbeatIntervalMs: 200, sessionTimeoutMs: 3000 });
  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(async () => {
    client.close();
    await broker.close();
  });
  return { broker, client };
}

test('for await: every record once; breaking out commits all but the record in hand', async (t) => {
  const { client } = await setup(t);
  await client.createTopic('events', { partitions: 3 });
  const values = Array.from({ length: 30 }, (_, i) => `v${i}`);
  await client.produceBatch(
    'events',
    values.map((v) => ({ key: v, value: v })),
  );
  const seen: ConsumedMessage[] = [];
  const consumer = client.consumer({ groupId: 'g1', topics: 'events', fromBeginning: true, maxWaitMs: 200 });
  for await (const m of consumer) {
    seen.push(m);
    if (seen.length === 30) break;
  }
  assert.deepEqual(seen.map((m) => m.value?.toString()).sort(), [...values].sort());
  const last = seen.at(-1)!;
  const committed = await client.fetchOffsets('g1');
  const total = committed.reduce((n, c) => n + c.offset, 0);
  assert.equal(total, 29, 'all but the record held when the loop broke are committed');
  const held = committed.find((c) => c.partition === last.partition)!;
  assert.equal(held.offset, last.offset);

  // The next member of the group gets exactly that record again.
  const again = client.consumer({ groupId: 'g1', topics: 'events', maxWaitMs: 200 });
  for await (const m of again) {
    assert.equal(m.partition, last.partition);
    assert.equal(m.offset, last.offset);
    await again.commit();
    break;
  }
  const after = await client.fetchOffsets('g1');
  assert.equal(
    after.reduce((n, c) => n + c.offset, 0),
    30,
  );
  const group = await client.describeGroup('g1');
  assert.equal(group.members.length, 0, 'closing left the group');
});

test('run: seek, pause and resume, manual commit, latest start', async (t) => {
  const { client } = await setup(t);
  await client.createTopic('log', { partitions: 1 });
  await client.produceBatch('log', ['before-0', 'before-1'], { partition: 0 });
  const delivered: number[] = [];
  let sought = false;
  const assigned = Promise.withResolvers<void>();
  const consumer = client.consumer({
    groupId: 'g2',
    topics: ['log'],
    autoCommit: false,
    maxWaitMs: 200,
    onPartitionsAssigned: () => assigned.resolve(),
  });
  const done = consumer.run({
    eachMessage: async ({ message }) => {
      delivered.push(message.offset);
      if (message.offset === 4 && consumer.paused().length === 0 && delivered.length < 6) {
        consumer.pause([{ topic: 'log' }]);
        assert.deepEqual(consumer.paused(), [{ topic: 'log', partition: 0 }]);
        setTimeout(() => consumer.resume([{ topic: 'log', partitions: [0] }]), 300);
      }
      if (message.offset === 11 && !sought) {
        sought = true;
        consumer.seek('log', 0, 8);
      }
      if (message.offset === 11 && delivered.filter((o) => o === 11).length === 2) {
        await consumer.commit();
        void consumer.close();
      }
    },
  });
  await assigned.promise;
  // Nothing was committed, so the member started at the log end: the two earlier records are skipped.
  await client.produceBatch(
    'log',
    Array.from({ length: 10 }, (_, i) => `after-${i}`),
    { partition: 0 },
  );
  await done;
  assert.deepEqual(delivered, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 8, 9, 10, 11]);
  assert.equal(await client.fetchOffset('g2', 'log', 0), 12);
});

test('two members split the partitions; the survivor takes over when one closes', async (t) => {
  const { client } = await setup(t);
  await client.createTopic('jobs', { partitions: 4 });
  const owners = new Map<string, { generation: number; partitions: number[] }>();
  const got = new Map<string, string>();
  const make = (name: string) =>
    client.consumer({
      groupId: 'g3',
      topics: 'jobs',
      fromBeginning: true,
      maxWaitMs: 200,
      autoCommitIntervalMs: 100,
      onPartitionsAssigned: (e) =>
        owners.set(name, {
          generation: e.generationId,
          partitions: e.assignments.flatMap((a) => a.partitions),
        }),
    });
  const a = make('a');
  const b = make('b');
  const record =
    (name: string) =>
    async ({ message }: { message: ConsumedMessage }) => {
      got.set(message.value!.toString(), name);
    };
  const runA = a.run({ eachMessage: record('a') });
  const runB = b.run({ eachMessage: record('b') });
  t.after(() => Promise.all([a.close(), b.close()]));
  const keys = Array.from({ length: 40 }, (_, i) => `job-${i}`);
  await client.produceBatch(
    'jobs',
    keys.map((k) => ({ key: k, value: k })),
  );
  // Both members in one generation with the four partitions between them.
  const settled = () => {
    const x = owners.get('a');
    const y = owners.get('b');
    return x && y && x.generation === y.generation && x.partitions.length + y.partitions.length === 4;
  };
  while (got.size < 40 || !settled()) await new Promise((r) => setTimeout(r, 50));
  const pa = owners.get('a')!.partitions;
  const pb = owners.get('b')!.partitions;
  assert.ok(pa.length > 0 && pb.length > 0);
  assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3], 'every partition has exactly one owner');
  await a.close();
  await runA;
  const more = Array.from({ length: 20 }, (_, i) => `late-${i}`);
  await client.produceBatch(
    'jobs',
    more.map((k) => ({ key: k, value: k })),
  );
  while (more.some((k) => !got.has(k))) await new Promise((r) => setTimeout(r, 50));
  assert.ok(
    more.every((k) => got.get(k) === 'b'),
    'after a left, b consumes everything',
  );
  assert.deepEqual(owners.get('b')!.partitions.sort(), [0, 1, 2, 3]);
  await b.close();
  await runB;
});
