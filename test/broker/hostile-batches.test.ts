/**
 * Issue 10 findings 1, 3 and 4 against a real broker process: batches under a valid CRC whose records
 * are garbage, whose count and lastOffsetDelta lie about the records held, whose data is not in the
 * declared codec, whose control bit is set without the transactional bit, and small compressed batches
 * that expand past the record or byte bounds, sent as raw Kafka Produce frames on the real listener and
 * as gRPC ProduceBatch with a raw `record_batch`, into a topic that keeps the producer's codec and one
 * that recompresses to gzip. Every one is refused with its error; the valid batches sent between them
 * are stored, readable through both doors and the time lookup, and the broker stays healthy and comes
 * back from a restart with the same log.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { BrokerClient, BrokerClientError } from '../../src/client/index.ts';
import { brokerClientConstructor } from '../../src/grpc-proto.ts';
import { batchRecordsMax } from '../../src/limits.ts';
import { errorCode, type KafkaErrorName } from '../../src/protocol/kafka/error-codes.ts';
import { ATTR, decodeBatch, encodeBatch, F } from '../../src/records/batch.ts';
import { COMPRESSION, type CompressionCode, compressSync } from '../../src/records/compression.ts';
import { writeVarint } from '../../src/records/varint.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { craftBatch, emptyRecords, resign } from '../helpers/craft-batch.ts';
import { tempDir } from '../helpers/tmp.ts';
import { decodeResponse, RawClient, requestFrame } from '../kafka/helpers.ts';

const TOPICS = ['as-sent', 'to-gzip'] as const;
const codecArb = fc.constantFrom(...([0, 1, 2, 3, 4] as CompressionCode[]));
const recordsArb = fc.array(
  fc.record({
    key: fc.option(fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a))),
    value: fc.option(fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a))),
  }),
  { minLength: 1, maxLength: 20 },
);

function refusedByReference(batch: Buffer): boolean {
  try {
    const { header, records } = decodeBatch(batch);
    return (
      (header.attributes & ATTR.control) !== 0 ||
      records.length !== header.lastOffsetDelta + 1 ||
      records.some((r, i) => r.offset - header.baseOffset !== i)
    );
  } catch {
    return true;
  }
}

/** One hostile batch of each class that must be CORRUPT_MESSAGE. */
const corruptArb = fc.oneof(
  fc
    .record({ bytes: fc.uint8Array({ maxLength: 200 }), count: fc.integer({ min: 1, max: 2 ** 31 - 1 }) })
    .map(({ bytes, count }) => craftBatch({ section: Buffer.from(bytes), count }))
    .filter(refusedByReference),
  fc
    .record({
      records: recordsArb,
      codec: codecArb,
      claimed: fc.oneof(fc.constant(2 ** 31 - 1), fc.integer({ min: 1, max: 2 ** 31 - 1 })),
    })
    .filter(({ records, claimed }) => claimed !== records.length)
    .map(({ records, codec, claimed }) => {
      const b = encodeBatch({ records, compression: codec });
      b.writeInt32BE(claimed, F.recordsCount);
      b.writeInt32BE(claimed - 1, F.lastOffsetDelta);
      return resign(b);
    }),
  fc
    .record({ records: recordsArb, actual: codecArb, declared: codecArb })
    .filter(({ actual, declared }) => actual !== declared)
    .map(({ records, actual, declared }) => {
      const b = encodeBatch({ records, compression: actual });
      b.writeInt16BE((b.readInt16BE(F.attributes) & ~ATTR.compressionMask) | declared, F.attributes);
      return resign(b);
    }),
  fc
    .record({ records: recordsArb, codec: codecArb })
    .map(({ records, codec }) => encodeBatch({ records, compression: codec, control: true })),
);

/** A zstd batch of batchRecordsMax + 1 empty records (under 1 MiB), and a gzip batch of one record
 * whose value is 65 MiB of zeros (tens of kilobytes). */
function bombs(): Buffer[] {
  const n = batchRecordsMax + 1;
  const count = craftBatch({
    section: compressSync(COMPRESSION.zstd, emptyRecords(n)),
    count: n,
    attributes: COMPRESSION.zstd,
  });
  const valueBytes = 65 * 1024 * 1024;
  const record = Buffer.alloc(valueBytes + 32);
  let pos = writeVarint(record, 0, 4 + 5 + valueBytes + 1);
  pos += 3; // attributes, timestamp delta 0, offset delta 0
  record[pos++] = 1; // null key
  pos = writeVarint(record, pos, valueBytes);
  pos += valueBytes + 1; // zeros, then no headers
  const bytes = craftBatch({
    section: zlib.gzipSync(record.subarray(0, pos)),
    count: 1,
    attributes: COMPRESSION.gzip,
  });
  for (const b of [count, bytes]) assert.ok(b.length < 1024 * 1024, `a bomb is small: ${b.length} bytes`);
  return [count, bytes];
}

