/**
 * A broker restart in the middle of consumption: a consumer process reads through a TCP proxy (so the
 * restarted broker, on a new port, keeps the address the consumer knows); the broker is stopped with
 * SIGTERM and started again on the same data directory. The consumer goes on from the committed
 * offsets: no record is skipped, and only records after the last commit are processed twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { tempDir } from '../helpers/tmp.ts';
import { type Report, startConsumerChild, until } from './helpers.ts';

const N = 400;

test('a broker restart mid-consumption resumes from the committed offsets', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const env = {
    BROKER_CONSUMER_GROUPS_SESSION_TIMEOUT: '3s',
    BROKER_CONSUMER_GROUPS_HEARTBEAT_INTERVAL: '300ms',
  };
  let broker = await spawnBroker(dir, [], env);
  t.after(() => broker.stop());
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: broker.grpcPort });
  t.after(() => proxy.close());
  let client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('stream', { partitions: 2 });
  const values = Array.from({ length: N }, (_, i) => `event-${i}`);
  const sent = await client.producer({ idempotent: true }).sendBatch(
    'stream',
    values.map((v) => ({ key: v, value: v })),
  );
  assert.equal(sent.count, N);

  const reports: Report[] = [];
  const records = () => reports.filter((r) => r.type === 'record');
  const consumer = startConsumerChild(proxy.address, 'readers', 'stream', reports, {
    // Slow enough that the restart lands mid-way even on a loaded machine (400 records take 8 s).
    processingDelayMs: 20,
  });
  t.after(() => consumer.proc.kill('SIGKILL'));
  await until(async () => {
    const offsets = await client.fetchOffsets('readers');
    return records().length >= 60 && offsets.some((o) => o.offset > 0);
  });

  client.close();
  assert.equal(await broker.stop('SIGTERM'), 0);
  broker = await spawnBroker(dir, [], env);
  client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  // What the restarted broker holds as committed, before the consumer can reach it.
  const atRestart = new Map((await client.fetchOffsets('readers')).map((o) => [o.partition, o.offset]));
  assert.ok(
    [...atRestart.values()].some((o) => o > 0),
    'commits survived the restart',
  );
  const seenBefore = records().length;
  proxy.target = { host: '127.0.0.1', port: broker.grpcPort };

  await until(() => new Set(records().map((r) => r.value)).size === N);
  await until(async () => {
    const offsets = await client.fetchOffsets('readers');
    const info = await client.describeTopic('stream');
    return info.partitionInfo.every(
      (p) => offsets.find((o) => o.partition === p.partition)?.offset === p.logEndOffset,
    );
  });
  assert.equal(await consumer.close(), 0);
  assert.ok(records().length > seenBefore, 'the consumer processed records after the restart');

  // No gaps: every offset of every partition was processed.
  const info = await client.describeTopic('stream');
  for (const p of info.partitionInfo) {
    const offsets = new Set(
      records()
        .filter((r) => r.partition === p.partition)
        .map((r) => r.offset),
    );
    for (let o = 0; o < p.logEndOffset; o++)
      assert.ok(offsets.has(o), `offset ${o} of partition ${p.partition}`);
  }
  // Duplicates only of work that was not committed when the broker stopped.
  const count = new Map<string, number>();
  for (const r of records())
    count.set(`${r.partition}:${r.offset}`, (count.get(`${r.partition}:${r.offset}`) ?? 0) + 1);
  for (const [key, n] of count) {
    if (n === 1) continue;
    const [partition, offset] = key.split(':').map(Number);
    assert.ok(
      offset >= (atRestart.get(partition) ?? 0),
      `offset ${offset} of partition ${partition} was committed (${atRestart.get(partition)}) yet processed ${n} times`,
    );
  }
});
