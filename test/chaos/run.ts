/**
 * `npm run chaos`: a Jepsen-style test of the cluster (issue 13). It starts real `broker` processes,
 * each in a network namespace of its own, runs a workload through real Kafka clients and our
 * TypeScript client, injects faults on a seeded schedule, heals, waits for recovery, and checks the
 * history (test/chaos/checker.ts).
 *
 *   npm run chaos                                  one schedule of 90 s on 3 nodes, seed from the clock
 *   npm run chaos -- --seed 7 --schedules 15 --seconds 90 --nodes 5
 *   npm run chaos -- --quick                       the short run that npm test includes
 *   npm run chaos -- --nodes 1 --fsync interval    a single node under SIGKILL
 *   npm run chaos -- --clean                       removes namespaces left by a run that was killed
 *
 * Schedule i of a run uses seed + i, and a failed one prints the command that replays it. Results go to
 * `--out` (default chaos-results/): per schedule history.jsonl, report.md, timeline.svg, result.json and
 * the nodes' logs, and summary.md for the whole run. The exit code is 0 when every schedule passed, 1
 * when one failed, 2 when the run could not start (missing package, not root, leftover namespaces).
 *
 * Two processes: this one (the supervisor, in the root namespace) checks the prerequisites, makes the
 * network (test/chaos/net.ts) and runs itself again inside the hub namespace with `--inner`, where the
 * clients reach the nodes; whatever happens to that run, the supervisor then kills every process left
 * in the run's namespaces and deletes them. Both stop by themselves: the inner run has a deadline of
 * its schedules' length plus four minutes each, the supervisor one minute more.
 *
 * CHAOS_TEST_OCCUPY=<node>:<port> (for the harness's own tests) makes the inner run listen on that
 * port in that node's namespace before the cluster starts, as a stray process would.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lineChartSvg } from '../../bench/lib/svg.ts';
import { BrokerClient } from '../../src/client/index.ts';
import { KafkaOutbound } from '../../src/protocol/kafka/outbound.ts';
import { decodeBatchAsync, forEachBatch } from '../../src/records/batch.ts';
import { availability, type CheckResult, check, type Verdict } from './checker.ts';
import { ChaosCluster, PORTS } from './cluster.ts';
import type { FinalReadOp, ReplicaLogOp } from './history.ts';
import { applyFault, type NemesisEnv, planSchedule, quickSchedule } from './nemesis.ts';
import {
  attachChaosNet,
  type ChaosNet,
  createChaosNet,
  leftoverNamespaces,
  networkPrerequisites,
  removeNamespaces,
} from './net.ts';
import { scenarios } from './scenarios.ts';
import { debianPython, History, Workload } from './workload.ts';

const runTs = new URL(import.meta.url).pathname;
const TOPIC = 'chaos';
/** The controller's session timeout given to the nodes: short, so that faults resolve within a schedule. */
const SESSION_MS = 4000;
const GROUP = 'chaos-group';

export interface ChaosOptions {
  nodes: number;
  seed: number;
  schedules: number;
  seconds: number;
  quick: boolean;
  out: string;
  fsync: 'always' | 'interval' | null;
  partitions: number;
  consumers: number;
  /** Scripted schedules of test/chaos/scenarios.ts (comma-separated, run in turn) instead of a random one. */
  scenario: string | null;
}

export class UsageError extends Error {}

const usage = `usage: npm run chaos -- [--seed N] [--schedules K] [--seconds S] [--nodes 3|5|1..9]
                      [--fsync always|interval] [--partitions P] [--consumers C] [--out DIR] [--quick]
                      [--scenario ${Object.keys(scenarios).join('|')}[,...]] [--clean]`;

