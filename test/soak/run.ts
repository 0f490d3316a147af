/**
 * The soak of issue 10: a real broker process under valid load through both doors while hostile
 * clients of every class the hardening issue names take turns at it; the broker's RSS, open
 * descriptors and /health are sampled throughout and charted (SVG). Then the hostile clients stop, the
 * valid load is checked (every acknowledged record read back once, at its offset, with its value), and
 * the broker is restarted on the same data directory and checked again.
 *
 *   npm run soak                      30 minutes, results in soak-results/ (report.md, samples.json, soak.svg)
 *   npm run soak -- --minutes 5 --seed 7 --out /tmp/soak
 *
 * The phases: a warm-up of valid load alone (10%), hostile clients beside it (80%), a cool-down of
 * valid load alone (10%). The hostile clients take turns in rounds, each class once per round in an
 * order that one seed (printed) shuffles. The run exits 1
 * when a verdict fails; the short version in `npm test` is test/soak/soak.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Kafka, logLevel } from 'kafkajs';
import { lineChartSvg } from '../../bench/lib/svg.ts';
import { BrokerClient } from '../../src/client/index.ts';
import { computeBatchCrc, encodeBatch, F } from '../../src/records/batch.ts';
import { COMPRESSION } from '../../src/records/compression.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { prng } from '../helpers/prng.ts';
import { RawClient, requestFrame } from '../kafka/helpers.ts';

export interface SoakOptions {
  seconds: number;
  seed: number;
  /** Where report.md, samples.json and soak.svg go; none are written when null. */
  outDir: string | null;
  /** @default 1000 */
  sampleMs?: number;
  log?: (line: string) => void;
}

export interface Sample {
  atS: number;
  rssMiB: number;
  fds: number;
  healthOk: boolean;
  phase: 'warm-up' | 'hostile' | 'cool-down';
}

export interface Verdict {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SoakResult {
  samples: Sample[];
  verdicts: Verdict[];
  hostileRuns: Record<string, number>;
  hostileErrors: Record<string, number>;
  produced: { grpc: number; kafka: number };
  ok: boolean;
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procSample(pid: number): { rssMiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: rssKiB / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

async function healthOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- hostile clients

interface Ctx {
  broker: BrokerProcess;
  kafkaPort: number;
  /** Sockets held open on purpose (idle, slow); closed when they expire or at the end. */
  held: Set<Socket>;
  random: () => number;
}

/** Opens a socket that is closed after `holdMs` (or at the end of the run), whatever the server does. */
function hold(ctx: Ctx, holdMs: number, onConnect: (s: Socket) => void): void {
  if (ctx.held.size >= 2000) return; // the harness's own bound, well below the broker's connection limit
  const s = connect(ctx.kafkaPort, '127.0.0.1', () => onConnect(s));
  s.on('error', () => {});
  ctx.held.add(s);
  const timer = setTimeout(() => s.destroy(), holdMs);
  timer.unref();
  s.on('close', () => {
    clearTimeout(timer);
    ctx.held.delete(s);
  });
}

async function call(port: number, frames: Buffer[]): Promise<(Buffer | null)[]> {
  const c = await RawClient.open(port);
  try {
    for (const f of frames) c.write(f);
    const out: (Buffer | null)[] = [];
    for (let i = 0; i < frames.length; i++) out.push(await c.next());
    return out;
  } finally {
    c.close();
  }
}

function produceFrame(topic: string, records: Buffer, correlationId: number, partition = 0): Buffer {
  return requestFrame('Produce', 7, correlationId, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  });
}

function resign(batch: Buffer): Buffer {
  batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), F.crc);
  return batch;
}

