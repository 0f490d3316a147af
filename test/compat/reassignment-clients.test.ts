/**
 * Real clients on CreatePartitions' manual assignments, AlterPartitionReassignments,
 * ListPartitionReassignments and ElectLeaders, against the real broker process (a single node). What
 * each client can send, as installed here:
 *
 * - kafkajs 2.2.4: createPartitions with assignments (CreatePartitions v0-1),
 *   alterPartitionReassignments (v0) and listPartitionReassignments (v0); no ElectLeaders.
 * - @platformatic/kafka 2.12.1: Admin.createPartitions with assignments (v0-3, it picks the highest
 *   we advertise); its Admin has no reassignment call, but the library exports the protocol functions
 *   alterPartitionReassignmentsV0/V1 and listPartitionReassignmentsV0, sent here on its Connection;
 *   no ElectLeaders.
 * - @confluentinc/kafka-javascript 1.10.1 (librdkafka 2.15.1): the rdkafka-style AdminClient's
 *   createPartitions(topic, total), without assignments; its KafkaJS-style admin has no
 *   createPartitions, and neither binds librdkafka's ElectLeaders or reassignment calls.
 * - confluent-kafka-python 1.7.0 (librdkafka 2.0.2): create_partitions with replica_assignment only.
 * - kafka-python 2.0.2: create_partitions with new_assignments; no request class for the other three,
 *   so ElectLeaders v0 and v1 go through its protocol layer with classes its script declares
 *   (reassignment_admin.py says how).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  Admin,
  alterPartitionReassignmentsV1,
  Connection,
  listPartitionReassignmentsV0,
} from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import { BrokerClient } from '../../src/client/index.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { CompatBroker, compatDir, runJsonLines } from './helpers.ts';

const { Kafka, logLevel } = kafkajs;

let broker: CompatBroker;
let grpc: BrokerClient;
/** This node's Kafka id. */
let nodeId: number;

before(async () => {
  broker = await CompatBroker.start();
  grpc = await BrokerClient.connect(broker.grpcAddress);
  nodeId = (await grpc.getServers())[0].nodeId;
});

after(async () => {
  grpc?.close();
  await broker?.close();
});

const partitionsOf = async (topic: string) => (await grpc.describeTopic(topic)).partitions;

/** The Kafka error names in an error kafkajs throws, however it nests them. */
function kafkajsErrorTypes(err: unknown): string[] {
  const e = err as { type?: string; errors?: unknown[]; originalError?: unknown; cause?: unknown };
  return [
    ...(e.type ? [e.type] : []),
    ...(e.errors ?? []).flatMap(kafkajsErrorTypes),
    ...(e.originalError ? kafkajsErrorTypes(e.originalError) : []),
    ...(e.cause ? kafkajsErrorTypes(e.cause) : []),
  ];
}

test('kafkajs: createPartitions with assignments, alterPartitionReassignments and listPartitionReassignments', async (t) => {
  const admin = new Kafka({
    clientId: 'reassign-kjs',
    brokers: [broker.kafkaAddress],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  }).admin();
  t.after(() => admin.disconnect());
  await admin.connect();
  await grpc.createTopic('kjs-moves', { partitions: 1 });

  await admin.createPartitions({
    topicPartitions: [{ topic: 'kjs-moves', count: 2, assignments: [[nodeId]] }],
  });
  assert.equal(await partitionsOf('kjs-moves'), 2);
  const unknown = await admin
    .createPartitions({ topicPartitions: [{ topic: 'kjs-moves', count: 3, assignments: [[99]] }] })
    .then(
      () => null,
      (err) => err,
    );
  assert.ok(unknown, 'an assignment to broker 99 is refused');
  assert.ok(kafkajsErrorTypes(unknown).includes('INVALID_REPLICA_ASSIGNMENT'), String(unknown));
  assert.equal(await partitionsOf('kjs-moves'), 2);

  await admin.alterPartitionReassignments({
    topics: [{ topic: 'kjs-moves', partitionAssignment: [{ partition: 0, replicas: [nodeId] }] }],
  });
  const moved = await admin
    .alterPartitionReassignments({
      topics: [{ topic: 'kjs-moves', partitionAssignment: [{ partition: 1, replicas: [99] }] }],
    })
    .then(
      () => null,
      (err) => err,
    );
  assert.ok(moved, 'a move to broker 99 is refused');
  assert.ok(kafkajsErrorTypes(moved).includes('INVALID_REPLICA_ASSIGNMENT'), String(moved));

  assert.deepEqual(await admin.listPartitionReassignments({}), { topics: [] });
  assert.deepEqual(
    await admin.listPartitionReassignments({ topics: [{ topic: 'kjs-moves', partitions: [0, 1] }] }),
    { topics: [] },
  );
});

