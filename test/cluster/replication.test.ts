/**
 * Replication with real processes (issue 12): three nodes, topics of replication factor 3 with
 * min.insync.replicas 2. Checked with Jepsen's vocabulary: no acknowledged write lost, none
 * duplicated, offsets without gaps, and every replica's log the same bytes once the cluster is quiet,
 * for three idempotent acks=all producers (kafkajs, the TypeScript client, and confluent-kafka-python
 * over librdkafka, each with its own sequence handling); a consumer group that reads through the
 * faults sees every record (none unseen) and nothing again below an offset it had committed;
 * a diverged leader truncates what no follower got; the ISR shrinks and grows back around a SIGSTOPped
 * follower; acks=all refuses with two of three nodes down; no unclean election.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import type { Producer } from 'kafkajs';
import { BrokerClient } from '../../src/client/index.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { type RunningCluster, startCluster } from '../../src/start-cluster.ts';
import { JsonLinesChild, within } from '../compat/helpers.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { kafkaCaller } from '../kafka/helpers.ts';
import { until } from './helpers.ts';
import {
  type Acked,
  checkGroup,
  kafkaOf,
  metadataOf,
  type PartitionMeta,
  readAllOf,
  runGroupOf,
  runProducer,
} from './workload.ts';

const SESSION_MS = 4000;
const LAG_MS = 1500;
let cluster: RunningCluster;
const metadata = (topic: string) => metadataOf(cluster, topic);
const kafka = (clientId: string) => kafkaOf(cluster, clientId);
const readAll = (topic: string, partition: number) => readAllOf(cluster, topic, partition);
const runGroup = (topic: string, groupId: string) => runGroupOf(cluster, topic, groupId);

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    env: {
      BROKER_CLUSTER_SESSION_TIMEOUT: `${SESSION_MS}ms`,
      BROKER_CLUSTER_HEARTBEAT_INTERVAL: '300ms',
      BROKER_REPLICATION_LAG_TIME_MAX: `${LAG_MS}ms`,
    },
  });
});

after(async () => {
  await cluster?.close();
});

async function createTopic(name: string, partitions: number, configs: Record<string, string> = {}) {
  const k = await kafkaCaller(cluster.nodes.find((n) => n.running)!.kafkaPort);
  try {
    const r = await k.call('CreateTopics', 7, {
      topics: [
        {
          name,
          numPartitions: partitions,
          replicationFactor: 3,
          assignments: [],
          configs: Object.entries({ 'min.insync.replicas': '2', ...configs }).map(([n, value]) => ({
            name: n,
            value,
          })),
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    assert.equal(r.topics[0].errorCode, 0, r.topics[0].errorMessage ?? `CreateTopics ${name}`);
  } finally {
    k.close();
  }
  await fullIsr(name);
}

/** Waits until every partition of `topic` has a leader and all three replicas in its ISR. */
async function fullIsr(topic: string, ms = 60_000): Promise<PartitionMeta[]> {
  return until(
    `${topic}: every partition led with its whole ISR`,
    async () => {
      const md = await metadata(topic).catch(() => null);
      return md?.every((p) => p.leader >= 0 && p.isr.length === 3) ? md : null;
    },
    ms,
  );
}

/** The bytes of one replica's log: its segments, in order, concatenated. */
function logBytes(nodeId: number, topic: string, partition: number): Buffer {
  const dir = path.join(cluster.node(nodeId).dataDir, `${topic}-${partition}`);
  const segments = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort();
  return Buffer.concat(segments.map((f) => readFileSync(path.join(dir, f))));
}

/** Waits until the three replicas of `topic-partition` hold the same bytes (the cluster is quiet). */
async function replicasEqual(topic: string, partition: number, ms = 30_000): Promise<Buffer> {
  return until(
    `${topic}-${partition}: the three replicas' logs are byte for byte the same`,
    async () => {
      const [a, b, c] = [1, 2, 3].map((id) => logBytes(id, topic, partition));
      return a.length > 0 && a.equals(b) && a.equals(c) ? a : null;
    },
    ms,
  );
}

