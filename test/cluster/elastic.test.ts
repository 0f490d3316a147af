/**
 * The elastic cluster on real `broker` processes (issue 14), under continuous acks=all produce and a
 * consuming group: three nodes with a topic of 12 partitions at replication factor 2; a fourth node
 * joins with `--join` and the controller gives it its share of replicas and leaders; node 2 is
 * decommissioned and leaves holding nothing; every node restarts in turn (SIGTERM, start again); a Kafka
 * admin client (confluent-kafka's AdminClient) grows the topic to 16 partitions; the replication factor
 * goes to 3 by reassignment. Afterwards nothing acknowledged is lost or stored twice, the replicas of
 * every partition hold the same bytes, and the group saw every record.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Producer } from 'kafkajs';
import { BrokerClient } from '../../src/client/index.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';
import { within } from '../compat/helpers.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { kafkaCaller } from '../kafka/helpers.ts';
import { until } from './helpers.ts';
import { checkGroup, kafkaOf, metadataOf, readAllOf, runGroupOf, runProducer } from './workload.ts';

const TOPIC = 'elastic';
let cluster: RunningCluster;

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    env: {
      BROKER_CLUSTER_SESSION_TIMEOUT: '4000ms',
      BROKER_CLUSTER_HEARTBEAT_INTERVAL: '300ms',
      BROKER_REPLICATION_LAG_TIME_MAX: '1500ms',
      // Few offsets partitions, so that the topic under test is most of what the balancer moves.
      BROKER_CONSUMER_GROUPS_OFFSETS_PARTITIONS: '4',
      BROKER_CLUSTER_REBALANCE_MAX_MOVES: '4',
    },
  });
});

after(async () => {
  await cluster?.close();
});

interface Placement {
  topic: string;
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

/** Every partition of every topic, as a running node's Kafka Metadata reports them. */
async function placements(): Promise<Placement[]> {
  const node = cluster.nodes.find((n) => n.running && !removed.has(n.id));
  assert.ok(node, 'a node runs');
  const k = await kafkaCaller(node.kafkaPort);
  try {
    const md = await k.call('Metadata', 12, {
      topics: null,
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    return md.topics.flatMap(
      (t: {
        name: string;
        partitions: {
          partitionIndex: number;
          leaderId: number;
          replicaNodes: number[];
          isrNodes: number[];
        }[];
      }) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partitionIndex,
          leader: p.leaderId,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
        })),
    );
  } finally {
    k.close();
  }
}

/** The log lines of the nodes' earlier processes (a node's `logs` are its current process's). */
const earlierLogs = new Map<number, Record<string, unknown>[]>();

/** Restarts a node, keeping the log lines of the process it replaces for a failure's dump. */
async function restartKeepingLogs(id: number): Promise<void> {
  earlierLogs.set(id, [...(earlierLogs.get(id) ?? []), ...cluster.node(id).logs]);
  await cluster.restart(id);
}

/**
 * Writes every node's log lines, of all its processes so far, to a new directory and says where: what
 * a failure of this long test needs to be understood after the cluster is gone.
 */
function dumpLogs(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsbroker-elastic-failure-'));
  for (const n of cluster.nodes) {
    const lines = [...(earlierLogs.get(n.id) ?? []), ...n.logs].map((l) => JSON.stringify(l));
    writeFileSync(path.join(dir, `${n.name}.jsonl`), `${lines.join('\n')}\n`);
  }
  return dir;
}

/** Nodes removed from the cluster (decommissioned): not asked, not counted. */
const removed = new Set<number>();

/** Per node: replicas held, partitions it prefers to lead (first replica), partitions it leads. */
function loads(all: Placement[], nodes: number[]) {
  const count = () => new Map(nodes.map((id) => [id, 0]));
  const replicas = count();
  const preferred = count();
  const leaders = count();
  for (const p of all) {
    for (const id of p.replicas) replicas.set(id, (replicas.get(id) ?? 0) + 1);
    preferred.set(p.replicas[0], (preferred.get(p.replicas[0]) ?? 0) + 1);
    leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
  }
  return { replicas, preferred, leaders };
}

const spread = (m: Map<number, number>) => Math.max(...m.values()) - Math.min(...m.values());

/**
 * Waits until the cluster is settled and balanced over `nodes`: no move under way (every partition
 * has exactly `rf(topic)` replicas, all in sync, led by its preferred replica), and replicas and
 * leaders per node within one of each other.
 */
