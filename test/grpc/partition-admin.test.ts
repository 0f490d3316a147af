/**
 * The gRPC door's placement RPCs of issue 14 (AlterPartitionReassignments, ListPartitionReassignments,
 * ElectLeaders, AlterReplicationFactor, CreatePartitions' assignments) refuse malformed requests whole,
 * with INVALID_ARGUMENT (or RESOURCE_EXHAUSTED over a bound) and a message naming what is wrong,
 * before the core is asked: the messages are the door's, and nothing moves. GetServers reports each
 * node's replicas, leaderships and decommissioning. The real server and core on real sockets; one
 * node, so that no move could happen anyway (multi-node moves are tested with the controller).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { adminPartitionsPerRequestMax } from '../../src/api/grpc/limits.ts';
import { BrokerClient, type BrokerClientError } from '../../src/client/index.ts';
import { brokerServiceDefinition } from '../../src/grpc-proto.ts';
import { replicasPerPartitionMax } from '../../src/metadata/limits.ts';
import { type RunningBroker, startBroker } from '../../src/server.ts';

let broker: RunningBroker;
let client: BrokerClient;
let raw: grpc.Client;

before(async () => {
  broker = await startBroker();
  client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  raw = new grpc.Client(broker.grpcAddress, grpc.credentials.createInsecure());
  await client.createTopic('t', { partitions: 2 });
});

after(async () => {
  raw?.close();
  client?.close();
  await broker?.close();
});

/** One unary call encoded by the service's own serializer, as another gRPC client would send it. */
function call(method: string, req: unknown): Promise<{ err: grpc.ServiceError | null; res: unknown }> {
  const m = brokerServiceDefinition()[method];
  return new Promise((resolve) =>
    raw.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      req,
      (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res }),
    ),
  );
}

async function refused(
  method: string,
  req: unknown,
  status: grpc.status,
  code: string,
  message: RegExp,
): Promise<void> {
  const { err } = await call(method, req);
  assert.ok(err, `${method} ${JSON.stringify(req).slice(0, 200)} was accepted`);
  assert.equal(err.code, status, `${method}: ${err.details}`);
  assert.deepEqual(err.metadata.get('broker-error-code'), [code], err.details);
  assert.match(err.details, message);
}

/** Nothing moved: no reassignment listed, and t keeps its two partitions on node 1. */
async function nothingChanged(): Promise<void> {
  assert.deepEqual(await client.listPartitionReassignments(), []);
  const t = await client.describeTopic('t');
  assert.equal(t.partitions, 2);
  assert.deepEqual(
    t.partitionInfo.map((p) => p.replicaIds),
    [[1], [1]],
  );
}

const INVALID = grpc.status.INVALID_ARGUMENT;