export function parseArgs(argv: string[]): ChaosOptions & { inner: string | null; clean: boolean } {
  const o: ChaosOptions & { inner: string | null; clean: boolean } = {
    nodes: 3,
    seed: Date.now() % 1_000_000,
    schedules: 1,
    seconds: 90,
    quick: false,
    out: 'chaos-results',
    fsync: null,
    partitions: 4,
    consumers: 3,
    scenario: null,
    inner: null,
    clean: false,
  };
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    // Decimal digits only: Number() would take '' as 0, ' 3' as 3 and '1e3' as 1000.
    const n = v !== undefined && /^[0-9]{1,10}$/.test(v) ? Number(v) : Number.NaN;
    if (v === undefined || !Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${flag} takes an integer from ${min} to ${max}, got ${v ?? 'nothing'}\n${usage}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const v = argv[i + 1];
    switch (flag) {
      case '--seed':
        o.seed = int(flag, v, 0, 2 ** 31 - 1);
        i++;
        break;
      case '--schedules':
        o.schedules = int(flag, v, 1, 1000);
        i++;
        break;
      case '--seconds':
        o.seconds = int(flag, v, 5, 3600);
        i++;
        break;
      case '--nodes':
        o.nodes = int(flag, v, 1, 9);
        i++;
        break;
      case '--partitions':
        o.partitions = int(flag, v, 1, 64);
        i++;
        break;
      case '--consumers':
        o.consumers = int(flag, v, 1, 16);
        i++;
        break;
      case '--fsync':
        if (v !== 'always' && v !== 'interval')
          throw new UsageError(`--fsync takes always or interval, got ${v ?? 'nothing'}\n${usage}`);
        o.fsync = v;
        i++;
        break;
      case '--out':
        if (!v) throw new UsageError(`--out takes a directory\n${usage}`);
        o.out = v;
        i++;
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--scenario':
        // One scenario, or several separated by commas, run one after another on the same cluster.
        if (!v?.split(',').every((name) => Object.hasOwn(scenarios, name)))
          throw new UsageError(
            `--scenario takes one or more of ${Object.keys(scenarios).join(', ')} (comma-separated), got ${v ?? 'nothing'}\n${usage}`,
          );
        o.scenario = v;
        i++;
        break;
      case '--clean':
        o.clean = true;
        break;
      case '--inner':
        if (!v) throw new UsageError('--inner takes the network prefix');
        o.inner = v;
        i++;
        break;
      default:
        throw new UsageError(`unknown argument ${flag}\n${usage}`);
    }
  }
  if (o.quick) o.seconds = Math.min(o.seconds, 20);
  return o;
}

