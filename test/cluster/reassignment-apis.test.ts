/**
 * The Kafka door's AlterPartitionReassignments, ListPartitionReassignments and ElectLeaders on three
 * real nodes, each request sent to a node that is not the controller (so it is forwarded): a move held
 * under way by the reassignment throttle is listed with its adding and removing replicas, refused a
 * replication factor change by v1, and cancelled; a move of an empty partition completes; a new replica
 * order followed by a preferred election moves the leadership. The balancer and the periodic
 * preferred-leader election are off, so that only these requests move anything.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeBatch } from '../../src/records/batch.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';
import { type KafkaCaller, kafkaCaller } from '../kafka/helpers.ts';
import { until } from './helpers.ts';

const NONE = 0;
const INVALID_REPLICATION_FACTOR = 38;
const ELECTION_NOT_NEEDED = 84;

let cluster: RunningCluster;
let k: KafkaCaller;
/** The Kafka ids of the three nodes, ascending. */
let ids: number[];

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    env: {
      BROKER_CLUSTER_AUTO_REBALANCE: 'false',
      BROKER_CLUSTER_LEADER_REBALANCE_INTERVAL: '0',
      // One byte a second: a move of a partition that holds records stays under way for the test.
      BROKER_REPLICATION_REASSIGNMENT_BYTES_PER_SEC: '1',
    },
  });
  const controller = await cluster.controller();
  const other = cluster.nodes.find((n) => n.id !== controller);
  assert.ok(other);
  k = await kafkaCaller(other.kafkaPort);
  const meta = await k.call('Metadata', 12, {
    topics: [],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  ids = meta.brokers.map((b: { nodeId: number }) => b.nodeId).sort((a: number, b: number) => a - b);
  assert.equal(ids.length, 3);
});

after(async () => {
  k?.close();
  await cluster?.close();
});

async function createTopic(name: string, assignment: number[]): Promise<void> {
  const r = await k.call('CreateTopics', 7, {
    topics: [
      {
        name,
        numPartitions: -1,
        replicationFactor: -1,
        assignments: [{ partitionIndex: 0, brokerIds: assignment }],
        configs: [],
      },
    ],
    timeoutMs: 10_000,
    validateOnly: false,
  });
  assert.equal(r.topics[0].errorCode, NONE, r.topics[0].errorMessage);
}

/** Partition 0 of `topic` as Metadata reports it. */
async function partition0(topic: string): Promise<{ leader: number; replicas: number[]; isr: number[] }> {
  const m = await k.call('Metadata', 12, {
    topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: topic }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  const p = m.topics[0].partitions[0];
  return { leader: p.leaderId, replicas: p.replicaNodes, isr: p.isrNodes };
}

const reassign = (topic: string, replicas: number[] | null, v = 0, allowReplicationFactorChange = true) =>
  k.call('AlterPartitionReassignments', v, {
    timeoutMs: 10_000,
    allowReplicationFactorChange,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, replicas }] }],
  });

// biome-ignore lint/suspicious/noExplicitAny: a decoded response
const codes = (r: Record<string, any>) =>
  r.responses.flatMap((t: { partitions: { errorCode: number }[] }) => t.partitions.map((p) => p.errorCode));

/**
 * Produces `batches` batches of 16 records of 1 KiB to partition 0 of `topic` at the leader, acks=all.
 * Under a throttle of one byte a second a new replica gets the first batch and then waits about
 * 16,000 s for the next, so the move stays under way.
 */
