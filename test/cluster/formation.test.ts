/**
 * The cluster, part 1 (issue 11), with real `broker` processes on loopback: formation with `--join`,
 * partitions spread across nodes, both doors and Kafka clients on every node, controller failover
 * after SIGKILL, a broker-only node, and the refusals of a node that cannot join. One three-node
 * cluster is shared by the tests in order; each test uses its own topics.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import type { KafkaJS as KafkaJSTypes } from '@confluentinc/kafka-javascript';
import { BrokerClient } from '../../src/client/index.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';
import { brokerBin } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { kafkaCaller } from '../kafka/helpers.ts';
import { ready, until } from './helpers.ts';

const { KafkaJS } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
  KafkaJS: typeof KafkaJSTypes;
};

const kcat = '/usr/bin/kcat';
let cluster: RunningCluster;

before(async () => {
  if (!existsSync(kcat))
    throw new Error('kcat is not installed: npm test installs it when run as root (scripts/test-setup.ts)');
  // A shorter broker session than the default 9 s, so that a node restarted after SIGKILL (whose old
  // incarnation's session must lapse before it may register again) is back sooner.
  cluster = await startCluster({
    nodes: 3,
    args: ['--log-level', 'info'],
    env: { BROKER_CLUSTER_SESSION_TIMEOUT: '3s', BROKER_CLUSTER_HEARTBEAT_INTERVAL: '500ms' },
  });
});

after(async () => {
  await cluster?.close();
});

async function kafkaMetadata(port: number, topics: string[] | null = null) {
  const k = await kafkaCaller(port);
  try {
    return await k.call('Metadata', 12, {
      topics:
        topics === null
          ? null
          : topics.map((name) => ({ name, topicId: '00000000-0000-0000-0000-000000000000' })),
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
  } finally {
    k.close();
  }
}

async function createTopic(port: number, name: string, partitions: number, replicationFactor = -1) {
  const k = await kafkaCaller(port);
  try {
    const r = await k.call('CreateTopics', 7, {
      topics: [{ name, numPartitions: partitions, replicationFactor, assignments: [], configs: [] }],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    return r.topics[0] as { errorCode: number; errorMessage: string | null };
  } finally {
    k.close();
  }
}

test('three nodes formed with --join: one LEADER, two FOLLOWERs, three voters, every broker in Metadata', async () => {
  const roles = await Promise.all(cluster.nodes.map((n) => ready(n.metricsUrl)));
  assert.deepEqual([...roles].sort(), ['FOLLOWER', 'FOLLOWER', 'LEADER']);
  for (const n of cluster.nodes) {
    const line = n.logs.find((l) => l.msg === 'Distributed broker ready');
    assert.ok(line, `${n.name} logged that it is ready`);
    assert.equal(line.nodeId, n.name);
  }
  const clusterIds = new Set(
    cluster.nodes.map((n) => n.logs.find((l) => l.msg === 'Distributed broker ready')!.clusterId),
  );
  assert.equal(clusterIds.size, 1, 'one cluster id on every node');
  for (const n of cluster.nodes) {
    const md = await until('every broker in Metadata', async () => {
      const m = await kafkaMetadata(n.kafkaPort);
      return m.brokers.length === 3 ? m : null;
    });
    assert.deepEqual(
      md.brokers.map((b: { nodeId: number; port: number }) => [b.nodeId, b.port]),
      cluster.nodes.map((x) => [x.id, x.kafkaPort]),
    );
    assert.equal(md.controllerId, await cluster.controller());
    assert.equal(md.clusterId, [...clusterIds][0]);
  }
  const client = await BrokerClient.connect(cluster.node(2).grpcAddress);
  try {
    const servers = await client.getServers();
    assert.deepEqual(
      servers.map((s) => s.id),
      ['node-1', 'node-2', 'node-3'],
    );
    assert.equal(servers.filter((s) => s.isLeader).length, 1, 'one [LEADER]');
    assert.deepEqual(
      servers.map((s) => s.address),
      cluster.nodes.map((x) => x.grpcAddress),
    );
  } finally {
    client.close();
  }
  const metrics = await (await fetch(`${cluster.node(1).metricsUrl}/metrics`)).text();
  assert.match(metrics, /^controller_cluster_size\{[^}]*\} 3$/m);
  assert.match(metrics, /^controller_voters\{[^}]*\} 3$/m, 'three voters');
  assert.match(metrics, /^controller_raft_applied_index\{[^}]*\} [1-9]\d*$/m);
});

test('a topic created through the third node has leaders on all three; kcat and confluent-javascript write at one node and read at another', async () => {
  const created = await createTopic(cluster.node(3).kafkaPort, 'spread', 6, 1);
  assert.equal(created.errorCode, 0, created.errorMessage ?? '');
  for (const n of cluster.nodes) {
    // The node asked has the topic when CreateTopics answers; the others apply it a moment later.
    const md = await until(`the topic on ${n.name}`, async () => {
      const m = await kafkaMetadata(n.kafkaPort, ['spread']);
      return m.topics[0].errorCode === 0 ? m : null;
    });
    const leaders = md.topics[0].partitions.map((p: { leaderId: number }) => p.leaderId);
    assert.deepEqual([...new Set(leaders)].sort(), [1, 2, 3], `leaders seen from ${n.name}`);
  }
  // Both doors, every node: the same topics.
  const names: string[][] = [];
  for (const n of cluster.nodes) {
    const client = await BrokerClient.connect(n.grpcAddress);
    try {
      names.push((await client.listTopics()).map((t) => t.name).filter((x) => !x.startsWith('__')));
    } finally {
      client.close();
    }
    const md = await kafkaMetadata(n.kafkaPort);
    names.push(
      md.topics
        .map((t: { name: string }) => t.name)
        .filter((x: string) => !x.startsWith('__'))
        .sort(),
    );
  }
  for (const list of names) assert.ok(list.includes('spread'), `every view lists the topic: ${names}`);

  // kcat: 10,000 keyed records bootstrapped at node 1, read back bootstrapped at node 2.
  const input = Array.from({ length: 10_000 }, (_, i) => `k${i}:v${i}`).join('\n');
  const produced = spawnSync(
    kcat,
    ['-P', '-b', cluster.node(1).kafkaAddress, '-t', 'spread', '-K:', '-X', 'acks=all'],
    {
      input,
      encoding: 'utf8',
    },
  );
  assert.equal(produced.status, 0, produced.stderr);
  const read = spawnSync(
    kcat,
    ['-C', '-b', cluster.node(2).kafkaAddress, '-t', 'spread', '-e', '-q', '-f', '%k %p\n'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(read.status, 0, read.stderr);
  const lines = read.stdout.trim().split('\n');
  assert.equal(lines.length, 10_000, 'every record comes back');
  const perPartition = new Map<string, number>();
  for (const l of lines) {
    const p = l.split(' ')[1];
    perPartition.set(p, (perPartition.get(p) ?? 0) + 1);
  }
  assert.equal(perPartition.size, 6, 'keys spread over every partition');

  // confluent-javascript (librdkafka): 10,000 keyed records through node 3, a group read through node 1.
  const { Kafka, logLevel } = KafkaJS;
  const producerClient = new Kafka({
    kafkaJS: { brokers: [cluster.node(3).kafkaAddress], logLevel: logLevel.NOTHING },
  });
  const producer = producerClient.producer();
  await producer.connect();
  try {
    for (let from = 0; from < 10_000; from += 1000) {
      await producer.send({
        topic: 'spread',
        messages: Array.from({ length: 1000 }, (_, i) => ({ key: `c${from + i}`, value: `w${from + i}` })),
      });
    }
  } finally {
    await producer.disconnect();
  }
  const consumerClient = new Kafka({
    kafkaJS: { brokers: [cluster.node(1).kafkaAddress], logLevel: logLevel.NOTHING },
  });
  const consumer = consumerClient.consumer({
    kafkaJS: { groupId: 'spread-readers', fromBeginning: true },
    'topic.metadata.refresh.interval.ms': 1000,
  });
  const seen = new Set<string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: 'spread' });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const k = message.key?.toString() ?? '';
        if (k.startsWith('c')) seen.add(k);
      },
    });
    await until('confluent-javascript to read all 10,000', async () => seen.size === 10_000, 60_000);
  } finally {
    await consumer.disconnect();
  }
});

test('a partition another node leads answers NOT_LEADER_OR_FOLLOWER, and FindCoordinator names the group partition leader', async () => {
  const md = await kafkaMetadata(cluster.node(1).kafkaPort, ['spread']);
  const notMine = md.topics[0].partitions.find((p: { leaderId: number }) => p.leaderId !== 1);
  const k = await kafkaCaller(cluster.node(1).kafkaPort);
  try {
    const r = await k.call('ListOffsets', 7, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [
        {
          name: 'spread',
          partitions: [{ partitionIndex: notMine.partitionIndex, currentLeaderEpoch: -1, timestamp: -1 }],
        },
      ],
    });
    assert.equal(r.topics[0].partitions[0].errorCode, 6, 'NOT_LEADER_OR_FOLLOWER');
    const leaders = new Set<number>();
    for (let g = 0; g < 40; g++) {
      const c = await k.call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: [`group-${g}`] });
      assert.equal(c.coordinators[0].errorCode, 0);
      leaders.add(c.coordinators[0].nodeId);
    }
    assert.deepEqual([...leaders].sort(), [1, 2, 3], 'groups are coordinated across the nodes');
  } finally {
    k.close();
  }
});

test('SIGKILL the active controller: a new one is elected, CreateTopics through a survivor works, the node rejoins as FOLLOWER', async () => {
  const old = await until('a controller', () => cluster.controller());
  const killedAt = Date.now();
  await cluster.kill(old);
  const next = await until('a new controller', async () => {
    const c = await cluster.controller();
    return c !== null && c !== old ? c : null;
  });
  const failoverMs = Date.now() - killedAt;
  assert.ok(failoverMs < 15_000, `a new controller within 15 s (took ${failoverMs} ms)`);
  const survivor = cluster.nodes.find((n) => n.id !== old && n.id !== next)!;
  const r = await createTopic(survivor.kafkaPort, 'after-failover', 4, 1);
  assert.equal(r.errorCode, 0, r.errorMessage ?? '');
  await cluster.restart(old);
  assert.equal(await ready(cluster.node(old).metricsUrl), 'FOLLOWER');
  const md = await until('the rejoined node sees the new topic', async () => {
    const m = await kafkaMetadata(cluster.node(old).kafkaPort, ['after-failover']);
    return m.topics[0].errorCode === 0 ? m : null;
  });
  assert.equal(md.topics[0].partitions.length, 4);
  // Its partitions of the topic created while it was down are open and writable there.
  const mine = md.topics[0].partitions.filter((p: { leaderId: number }) => p.leaderId === old);
  for (const p of mine) {
    const w = spawnSync(
      kcat,
      ['-P', '-b', cluster.node(old).kafkaAddress, '-t', 'after-failover', '-p', String(p.partitionIndex)],
      {
        input: 'x\n',
        encoding: 'utf8',
      },
    );
    assert.equal(w.status, 0, w.stderr);
  }
});

test('TransferController moves the active controller to the voter asked or to the best one, refuses a node that is not a voter, and SIGTERM of the controller hands it over', async () => {
  const from = await until('a controller', () => cluster.controller());
  const to = cluster.nodes.find((n) => n.id !== from)!.id;
  // Asked of a node that is not the controller: it forwards.
  const other = cluster.nodes.find((n) => n.id !== from && n.id !== to)!;
  const client = await BrokerClient.connect([other.grpcAddress]);
  try {
    assert.equal(await client.transferController(to), to);
    // The answer comes once the Raft leadership moved; the new controller then activates.
    const isReady = (id: number, want: string) =>
      until(`node ${id} answers ${want}`, async () => (await ready(cluster.node(id).metricsUrl)) === want);
    await isReady(to, 'LEADER');
    await isReady(from, 'FOLLOWER');
    const best = await client.transferController();
    assert.notEqual(best, to, 'with no node named, another voter takes over');
    await isReady(best, 'LEADER');
    assert.equal(await client.transferController(best), best, 'asking for the controller itself is a no-op');
    await assert.rejects(client.transferController(99), /not a voter/);
  } finally {
    client.close();
  }
  const c = await until('a controller', () => cluster.controller());
  const logs = cluster.node(c).logs;
  await cluster.kill(c, 'SIGTERM');
  assert.ok(
    logs.some((l) => l.msg === 'handed the active controller over before stopping'),
    'the stopping controller handed its role over',
  );
  const next = await until('a new controller', () => cluster.controller());
  assert.notEqual(next, c);
  await cluster.restart(c);
});

test('SIGSTOP past the session: the node is fenced, its groups move to another in-sync replica with their offsets; SIGCONT: it rejoins', async () => {
  const victim = cluster.node(2);
  const k = await kafkaCaller(victim.kafkaPort);
  let group = '';
  try {
    // A group that node 2 coordinates, with a committed offset.
    for (let g = 0; !group; g++) {
      const c = await k.call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: [`stopped-${g}`] });
      if (c.coordinators[0].nodeId === victim.id) group = `stopped-${g}`;
    }
    const commit = await k.call('OffsetCommit', 8, {
      groupId: group,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        {
          name: 'spread',
          partitions: [
            { partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: -1, committedMetadata: null },
          ],
        },
      ],
    });
    assert.equal(commit.topics[0].partitions[0].errorCode, 0);
  } finally {
    k.close();
  }
  const pid = victim.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    await until('node 2 to be fenced', async () => {
      const md = await kafkaMetadata(cluster.node(1).kafkaPort);
      return !md.brokers.some((b: { nodeId: number }) => b.nodeId === victim.id);
    });
    // __consumer_offsets is replicated: the group's partition gets a leader from its ISR, which
    // loads the group with its committed offset.
    const moved = await committedAtCoordinator(group);
    assert.notEqual(moved.coordinator, victim.id, 'another node coordinates the group meanwhile');
    assert.equal(moved.offset, 42);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await until('node 2 ready again', async () => (await ready(victim.metricsUrl)) === 'FOLLOWER');
  assert.equal((await committedAtCoordinator(group)).offset, 42);
});

/** The group's coordinator as node 1 names it, and the offset of spread-0 committed there. */
async function committedAtCoordinator(group: string): Promise<{ coordinator: number; offset: number }> {
  return until(`the coordinator of ${group} to serve its committed offset`, async () => {
    const k1 = await kafkaCaller(cluster.node(1).kafkaPort);
    let at: number;
    try {
      const c = await k1.call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: [group] });
      if (c.coordinators[0].errorCode !== 0) return null;
      at = c.coordinators[0].nodeId;
    } finally {
      k1.close();
    }
    const node = cluster.nodes.find((n) => n.id === at && n.running);
    if (!node) return null;
    const k2 = await kafkaCaller(node.kafkaPort);
    try {
      const r = await k2.call('OffsetFetch', 7, {
        groupId: group,
        topics: [{ name: 'spread', partitionIndexes: [0] }],
        requireStable: false,
      });
      return r.errorCode === 0 && r.topics[0].partitions[0].errorCode === 0
        ? { coordinator: at, offset: Number(r.topics[0].partitions[0].committedOffset) }
        : null;
    } catch {
      return null;
    } finally {
      k2.close();
    }
  });
}

