/**
 * `npm run bench:elastic` (issue 14): what adding a node costs. Three `broker` processes on loopback
 * (startCluster) hold a topic of `--partitions` partitions at replication factor 2, each replica
 * `--gib` GiB (5 x 2 x 1 GiB = 10 GiB by default), plus a small topic under a steady acks=all producer.
 * A fourth node joins with `--join`; the controller's balancer gives it its share by reassignment, each
 * new replica copying under `replication.reassignment_bytes_per_sec` (`--throttle-mib`, MiB/s).
 *
 * Measured, in the same run:
 * - the time from the join until the cluster is balanced again (no move under way, replicas per node
 *   within one), and the bytes node 4 took;
 * - the throttle: node 4's copy rate, from its broker_reassignment_bytes_total sampled every 500 ms,
 *   as the mean over the move and the highest over any 5 s window, each against the configured rate;
 * - the steady producer's acknowledged rate during the move as a ratio to its rate before the join.
 *
 * Usage: `node bench/elastic.ts [--partitions N] [--gib G] [--throttle-mib M] [--dir DIR]`. Prints a
 * table and writes bench/results/elastic-<date>.json. Loopback only; every process and directory goes
 * at the end.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { encodeBatch } from '../src/records/batch.ts';
import { type RunningCluster, startCluster } from '../src/start-cluster.ts';
import { kafkaCaller } from '../test/kafka/helpers.ts';

const { values } = parseArgs({
  options: {
    partitions: { type: 'string', default: '5' },
    gib: { type: 'string', default: '1' },
    'throttle-mib': { type: 'string', default: '50' },
    dir: { type: 'string' },
  },
});
const partitions = Number(values.partitions);
const gib = Number(values.gib);
const throttleMiB = Number(values['throttle-mib']);
for (const [name, v] of [
  ['--partitions', partitions],
  ['--gib', gib],
  ['--throttle-mib', throttleMiB],
] as const) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
}
const MiB = 2 ** 20;
const bytesPerReplica = Math.round(gib * 1024 * MiB);

function dirBytes(dir: string): number {
  let n = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    try {
      n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
    } catch {
      // deleted meanwhile (a segment rolled or a replica dropped)
    }
  }
  return n;
}

interface Placement {
  topic: string;
  replicas: number[];
  isr: number[];
  leader: number;
}

async function placements(c: RunningCluster): Promise<Placement[]> {
  const k = await kafkaCaller(c.nodes.find((n) => n.running)!.kafkaPort);
  try {
    const md = await k.call('Metadata', 12, {
      topics: null,
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    return md.topics.flatMap(
      (t: { name: string; partitions: { replicaNodes: number[]; isrNodes: number[]; leaderId: number }[] }) =>
        t.partitions.map((p) => ({
          topic: t.name,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
          leader: p.leaderId,
        })),
    );
  } finally {
    k.close();
  }
}

/** Settled (no partition with more replicas than its factor, every ISR whole) and within one per node. */
function balancedOver(all: Placement[], nodes: number[], rf: (topic: string) => number): boolean {
  const counts = new Map(nodes.map((id) => [id, 0]));
  for (const p of all) {
    if (p.replicas.length !== rf(p.topic) || p.isr.length !== p.replicas.length) return false;
    for (const id of p.replicas) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return Math.max(...counts.values()) - Math.min(...counts.values()) <= 1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  partitions,
  gibPerReplica: gib,
  throttleMiBPerSec: throttleMiB,
};
let cluster: RunningCluster | null = null;
let stopLive = false;
// Interrupted, it still stops its brokers and removes their 10 GiB.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    stopLive = true;
    void (cluster?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });
try {
  cluster = await startCluster({
    nodes: 3,
    ...(values.dir ? { dir: values.dir } : {}),
    env: {
      BROKER_STORAGE_FSYNC: 'interval',
      BROKER_REPLICATION_REASSIGNMENT_BYTES_PER_SEC: String(Math.round(throttleMiB * MiB)),
      BROKER_CONSUMER_GROUPS_OFFSETS_PARTITIONS: '3',
      BROKER_RETENTION_DEFAULT_MAX_BYTES: '-1',
    },
  });
  const c = cluster;
  const client = await BrokerClient.connect(c.nodes.map((n) => n.grpcAddress));
  await client.createTopic('bulk', {
    partitions,
    replicationFactor: 2,
    configs: { 'retention.bytes': '-1', 'retention.ms': '-1' },
  });
  await client.createTopic('live', { partitions: 3, replicationFactor: 2 });

  // Fill: batches of 60 records of 16 KiB (under max.message.bytes) of random bytes (incompressible), 4 in flight per partition.
  const record = Buffer.alloc(16 * 1024);
  for (let i = 0; i < record.length; i++) record[i] = (i * 2654435761) >>> 24;
  const batch = encodeBatch({ records: Array.from({ length: 60 }, () => ({ value: record })) });
  const fillStart = performance.now();
  await Promise.all(
    Array.from({ length: partitions }, async (_, p) => {
      let written = 0;
      const lane = async () => {
        while (written < bytesPerReplica) {
          written += batch.length;
          await client.produceRecordBatch('bulk', p, batch, { acks: 1 });
        }
      };
      await Promise.all([lane(), lane(), lane(), lane()]);
    }),
  );
  const fillSec = (performance.now() - fillStart) / 1000;
  results.fillSec = fillSec;
  results.fillMiBPerSec = (partitions * bytesPerReplica) / MiB / fillSec;
  console.log(
    `filled ${partitions} partitions x ${gib} GiB (RF 2: ${(2 * partitions * gib).toFixed(1)} GiB on disk) in ${fillSec.toFixed(0)} s`,
  );
  const rf = (topic: string) => (topic === '__consumer_offsets' ? 3 : 2);
  for (;;) {
    if (balancedOver(await placements(c), [1, 2, 3], rf)) break;
    await sleep(500);
  }

  // The steady producer: batches of 100 records of 1 KiB, acks=all, 4 in flight, round the partitions.
  const acks: { at: number; bytes: number }[] = [];
  const value = Buffer.alloc(1024, 7);
  const live = Array.from({ length: 4 }, async (_, lane) => {
    let p = lane % 3;
    while (!stopLive) {
      try {
        await client.produceBatch(
          'live',
          Array.from({ length: 100 }, () => ({ value })),
          { partition: p, acks: -1 },
        );
        acks.push({ at: performance.now(), bytes: 100 * 1024 });
      } catch {
        await sleep(50);
      }
      p = (p + 1) % 3;
    }
  });
  const rate = (from: number, to: number) =>
    acks.filter((a) => a.at >= from && a.at < to).reduce((n, a) => n + a.bytes, 0) /
    MiB /
    ((to - from) / 1000);
  const beforeStart = performance.now();
  await sleep(15_000);
  const beforeEnd = performance.now();
  const before = rate(beforeStart, beforeEnd);

  // The join and the balancing.
  const t0 = performance.now();
  const node4 = await c.addNode();
  const samples: { at: number; bytes: number }[] = [];
  /** node 4's broker_reassignment_bytes_total: what the throttle let through, exactly. */
  const throttled = async () => {
    const text = await (await fetch(`${node4.metricsUrl}/metrics`)).text();
    return Number(/^broker_reassignment_bytes_total(?:\{[^}]*\})? (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  let balancedAt = 0;
  while (balancedAt === 0) {
    samples.push({ at: performance.now(), bytes: await throttled().catch(() => samples.at(-1)?.bytes ?? 0) });
    const all = await placements(c).catch(() => null);
    if (all?.some((p) => p.replicas.includes(4)) && balancedOver(all, [1, 2, 3, 4], rf))
      balancedAt = performance.now();
    else await sleep(500);
    if (performance.now() - t0 > 60 * 60_000) throw new Error('not balanced within an hour');
  }
  const during = rate(t0, balancedAt);
  stopLive = true;
  await Promise.all(live);
  const moveSec = (balancedAt - t0) / 1000;
  const took = samples.at(-1)!.bytes;
  const onDisk = dirBytes(node4.dataDir);
  // The copy rate: over the whole move, and the highest over any 5 s window.
  let peak = 0;
  for (const s of samples) {
    const later = samples.find((x) => x.at >= s.at + 5000);
    if (later) peak = Math.max(peak, (later.bytes - s.bytes) / MiB / ((later.at - s.at) / 1000));
  }
  const all = await placements(c);
  const held = (id: number) => all.filter((p) => p.replicas.includes(id)).length;
  // What the controller started, when (from its log lines), and node 4's copy rate second by second.
  const moveLog = c.nodes.flatMap((n) =>
    n.logs
      .filter((l) => l.msg === 'started partition moves to balance the cluster')
      .map((l) => ({
        atSec: Number(((Number(l.time) - (Date.now() - (performance.now() - t0))) / 1000).toFixed(1)),
        moves: l.moves,
      })),
  );
  const copyTimeline: number[] = [];
  for (let sec = 1; sec * 1000 <= balancedAt - t0; sec++) {
    const at = (ms: number) => samples.findLast((x) => x.at - t0 <= ms)?.bytes ?? 0;
    copyTimeline.push(Number(((at(sec * 1000) - at((sec - 1) * 1000)) / MiB).toFixed(1)));
  }
  Object.assign(results, {
    moveSec,
    node4Bytes: took,
    node4DiskBytes: onDisk,
    node4Replicas: held(4),
    replicasPerNode: [1, 2, 3, 4].map(held),
    copyMiBPerSecMean: took / MiB / moveSec,
    copyMiBPerSecPeak5s: peak,
    throttleRatioMean: took / MiB / moveSec / throttleMiB,
    throttleRatioPeak5s: peak / throttleMiB,
    produceMiBPerSecBefore: before,
    produceMiBPerSecDuring: during,
    produceRatioDuringToBefore: during / before,
    moveLog,
    copyMiBPerSecond: copyTimeline,
  });
  console.log(
    [
      `move: ${moveSec.toFixed(1)} s from the join to balanced; node 4 took ${held(4)} replicas, ${(took / 2 ** 30).toFixed(2)} GiB (replicas per node ${[1, 2, 3, 4].map(held).join('/')})`,
      `copy rate: mean ${(took / MiB / moveSec).toFixed(1)} MiB/s, peak 5 s ${peak.toFixed(1)} MiB/s, against a throttle of ${throttleMiB} MiB/s (ratios ${(took / MiB / moveSec / throttleMiB).toFixed(2)}, ${(peak / throttleMiB).toFixed(2)})`,
      `steady producer (acks=all): ${before.toFixed(1)} MiB/s before, ${during.toFixed(1)} MiB/s during the move (ratio ${(during / before).toFixed(2)})`,
    ].join('\n'),
  );
  client.close();
  const out = path.join(
    import.meta.dirname,
    'results',
    `elastic-${new Date().toISOString().slice(0, 19)}.json`,
  );
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${out}`);
} finally {
  stopLive = true;
  await cluster?.close();
}