let bomb: Buffer | null = null;
/** A gzip batch under 1 MB whose records section expands to millions of empty records. */
function zipBomb(): Buffer {
  if (bomb) return bomb;
  const count = 4_000_000;
  // One empty record: length 6, attributes 0, timestampDelta 0, offsetDelta (varint), key -1, value -1, 0 headers.
  const section = Buffer.alloc(count * 8);
  let pos = 0;
  for (let i = 0; i < count && pos + 8 <= section.length; i++) {
    section[pos++] = 7 * 2; // length 7 (zigzag)
    section[pos++] = 0;
    section[pos++] = 0;
    section[pos++] = 0; // offsetDelta 0: a lie too, but the point is the size
    section[pos++] = 1; // key -1
    section[pos++] = 1; // value -1
    section[pos++] = 0; // headers 0
    section[pos++] = 0;
  }
  const compressed = gzipSync(section, { level: 9 });
  const header = encodeBatch({ records: [{ value: null }], compression: COMPRESSION.none });
  const out = Buffer.alloc(F.records + compressed.length);
  header.copy(out, 0, 0, F.records);
  compressed.copy(out, F.records);
  out.writeInt32BE(out.length - 12, F.batchLength);
  out.writeInt16BE(COMPRESSION.gzip, F.attributes);
  out.writeInt32BE(count - 1, F.lastOffsetDelta);
  out.writeInt32BE(count, F.recordsCount);
  bomb = resign(out);
  return bomb;
}

type Hostile = (ctx: Ctx) => Promise<void>;