class Doors {
  #kafka: RawClient;
  #client: BrokerClient;
  #correlation = 0;
  constructor(kafka: RawClient, client: BrokerClient) {
    this.#kafka = kafka;
    this.#client = client;
  }
  static async open(b: BrokerProcess): Promise<Doors> {
    assert.ok(b.kafkaPort);
    return new Doors(await RawClient.open(b.kafkaPort), await BrokerClient.connect(b.grpcAddress));
  }
  /** The error name each door answers `batch` with ('NONE' when stored). */
  async produce(door: 'kafka' | 'grpc', topic: string, batch: Buffer): Promise<string> {
    if (door === 'grpc') {
      try {
        await this.#client.produceRecordBatch(topic, 0, batch, { retry: false });
        return 'NONE';
      } catch (err) {
        assert.ok(err instanceof BrokerClientError, String(err));
        return err.code;
      }
    }
    const id = ++this.#correlation;
    this.#kafka.write(
      requestFrame('Produce', 7, id, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30_000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }],
      }),
    );
    const payload = await this.#kafka.next();
    assert.ok(payload, 'the Kafka listener answered');
    const { correlationId, body } = decodeResponse('Produce', 7, payload);
    assert.equal(correlationId, id);
    const p = (body.responses as { partitionResponses: { errorCode: number }[] }[])[0].partitionResponses[0];
    for (const [name] of Object.entries({
      NONE: 0,
      CORRUPT_MESSAGE: 2,
      MESSAGE_TOO_LARGE: 10,
      INVALID_RECORD: 87,
    })) {
      if (errorCode(name as KafkaErrorName) === p.errorCode) return name;
    }
    return `code ${p.errorCode}`;
  }
  get client(): BrokerClient {
    return this.#client;
  }
  close(): void {
    this.#kafka.close();
    this.#client.close();
  }
}

async function healthy(b: BrokerProcess): Promise<void> {
  const res = await fetch(`${b.metricsUrl}/health`);
  assert.equal(res.status, 200);
}

/** The server-side decoded consume (gRPC ConsumeBatch without `raw`), read to `end`. */
async function consumeDecoded(b: BrokerProcess, topic: string, end: number): Promise<Buffer[]> {
  const Ctor = brokerClientConstructor();
  const stub = new Ctor(b.grpcAddress, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (
      req: object,
      cb: (err: Error | null, res: { records?: { value?: Buffer }[]; nextOffset?: string | number }) => void,
    ) => void
  >;
  const values: Buffer[] = [];
  let offset = 0;
  try {
    while (offset < end) {
      const res = await new Promise<{ records?: { value?: Buffer }[]; nextOffset?: string | number }>(
        (resolve, reject) =>
          stub.ConsumeBatch({ topic, partition: 0, offset, maxRecords: 7 }, (err, r) =>
            err ? reject(err) : resolve(r),
          ),
      );
      for (const r of res.records ?? []) values.push(r.value ?? Buffer.alloc(0));
      const next = Number(res.nextOffset);
      assert.ok(next > offset, `consume moves on from ${offset}`);
      offset = next;
    }
  } finally {
    (stub as unknown as grpc.Client).close();
  }
  return values;
}

test('hostile batches on both doors are refused; the broker stays healthy and restarts with its log', async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  t.after(() => broker.stop('SIGKILL'));
  let doors = await Doors.open(broker);
  await doors.client.createTopic('as-sent', { partitions: 1, configs: { 'compression.type': 'producer' } });
  await doors.client.createTopic('to-gzip', { partitions: 1, configs: { 'compression.type': 'gzip' } });

  const stored: Record<string, Buffer[]> = { 'as-sent': [], 'to-gzip': [] };
  await fc.assert(
    fc.asyncProperty(
      corruptArb,
      fc.constantFrom(...TOPICS),
      fc.constantFrom('kafka' as const, 'grpc' as const),
      recordsArb,
      codecArb,
      async (hostile, topic, door, good, codec) => {
        assert.equal(await doors.produce(door, topic, hostile), 'CORRUPT_MESSAGE');
        // A valid batch right after it is stored whole.
        assert.equal(
          await doors.produce(door, topic, encodeBatch({ records: good, compression: codec })),
          'NONE',
        );
        stored[topic].push(...good.map((r) => r.value ?? Buffer.alloc(0)));
      },
    ),
    { numRuns: 60 },
  );
  // A control batch that is transactional is well formed, but only the broker writes those.
  const control = encodeBatch({ records: [{ value: null }], control: true, transactional: true });
  for (const door of ['kafka', 'grpc'] as const) {
    assert.equal(await doors.produce(door, 'as-sent', control), 'INVALID_RECORD');
    for (const topic of TOPICS) {
      for (const bomb of bombs()) assert.equal(await doors.produce(door, topic, bomb), 'MESSAGE_TOO_LARGE');
    }
  }
  await healthy(broker);

  const check = async (b: BrokerProcess, d: Doors) => {
    for (const topic of TOPICS) {
      const info = await d.client.describeTopic(topic);
      assert.equal(
        info.partitionInfo[0].logEndOffset,
        stored[topic].length,
        `${topic}: only valid records stored`,
      );
      const decoded = await consumeDecoded(b, topic, stored[topic].length);
      assert.deepEqual(
        decoded.map((v) => v.toString('hex')),
        stored[topic].map((v) => v.toString('hex')),
      );
      const raw = await d.client.consumeBatch(topic, 0, { maxRecords: 10 });
      assert.equal(raw.records[0].offset, 0);
    }
  };
  await check(broker, doors);

  doors.close();
  assert.equal(await broker.stop(), 0, 'a clean stop');
  broker = await spawnBroker(dir);
  doors = await Doors.open(broker);
  await healthy(broker);
  await check(broker, doors);
  assert.equal(
    await doors.produce('kafka', 'to-gzip', encodeBatch({ records: [{ value: Buffer.from('after') }] })),
    'NONE',
  );
  stored['to-gzip'].push(Buffer.from('after'));
  await check(broker, doors);

  // A crash and a restart find the same log.
  doors.close();
  await broker.stop('SIGKILL');
  broker = await spawnBroker(dir);
  doors = await Doors.open(broker);
  t.after(() => doors.close());
  await healthy(broker);
  await check(broker, doors);
});