test('a --controller false node follows the metadata as an observer, and rejoins after SIGKILL', async () => {
  const observer = await cluster.addNode({ args: ['--controller', 'false'] });
  assert.equal(await ready(observer.metricsUrl), 'FOLLOWER');
  const client = await BrokerClient.connect(observer.grpcAddress);
  try {
    const servers = await client.getServers();
    assert.equal(servers.length, 4);
    const me = servers.find((s) => s.id === observer.name);
    assert.ok(me && !me.isLeader);
    await client.createTopic('from-observer', { partitions: 8, replicationFactor: 1 });
  } finally {
    client.close();
  }
  const md = await until('the topic on node 1', async () => {
    const m = await kafkaMetadata(cluster.node(1).kafkaPort, ['from-observer']);
    return m.topics[0].errorCode === 0 ? m : null;
  });
  const leaders = new Set(md.topics[0].partitions.map((p: { leaderId: number }) => p.leaderId));
  assert.ok(leaders.has(observer.id), 'the observer leads partitions too');
  await cluster.kill(observer.id);
  await cluster.restart(observer.id);
  assert.equal(await ready(observer.metricsUrl), 'FOLLOWER');
});

test('replication factor above the broker count is INVALID_REPLICATION_FACTOR with the count; nothing is created', async () => {
  const r = await createTopic(cluster.node(2).kafkaPort, 'too-many', 3, 7);
  assert.equal(r.errorCode, 38);
  assert.match(r.errorMessage ?? '', /replication factor 7 is larger than the 4 available/);
  const md = await kafkaMetadata(cluster.node(2).kafkaPort, ['too-many']);
  assert.equal(md.topics[0].errorCode, 3, 'no such topic');
});

