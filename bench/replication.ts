/**
 * `npm run bench:cluster` part 2 (issue 12): replication on real `broker` processes on loopback.
 *
 * - Throughput: 100-byte records in pre-encoded batches of 1,000, Produce v7 with acks=all, one
 *   connection per partition leader with `--inflight` requests outstanding, for `--seconds`:
 *   replication factor 3 on three nodes against replication factor 1 on one node (the issue's peer),
 *   and against replication factor 1 spread over the same three nodes (the same processes and disks
 *   without the copies), alternated `--rounds` times in the same run. Reported as ratios.
 * - Replication lag under that load: `broker_replica_lag_offsets` and `broker_replica_lag_ms` of every
 *   leader, sampled every 100 ms; p50 and p99 of the samples.
 * - Latency at half the measured RF 3 rate: acks=all produce (send to acknowledgement) and end to
 *   end (send to the record's arrival at a consumer long-polling the leader), p50 and p99.
 * - Failover: with a producer sending acks=all continuously to one partition, SIGKILL of its leader
 *   until the next acknowledged produce (client errors counted), with the default session timeout and
 *   with a 3 s one; and a SIGTERM (controlled shutdown) of its leader, whose goal is no failed send.
 * - Memory: a topic of 3,334 partitions at RF 3 (10,002 replicas over three nodes), each node's RSS
 *   before and after.
 *
 * Usage: `node bench/replication.ts [--seconds 5] [--rounds 2] [--inflight 4] [--skip memory,...]`.
 * Prints a table and writes bench/results/replication-<date>.json. The machine has two cores: three
 * brokers and the load generator share them, so RF 3 does three times the disk and CPU work of RF 1
 * on the same cores (see the RF 1 over three nodes row for the processes' own cost).
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { API_KEYS, APIS } from '../src/protocol/kafka/apis/index.ts';
import { errorName, KAFKA_ERRORS } from '../src/protocol/kafka/error-codes.ts';
import { decodeResponsePayload, encodeRequestFrame } from '../src/protocol/kafka/messages.ts';
import { encodeBatch } from '../src/records/batch.ts';
import { type RunningCluster, startCluster } from '../src/start-cluster.ts';
import { kafkaCaller } from '../test/kafka/helpers.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    inflight: { type: 'string', default: '4' },
    partitions: { type: 'string', default: '3' },
    skip: { type: 'string', default: '' },
    failovers: { type: 'string', default: '3' },
    fsync: { type: 'string', default: 'always' },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const inflight = Number(values.inflight);
const partitions = Number(values.partitions);
const failovers = Number(values.failovers);
/** storage.fsync of every node (both sides of every ratio alike). */
const storageEnv = { BROKER_STORAGE_FSYNC: values.fsync };
const skip = new Set(values.skip.split(',').filter(Boolean));
const produceApi = APIS.get(API_KEYS.Produce)!;
const fetchApi = APIS.get(API_KEYS.Fetch)!;

const pct = (xs: number[], p: number) =>
  xs.length === 0
    ? Number.NaN
    : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  seconds,
  rounds,
  inflight,
  partitions,
};

async function kafka(port: number, api: string, version: number, body: Record<string, unknown>) {
  const k = await kafkaCaller(port);
  try {
    return await k.call(api as never, version, body);
  } finally {
    k.close();
  }
}

interface Leaders {
  /** Partition index to the Kafka port of its leader. */
  ports: Map<number, number>;
  leaderIds: Map<number, number>;
}

