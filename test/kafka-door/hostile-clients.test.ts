/**
 * The attacks and compatibility breaks of issues 10 and 16, against the real `broker` process over
 * raw Kafka frames, each ending with the broker healthy (/health answers, a new client is served):
 *
 * - librdkafka >= 2.1's Metadata v12 with 3 trailing bytes is answered as without them, and counted;
 * - int64 values beyond 2^53 (an OffsetCommit offset of 2^62, a Fetch offset, a ListOffsets
 *   timestamp, an InitProducerId producer id, a batch's producer id and timestamp) get per-partition
 *   or per-request answers, never a dropped connection;
 * - a client that pipelines fetches of 8 MiB and never reads does not grow the broker's memory by
 *   the gigabytes it used to (issue 10: 1.7 GB for one such connection);
 * - idle connections and half-sent frames are closed after `kafka.connections_max_idle` and
 *   `kafka.request_receive_timeout`, and counted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { computeBatchCrc, encodeBatch } from '../../src/records/batch.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { decodeResponse, kafkaCaller, RawClient, requestFrame } from '../kafka/helpers.ts';

let broker: BrokerProcess;
let port: number;

before(async () => {
  broker = await spawnBroker(await tempDir(undefined, 'hostile-'), [], {
    BROKER_KAFKA_CONNECTIONS_MAX_IDLE: '2s',
    BROKER_KAFKA_REQUEST_RECEIVE_TIMEOUT: '1s',
  });
  assert.ok(broker.kafkaPort);
  port = broker.kafkaPort;
});

after(async () => {
  await broker.stop();
});

async function client() {
  const k = await kafkaCaller(port);
  return { c: k.raw, call: k.call };
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${broker.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function assertHealthy(): Promise<void> {
  assert.equal((await fetch(`${broker.metricsUrl}/health`)).status, 200);
  const { c, call } = await client();
  const v = await call('ApiVersions', 3, { clientSoftwareName: 'probe', clientSoftwareVersion: '1' });
  assert.equal(v.errorCode, 0);
  c.close();
}

/** Resolves once `cond()` holds, polling; fails after a generous bound. */
async function eventually(cond: () => Promise<boolean>, what: string, triesMax = 600): Promise<void> {
  for (let i = 0; i < triesMax; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

test('setup: a topic with 8 MiB of data', async () => {
  const { c, call } = await client();
  const created = await call('CreateTopics', 7, {
    topics: [{ name: 'big', numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(created.topics[0].errorCode, 0);
  for (let i = 0; i < 8; i++) {
    const records = encodeBatch({ records: [{ value: Buffer.alloc(1_000_000, i) }] });
    const r = await call('Produce', 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'big', partitionData: [{ index: 0, records }] }],
    });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
  }
  c.close();
});

test('Metadata v12 "all topics" with 3 trailing bytes (librdkafka #5049) is answered as without them', async () => {
  const ask = async (id: number, extra: number) => {
    const c = await RawClient.open(port);
    const frame = requestFrame('Metadata', 12, id, {
      topics: null,
      allowAutoTopicCreation: true,
      includeTopicAuthorizedOperations: false,
    });
    const padded = Buffer.concat([frame, Buffer.alloc(extra)]);
    padded.writeInt32BE(padded.length - 4, 0);
    c.write(padded, requestFrame('ApiVersions', 0, id + 1, {}));
    const answer = await c.next();
    const followUp = await c.next();
    c.close();
    assert.equal(followUp?.readInt32BE(0), id + 1, 'the connection stays open');
    assert.ok(answer);
    return answer.subarray(4);
  };
  const before = await metric('broker_kafka_trailing_bytes_requests_total', 'api="Metadata"');
  assert.deepEqual(await ask(10, 3), await ask(20, 0));
  const names = decodeResponse('Metadata', 12, Buffer.concat([Buffer.alloc(4), await ask(30, 3)])).body
    .topics as { name: string }[];
  assert.ok(names.some((t) => t.name === 'big'));
  assert.equal(await metric('broker_kafka_trailing_bytes_requests_total', 'api="Metadata"'), before + 2);
  await assertHealthy();
});

test('int64 values beyond 2^53 get answers, never a dropped connection', async () => {
  const { c, call } = await client();
  const huge = 2n ** 62n;
  // An OffsetCommit of 2^62 is refused for its partition alone; an ordinary one beside it is stored.
  const committed = await call('OffsetCommit', 8, {
    groupId: 'g',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: 'big',
        partitions: [
          { partitionIndex: 0, committedOffset: huge, committedLeaderEpoch: -1, committedMetadata: '' },
        ],
      },
    ],
  });
  assert.equal(committed.topics[0].partitions[0].errorCode, 42, 'INVALID_REQUEST for that partition');
  const ok = await call('OffsetCommit', 8, {
    groupId: 'g',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: 'big',
        partitions: [
          { partitionIndex: 0, committedOffset: 5, committedLeaderEpoch: -1, committedMetadata: '' },
        ],
      },
    ],
  });
  assert.equal(ok.topics[0].partitions[0].errorCode, 0);
  const fetched = await call('OffsetFetch', 7, {
    groupId: 'g',
    topics: [{ name: 'big', partitionIndexes: [0] }],
    requireStable: false,
  });
  assert.equal(fetched.topics[0].partitions[0].committedOffset, 5, 'the refused commit changed nothing');

  // Fetch from offset 2^62 and -2^62: out of range, as in Kafka.
  for (const offset of [huge, -huge]) {
    const f = await call('Fetch', 11, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1024,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: 'big',
          partitions: [
            {
              partition: 0,
              currentLeaderEpoch: -1,
              fetchOffset: offset,
              logStartOffset: -1,
              partitionMaxBytes: 1024,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
    assert.equal(f.responses[0].partitions[0].errorCode, 1, `OFFSET_OUT_OF_RANGE for ${offset}`);
  }

  // ListOffsets for a time after every record: no offset.
  const lo = await call('ListOffsets', 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: 'big', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: huge }] }],
  });
  assert.equal(lo.topics[0].partitions[0].errorCode, 0);
  assert.equal(lo.topics[0].partitions[0].offset, -1);

  // InitProducerId with a producer id we never issued: a new one.
  const ip = await call('InitProducerId', 4, {
    transactionalId: null,
    transactionTimeoutMs: 60000,
    producerId: huge,
    producerEpoch: 3,
  });
  assert.equal(ip.errorCode, 0);
  assert.ok(Number.isSafeInteger(ip.producerId) && ip.producerId >= 0);

  // A batch whose producer id and timestamps are 2^62: an answer for the partition, whatever it is.
  const records = encodeBatch({ records: [{ value: Buffer.from('x') }] });
  for (const at of [27, 35, 43]) records.writeBigInt64BE(huge, at); // baseTimestamp, maxTimestamp, producerId
  records.writeUInt32BE(computeBatchCrc(records, 0, records.length), 17);
  const p = await call('Produce', 9, {
    transactionalId: null,
    acks: 1,
    timeoutMs: 5000,
    topicData: [{ name: 'big', partitionData: [{ index: 0, records }] }],
  });
  assert.equal(p.responses[0].partitionResponses.length, 1);
  c.close();
  await assertHealthy();
});

