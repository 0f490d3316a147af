/**
 * ProduceStream (broker.proto) against the real gRPC server and core, through a plain grpc-js client
 * with the .proto's serializers, as any gRPC client would call it: answers by id, each request's own
 * error without ending the stream, the bounds of ProduceBatch per message, the order of the records
 * of one partition, a clean end, and the end a client sees when the broker stops.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { produceRecordBatchBytesMax } from '../../src/api/grpc/limits.ts';
import { BrokerClient } from '../../src/client/index.ts';
import { brokerServiceDefinition } from '../../src/grpc-proto.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { startBroker } from '../../src/server.ts';

interface Answer {
  id: number;
  result?: { partition: number; baseOffset: number; count: number };
  error?: { code: number; message: string; brokerCode: string; retriable?: boolean };
}

const method = brokerServiceDefinition().ProduceStream;

/** A broker with `topic`, our client to check what it stored, and a plain grpc-js client. */
async function setup(t: TestContext, topic: string, partitions: number) {
  const broker = await startBroker();
  let stopped = false;
  t.after(() => (stopped ? undefined : broker.close()));
  const client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => client.close());
  await client.createTopic(topic, { partitions });
  const raw = new grpc.Client(broker.grpcAddress, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
  });
  t.after(() => raw.close());
  return {
    client,
    raw,
    /** Stops the broker now rather than after the test. */
    stop: () => {
      stopped = true;
      return broker.close();
    },
  };
}

/**
 * A ProduceStream call that collects its answers and its final status. `serialize` encodes what is
 * written: the .proto's encoder, or bytes as they are.
 */
