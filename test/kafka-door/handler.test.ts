/**
 * The Kafka door's request handling against the embedded broker over a real socket, request by
 * request, at the edges real clients reach less often: long polls with min bytes, ListOffsets by
 * time, batched OffsetFetch (v8), DeleteTopics by topic id (v6), DescribeConfigs, and the errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBatch } from '../../src/records/batch.ts';
import { startBroker } from '../../src/server.ts';
import { kafkaCaller } from '../kafka/helpers.ts';

const kafka = kafkaCaller;

const batch = (values: string[], ts?: number) =>
  encodeBatch({
    records: values.map((v, i) => ({
      value: Buffer.from(v),
      timestamp: ts === undefined ? undefined : ts + i,
    })),
  });

test('Kafka requests at the edges, answered by the core', async (t) => {
  const broker = await startBroker({ autoCreateTopics: false, offsetsPartitions: 2 });
  t.after(() => broker.close());
  const k = await kafka(broker.kafkaPort);
  t.after(() => k.close());

  const created = await k.call('CreateTopics', 7, {
    topics: [
      {
        name: 'edge',
        numPartitions: 2,
        replicationFactor: -1,
        assignments: [],
        configs: [{ name: 'retention.ms', value: '-1' }],
      },
      { name: 'bad name!', numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] },
      { name: 'edge2', numPartitions: 1, replicationFactor: 3, assignments: [], configs: [] },
    ],
    timeoutMs: 1000,
    validateOnly: false,
  });
  assert.deepEqual(
    created.topics.map((x: { name: string; errorCode: number }) => [x.name, x.errorCode]),
    [
      ['edge', 0],
      ['bad name!', 17],
      ['edge2', 38],
    ],
  );
  assert.match(created.topics[0].topicId, /^[0-9a-f-]{36}$/);

  // Unknown topics are not created when auto-creation is off.
  const md = await k.call('Metadata', 9, {
    topics: [{ name: 'edge' }, { name: 'nope' }],
    allowAutoTopicCreation: true,
  });
  assert.deepEqual(
    md.topics.map((x: { name: string; errorCode: number; partitions: unknown[] }) => [
      x.name,
      x.errorCode,
      x.partitions.length,
    ]),
    [
      ['edge', 0, 2],
      ['nope', 3, 0],
    ],
  );

  await broker.core.produce('edge', 0, batch(['a', 'b'], 1000));
  await broker.core.produce('edge', 0, batch(['c'], 5000));

  // ListOffsets: latest, earliest, by time, max timestamp, and an unknown partition.
  const lo = await k.call('ListOffsets', 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [
      {
        name: 'edge',
        partitions: [
          { partitionIndex: 0, timestamp: -1 },
          { partitionIndex: 0, timestamp: -2 },
          { partitionIndex: 0, timestamp: 1001 },
          { partitionIndex: 0, timestamp: -3 },
          { partitionIndex: 0, timestamp: 9999 },
          { partitionIndex: 7, timestamp: -1 },
        ].map((p) => ({ ...p, currentLeaderEpoch: -1, maxNumOffsets: 1 })),
      },
    ],
  });
  assert.deepEqual(
    lo.topics[0].partitions.map((p: { errorCode: number; offset: number; timestamp: number }) => [
      p.errorCode,
      p.offset,
      p.timestamp,
    ]),
    [
      [0, 3, -1],
      [0, 0, -1],
      [0, 1, 1001],
      [0, 2, 5000],
      [0, -1, -1],
      [3, -1, -1],
    ],
  );

  // Fetch long poll: nothing at offset 3 until a produce arrives; min_bytes 1 answers with it.
  const fetchBody = (offset: number) => ({
    replicaId: -1,
    maxWaitMs: 10_000,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: 'edge',
        partitions: [
          {
            partition: 0,
            currentLeaderEpoch: -1,
            fetchOffset: offset,
            lastFetchedEpoch: -1,
            logStartOffset: -1,
            partitionMaxBytes: 1 << 20,
          },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  });
  const polling = k.call('Fetch', 12, fetchBody(3));
  setTimeout(() => void broker.core.produce('edge', 0, batch(['late'])), 100);
  const fetched = await polling;
  const p0 = fetched.responses[0].partitions[0];
  assert.equal(p0.errorCode, 0);
  assert.equal(p0.highWatermark, 4);
  assert.ok(p0.records.length > 0, 'the long poll returned the new batch');
  const out = await k.call('Fetch', 12, fetchBody(99));
  assert.equal(out.responses[0].partitions[0].errorCode, 1, 'OFFSET_OUT_OF_RANGE');
  const session = await k.call('Fetch', 12, { ...fetchBody(0), sessionId: 42 });
  assert.equal(session.errorCode, 70, 'FETCH_SESSION_ID_NOT_FOUND for a session we never created');

  // Offsets: a standalone commit (no group membership), then a batched v8 fetch of two groups.
  const commit = await k.call('OffsetCommit', 8, {
    groupId: 'tools',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: 'edge',
        partitions: [
          { partitionIndex: 0, committedOffset: 2, committedLeaderEpoch: -1, committedMetadata: 'm' },
          { partitionIndex: 5, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: null },
        ],
      },
    ],
  });
  assert.deepEqual(
    commit.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode),
    [0, 3],
  );
  const of = await k.call('OffsetFetch', 8, {
    groups: [
      { groupId: 'tools', topics: null },
      { groupId: 'other', topics: [{ name: 'edge', partitionIndexes: [0] }] },
    ],
    requireStable: false,
  });
  assert.deepEqual(of.groups[0].topics[0].partitions[0].committedOffset, 2);
  assert.deepEqual(of.groups[0].topics[0].partitions[0].metadata, 'm');
  assert.deepEqual(of.groups[1].topics[0].partitions[0].committedOffset, -1);

  // DescribeConfigs shows the topic's override and its defaults.
  const dc = await k.call('DescribeConfigs', 4, {
    resources: [
      { resourceType: 2, resourceName: 'edge', configurationKeys: ['retention.ms', 'cleanup.policy'] },
      { resourceType: 2, resourceName: 'missing', configurationKeys: null },
    ],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  const cfg = Object.fromEntries(
    dc.results[0].configs.map((c: { name: string; value: string; configSource: number }) => [
      c.name,
      [c.value, c.configSource],
    ]),
  );
  assert.deepEqual(cfg, { 'retention.ms': ['-1', 1], 'cleanup.policy': ['delete', 5] });
  assert.equal(dc.results[1].errorCode, 3);

  // DeleteTopics by topic id (v6), and the internal topic is refused.
  const del = await k.call('DeleteTopics', 6, {
    topics: [
      { name: null, topicId: created.topics[0].topicId },
      { name: '__consumer_offsets', topicId: '00000000-0000-0000-0000-000000000000' },
    ],
    topicNames: [],
    timeoutMs: 1000,
  });
  assert.deepEqual(
    del.responses.map((r: { name: string; errorCode: number }) => [r.name, r.errorCode]),
    [
      ['edge', 0],
      ['__consumer_offsets', 42],
    ],
  );
  assert.equal(broker.core.metadata.getTopic('edge'), undefined);

  // Produce to a missing topic (auto-create off) and with a v1 message format.
  const v1 = batch(['old']);
  v1[16] = 1;
  await broker.core.createTopic({ name: 'p' });
  const pr = await k.call('Produce', 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 1000,
    topicData: [
      { name: 'gone', partitionData: [{ index: 0, records: batch(['x']) }] },
      { name: 'p', partitionData: [{ index: 0, records: v1 }] },
    ],
  });
  assert.deepEqual(
    pr.responses.map(
      (r: { partitionResponses: { errorCode: number }[] }) => r.partitionResponses[0].errorCode,
    ),
    [3, 43],
  );
});

test('gRPC DescribeGroup reads the partitions a Kafka group leader assigned', async () => {
  const { decodeConsumerAssignment } = await import('../../src/broker/groups/coordinator.ts');
  // ConsumerProtocolAssignment v0: version, [topic, [partition]], user data (null).
  const b = Buffer.alloc(2 + 4 + 2 + 6 + 4 + 8 + 4);
  let at = b.writeInt16BE(0, 0);
  at = b.writeInt32BE(1, at);
  at = b.writeInt16BE(6, at);
  at += b.write('orders', at);
  at = b.writeInt32BE(2, at);
  at = b.writeInt32BE(0, at);
  at = b.writeInt32BE(3, at);
  b.writeInt32BE(-1, at);
  assert.deepEqual(decodeConsumerAssignment(b), [{ topic: 'orders', partitions: [0, 3] }]);
  assert.deepEqual(
    decodeConsumerAssignment(Buffer.from([0, 0, 0x7f, 0xff, 0xff, 0xff])),
    [],
    'a lying count is refused',
  );
  assert.deepEqual(decodeConsumerAssignment(Buffer.alloc(0)), []);
});

test('Kafka requests are timed in broker_request_duration_seconds with api="kafka"', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  const k = await kafka(broker.kafkaPort);
  t.after(() => k.close());
  await k.call('Metadata', 9, { topics: null, allowAutoTopicCreation: false });
  const text = await broker.metrics.registry.metrics();
  // prom-client puts the default label (node) first, so look for the labels in any order.
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('broker_request_duration_seconds_count{') &&
        l.includes('api="kafka"') &&
        l.includes('method="Metadata"'),
    );
  assert.ok(line, 'a Kafka Metadata request was timed');
  assert.match(line, /outcome="ok".* 1$/);
});
