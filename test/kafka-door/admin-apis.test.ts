/**
 * The admin APIs of issue 16 section 3 over raw frames against the real broker process: what each
 * answers and each of its errors, and that what it changes is seen through the other APIs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { BrokerClient } from '../../src/client/index.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import type { BrokerProcess } from '../helpers/broker-process.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import type { KafkaCaller } from '../kafka/helpers.ts';
import { fetchOnePartition, kafka } from './raw.ts';

const adminCli = path.join(new URL('../../', import.meta.url).pathname, 'src/cli/broker-admin.ts');

/** `broker-admin --json` against the broker's gRPC port: exit code, stdout and stderr. */
async function brokerAdmin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [
      adminCli,
      '--server',
      broker.grpcAddress,
      '--json',
      ...args,
    ]);
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dataDir: string;
let broker: BrokerProcess;
let k: KafkaCaller;
/** This node's Kafka id, from Metadata. */
let nodeId: number;

before(async () => {
  dataDir = await tempDir();
  broker = await spawnBroker(dataDir);
  k = await kafka(broker.kafkaPort!);
  const meta = await k.call('Metadata', 12, {
    topics: [],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  nodeId = meta.brokers[0].nodeId;
});

after(async () => {
  k?.close();
  await broker?.stop();
});

test('DescribeCluster names this node as the one broker and the controller, with the cluster id', async () => {
  const meta = await k.call('Metadata', 12, {
    topics: [],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  for (const v of [0, 1]) {
    const r = await k.call('DescribeCluster', v, {
      includeClusterAuthorizedOperations: false,
      endpointType: 1,
    });
    assert.equal(r.errorCode, 0);
    assert.equal(r.clusterId, meta.clusterId);
    assert.equal(r.controllerId, meta.brokers[0].nodeId);
    assert.deepEqual(
      r.brokers.map((b: { brokerId: number; host: string; port: number }) => [b.brokerId, b.host, b.port]),
      [[meta.brokers[0].nodeId, meta.brokers[0].host, broker.kafkaPort]],
    );
  }
  const controllers = await k.call('DescribeCluster', 1, {
    includeClusterAuthorizedOperations: false,
    endpointType: 2,
  });
  assert.equal(controllers.errorCode, 114, 'MISMATCHED_ENDPOINT_TYPE');
  assert.deepEqual(controllers.brokers, []);
  const unknown = await k.call('DescribeCluster', 1, {
    includeClusterAuthorizedOperations: false,
    endpointType: 7,
  });
  assert.equal(unknown.errorCode, 115, 'UNSUPPORTED_ENDPOINT_TYPE');
});

/** A topic's own configs as DescribeConfigs reports them (source TOPIC_CONFIG). */
async function ownConfigs(topic: string): Promise<Record<string, string>> {
  const r = await k.call('DescribeConfigs', 4, {
    resources: [{ resourceType: 2, resourceName: topic, configurationKeys: null }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  assert.equal(r.results[0].errorCode, 0);
  return Object.fromEntries(
    r.results[0].configs
      .filter((c: { configSource: number }) => c.configSource === 1)
      .map((c: { name: string; value: string }) => [c.name, c.value]),
  );
}

async function createTopic(name: string, partitions = 1, configs: Record<string, string> = {}) {
  const r = await k.call('CreateTopics', 7, {
    topics: [
      {
        name,
        numPartitions: partitions,
        replicationFactor: -1,
        assignments: [],
        configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })),
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(r.topics[0].errorCode, 0, r.topics[0].errorMessage);
}

test('AlterConfigs replaces a topic’s own configs; validate-only, bad values, unknown topics and broker keys are refused per resource', async () => {
  await createTopic('alter-legacy', 1, { 'retention.ms': '1000000', 'segment.jitter.ms': '5' });
  const alter = (resources: unknown[], validateOnly = false, v = 2) =>
    k.call('AlterConfigs', v, { resources, validateOnly });
  const topic = (configs: Record<string, string | null>) => ({
    resourceType: 2,
    resourceName: 'alter-legacy',
    configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
  });

  const dry = await alter([topic({ 'cleanup.policy': 'compact' })], true);
  assert.equal(dry.responses[0].errorCode, 0);
  assert.deepEqual(await ownConfigs('alter-legacy'), { 'retention.ms': '1000000', 'segment.jitter.ms': '5' });

  for (const v of [0, 1, 2]) {
    const r = await alter(
      [topic({ 'cleanup.policy': 'compact', 'max.message.bytes': String(2000 + v) })],
      false,
      v,
    );
    assert.equal(r.responses[0].errorCode, 0, r.responses[0].errorMessage);
    assert.deepEqual(await ownConfigs('alter-legacy'), {
      'cleanup.policy': 'compact',
      'max.message.bytes': String(2000 + v),
    });
  }

  const r = await alter([
    topic({ 'retention.ms': 'soon' }),
    { resourceType: 2, resourceName: 'no-such-topic', configs: [] },
    { resourceType: 4, resourceName: String(nodeId), configs: [{ name: 'log.retention.ms', value: '1' }] },
    { resourceType: 4, resourceName: '999', configs: [] },
    { resourceType: 16, resourceName: 'x', configs: [] },
  ]);
  const codes = r.responses.map((x: { errorCode: number }) => x.errorCode);
  assert.deepEqual(codes, [40, 3, 40, 42, 42]);
  assert.match(r.responses[0].errorMessage, /retention\.ms/);
  assert.match(r.responses[2].errorMessage, /log\.retention\.ms/);
  // A refused resource changed nothing.
  assert.equal((await ownConfigs('alter-legacy'))['max.message.bytes'], '2002');

  const twice = await alter([topic({}), topic({})]);
  assert.deepEqual(
    twice.responses.map((x: { errorCode: number }) => x.errorCode),
    [42, 42],
  );
});

test('IncrementalAlterConfigs sets, deletes, appends to and subtracts from a topic’s configs', async () => {
  await createTopic('alter-incremental', 1, { 'retention.ms': '1000000' });
  const alter = (configs: { name: string; configOperation: number; value: string | null }[], v = 1) =>
    k.call('IncrementalAlterConfigs', v, {
      resources: [{ resourceType: 2, resourceName: 'alter-incremental', configs }],
      validateOnly: false,
    });
  let r = await alter(
    [
      { name: 'segment.bytes', configOperation: 0, value: '1048576' },
      { name: 'cleanup.policy', configOperation: 2, value: 'compact' },
    ],
    0,
  );
  assert.equal(r.responses[0].errorCode, 0, r.responses[0].errorMessage);
  assert.deepEqual(await ownConfigs('alter-incremental'), {
    'retention.ms': '1000000',
    'segment.bytes': '1048576',
    'cleanup.policy': 'delete,compact',
  });
  r = await alter([
    { name: 'retention.ms', configOperation: 1, value: null },
    { name: 'cleanup.policy', configOperation: 3, value: 'delete' },
  ]);
  assert.equal(r.responses[0].errorCode, 0, r.responses[0].errorMessage);
  assert.deepEqual(await ownConfigs('alter-incremental'), {
    'segment.bytes': '1048576',
    'cleanup.policy': 'compact',
  });
  for (const bad of [
    [{ name: 'segment.bytes', configOperation: 2, value: '1' }],
    [{ name: 'no.such.config', configOperation: 1, value: null }],
    [{ name: 'segment.bytes', configOperation: 9, value: '1' }],
    [{ name: 'message.timestamp.type', configOperation: 0, value: 'LogAppendTime' }],
  ]) {
    r = await alter(bad);
    assert.equal(r.responses[0].errorCode, 40, JSON.stringify(bad));
  }
  r = await alter([
    { name: 'segment.bytes', configOperation: 0, value: '2097152' },
    { name: 'segment.bytes', configOperation: 1, value: null },
  ]);
  assert.equal(r.responses[0].errorCode, 42);
  assert.equal((await ownConfigs('alter-incremental'))['segment.bytes'], '1048576');
});

test('broker-admin alter-configs sets and deletes topic configs through gRPC, seen by Kafka DescribeConfigs', async () => {
  await createTopic('alter-cli', 1, { 'retention.ms': '1000000', 'segment.jitter.ms': '5' });
  const r = await brokerAdmin(
    'alter-configs',
    'alter-cli',
    '--set',
    'max.message.bytes=4096',
    '--delete',
    'retention.ms',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).name, 'alter-cli');
  assert.deepEqual(await ownConfigs('alter-cli'), { 'max.message.bytes': '4096', 'segment.jitter.ms': '5' });
  const bad = await brokerAdmin('alter-configs', 'alter-cli', '--delete', 'no.such.config');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no\.such\.config.*INVALID_CONFIG/);
  const usage = await brokerAdmin('alter-configs', 'alter-cli');
  assert.equal(usage.code, 2);
});

/** Appends `batches` batches of two records each to one partition. */
async function produce(topic: string, partition: number, batches: number): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const records = encodeBatch({
      records: [{ value: Buffer.alloc(300, b) }, { value: Buffer.from(`batch ${b}`) }],
    });
    const r = await k.call('Produce', 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
    });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
  }
}

async function earliest(topic: string, partition: number): Promise<number> {
  const r = await k.call('ListOffsets', 8, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [
      { name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -2 }] },
    ],
  });
  assert.equal(r.topics[0].partitions[0].errorCode, 0);
  return r.topics[0].partitions[0].offset;
}