async function balanced(what: string, nodes: number[], rf: (topic: string) => number, ms = 120_000) {
  let last = '';
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const all = await placements().catch(() => null);
    if (all) {
      const l = loads(all, nodes);
      const unsettled = all.filter(
        (p) =>
          p.replicas.length !== rf(p.topic) ||
          p.isr.length !== p.replicas.length ||
          p.leader !== p.replicas[0] ||
          !p.replicas.every((id) => nodes.includes(id)),
      );
      last = JSON.stringify({
        replicas: [...l.replicas],
        preferred: [...l.preferred],
        leaders: [...l.leaders],
        unsettled: unsettled
          .slice(0, 6)
          .map((p) => `${p.topic}-${p.partition} ${p.replicas}/${p.isr} led by ${p.leader}`),
      });
      if (
        unsettled.length === 0 &&
        spread(l.replicas) <= 1 &&
        spread(l.preferred) <= 1 &&
        spread(l.leaders) <= 1
      )
        return l;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not balanced over nodes ${nodes} within ${ms} ms; last: ${last}`);
}

/** The bytes of one replica's log, or null when the node holds none. */
function logBytes(nodeId: number, topic: string, partition: number): Buffer | null {
  const dir = path.join(cluster.node(nodeId).dataDir, `${topic}-${partition}`);
  if (!existsSync(dir)) return null;
  const segments = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort();
  return Buffer.concat(segments.map((f) => readFileSync(path.join(dir, f))));
}

/** Partition directories under a node's data directory (`topic-N`). */
function partitionDirsOf(nodeId: number): string[] {
  return readdirSync(cluster.node(nodeId).dataDir).filter((f) => /-\d+$/.test(f));
}

/** confluent-kafka's AdminClient (librdkafka) grows `topic` to `count` partitions. */
function createPartitionsWithConfluentAdmin(topic: string, count: number): void {
  const script = [
    'import sys',
    'from confluent_kafka.admin import AdminClient, NewPartitions',
    "a = AdminClient({'bootstrap.servers': sys.argv[1]})",
    'fs = a.create_partitions([NewPartitions(sys.argv[2], int(sys.argv[3]))], request_timeout=30)',
    'for t, f in fs.items(): f.result()',
    "print('ok')",
  ].join('\n');
  const servers = cluster.nodes
    .filter((n) => n.running && !removed.has(n.id))
    .map((n) => n.kafkaAddress)
    .join(',');
  const out = execFileSync(debianPython, ['-c', script, servers, topic, String(count)], {
    timeout: 60_000,
    encoding: 'utf8',
  });
  assert.equal(out.trim(), 'ok');
}

test('a node joins and gets its share, another is decommissioned, all restart in turn, the topic grows and its replication factor rises: nothing acknowledged is lost or doubled', {
  timeout: 12 * 60_000,
}, async (t) => {
  requireDebian(t, pythonHas('confluent_kafka'), 'python3-confluent-kafka');
  const client = await BrokerClient.connect(cluster.nodes.map((n) => n.grpcAddress));
  t.after(() => client.close());
  await client.createTopic(TOPIC, { partitions: 12, replicationFactor: 2 });
  let partitions = 12;
  let rf = 2;
  const rfOf = (topic: string) => (topic === TOPIC ? rf : 3);
  const live = () => cluster.nodes.filter((n) => n.running && !removed.has(n.id)).map((n) => n.id);
  await balanced('the new topic', [1, 2, 3], rfOf);

  // The workload: two idempotent producers (ours over gRPC, kafkajs over the Kafka protocol), acks=all,
  // and a kafkajs consumer group that commits after every batch.
  const group = await runGroupOf(cluster, TOPIC, 'elastic-group');
  t.after(() => group.stop());
  const kjs: Producer = kafkaOf(cluster, 'elastic-kafkajs').producer({
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await within('kafkajs producer connect', kjs.connect(), 30_000);
  const tsProducer = client.producer({ idempotent: true });
  let next = 0;
  const a = runProducer('ts', async (value) => {
    const partition = next++ % partitions;
    const r = await tsProducer.send(TOPIC, { key: value, value }, { partition });
    return { partition, offset: Number(r.offset) };
  });
  const b = runProducer('kjs', async (value) => {
    const [r] = await kjs.send({ topic: TOPIC, acks: -1, messages: [{ key: value, value }] });
    return { partition: r.partition, offset: Number(r.baseOffset) };
  });
  const acked = () => a.acked.length + b.acked.length;
  const progress = async (what: string, n = 100) => {
    const start = acked();
    await until(`${what}: ${n} more acknowledged writes`, async () => acked() >= start + n, 60_000);
  };
  const steps: string[] = [];
  const step = (s: string) => steps.push(`+${Date.now() - t0} ms ${s} (acked ${acked()})`);
  const t0 = Date.now();
  try {
    await progress('before any change');

    // 1. node-4 joins through node 1's gRPC address and gets a fair share.
    step('add node 4');
    await cluster.addNode();
    await progress('while node 4 joins');
    const joined = await balanced('after node 4 joined', [1, 2, 3, 4], rfOf);
    step('balanced over 4 nodes');
    // Its share: 24 topic replicas and 12 offsets replicas over 4 nodes, within one.
    assert.ok(joined.replicas.get(4)! >= 8, `node 4 holds ${joined.replicas.get(4)} replicas`);
    assert.ok(joined.leaders.get(4)! >= 3, `node 4 leads ${joined.leaders.get(4)} partitions`);
    // What it copied went through the reassignment throttle, and is counted.
    const metrics = await (await fetch(`${cluster.node(4).metricsUrl}/metrics`)).text();
    const copied = Number(/^broker_reassignment_bytes_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(copied > 0, `node 4's broker_reassignment_bytes_total is ${copied}`);
    await progress('after the join');

    // 2. Decommission node 2: its replicas move away, then it leaves the cluster.
    step('remove node 2');
    await client.removeServer(2);
    await until(
      'node 2 has left the cluster',
      async () => !(await client.getServers()).some((s) => s.nodeId === 2),
      180_000,
    );
    removed.add(2);
    step('node 2 left');
    await until('node 2 deleted its replicas', async () => partitionDirsOf(2).length === 0, 30_000);
    await cluster.kill(2, 'SIGTERM');
    await balanced('after node 2 left', [1, 3, 4], rfOf);
    await progress('after the decommission');

    // 3. A rolling restart: SIGTERM each node, start it again, wait for every ISR to be whole.
    for (const id of live()) {
      step(`restart node ${id}`);
      await cluster.kill(id, 'SIGTERM');
      await progress(`while node ${id} is down`, 30);
      await restartKeepingLogs(id);
      await balanced(`after node ${id} restarted`, [1, 3, 4], rfOf);
    }
    await progress('after the rolling restart');

    // 4. A Kafka admin client grows the topic to 16 partitions; the producers write to them all.
    step('grow to 16 partitions');
    createPartitionsWithConfluentAdmin(TOPIC, 16);
    partitions = 16;
    await balanced('after growing', [1, 3, 4], rfOf);
    await progress('after growing');

    // 5. Replication factor 3, by reassignment of every partition.
    step('raise the replication factor to 3');
    const moves = await client.alterReplicationFactor(TOPIC, 3);
    assert.equal(moves.length, 16, 'every partition gains a replica');
    rf = 3;
    await balanced('after raising the factor', [1, 3, 4], rfOf);
    await progress('at the end');
    step('done');
  } catch (err) {
    t.diagnostic(`steps: ${JSON.stringify(steps)}; the nodes' logs: ${dumpLogs()}`);
    throw err;
  } finally {
    await a.stop();
    await b.stop();
    await kjs.disconnect().catch(() => {});
    await tsProducer.close().catch(() => {});
  }
  t.diagnostic(
    JSON.stringify({ steps, acked: [a.acked.length, b.acked.length], errors: [a.errors, b.errors] }),
  );

  try {
    await verify();
  } catch (err) {
    t.diagnostic(`the nodes' logs: ${dumpLogs()}`);
    throw err;
  }

  async function verify() {
    // Nothing acknowledged lost or stored twice; every replica the same.
    const all = [...a.acked, ...b.acked];
    const logs = new Map<number, { offset: number; value: string }[]>();
    const md = await metadataOf(cluster, TOPIC);
    for (const p of md) {
      await until(`${TOPIC}-${p.partition}: its replicas hold the same bytes`, async () => {
        const copies = p.replicas.map((id) => logBytes(id, TOPIC, p.partition));
        return copies.every((c) => c?.equals(copies[0]!));
      });
      const log = await readAllOf(cluster, TOPIC, p.partition);
      logs.set(p.partition, log);
      assert.deepEqual(
        log.map((r) => r.offset),
        log.map((_, i) => i),
        `${TOPIC}-${p.partition}: offsets run from 0 without a gap or a repeat`,
      );
      const at = new Map<string, number[]>();
      for (const r of log) at.set(r.value, [...(at.get(r.value) ?? []), r.offset]);
      assert.deepEqual(
        [...at].filter(([, o]) => o.length > 1),
        [],
        `${TOPIC}-${p.partition}: no record stored twice`,
      );
      for (const w of all.filter((x) => x.partition === p.partition))
        assert.deepEqual(
          at.get(w.value),
          [w.offset],
          `${w.value} is stored once, at its acknowledged offset`,
        );
    }
    // The group reads to the end of every partition, and its history passes Jepsen's checks.
    await until(
      'the group has committed the end of every partition',
      async () => [...logs].every(([p, l]) => group.lastCommits().get(p) === l.length),
      90_000,
    );
    await group.stop();
    const { repeats } = checkGroup('group elastic-group', group, logs);
    t.diagnostic(`group elastic-group: ${group.joins.length} joins, ${repeats} repeats inside a generation`);
  }
});