/** Runs `broker` to its exit (it must refuse to start); returns the exit code and stderr. */
async function refusedStart(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stderr: string }> {
  const proc = spawn(
    process.execPath,
    [
      brokerBin,
      ...[
        '--grpc-port',
        '0',
        '--kafka-port',
        '0',
        '--metrics-port',
        '0',
        '--raft-port',
        '0',
        '--data-port',
        '0',
      ],
      ...['--bind-addr', '127.0.0.1', '--advertise-addr', '127.0.0.1'],
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const [status] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { status, stderr };
}

test("joining through an address that does not answer, with a live node id, another quorum size or another cluster's data exits 2 with a clear error", async () => {
  const join = cluster.node(1).grpcAddress;
  const dead = await refusedStart(['--id', 'node-7', '--data-dir', await tempDir(), '--join', '127.0.0.1:1']);
  assert.equal(dead.status, 2, dead.stderr);
  assert.match(dead.stderr, /cluster\.join_addr=.*127\.0\.0\.1:1.*no cluster member answers there/);

  // node-2 is alive: its id is taken. The joiner retries for its own session timeout (a restart of a
  // crashed node waits out the old session), then gives up.
  const fast = { BROKER_CLUSTER_SESSION_TIMEOUT: '1s', BROKER_CLUSTER_HEARTBEAT_INTERVAL: '200ms' };
  const duplicate = await refusedStart(
    ['--id', 'node-2', '--data-dir', await tempDir(), '--join', join],
    fast,
  );
  assert.equal(duplicate.status, 2, duplicate.stderr);
  assert.match(duplicate.stderr, /node\.id=.*node-2.*registered by another live process/);

  const quorum = await refusedStart(['--id', 'node-8', '--data-dir', await tempDir(), '--join', join], {
    BROKER_CLUSTER_CONTROLLER_QUORUM_SIZE: '5',
  });
  assert.equal(quorum.status, 2, quorum.stderr);
  assert.match(quorum.stderr, /controller_quorum_size=5.*but this cluster's is 3/);

  // A data directory of another cluster (a node that once ran alone) is refused, not adopted.
  const alone = await tempDir();
  const own = await refusedStart([
    '--id',
    'node-9',
    '--data-dir',
    alone,
    '--join',
    join,
    '--controller',
    'maybe',
  ]);
  assert.equal(own.status, 2, 'a bad value is refused before anything is written');
  const solo = spawn(
    process.execPath,
    [
      brokerBin,
      '--id',
      'node-9',
      '--data-dir',
      alone,
      ...[
        '--grpc-port',
        '0',
        '--kafka-port',
        '0',
        '--metrics-port',
        '0',
        '--raft-port',
        '0',
        '--data-port',
        '0',
      ],
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise<void>((resolve) => {
    solo.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('Distributed broker ready')) resolve();
    });
  });
  solo.kill('SIGTERM');
  await once(solo, 'exit');
  const foreign = await refusedStart(['--id', 'node-9', '--data-dir', alone, '--join', join]);
  assert.equal(foreign.status, 2, foreign.stderr);
  assert.match(foreign.stderr, /belongs to node 9 of cluster .*; this node is joining cluster/);
  // Nothing was half-registered: the cluster still has its four nodes.
  const md = await kafkaMetadata(cluster.node(1).kafkaPort);
  assert.deepEqual(
    md.brokers.map((b: { nodeId: number }) => b.nodeId),
    [1, 2, 3, 4],
  );
});