async function fetchFrom(topic: string, partition: number, offset: number) {
  const r = await k.call('Fetch', 12, fetchOnePartition(topic, partition, offset));
  return r.responses[0].partitions[0];
}

const segmentFiles = (topic: string, partition: number) =>
  readdirSync(path.join(dataDir, `${topic}-${partition}`)).filter((f) => f.endsWith('.log')).length;

test('DeleteRecords moves the log start offset durably, removes whole segments below it and refuses offsets past the high watermark', async () => {
  // Small segments, so that 10 batches span several and whole ones go.
  await createTopic('trimmed', 2, { 'segment.bytes': '1024' });
  await produce('trimmed', 0, 10);
  await produce('trimmed', 1, 2);
  const segmentsBefore = segmentFiles('trimmed', 0);
  assert.ok(segmentsBefore >= 3, `several segments (${segmentsBefore})`);
  const del = (partitions: { partitionIndex: number; offset: number }[], name = 'trimmed', v = 2) =>
    k.call('DeleteRecords', v, { topics: [{ name, partitions }], timeoutMs: 5000 });

  let r = await del([
    { partitionIndex: 0, offset: 7 },
    { partitionIndex: 1, offset: 5 },
    { partitionIndex: 9, offset: 0 },
  ]);
  assert.deepEqual(
    r.topics[0].partitions.map((p: { partitionIndex: number; lowWatermark: number; errorCode: number }) => [
      p.partitionIndex,
      p.lowWatermark,
      p.errorCode,
    ]),
    [
      [0, 7, 0],
      [1, -1, 1], // OFFSET_OUT_OF_RANGE: partition 1's high watermark is 4
      [9, -1, 3],
    ],
  );
  assert.equal(await earliest('trimmed', 0), 7);
  assert.equal(await earliest('trimmed', 1), 0, 'a refused partition keeps its records');
  assert.ok(segmentFiles('trimmed', 0) < segmentsBefore, 'whole segments below the new start are removed');
  assert.equal((await fetchFrom('trimmed', 0, 5)).errorCode, 1, 'records below the start are gone');
  const from7 = await fetchFrom('trimmed', 0, 7);
  assert.equal(from7.errorCode, 0);
  assert.equal(from7.logStartOffset, 7);
  assert.ok(from7.records.length > 0);

  // An offset below the start changes nothing; -1 is the high watermark; older versions answer alike.
  r = await del([{ partitionIndex: 0, offset: 3 }], 'trimmed', 0);
  assert.equal(r.topics[0].partitions[0].lowWatermark, 7);
  r = await del([{ partitionIndex: 1, offset: -1 }], 'trimmed', 1);
  assert.deepEqual([r.topics[0].partitions[0].lowWatermark, r.topics[0].partitions[0].errorCode], [4, 0]);
  assert.equal(await earliest('trimmed', 1), 4);
  r = await del([{ partitionIndex: 0, offset: 0 }], 'no-such-topic');
  assert.equal(r.topics[0].partitions[0].errorCode, 3);
  r = await del([{ partitionIndex: 0, offset: 0 }], '__consumer_offsets');
  assert.equal(r.topics[0].partitions[0].errorCode, 17);
  await createTopic('trimmed-compacted', 1, { 'cleanup.policy': 'compact' });
  r = await del([{ partitionIndex: 0, offset: 0 }], 'trimmed-compacted');
  assert.equal(r.topics[0].partitions[0].errorCode, 44, 'POLICY_VIOLATION for a compact-only topic');

  // Produce continues from the log end, and the new start survives SIGKILL.
  await produce('trimmed', 0, 1);
  k.close();
  assert.equal(await broker.stop('SIGKILL'), 'SIGKILL');
  broker = await spawnBroker(dataDir);
  k = await kafka(broker.kafkaPort!);
  assert.equal(await earliest('trimmed', 0), 7);
  assert.equal(await earliest('trimmed', 1), 4);
  assert.equal((await fetchFrom('trimmed', 0, 6)).errorCode, 1);
});

