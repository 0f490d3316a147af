/**
 * ProduceBatch requests over the gRPC door's bounds are refused before their records are decoded
 * (issue 10 finding 12): by size from grpc-js's length prefix, by record count and record_batch size
 * from a scan of the message's top-level fields. The scan is checked against the encoder the client
 * uses; the refusals against the real server and core.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import {
  grpcControlRequestBytesMax,
  grpcRequestBytesMax,
  produceRecordBatchBytesMax,
  produceRecordsPerRequestMax,
} from '../../src/api/grpc/limits.ts';
import { checkProduceBatchBounds, checkProduceStreamBounds } from '../../src/api/grpc/request-bounds.ts';
import { BrokerClient, type BrokerClientError } from '../../src/client/index.ts';
import { brokerServiceDefinition } from '../../src/grpc-proto.ts';
import { startBroker } from '../../src/server.ts';

const serialize = brokerServiceDefinition().ProduceBatch.requestSerialize as (req: unknown) => Buffer;

const wireRecord = fc.record(
  {
    key: fc.uint8Array({ maxLength: 40 }).map(Buffer.from),
    value: fc.uint8Array({ maxLength: 300 }).map(Buffer.from),
    headers: fc.array(
      fc.record({
        key: fc.string({ maxLength: 10 }),
        value: fc.uint8Array({ maxLength: 10 }).map(Buffer.from),
      }),
      { maxLength: 3 },
    ),
    timestampMs: fc.nat(),
  },
  { requiredKeys: [] },
);

test("the scan counts exactly the records the client's encoder wrote, among the other fields", () => {
  fc.assert(
    fc.property(
      fc.array(wireRecord, { maxLength: 60 }),
      fc.string({ maxLength: 249 }),
      fc.option(fc.integer({ min: -1, max: 1000 }), { nil: undefined }),
      fc.option(fc.constantFrom(-1, 0, 1), { nil: undefined }),
      (records, topic, partition, acks) => {
        const buf = serialize({ topic, partition, records, acks, timeoutMs: 5000 });
        assert.equal(checkProduceBatchBounds(buf, records.length), null, 'at the bound: accepted');
        if (records.length > 0) {
          const err = checkProduceBatchBounds(buf, records.length - 1);
          assert.equal(err?.code, 'POLICY_VIOLATION', 'one past the bound: refused');
          assert.match(err.message, new RegExp(`at most ${records.length - 1} records`));
        }
      },
    ),
  );
});

test('the scan measures record_batch exactly and leaves malformed bytes to the decoder', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 70_000 }), (size) => {
      const buf = serialize({ topic: 't', partition: 0, recordBatch: Buffer.alloc(size, 7) });
      assert.equal(checkProduceBatchBounds(buf, 10, size), null);
      assert.equal(checkProduceBatchBounds(buf, 10, size - 1)?.code, 'MESSAGE_TOO_LARGE');
    }),
  );
  // A length that runs past the end, and a group wire type: no verdict; the decoder refuses them.
  assert.equal(checkProduceBatchBounds(Buffer.from([0x1a, 0xff, 0xff, 0x03]), 0), null);
  assert.equal(checkProduceBatchBounds(Buffer.from([0x1b, 0x1c]), 0), null);
});

const serializeStream = brokerServiceDefinition().ProduceStream.requestSerialize as (req: unknown) => Buffer;

test('the ProduceStream scan refuses exactly what the ProduceBatch scan refuses, and reads the id', () => {
  fc.assert(
    fc.property(
      fc.array(wireRecord, { maxLength: 30 }),
      fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
      fc.option(fc.maxSafeNat(), { nil: undefined }),
      fc.integer({ min: 0, max: 31 }),
      (records, batchBytes, id, recordsMax) => {
        const batch = {
          topic: 't',
          partition: 0,
          ...(batchBytes === undefined ? { records } : { recordBatch: Buffer.alloc(batchBytes, 1) }),
        };
        const whole = serialize(batch);
        const message = serializeStream(id === undefined ? { batch } : { id, batch });
        const expected = checkProduceBatchBounds(whole, recordsMax, 1000);
        const got = checkProduceStreamBounds(message, recordsMax, 1000);
        assert.equal(got?.error.code, expected?.code);
        assert.equal(got?.error.message, expected?.message);
        if (got) assert.equal(got.id, id ?? 0, 'an absent id is 0');
      },
    ),
  );
  // Bytes the scan cannot walk: no verdict, left to the decoder.
  assert.equal(checkProduceStreamBounds(Buffer.from([0x12, 0xff, 0xff, 0x03, 0x01])), null);
});

/** Sends pre-encoded request bytes, as a client with its own encoder would. */
function rawProduceBatch(client: grpc.Client, body: Buffer) {
  return new Promise<{ err: grpc.ServiceError | null; count?: number }>((resolve) => {
    client.makeUnaryRequest(
      '/tsbroker.v1.Broker/ProduceBatch',
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) =>
        resolve({
          err,
          count: res
            ? (brokerServiceDefinition().ProduceBatch.responseDeserialize(res) as { count: number }).count
            : undefined,
        }),
    );
  });
}