async function createTopic(
  c: RunningCluster,
  name: string,
  rf: number,
  count = partitions,
): Promise<Leaders> {
  const r = await kafka(c.node(1).kafkaPort, 'CreateTopics', 7, {
    topics: [{ name, numPartitions: count, replicationFactor: rf, assignments: [], configs: [] }],
    timeoutMs: 60_000,
    validateOnly: false,
  });
  if (r.topics[0].errorCode !== 0) throw new Error(`CreateTopics ${name}: ${r.topics[0].errorMessage}`);
  for (;;) {
    const md = await kafka(c.node(1).kafkaPort, 'Metadata', 12, {
      topics: [{ name, topicId: '00000000-0000-0000-0000-000000000000' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    const ps = md.topics[0].partitions as { partitionIndex: number; leaderId: number; isrNodes: number[] }[];
    if (ps.length === count && ps.every((p) => p.leaderId >= 0 && p.isrNodes.length === rf)) {
      const ports = new Map<number, number>();
      const leaderIds = new Map<number, number>();
      for (const p of ps) {
        ports.set(p.partitionIndex, c.node(p.leaderId).kafkaPort);
        leaderIds.set(p.partitionIndex, p.leaderId);
      }
      return { ports, leaderIds };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads Kafka response frames off `socket`, handing each payload to `on`. */
function frames(socket: Socket, on: (payload: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      const payload = buf.subarray(4, 4 + buf.readInt32BE(0));
      buf = buf.subarray(4 + payload.length);
      on(payload);
    }
  });
}

function produceFrame(topic: string, partition: number, batch: Buffer, correlationId: number): Buffer[] {
  return encodeRequestFrame(
    produceApi,
    { apiKey: produceApi.key, apiVersion: 7, correlationId, clientId: 'bench-replication' },
    {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30_000,
      topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }],
    },
  );
}

function batchOf(n: number, timestamp = Date.now()): Buffer {
  return encodeBatch({
    baseTimestamp: timestamp,
    records: Array.from({ length: 1000 }, (_, i) => ({
      key: null,
      value: Buffer.from(`${n}:${i}:`.padEnd(100, 'x')),
      timestamp,
    })),
  });
}

const batches = Array.from({ length: 8 }, (_, n) => batchOf(n));

/** Produces acks=all at full speed to every partition of `topic` for `seconds`: records/s. */
async function saturate(topic: string, leaders: Leaders, onTick?: () => Promise<void>): Promise<number> {
  let records = 0;
  let stop = false;
  const drive = async (partition: number, port: number) => {
    const socket = await open(port);
    let id = 0;
    let outstanding = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => {
      done = r;
    });
    const send = () => {
      for (const part of produceFrame(topic, partition, batches[id % batches.length], ++id))
        socket.write(part);
      outstanding++;
    };
    frames(socket, (payload) => {
      const { body } = decodeResponsePayload(produceApi, 7, payload);
      const p = (body.responses as { partitionResponses: { errorCode: number }[] }[])[0]
        .partitionResponses[0];
      if (p.errorCode !== 0)
        throw new Error(`produce to ${topic}-${partition} failed with error ${p.errorCode}`);
      records += 1000;
      outstanding--;
      if (!stop) send();
      else if (outstanding === 0) done();
    });
    for (let i = 0; i < inflight; i++) send();
    await finished;
    socket.destroy();
  };
  const drivers = [...leaders.ports].map(([p, port]) => drive(p, port));
  const t0 = performance.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling && onTick) {
      await onTick();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const counted = records;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  sampling = false;
  await Promise.all(drivers);
  await sampler;
  return counted / elapsed;
}

async function metricValues(url: string, name: string): Promise<number[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (-?[\\d.e+]+)$`, 'gm'))].map((m) => Number(m[1]));
}

function rssOf(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/**
 * One failover: a producer sends acks=all batches to a one-partition RF 3 topic as fast as it is
 * answered, following the leader in Metadata and retrying what fails as a Kafka producer does (a
 * retriable error code or a lost connection is retried; any other code is a failed send). The leader
 * gets `signal`; measured from then until the next acknowledged produce. The node is restarted after.
 */
async function failoverOnce(
  c: RunningCluster,
  topic: string,
  signal: 'SIGKILL' | 'SIGTERM',
): Promise<{ ms: number; retried: number; failed: number }> {
  const leaders = await createTopic(c, topic, 3, 1);
  const victim = leaders.leaderIds.get(0)!;
  let retried = 0;
  let failed = 0;
  let stop = false;
  let acked = 0;
  let signalledAt = 0;
  let firstAckAfter = 0;
  const loop = (async () => {
    let n = 0;
    while (!stop) {
      try {
        const md = await kafka(c.nodes.find((x) => x.running)!.kafkaPort, 'Metadata', 12, {
          topics: [{ name: topic, topicId: '00000000-0000-0000-0000-000000000000' }],
          allowAutoTopicCreation: false,
          includeTopicAuthorizedOperations: false,
        });
        const node = c.nodes.find((x) => x.id === md.topics[0].partitions[0].leaderId && x.running);
        if (!node) throw new Error('no leader yet');
        const k = await kafkaCaller(node.kafkaPort);
        try {
          while (!stop) {
            const r = await k.call('Produce', 7, {
              transactionalId: null,
              acks: -1,
              timeoutMs: 30_000,
              topicData: [{ name: topic, partitionData: [{ index: 0, records: batchOf(n++) }] }],
            });
            const code = r.responses[0].partitionResponses[0].errorCode as number;
            if (code !== 0) {
              const name = errorName(code);
              if (name && KAFKA_ERRORS[name].retriable) throw new Error(name);
              failed++;
              continue;
            }
            acked++;
            if (signalledAt > 0 && firstAckAfter === 0) firstAckAfter = performance.now();
          }
        } finally {
          k.close();
        }
      } catch {
        retried++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  while (acked < 20) await new Promise((r) => setTimeout(r, 10));
  const before = { retried, failed };
  signalledAt = performance.now();
  const killing = c.kill(victim, signal);
  while (firstAckAfter === 0 && performance.now() - signalledAt < 60_000)
    await new Promise((r) => setTimeout(r, 5));
  await killing;
  stop = true;
  await loop;
  await c.restart(victim);
  return {
    ms: firstAckAfter - signalledAt,
    retried: retried - before.retried,
    failed: failed - before.failed,
  };
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
let one: RunningCluster | null = null;
let three: RunningCluster | null = null;
try {
  // ---- throughput and lag
  if (!skip.has('throughput')) {
    one = await startCluster({ nodes: 1, env: storageEnv });
    three = await startCluster({ nodes: 3, env: storageEnv });
    const rows: { rf1one: number; rf1three: number; rf3: number }[] = [];
    const lagOffsets: number[] = [];
    const lagMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = await createTopic(one, `rf1-one-${r}`, 1);
      const rf1one = await saturate(`rf1-one-${r}`, a);
      const b = await createTopic(three, `rf1-three-${r}`, 1);
      const rf1three = await saturate(`rf1-three-${r}`, b);
      const cc = await createTopic(three, `rf3-${r}`, 3);
      const c3 = three;
      const rf3 = await saturate(`rf3-${r}`, cc, async () => {
        for (const n of c3.nodes) {
          lagOffsets.push(...(await metricValues(n.metricsUrl, 'broker_replica_lag_offsets')));
          lagMs.push(...(await metricValues(n.metricsUrl, 'broker_replica_lag_ms')).filter((x) => x >= 0));
        }
      });
      rows.push({ rf1one, rf1three, rf3 });
      console.log(
        `round ${r + 1}: RF1 one node ${rf1one.toFixed(0)} rec/s, RF1 three nodes ${rf1three.toFixed(0)} rec/s, RF3 three nodes ${rf3.toFixed(0)} rec/s: RF3/RF1(one) ${(rf3 / rf1one).toFixed(2)}x, RF3/RF1(three) ${(rf3 / rf1three).toFixed(2)}x`,
      );
    }
    results.throughput = rows;
    results.rf3OverRf1One = rows.map((x) => x.rf3 / x.rf1one);
    results.rf3OverRf1Three = rows.map((x) => x.rf3 / x.rf1three);
    results.lag = {
      offsetsP50: pct(lagOffsets, 50),
      offsetsP99: pct(lagOffsets, 99),
      msP50: pct(lagMs, 50),
      msP99: pct(lagMs, 99),
      samples: lagOffsets.length,
    };
    console.log(
      `replication lag under RF3 load: offsets p50 ${pct(lagOffsets, 50)} p99 ${pct(lagOffsets, 99)}; ms since caught up p50 ${pct(lagMs, 50)} p99 ${pct(lagMs, 99)} (${lagOffsets.length} samples)`,
    );

    // ---- latency at half the RF3 rate
    const rf3Rate = Math.min(...rows.map((x) => x.rf3));
    const rate = rf3Rate / 2; // records/s, in batches of 1,000
    const leaders = await createTopic(three, 'latency', 3, 1);
    const port = leaders.ports.get(0)!;
    const producer = await open(port);
    const consumer = await open(port);
    const sentAt = new Map<number, number>();
    const ackMs: number[] = [];
    const e2eMs: number[] = [];
    let corr = 0;
    frames(producer, (payload) => {
      const { correlationId, body } = decodeResponsePayload(produceApi, 7, payload);
      const p = (body.responses as { partitionResponses: { errorCode: number }[] }[])[0]
        .partitionResponses[0];
      if (p.errorCode !== 0) throw new Error(`latency produce failed: ${p.errorCode}`);
      ackMs.push(performance.now() - sentAt.get(correlationId)!);
    });
    let fetchOffset = 0n;
    let fetching = true;
    const fetchOnce = () => {
      const frame = encodeRequestFrame(
        fetchApi,
        { apiKey: fetchApi.key, apiVersion: 11, correlationId: ++corr, clientId: 'bench-latency' },
        {
          replicaId: -1,
          maxWaitMs: 500,
          minBytes: 1,
          maxBytes: 50 * 1024 * 1024,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [
            {
              topic: 'latency',
              partitions: [
                {
                  partition: 0,
                  currentLeaderEpoch: -1,
                  fetchOffset,
                  logStartOffset: -1,
                  partitionMaxBytes: 10 * 1024 * 1024,
                },
              ],
            },
          ],
          forgottenTopicsData: [],
          rackId: '',
        },
      );
      for (const part of frame) consumer.write(part);
    };
    frames(consumer, (payload) => {
      const now = Date.now();
      const { body } = decodeResponsePayload(fetchApi, 11, payload);
      const p = (body.responses as { partitions: { records: Buffer | null }[] }[])[0].partitions[0];
      const bytes = p.records ?? Buffer.alloc(0);
      let pos = 0;
      while (pos + 61 <= bytes.length) {
        const size = 12 + bytes.readInt32BE(pos + 8);
        if (pos + size > bytes.length) break;
        const base = bytes.readBigInt64BE(pos);
        const last = base + BigInt(bytes.readInt32BE(pos + 23));
        const firstTs = Number(bytes.readBigInt64BE(pos + 27));
        e2eMs.push(now - firstTs);
        fetchOffset = last + 1n;
        pos += size;
      }
      if (fetching) fetchOnce();
    });
    fetchOnce();
    const intervalMs = 1000 / (rate / 1000);
    const count = Math.max(50, Math.min(2000, Math.round((seconds * 1000) / intervalMs)));
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + i * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const id = ++corr;
      sentAt.set(id, performance.now());
      for (const part of produceFrame('latency', 0, batchOf(i), id)) producer.write(part);
    }
    while (ackMs.length < count || e2eMs.length < count) await new Promise((r) => setTimeout(r, 50));
    fetching = false;
    producer.destroy();
    consumer.destroy();
    results.latency = {
      rateRecordsPerSec: rate,
      batches: count,
      ackP50: pct(ackMs, 50),
      ackP99: pct(ackMs, 99),
      e2eP50: pct(e2eMs, 50),
      e2eP99: pct(e2eMs, 99),
    };
    console.log(
      `latency at ${rate.toFixed(0)} rec/s (half the RF3 rate), acks=all: ack p50 ${pct(ackMs, 50).toFixed(1)} ms p99 ${pct(ackMs, 99).toFixed(1)} ms; end to end p50 ${pct(e2eMs, 50)} ms p99 ${pct(e2eMs, 99)} ms (${count} batches of 1,000)`,
    );
    await one.close();
    one = null;
    await three.close();
    three = null;
  }

  // ---- failover
  if (!skip.has('failover')) {
    const failover: Record<string, unknown> = {};
    for (const [label, env] of [
      ['default session (9 s)', {}],
      ['3 s session', { BROKER_CLUSTER_SESSION_TIMEOUT: '3s', BROKER_CLUSTER_HEARTBEAT_INTERVAL: '500ms' }],
    ] as [string, Record<string, string>][]) {
      three = await startCluster({ nodes: 3, env });
      const c = three;
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        const times: number[] = [];
        let retried = 0;
        let failed = 0;
        for (let round = 0; round < failovers; round++) {
          const r = await failoverOnce(c, `failover-${signal}-${round}`, signal);
          times.push(r.ms);
          retried += r.retried;
          failed += r.failed;
        }
        failover[`${label} ${signal}`] = { ms: times, retriedSends: retried, failedSends: failed };
        console.log(
          `failover, ${label}, ${signal} of the leader: next acknowledged acks=all produce after median ${pct(times, 50).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)}, n=${times.length}); retriable errors (retried) ${retried}, failed sends ${failed}`,
        );
      }
      await c.close();
      three = null;
    }
    results.failover = failover;
  }

  // ---- memory
  if (!skip.has('memory')) {
    three = await startCluster({ nodes: 3 });
    const before = three.nodes.map((n) => rssOf(n.pid));
    const t0 = performance.now();
    await createTopic(three, 'wide', 3, 3334);
    const createdMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5000));
    const after = three.nodes.map((n) => rssOf(n.pid));
    results.memory = { replicas: 3334 * 3, rssBefore: before, rssAfter: after, createdMs };
    console.log(
      `10,002 replicas (3,334 partitions at RF 3) created with full ISR in ${createdMs.toFixed(0)} ms; RSS per node ${before.map(mib).join(', ')} before, ${after.map(mib).join(', ')} after`,
    );
    await three.close();
    three = null;
  }
} finally {
  await one?.close();
  await three?.close();
}
await mkdir(path.join(import.meta.dirname, 'results'), { recursive: true });
const file = path.join(
  import.meta.dirname,
  'results',
  `replication-${new Date().toISOString().slice(0, 10)}.json`,
);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
