/**
 * The Kafka clients users run, against a real three-node cluster (issue 11): confluent-kafka-python
 * (librdkafka), kafka-python, kafkajs and @platformatic/kafka. Each writes 10,000 keyed records on its
 * own topic of 6 partitions (created through node 3, so leaders are on every node) bootstrapped at
 * node 1 alone, and a consumer group bootstrapped at node 2 alone reads them back and commits. The
 * client must find each partition's leader and the group's coordinator from Metadata and
 * FindCoordinator, wherever they are. Checked: every record exactly once, each key on the partition
 * Kafka's default partitioner (murmur2) gives, the committed offsets as the client reads them back,
 * and a second member of the group, bootstrapped at node 3, resuming where the first stopped. Two
 * more runs (kafkajs, librdkafka) bootstrap every client with all three addresses. Each group's name
 * is picked so that its coordinator is not the node the consumer was bootstrapped at.
 *
 * Two clients need a setting to partition by key as Kafka does: librdkafka's default partitioner is
 * consistent_random (CRC32), so the producer sets murmur2_random; @platformatic/kafka's default takes
 * murmur2 unsigned, so the producer passes its compatibilityPartitioner.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import {
  compatibilityPartitioner,
  Consumer as PlatformaticConsumer,
  Producer as PlatformaticProducer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { partitionForKey } from '../../src/records/partitioner.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';
import { runJsonLines, within } from '../compat/helpers.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { kafkaCaller } from '../kafka/helpers.ts';
import { until } from './helpers.ts';

const PARTITIONS = 6;
const COUNT = 10_000;
/** Records written after the first member committed, for the second member to resume on. */
const TAIL = 60;
/** How long one client step (a produce, a group read) may take before the test calls it hung. */
const STEP_MS = 60_000;

const flowsScript = path.join(import.meta.dirname, 'client_flows.py');
let cluster: RunningCluster;

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    env: { BROKER_CLUSTER_SESSION_TIMEOUT: '3s', BROKER_CLUSTER_HEARTBEAT_INTERVAL: '500ms' },
  });
});

after(async () => {
  await cluster?.close();
});

/** A record as a consumer saw it. */
interface Seen {
  partition: number;
  offset: number;
  key: string;
  value: string;
}

/** What one group member read before it committed, and the offsets the group then had, per partition. */
interface Read {
  records: Seen[];
  committed: Map<number, number>;
}

/** How one client writes keyed records and reads them as a group member; each step bounded by STEP_MS. */
interface ClientFlows {
  /** Writes k<i>:v<i> for i in from..from+count-1, partitioned by key, bootstrapped at `bootstrap`. */
  produce(t: TestContext, bootstrap: string[], topic: string, from: number, count: number): Promise<void>;
  /** A member of `group` reads `count` records, commits them, and reads the committed offsets back. */
  consume(t: TestContext, bootstrap: string[], group: string, topic: string, count: number): Promise<Read>;
}

const keyFor = (i: number) => `k${i}`;
const valueFor = (i: number) => `v${i}`;
const partitionOf = (key: string) => partitionForKey(Buffer.from(key), PARTITIONS);