test('broker-admin delete-records deletes through gRPC; Kafka ListOffsets sees the new start', async () => {
  await createTopic('trimmed-cli', 1);
  await produce('trimmed-cli', 0, 3);
  const r = await brokerAdmin('delete-records', 'trimmed-cli', '--partition', '0', '--offset', '4');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { topic: 'trimmed-cli', partition: 0, lowWatermark: 4 });
  assert.equal(await earliest('trimmed-cli', 0), 4);
  const past = await brokerAdmin('delete-records', 'trimmed-cli', '--partition', '0', '--offset', '99');
  assert.equal(past.code, 1);
  assert.match(past.stderr, /OFFSET_OUT_OF_RANGE/);
  const all = await brokerAdmin('delete-records', 'trimmed-cli', '--partition', '0', '--offset=-1');
  assert.equal(JSON.parse(all.stdout).lowWatermark, 6);
});

/** Commits `offset` for each partition of `topic` as a simple consumer (no member, generation -1). */
async function commit(group: string, topic: string, partitions: number[], offset: number): Promise<void> {
  const r = await k.call('OffsetCommit', 8, {
    groupId: group,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: topic,
        partitions: partitions.map((p) => ({
          partitionIndex: p,
          committedOffset: offset,
          committedLeaderEpoch: -1,
          committedMetadata: null,
        })),
      },
    ],
  });
  for (const p of r.topics[0].partitions) assert.equal(p.errorCode, 0);
}

