/**
 * The metadata quorum grows and shrinks (issue 11; Kafka's quorum_reconfiguration_test flow), and a
 * node that was down while the log moved on catches up from a snapshot. Real `broker` processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import { startCluster } from '../../src/start-cluster.ts';
import { kafkaCaller } from '../kafka/helpers.ts';
import { gauge, until } from './helpers.ts';

const fast = { BROKER_CLUSTER_SESSION_TIMEOUT: '3s', BROKER_CLUSTER_HEARTBEAT_INTERVAL: '500ms' };

/** `broker-admin remove-node`, as an operator runs it. */
function removeNode(address: string, nodeId: number): void {
  const r = spawnSync(
    process.execPath,
    [
      path.join(import.meta.dirname, '../../src/cli/broker-admin.ts'),
      '--server',
      address,
      'remove-node',
      String(nodeId),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Removed node ${nodeId} from the cluster`));
}

async function createTopics(port: number, names: string[]): Promise<number[]> {
  const k = await kafkaCaller(port);
  try {
    const r = await k.call('CreateTopics', 7, {
      topics: names.map((name) => ({
        name,
        numPartitions: 2,
        replicationFactor: 1,
        assignments: [],
        configs: [],
      })),
      timeoutMs: 30_000,
      validateOnly: false,
    });
    return r.topics.map((t: { errorCode: number }) => t.errorCode);
  } finally {
    k.close();
  }
}

test('the quorum grows from one voter to three, then shrinks by removing the active controller', async (t) => {
  const cluster = await startCluster({ nodes: 1, env: fast });
  t.after(() => cluster.close());
  assert.equal(await gauge(cluster.node(1).metricsUrl, 'controller_voters'), 1);
  await cluster.addNode();
  assert.equal(await gauge(cluster.node(1).metricsUrl, 'controller_voters'), 2);
  await cluster.addNode();
  assert.equal(await gauge(cluster.node(1).metricsUrl, 'controller_voters'), 3);
  const leader = await until('a controller', () => cluster.controller());
  const other = cluster.nodes.find((n) => n.id !== leader)!;
  removeNode(other.grpcAddress, leader);
  const next = await until('another controller', async () => {
    const c = await cluster.controller();
    return c !== null && c !== leader ? c : null;
  });
  await until(
    'two voters',
    async () => (await gauge(cluster.node(next).metricsUrl, 'controller_voters')) === 2,
  );
  await until('the removed node is not ready', async () => {
    const res = await fetch(`${cluster.node(leader).metricsUrl}/ready`);
    return res.status === 503;
  });
  const codes = await createTopics(cluster.node(next).kafkaPort, ['after-shrink']);
  assert.deepEqual(codes, [0]);
  const client = await BrokerClient.connect(cluster.node(next).grpcAddress);
  try {
    const servers = await client.getServers();
    assert.deepEqual(
      servers.map((s) => s.nodeId).sort(),
      cluster.nodes
        .map((n) => n.id)
        .filter((id) => id !== leader)
        .sort(),
    );
  } finally {
    client.close();
  }
  // The quorum grows back with a new node.
  await cluster.kill(leader, 'SIGTERM');
  await cluster.addNode();
  await until(
    'three voters again',
    async () => (await gauge(cluster.node(next).metricsUrl, 'controller_voters')) === 3,
  );
});

test('a node down while the metadata log moved past a snapshot catches up from the snapshot', async (t) => {
  const cluster = await startCluster({ nodes: 3, env: { ...fast, BROKER_CLUSTER_SNAPSHOT_ENTRIES: '32' } });
  t.after(() => cluster.close());
  await cluster.kill(3);
  const names = Array.from({ length: 120 }, (_, i) => `snap-${i}`);
  for (let i = 0; i < names.length; i += 4) {
    assert.deepEqual(await createTopics(cluster.node(1).kafkaPort, names.slice(i, i + 4)), [0, 0, 0, 0]);
  }
  await until('a snapshot past the entries node 3 has', async () => {
    const idx = await gauge(cluster.node(1).metricsUrl, 'controller_raft_snapshot_index');
    return idx > 64;
  });
  await cluster.restart(3);
  assert.ok(
    (await gauge(cluster.node(3).metricsUrl, 'controller_raft_snapshots_installed')) >= 1,
    'it installed a snapshot',
  );
  const k = await kafkaCaller(cluster.node(3).kafkaPort);
  try {
    const md = await k.call('Metadata', 12, {
      topics: null,
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    const seen = md.topics.map((x: { name: string }) => x.name).filter((n: string) => n.startsWith('snap-'));
    assert.equal(seen.length, names.length, 'every topic created while it was down');
    // The partitions placed on node 3 are open there and take writes.
    const mine = md.topics
      .filter((x: { name: string }) => x.name.startsWith('snap-'))
      .flatMap((x: { name: string; partitions: { partitionIndex: number; leaderId: number }[] }) =>
        x.partitions
          .filter((p) => p.leaderId === 3)
          .map((p) => ({ topic: x.name, partition: p.partitionIndex })),
      );
    assert.ok(mine.length > 0, 'node 3 leads some of them');
    const r = await k.call('ListOffsets', 7, {
      replicaId: -1,
      isolationLevel: 0,
      topics: mine.slice(0, 10).map((m: { topic: string; partition: number }) => ({
        name: m.topic,
        partitions: [{ partitionIndex: m.partition, currentLeaderEpoch: -1, timestamp: -1 }],
      })),
    });
    for (const tp of r.topics) assert.equal(tp.partitions[0].errorCode, 0, `${tp.name} is served by node 3`);
  } finally {
    k.close();
  }
});

test('racks given with --rack are registered, reported in Metadata, and each partition spans them', async (t) => {
  const cluster = await startCluster({
    nodes: 3,
    env: fast,
    node: {
      1: { args: ['--rack', 'rack-a'] },
      2: { args: ['--rack', 'rack-b'] },
      3: { args: ['--rack', 'rack-c'] },
    },
  });
  t.after(() => cluster.close());
  const k = await kafkaCaller(cluster.node(2).kafkaPort);
  try {
    const created = await k.call('CreateTopics', 7, {
      topics: [{ name: 'racked', numPartitions: 6, replicationFactor: 3, assignments: [], configs: [] }],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    assert.equal(created.topics[0].errorCode, 0, created.topics[0].errorMessage ?? '');
    const md = await k.call('Metadata', 12, {
      topics: [{ name: 'racked', topicId: '00000000-0000-0000-0000-000000000000' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    const rackOf = new Map(md.brokers.map((b: { nodeId: number; rack: string }) => [b.nodeId, b.rack]));
    assert.deepEqual([...rackOf.values()].sort(), ['rack-a', 'rack-b', 'rack-c']);
    for (const p of md.topics[0].partitions) {
      const racks = new Set(p.replicaNodes.map((id: number) => rackOf.get(id)));
      assert.equal(racks.size, 3, `partition ${p.partitionIndex} spans the three racks`);
      assert.deepEqual(
        [...p.isrNodes].sort(),
        [...p.replicaNodes].sort(),
        'a new partition starts with every replica in its ISR',
      );
    }
  } finally {
    k.close();
  }
});