async function createTopic(port: number, name: string): Promise<void> {
  const k = await kafkaCaller(port);
  try {
    const r = await k.call('CreateTopics', 7, {
      topics: [{ name, numPartitions: PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    assert.equal(r.topics[0].errorCode, 0, r.topics[0].errorMessage ?? `CreateTopics ${name}`);
    const md = await k.call('Metadata', 12, {
      topics: [{ name, topicId: '00000000-0000-0000-0000-000000000000' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    const leaders = new Set(md.topics[0].partitions.map((p: { leaderId: number }) => p.leaderId));
    assert.deepEqual([...leaders].sort(), [1, 2, 3], `${name} has partition leaders on every node`);
  } finally {
    k.close();
  }
}

/**
 * A group name whose coordinator (the leader of its `__consumer_offsets` partition) is a node the
 * consumer is not bootstrapped at, when there is one: the client must then follow FindCoordinator.
 */
async function groupCoordinatedAway(prefix: string, bootstrap: string[]): Promise<string> {
  const bootstrapIds = cluster.nodes.filter((n) => bootstrap.includes(n.kafkaAddress)).map((n) => n.id);
  const k = await kafkaCaller(cluster.node(1).kafkaPort);
  try {
    for (let i = 0; i < 50; i++) {
      const group = `${prefix}-group-${i}`;
      const r = await k.call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: [group] });
      assert.equal(r.coordinators[0].errorCode, 0, `FindCoordinator ${group}`);
      if (bootstrapIds.length === cluster.nodes.length || !bootstrapIds.includes(r.coordinators[0].nodeId))
        return group;
    }
  } finally {
    k.close();
  }
  throw new Error(`no group of 50 tried is coordinated away from nodes ${bootstrapIds}`);
}

/** Waits until `count()` reaches `target`; a failure says how far it got, and `detail()`. */
async function waitCount(
  what: string,
  count: () => number,
  target: number,
  detail: () => string = () => '',
  ms = STEP_MS,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (count() < target) {
    if (Date.now() > deadline)
      throw new Error(
        `${what}: ${count()} of ${target} records within ${ms} ms; ${detail() || 'no client errors'}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Records i in from..from+count-1 exactly once each, each on the partition its key hashes to, at
 * offsets that rise within each partition from `startAt` (the partition's offset before the run).
 */
function checkRecords(
  label: string,
  seen: Seen[],
  from: number,
  count: number,
  startAt: Map<number, number>,
) {
  const byKey = new Map<string, Seen[]>();
  for (const s of seen) byKey.set(s.key, [...(byKey.get(s.key) ?? []), s]);
  const duplicates = [...byKey].filter(([, l]) => l.length > 1).map(([k]) => k);
  assert.deepEqual(duplicates.slice(0, 10), [], `${label}: no key read twice (${duplicates.length} were)`);
  const unseen: string[] = [];
  const misplaced: string[] = [];
  const wrongValue: string[] = [];
  for (let i = from; i < from + count; i++) {
    const s = byKey.get(keyFor(i))?.[0];
    if (!s) unseen.push(keyFor(i));
    else {
      if (s.value !== valueFor(i)) wrongValue.push(`${s.key}=${s.value}`);
      if (s.partition !== partitionOf(s.key)) misplaced.push(`${s.key}@${s.partition}`);
    }
  }
  assert.deepEqual(unseen.slice(0, 10), [], `${label}: every record read (${unseen.length} unseen)`);
  assert.equal(seen.length, count, `${label}: nothing but the records written`);
  assert.deepEqual(wrongValue.slice(0, 10), [], `${label}: each key with its own value`);
  assert.deepEqual(
    misplaced.slice(0, 10),
    [],
    `${label}: each key on its murmur2 partition (${misplaced.length} not)`,
  );
  for (let p = 0; p < PARTITIONS; p++) {
    const offsets = seen.filter((s) => s.partition === p).map((s) => s.offset);
    const want = Array.from({ length: offsets.length }, (_, i) => (startAt.get(p) ?? 0) + i);
    assert.deepEqual(
      offsets,
      want,
      `${label}: partition ${p} read in offset order from ${startAt.get(p) ?? 0}`,
    );
  }
}

/** The next offset of each partition after records 0..end-1: how many of their keys hash to it. */
function offsetsAfter(end: number): Map<number, number> {
  const next = new Map<number, number>();
  for (let p = 0; p < PARTITIONS; p++) next.set(p, 0);
  for (let i = 0; i < end; i++) {
    const p = partitionOf(keyFor(i));
    next.set(p, next.get(p)! + 1);
  }
  return next;
}

/**
 * The scenario for one client: 10,000 records written bootstrapped at `at.produce`, read by a group
 * member bootstrapped at `at.consume`, committed; 60 more written, and a second member of the group
 * bootstrapped at `at.resume` reads exactly those, starting at the committed offsets.
 */
async function roundTrip(
  t: TestContext,
  label: string,
  flows: ClientFlows,
  at: { produce: string[]; consume: string[]; resume: string[] },
): Promise<void> {
  const topic = `clients-${label.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
  await createTopic(cluster.node(3).kafkaPort, topic);
  const group = await groupCoordinatedAway(topic, at.consume);

  await flows.produce(t, at.produce, topic, 0, COUNT);
  const first = await flows.consume(t, at.consume, group, topic, COUNT);
  checkRecords(label, first.records, 0, COUNT, new Map());
  const afterFirst = offsetsAfter(COUNT);
  assert.deepEqual(
    [...first.committed].sort((a, b) => a[0] - b[0]),
    [...afterFirst],
    `${label}: the group committed the end of every partition`,
  );

  await flows.produce(t, at.produce, topic, COUNT, TAIL);
  const second = await flows.consume(t, at.resume, group, topic, TAIL);
  checkRecords(`${label}, second member`, second.records, COUNT, TAIL, afterFirst);
  assert.deepEqual(
    [...second.committed].sort((a, b) => a[0] - b[0]),
    [...offsetsAfter(COUNT + TAIL)],
    `${label}: the second member's commit`,
  );
}

function pythonFlows(lib: 'confluent' | 'kafka-python'): ClientFlows {
  const run = (t: TestContext, ...args: string[]) =>
    runJsonLines(debianPython, [flowsScript, ...args], t, STEP_MS + 10_000);
  return {
    async produce(t, bootstrap, topic, from, count) {
      const lines = await run(t, 'produce', lib, bootstrap.join(','), topic, String(from), String(count));
      assert.deepEqual(lines.at(-1), { event: 'produced', count });
    },
    async consume(t, bootstrap, group, topic, count) {
      const lines = await run(t, 'consume', lib, bootstrap.join(','), group, topic, String(count));
      const errors = lines.filter((l) => l.event === 'error');
      assert.deepEqual(errors, [], `${lib}: no consumer errors`);
      const done = lines.at(-1)!;
      assert.equal(done.event, 'committed', JSON.stringify(done));
      return {
        records: lines.filter((l) => l.event === 'record') as unknown as Seen[],
        committed: new Map(
          Object.entries(done.offsets as Record<string, number>).map(([p, o]) => [Number(p), o]),
        ),
      };
    },
  };
}

const kafkajsFlows: ClientFlows = {
  async produce(_t, brokers, topic, from, count) {
    const kafka = new Kafka({ clientId: 'cluster-kafkajs', brokers, logLevel: logLevel.NOTHING });
    // kafkajs 2's DefaultPartitioner is the Java client's murmur2.
    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await within('kafkajs producer connect', producer.connect(), STEP_MS);
    try {
      for (let i = from; i < from + count; i += 1000) {
        const n = Math.min(1000, from + count - i);
        await within(
          `kafkajs send of records ${i}..${i + n - 1}`,
          producer.send({
            topic,
            acks: -1,
            messages: Array.from({ length: n }, (_, j) => ({ key: keyFor(i + j), value: valueFor(i + j) })),
          }),
          STEP_MS,
        );
      }
    } finally {
      await within('kafkajs producer disconnect', producer.disconnect(), 10_000);
    }
  },
  async consume(_t, brokers, groupId, topic, count) {
    const kafka = new Kafka({ clientId: 'cluster-kafkajs', brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 300,
      maxWaitTimeInMs: 200,
      metadataMaxAge: 1000,
    });
    const records: Seen[] = [];
    const crashes: string[] = [];
    consumer.on(consumer.events.CRASH, (e) => crashes.push(String(e.payload.error)));
    const admin = kafka.admin();
    try {
      await within('kafkajs consumer connect', consumer.connect(), STEP_MS);
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          records.push({
            partition,
            offset: Number(message.offset),
            key: message.key?.toString() ?? '',
            value: message.value?.toString() ?? '',
          });
        },
      });
      await waitCount(
        'kafkajs group read',
        () => records.length,
        count,
        () => crashes.join('; '),
      );
      // Commit the next offset to read of each partition, as Kafka means it.
      const next = new Map<number, number>();
      for (const s of records) next.set(s.partition, Math.max(next.get(s.partition) ?? 0, s.offset + 1));
      await within(
        'kafkajs commitOffsets',
        consumer.commitOffsets([...next].map(([partition, o]) => ({ topic, partition, offset: String(o) }))),
        STEP_MS,
      );
      await within('kafkajs admin connect', admin.connect(), STEP_MS);
      const [fetched] = await within(
        'kafkajs fetchOffsets',
        admin.fetchOffsets({ groupId, topics: [topic] }),
        STEP_MS,
      );
      return {
        records,
        committed: new Map(fetched!.partitions.map((p) => [p.partition, Number(p.offset)])),
      };
    } finally {
      await within('kafkajs admin disconnect', admin.disconnect(), 10_000);
      await within('kafkajs consumer disconnect', consumer.disconnect(), 10_000);
    }
  },
};

const platformaticBase = (bootstrapBrokers: string[]) => ({
  clientId: 'cluster-platformatic',
  bootstrapBrokers,
  retries: 10,
  retryDelay: 200,
  timeout: 15_000,
  metadataMaxAge: 1000,
});

const platformaticFlows: ClientFlows = {
  async produce(_t, bootstrap, topic, from, count) {
    // The client's defaultPartitioner takes murmur2 unsigned (`>>> 0`), which puts about half the keys
    // elsewhere than Kafka's `& 0x7fffffff`; compatibilityPartitioner is the Java client's.
    const producer = new PlatformaticProducer({
      ...platformaticBase(bootstrap),
      serializers: stringSerializers,
      partitioner: compatibilityPartitioner,
      autocreateTopics: false,
    });
    try {
      for (let i = from; i < from + count; i += 1000) {
        const n = Math.min(1000, from + count - i);
        await within(
          `@platformatic/kafka send of records ${i}..${i + n - 1}`,
          producer.send({
            acks: -1,
            messages: Array.from({ length: n }, (_, j) => ({
              topic,
              key: keyFor(i + j),
              value: valueFor(i + j),
            })),
          }),
          STEP_MS,
        );
      }
    } finally {
      await within('@platformatic/kafka producer close', producer.close(), 10_000);
    }
  },
  async consume(_t, bootstrap, groupId, topic, count) {
    const consumer = new PlatformaticConsumer({
      ...platformaticBase(bootstrap),
      groupId,
      deserializers: stringDeserializers,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 300,
      maxWaitTime: 200,
    });
    const errors: Error[] = [];
    consumer.on('error', (err: Error) => errors.push(err));
    const records: Seen[] = [];
    try {
      const stream = await within(
        '@platformatic/kafka consume',
        consumer.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false }),
        STEP_MS,
      );
      stream.on('data', (m) => {
        records.push({ partition: m.partition, offset: Number(m.offset), key: m.key, value: m.value });
      });
      stream.on('error', (err: Error) => errors.push(err));
      await waitCount(
        '@platformatic/kafka group read',
        () => records.length,
        count,
        () => errors.map(String).join('; '),
      );
      const next = new Map<number, number>();
      for (const s of records) next.set(s.partition, Math.max(next.get(s.partition) ?? 0, s.offset + 1));
      await within(
        '@platformatic/kafka commit',
        consumer.commit({
          offsets: [...next].map(([partition, o]) => ({
            topic,
            partition,
            offset: BigInt(o),
            leaderEpoch: -1,
          })),
        }),
        STEP_MS,
      );
      const committed = await within(
        '@platformatic/kafka listCommittedOffsets',
        consumer.listCommittedOffsets({ topics: [{ topic, partitions: [...Array(PARTITIONS).keys()] }] }),
        STEP_MS,
      );
      assert.deepEqual(errors, [], '@platformatic/kafka: no consumer errors');
      return {
        records,
        committed: new Map((committed.get(topic) ?? []).map((o, p) => [p, Number(o)])),
      };
    } finally {
      await within('@platformatic/kafka consumer close', consumer.close(true), 10_000);
    }
  },
};

const singleNodes = () => ({
  produce: [cluster.node(1).kafkaAddress],
  consume: [cluster.node(2).kafkaAddress],
  resume: [cluster.node(3).kafkaAddress],
});

const allNodes = () => {
  const all = cluster.nodes.map((n) => n.kafkaAddress);
  return { produce: all, consume: all, resume: all };
};

const confluent = { module: 'confluent_kafka', debianPackage: 'python3-confluent-kafka' };
const kafkaPython = { module: 'kafka', debianPackage: 'python3-kafka' };

/** A hung client fails its own step after STEP_MS; this bounds the four steps of a round trip. */
const bounded = { timeout: 4 * STEP_MS + 30_000 };

const cases: {
  label: string;
  flows: () => ClientFlows;
  at: () => { produce: string[]; consume: string[]; resume: string[] };
  python?: { module: string; debianPackage: string };
}[] = [
  { label: 'confluent-kafka', flows: () => pythonFlows('confluent'), at: singleNodes, python: confluent },
  { label: 'kafka-python', flows: () => pythonFlows('kafka-python'), at: singleNodes, python: kafkaPython },
  { label: 'kafkajs', flows: () => kafkajsFlows, at: singleNodes },
  { label: '@platformatic/kafka', flows: () => platformaticFlows, at: singleNodes },
  { label: 'kafkajs (all three addresses)', flows: () => kafkajsFlows, at: allNodes },
  {
    label: 'confluent-kafka (all three addresses)',
    flows: () => pythonFlows('confluent'),
    at: allNodes,
    python: confluent,
  },
];

for (const c of cases) {
  const where =
    c.at === allNodes
      ? 'written, read by a group and resumed, each bootstrapped with every node'
      : 'written at node 1, read by a group at node 2, resumed at node 3';
  test(`${c.label}: 10,000 keyed records ${where}`, bounded, async (t) => {
    if (c.python) requireDebian(t, pythonHas(c.python.module), c.python.debianPackage);
    await roundTrip(t, c.label, c.flows(), c.at());
  });
}

/**
 * KIP-848 (ConsumerGroupHeartbeat) in the cluster: the group's state is in its `__consumer_offsets`
 * partition, replicated, so when its coordinator stops (SIGTERM: its leaderships move first) the new
 * leader of that partition loads the group and the member heartbeats on at its epoch, owning what it
 * owned, without joining again.
 */
test(
  'a KIP-848 consumer group keeps its members, epochs and assignment when its coordinator moves',
  bounded,
  async () => {
    const any = await kafkaCaller(cluster.node(1).kafkaPort);
    const coordinatorOf = async (group: string) => {
      const r = await any.call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: [group] });
      return r.coordinators[0].errorCode === 0 ? (r.coordinators[0].nodeId as number) : null;
    };
    try {
      const created = await any.call('CreateTopics', 7, {
        topics: [
          { name: 'kip848-cluster', numPartitions: 2, replicationFactor: 3, assignments: [], configs: [] },
        ],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      assert.equal(created.topics[0].errorCode, 0);
      // A group coordinated by node 2 or 3, so that node 1, through which the test looks, stays up.
      let group = '';
      for (let i = 0; i < 100 && group === ''; i++) {
        const id = await coordinatorOf(`kip848-cluster-${i}`);
        if (id !== null && id !== 1) group = `kip848-cluster-${i}`;
      }
      assert.ok(group, 'a group coordinated by node 2 or 3');
      const first = (await coordinatorOf(group))!;
      const body = (memberEpoch: number) => ({
        groupId: group,
        memberId: 'cluster-member',
        memberEpoch,
        instanceId: null,
        rackId: null,
        rebalanceTimeoutMs: memberEpoch === 0 ? 30_000 : -1,
        subscribedTopicNames: memberEpoch === 0 ? ['kip848-cluster'] : null,
        subscribedTopicRegex: null,
        serverAssignor: null,
        topicPartitions: memberEpoch === 0 ? [] : null,
      });
      const atFirst = await kafkaCaller(cluster.node(first).kafkaPort);
      let joined: Awaited<ReturnType<typeof atFirst.call>>;
      try {
        // CreateTopics answers once the controller committed the topic; the coordinator's node may
        // apply it a moment later. A member that joined before would get an empty assignment, and the
        // group epoch would rise when the topic arrives, which is not what this test is about.
        await until(
          `node ${first} knows kip848-cluster`,
          async () => {
            const md = await atFirst.call('Metadata', 12, {
              topics: [{ name: 'kip848-cluster', topicId: '00000000-0000-0000-0000-000000000000' }],
              allowAutoTopicCreation: false,
              includeTopicAuthorizedOperations: false,
            });
            return md.topics[0].errorCode === 0 && md.topics[0].partitions.length === 2 ? true : null;
          },
          30_000,
        );
        joined = await atFirst.call('ConsumerGroupHeartbeat', 1, body(0));
      } finally {
        atFirst.close();
      }
      assert.equal(joined.errorCode, 0, joined.errorMessage);
      assert.equal(joined.memberEpoch, 1);
      assert.deepEqual(
        [...joined.assignment.topicPartitions[0].partitions].sort(),
        [0, 1],
        'the first coordinator assigns both partitions',
      );
      await cluster.kill(first, 'SIGTERM');
      try {
        const next = await until(
          `another node coordinates ${group}`,
          async () => {
            const id = await coordinatorOf(group);
            return id !== null && id !== first ? id : null;
          },
          30_000,
        );
        const atNext = await kafkaCaller(cluster.node(next).kafkaPort);
        try {
          // The new coordinator may still be loading the partition (COORDINATOR_LOAD_IN_PROGRESS).
          const r = await until(
            'a heartbeat at epoch 1 to the new coordinator',
            async () => {
              const x = await atNext.call('ConsumerGroupHeartbeat', 1, body(1));
              return x.errorCode === 0 ? x : null;
            },
            30_000,
          );
          assert.equal(r.memberEpoch, 1, 'the member did not have to join again');
          const d = await atNext.call('ConsumerGroupDescribe', 1, {
            groupIds: [group],
            includeAuthorizedOperations: false,
          });
          assert.deepEqual(d.groups[0].members[0].assignment.topicPartitions[0].partitions, [0, 1]);
        } finally {
          atNext.close();
        }
      } finally {
        await cluster.restart(first);
      }
    } finally {
      any.close();
    }
  },
);