/** The group's committed offsets of `topic`'s partitions (-1 where none). */
async function committed(group: string, topic: string, partitions: number[]): Promise<number[]> {
  const r = await k.call('OffsetFetch', 7, {
    groupId: group,
    topics: [{ name: topic, partitionIndexes: partitions }],
    requireStable: false,
  });
  return r.topics[0].partitions.map((p: { committedOffset: number }) => p.committedOffset);
}

/** Kafka's consumer protocol subscription (version 0): the topics, no user data. */
function subscription(topics: string[]): Buffer {
  const parts = [Buffer.from([0, 0]), Buffer.alloc(4)];
  parts[1].writeInt32BE(topics.length);
  for (const t of topics) {
    const len = Buffer.alloc(2);
    len.writeInt16BE(Buffer.byteLength(t));
    parts.push(len, Buffer.from(t));
  }
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  return Buffer.concat(parts);
}

/** Joins `group` as a static member subscribed to `topics` (no MEMBER_ID_REQUIRED round). */
async function joinStatic(group: string, topics: string[]): Promise<void> {
  const r = await k.call('JoinGroup', 9, {
    groupId: group,
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 30_000,
    memberId: '',
    groupInstanceId: `${group}-instance`,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription(topics) }],
    reason: null,
  });
  assert.equal(r.errorCode, 0);
}

