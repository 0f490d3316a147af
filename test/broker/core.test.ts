/**
 * The core through the embedded broker: idempotent produce across a restart, compression.type,
 * consumer group state and offsets across a restart, lag metrics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch, encodeBatch, F } from '../../src/records/batch.ts';
import { COMPRESSION } from '../../src/records/compression.ts';
import { startBroker } from '../../src/server.ts';
import { tempDir } from '../helpers/tmp.ts';

const idem = (producerId: number, epoch: number, seq: number, values: string[]) =>
  encodeBatch({
    producerId,
    producerEpoch: epoch,
    baseSequence: seq,
    records: values.map((v) => ({ value: Buffer.from(v) })),
  });

test('idempotent produce: a retry is not stored twice, even after a restart', async (t) => {
  const dataDir = await tempDir(t);
  let broker = await startBroker({ dataDir });
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'idem', partitions: 1 });
  const { producerId, producerEpoch } = await broker.core.initProducerId();
  const first = await broker.core.produce('idem', 0, idem(producerId, producerEpoch, 0, ['a', 'b']));
  const retry = await broker.core.produce('idem', 0, idem(producerId, producerEpoch, 0, ['a', 'b']));
  assert.deepEqual([retry.baseOffset, retry.lastOffset], [first.baseOffset, first.lastOffset]);
  await broker.core.produce('idem', 0, idem(producerId, producerEpoch, 2, ['c']));
  await assert.rejects(broker.core.produce('idem', 0, idem(producerId, producerEpoch, 9, ['x'])), {
    code: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
  });
  await assert.rejects(
    broker.core.produce(
      'idem',
      0,
      Buffer.concat([idem(producerId, producerEpoch, 3, ['x']), idem(producerId, producerEpoch, 4, ['y'])]),
    ),
    {
      code: 'INVALID_RECORD',
    },
  );
  await broker.close();

  // After a clean restart (snapshot) the state is back; after a crash it is rebuilt from the log.
  for (const crash of [false, true]) {
    broker = await startBroker({ dataDir });
    const again = await broker.core.produce('idem', 0, idem(producerId, producerEpoch, 2, ['c']));
    assert.equal(again.baseOffset, 2, 'the retry after restart gets the original offset');
    assert.equal(broker.core.partitions.get('idem', 0).logEndOffset, 3);
    if (crash) {
      const { rm } = await import('node:fs/promises');
      await broker.close();
      await rm(`${dataDir}/idem-0/producer-state.json`);
      broker = await startBroker({ dataDir });
      const rebuilt = await broker.core.produce('idem', 0, idem(producerId, producerEpoch, 0, ['a', 'b']));
      assert.equal(rebuilt.baseOffset, 0, 'rebuilt from the log without a snapshot');
    }
    await broker.close();
  }
  broker = await startBroker({ dataDir });
  const bumped = await broker.core.initProducerId({ producerId, producerEpoch });
  assert.equal(bumped.producerEpoch, producerEpoch + 1);
  await broker.core.produce('idem', 0, idem(producerId, bumped.producerEpoch, 0, ['new epoch']));
  await assert.rejects(broker.core.produce('idem', 0, idem(producerId, producerEpoch, 3, ['fenced'])), {
    code: 'INVALID_PRODUCER_EPOCH',
  });
  const other = await broker.core.initProducerId();
  assert.notEqual(other.producerId, producerId, 'producer ids are never reused across restarts');
  await broker.close();
});

test("a topic's compression.type makes the broker recompress; 'producer' keeps what came", async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'z', configs: { 'compression.type': 'zstd' } });
  await broker.core.createTopic({ name: 'p', configs: { 'compression.type': 'producer' } });
  const batch = () =>
    encodeBatch({
      compression: COMPRESSION.gzip,
      records: [{ key: Buffer.from('k'), value: Buffer.from('v'.repeat(500)) }],
    });
  await broker.core.produce('z', 0, batch());
  await broker.core.produce('p', 0, batch());
  const z = await broker.core.fetch('z', 0, 0);
  const p = await broker.core.fetch('p', 0, 0);
  assert.equal(z.bytes.readInt16BE(F.attributes) & 7, COMPRESSION.zstd);
  assert.equal(p.bytes.readInt16BE(F.attributes) & 7, COMPRESSION.gzip);
  assert.equal(decodeBatch(z.bytes).records[0].value?.toString(), 'v'.repeat(500));
  await broker.core.alterTopicConfigs('z', { 'compression.type': 'uncompressed' });
  await broker.core.produce('z', 0, batch());
  const after = await broker.core.fetch('z', 0, 1);
  assert.equal(after.bytes.readInt16BE(F.attributes) & 7, COMPRESSION.none);
  assert.equal(broker.core.describeTopic('z').configs['compression.type'].value, 'uncompressed');
  await assert.rejects(broker.core.alterTopicConfigs('z', { 'compression.type': 'brotli' }), {
    code: 'INVALID_CONFIG',
  });
  await assert.rejects(broker.core.deleteTopic('__consumer_offsets'), { code: 'POLICY_VIOLATION' });
});

test('group membership and committed offsets survive a restart; lag is exported', async (t) => {
  const dataDir = await tempDir(t);
  let broker = await startBroker({ dataDir, offsetsPartitions: 3 });
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'orders', partitions: 2 });
  for (let i = 0; i < 5; i++)
    await broker.core.produceRecords('orders', [{ value: Buffer.from(`o${i}`) }], { partition: 0 });
  const { encodeSubscription, SERVER_ASSIGNED } = await import('../../src/broker/groups/coordinator.ts');
  const member = await broker.groups.join({
    groupId: 'billing',
    memberId: '',
    clientId: 'c1',
    clientHost: 'h',
    protocolType: SERVER_ASSIGNED,
    protocols: [{ name: 'range', metadata: encodeSubscription(['orders']) }],
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 10_000,
    requireKnownMemberId: false,
  });
  const errors = await broker.groups.commit('billing', member.memberId, member.generationId, [
    { topic: 'orders', partition: 0, offset: 3 },
    { topic: 'orders', partition: 9, offset: 1 },
  ]);
  assert.deepEqual(
    errors.map((e) => e?.code ?? null),
    [null, 'UNKNOWN_TOPIC_OR_PARTITION'],
  );
  assert.deepEqual(broker.groups.lag('billing'), [
    { topic: 'orders', partition: 0, committed: 3, logEndOffset: 5, lag: 2 },
    { topic: 'orders', partition: 1, committed: -1, logEndOffset: 0, lag: 0 },
  ]);
  const metrics = await broker.metrics.registry.metrics();
  assert.match(metrics, /consumer_group_lag\{group="billing",topic="orders",partition="0"[^}]*\} 2/);
  assert.match(metrics, /consumer_group_members\{group="billing"[^}]*\} 1/);
  await broker.close();

  broker = await startBroker({ dataDir, offsetsPartitions: 3 });
  assert.equal(
    broker.groups.fetchOffsets('billing', [{ topic: 'orders', partition: 0 }])[0].value?.offset,
    3,
  );
  // The member's generation is still valid: it heartbeats on without rejoining.
  broker.groups.heartbeat('billing', member.memberId, member.generationId);
  assert.equal(broker.groups.coordinator.snapshot('billing')?.state, 'Stable');
});

test('lag covers assigned partitions that were never committed', async (t) => {
  const broker = await startBroker({ offsetsPartitions: 1 });
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'fresh', partitions: 2 });
  await broker.core.produceRecords('fresh', [{ value: Buffer.from('a') }, { value: Buffer.from('b') }], {
    partition: 1,
  });
  const { encodeSubscription, SERVER_ASSIGNED } = await import('../../src/broker/groups/coordinator.ts');
  const m = await broker.groups.join({
    groupId: 'new-group',
    memberId: '',
    clientId: 'c',
    clientHost: 'h',
    protocolType: SERVER_ASSIGNED,
    protocols: [{ name: 'range', metadata: encodeSubscription(['fresh']) }],
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 10_000,
    requireKnownMemberId: false,
  });
  assert.deepEqual(broker.groups.lag('new-group'), [
    { topic: 'fresh', partition: 0, committed: -1, logEndOffset: 0, lag: 0 },
    { topic: 'fresh', partition: 1, committed: -1, logEndOffset: 2, lag: 2 },
  ]);
  await broker.groups.commit('new-group', m.memberId, m.generationId, [
    { topic: 'fresh', partition: 1, offset: 1 },
  ]);
  assert.equal(broker.groups.lag('new-group')[1].lag, 1);
});

test('compression.default is the codec of batches the broker encodes itself', async (t) => {
  const broker = await startBroker({ compressionDefault: 'lz4' });
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'enc' });
  await broker.core.produceRecords('enc', [{ value: Buffer.from('x'.repeat(200)) }]);
  const { bytes } = await broker.core.fetch('enc', 0, 0);
  assert.equal(bytes.readInt16BE(F.attributes) & 7, COMPRESSION.lz4);
});

test('an explicit epoch bump (the gRPC API) is for producer ids this broker handed out only', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  const a = await broker.core.initProducerId();
  const bumped = await broker.core.initProducerId(a);
  assert.deepEqual(bumped, { producerId: a.producerId, producerEpoch: a.producerEpoch + 1 });
  await assert.rejects(broker.core.initProducerId({ producerId: a.producerId + 5000, producerEpoch: 0 }), {
    code: 'UNKNOWN_PRODUCER_ID',
  });
  // Without an existing pair every call allocates a new id.
  const b = await broker.core.initProducerId();
  assert.notEqual(b.producerId, a.producerId);
});