function openStream(client: grpc.Client, serialize: (value: never) => Buffer = method.requestSerialize) {
  const call = client.makeBidiStreamRequest(
    method.path,
    serialize,
    method.responseDeserialize,
  ) as grpc.ClientDuplexStream<unknown, Answer>;
  const answers: Answer[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  call.on('data', (a: Answer) => {
    answers.push(a);
    for (const w of waiters.filter((w) => answers.length >= w.n)) w.resolve();
  });
  const status = new Promise<grpc.StatusObject>((resolve) => {
    call.on('status', resolve);
    call.on('error', () => {});
  });
  return {
    call,
    answers,
    status,
    send: (id: number, batch: object) => call.write({ id, batch }),
    /** Resolves once `n` answers have come. */
    until: (n: number) =>
      answers.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

const byId = (answers: Answer[]) => new Map(answers.map((a) => [a.id, a]));

test('ProduceStream answers each request by id; a failed request fails alone and the stream goes on', async (t) => {
  const { client, raw } = await setup(t, 's', 2);
  const s = openStream(raw);
  const v = (x: string) => ({ value: Buffer.from(x) });
  s.send(1, { topic: 's', partition: 0, records: [v('a'), v('b'), v('c')] });
  const batch = encodeBatch({ records: [0, 1].map((i) => ({ key: null, value: Buffer.from(`rb${i}`) })) });
  s.send(2, { topic: 's', partition: 1, recordBatch: batch });
  s.send(3, { topic: 'nope', records: [v('x')] });
  s.send(4, { topic: 's', partition: 9, records: [v('x')] });
  const corrupt = Buffer.from(batch);
  corrupt[corrupt.length - 1] ^= 0xff;
  s.send(5, { topic: 's', partition: 1, recordBatch: corrupt });
  // Over ProduceBatch's bound: refused before it is decoded, named by its id.
  s.send(6, { topic: 's', partition: 1, recordBatch: Buffer.alloc(produceRecordBatchBytesMax + 1) });
  s.send(0, { topic: 's', partition: 0, records: [v('d')] });
  await s.until(7);
  s.call.end();
  const status = await s.status;
  assert.equal(status.code, grpc.status.OK, status.details);

  const got = byId(s.answers);
  assert.equal(got.size, 7);
  assert.deepEqual(got.get(1)?.result, {
    partition: 0,
    baseOffset: 0,
    count: 3,
    results: [{ partition: 0, baseOffset: 0, count: 3 }],
  });
  assert.deepEqual(got.get(2)?.result?.baseOffset, 0);
  assert.deepEqual(got.get(2)?.result?.count, 2);
  const errorOf = (id: number) => got.get(id)?.error;
  assert.deepEqual(
    { ...errorOf(3), message: undefined },
    {
      code: grpc.status.NOT_FOUND,
      brokerCode: 'UNKNOWN_TOPIC_OR_PARTITION',
      message: undefined,
      retriable: false,
    },
  );
  assert.equal(errorOf(4)?.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(errorOf(4)?.brokerCode, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(errorOf(5)?.brokerCode, 'CORRUPT_MESSAGE');
  assert.equal(errorOf(6)?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(errorOf(6)?.brokerCode, 'MESSAGE_TOO_LARGE');
  assert.match(errorOf(6)?.message ?? '', /larger than the largest batch/);
  for (const id of [1, 2, 0]) assert.equal(got.get(id)?.error, undefined, `request ${id}`);
  assert.equal(got.get(0)?.result?.baseOffset, 3, 'id 0 (absent on the wire) is a request like any');

  // Exactly the successful requests were stored.
  const p0 = await client.consumeBatch('s', 0, { partition: 0 });
  assert.deepEqual(
    p0.records.map((r) => r.value?.toString()),
    ['a', 'b', 'c', 'd'],
  );
  const p1 = await client.consumeBatch('s', 0, { partition: 1 });
  assert.deepEqual(
    p1.records.map((r) => r.value?.toString()),
    ['rb0', 'rb1'],
  );
});

test('ProduceStream: one partition stores the requests in the order sent, many in flight, mixed acks', async (t) => {
  const { raw } = await setup(t, 'o', 1);
  const s = openStream(raw);
  const n = 300;
  for (let i = 1; i <= n; i++)
    s.send(i, {
      topic: 'o',
      partition: 0,
      acks: i % 3 === 0 ? -1 : 1,
      records: Array.from({ length: 10 }, (_, j) => ({ value: Buffer.from(`${i}-${j}`) })),
    });
  s.call.end();
  assert.equal((await s.status).code, grpc.status.OK);
  assert.equal(s.answers.length, n);
  // Answers come as each completes (an acks=all one after later acks=1 ones), but the records of one
  // partition are stored in the order the requests were sent.
  const got = byId(s.answers);
  assert.deepEqual(
    Array.from({ length: n }, (_, i) => got.get(i + 1)?.result?.baseOffset),
    Array.from({ length: n }, (_, i) => i * 10),
  );
});

test('ProduceStream: the broker stopping ends an open stream with UNAVAILABLE after answering what it read', async (t) => {
  const { raw, stop } = await setup(t, 'c', 1);
  const s = openStream(raw);
  s.send(7, { topic: 'c', partition: 0, records: [{ value: Buffer.from('before') }] });
  await s.until(1);
  assert.equal(s.answers[0].result?.baseOffset, 0);
  const closing = stop();
  const status = await s.status;
  await closing;
  assert.equal(status.code, grpc.status.UNAVAILABLE);
  assert.match(status.details, /shutting down/);
  assert.deepEqual(status.metadata.get('broker-error-code'), ['BROKER_NOT_AVAILABLE']);
});

test('ProduceStream: a message that is not protobuf ends the stream with INTERNAL; the broker goes on', async (t) => {
  const { client, raw } = await setup(t, 'm', 1);
  // Bytes as they are, so that a message can be what no encoder writes.
  const stream = openStream(raw, (b: Buffer) => b);
  const { call, answers } = stream;
  call.write(
    method.requestSerialize({
      id: 1,
      batch: { topic: 'm', partition: 0, records: [{ value: Buffer.from('ok') }] },
    }),
  );
  // Field 2 claims more bytes than follow: no verdict from the bounds, and the decoder refuses it.
  call.write(Buffer.from([0x12, 0xff, 0xff, 0x03, 0x01]));
  const s = await stream.status;
  assert.equal(s.code, grpc.status.INTERNAL, s.details);
  assert.ok(answers.length <= 1);
  // The broker goes on serving; the request before the bad message may have run (its answer lost
  // with the stream), never anything else.
  await client.produce('m', 'after', { partition: 0 });
  const stored = await client.consumeBatch('m', 0, { partition: 0 });
  const values = stored.records.map((r) => r.value?.toString());
  assert.ok(
    JSON.stringify(values) === '["ok","after"]' || JSON.stringify(values) === '["after"]',
    String(values),
  );
  if (answers.length === 1) assert.deepEqual(values, ['ok', 'after']);
});