async function produce(topic: string, batches: number): Promise<void> {
  const { leader } = await partition0(topic);
  const records = encodeBatch({
    records: Array.from({ length: 16 }, (_, i) => ({
      key: null,
      value: Buffer.alloc(1024, i),
      timestamp: 0,
    })),
  });
  const meta = await k.call('Metadata', 12, {
    topics: [],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  const port = meta.brokers.find((b: { nodeId: number }) => b.nodeId === leader).port;
  const p = await kafkaCaller(port);
  try {
    for (let i = 0; i < batches; i++) {
      const r = await p.call('Produce', 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 10_000,
        topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
      });
      assert.equal(r.responses[0].partitionResponses[0].errorCode, NONE);
    }
  } finally {
    p.close();
  }
}

test('a move under way is listed with its adding and removing replicas, refused a factor change, and cancelled', async () => {
  const [a, b, c] = ids;
  await createTopic('held', [a]);
  await produce('held', 4);
  assert.deepEqual(codes(await reassign('held', [b])), [NONE]);

  const listed = await k.call('ListPartitionReassignments', 0, { timeoutMs: 10_000, topics: null });
  assert.equal(listed.errorCode, NONE);
  assert.deepEqual(listed.topics, [
    {
      name: 'held',
      partitions: [{ partitionIndex: 0, replicas: [b, a], addingReplicas: [b], removingReplicas: [a] }],
    },
  ]);
  const named = await k.call('ListPartitionReassignments', 0, {
    timeoutMs: 10_000,
    topics: [{ name: 'held', partitionIndexes: [0] }],
  });
  assert.deepEqual(named.topics, listed.topics);
  assert.deepEqual((await partition0('held')).replicas, [b, a]);

  // The partition keeps one replica (the one being added does not count): two are a factor change.
  const rf = await reassign('held', [b, c], 1, false);
  assert.deepEqual(codes(rf), [INVALID_REPLICATION_FACTOR]);

  assert.deepEqual(codes(await reassign('held', null)), [NONE], 'cancelled');
  const after = await k.call('ListPartitionReassignments', 0, { timeoutMs: 10_000, topics: null });
  assert.deepEqual(after.topics, []);
  assert.deepEqual((await partition0('held')).replicas, [a]);
});

test('a move of an empty partition completes: its replicas become the target', async () => {
  // To the node that has copied nothing under the throttle: the first test's cancelled move left the
  // other one's throttle owing for what it had copied (at one byte a second).
  const [a, , c] = ids;
  await createTopic('moved', [a]);
  assert.deepEqual(codes(await reassign('moved', [c])), [NONE]);
  await until('the move completes', async () => {
    const p = await partition0('moved');
    return p.replicas.length === 1 && p.replicas[0] === c && p.leader === c;
  });
  const listed = await k.call('ListPartitionReassignments', 0, { timeoutMs: 10_000, topics: null });
  assert.deepEqual(
    listed.topics.filter((t: { name: string }) => t.name === 'moved'),
    [],
  );
});

test('a new replica order is no move; a preferred election then gives the first replica the leadership', async () => {
  const [a, b] = ids;
  await createTopic('ordered', [a, b]);
  await until('both replicas are in sync', async () => (await partition0('ordered')).isr.length === 2);
  assert.equal((await partition0('ordered')).leader, a);
  assert.deepEqual(codes(await reassign('ordered', [b, a])), [NONE]);
  assert.deepEqual((await partition0('ordered')).replicas, [b, a]);
  assert.equal((await partition0('ordered')).leader, a, 'the order alone moves no leadership');

  for (const [v, expected] of [
    [2, NONE],
    [1, ELECTION_NOT_NEEDED],
  ]) {
    const r = await k.call('ElectLeaders', v, {
      electionType: 0,
      topicPartitions: [{ topic: 'ordered', partitions: [0] }],
      timeoutMs: 10_000,
    });
    assert.equal(r.errorCode, NONE);
    assert.deepEqual(r.replicaElectionResults, [
      {
        topic: 'ordered',
        partitionResult: [
          {
            partitionId: 0,
            errorCode: expected,
            errorMessage: r.replicaElectionResults[0].partitionResult[0].errorMessage,
          },
        ],
      },
    ]);
  }
  assert.equal((await partition0('ordered')).leader, b);
  const all = await k.call('ElectLeaders', 2, { electionType: 0, topicPartitions: null, timeoutMs: 10_000 });
  assert.deepEqual(all.replicaElectionResults, [], 'nothing left to elect');
});