/** How long the Python producer may take to flush and exit once told to stop (its own flush: 30 s). */
const PY_STOP_MS = 60_000;
const pyProducerScript = path.join(import.meta.dirname, 'jepsen_producer.py');

/**
 * confluent-kafka-python (librdkafka), idempotent with acks=all, as a child process writing until its
 * stdin closes; its delivery reports are the acknowledged writes. Killed by `t.after` if the test fails
 * before stopping it.
 */
function runPythonProducer(t: TestContext, topic: string) {
  const child = new JsonLinesChild(
    debianPython,
    [pyProducerScript, cluster.nodes.map((n) => n.kafkaAddress).join(','), topic],
    t,
  );
  const acked: Acked[] = [];
  const failed: string[] = [];
  const other: Record<string, unknown>[] = [];
  let read = 0;
  const sync = () => {
    for (; read < child.lines.length; read++) {
      const l = child.lines[read];
      if (l.event === 'acked')
        acked.push({
          partition: l.partition as number,
          offset: l.offset as number,
          value: l.value as string,
          atMs: l.atMs as number,
        });
      else if (l.event === 'failed') failed.push(`${l.value}: ${l.error}`);
      else other.push(l);
    }
  };
  return {
    get acked() {
      sync();
      return acked;
    },
    get errors() {
      sync();
      return failed.length;
    },
    /** Delivery errors, fatal errors, anything but acknowledgements, and the end line. */
    get report() {
      sync();
      return { failed, other, stderr: child.stderr.slice(-3000) };
    },
    async stop(): Promise<number | string> {
      child.proc.stdin!.end();
      const code = await child.done(PY_STOP_MS);
      sync();
      return code;
    },
  };
}

/**
 * The longest time `acked` (one partition's acknowledgements) went without one, and the fault phase it
 * began in: a diagnostic of availability, not asserted (timing lives in bench/).
 */
function longestGap(acked: Acked[], phases: { phase: string; atMs: number }[], t0: number): string {
  const times = acked.map((w) => w.atMs).sort((x, y) => x - y);
  let at = 0;
  let gap = 0;
  for (let i = 1; i < times.length; i++)
    if (times[i]! - times[i - 1]! > gap) [gap, at] = [times[i]! - times[i - 1]!, times[i - 1]!];
  const during = phases.filter((f) => f.atMs <= at).at(-1)?.phase ?? 'before the faults';
  return `${gap} ms from +${at - t0} ms (${during})`;
}

/**
 * Samples, every second until stopped, what each running node other than `skip` says in /metrics of
 * the partitions of `topic` it leads: high watermark, ISR size and each follower's lag in offsets; a
 * sample is kept when it differs from the node's previous one. A diagnostic of where writes wait
 * during a fault: appended but not replicated (a follower lags), or not sent at all (nothing moves).
 */