test('DeleteGroups deletes only empty groups and tombstones their offsets, which stay gone after a restart', async () => {
  await createTopic('grouped', 2);
  await commit('idle-group', 'grouped', [0, 1], 5);
  await commit('kept-group', 'grouped', [0], 3);
  await joinStatic('busy-group', ['grouped']);
  const del = (names: string[], v = 2) => k.call('DeleteGroups', v, { groupsNames: names });
  const r = await del(['idle-group', 'busy-group', 'no-such-group', '']);
  assert.deepEqual(
    r.results.map((x: { groupId: string; errorCode: number }) => [x.groupId, x.errorCode]),
    [
      ['idle-group', 0],
      ['busy-group', 68], // NON_EMPTY_GROUP
      ['no-such-group', 69], // GROUP_ID_NOT_FOUND
      ['', 24], // INVALID_GROUP_ID
    ],
  );
  assert.deepEqual(await committed('idle-group', 'grouped', [0, 1]), [-1, -1]);
  assert.equal((await del(['idle-group'], 0)).results[0].errorCode, 69, 'deleted once');
  k.close();
  assert.equal(await broker.stop('SIGKILL'), 'SIGKILL');
  broker = await spawnBroker(dataDir);
  k = await kafka(broker.kafkaPort!);
  assert.deepEqual(await committed('idle-group', 'grouped', [0, 1]), [-1, -1], 'tombstones were durable');
  assert.deepEqual(await committed('kept-group', 'grouped', [0]), [3], 'other groups keep their offsets');
  assert.equal((await del(['idle-group'])).results[0].errorCode, 69, 'the group did not come back');
});

test('broker-admin delete-group deletes an empty group through gRPC and refuses a missing one', async () => {
  await createTopic('grouped-cli', 1);
  await commit('cli-group', 'grouped-cli', [0], 2);
  const r = await brokerAdmin('delete-group', 'cli-group');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { deleted: 'cli-group' });
  assert.deepEqual(await committed('cli-group', 'grouped-cli', [0]), [-1]);
  const again = await brokerAdmin('delete-group', 'cli-group');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /GROUP_ID_NOT_FOUND/);
});

test('OffsetDelete removes a group’s offsets except for topics a member subscribes to', async () => {
  await createTopic('od-sub', 2);
  await createTopic('od-free', 2);
  await commit('od-group', 'od-sub', [0, 1], 5);
  await commit('od-group', 'od-free', [0, 1], 5);
  await joinStatic('od-group', ['od-sub']);
  const r = await k.call('OffsetDelete', 0, {
    groupId: 'od-group',
    topics: [
      { name: 'od-sub', partitions: [{ partitionIndex: 0 }] },
      { name: 'od-free', partitions: [{ partitionIndex: 0 }, { partitionIndex: 5 }] },
      { name: 'od-missing', partitions: [{ partitionIndex: 0 }] },
    ],
  });
  assert.equal(r.errorCode, 0);
  assert.deepEqual(
    r.topics.map((t: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }) => [
      t.name,
      t.partitions.map((p) => [p.partitionIndex, p.errorCode]),
    ]),
    [
      ['od-sub', [[0, 86]]], // GROUP_SUBSCRIBED_TO_TOPIC
      [
        'od-free',
        [
          [0, 0],
          [5, 3],
        ],
      ],
      ['od-missing', [[0, 3]]],
    ],
  );
  assert.deepEqual(await committed('od-group', 'od-free', [0, 1]), [-1, 5]);
  assert.deepEqual(await committed('od-group', 'od-sub', [0, 1]), [5, 5]);

  // A group without members loses any offset asked for.
  await commit('od-empty', 'od-sub', [0, 1], 7);
  const empty = await k.call('OffsetDelete', 0, {
    groupId: 'od-empty',
    topics: [{ name: 'od-sub', partitions: [{ partitionIndex: 1 }] }],
  });
  assert.equal(empty.topics[0].partitions[0].errorCode, 0);
  assert.deepEqual(await committed('od-empty', 'od-sub', [0, 1]), [7, -1]);

  const missing = await k.call('OffsetDelete', 0, { groupId: 'od-no-such-group', topics: [] });
  assert.equal(missing.errorCode, 69, 'GROUP_ID_NOT_FOUND');
});