export const hostiles: Record<string, Hostile> = {
  /** Frames of random bytes after a valid size field. */
  async garbageFrames(ctx) {
    const c = await RawClient.open(ctx.kafkaPort);
    for (let i = 0; i < 20; i++) {
      const body = Buffer.alloc(8 + Math.floor(ctx.random() * 200));
      for (let j = 0; j < body.length; j++) body[j] = Math.floor(ctx.random() * 256);
      const size = Buffer.alloc(4);
      size.writeInt32BE(body.length);
      c.write(size, body);
    }
    await Promise.race([c.closedPromise, sleep(500)]);
    c.close();
  },
  /** A size field that claims 2 GiB, then a few bytes. */
  async oversizeClaim(ctx) {
    const c = await RawClient.open(ctx.kafkaPort);
    const size = Buffer.alloc(4);
    size.writeInt32BE(0x7fffffff);
    c.write(size, Buffer.alloc(16));
    await Promise.race([c.closedPromise, sleep(1000)]);
    c.close();
  },
  /** Half-sent requests held open (slowloris). */
  async slowRequests(ctx) {
    for (let i = 0; i < 20; i++) {
      hold(ctx, 30_000, (s) => {
        const part = Buffer.alloc(14);
        part.writeInt32BE(1000);
        s.write(part);
      });
    }
  },
  /** Connections that never send anything. */
  async idleConnections(ctx) {
    for (let i = 0; i < 100; i++) hold(ctx, 60_000, () => {});
  },
  /** Pipelined Fetch requests on a connection that never reads its answers. */
  async pipelinedFetchNoRead(ctx) {
    await new Promise<void>((resolve) => {
      hold(ctx, 15_000, (s) => {
        s.pause();
        for (let i = 0; i < 2000; i++) {
          s.write(
            requestFrame('Fetch', 4, i + 1, {
              replicaId: -1,
              maxWaitMs: 0,
              minBytes: 0,
              maxBytes: 50 * 1024 * 1024,
              isolationLevel: 0,
              topics: [
                {
                  topic: 'soak-grpc',
                  partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1048576 }],
                },
              ],
            }),
          );
        }
        resolve();
      });
    });
  },
  /** A batch whose count and lastOffsetDelta claim 2^31-1 records while it holds one. */
  async lyingCount(ctx) {
    const b = encodeBatch({ records: [{ value: Buffer.from('one') }] });
    b.writeInt32BE(0x7ffffffe, F.lastOffsetDelta);
    b.writeInt32BE(0x7fffffff, F.recordsCount);
    await call(ctx.kafkaPort, [produceFrame('soak-hostile', resign(b), 1)]);
  },
  /** A valid CRC over a records section of garbage. */
  async garbageRecords(ctx) {
    const b = encodeBatch({ records: [{ value: Buffer.alloc(64) }, { value: Buffer.alloc(64) }] });
    for (let i = F.records; i < b.length; i++) b[i] = Math.floor(ctx.random() * 256);
    await call(ctx.kafkaPort, [produceFrame('soak-hostile', resign(b), 1)]);
  },
  /** Records not in the codec the batch declares. */
  async wrongCodec(ctx) {
    const b = encodeBatch({ records: [{ value: Buffer.from('plain') }] });
    b.writeInt16BE(COMPRESSION.zstd, F.attributes);
    await call(ctx.kafkaPort, [produceFrame('soak-hostile', resign(b), 1)]);
  },
  /** A control bit on a batch that is not transactional. */
  async controlBit(ctx) {
    const b = encodeBatch({ records: [{ value: Buffer.from('ctl') }] });
    b.writeInt16BE(0x20, F.attributes);
    await call(ctx.kafkaPort, [produceFrame('soak-hostile', resign(b), 1)]);
  },
  /** A small gzip batch that expands to millions of records, into a gzip topic and a plain one, then a time lookup. */
  async zipBomb(ctx) {
    await call(ctx.kafkaPort, [
      produceFrame('soak-gzip', zipBomb(), 1),
      produceFrame('soak-hostile', zipBomb(), 2),
    ]);
    await call(ctx.kafkaPort, [
      requestFrame('ListOffsets', 4, 3, {
        replicaId: -1,
        isolationLevel: 0,
        topics: [
          { name: 'soak-hostile', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: 0 }] },
        ],
      }),
    ]);
  },
  /** A client write to the internal offsets topic. */
  async internalTopicWrite(ctx) {
    const b = encodeBatch({ records: [{ key: Buffer.from('\x00\x01junk'), value: Buffer.from('junk') }] });
    await call(ctx.kafkaPort, [produceFrame('__consumer_offsets', b, 1)]);
  },
  /** One Produce naming 200 unknown topics (the same 200 names each time, so the run stays bounded). */
  async manyUnknownTopics(ctx) {
    const records = encodeBatch({ records: [{ value: Buffer.from('x') }] });
    const frame = requestFrame('Produce', 7, 1, {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topicData: Array.from({ length: 200 }, (_, i) => ({
        name: `soak-unknown-${i}`,
        partitionData: [{ index: 0, records }],
      })),
    });
    await call(ctx.kafkaPort, [frame]);
  },
  /** An OffsetCommit of 2^62. */
  async hugeOffsetCommit(ctx) {
    const sentinel = 0x0badcafe;
    const frame = requestFrame('OffsetCommit', 2, 1, {
      groupId: 'soak-commit',
      generationId: -1,
      memberId: '',
      retentionTimeMs: -1,
      topics: [
        {
          name: 'soak-grpc',
          partitions: [{ partitionIndex: 0, committedOffset: sentinel, committedMetadata: null }],
        },
      ],
    });
    const at = frame.indexOf(Buffer.from([0, 0, 0, 0, 0x0b, 0xad, 0xca, 0xfe]));
    assert.ok(at > 0, 'the sentinel offset is in the frame');
    frame.writeBigInt64BE(2n ** 62n, at);
    await call(ctx.kafkaPort, [frame]);
  },
  /** Group joins with 1 MiB of member metadata each. */
  async bigGroupMetadata(ctx) {
    const metadata = Buffer.alloc(1024 * 1024, 7);
    const frames = Array.from({ length: 5 }, (_, i) =>
      requestFrame('JoinGroup', 3, i + 1, {
        groupId: `soak-group-${Math.floor(ctx.random() * 5)}`,
        sessionTimeoutMs: 6000,
        rebalanceTimeoutMs: 6000,
        memberId: '',
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata }],
      }),
    );
    // Each join waits for the group's rebalance; do not wait for the answers, only send and go.
    const c = await RawClient.open(ctx.kafkaPort);
    for (const f of frames) c.write(f);
    await Promise.race([c.closedPromise, sleep(2000)]);
    c.close();
  },
  /** A gRPC ProduceBatch carrying 20 MiB of raw bytes. */
  async hugeGrpcRequest(ctx) {
    const client = await BrokerClient.connect(ctx.broker.grpcAddress, { retries: 0 });
    try {
      await client.produceRecordBatch('soak-hostile', 0, Buffer.alloc(20 * 1024 * 1024, 1), { retry: false });
    } finally {
      client.close();
    }
  },
};

// ---------------------------------------------------------------- valid load

interface Ack {
  partition: number;
  baseOffset: number;
  values: string[];
}

class ValidLoad {
  readonly grpcAcks: Ack[] = [];
  readonly kafkaAcks: Ack[] = [];
  errors: string[] = [];
  #stop = false;
  #loops: Promise<void>[] = [];

