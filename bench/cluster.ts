/**
 * `npm run bench:cluster` (issue 11): three `broker` processes on loopback, formed with `--join`
 * through `startCluster`. Measures, each repeated where it is cheap and reported as median and range:
 *
 * - join: from starting node 3 until it is ready and a voter (its "Distributed broker ready" line and
 *   the quorum at three voters);
 * - failover: from SIGKILL of the active controller until another node's /ready answers LEADER (goal:
 *   under 2 s), and until a CreateTopics through a survivor succeeds;
 * - CreateTopics of one topic of 1,000 partitions across the three nodes, answered once committed and
 *   opened on the node asked;
 * - catch-up: node 3 is stopped while the log takes 100,000 metadata records (incremental config
 *   changes of 14 keys on each of 10 topics per request; the Kafka door makes one controller operation,
 *   one log entry of 14 records, per topic), then restarted:
 *   the snapshot's size on disk (the nodes snapshot every 500 entries here, not the default 10,000,
 *   so that node 3 is sent one), and the time from its start until it is ready with every record
 *   applied.
 *
 * Usage: `node bench/cluster.ts [--records N] [--failovers N]`. Prints a table and writes
 * bench/results/cluster-<date>.json. Loopback only; every process and directory goes at the end.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type RunningCluster, startCluster } from '../src/start-cluster.ts';
import { kafkaCaller } from '../test/kafka/helpers.ts';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, failovers: { type: 'string', default: '5' } },
});
const recordsWanted = Number(values.records);
const failovers = Number(values.failovers);
// A 3 s session (a SIGKILLed node re-registers once it lapses) and a snapshot every 500 entries, so
// that the catch-up below goes through a snapshot as a node down for long would.
const env = {
  BROKER_CLUSTER_SESSION_TIMEOUT: '3s',
  BROKER_CLUSTER_HEARTBEAT_INTERVAL: '500ms',
  BROKER_CLUSTER_SNAPSHOT_ENTRIES: '500',
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) =>
  `${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

async function ready(url: string): Promise<string> {
  try {
    return (await (await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) })).text()).trim();
  } catch {
    return 'DOWN';
  }
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function kafka(port: number, api: string, version: number, body: Record<string, unknown>) {
  const k = await kafkaCaller(port);
  try {
    return await k.call(api as never, version, body);
  } finally {
    k.close();
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

const results: Record<string, unknown> = { date: new Date().toISOString() };
let cluster: RunningCluster | null = null;
try {
  // Join: node 3's start to ready and voter, over fresh clusters.
  const joins: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await startCluster({ nodes: 2, env });
    const t0 = performance.now();
    await c.addNode();
    joins.push(performance.now() - t0);
    if (i < 2) await c.close();
    else cluster = c;
  }
  results.joinMs = joins;
  console.log(`join (start of node 3 to ready and voter): ${fmt(joins)}`);
  const c = cluster!;

  // Failover.
  const elected: number[] = [];
  const usable: number[] = [];
  for (let i = 0; i < failovers; i++) {
    let old: number | null = null;
    while (old === null) old = await c.controller();
    const t0 = performance.now();
    await c.kill(old);
    const others = c.nodes.filter((n) => n.id !== old);
    let next: (typeof others)[number] | undefined;
    while (!next) {
      for (const n of others) if ((await ready(n.metricsUrl)) === 'LEADER') next = n;
      if (!next) await new Promise((r) => setTimeout(r, 5));
    }
    elected.push(performance.now() - t0);
    const survivor = others.find((n) => n !== next)!;
    for (;;) {
      const r = await kafka(survivor.kafkaPort, 'CreateTopics', 7, {
        topics: [
          { name: `failover-${i}`, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
        ],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      if (r.topics[0].errorCode === 0) break;
    }
    usable.push(performance.now() - t0);
    await c.restart(old);
  }
  results.failoverElectedMs = elected;
  results.failoverCreateTopicsMs = usable;
  console.log(`failover (SIGKILL to a new LEADER): ${fmt(elected)}`);
  console.log(`failover (SIGKILL to a CreateTopics through a survivor): ${fmt(usable)}`);

  // CreateTopics of 1,000 partitions.
  const creates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = await kafka(c.node(1).kafkaPort, 'CreateTopics', 7, {
      topics: [
        { name: `wide-${i}`, numPartitions: 1000, replicationFactor: 1, assignments: [], configs: [] },
      ],
      timeoutMs: 60_000,
      validateOnly: false,
    });
    if (r.topics[0].errorCode !== 0) throw new Error(`CreateTopics: ${r.topics[0].errorMessage}`);
    creates.push(performance.now() - t0);
  }
  results.createTopics1000PartitionsMs = creates;
  console.log(`CreateTopics of 1,000 partitions over 3 nodes: ${fmt(creates)}`);

  // Catch-up of a node that was down for `recordsWanted` metadata records.
  await c.kill(3);
  const topics = Array.from({ length: 10 }, (_, i) => `churn-${i}`);
  await kafka(c.node(1).kafkaPort, 'CreateTopics', 7, {
    topics: topics.map((name) => ({
      name,
      numPartitions: 1,
      replicationFactor: 1,
      assignments: [],
      configs: [],
    })),
    timeoutMs: 30_000,
    validateOnly: false,
  });
  const keys = [
    'delete.retention.ms',
    'file.delete.delay.ms',
    'flush.messages',
    'flush.ms',
    'local.retention.bytes',
    'local.retention.ms',
    'message.timestamp.after.max.ms',
    'message.timestamp.before.max.ms',
    'retention.bytes',
    'retention.ms',
    'segment.jitter.ms',
    'segment.ms',
    'index.interval.bytes',
    'segment.index.bytes',
  ];
  const perOp = topics.length * keys.length;
  const ops = Math.ceil(recordsWanted / perOp);
  const w0 = performance.now();
  for (let op = 0; op < ops; op++) {
    const r = await kafka(c.node(1).kafkaPort, 'IncrementalAlterConfigs', 1, {
      resources: topics.map((name) => ({
        resourceType: 2,
        resourceName: name,
        configs: keys.map((k) => ({ name: k, configOperation: 0, value: String(100_000 + op) })),
      })),
      validateOnly: false,
    });
    const bad = r.responses.find((x: { errorCode: number }) => x.errorCode !== 0);
    if (bad) throw new Error(`IncrementalAlterConfigs: ${bad.errorMessage}`);
  }
  const writeMs = performance.now() - w0;
  results.churnRecords = ops * perOp;
  results.churnWriteMs = writeMs;
  console.log(
    `wrote ${ops * perOp} metadata records in ${ops} operations: ${(writeMs / 1000).toFixed(1)} s (${((ops * perOp) / (writeMs / 1000)).toFixed(0)} records/s)`,
  );
  const raftDir = path.join(c.node(1).dataDir, 'raft');
  const snapshotBytes = statSync(path.join(raftDir, 'snapshot')).size;
  results.snapshotBytes = snapshotBytes;
  results.raftDirBytes = dirBytes(raftDir);
  console.log(
    `metadata snapshot on node 1: ${snapshotBytes} bytes; raft/ in all ${results.raftDirBytes} bytes`,
  );
  const leaderApplied = await gauge(c.node(1).metricsUrl, 'controller_raft_applied_index');
  const r0 = performance.now();
  await c.restart(3);
  const catchUpMs = performance.now() - r0;
  const applied = await gauge(c.node(3).metricsUrl, 'controller_raft_applied_index');
  const installed = await gauge(c.node(3).metricsUrl, 'controller_raft_snapshots_installed');
  results.catchUpMs = catchUpMs;
  results.catchUpSnapshotsInstalled = installed;
  console.log(
    `catch-up of node 3 after ${ops * perOp} records: ready in ${catchUpMs.toFixed(0)} ms (applied ${applied} of ${leaderApplied}, snapshots installed: ${installed})`,
  );
} finally {
  await cluster?.close();
}
await mkdir(path.join(import.meta.dirname, 'results'), { recursive: true });
const file = path.join(
  import.meta.dirname,
  'results',
  `cluster-${new Date().toISOString().slice(0, 10)}.json`,
);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