function sampleReplication(topic: string, skip: number, t0: number) {
  const samples: string[] = [];
  /** Each node's last sample, so that only changes are kept. */
  const last = new Map<number, string>();
  let on = true;
  const done = (async () => {
    while (on) {
      const at = Date.now();
      for (const n of cluster.nodes.filter((x) => x.running && x.id !== skip)) {
        try {
          const res = await fetch(`${n.metricsUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
          const text = await res.text();
          const pick = (name: string) =>
            [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (-?\\d+)$`, 'gm'))]
              .filter((m) => m[1]!.includes(`topic="${topic}"`))
              .map((m) => {
                const part = /partition="(\d+)"/.exec(m[1]!)?.[1];
                const follower = /follower="(\d+)"/.exec(m[1]!)?.[1];
                return `p${part}${follower ? `/f${follower}` : ''}=${m[2]}`;
              })
              .join(' ');
          const sample = `hw ${pick('broker_partition_high_watermark')}; isr ${pick('broker_partition_isr_size')}; lag ${pick('broker_replica_lag_offsets')}`;
          if (last.get(n.id) !== sample) samples.push(`+${at - t0} node ${n.id}: ${sample}`);
          last.set(n.id, sample);
        } catch (err) {
          samples.push(`+${at - t0} node ${n.id}: ${String(err)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return {
    samples,
    async stop() {
      on = false;
      await done;
    },
  };
}

/** A group name whose coordinator is node `nodeId`: the group's offsets then live through its fault. */
async function groupCoordinatedBy(prefix: string, nodeId: number): Promise<string> {
  const k = await kafkaCaller(cluster.nodes.find((n) => n.running)!.kafkaPort);
  try {
    for (let i = 0; i < 100; i++) {
      const group = `${prefix}-${i}`;
      const r = await k.call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: [group] });
      if (r.coordinators[0].errorCode === 0 && r.coordinators[0].nodeId === nodeId) return group;
    }
  } finally {
    k.close();
  }
  throw new Error(`none of 100 groups tried is coordinated by node ${nodeId}`);
}

test('acks=all writes through SIGKILL, SIGSTOP and SIGTERM of leaders: none lost, none twice, replicas identical; a consumer group through it all loses nothing and never re-reads below its commits', {
  timeout: 10 * 60_000,
}, async (t) => {
  requireDebian(t, pythonHas('confluent_kafka'), 'python3-confluent-kafka');
  const topic = 'jepsen';
  await createTopic(topic, 3);
  const first = (await metadata(topic))[0];
  // The group is coordinated by the node the first fault kills, so its offsets go through a failover.
  const groupId = await groupCoordinatedBy('jepsen-group', first.leader);
  // Each node's log lines, also those of the processes a restart replaced (a restart starts a new list).
  const logs = new Map<number, Record<string, unknown>[][]>();
  const restart = async (id: number) => {
    logs.set(id, [...(logs.get(id) ?? []), cluster.node(id).logs]);
    await cluster.restart(id);
  };
  t.after(() => {
    const dump = process.env.JEPSEN_DUMP;
    if (!dump) return;
    const lines = cluster.nodes.flatMap((n) =>
      [...(logs.get(n.id) ?? []), n.logs].flatMap((list, run) =>
        list.map((l) => JSON.stringify({ node: n.id, run, ...l })),
      ),
    );
    writeFileSync(dump, `${lines.join('\n')}\n`);
  });
  const group = await runGroup(topic, groupId);
  t.after(() => group.stop());
  const kjs = kafka('jepsen-kafkajs');
  const producer: Producer = kjs.producer({ idempotent: true, maxInFlightRequests: 1 });
  await within('kafkajs producer connect', producer.connect(), 30_000);
  const client = await BrokerClient.connect(cluster.nodes.map((n) => n.grpcAddress));
  const tsProducer = client.producer({ idempotent: true });
  let next = 0;
  const a = runProducer('kjs', async (value) => {
    const [r] = await producer.send({ topic, acks: -1, messages: [{ key: value, value }] });
    return { partition: r.partition, offset: Number(r.baseOffset) };
  });
  const b = runProducer('ts', async (value) => {
    const partition = next++ % 3;
    const r = await tsProducer.send(topic, { key: value, value }, { partition });
    return { partition, offset: Number(r.offset) };
  });
  const py = runPythonProducer(t, topic);
  const producers = { kafkajs: a, ts: b, 'confluent-kafka': py };
  const ackedCount = () => a.acked.length + b.acked.length + py.acked.length;
  const commitCount = () => group.events.filter((e) => e.kind === 'committed').length;
  /** Waits for `n` more acknowledged writes and, unless `group` is false, a new commit of the group. */
  const progress = async (what: string, n = 50, withGroup = true) => {
    const start = ackedCount();
    const commits = commitCount();
    await until(`${what}: ${n} more acknowledged writes`, async () => ackedCount() >= start + n, 60_000);
    // The group runs through the faults rather than catching up after them.
    if (withGroup)
      await until(`${what}: a new commit of group ${groupId}`, async () => commitCount() > commits, 60_000);
  };
  let pyExit: number | string = 'not stopped';
  /** The fault schedule as it happened, for the diagnostic. */
  const phases: { phase: string; atMs: number }[] = [];
  const phase = (name: string) => phases.push({ phase: name, atMs: Date.now() });
  let stoppedSamples: string[] = [];
  // What the Python producer said besides acknowledgements, for any failure of the schedule: its
  // delivery errors, fatal errors and stderr are the evidence of why it stopped acknowledging.
  const pyEvidence = () => {
    const r = py.report;
    return JSON.stringify({
      acked: py.acked.length,
      failed: r.failed.slice(-10),
      other: r.other.slice(-10),
      stderr: r.stderr.slice(-1500),
    });
  };
  try {
    phase('no fault');
    await progress('before the faults');
    // 1. SIGKILL the leader of partition 0; a new leader takes over from the ISR.
    phase(`SIGKILL node ${first.leader}`);
    await cluster.kill(first.leader, 'SIGKILL');
    await until('partition 0 has a new leader', async () => {
      const p = (await metadata(topic))[0];
      return p.leader >= 0 && p.leader !== first.leader && p.leaderEpoch > first.leaderEpoch;
    });
    await progress('after the SIGKILL');
    phase(`restart node ${first.leader}`);
    await restart(first.leader);
    await fullIsr(topic);
    phase('full ISR');
    await progress('after the restart');
    // 2. SIGSTOP a leader for longer than the session timeout, then SIGCONT it.
    const second = (await metadata(topic))[1];
    const stopped = cluster.node(second.leader);
    phase(`SIGSTOP node ${second.leader}`);
    process.kill(stopped.pid!, 'SIGSTOP');
    const sampler = sampleReplication(topic, second.leader, phases[0]!.atMs);
    try {
      await until('partition 1 has a new leader while its old one is stopped', async () => {
        const p = (await metadata(topic))[1];
        return p.leader >= 0 && p.leader !== second.leader;
      });
      await progress('while a leader is stopped', 50, false);
    } finally {
      process.kill(stopped.pid!, 'SIGCONT');
      phase(`SIGCONT node ${second.leader}`);
      await sampler.stop();
      stoppedSamples = sampler.samples;
    }
    await fullIsr(topic);
    phase('full ISR');
    await progress('after SIGCONT');
    // 3. SIGTERM a node: a controlled shutdown moves its leaderships first.
    const third = (await metadata(topic))[2];
    phase(`SIGTERM node ${third.leader}`);
    await cluster.kill(third.leader, 'SIGTERM');
    await progress('after the SIGTERM');
    phase(`restart node ${third.leader}`);
    await restart(third.leader);
    await fullIsr(topic);
    phase('full ISR');
    await progress('at the end');
    // Every producer, not only the sum, writes again once the faults are over.
    for (const [name, p] of Object.entries(producers)) {
      const start = p.acked.length;
      await until(
        `${name}: 10 more acknowledged writes after the faults`,
        async () => p.acked.length >= start + 10,
        60_000,
      );
    }
  } catch (err) {
    throw new Error(`${String(err)}; confluent-kafka producer: ${pyEvidence()}`, { cause: err });
  } finally {
    await a.stop();
    await b.stop();
    pyExit = await py.stop().catch((err: unknown) => String(err));
    await producer.disconnect().catch(() => {});
    await tsProducer.close().catch(() => {});
    client.close();
  }
  assert.equal(pyExit, 0, `the confluent-kafka producer exits cleanly: ${JSON.stringify(py.report)}`);
  const pyOther = py.report.other.filter((l) => l.event !== 'done');
  assert.deepEqual(pyOther, [], 'the confluent-kafka producer had no fatal error');
  for (const [name, p] of Object.entries(producers))
    assert.ok(p.acked.length >= 50, `${name} acknowledged ${p.acked.length} writes (${p.errors} errors)`);
  // Preferred leaders: once every node is back and in the ISR, each partition is led by its first
  // replica again (cluster.leader_rebalance_interval, 5 s), so the leaderships are spread as created.
  await until(
    `${topic}: every partition led by its preferred (first) replica again`,
    async () => (await metadata(topic)).every((p) => p.leader === p.replicas[0]),
    30_000,
  );
  const acked = [...a.acked, ...b.acked, ...py.acked];
  const records = new Map<number, { offset: number; value: string }[]>();
  for (let p = 0; p < 3; p++) {
    await replicasEqual(topic, p);
    records.set(p, await readAll(topic, p));
  }
  for (const [p, log] of records) {
    // Offsets without gaps or duplicates (no compaction here, no transactions).
    assert.deepEqual(
      log.map((r) => r.offset),
      log.map((_, i) => i),
      `${topic}-${p}: offsets run from 0 without a gap or a repeat`,
    );
    const byValue = new Map<string, number[]>();
    for (const r of log) byValue.set(r.value, [...(byValue.get(r.value) ?? []), r.offset]);
    const dupes = [...byValue].filter(([, o]) => o.length > 1);
    assert.deepEqual(dupes, [], `${topic}-${p}: no record stored twice`);
    for (const w of acked.filter((x) => x.partition === p)) {
      const at = byValue.get(w.value);
      // librdkafka may deliver an idempotent batch without its offset: one whose request timed out is
      // known persisted once a later batch of the producer is acknowledged (KIP-98's sequence order),
      // and its report then carries no offset. It must still be stored, once.
      if (w.offset === null || w.offset === undefined || Number.isNaN(w.offset)) {
        assert.equal(
          at?.length,
          1,
          `${topic}-${p}: acknowledged ${w.value} (offset not reported) is stored once`,
        );
        continue;
      }
      assert.deepEqual(
        at,
        [w.offset],
        `${topic}-${p}: acknowledged ${w.value} is at its acknowledged offset ${w.offset}`,
      );
    }
  }
  // The group reads to the end of every partition and commits it, now that the cluster is quiet.
  await until(
    `group ${groupId}: acknowledged commits at the end of every partition (${[...records].map(([p, l]) => `${p}:${l.length}`)})`,
    async () => [...records].every(([p, l]) => group.lastCommits().get(p) === l.length),
    60_000,
  );
  await group.stop();
  const deliveries = group.events.filter((e) => e.kind === 'delivered');
  const t0 = phases[0]!.atMs;
  t.diagnostic(
    JSON.stringify({
      phases: phases.map((f) => `+${f.atMs - t0} ms ${f.phase}`),
      longestAckGaps: Object.fromEntries(
        [['all', acked] as const, ...Object.entries(producers).map(([n, p]) => [n, p.acked] as const)].map(
          ([n, list]) => [
            n,
            [0, 1, 2].map((p) =>
              longestGap(
                list.filter((w) => w.partition === p),
                phases,
                t0,
              ),
            ),
          ],
        ),
      ),
      whileStopped: stoppedSamples,
      acked: Object.fromEntries(Object.entries(producers).map(([n, p]) => [n, [p.acked.length, p.errors]])),
      confluentFailed: py.report.failed.slice(0, 5),
      group: {
        deliveries: deliveries.length,
        redelivered: deliveries.length - new Set(deliveries.map((e) => `${e.partition}@${e.offset}`)).size,
        commits: group.events.length - deliveries.length,
        commitErrors: group.commitErrors.length,
        firstCommitErrors: group.commitErrors.slice(0, 5),
        crashes: group.crashes,
        polls: group.polls,
        readBack: Object.fromEntries(
          [...group.fetched].map(([p, l]) => [p, `${l.length} answers, last ${l.at(-1)}`]),
        ),
      },
    }),
  );
  const { repeats } = checkGroup(`group ${groupId}`, group, records);
  t.diagnostic(`group ${groupId}: ${group.joins.length} joins, ${repeats} repeats inside a generation`);
  // Every acknowledged write, whichever producer made it, reached the group.
  const deliveredValues = new Set(group.events.flatMap((e) => (e.kind === 'delivered' ? [e.value] : [])));
  const lost = acked.filter((w) => !deliveredValues.has(w.value)).map((w) => w.value);
  assert.deepEqual(
    lost.slice(0, 20),
    [],
    `every acknowledged write delivered to the group (${lost.length} not)`,
  );
});

test('a leader that appended what no follower got comes back as a follower and truncates it', async () => {
  const topic = 'diverge';
  await createTopic(topic, 1);
  const client = await BrokerClient.connect(cluster.nodes.map((n) => n.grpcAddress));
  try {
    const p = client.producer({ acks: -1 });
    for (let i = 0; i < 20; i++) await p.send(topic, { value: `before-${i}` }, { partition: 0 });
    await replicasEqual(topic, 0);
    const old = (await metadata(topic))[0];
    // The leader appends batches in its epoch and dies before any follower fetched them: written here
    // into its last segment while it is down, exactly as its own append would have left them.
    await cluster.kill(old.leader, 'SIGKILL');
    const dir = path.join(cluster.node(old.leader).dataDir, `${topic}-0`);
    const last = readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .at(-1)!;
    const lost = Array.from({ length: 5 }, (_, i) =>
      encodeBatch({
        baseOffset: 20 + i,
        partitionLeaderEpoch: old.leaderEpoch,
        records: [{ key: null, value: Buffer.from(`lost-${i}`) }],
      }),
    );
    appendFileSync(path.join(dir, last), Buffer.concat(lost));
    await until(
      'a follower leads in a new epoch',
      async () => {
        const m = (await metadata(topic))[0];
        return m.leader >= 0 && m.leader !== old.leader && m.leaderEpoch > old.leaderEpoch;
      },
      60_000,
    );
    const p2 = client.producer({ acks: -1 });
    for (let i = 0; i < 10; i++) await p2.send(topic, { value: `after-${i}` }, { partition: 0 });
    await cluster.restart(old.leader);
    await fullIsr(topic);
    await replicasEqual(topic, 0);
    const values = (await readAll(topic, 0)).map((r) => r.value);
    assert.deepEqual(values, [
      ...Array.from({ length: 20 }, (_, i) => `before-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `after-${i}`),
    ]);
    const truncated = cluster
      .node(old.leader)
      .logs.some(
        (l) => l.msg === 'truncated a diverged replica to the leader' && String(l.partition) === `${topic}-0`,
      );
    assert.ok(truncated, 'the old leader logged its truncation');
  } finally {
    client.close();
  }
});