  start(broker: BrokerProcess, client: BrokerClient): void {
    let seq = 0;
    this.#loops.push(
      (async () => {
        while (!this.#stop) {
          const partition = seq % 3;
          const values = Array.from({ length: 50 }, (_, i) => `g-${seq}-${i}`);
          seq++;
          try {
            const r = await client.produceBatch('soak-grpc', values, { partition, acks: -1 });
            this.grpcAcks.push({ partition, baseOffset: r.baseOffset, values });
          } catch (err) {
            this.errors.push(`grpc produce: ${(err as Error).message}`);
          }
          await sleep(50);
        }
      })(),
    );
    this.#loops.push(
      (async () => {
        const kafka = new Kafka({
          brokers: [broker.kafkaAddress!],
          clientId: 'soak',
          logLevel: logLevel.NOTHING,
        });
        const producer = kafka.producer({ allowAutoTopicCreation: false });
        await producer.connect();
        let n = 0;
        while (!this.#stop) {
          const values = Array.from({ length: 20 }, (_, i) => `k-${n}-${i}`);
          n++;
          try {
            const [r] = await producer.send({
              topic: 'soak-kafka',
              acks: -1,
              messages: values.map((value) => ({ value, partition: 0 })),
            });
            this.kafkaAcks.push({ partition: 0, baseOffset: Number(r.baseOffset), values });
          } catch (err) {
            this.errors.push(`kafka produce: ${(err as Error).message}`);
          }
          await sleep(100);
        }
        await producer.disconnect();
      })(),
    );
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await Promise.all(this.#loops);
  }
}

/** Reads each acknowledged record back through gRPC: once, at its offset, with its value. */
async function checkAcks(client: BrokerClient, topic: string, acks: Ack[]): Promise<Verdict> {
  const byPartition = new Map<number, Map<number, string>>();
  for (const p of new Set(acks.map((a) => a.partition))) {
    const seen = new Map<number, string>();
    let offset = 0;
    for (;;) {
      const r = await client.consumeBatch(topic, offset, { partition: p, maxBytes: 4 * 1024 * 1024 });
      for (const m of r.records) {
        if (seen.has(m.offset))
          return { name: `${topic} records`, ok: false, detail: `offset ${m.offset} twice` };
        seen.set(m.offset, m.value?.toString() ?? '');
      }
      if (r.nextOffset >= r.highWatermark || r.records.length === 0) break;
      offset = r.nextOffset;
    }
    byPartition.set(p, seen);
  }
  let checked = 0;
  for (const a of acks) {
    const seen = byPartition.get(a.partition)!;
    for (let i = 0; i < a.values.length; i++) {
      const got = seen.get(a.baseOffset + i);
      if (got !== a.values[i]) {
        return {
          name: `${topic} records`,
          ok: false,
          detail: `${topic}-${a.partition}@${a.baseOffset + i}: expected ${a.values[i]}, read ${got ?? 'nothing'}`,
        };
      }
      checked++;
    }
  }
  return {
    name: `${topic} records`,
    ok: acks.length > 0,
    detail: `${checked} acknowledged records read back at their offsets`,
  };
}

// ---------------------------------------------------------------- the run

