/**
 * A produce whose answer is lost: a TCP proxy between the client and a real broker process drops the
 * connection as the broker starts answering (after the append), and the client retries. The idempotent
 * producer's retry is answered with the original offset and stored once; the same fault with a plain
 * produce stores the record twice, which shows that the fault really happens after the append.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { tempDir } from '../helpers/tmp.ts';

test('a produce whose response is lost is retried without a duplicate', async (t) => {
  const broker = await spawnBroker(await tempDir(t));
  t.after(() => broker.stop());
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: broker.grpcPort });
  t.after(() => proxy.close());
  const direct = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => direct.close());
  const client = await BrokerClient.connect(proxy.address, { retryBackoffMs: 20 });
  t.after(() => client.close());
  await direct.createTopic('payments', { partitions: 2 });

  const producer = client.producer({ idempotent: true, compression: 'lz4' });
  const first = await producer.send('payments', { key: 'k', value: 'before' });
  const identity = await producer.identity();
  assert.ok(identity && identity.producerId >= 0);

  // The lost answer: the broker appends "once", the client hears nothing and sends the same batch again.
  const connectionsBefore = proxy.connections;
  proxy.cutNextResponse();
  const sent = await producer.send('payments', { key: 'k', value: 'once' });
  assert.equal(proxy.cuts, 1, 'the proxy cut a response');
  assert.ok(proxy.connections > connectionsBefore, 'the client reconnected to retry');
  assert.equal(sent.partition, first.partition);
  assert.equal(sent.offset, first.offset + 1, 'the retry got the original offset');
  const after = await producer.sendBatch('payments', [
    { key: 'k', value: 'after-1' },
    { key: 'k', value: 'after-2' },
  ]);
  assert.equal(after.results[0].baseOffset, first.offset + 2, 'the sequence went on from the stored batch');

  const log = await direct.consumeBatch('payments', 0, { partition: sent.partition, maxRecords: 100 });
  assert.deepEqual(
    log.records.map((r) => r.value?.toString()),
    ['before', 'once', 'after-1', 'after-2'],
  );

  // The same fault without idempotence: the retry is a new append, so the log holds the record twice.
  proxy.cutNextResponse();
  const plain = await client.produceBatch('payments', [{ key: 'k', value: 'twice' }], {
    partition: sent.partition,
  });
  assert.equal(proxy.cuts, 2);
  const again = await direct.consumeBatch('payments', plain.baseOffset - 1, {
    partition: sent.partition,
    maxRecords: 100,
  });
  assert.deepEqual(
    again.records.map((r) => r.value?.toString()),
    ['twice', 'twice'],
  );
});

test('sequence errors fail the idempotent producer with a clear error', async (t) => {
  const broker = await spawnBroker(await tempDir(t));
  t.after(() => broker.stop());
  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  await client.createTopic('t', { partitions: 1 });
  const old = client.producer({ idempotent: true });
  await old.send('t', 'a');
  const id = (await old.identity())!;
  // Another instance with the same producer id and a newer epoch fences the first one.
  const bumped = await client.initProducerId({ producerId: id.producerId, producerEpoch: id.producerEpoch });
  assert.equal(bumped.producerEpoch, id.producerEpoch + 1);
  await client.produceRecordBatch(
    't',
    0,
    encodeBatch({
      producerId: bumped.producerId,
      producerEpoch: bumped.producerEpoch,
      baseSequence: 0,
      records: [{ value: Buffer.from('new') }],
    }),
  );
  await assert.rejects(old.send('t', 'b'), (err: Error & { code: string; cause: { code: string } }) => {
    assert.equal(err.code, 'IDEMPOTENT_PRODUCER_FAILED');
    assert.equal(err.cause.code, 'INVALID_PRODUCER_EPOCH');
    assert.match(err.message, /create a new producer/);
    return true;
  });
  await assert.rejects(old.send('t', 'c'), { code: 'IDEMPOTENT_PRODUCER_FAILED' });
  const log = await client.consumeBatch('t', 0, { maxRecords: 10 });
  assert.deepEqual(
    log.records.map((r) => r.value?.toString()),
    ['a', 'new'],
  );
  assert.throws(() => client.producer({ idempotent: true, acks: 0 }), /acks 1 or -1/);
});