test('a client that pipelines 8 MiB fetches and never reads does not grow the broker by gigabytes', async () => {
  const c = await RawClient.open(port);
  c.socket.pause();
  const fetches = [];
  for (let id = 1; id <= 200; id++) {
    fetches.push(
      requestFrame('Fetch', 11, id, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 0,
        maxBytes: 64 * 1024 * 1024,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: 'big',
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 0,
                logStartOffset: -1,
                partitionMaxBytes: 64 * 1024 * 1024,
              },
            ],
          },
        ],
        forgottenTopicsData: [],
        rackId: '',
      }),
    );
  }
  c.write(...fetches);
  // 200 answers of 8 MiB are 1.6 GB; the broker may hold its 64 MiB bound plus a response or two.
  let peak = 0;
  for (let i = 0; i < 30; i++) {
    peak = Math.max(peak, await metric('process_resident_memory_bytes', 'node='));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(peak > 0, 'resident memory is reported');
  assert.ok(
    peak < 700 * 1024 * 1024,
    `resident memory ${Math.round(peak / 2 ** 20)} MiB stays far below 1.6 GB`,
  );
  // Reading, the client gets its answers in order (the first 20 of them: 160 MiB is enough to show it).
  c.socket.resume();
  for (let id = 1; id <= 20; id++) assert.equal((await c.next())?.readInt32BE(0), id);
  c.close();
  await assertHealthy();
});

test('idle connections and half-sent frames are closed and counted', async () => {
  const idleBefore = await metric('broker_kafka_connections_closed_total', 'reason="idle"');
  const slowBefore = await metric('broker_kafka_connections_closed_total', 'reason="slow_request"');
  const idle: RawClient[] = [];
  for (let i = 0; i < 200; i++) idle.push(await RawClient.open(port));
  const slow: RawClient[] = [];
  for (let i = 0; i < 20; i++) {
    const c = await RawClient.open(port);
    c.write(requestFrame('ApiVersions', 0, i, {}).subarray(0, 7));
    slow.push(c);
  }
  for (const c of [...idle, ...slow]) await c.closedPromise;
  await eventually(
    async () =>
      (await metric('broker_kafka_connections_closed_total', 'reason="idle"')) >= idleBefore + 200 &&
      (await metric('broker_kafka_connections_closed_total', 'reason="slow_request"')) >= slowBefore + 20,
    'the closes are counted',
  );
  await assertHealthy();
});