/** Ends the run early once a verdict has recorded why it cannot go on. */
class SoakStopped extends Error {}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const sampleMs = o.sampleMs ?? 1000;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tsbroker-soak-'));
  const verdicts: Verdict[] = [];
  const samples: Sample[] = [];
  const hostileRuns: Record<string, number> = {};
  const hostileErrors: Record<string, number> = {};
  log(`soak: ${o.seconds} s, seed ${o.seed}, data in ${dataDir}`);
  let broker = await spawnBroker(dataDir);
  const client = await BrokerClient.connect(broker.grpcAddress);
  const ctx: Ctx = { broker, kafkaPort: broker.kafkaPort!, held: new Set(), random: prng(o.seed) };
  const load = new ValidLoad();
  try {
    await client.createTopic('soak-grpc', { partitions: 3 });
    await client.createTopic('soak-kafka', { partitions: 1 });
    await client.createTopic('soak-hostile', { partitions: 1 });
    await client.createTopic('soak-gzip', { partitions: 1, configs: { 'compression.type': 'gzip' } });
    const started = Date.now();
    const at = () => (Date.now() - started) / 1000;
    const phaseAt = (s: number): Sample['phase'] =>
      s < o.seconds * 0.1 ? 'warm-up' : s < o.seconds * 0.9 ? 'hostile' : 'cool-down';
    load.start(broker, client);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = at();
        const health = await healthOk(broker.metricsUrl);
        samples.push({
          atS: Math.round(s * 10) / 10,
          ...procSample(broker.proc.pid!),
          healthOk: health,
          phase: phaseAt(s),
        });
        await sleep(sampleMs);
      }
    })();
    const names = Object.keys(hostiles);
    let round: string[] = [];
    while (at() < o.seconds) {
      if (phaseAt(at()) === 'hostile') {
        // A seeded shuffle of every class, over and over: each class runs once per round.
        if (round.length === 0) round = shuffle(names, ctx.random);
        const name = round.pop()!;
        hostileRuns[name] = (hostileRuns[name] ?? 0) + 1;
        try {
          await Promise.race([hostiles[name](ctx), sleep(20_000)]);
        } catch {
          // A hostile client is expected to be refused; count it, for the report.
          hostileErrors[name] = (hostileErrors[name] ?? 0) + 1;
        }
        if (phaseAt(at()) === 'cool-down' || at() >= o.seconds * 0.9 - 0.5) {
          for (const s of ctx.held) s.destroy();
        }
      }
      await sleep(250);
    }
    for (const s of ctx.held) s.destroy();
    sampling = false;
    await sampler;
    await load.stop();

    verdicts.push({
      name: 'alive',
      ok: broker.proc.exitCode === null && broker.proc.signalCode === null,
      detail: 'the broker process ran to the end',
    });
    const unhealthy = samples.filter((s) => !s.healthOk);
    verdicts.push({
      name: 'health',
      ok: unhealthy.length === 0,
      detail: `${samples.length - unhealthy.length} of ${samples.length} /health probes answered 200${unhealthy.length ? ` (failed at ${unhealthy.map((s) => s.atS).join(', ')} s)` : ''}`,
    });
    verdicts.push({
      name: 'valid load',
      ok: load.errors.length === 0,
      detail:
        load.errors.length === 0
          ? 'no valid request failed'
          : `${load.errors.length} failed: ${load.errors.slice(0, 3).join('; ')}`,
    });
    verdicts.push(await checkAcks(client, 'soak-grpc', load.grpcAcks));
    verdicts.push(await checkAcks(client, 'soak-kafka', load.kafkaAcks));
    const warm = samples.filter((s) => s.phase === 'warm-up');
    const cool = samples.filter((s) => s.phase === 'cool-down');
    const fdsBefore = warm.length ? Math.max(...warm.map((s) => s.fds)) : Number.NaN;
    const fdsAfter = cool.length ? cool[cool.length - 1].fds : Number.NaN;
    // 200 auto-created topics hold one descriptor or so each; everything else must be given back.
    verdicts.push({
      name: 'descriptors',
      ok: fdsAfter <= fdsBefore + 250 + 20,
      detail: `${fdsBefore} open during the warm-up, ${fdsAfter} at the end (200 auto-created partitions allowed for)`,
    });
    const rssWarm = warm.length ? warm[warm.length - 1].rssMiB : Number.NaN;
    const rssPeak = Math.max(...samples.map((s) => s.rssMiB));
    const rssEnd = samples[samples.length - 1]?.rssMiB ?? Number.NaN;
    verdicts.push({
      name: 'memory (reported)',
      ok: true,
      detail: `RSS ${rssWarm.toFixed(0)} MiB after the warm-up, peak ${rssPeak.toFixed(0)} MiB, ${rssEnd.toFixed(0)} MiB at the end`,
    });

    // Restart on the same data directory: clean shutdown, a start that succeeds, the data still there.
    client.close();
    const code = await broker.stop('SIGTERM');
    verdicts.push({ name: 'clean shutdown', ok: code === 0, detail: `SIGTERM exit code ${code}` });
    try {
      broker = await spawnBroker(dataDir);
    } catch (err) {
      verdicts.push({ name: 'restart', ok: false, detail: (err as Error).message.trim() });
      throw new SoakStopped();
    }
    const again = await BrokerClient.connect(broker.grpcAddress);
    try {
      verdicts.push({
        name: 'restart',
        ok: await healthOk(broker.metricsUrl),
        detail: 'restarted on the same data directory',
      });
      const after = await checkAcks(again, 'soak-grpc', load.grpcAcks);
      verdicts.push({ ...after, name: 'soak-grpc records after restart' });
    } finally {
      again.close();
    }
  } catch (err) {
    if (!(err instanceof SoakStopped)) throw err;
  } finally {
    for (const s of ctx.held) s.destroy();
    await load.stop().catch(() => {});
    await broker.stop('SIGKILL').catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  }
  const result: SoakResult = {
    samples,
    verdicts,
    hostileRuns,
    hostileErrors,
    produced: {
      grpc: load.grpcAcks.reduce((n, a) => n + a.values.length, 0),
      kafka: load.kafkaAcks.reduce((n, a) => n + a.values.length, 0),
    },
    ok: verdicts.every((v) => v.ok),
  };
  if (o.outDir) writeReport(o, result);
  return result;
}