/** The command that replays schedule `seed` of a run made with `o`. */
export function replayCommand(o: ChaosOptions, seed: number): string {
  const parts = [
    'npm run chaos --',
    '--seed',
    String(seed),
    '--seconds',
    String(o.seconds),
    '--nodes',
    String(o.nodes),
  ];
  if (o.quick) parts.push('--quick');
  if (o.scenario) parts.push('--scenario', o.scenario);
  if (o.fsync) parts.push('--fsync', o.fsync);
  if (o.partitions !== 4) parts.push('--partitions', String(o.partitions));
  if (o.consumers !== 3) parts.push('--consumers', String(o.consumers));
  return parts.join(' ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- the supervisor

async function supervise(o: ReturnType<typeof parseArgs>, argv: string[]): Promise<number> {
  const say = (s: string) => process.stderr.write(`chaos: ${s}\n`);
  if (o.clean) {
    const removed = removeNamespaces(leftoverNamespaces().map((l) => l.name));
    say(removed.length ? `removed ${removed.join(', ')}` : 'no namespaces left from earlier runs');
    return 0;
  }
  const lacking = networkPrerequisites();
  if (lacking) {
    say(lacking);
    return 2;
  }
  const py = spawn(debianPython, ['-c', 'import confluent_kafka'], { stdio: 'ignore' });
  const [pyCode] = (await once(py, 'exit').catch(() => [127])) as [number | null];
  if (pyCode !== 0) {
    say(
      "the workload needs confluent-kafka for Debian's Python: apt-get install -y --no-install-recommends python3-confluent-kafka",
    );
    return 2;
  }
  const left = leftoverNamespaces();
  if (left.length > 0) {
    say(
      `network namespaces are left from an earlier run whose process is gone: ${left.map((l) => l.name).join(', ')}.\n` +
        'Remove them with: npm run chaos -- --clean',
    );
    return 2;
  }
  let chaosNet: ChaosNet;
  try {
    chaosNet = await createChaosNet({ nodes: o.nodes });
  } catch (err) {
    say(`cannot make the run's network: ${(err as Error).message}`);
    return 2;
  }
  const inner = spawn(
    'ip',
    ['netns', 'exec', chaosNet.hubNs, process.execPath, runTs, ...argv, '--inner', chaosNet.prefix],
    {
      stdio: 'inherit',
    },
  );
  say(`supervisor ${process.pid}, run ${inner.pid} in namespace ${chaosNet.hubNs}`);
  const exited = once(inner, 'exit').then(([code, signal]) => (code ?? (signal ? 1 : 0)) as number);
  const stopInner = () => {
    inner.kill('SIGTERM');
    setTimeout(() => inner.kill('SIGKILL'), 20_000).unref();
  };
  process.on('SIGINT', stopInner);
  process.on('SIGTERM', stopInner);
  const deadlineMs = (o.schedules * (o.seconds + 240) + 60) * 1000;
  const deadline = setTimeout(() => {
    say(`the run outlived its deadline of ${deadlineMs / 1000} s: stopping it`);
    inner.kill('SIGKILL');
  }, deadlineMs);
  const code = await exited;
  clearTimeout(deadline);
  const problems = await chaosNet.close();
  for (const p of problems) say(`cleanup: ${p}`);
  return code;
}

// ---------------------------------------------------------------- the run

/** One Kafka request to the first node that answers. */
async function kafkaCall(
  cluster: ChaosCluster,
  api: Parameters<KafkaOutbound['request']>[0],
  version: number,
  body: Record<string, unknown>,
  // biome-ignore lint/suspicious/noExplicitAny: the decoded Kafka message, read field by field by callers
): Promise<any> {
  let last: unknown = new Error('no node is running');
  for (const n of cluster.nodes.filter((x) => x.alive && !x.paused)) {
    let c: KafkaOutbound | null = null;
    try {
      c = await KafkaOutbound.connect({
        host: n.address,
        port: PORTS.kafka,
        clientId: 'chaos',
        connectTimeoutMs: 1000,
      });
      return await c.request(api, version, body, 3000);
    } catch (err) {
      last = err;
    } finally {
      c?.close();
    }
  }
  throw last;
}

interface PartitionMeta {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

async function metadata(cluster: ChaosCluster): Promise<PartitionMeta[]> {
  const md = await kafkaCall(cluster, 'Metadata', 12, {
    topics: [{ name: TOPIC, topicId: '00000000-0000-0000-0000-000000000000' }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  const t = md.topics[0];
  if (t.errorCode !== 0) throw new Error(`Metadata: error ${t.errorCode}`);
  return (
    t.partitions as { partitionIndex: number; leaderId: number; replicaNodes: number[]; isrNodes: number[] }[]
  )
    .map((p) => ({
      partition: p.partitionIndex,
      leader: p.leaderId,
      replicas: p.replicaNodes,
      isr: p.isrNodes,
    }))
    .sort((a, b) => a.partition - b.partition);
}

async function settled(cluster: ChaosCluster, rf: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const md = await metadata(cluster).catch(() => null);
    if (md?.every((p) => p.leader > 0 && p.isr.length === rf)) return true;
    await sleep(250);
  }
  return false;
}

async function controllerNode(cluster: ChaosCluster): Promise<number | null> {
  for (const n of cluster.nodes.filter((x) => x.alive && !x.paused)) {
    try {
      const r = await fetch(`${n.metricsUrl}/ready`, { signal: AbortSignal.timeout(1000) });
      if ((await r.text()).trim() === 'LEADER') return n.id;
    } catch {
      // not answering: not the controller
    }
  }
  return null;
}

/** Samples every running node's Raft gauges into the history until stopped. */
function sampleRaft(cluster: ChaosCluster, history: History) {
  let on = true;
  const gauge = (text: string, name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (-?[\\d.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  const done = (async () => {
    while (on) {
      await Promise.all(
        cluster.nodes
          .filter((n) => n.alive && !n.paused)
          .map(async (n) => {
            const run = n.run;
            try {
              const r = await fetch(`${n.metricsUrl}/metrics`, { signal: AbortSignal.timeout(1000) });
              const text = await r.text();
              const term = gauge(text, 'controller_raft_term');
              const commitIndex = gauge(text, 'controller_raft_commit_index');
              if (Number.isFinite(term) && Number.isFinite(commitIndex) && n.run === run)
                history.add({
                  op: 'raft',
                  node: n.id,
                  run,
                  at: history.now(),
                  term,
                  commitIndex,
                  isLeader: gauge(text, 'controller_is_leader') === 1,
                });
            } catch {
              // down, paused or cut off: no sample
            }
          }),
      );
      await sleep(500);
    }
  })();
  return async () => {
    on = false;
    await done;
  };
}

/** A replica's records as its segment files hold them, with each batch's leader epoch. */
async function replicaRecords(dataDir: string, partition: number): Promise<[number, string, number][]> {
  const dir = path.join(dataDir, `${TOPIC}-${partition}`);
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort();
  } catch {
    return [];
  }
  const out: [number, string, number][] = [];
  for (const f of files) {
    const buf = readFileSync(path.join(dir, f));
    const batches: [number, number][] = [];
    forEachBatch(buf, (pos, size) => batches.push([pos, size]));
    for (const [pos, size] of batches) {
      const b = await decodeBatchAsync(buf.subarray(pos, pos + size));
      for (const r of b.records) out.push([r.offset, String(r.value), b.header.partitionLeaderEpoch]);
    }
  }
  return out;
}

/** A partition's high watermark in a node's replication-offset-checkpoint, or null when absent. */
function checkpointedHighWatermark(dataDir: string, partition: number): number | null {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'replication-offset-checkpoint'), 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n').slice(2)) {
    const [topic, p, hw] = line.trim().split(' ');
    if (topic === TOPIC && Number(p) === partition) return Number(hw);
  }
  return null;
}

interface ScheduleResult {
  seed: number;
  ok: boolean;
  faults: string[];
  check: CheckResult;
  /**
   * What the run checks besides the history: the cluster recovered after healing (`recovered`), the
   * consumers read up to every high watermark (`consumers-caught-up`), every replica's log ends at the
   * leader's high watermark once quiet (`replicas-converged`), no client met a fatal error, and the
   * workload's own processes ran to their end (`workload`, `run`).
   */
  runVerdicts: Verdict[];
  dir: string;
  seconds: number;
  rates: FaultRates;
}

async function runSchedule(o: ChaosOptions, chaosNet: ChaosNet, seed: number): Promise<ScheduleResult> {
  const dir = path.resolve(o.out, `seed-${seed}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Under the results: kept when the schedule fails, for its post-mortem; removed when it passes.
  const dataDir = path.join(dir, 'data');
  const log = (s: string) =>
    process.stderr.write(`chaos[${seed}] +${(history.now() / 1000).toFixed(1)}s ${s}\n`);
  const history = new History(path.join(dir, 'history.jsonl'));
  const rf = Math.min(3, o.nodes);
  const args = ['--log-level', 'info'];
  const cluster = new ChaosCluster({
    nodes: o.nodes,
    net: chaosNet,
    dataDir,
    logDir: path.join(dir, 'nodes'),
    args,
    env: {
      BROKER_CLUSTER_SESSION_TIMEOUT: `${SESSION_MS}ms`,
      BROKER_CLUSTER_HEARTBEAT_INTERVAL: '300ms',
      BROKER_REPLICATION_LAG_TIME_MAX: '1500ms',
      ...(o.fsync ? { BROKER_STORAGE_FSYNC: o.fsync } : {}),
    },
    onControllerTerm: (node, run, term) =>
      history.add({ op: 'controller', node, run, at: history.now(), term }),
  });
  const plan = o.quick ? quickSchedule(o.nodes) : planSchedule(seed, o.seconds, o.nodes);
  const faults: string[] = [];
  const runVerdicts: Verdict[] = [];
  let workload: Workload | null = null;
  let stopRaft: (() => Promise<void>) | null = null;
  /** Each partition's replicas and final high watermark, once the workload has stopped. */
  let replicaSets: { partition: number; hw: number; nodes: number[] }[] = [];
  const started = Date.now();
  try {
    const occupy = process.env.CHAOS_TEST_OCCUPY;
    if (occupy) await occupyPort(chaosNet, occupy);
    await cluster.start();
    log(`cluster of ${o.nodes} ready`);
    stopRaft = sampleRaft(cluster, history);
    const created = await kafkaCall(cluster, 'CreateTopics', 7, {
      topics: [
        {
          name: TOPIC,
          numPartitions: o.partitions,
          replicationFactor: rf,
          assignments: [],
          configs: [{ name: 'min.insync.replicas', value: String(Math.min(2, rf)) }],
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    if (created.topics[0].errorCode !== 0)
      throw new Error(`CreateTopics: ${created.topics[0].errorMessage ?? created.topics[0].errorCode}`);
    if (!(await settled(cluster, rf, 60_000)))
      throw new Error('the topic did not get a full ISR within 60 s');
    workload = new Workload({
      history,
      bootstrap: cluster.bootstrap,
      grpcAddresses: cluster.nodes.map((n) => n.grpcAddress),
      topic: TOPIC,
      group: GROUP,
      consumers: o.consumers,
      tsInFlight: 3,
      logDir: path.join(dir, 'clients'),
    });
    mkdirSync(path.join(dir, 'clients'), { recursive: true });
    await workload.start();
    // A warm-up: the group forms and every producer is acknowledged before the first fault.
    const warm = Date.now() + 30_000;
    while (Date.now() < warm && (history.acked < 100 || workload.polledUpTo().size === 0)) await sleep(200);
    log(`workload running (${history.acked} acknowledged)`);

    const env: NemesisEnv = {
      cluster,
      net: chaosNet,
      settled: (ms) => settled(cluster, rf, ms),
      async transferController() {
        const client = await BrokerClient.connect(
          cluster.nodes.filter((n) => n.alive && !n.paused).map((n) => n.grpcAddress),
        );
        try {
          return await client.transferController(0, { timeoutMs: 10_000 });
        } finally {
          client.close();
        }
      },
      async moveLeadership(pick) {
        const md = await metadata(cluster);
        const p = md[Math.floor(pick * md.length)]!;
        const alive = new Set(cluster.nodes.filter((n) => n.alive && !n.paused).map((n) => n.id));
        const next = p.isr.find((id) => id !== p.leader && alive.has(id));
        if (next === undefined) return `partition ${p.partition}: no other live in-sync replica to lead it`;
        const replicas = [next, ...p.replicas.filter((id) => id !== next)];
        const client = await BrokerClient.connect([...alive].map((id) => cluster.node(id).grpcAddress));
        try {
          const [moved] = await client.alterPartitionReassignments(
            [{ topic: TOPIC, partition: p.partition, replicas }],
            { timeoutMs: 10_000 },
          );
          if (moved?.error)
            return `partition ${p.partition}: reorder refused: ${moved.error} ${moved.message}`;
          const [elected] = await client.electLeaders({
            type: 'preferred',
            partitions: [{ topic: TOPIC, partitions: [p.partition] }],
            timeoutMs: 10_000,
          });
          return elected?.error
            ? `partition ${p.partition}: replicas ${replicas}, election: ${elected.error} ${elected.message}`
            : `partition ${p.partition}: leadership from node ${p.leader} to node ${next}`;
        } finally {
          client.close();
        }
      },
      async resolve(role, pick) {
        if (role === 'controller') return controllerNode(cluster);
        if (role === 'coordinator') {
          const r = await kafkaCall(cluster, 'FindCoordinator', 4, { keyType: 0, coordinatorKeys: [GROUP] });
          const c = r.coordinators[0];
          return c.errorCode === 0 ? (c.nodeId as number) : null;
        }
        const md = await metadata(cluster);
        const p = md[Math.floor(pick * md.length)]!;
        if (role === 'leader') return p.leader > 0 ? p.leader : null;
        const followers = p.replicas.filter((id) => id !== p.leader);
        return followers.length ? followers[Math.floor(pick * followers.length)]! : null;
      },
    };
    for (const [i, name] of (o.scenario ? o.scenario.split(',') : []).entries()) {
      // Each scenario after the first starts from a cluster that is whole again.
      if (i > 0 && !(await settled(cluster, rf, 60_000)))
        throw new Error(`the cluster did not recover within 60 s before scenario ${name}`);
      log(`scenario ${name}`);
      const r = await scenarios[name]!.run({
        cluster,
        net: chaosNet,
        history,
        topic: TOPIC,
        sessionMs: SESSION_MS,
        log,
        leaders: async () => (await metadata(cluster)).map((p) => p.leader),
      });
      faults.push(...r.faults);
      runVerdicts.push(...r.verdicts);
      await sleep(5000);
    }
    for (const f of o.scenario ? [] : plan) {
      await sleep(f.gapMs);
      const start = history.now();
      const applied = await applyFault(f, env);
      const label = `${f.kind} ${f.role}: ${applied.detail}`;
      log(`fault ${label}`);
      faults.push(label);
      if (f.kind !== 'rolling-restart') await sleep(f.holdMs);
      await applied.heal();
      history.add({
        op: 'nemesis',
        fault: f.kind,
        target: f.role,
        nodes: applied.nodes,
        start,
        end: history.now(),
        detail: applied.detail,
      });
      log(`healed ${f.kind}`);
    }
    // Heal everything, then recovery: every node up and every partition led with its whole ISR.
    await chaosNet.heal();
    await cluster.healProcesses();
    const recovered = await settled(cluster, rf, 120_000);
    runVerdicts.push({
      name: 'recovered',
      ok: recovered,
      count: recovered ? 0 : 1,
      examples: recovered ? [] : ['some partition lacked a leader or a full ISR 120 s after healing'],
    });
    log(recovered ? 'recovered' : 'NOT recovered within 120 s');
    await sleep(3000);
    await workload.stopProducers();
    log(`producers stopped (${history.acked} acknowledged)`);
    // The consumers read up to every partition's high watermark.
    const final = await finalReads(cluster);
    const caughtUpBy = Date.now() + 60_000;
    const behind = () =>
      final.filter(
        (f) => f.highWatermark > 0 && (workload!.polledUpTo().get(f.partition) ?? -1) < f.highWatermark - 1,
      );
    while (Date.now() < caughtUpBy && behind().length > 0) await sleep(250);
    const lagging = behind();
    runVerdicts.push({
      name: 'consumers-caught-up',
      ok: lagging.length === 0,
      count: lagging.length,
      examples: lagging.map(
        (f) =>
          `p${f.partition}: polled up to ${workload!.polledUpTo().get(f.partition) ?? -1}, high watermark ${f.highWatermark}`,
      ),
    });
    await workload.stopConsumers();
    for (const f of final) history.add(f);
    // The followers fetch what is left; the replicas' logs are read once every node has stopped.
    await settled(cluster, rf, 30_000);
    await sleep(1500);
    const md = await metadata(cluster).catch(() => null);
    replicaSets = final.map((f) => ({
      partition: f.partition,
      hw: f.highWatermark,
      nodes: md?.[f.partition]?.replicas ?? cluster.nodes.map((n) => n.id),
    }));
    runVerdicts.push({
      name: 'workload',
      ok: workload.problems.length === 0,
      count: workload.problems.length,
      examples: workload.problems.slice(0, 10),
    });
  } catch (err) {
    runVerdicts.push({ name: 'run', ok: false, count: 1, examples: [String((err as Error).stack ?? err)] });
    log(`run failed: ${(err as Error).message}`);
    workload?.kill();
  } finally {
    await stopRaft?.();
    await cluster.stop().catch(() => cluster.kill());
  }
  // On disk after a clean stop: each log as it is and the high watermark checkpointed at shutdown.
  const diverged: string[] = [];
  for (const set of replicaSets)
    for (const id of set.nodes) {
      const n = cluster.node(id);
      const records = await replicaRecords(n.dataDir, set.partition);
      const op: ReplicaLogOp = {
        op: 'replica',
        node: id,
        partition: set.partition,
        highWatermark: checkpointedHighWatermark(n.dataDir, set.partition) ?? 0,
        records,
      };
      history.add(op);
      const end = records.length ? records.at(-1)![0] + 1 : 0;
      if (end !== set.hw)
        diverged.push(
          `p${set.partition} on node ${id}: log ends at ${end}, the leader's high watermark is ${set.hw}`,
        );
    }
  if (replicaSets.length > 0)
    runVerdicts.push({
      name: 'replicas-converged',
      ok: diverged.length === 0,
      count: diverged.length,
      examples: diverged.slice(0, 10),
    });
  const fatal = history.ops.flatMap((op) =>
    op.op === 'info' && op.fatal ? [`${op.client}: ${op.fatal}`] : [],
  );
  runVerdicts.push({
    name: 'no-client-fatal-error',
    ok: fatal.length === 0,
    count: fatal.length,
    examples: fatal.slice(0, 10),
  });
  await history.close();
  const result = check(history.ops);
  const ok = result.ok && runVerdicts.every((v) => v.ok);
  const sr: ScheduleResult = {
    rates: faultRates(history.ops),
    seed,
    ok,
    faults,
    check: result,
    runVerdicts,
    dir,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  writeFileSync(
    path.join(dir, 'result.json'),
    `${JSON.stringify({ ...sr, replay: replayCommand(o, seed) }, null, 2)}\n`,
  );
  writeFileSync(path.join(dir, 'timeline.svg'), timelineSvg(history, seed));
  writeFileSync(path.join(dir, 'report.md'), scheduleReport(o, sr));
  if (ok) rmSync(dataDir, { recursive: true, force: true });
  else log(`data directories kept in ${dataDir}`);
  return sr;
}

/** Every partition's whole log, read through its leader with the TypeScript client. */
async function finalReads(cluster: ChaosCluster): Promise<FinalReadOp[]> {
  const md = await metadata(cluster);
  const client = await BrokerClient.connect(cluster.nodes.map((n) => n.grpcAddress));
  try {
    const out: FinalReadOp[] = [];
    for (const p of md) {
      const records: [number, string][] = [];
      let offset = 0;
      let hw = 0;
      for (;;) {
        const r = await client.consumeBatch(TOPIC, offset, {
          partition: p.partition,
          maxRecords: 5000,
          maxWaitMs: 0,
        });
        hw = r.highWatermark;
        if (r.records.length === 0) break;
        for (const m of r.records) records.push([m.offset, String(m.value)]);
        offset = r.nextOffset;
      }
      out.push({ op: 'final-read', partition: p.partition, leader: p.leader, highWatermark: hw, records });
    }
    return out;
  } finally {
    client.close();
  }
}

/** CHAOS_TEST_OCCUPY: a listener on `<node>:<port>` in that node's namespace, left running. */
async function occupyPort(chaosNet: ChaosNet, spec: string): Promise<void> {
  const [node, port] = spec.split(':').map(Number) as [number, number];
  const argv = chaosNet.exec(chaosNet.nodeNs(node), [
    process.execPath,
    '-e',
    `require('net').createServer().listen(${port}, '${chaosNet.nodeAddress(node)}', () => console.log('up'))`,
  ]);
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(p.stdout!, 'data');
}

// ---------------------------------------------------------------- reports

function timelineSvg(history: History, seed: number): string {
  const a = availability(history.ops, 1000);
  return lineChartSvg({
    title: `Acknowledged writes per second under faults (seed ${seed})`,
    xLabel: 'seconds',
    yLabel: 'acknowledged writes/s',
    series: [{ name: 'acknowledged/s', points: a.acked.map((v, i) => [i, v] as [number, number]) }],
    bands: a.faults.map((f) => ({
      from: f.start / 1000,
      to: (f.end ?? history.now()) / 1000,
      label: `${f.fault} ${f.target}`,
    })),
  });
}

/** Acknowledged writes per second before the first fault and during each fault. */
export interface FaultRates {
  baseline: number;
  faults: { fault: string; target: string; nodes: number[]; startS: number; heldS: number; rate: number }[];
}

function faultRates(history: HistoryOp[]): FaultRates {
  const a = availability(history, 1000);
  const rate = (from: number, to: number) => {
    const s = a.acked.slice(
      Math.floor(from / 1000),
      Math.max(Math.floor(from / 1000) + 1, Math.ceil(to / 1000)),
    );
    return s.length ? Math.round(s.reduce((x, y) => x + y, 0) / s.length) : 0;
  };
  // Before the first fault: from the first acknowledgement (the cluster's start is not a fault).
  const firstAck = a.acked.findIndex((v) => v > 0) * 1000;
  return {
    baseline: rate(Math.max(0, firstAck), a.faults[0]?.start ?? a.acked.length * 1000),
    faults: a.faults.map((f) => ({
      fault: f.fault,
      target: f.target,
      nodes: f.nodes,
      startS: Math.round(f.start / 100) / 10,
      heldS: Math.round(((f.end ?? f.start) - f.start) / 100) / 10,
      rate: rate(f.start, f.end ?? f.start),
    })),
  };
}

function faultAvailability(r: FaultRates): string[] {
  return r.faults.map(
    (f) =>
      `| ${f.fault} ${f.target} (${f.nodes.join(', ')}) | ${f.startS.toFixed(1)} s | ${f.heldS.toFixed(1)} s | ${f.rate} | ${r.baseline} |`,
  );
}

type HistoryOp = History['ops'][number];

function verdictRows(vs: Verdict[]): string[] {
  return vs.map(
    (v) =>
      `| ${v.name} | ${v.ok ? 'ok' : '**FAIL**'} | ${v.count} | ${[v.note, ...v.examples.slice(0, 3)].filter(Boolean).join('; ').replace(/\|/g, '\\|')} |`,
  );
}

function scheduleReport(o: ChaosOptions, r: ScheduleResult): string {
  const c = r.check.counts;
  return [
    `# Chaos schedule, seed ${r.seed}: ${r.ok ? 'passed' : 'FAILED'}`,
    '',
    `${o.nodes} nodes, ${o.partitions} partitions, ${o.seconds} s of faults${o.fsync ? `, fsync ${o.fsync}` : ''}; ${r.seconds} s in all.`,
    `Replay: \`${replayCommand(o, r.seed)}\``,
    '',
    '## Faults',
    '',
    ...r.faults.map((f, i) => `${i + 1}. ${f}`),
    '',
    '## Counts',
    '',
    `operations ${c.operations}, sends ${c.sends}, acknowledged ${c.acknowledged}, unknown ${c.unknown} (${c.unknownPresent} of them stored), failed ${c.failed}, lost ${c.lost}, duplicated ${c.duplicated} (non-idempotent producer: ${c.duplicatedNonIdempotent}), unseen ${c.unseen}, polls ${c.polls}, commits ${c.commits}, faults ${c.faults}`,
    '',
    '## Verdicts',
    '',
    '| property | verdict | count | detail |',
    '|---|---|---|---|',
    ...verdictRows([...r.check.verdicts, ...r.runVerdicts]),
    '',
    '## Availability (acknowledged writes per second)',
    '',
    '| fault | at | held | during | before the faults |',
    '|---|---|---|---|---|',
    ...faultAvailability(r.rates),
    '',
    '![timeline](timeline.svg)',
    '',
  ].join('\n');
}

function summary(o: ChaosOptions, results: ScheduleResult[]): string {
  const rows = results.map((r) => {
    const c = r.check.counts;
    const failed = [...r.check.verdicts, ...r.runVerdicts].filter((v) => !v.ok).map((v) => v.name);
    return `| ${r.seed} | ${r.faults.map((f) => f.split(':')[0]).join(', ')} | ${c.acknowledged} | ${c.unknown} | ${c.lost} | ${c.duplicated} | ${c.unseen} | ${r.ok ? 'ok' : `**FAIL** (${failed.join(', ')})`} |`;
  });
  return [
    `# Chaos run: ${results.filter((r) => r.ok).length} of ${results.length} schedules passed`,
    '',
    `${o.nodes} nodes, ${o.seconds} s per schedule, seeds ${results[0]?.seed}..${results.at(-1)?.seed}.`,
    '',
    '| seed | faults | acknowledged | unknown | lost | duplicated | unseen | verdict |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...results.filter((r) => !r.ok).map((r) => `Replay seed ${r.seed}: \`${replayCommand(o, r.seed)}\``),
    '',
    '## Availability by fault',
    '',
    "Acknowledged writes per second while a fault held, as a share of the same schedule's rate before its first fault.",
    '',
    '| fault | times | mean | lowest |',
    '|---|---|---|---|',
    ...availabilityByFault(results),
    '',
  ].join('\n');
}

function availabilityByFault(results: ScheduleResult[]): string[] {
  const byKind = new Map<string, number[]>();
  for (const r of results)
    for (const f of r.rates.faults) {
      if (r.rates.baseline <= 0) continue;
      const key = `${f.fault} ${f.target}`;
      byKind.set(key, [...(byKind.get(key) ?? []), f.rate / r.rates.baseline]);
    }
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  return [...byKind]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(
      ([k, v]) =>
        `| ${k} | ${v.length} | ${pct(v.reduce((x, y) => x + y, 0) / v.length)} | ${pct(Math.min(...v))} |`,
    );
}

async function inner(o: ReturnType<typeof parseArgs>): Promise<number> {
  const chaosNet = attachChaosNet({ prefix: o.inner!, nodes: o.nodes });
  mkdirSync(o.out, { recursive: true });
  const results: ScheduleResult[] = [];
  // The supervisor kills what this run started and removes the namespaces.
  process.on('SIGTERM', () => {
    process.stderr.write('chaos: stopped by SIGTERM\n');
    process.exit(143);
  });
  for (let i = 0; i < o.schedules; i++) {
    const seed = o.seed + i;
    const r = await runSchedule(o, chaosNet, seed);
    results.push(r);
    await chaosNet.heal().catch(() => {});
    const failed = [...r.check.verdicts, ...r.runVerdicts].filter((v) => !v.ok);
    process.stderr.write(
      `chaos: schedule ${i + 1}/${o.schedules} seed ${seed}: ${r.ok ? 'passed' : 'FAILED'} ` +
        `(${r.check.counts.acknowledged} acknowledged, ${r.check.counts.lost} lost, ${r.check.counts.duplicated} duplicated, ${r.check.counts.unseen} unseen) in ${r.seconds} s\n`,
    );
    for (const v of failed)
      process.stderr.write(`  ${v.name}: ${v.count}; ${v.examples.slice(0, 5).join('; ')}\n`);
    if (!r.ok) process.stderr.write(`  replay: ${replayCommand(o, seed)}\n  results: ${r.dir}\n`);
  }
  writeFileSync(path.join(o.out, 'summary.md'), summary(o, results));
  writeFileSync(
    path.join(o.out, 'summary.json'),
    `${JSON.stringify(
      results.map((r) => ({
        seed: r.seed,
        ok: r.ok,
        faults: r.faults,
        rates: r.rates,
        counts: r.check.counts,
        failed: [...r.check.verdicts, ...r.runVerdicts].filter((v) => !v.ok).map((v) => v.name),
      })),
      null,
      2,
    )}\n`,
  );
  return results.every((r) => r.ok) && results.length === o.schedules ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`chaos: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (o.inner) return inner(o);
  return supervise(o, argv);
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`chaos: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
