/**
 * The TypeScript client in a three-node cluster (issue 11, "the gRPC door"): a client connected to one
 * node routes produce and consume to each partition's leader and group calls to the coordinator, so
 * that no NOT_LEADER_OR_FOLLOWER reaches the caller; broker-admin and the demo work through any node.
 * One cluster of real `broker` processes is shared by the tests in order.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { BrokerClient, type ConsumedMessage } from '../../src/client/index.ts';
import { partitionForKey } from '../../src/records/partitioner.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';

const topic = 'routed';
const partitions = 6;
const recordCount = 1000;
let cluster: RunningCluster;
const clients: BrokerClient[] = [];

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    env: { BROKER_CLUSTER_SESSION_TIMEOUT: '3s', BROKER_CLUSTER_HEARTBEAT_INTERVAL: '500ms' },
  });
});

after(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

async function connect(node: number): Promise<BrokerClient> {
  const c = await BrokerClient.connect(cluster.node(node).grpcAddress);
  clients.push(c);
  return c;
}

/** Runs a script of this package with Node and resolves with its exit code and output. */
async function run(
  script: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const [code] = (await once(proc, 'exit')) as [number];
  return { code, stdout, stderr };
}

const key = (i: number) => `key-${i}`;

test('a client of node 2 learns every node and produces keyed records to their partitions leaders', async () => {
  const creator = await connect(3);
  const created = await creator.createTopic(topic, { partitions, replicationFactor: 1 });
  const leaders = new Set(created.partitionInfo.map((p) => p.leaderId));
  assert.ok(leaders.size > 1, `the partitions are led by more than one node (${[...leaders]})`);

  const client = await connect(2);
  assert.deepEqual(
    (await client.getServers()).map((s) => s.id),
    ['node-1', 'node-2', 'node-3'],
  );
  // One record at a time for the first 200, then batches: both paths route by the key's partition.
  for (let i = 0; i < 200; i++) {
    const r = await client.produce(topic, { key: key(i), value: `v${i}` });
    assert.equal(r.partition, partitionForKey(Buffer.from(key(i)), partitions));
  }
  for (let from = 200; from < recordCount; from += 100) {
    const r = await client.produceBatch(
      topic,
      Array.from({ length: 100 }, (_, j) => ({ key: key(from + j), value: `v${from + j}` })),
    );
    assert.equal(r.count, 100);
  }
});

test('a client of node 1 consumes every partition from its leader; each record is on its key partition', async () => {
  const client = await connect(1);
  const info = await client.describeTopic(topic);
  assert.equal(
    info.partitionInfo.reduce((n, p) => n + p.highWatermark, 0),
    recordCount,
    'describeTopic has every partition offsets, from their leaders',
  );
  const seen = new Set<string>();
  for (const p of info.partitionInfo) {
    let offset = 0;
    while (offset < p.highWatermark) {
      const r = await client.consumeBatch(topic, offset, { partition: p.partition });
      for (const m of r.records) {
        const k = m.key!.toString();
        assert.equal(partitionForKey(m.key!, partitions), p.partition, `${k} is on its key's partition`);
        assert.equal(m.value!.toString(), `v${k.slice(4)}`);
        seen.add(k);
      }
      offset = r.nextOffset;
    }
  }
  assert.equal(seen.size, recordCount);
  // A subscription is served by the leader too.
  const ac = new AbortController();
  let first: ConsumedMessage | undefined;
  for await (const m of client.subscribe(topic, { partition: 5, signal: ac.signal })) {
    first = m;
    ac.abort();
    break;
  }
  assert.equal(first?.offset, 0);
});

test('a consumer group through node 3 reads all the records', async () => {
  const client = await connect(3);
  const consumer = client.consumer({ groupId: 'routed-readers', topics: topic, fromBeginning: true });
  const seen = new Set<string>();
  for await (const m of consumer) {
    seen.add(m.key!.toString());
    if (seen.size === recordCount) break;
  }
  assert.equal(seen.size, recordCount);
  const committed = await client.fetchOffsets('routed-readers');
  assert.equal(committed.length, partitions);
  const group = await (await connect(1)).describeGroup('routed-readers');
  assert.equal(group.groupId, 'routed-readers');
  assert.ok(
    (await (await connect(2)).listGroups()).some((g) => g.groupId === 'routed-readers'),
    'listGroups finds the group whichever node coordinates it',
  );
});