test('CreatePartitions grows a topic on this node, refuses counts not larger and assignments naming other brokers', async () => {
  await createTopic('growing', 2);
  await produce('growing', 1, 1);
  const grow = (topics: unknown[], validateOnly = false, v = 3) =>
    k.call('CreatePartitions', v, { topics, timeoutMs: 5000, validateOnly });
  const partitionsOf = async (topic: string) => {
    const m = await k.call('Metadata', 12, {
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: topic }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    return m.topics[0].partitions.length;
  };

  assert.equal(
    (await grow([{ name: 'growing', count: 4, assignments: null }], true)).results[0].errorCode,
    0,
  );
  assert.equal(await partitionsOf('growing'), 2, 'validate-only changes nothing');
  const r = await grow([
    { name: 'growing', count: 4, assignments: [{ brokerIds: [nodeId] }, { brokerIds: [nodeId] }] },
    { name: 'no-such-topic', count: 4, assignments: null },
  ]);
  assert.deepEqual(
    r.results.map((x: { name: string; errorCode: number }) => [x.name, x.errorCode]),
    [
      ['growing', 0],
      ['no-such-topic', 3],
    ],
  );
  assert.equal(await partitionsOf('growing'), 4);
  await produce('growing', 3, 2);
  assert.equal(await earliest('growing', 3), 0);

  await commit('growing-group', 'growing', [0], 1); // so that __consumer_offsets exists
  for (const [topic, code, pattern] of [
    [{ name: 'growing', count: 4, assignments: null }, 37, /already has 4/],
    [{ name: 'growing', count: 3, assignments: null }, 37, /higher than the requested 3/],
    [{ name: 'growing', count: 6, assignments: [{ brokerIds: [nodeId] }] }, 39, /2 additional/],
    [{ name: 'growing', count: 5, assignments: [{ brokerIds: [nodeId + 1] }] }, 39, /broker/],
    [{ name: '__consumer_offsets', count: 99, assignments: null }, 44, /internal/],
  ] as const) {
    const x = (await grow([topic], false, 0)).results[0];
    assert.equal(x.errorCode, code, JSON.stringify(topic));
    if (topic.name !== '__consumer_offsets' || x.errorMessage !== null)
      assert.match(x.errorMessage ?? '', pattern);
  }
  const twice = await grow([
    { name: 'growing', count: 8, assignments: null },
    { name: 'growing', count: 9, assignments: null },
  ]);
  assert.deepEqual(
    twice.results.map((x: { errorCode: number }) => x.errorCode),
    [42, 42],
  );

  // The new partitions survive a restart, with their records.
  k.close();
  assert.equal(await broker.stop('SIGKILL'), 'SIGKILL');
  broker = await spawnBroker(dataDir);
  k = await kafka(broker.kafkaPort!);
  assert.equal(await partitionsOf('growing'), 4);
  assert.ok((await fetchFrom('growing', 3, 0)).records.length > 0);
});

test('DescribeLogDirs reports the data directory with each partition’s size and no lag', async () => {
  await createTopic('sized', 2);
  await produce('sized', 0, 3);
  for (const v of [0, 4]) {
    const r = await k.call('DescribeLogDirs', v, {
      topics: [
        { topic: 'sized', partitions: [0, 1, 7] },
        { topic: 'no-such-topic', partitions: [0] },
      ],
    });
    assert.equal(r.results.length, 1);
    const dir = r.results[0];
    assert.equal(dir.errorCode, 0);
    assert.equal(dir.logDir, path.resolve(dataDir));
    assert.deepEqual(
      dir.topics.map((t: { name: string; partitions: { partitionIndex: number; offsetLag: number }[] }) => [
        t.name,
        t.partitions.map((p) => [p.partitionIndex, p.offsetLag]),
      ]),
      [
        [
          'sized',
          [
            [0, 0],
            [1, 0],
          ],
        ],
      ],
    );
    const [p0, p1] = dir.topics[0].partitions;
    assert.ok(p0.partitionSize > p1.partitionSize, 'the partition with records is larger');
    if (v >= 4) assert.ok(dir.totalBytes >= dir.usableBytes && dir.usableBytes > 0);
  }
  const all = await k.call('DescribeLogDirs', 4, { topics: null });
  const names = all.results[0].topics.map((t: { name: string }) => t.name);
  const meta = await k.call('Metadata', 12, {
    topics: null,
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  assert.deepEqual(
    [...names].sort(),
    meta.topics.map((t: { name: string }) => t.name).sort(),
    'a null topic list describes every topic',
  );
  assert.ok(names.includes('sized'));
});

test('DescribeProducers lists a partition’s idempotent producers with epoch and last sequence', async () => {
  await createTopic('produced', 1);
  const { producerId, producerEpoch } = await k.call('InitProducerId', 4, {
    transactionalId: null,
    transactionTimeoutMs: 60_000,
    producerId: -1,
    producerEpoch: -1,
  });
  for (const [baseSequence, count] of [
    [0, 3],
    [3, 2],
  ]) {
    const records = encodeBatch({
      producerId,
      producerEpoch,
      baseSequence,
      records: Array.from({ length: count }, (_, i) => ({ value: Buffer.from(`r${baseSequence + i}`) })),
    });
    const r = await k.call('Produce', 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'produced', partitionData: [{ index: 0, records }] }],
    });
    assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
  }
  const r = await k.call('DescribeProducers', 0, {
    topics: [
      { name: 'produced', partitionIndexes: [0, 4] },
      { name: 'sized', partitionIndexes: [0] },
    ],
  });
  const [produced, sized] = r.topics;
  assert.equal(produced.partitions[0].errorCode, 0);
  assert.deepEqual(
    produced.partitions[0].activeProducers.map(
      (p: {
        producerId: number;
        producerEpoch: number;
        lastSequence: number;
        currentTxnStartOffset: number;
      }) => [p.producerId, p.producerEpoch, p.lastSequence, p.currentTxnStartOffset],
    ),
    [[producerId, producerEpoch, 4, -1]],
  );
  assert.equal(produced.partitions[1].errorCode, 3);
  assert.deepEqual(sized.partitions[0].activeProducers, [], 'no idempotent producer wrote there');
});