test('@platformatic/kafka: createPartitions with assignments; AlterPartitionReassignments v1 and ListPartitionReassignments v0 through its protocol functions', async (t) => {
  const admin = new Admin({
    clientId: 'reassign-plt',
    bootstrapBrokers: [broker.kafkaAddress],
    retries: 0,
    timeout: 15_000,
  });
  t.after(() => admin.close());
  await grpc.createTopic('plt-moves', { partitions: 1 });
  await admin.createPartitions({
    topics: [{ name: 'plt-moves', count: 2, assignments: [{ brokerIds: [nodeId] }] }],
  });
  assert.equal(await partitionsOf('plt-moves'), 2);
  await assert.rejects(
    admin.createPartitions({ topics: [{ name: 'plt-moves', count: 3, assignments: [{ brokerIds: [99] }] }] }),
  );
  assert.equal(await partitionsOf('plt-moves'), 2);

  const connection = new Connection('reassign-plt-raw');
  t.after(() => connection.close());
  await connection.connect('127.0.0.1', broker.kafkaPort);
  const ok = await alterPartitionReassignmentsV1.api.async(connection, 10_000, false, [
    { name: 'plt-moves', partitions: [{ partitionIndex: 0, replicas: [nodeId] }] },
  ]);
  assert.equal(ok.errorCode, 0);
  assert.deepEqual(
    ok.responses.flatMap((r) => r.partitions.map((p) => [r.name, p.partitionIndex, p.errorCode])),
    [['plt-moves', 0, 0]],
  );
  // Without a replication factor change, two replicas for a one-replica partition are refused.
  const rf = await alterPartitionReassignmentsV1.api
    .async(connection, 10_000, false, [
      { name: 'plt-moves', partitions: [{ partitionIndex: 1, replicas: [nodeId, 99] }] },
    ])
    .then(
      () => null,
      (err: { response?: { responses: { partitions: { errorCode: number }[] }[] } }) => err,
    );
  assert.equal(rf?.response?.responses[0].partitions[0].errorCode, 38, 'INVALID_REPLICATION_FACTOR');

  const listed = await listPartitionReassignmentsV0.api.async(connection, 10_000, [
    { name: 'plt-moves', partitionIndexes: [0, 1] },
  ]);
  assert.equal(listed.errorCode, 0);
  assert.deepEqual(listed.topics, []);
});

test('@confluentinc/kafka-javascript AdminClient: createPartitions (librdkafka 2.15)', async () => {
  const { AdminClient } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
    AdminClient: {
      create(conf: Record<string, unknown>): {
        createPartitions(topic: string, total: number, timeout: number, cb: (err: unknown) => void): void;
        disconnect(): void;
      };
    };
  };
  await grpc.createTopic('cfljs-moves', { partitions: 1 });
  const admin = AdminClient.create({
    'bootstrap.servers': broker.kafkaAddress,
    'client.id': 'reassign-cfljs',
  });
  try {
    const grow = (total: number) =>
      new Promise<void>((resolve, reject) =>
        admin.createPartitions('cfljs-moves', total, 10_000, (err) => (err ? reject(err) : resolve())),
      );
    await grow(3);
    assert.equal(await partitionsOf('cfljs-moves'), 3);
    await assert.rejects(grow(2), (err: { code?: number; message?: string }) => {
      assert.match(String(err.message), /partition/i);
      return true;
    });
  } finally {
    admin.disconnect();
  }
});

for (const client of ['kafka-python', 'confluent-kafka'] as const) {
  const available = pythonHas(client === 'kafka-python' ? 'kafka' : 'confluent_kafka');
  const pkg = client === 'kafka-python' ? 'python3-kafka' : 'python3-confluent-kafka';
  test(`${client} (Debian): CreatePartitions with a replica assignment${client === 'kafka-python' ? '; ElectLeaders v0-1 through its protocol layer' : ''}`, async (t) => {
    if (!requireDebian(t, available, pkg)) return;
    const topic = `py-moves-${client}`;
    await grpc.createTopic(topic, { partitions: 1 });
    const lines = await runJsonLines(
      debianPython,
      [path.join(compatDir, 'reassignment_admin.py'), client, broker.kafkaAddress, topic, String(nodeId)],
      t,
    );
    const by = (event: string) => lines.filter((l) => l.event === event);
    assert.deepEqual(by('grow'), [{ event: 'grow', to: 2, refused: false }]);
    const unknown = by('unknown-broker')[0];
    assert.equal(unknown?.refused, true, JSON.stringify(unknown));
    assert.equal(unknown.error_code, 39, `INVALID_REPLICA_ASSIGNMENT: ${JSON.stringify(unknown)}`);
    assert.equal(await partitionsOf(topic), 2);
    if (client !== 'kafka-python') return;
    assert.deepEqual(
      by('elect').map((l) => [l.version, l.all, l.error_code, l.results]),
      [
        [
          0,
          false,
          null,
          [
            [topic, 0, 84],
            [topic, 1, 84],
            ['no-such-topic', 0, 3],
          ],
        ],
        [
          1,
          false,
          0,
          [
            [topic, 0, 84],
            [topic, 1, 84],
            ['no-such-topic', 0, 3],
          ],
        ],
        [1, true, 0, []],
      ],
    );
  });
}
