/**
 * The dead letter flow against a real broker process: a handler that keeps throwing is retried, then
 * its record goes to `<topic>.dlq` with the dlq.* headers and the group moves on; a handler that fails
 * twice and then succeeds is not dead-lettered. Then the `broker-admin` CLI lists the dead letters,
 * replays them to their original topic (key, value and the record's own headers), replays nothing the
 * second time, and shows the group.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { BrokerClient, DLQ_HEADERS } from '../../src/client/index.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';

const admin = path.join(new URL('../../', import.meta.url).pathname, 'src/cli/broker-admin.ts');

async function brokerAdmin(server: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [admin, '--server', server, ...args]);
  return stdout;
}

test('dead letters: retries, the dlq topic and its headers, listing and replay with broker-admin', async (t) => {
  const broker = await spawnBroker(await tempDir(t));
  t.after(() => broker.stop());
  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  await client.createTopic('orders', { partitions: 2 });
  const values = Array.from({ length: 10 }, (_, i) => (i === 3 || i === 7 ? `bad-${i}` : `ok-${i}`));
  values[5] = 'flaky-5';
  await client.producer({ idempotent: true }).sendBatch(
    'orders',
    values.map((v) => ({ key: v, value: v, headers: { trace: `t-${v}` } })),
  );

  const attempts = new Map<string, number>();
  const handled = new Set<string>();
  const consumer = client.consumer({
    groupId: 'shipping',
    topics: 'orders',
    fromBeginning: true,
    deadLetterQueue: true,
    maxRetries: 3,
    retryBackoffMs: 5,
    maxWaitMs: 200,
    autoCommitIntervalMs: 100,
  });
  t.after(() => consumer.close());
  const running = consumer.run({
    eachMessage: async ({ message }) => {
      const v = message.value!.toString();
      const n = (attempts.get(v) ?? 0) + 1;
      attempts.set(v, n);
      if (v.startsWith('bad')) throw new Error(`cannot ship ${v}`);
      if (v.startsWith('flaky') && n <= 2) throw new Error('try again');
      handled.add(v);
    },
  });
  // The group moves past the dead letters: everything ends up committed.
  const committedAll = async () => {
    const offsets = await client.fetchOffsets('shipping');
    const info = await client.describeTopic('orders');
    return info.partitionInfo.every(
      (p) => offsets.find((o) => o.partition === p.partition)?.offset === p.logEndOffset,
    );
  };
  while (!(await committedAll())) await new Promise((r) => setTimeout(r, 50));
  await consumer.close();
  await running;

  assert.equal(attempts.get('bad-3'), 4, 'one try and three retries');
  assert.equal(attempts.get('bad-7'), 4);
  assert.equal(attempts.get('flaky-5'), 3);
  assert.deepEqual([...handled].sort(), values.filter((v) => !v.startsWith('bad')).sort());

  const dlq = await client.consumeBatch('orders.dlq', 0, { maxRecords: 100 });
  assert.deepEqual(dlq.records.map((r) => r.value?.toString()).sort(), ['bad-3', 'bad-7']);
  const sourceLog = new Map<string, { partition: number; offset: number }>();
  for (let p = 0; p < 2; p++)
    for (const r of (await client.consumeBatch('orders', 0, { partition: p, maxRecords: 100 })).records)
      sourceLog.set(r.value!.toString(), { partition: p, offset: r.offset });
  for (const d of dlq.records) {
    const h = Object.fromEntries(d.headers.map((x) => [x.key, x.value?.toString()]));
    const v = d.value!.toString();
    assert.equal(d.key?.toString(), v);
    assert.equal(h.trace, `t-${v}`, 'the record keeps its own headers');
    assert.equal(h[DLQ_HEADERS.topic], 'orders');
    assert.equal(Number(h[DLQ_HEADERS.partition]), sourceLog.get(v)!.partition);
    assert.equal(Number(h[DLQ_HEADERS.offset]), sourceLog.get(v)!.offset);
    assert.equal(h[DLQ_HEADERS.error], `cannot ship ${v}`);
    assert.equal(h[DLQ_HEADERS.attempts], '4');
    assert.ok(!Number.isNaN(Date.parse(h[DLQ_HEADERS.failedAt]!)));
  }

  // broker-admin: list (JSON and table), replay, replay again.
  const listed = JSON.parse(await brokerAdmin(broker.grpcAddress, '--json', 'dlq-list', 'orders.dlq')) as {
    value: string;
    headers: Record<string, string>;
  }[];
  assert.deepEqual(listed.map((l) => l.value).sort(), ['bad-3', 'bad-7']);
  assert.ok(listed.every((l) => l.headers[DLQ_HEADERS.error]?.startsWith('cannot ship')));
  const limited = JSON.parse(
    await brokerAdmin(broker.grpcAddress, '--json', 'dlq-list', 'orders.dlq', '--limit', '1'),
  );
  assert.equal(limited.length, 1);
  const table = await brokerAdmin(broker.grpcAddress, 'dlq-list', 'orders.dlq');
  assert.match(table, /ORIGINAL\s+ATTEMPTS/);
  assert.match(table, /orders-\d@\d+\s+4\s+/);
  assert.match(table, /cannot ship bad-3/);

  const endsBefore = (await client.describeTopic('orders')).partitionInfo.map((p) => p.logEndOffset);
  assert.match(
    await brokerAdmin(broker.grpcAddress, 'dlq-replay', 'orders.dlq'),
    /Replayed 2 dead letter\(s\): 2 to orders/,
  );
  const replayed = [];
  for (let p = 0; p < 2; p++)
    replayed.push(
      ...(await client.consumeBatch('orders', endsBefore[p], { partition: p, maxRecords: 100 })).records,
    );
  assert.deepEqual(replayed.map((r) => r.value?.toString()).sort(), ['bad-3', 'bad-7']);
  for (const r of replayed) {
    assert.equal(r.key?.toString(), r.value?.toString());
    assert.deepEqual(
      r.headers.map((h) => [h.key, h.value?.toString()]),
      [['trace', `t-${r.value}`]],
      'the record headers come back, the dlq.* ones do not',
    );
  }
  const second = JSON.parse(await brokerAdmin(broker.grpcAddress, '--json', 'dlq-replay', 'orders.dlq'));
  assert.equal(second.replayed, 0, 'a second replay sends nothing already replayed');
  const toOther = JSON.parse(
    await brokerAdmin(
      broker.grpcAddress,
      '--json',
      'dlq-replay',
      'orders.dlq',
      '--from-beginning',
      '--to-topic',
      'orders.dlq',
    ),
  );
  assert.deepEqual(toOther, { replayed: 2, topics: { 'orders.dlq': 2 } });

  // Groups through broker-admin.
  const groups = JSON.parse(await brokerAdmin(broker.grpcAddress, '--json', 'list-groups')) as {
    groupId: string;
  }[];
  assert.ok(groups.some((g) => g.groupId === 'shipping'));
  assert.match(await brokerAdmin(broker.grpcAddress, 'list-groups'), /shipping\s+Empty\s+0/);
  const described = JSON.parse(await brokerAdmin(broker.grpcAddress, '--json', 'describe-group', 'shipping'));
  assert.equal(described.offsets.length, 2);
  const human = await brokerAdmin(broker.grpcAddress, 'describe-group', 'shipping');
  assert.match(human, /Group: shipping\s+state: Empty/);
  assert.match(human, /TOPIC\s+PARTITION\s+COMMITTED\s+LOG-END\s+LAG/);
  assert.match(human, /orders\s+0\s+\d+\s+\d+\s+\d+/);
});
