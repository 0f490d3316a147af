/**
 * ElectLeaders, AlterPartitionReassignments, ListPartitionReassignments and CreatePartitions' manual
 * assignments over raw frames against the real broker process, a single node: what each version
 * answers, each error, and that what one changes the others see.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BrokerProcess } from '../helpers/broker-process.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import type { KafkaCaller } from '../kafka/helpers.ts';
import { kafka } from './raw.ts';

const NONE = 0;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const INVALID_REPLICATION_FACTOR = 38;
const INVALID_REPLICA_ASSIGNMENT = 39;
const INVALID_REQUEST = 42;
const ELECTION_NOT_NEEDED = 84;
const NO_REASSIGNMENT_IN_PROGRESS = 85;

let broker: BrokerProcess;
let k: KafkaCaller;
/** This node's Kafka id, from Metadata. */
let nodeId: number;

before(async () => {
  broker = await spawnBroker(await tempDir());
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

async function createTopic(name: string, partitions: number): Promise<void> {
  const r = await k.call('CreateTopics', 7, {
    topics: [{ name, numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(r.topics[0].errorCode, NONE, r.topics[0].errorMessage);
}

/** Each partition's replicas, from Metadata. */
async function replicasOf(topic: string): Promise<number[][]> {
  const m = await k.call('Metadata', 12, {
    topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: topic }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  assert.equal(m.topics[0].errorCode, NONE);
  return m.topics[0].partitions
    .sort(
      (a: { partitionIndex: number }, b: { partitionIndex: number }) => a.partitionIndex - b.partitionIndex,
    )
    .map((p: { replicaNodes: number[] }) => p.replicaNodes);
}

/** [topic, partition, error code] of each partition of a response grouped by topic. */
function flat(
  topics: { name?: string; topic?: string; partitions?: unknown[]; partitionResult?: unknown[] }[],
): [string, number, number][] {
  return topics.flatMap((t) =>
    ((t.partitions ?? t.partitionResult ?? []) as Record<string, number>[]).map(
      (p) =>
        [t.name ?? t.topic ?? '', p.partitionIndex ?? p.partitionId, p.errorCode] as [string, number, number],
    ),
  );
}

test('ListPartitionReassignments answers no moves, for all topics and for topics named, known or not', async () => {
  await createTopic('listed', 2);
  for (const topics of [
    null,
    [{ name: 'listed', partitionIndexes: [0, 1] }],
    [{ name: 'nope', partitionIndexes: [0] }],
  ]) {
    const r = await k.call('ListPartitionReassignments', 0, { timeoutMs: 5000, topics });
    assert.equal(r.errorCode, NONE);
    assert.equal(r.errorMessage, null);
    assert.deepEqual(r.topics, [], JSON.stringify(topics));
  }
});

test('AlterPartitionReassignments: to this node is no move and succeeds; unknown brokers, topics, duplicates and cancels without a move are refused per partition', async () => {
  await createTopic('moving', 3);
  for (const v of [0, 1]) {
    const r = await k.call('AlterPartitionReassignments', v, {
      timeoutMs: 5000,
      allowReplicationFactorChange: true,
      topics: [
        {
          name: 'moving',
          partitions: [
            { partitionIndex: 0, replicas: [nodeId] },
            { partitionIndex: 1, replicas: [99] },
            { partitionIndex: 2, replicas: null },
          ],
        },
        { name: 'no-such-topic', partitions: [{ partitionIndex: 0, replicas: [nodeId] }] },
      ],
    });
    assert.equal(r.errorCode, NONE, r.errorMessage);
    if (v === 1) assert.equal(r.allowReplicationFactorChange, true);
    assert.deepEqual(flat(r.responses), [
      ['moving', 0, NONE],
      ['moving', 1, INVALID_REPLICA_ASSIGNMENT],
      ['moving', 2, NO_REASSIGNMENT_IN_PROGRESS],
      ['no-such-topic', 0, UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    const refused = r.responses[0].partitions[1];
    assert.match(refused.errorMessage, /99/, 'the message names the unknown broker');
    assert.equal(r.responses[0].partitions[0].errorMessage, null);
  }
  assert.deepEqual(await replicasOf('moving'), [[nodeId], [nodeId], [nodeId]], 'nothing moved');
  const listed = await k.call('ListPartitionReassignments', 0, { timeoutMs: 5000, topics: null });
  assert.deepEqual(listed.topics, []);

  // A partition named twice, in one topic entry or in two, is INVALID_REQUEST and answered once.
  const twice = await k.call('AlterPartitionReassignments', 0, {
    timeoutMs: 5000,
    topics: [
      {
        name: 'moving',
        partitions: [
          { partitionIndex: 0, replicas: [nodeId] },
          { partitionIndex: 0, replicas: [nodeId] },
          { partitionIndex: 1, replicas: [nodeId] },
        ],
      },
      { name: 'moving', partitions: [{ partitionIndex: 1, replicas: [nodeId] }] },
    ],
  });
  assert.deepEqual(flat(twice.responses), [
    ['moving', 0, INVALID_REQUEST],
    ['moving', 1, INVALID_REQUEST],
  ]);

  // Version 1 without a replication factor change refuses a list of another length before the controller.
  const rf = await k.call('AlterPartitionReassignments', 1, {
    timeoutMs: 5000,
    allowReplicationFactorChange: false,
    topics: [
      {
        name: 'moving',
        partitions: [
          { partitionIndex: 0, replicas: [nodeId, 99] },
          { partitionIndex: 1, replicas: [nodeId] },
        ],
      },
    ],
  });
  assert.equal(rf.allowReplicationFactorChange, false);
  assert.deepEqual(flat(rf.responses), [
    ['moving', 0, INVALID_REPLICATION_FACTOR],
    ['moving', 1, NONE],
  ]);
  assert.match(rf.responses[0].partitions[0].errorMessage, /allowReplicationFactorChange/);

  const none = await k.call('AlterPartitionReassignments', 0, { timeoutMs: 5000, topics: [] });
  assert.deepEqual([none.errorCode, none.responses], [NONE, []]);
});

test('ElectLeaders: a preferred election on a single node is not needed, in every version; unknown topics per partition', async () => {
  await createTopic('electing', 2);
  for (const v of [0, 1, 2]) {
    const r = await k.call('ElectLeaders', v, {
      electionType: 0,
      topicPartitions: [
        { topic: 'electing', partitions: [0, 1, 1] },
        { topic: 'no-such-topic', partitions: [0, 4] },
      ],
      timeoutMs: 5000,
    });
    if (v >= 1) assert.equal(r.errorCode, NONE);
    assert.deepEqual(
      flat(r.replicaElectionResults),
      [
        ['electing', 0, ELECTION_NOT_NEEDED],
        ['electing', 1, ELECTION_NOT_NEEDED],
        ['no-such-topic', 0, UNKNOWN_TOPIC_OR_PARTITION],
        ['no-such-topic', 4, UNKNOWN_TOPIC_OR_PARTITION],
      ],
      `v${v}: a partition named twice is answered once`,
    );
    assert.match(r.replicaElectionResults[1].partitionResult[0].errorMessage, /no-such-topic/);
  }

  // An unclean election of a partition that has a leader is not needed either (Kafka's answer).
  const unclean = await k.call('ElectLeaders', 1, {
    electionType: 1,
    topicPartitions: [{ topic: 'electing', partitions: [0] }],
    timeoutMs: 5000,
  });
  assert.deepEqual(flat(unclean.replicaElectionResults), [['electing', 0, ELECTION_NOT_NEEDED]]);

  // Every partition: nothing is elected, so nothing is listed.
  for (const v of [0, 1, 2]) {
    const all = await k.call('ElectLeaders', v, { electionType: 0, topicPartitions: null, timeoutMs: 5000 });
    if (v >= 1) assert.equal(all.errorCode, NONE);
    assert.deepEqual(all.replicaElectionResults, [], `v${v}`);
  }

  const bad = await k.call('ElectLeaders', 2, {
    electionType: 7,
    topicPartitions: [{ topic: 'electing', partitions: [0] }],
    timeoutMs: 5000,
  });
  assert.equal(bad.errorCode, INVALID_REQUEST);
  assert.deepEqual(flat(bad.replicaElectionResults), [['electing', 0, INVALID_REQUEST]]);
});

test('CreatePartitions with manual assignments: this node works, an unknown broker or a wrong count is INVALID_REPLICA_ASSIGNMENT', async () => {
  await createTopic('assigned', 1);
  const grow = (count: number, assignments: number[][] | null, v = 3, validateOnly = false) =>
    k.call('CreatePartitions', v, {
      topics: [
        { name: 'assigned', count, assignments: assignments?.map((brokerIds) => ({ brokerIds })) ?? null },
      ],
      timeoutMs: 5000,
      validateOnly,
    });

  const dry = await grow(3, [[nodeId], [nodeId]], 3, true);
  assert.equal(dry.results[0].errorCode, NONE, dry.results[0].errorMessage);
  assert.equal((await replicasOf('assigned')).length, 1, 'validate-only changes nothing');

  for (const [v, count] of [
    [0, 2],
    [3, 3],
  ]) {
    const r = await grow(count, [[nodeId]], v);
    assert.equal(r.results[0].errorCode, NONE, r.results[0].errorMessage);
  }
  assert.deepEqual(await replicasOf('assigned'), [[nodeId], [nodeId], [nodeId]]);

  const unknown = await grow(4, [[99]]);
  assert.equal(unknown.results[0].errorCode, INVALID_REPLICA_ASSIGNMENT);
  assert.match(unknown.results[0].errorMessage, /99/);
  const dryUnknown = await grow(4, [[99]], 3, true);
  assert.equal(
    dryUnknown.results[0].errorCode,
    INVALID_REPLICA_ASSIGNMENT,
    'validate-only checks brokers too',
  );

  const short = await grow(5, [[nodeId]]);
  assert.equal(short.results[0].errorCode, INVALID_REPLICA_ASSIGNMENT);
  assert.equal(
    short.results[0].errorMessage,
    'Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.',
  );
  assert.equal((await replicasOf('assigned')).length, 3, 'refused growth adds nothing');
});