/** One ProduceBatch record of a 1-byte value, as protobuf: field 3 { field 2: "x" }. */
const tinyRecord = Buffer.from([0x1a, 0x03, 0x12, 0x01, 0x78]);
function manyTinyRecords(topic: string, n: number): Buffer {
  const head = serialize({ topic, partition: 0 });
  const out = Buffer.allocUnsafe(head.length + n * tinyRecord.length);
  head.copy(out);
  for (let i = 0; i < n; i++) tinyRecord.copy(out, head.length + i * tinyRecord.length);
  return out;
}

test('a real server refuses over-bound ProduceBatch requests with their codes and keeps serving', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  const client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => client.close());
  // Room for the largest record count the door takes, so that the count bound is what is tested.
  await client.createTopic('t', { partitions: 1, configs: { 'max.message.bytes': String(4 * 1024 * 1024) } });
  const raw = new grpc.Client(broker.grpcAddress, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
  });
  t.after(() => raw.close());

  const atBound = await rawProduceBatch(raw, manyTinyRecords('t', produceRecordsPerRequestMax));
  assert.equal(atBound.err, null, atBound.err?.details);
  assert.equal(atBound.count, produceRecordsPerRequestMax);

  const overCount = await rawProduceBatch(raw, manyTinyRecords('t', produceRecordsPerRequestMax + 1));
  assert.equal(overCount.err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.deepEqual(overCount.err?.metadata.get('broker-error-code'), ['POLICY_VIOLATION']);
  assert.match(overCount.err?.details ?? '', /at most 100000 records/);

  const bigBatch = serialize({
    topic: 't',
    partition: 0,
    recordBatch: Buffer.alloc(produceRecordBatchBytesMax + 1),
  });
  assert.ok(bigBatch.length <= grpcRequestBytesMax, 'within the message bound: the scan refuses it');
  const overBatch = await rawProduceBatch(raw, bigBatch);
  assert.equal(overBatch.err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.deepEqual(overBatch.err?.metadata.get('broker-error-code'), ['MESSAGE_TOO_LARGE']);

  const overSize = await rawProduceBatch(raw, Buffer.alloc(grpcRequestBytesMax + 1));
  assert.equal(overSize.err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(overSize.err?.details ?? '', /larger than max/);

  // The client refuses a batch no broker stores, final, instead of sending it to be retried.
  const local = await client.produceRecordBatch('t', 0, Buffer.alloc(produceRecordBatchBytesMax + 1)).then(
    () => assert.fail('sent'),
    (e: BrokerClientError) => e,
  );
  assert.equal(local.code, 'MESSAGE_TOO_LARGE');
  assert.equal(local.retriable, false);

  const after = await client.produce('t', 'still serving', { partition: 0 });
  assert.equal(after.offset, produceRecordsPerRequestMax, 'only the request at the bound was stored');
});

test('every method without records refuses a request over grpcControlRequestBytesMax before decoding', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  const raw = new grpc.Client(broker.grpcAddress, grpc.credentials.createInsecure());
  t.after(() => raw.close());
  const definition = brokerServiceDefinition();
  // Field 1 (a name or topic in every request) as a string one byte past the bound, with its tag.
  const oversized = serialize({ topic: 'x'.repeat(grpcControlRequestBytesMax) });
  assert.ok(oversized.length > grpcControlRequestBytesMax);
  const control = Object.entries(definition).filter(
    ([name]) => name !== 'Produce' && name !== 'ProduceBatch' && name !== 'ProduceStream',
  );
  assert.ok(control.length >= 15, 'every other method of the Broker service');
  for (const [name, method] of control) {
    const outcome = await new Promise<grpc.ServiceError | null>((resolve) => {
      if (method.responseStream) {
        const call = raw.makeServerStreamRequest(
          method.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          oversized,
        );
        call.on('data', () => {});
        // The first of the two settles it: an error status, or an end without one.
        call.on('error', resolve);
        call.on('end', () => resolve(null));
      } else
        raw.makeUnaryRequest(
          method.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          oversized,
          resolve,
        );
    });
    const err = outcome ?? assert.fail(`${name} accepted it`);
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, `${name}: ${err.details}`);
    assert.match(
      err.details,
      new RegExp(`a ${name} request may be at most ${grpcControlRequestBytesMax} bytes`),
    );
    assert.deepEqual(err.metadata.get('broker-error-code'), ['POLICY_VIOLATION'], name);
  }
  // At the bound a request is decoded and served as usual.
  const client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => client.close());
  assert.deepEqual(await client.listTopics(), []);
});

test('a Subscribe that fails ends with its status, not a stream left open (regression)', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  const client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => client.close());
  const err = await (async () => {
    for await (const _ of client.subscribe('missing', { offset: 0 })) assert.fail('a record of no topic');
  })().then(
    () => assert.fail('the stream ended without an error'),
    (e: BrokerClientError) => e,
  );
  assert.equal(err.code, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(err.grpcCode, grpc.status.NOT_FOUND);
});
