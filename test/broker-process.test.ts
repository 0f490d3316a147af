/**
 * The single-node broker as users run it: the real `broker` process over real sockets, with our
 * client; restarts after SIGTERM and SIGKILL; every bad-input case of the gRPC API.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BrokerClient, type BrokerClientError } from '../src/client/index.ts';
import { encodeBatch, F } from '../src/records/batch.ts';
import { partitionForKey } from '../src/records/partitioner.ts';
import { spawnBroker } from './helpers/broker-process.ts';
import { tempDir } from './helpers/tmp.ts';

test('produce, consume, restart after SIGTERM and after SIGKILL: nothing acknowledged is lost', async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  let client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('orders', { partitions: 3, configs: { 'retention.ms': '-1' } });
  const keys = Array.from({ length: 60 }, (_, i) => `customer-${i % 12}`);
  const acked: { partition: number; offset: number; value: string }[] = [];
  for (const [i, key] of keys.entries()) {
    const r = await client.produce('orders', { key, value: `order-${i}` });
    assert.equal(
      r.partition,
      partitionForKey(Buffer.from(key), 3),
      'keyed records land where Kafka would put them',
    );
    acked.push({ partition: r.partition, offset: r.offset, value: `order-${i}` });
  }
  const batch = await client.produceBatch(
    'orders',
    Array.from({ length: 500 }, (_, i) => `bulk-${i}`),
    { compression: 'zstd' },
  );
  assert.equal(batch.count, 500);
  client.close();

  // A clean stop: exit code 0, and every partition marked clean.
  assert.equal(await broker.stop('SIGTERM'), 0);
  for (let p = 0; p < 3; p++) assert.ok(existsSync(path.join(dir, `orders-${p}`, 'clean-shutdown')));

  broker = await spawnBroker(dir);
  client = await BrokerClient.connect(broker.grpcAddress);
  const info = await client.describeTopic('orders');
  assert.equal(info.partitions, 3);
  assert.equal(info.configs['retention.ms'].value, '-1');
  for (const a of acked) {
    const r = await client.consume('orders', a.offset, { partition: a.partition });
    assert.equal(r.offset, a.offset);
    assert.equal(r.value?.toString(), a.value);
  }
  const more = await client.produce('orders', { key: 'after-restart', value: 'x' });
  client.close();

  // A crash: SIGKILL right after an acknowledged produce; the restart recovers it.
  assert.equal(await broker.stop('SIGKILL'), 'SIGKILL');
  broker = await spawnBroker(dir);
  client = await BrokerClient.connect(broker.grpcAddress);
  const back = await client.consume('orders', more.offset, { partition: more.partition });
  assert.equal(back.value?.toString(), 'x');
  const bulk = batch.results[0];
  const rs = await client.consumeBatch('orders', bulk.baseOffset, {
    partition: bulk.partition,
    maxRecords: 1000,
  });
  assert.deepEqual(
    rs.records.slice(0, 500).map((r) => r.value?.toString()),
    Array.from({ length: 500 }, (_, i) => `bulk-${i}`),
  );
  client.close();
  assert.equal(await broker.stop(), 0);
});

test('bad input gets the documented gRPC status and the broker keeps serving', async (t) => {
  const broker = await spawnBroker(await tempDir(t), [], { BROKER_STORAGE_MAX_MESSAGE_BYTES: '4096' });
  t.after(() => broker.stop());
  const client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => client.close());
  await client.createTopic('t', { partitions: 2 });
  const fails = async (p: Promise<unknown>, grpcCode: grpc.status, code: string) => {
    const err = (await p.then(
      () => assert.fail('expected an error'),
      (e) => e,
    )) as BrokerClientError;
    assert.equal(err.grpcCode, grpcCode, `${code}: ${err.message}`);
    assert.equal(err.code, code);
  };
  await fails(client.describeTopic('missing'), grpc.status.NOT_FOUND, 'UNKNOWN_TOPIC_OR_PARTITION');
  await fails(client.produce('missing', 'x'), grpc.status.NOT_FOUND, 'UNKNOWN_TOPIC_OR_PARTITION');
  await fails(client.createTopic(''), grpc.status.INVALID_ARGUMENT, 'INVALID_REQUEST');
  await fails(client.createTopic('bad/name'), grpc.status.INVALID_ARGUMENT, 'INVALID_TOPIC_EXCEPTION');
  await fails(client.createTopic('t'), grpc.status.ALREADY_EXISTS, 'TOPIC_ALREADY_EXISTS');
  await fails(
    client.createTopic('u', { configs: { 'retention.ms': 'soon' } }),
    grpc.status.INVALID_ARGUMENT,
    'INVALID_CONFIG',
  );
  await fails(
    client.createTopic('u', { configs: { 'no.such.config': '1' } }),
    grpc.status.INVALID_ARGUMENT,
    'INVALID_CONFIG',
  );
  await fails(
    client.createTopic('u', { replicationFactor: 3 }),
    grpc.status.INVALID_ARGUMENT,
    'INVALID_REPLICATION_FACTOR',
  );
  await fails(
    client.produce('t', 'x', { partition: 7 }),
    grpc.status.INVALID_ARGUMENT,
    'UNKNOWN_TOPIC_OR_PARTITION',
  );
  await fails(
    client.consumeBatch('t', 0, { partition: -1 }),
    grpc.status.INVALID_ARGUMENT,
    'UNKNOWN_TOPIC_OR_PARTITION',
  );
  await fails(client.consumeBatch('t', 5, { partition: 0 }), grpc.status.OUT_OF_RANGE, 'OFFSET_OUT_OF_RANGE');
  await fails(
    client.produce('t', 'x', { acks: 2 as 1 }),
    grpc.status.INVALID_ARGUMENT,
    'INVALID_REQUIRED_ACKS',
  );
  await fails(
    client.produceBatch('t', [Buffer.alloc(5000)], { partition: 0 }),
    grpc.status.RESOURCE_EXHAUSTED,
    'MESSAGE_TOO_LARGE',
  );

  // Raw batches that are not what they claim: refused, nothing stored.
  const raw = await rawClient(broker.grpcAddress);
  const good = encodeBatch({ records: [{ value: Buffer.from('ok') }] });
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1] ^= 1;
  const short = good.subarray(0, 40);
  const lying = Buffer.from(good);
  lying.writeInt32BE(1_000_000_000, F.batchLength);
  for (const recordBatch of [
    flipped,
    short,
    lying,
    Buffer.from('random bytes that are no batch at all, none'),
  ]) {
    const err = await raw('ProduceBatch', { topic: 't', partition: 0, recordBatch });
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, String(err?.details));
  }
  const noPartition = await raw('ProduceBatch', { topic: 't', recordBatch: good });
  assert.equal(noPartition?.code, grpc.status.INVALID_ARGUMENT);
  assert.equal((await client.describeTopic('t')).partitionInfo[0].logEndOffset, 0, 'nothing was stored');
  assert.equal((await client.produce('t', 'still alive', { partition: 0 })).offset, 0);
});

async function rawClient(address: string) {
  const { brokerClientConstructor } = await import('../src/grpc-proto.ts');
  const Ctor = brokerClientConstructor();
  const c = new Ctor(address, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (req: unknown, cb: (err: grpc.ServiceError | null) => void) => void
  >;
  return (method: string, req: unknown) =>
    new Promise<grpc.ServiceError | null>((resolve) => c[method].call(c, req, (err) => resolve(err)));
}

test('long poll, subscribe, health, readiness and metrics on the real process', async (t) => {
  const broker = await spawnBroker(await tempDir(t));
  t.after(() => broker.stop());
  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  await client.createTopic('live', { partitions: 1 });

  const waiting = client.consumeBatch('live', 0, { maxWaitMs: 10_000 });
  setTimeout(() => void client.produce('live', 'wake up'), 200);
  const polled = await waiting;
  assert.deepEqual(
    polled.records.map((r) => r.value?.toString()),
    ['wake up'],
  );

  const ac = new AbortController();
  const seen: string[] = [];
  const tail = (async () => {
    for await (const m of client.subscribe('live', { offset: 0, signal: ac.signal })) {
      seen.push(m.value!.toString());
      if (seen.length === 4) ac.abort();
    }
  })();
  for (const v of ['a', 'b', 'c']) await client.produce('live', v);
  await tail;
  assert.deepEqual(seen, ['wake up', 'a', 'b', 'c']);

  assert.equal(await (await fetch(`${broker.metricsUrl}/health`)).text(), 'OK');
  const ready = await fetch(`${broker.metricsUrl}/ready`);
  assert.equal(ready.status, 200);
  assert.equal(await ready.text(), 'LEADER');
  const metrics = await (await fetch(`${broker.metricsUrl}/metrics`)).text();
  for (const name of [
    'broker_messages_produced_total',
    'broker_messages_consumed_total',
    'broker_bytes_in_total',
    'broker_bytes_out_total',
    'broker_active_partitions',
    'broker_under_replicated_partitions',
    'storage_segment_count',
    'storage_total_bytes',
    'storage_compaction_runs_total',
    'controller_is_leader',
    'controller_metadata_updates_total',
    'controller_cluster_size',
    'consumer_group_members',
    'consumer_group_lag',
    'broker_request_duration_seconds_bucket',
    'process_cpu_seconds_total',
  ]) {
    assert.match(metrics, new RegExp(`^# TYPE ${name.replace(/_bucket$/, '')} `, 'm'), name);
  }
  assert.match(metrics, /^broker_messages_produced_total\{[^}]*topic="live"[^}]*\} 4$/m);

  const health = await grpcHealth(broker.grpcAddress, '');
  assert.equal(health, 'SERVING');
  const [self] = await client.getServers();
  assert.equal(self.isLeader, true);
  assert.equal(self.kafkaPort, broker.kafkaPort, 'GetServers reports the bound Kafka port');
  assert.ok(
    broker.logs.every((l) => l.node === 'node-1'),
    'every log line carries the node id',
  );
});

async function grpcHealth(address: string, service: string): Promise<string> {
  const { healthClientConstructor } = await import('../src/grpc-proto.ts');
  const Health = healthClientConstructor();
  const c = new Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) =>
      (
        c as unknown as { Check: (r: unknown, cb: (e: Error | null, r: { status: string }) => void) => void }
      ).Check({ service }, (e, r) => (e ? reject(e) : resolve(r.status))),
    );
  } finally {
    c.close();
  }
}