test('a SIGSTOPped follower leaves the ISR after the lag time, acks=all goes on with two, and it rejoins once resumed', async () => {
  const topic = 'isr';
  await createTopic(topic, 1);
  const client = await BrokerClient.connect(cluster.nodes.map((n) => n.grpcAddress));
  try {
    const p = client.producer({ acks: -1 });
    await p.send(topic, { value: 'one' }, { partition: 0 });
    const m = (await metadata(topic))[0];
    const follower = m.replicas.find((id) => id !== m.leader)!;
    const pid = cluster.node(follower).pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await until(
        `node ${follower} leaves the ISR`,
        async () => !(await metadata(topic))[0].isr.includes(follower),
        SESSION_MS + LAG_MS * 4,
      );
      // Two in-sync replicas remain: acks=all still succeeds.
      await p.send(topic, { value: 'two' }, { partition: 0 });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await fullIsr(topic);
  } finally {
    client.close();
  }
});

test('two of three replicas down refuse acks=all with NOT_ENOUGH_REPLICAS; the whole ISR down leaves the partition offline, not led by a stale replica', async () => {
  // A fourth node, not a voter, so that two of the topic's replicas can go down while the controller
  // quorum (nodes 1-3) keeps a majority and can shrink the ISR.
  const four = await cluster.addNode();
  const topic = 'min-isr';
  const k = await kafkaCaller(cluster.node(1).kafkaPort);
  try {
    const r = await k.call('CreateTopics', 7, {
      topics: [
        {
          name: topic,
          numPartitions: -1,
          replicationFactor: -1,
          assignments: [{ partitionIndex: 0, brokerIds: [1, 2, four.id] }],
          configs: [{ name: 'min.insync.replicas', value: '2' }],
        },
      ],
      timeoutMs: 30_000,
      validateOnly: false,
    });
    assert.equal(r.topics[0].errorCode, 0, r.topics[0].errorMessage ?? 'CreateTopics');
  } finally {
    k.close();
  }
  await fullIsr(topic);
  await until('node 1 leads min-isr-0', async () => (await metadata(topic))[0].leader === 1);
  const client = await BrokerClient.connect([cluster.node(1).grpcAddress]);
  try {
    await client.produce(topic, { value: 'stored' }, { partition: 0, acks: -1 });
    await cluster.kill(2, 'SIGKILL');
    await cluster.kill(four.id, 'SIGKILL');
    await until('the ISR of min-isr-0 is node 1 alone', async () => {
      const m = (await metadata(topic))[0];
      return m.leader === 1 && m.isr.length === 1;
    });
    await assert.rejects(
      client.produce(topic, { value: 'refused' }, { partition: 0, acks: -1, timeoutMs: 5000 }),
      /NOT_ENOUGH_REPLICAS|not enough|in-sync replicas/i,
    );
    // acks=1 still takes it: only the leader must store it.
    await client.produce(topic, { value: 'acks-1' }, { partition: 0, acks: 1 });
    await Promise.all([cluster.restart(2), cluster.restart(four.id)]);
    await fullIsr(topic);
    // Shrink the ISR to node 1 once more, then take node 1 down too and bring the other two back: they
    // are not in the ISR, and unclean election is off, so neither may lead: the partition is offline
    // until node 1 returns. (With nodes 1 and 2 down the quorum waits; node 2's return restores it.)
    await cluster.kill(2, 'SIGKILL');
    await cluster.kill(four.id, 'SIGKILL');
    await until('the ISR is node 1 alone again', async () => (await metadata(topic))[0].isr.length === 1);
    await cluster.kill(1, 'SIGKILL');
    await Promise.all([cluster.restart(2), cluster.restart(four.id)]);
    await until(
      'min-isr-0 is offline with node 1 down',
      async () => {
        const m = (await metadata(topic))[0];
        return m.leader === -1 && m.isr.length === 1 && m.isr[0] === 1;
      },
      SESSION_MS * 5,
    );
    await cluster.restart(1);
    await until('node 1 leads min-isr-0 again', async () => (await metadata(topic))[0].leader === 1, 60_000);
    // Below min.insync.replicas the high watermark stands still (Kafka's KAFKA-15583): what node 1
    // took alone becomes readable once the others are back in the ISR.
    await fullIsr(topic);
    client.close();
    const again = await BrokerClient.connect([cluster.node(1).grpcAddress]);
    try {
      const r = await again.consumeBatch(topic, 0, { partition: 0, maxRecords: 10, maxWaitMs: 0 });
      assert.deepEqual(
        r.records.map((m) => String(m.value)),
        ['stored', 'acks-1'],
      );
    } finally {
      again.close();
    }
  } finally {
    client.close();
  }
});