test('AlterPartitionReassignments refuses a malformed request whole, naming what is wrong', async () => {
  const move = (o: object) => ({ topic: 't', partition: 0, replicas: [1], ...o });
  const A = 'AlterPartitionReassignments';
  await refused(A, { partitions: [] }, INVALID, 'INVALID_REQUEST', /at least one partition/);
  await refused(
    A,
    { partitions: [move({ topic: '' })] },
    INVALID,
    'INVALID_REQUEST',
    /topic must not be empty/,
  );
  await refused(
    A,
    { partitions: [move({ partition: -1 })] },
    INVALID,
    'INVALID_REQUEST',
    /partitions\[0\]\.partition \(t\) must be between 0 and 2147483647, got -1/,
  );
  await refused(
    A,
    { partitions: [move({ replicas: [] })] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /t-0: the replica list is empty/,
  );
  const long = Array.from({ length: replicasPerPartitionMax + 1 }, (_, i) => i + 1);
  await refused(
    A,
    { partitions: [move({ replicas: long })] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /t-0: a replica list may name at most 64 brokers \(replicasPerPartitionMax\), got 65/,
  );
  await refused(
    A,
    { partitions: [move({ replicas: [1, 2, 1] })] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /t-0: broker 1 is named twice in 1,2,1/,
  );
  await refused(
    A,
    { partitions: [move({ replicas: [1, -3] })] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /broker id -3 is not an id/,
  );
  await refused(
    A,
    { partitions: [move({}), move({ partition: 1 }), move({ replicas: [1] })] },
    INVALID,
    'INVALID_REQUEST',
    /partition t-0 is named twice in one request/,
  );
  await refused(
    A,
    { partitions: [move({ cancel: true })] },
    INVALID,
    'INVALID_REQUEST',
    /t-0: a cancel names no replicas/,
  );
  // A valid entry before a bad one: the whole request is refused, the valid one not started.
  await refused(
    A,
    { partitions: [move({ partition: 1 }), move({ replicas: [1, 1] })] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /named twice/,
  );
  const many = Array.from({ length: adminPartitionsPerRequestMax + 1 }, (_, p) => move({ partition: p }));
  await refused(
    A,
    { partitions: many },
    grpc.status.RESOURCE_EXHAUSTED,
    'POLICY_VIOLATION',
    /at most 5000 partitions \(adminPartitionsPerRequestMax\)/,
  );
  // The client maps them the same way.
  const e = (await client
    .alterPartitionReassignments([{ topic: 't', partition: 0, replicas: [1, 1] }])
    .catch((x) => x)) as BrokerClientError;
  assert.equal(e.code, 'INVALID_REPLICA_ASSIGNMENT');
  assert.equal(e.grpcCode, INVALID);
  assert.equal(e.retriable, false);
  await nothingChanged();
});

test('ElectLeaders refuses an unknown election type, a negative partition and an unknown whole topic', async () => {
  await refused(
    'ElectLeaders',
    { type: 7 },
    INVALID,
    'INVALID_REQUEST',
    /type must be ELECTION_TYPE_PREFERRED \(0\) or ELECTION_TYPE_UNCLEAN \(1\), got 7/,
  );
  await refused(
    'ElectLeaders',
    { partitions: [{ topic: 't', partitions: [0, -1] }] },
    INVALID,
    'INVALID_REQUEST',
    /a partition of t must be between 0 and 2147483647, got -1/,
  );
  await refused(
    'ElectLeaders',
    { partitions: [{ topic: 'no-such-topic' }] },
    grpc.status.NOT_FOUND,
    'UNKNOWN_TOPIC_OR_PARTITION',
    /topic no-such-topic does not exist/,
  );
  await refused(
    'ElectLeaders',
    { partitions: [{ topic: '', partitions: [0] }] },
    INVALID,
    'INVALID_REQUEST',
    /partitions\[0\]\.topic must not be empty/,
  );
  const many = Array.from({ length: adminPartitionsPerRequestMax + 1 }, (_, p) => p);
  await refused(
    'ElectLeaders',
    { partitions: [{ topic: 't', partitions: many }] },
    grpc.status.RESOURCE_EXHAUSTED,
    'POLICY_VIOLATION',
    /at most 5000 partitions/,
  );
  await nothingChanged();
});

test('ListPartitionReassignments: none on one node; an unknown topic or a negative partition is refused', async () => {
  assert.deepEqual(await client.listPartitionReassignments(), []);
  assert.deepEqual(await client.listPartitionReassignments([{ topic: 't' }]), []);
  assert.deepEqual(await client.listPartitionReassignments([{ topic: 't', partitions: [1] }]), []);
  await refused(
    'ListPartitionReassignments',
    { topics: [{ topic: 'nope' }] },
    grpc.status.NOT_FOUND,
    'UNKNOWN_TOPIC_OR_PARTITION',
    /topic nope does not exist/,
  );
  await refused(
    'ListPartitionReassignments',
    { topics: [{ topic: 't', partitions: [-2] }] },
    INVALID,
    'INVALID_REQUEST',
    /a partition of t must be between 0/,
  );
});

test('AlterReplicationFactor refuses a factor outside 1 to 64 and a missing topic before the controller', async () => {
  for (const replicationFactor of [0, -1, replicasPerPartitionMax + 1])
    await refused(
      'AlterReplicationFactor',
      { topic: 't', replicationFactor, validateOnly: true },
      INVALID,
      'INVALID_REPLICATION_FACTOR',
      new RegExp(
        `replication_factor must be between 1 and 64 \\(replicasPerPartitionMax\\), got ${replicationFactor}`,
      ),
    );
  await refused(
    'AlterReplicationFactor',
    { topic: '', replicationFactor: 1 },
    INVALID,
    'INVALID_REQUEST',
    /topic must not be empty/,
  );
  await nothingChanged();
});

test('CreatePartitions with assignments: checked replica lists, one per new partition', async () => {
  await client.createTopic('grown', { partitions: 1 });
  const e = (await client
    .createPartitions('grown', 3, { assignments: [[1]] })
    .catch((x) => x)) as BrokerClientError;
  assert.equal(e.code, 'INVALID_REPLICA_ASSIGNMENT');
  assert.match(e.message, /grown has 1 partitions: raising it to 3 takes 2 replica lists, got 1/);
  await refused(
    'CreatePartitions',
    { name: 'grown', count: 3, assignments: [{ replicas: [1] }, { replicas: [1, 1] }] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /assignments\[1\]: broker 1 is named twice/,
  );
  await refused(
    'CreatePartitions',
    { name: 'grown', count: 2, assignments: [{ replicas: [] }] },
    INVALID,
    'INVALID_REPLICA_ASSIGNMENT',
    /assignments\[0\]: the replica list is empty/,
  );
  assert.equal((await client.describeTopic('grown')).partitions, 1, 'nothing was created');
  const grown = await client.createPartitions('grown', 3, { assignments: [[1], [1]] });
  assert.equal(grown.partitions, 3);
  assert.deepEqual(
    grown.partitionInfo.map((p) => p.replicaIds),
    [[1], [1], [1]],
  );
});

test('GetServers counts the replicas each node holds and the partitions it leads', async () => {
  const [before] = await client.getServers();
  assert.equal(before.nodeId, 1);
  assert.equal(before.decommissioning, false);
  assert.equal(before.replicas, before.leaders, 'one node leads every partition it holds');
  await client.createTopic('counted', { partitions: 3 });
  const [after] = await client.getServers();
  assert.equal(after.replicas, before.replicas + 3);
  assert.equal(after.leaders, before.leaders + 3);
  await refused('RemoveServer', { nodeId: 0 }, INVALID, 'INVALID_REQUEST', /node_id must be between 1/);
});