test('gRPC CreatePartitions and DeleteOffsets act on what the Kafka door sees', async (t) => {
  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  await createTopic('grpc-admin', 1);
  const grown = await client.createPartitions('grpc-admin', 3);
  assert.equal(grown.partitions, 3);
  assert.equal(await earliest('grpc-admin', 2), 0, 'the Kafka door serves the new partition');
  await assert.rejects(client.createPartitions('grpc-admin', 3), { code: 'INVALID_PARTITIONS' });

  await commit('grpc-od', 'grpc-admin', [0, 1], 9);
  await joinStatic('grpc-od', ['od-sub-grpc']);
  let results = await client.deleteOffsets('grpc-od', [{ topic: 'grpc-admin', partitions: [0, 7] }]);
  assert.deepEqual(results, [
    { topic: 'grpc-admin', partition: 0, error: '' },
    { topic: 'grpc-admin', partition: 7, error: 'UNKNOWN_TOPIC_OR_PARTITION' },
  ]);
  assert.deepEqual(await committed('grpc-od', 'grpc-admin', [0, 1]), [-1, 9]);
  await joinStatic('grpc-od-subscribed', ['grpc-admin']);
  results = await client.deleteOffsets('grpc-od-subscribed', [{ topic: 'grpc-admin', partitions: [0] }]);
  assert.deepEqual(results, [{ topic: 'grpc-admin', partition: 0, error: 'GROUP_SUBSCRIBED_TO_TOPIC' }]);
  await assert.rejects(client.deleteOffsets('grpc-no-such-group', []), { code: 'GROUP_ID_NOT_FOUND' });
});