/** ListOffsets v4 by timestamp for partition 0 of `topic`, on its own connection. */
async function listOffsetByTime(
  port: number,
  topic: string,
  timestamp: number,
): Promise<{ offset: number; timestamp: number }> {
  const c = await RawClient.open(port);
  try {
    c.write(
      requestFrame('ListOffsets', 4, 1, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] }],
      }),
    );
    const payload = await c.next();
    assert.ok(payload, 'ListOffsets answered');
    const { body } = decodeResponse('ListOffsets', 4, payload);
    const p = (
      body.topics as {
        partitions: { errorCode: number; offset: bigint | number; timestamp: bigint | number }[];
      }[]
    )[0].partitions[0];
    assert.equal(p.errorCode, 0);
    return { offset: Number(p.offset), timestamp: Number(p.timestamp) };
  } finally {
    c.close();
  }
}

test('a batch at the record bound is stored, and time lookups that walk all of it, two at once, leave /health answering', async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  t.after(() => broker.stop('SIGKILL'));
  const doors = await Doors.open(broker);
  await doors.client.createTopic('wide', { partitions: 1, configs: { 'compression.type': 'producer' } });
  const ts = 1_700_000_000_000;
  const n = batchRecordsMax;
  // Every record at `ts` but the last, at ts + 50: a lookup for ts + 1 must walk the whole batch.
  const wide = craftBatch({
    section: compressSync(COMPRESSION.zstd, emptyRecords(n, 50)),
    count: n,
    attributes: COMPRESSION.zstd,
    baseTimestamp: ts,
    maxTimestamp: ts + 50,
  });
  assert.equal(await doors.produce('kafka', 'wide', wide), 'NONE');
  assert.equal(
    await doors.produce(
      'grpc',
      'wide',
      encodeBatch({ records: [{ value: Buffer.from('tail'), timestamp: ts + 60 }] }),
    ),
    'NONE',
  );
  doors.close();
  const check = async (b: BrokerProcess) => {
    assert.ok(b.kafkaPort);
    const [a, c, health] = await Promise.all([
      listOffsetByTime(b.kafkaPort, 'wide', ts + 1),
      listOffsetByTime(b.kafkaPort, 'wide', ts + 1),
      fetch(`${b.metricsUrl}/health`),
    ]);
    assert.deepEqual(a, { offset: n - 1, timestamp: ts + 50 });
    assert.deepEqual(c, a);
    assert.equal(health.status, 200);
    assert.deepEqual(await listOffsetByTime(b.kafkaPort, 'wide', ts + 55), { offset: n, timestamp: ts + 60 });
    assert.deepEqual(await listOffsetByTime(b.kafkaPort, 'wide', ts), { offset: 0, timestamp: ts });
  };
  await check(broker);
  await broker.stop('SIGKILL');
  broker = await spawnBroker(dir);
  await check(broker);
});