function writeReport(o: SoakOptions, r: SoakResult): void {
  const dir = o.outDir!;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'samples.json'), `${JSON.stringify(r, null, 1)}\n`);
  const hostileFrom = r.samples.find((s) => s.phase === 'hostile')?.atS ?? 0;
  const hostileTo = r.samples.findLast((s) => s.phase === 'hostile')?.atS ?? 0;
  writeFileSync(
    path.join(dir, 'soak.svg'),
    lineChartSvg({
      title: `Soak: broker RSS and open descriptors (${Math.round(o.seconds / 60)} min, seed ${o.seed})`,
      xLabel: 'seconds (shaded: hostile clients running)',
      yLabel: 'RSS (MiB)',
      yRightLabel: 'open file descriptors',
      bands: [{ from: hostileFrom, to: hostileTo, label: 'hostile clients' }],
      series: [
        { name: 'RSS MiB', points: r.samples.map((s) => [s.atS, s.rssMiB]) },
        { name: 'open descriptors', points: r.samples.map((s) => [s.atS, s.fds]), axis: 'right' },
      ],
    }),
  );
  const lines = [
    `# Soak: ${o.seconds} s, seed ${o.seed}`,
    '',
    `Valid load acknowledged ${r.produced.grpc} records through gRPC and ${r.produced.kafka} through the Kafka door.`,
    '',
    '| verdict | ok | detail |',
    '|---|---|---|',
    ...r.verdicts.map((v) => `| ${v.name} | ${v.ok ? 'yes' : 'NO'} | ${v.detail} |`),
    '',
    '| hostile client | runs | refused or failed at the client |',
    '|---|---|---|',
    ...Object.keys(hostiles).map((n) => `| ${n} | ${r.hostileRuns[n] ?? 0} | ${r.hostileErrors[n] ?? 0} |`),
    '',
    '![RSS and descriptors](soak.svg)',
    '',
  ];
  writeFileSync(path.join(dir, 'report.md'), lines.join('\n'));
}

function parseArgs(argv: string[]): SoakOptions {
  const o: SoakOptions = { seconds: 30 * 60, seed: Date.now() % 100_000, outDir: 'soak-results' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--minutes') o.seconds = Number(value) * 60;
    else if (flag === '--seconds') o.seconds = Number(value);
    else if (flag === '--seed') o.seed = Number(value);
    else if (flag === '--out') o.outDir = value;
    else throw new Error(`unknown flag ${flag} (use --minutes N, --seconds N, --seed N, --out DIR)`);
    i++;
  }
  if (!(o.seconds >= 10)) throw new Error('the soak needs at least 10 seconds');
  return o;
}

if (import.meta.main) {
  const o = parseArgs(process.argv.slice(2));
  const r = await runSoak({ ...o, log: (l) => process.stdout.write(`${l}\n`) });
  for (const v of r.verdicts) process.stdout.write(`${v.ok ? 'ok  ' : 'FAIL'} ${v.name}: ${v.detail}\n`);
  process.stdout.write(
    `report in ${o.outDir}/report.md; replay with: npm run soak -- --seconds ${o.seconds} --seed ${o.seed}\n`,
  );
  process.exitCode = r.ok ? 0 : 1;
}