test('a leader in the cache that no longer leads: NOT_LEADER_OR_FOLLOWER refreshes the view, the call goes on', async () => {
  const stale = await connect(2);
  const admin = await connect(1);
  const name = 'moving';
  const leadersOf = (t: { partitionInfo: { leaderId: number }[] }) => t.partitionInfo.map((p) => p.leaderId);
  await admin.createTopic(name, { partitions: 3, replicationFactor: 1 });
  // The topic is on node 1 when createTopic answers; node 2 applies it a moment later.
  let described: Awaited<ReturnType<typeof stale.describeTopic>> | null = null;
  for (let i = 0; !described; i++) {
    described = await stale.describeTopic(name).catch((err: { code?: string }) => {
      if (err.code !== 'UNKNOWN_TOPIC_OR_PARTITION' || i >= 100) throw err;
      return null;
    });
    if (!described) await new Promise((r) => setTimeout(r, 50));
  }
  const before = leadersOf(described);
  // Placement deals leaders round-robin from the cluster's partition count (src/controller/placement.ts):
  // one more partition elsewhere, and the recreated topic's partitions are each led by another node.
  await admin.deleteTopic(name);
  await admin.createTopic(`${name}-filler`, { partitions: 1, replicationFactor: 1 });
  const recreated = await admin.createTopic(name, { partitions: 3, replicationFactor: 1 });
  assert.notDeepEqual(leadersOf(recreated), before, 'a partition has a new leader');
  // Every node has applied the new topic before the stale client sends to its old leaders.
  for (const n of cluster.nodes) {
    const c = await connect(n.id);
    for (let i = 0; (await c.describeTopic(name)).id !== recreated.id; i++) {
      assert.ok(i < 100, `${n.name} learns the recreated topic`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  for (let p = 0; p < 3; p++) {
    const r = await stale.produce(name, `after-${p}`, { partition: p });
    assert.deepEqual(r, { partition: p, offset: 0 });
    assert.equal((await stale.consume(name, 0, { partition: p })).value?.toString(), `after-${p}`);
  }
  assert.deepEqual(leadersOf(await stale.describeTopic(name)), leadersOf(recreated));
});

test('broker-admin cluster and describe-topic through any node', async () => {
  const admin = 'src/cli/broker-admin.ts';
  const c = await run(admin, ['--server', cluster.node(2).grpcAddress, 'cluster']);
  assert.equal(c.code, 0, c.stderr);
  for (const n of cluster.nodes)
    assert.match(c.stdout, new RegExp(`^${n.name}\\s+${n.id}\\s+${n.grpcAddress}`, 'm'));
  assert.equal(c.stdout.match(/\scontroller\s/g)?.length, 1, c.stdout);
  assert.match(c.stdout, /^Cluster: \S+/);

  const d = await run(admin, ['--server', cluster.node(3).grpcAddress, '--json', 'describe-topic', topic]);
  assert.equal(d.code, 0, d.stderr);
  const described = JSON.parse(d.stdout) as { partitionInfo: { highWatermark: number; leader: string }[] };
  assert.equal(described.partitionInfo.length, partitions);
  assert.ok(described.partitionInfo.every((p) => p.highWatermark >= 0 && p.leader));
  assert.equal(
    described.partitionInfo.reduce((n, p) => n + p.highWatermark, 0),
    recordCount,
  );

  await (await connect(1)).createTopic('replicated', { partitions: 2, replicationFactor: 3 });
  const r = await run(admin, ['--server', cluster.node(1).grpcAddress, 'describe-topic', 'replicated']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /replication-factor: 3/);
  assert.match(r.stdout, /\bLAG\s+STATE\b/);
  // Each partition row ends in its state: ok once the followers are in the ISR, else UNDER-REPLICATED.
  const rows = r.stdout.split('\n').filter((l) => /^\s*[01]\s/.test(l));
  assert.equal(rows.length, 2, r.stdout);
  // The lag is the leader's (the client asks each partition's leader): a number, never '-'.
  for (const row of rows) assert.match(row, /\s\d+\s+(ok|UNDER-REPLICATED)\s*$/, row);
});

test('the demo runs against node 2', async () => {
  const r = await run('examples/demo/index.ts', ['--server', cluster.node(2).grpcAddress]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Demo complete!/);
});
