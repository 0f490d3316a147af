/**
 * kcat (Debian's, librdkafka 2.0.2) against the real broker process (issue 5): produce and consume with
 * every codec (none, gzip, snappy, lz4, zstd), idempotent produce (`-X enable.idempotence=true`), a
 * two-member balanced consumer group (`-G`) that rebalances and resumes from committed offsets after a
 * broker restart, and one core behind both doors: what kcat produces our gRPC client reads, what our
 * client produces kcat reads, and a topic made through either door is visible through the other.
 * kcat has no admin API; a topic it produces to is created by the broker's auto-create.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import { requireDebian } from '../helpers/debian.ts';
import {
  CODECS,
  CompatBroker,
  expectedValues,
  isSplit,
  JsonLinesChild,
  runJsonLines,
  waitFor,
} from './helpers.ts';

const kcat = '/usr/bin/kcat';
const haveKcat = existsSync(kcat);

let broker: CompatBroker;
let client: BrokerClient;

before(async () => {
  if (!haveKcat) return;
  broker = await CompatBroker.start();
  client = await BrokerClient.connect(broker.grpcAddress);
});

after(async () => {
  client?.close();
  await broker?.close();
});

/** Produces `key:value` lines with kcat into one partition; fails unless kcat exits 0. */
async function kcatProduce(topic: string, records: [string, string][], extra: string[] = []): Promise<void> {
  const proc = spawn(kcat, ['-b', broker.kafkaAddress, '-P', '-t', topic, '-K', '\t', ...extra], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  proc.stdin.end(records.map(([k, v]) => `${k}\t${v}\n`).join(''));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const [code] = await once(proc, 'exit');
  clearTimeout(timer);
  assert.equal(code, 0, `kcat -P failed: ${stderr}`);
}

interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
}

/** Reads a partition from the beginning to its end with kcat -C -e -J. */
async function kcatConsume(topic: string, partition = 0): Promise<KcatRecord[]> {
  const lines = await runJsonLines(kcat, [
    '-b',
    broker.kafkaAddress,
    '-C',
    '-t',
    topic,
    '-p',
    String(partition),
    '-o',
    'beginning',
    '-e',
    '-J',
  ]);
  return lines as unknown as KcatRecord[];
}

// librdkafka sends a batch uncompressed when compressing does not make it smaller, so the values
// are made compressible.
const padding = 'x'.repeat(200);
const records = (prefix: string, n: number): [string, string][] =>
  expectedValues(prefix, n).map((v, i) => [`k${i}`, `${v}-${padding}`]);

test('kcat: produce and consume with every codec (none, gzip, snappy, lz4, zstd)', async (t) => {
  if (!requireDebian(t, haveKcat, 'kcat')) return;
  for (const codec of CODECS) {
    const topic = `kcat-codec-${codec}`;
    await kcatProduce(topic, records(codec, 25), ['-p', '0', '-z', codec]);
    const batches = broker.storedBatches(topic, 0);
    assert.ok(batches.length > 0);
    assert.deepEqual(new Set(batches.map((b) => b.codec)), new Set([codec]), `stored codec for ${codec}`);
    const got = await kcatConsume(topic);
    assert.deepEqual(
      got.map((r) => [r.offset, r.key, r.payload]),
      records(codec, 25).map(([k, v], i) => [i, k, v]),
    );
  }
});

test('kcat: idempotent produce (enable.idempotence) stores a producer id and consecutive sequences', async (t) => {
  if (!requireDebian(t, haveKcat, 'kcat')) return;
  const topic = 'kcat-idempotent';
  await client.createTopic(topic, { partitions: 1 });
  await kcatProduce(topic, records('idem', 40), ['-p', '0', '-X', 'enable.idempotence=true']);
  const batches = broker.storedBatches(topic, 0);
  assert.ok(batches.length > 0);
  assert.ok(batches[0]!.producerId >= 0, 'librdkafka obtained a producer id through InitProducerId');
  for (const b of batches) {
    assert.equal(b.producerId, batches[0]!.producerId);
    assert.equal(b.baseSequence, b.baseOffset, 'sequences run on from batch to batch');
  }
  const got = await kcatConsume(topic);
  assert.deepEqual(
    got.map((r) => r.payload),
    records('idem', 40).map(([, v]) => v),
  );
});

test('one core, two doors: kcat and the gRPC client read each other’s records and topics', async (t) => {
  if (!requireDebian(t, haveKcat, 'kcat')) return;
  // kcat produces (auto-creating the topic through Kafka Metadata); gRPC sees the topic and reads it.
  await kcatProduce('doors-from-kafka', records('kafka', 10), ['-p', '0', '-z', 'lz4']);
  assert.ok((await client.listTopics()).some((x) => x.name === 'doors-from-kafka'));
  const viaGrpc = await client.consumeBatch('doors-from-kafka', 0, { partition: 0 });
  assert.deepEqual(
    viaGrpc.records.map((r) => [r.offset, r.key?.toString(), r.value?.toString()]),
    records('kafka', 10).map(([k, v], i) => [i, k, v]),
  );

  // A topic created over gRPC shows in kcat's Metadata with its partitions; what the gRPC client
  // produces (zstd-compressed) kcat reads, key and value.
  await client.createTopic('doors-from-grpc', { partitions: 3 });
  const [meta] = await runJsonLines(kcat, ['-b', broker.kafkaAddress, '-L', '-J', '-t', 'doors-from-grpc']);
  const topics = (meta as { topics: { topic: string; partitions: unknown[]; error?: string }[] }).topics;
  assert.equal(topics.length, 1);
  assert.equal(topics[0]!.topic, 'doors-from-grpc');
  assert.equal(topics[0]!.error, undefined);
  assert.equal(topics[0]!.partitions.length, 3);
  const grpcRecords = records('grpc', 10);
  await client.produceBatch(
    'doors-from-grpc',
    grpcRecords.map(([key, value]) => ({ key, value })),
    { partition: 1, compression: 'zstd' },
  );
  const viaKcat = await kcatConsume('doors-from-grpc', 1);
  assert.deepEqual(
    viaKcat.map((r) => [r.offset, r.key, r.payload]),
    grpcRecords.map(([k, v], i) => [i, k, v]),
  );
});

/** A kcat balanced-consumer (-G) member; its assignment is read from the rebalance lines on stderr. */
class KcatMember {
  readonly child: JsonLinesChild;
  constructor(group: string, topic: string) {
    this.child = new JsonLinesChild(kcat, [
      '-b',
      broker.kafkaAddress,
      '-G',
      group,
      '-J',
      '-u',
      '-X',
      'auto.offset.reset=earliest',
      '-X',
      'enable.auto.commit=true',
      '-X',
      'auto.commit.interval.ms=100',
      '-X',
      'heartbeat.interval.ms=300',
      '-X',
      'session.timeout.ms=10000',
      topic,
    ]);
  }

  /** Partitions owned after the last rebalance (eager protocol: each event replaces the set). */
  owned(): number[] {
    const events = this.child.stderr.split('% ').filter((e) => /rebalanced/.test(e));
    const last = events.at(-1);
    if (last === undefined || !/assigned:/.test(last)) return [];
    return [...last.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])).sort();
  }

  records(): KcatRecord[] {
    return this.child.lines.filter((l) => 'payload' in l) as unknown as KcatRecord[];
  }

  /** SIGTERM: kcat closes the consumer, which commits the offsets it stored, and exits 0. */
  async stop(): Promise<void> {
    this.child.proc.kill('SIGTERM');
    assert.equal(await this.child.done(30_000), 0, this.child.stderr);
  }
}

test('kcat: a two-member group (-G) splits partitions, commits, and resumes after a broker restart', async (t) => {
  if (!requireDebian(t, haveKcat, 'kcat')) return;
  const topic = 'kcat-group';
  const group = 'kcat-group';
  const partitions = 4;
  await client.createTopic(topic, { partitions });

  const a = new KcatMember(group, topic);
  t.after(() => a.child.kill());
  await waitFor('member a owns every partition', () => isSplit([a.owned()], partitions));
  const b = new KcatMember(group, topic);
  t.after(() => b.child.kill());
  await waitFor('the partitions split between a and b', () => isSplit([a.owned(), b.owned()], partitions));
  // The broker's own view of the group, through the other door: both kcat members in one generation.
  // (Their partitions are not compared: gRPC DescribeGroup leaves a Kafka group's assignments empty.)
  const described = await client.describeGroup(group);
  assert.equal(described.state, 'Stable');
  assert.equal(described.protocolType, 'consumer');
  assert.equal(described.members.length, 2);

  const first = records('first', 5);
  for (let p = 0; p < partitions; p++) await kcatProduce(topic, first, ['-p', String(p)]);
  await waitFor(
    'batch 1 consumed by the group',
    () => a.records().length + b.records().length >= 5 * partitions,
  );
  for (const m of [a, b]) {
    for (const r of m.records())
      assert.ok(m.owned().includes(r.partition), `partition ${r.partition} not owned`);
  }
  assert.equal(a.records().length + b.records().length, 5 * partitions, 'each record consumed once');
  await a.stop();
  await b.stop();
  // The commits kcat made, read through the other door.
  const committed = await client.fetchOffsets(group, [{ topic, partitions: [0, 1, 2, 3] }]);
  assert.deepEqual(
    committed.map((o) => [o.partition, o.offset]).sort((x, y) => x[0]! - y[0]!),
    [0, 1, 2, 3].map((p) => [p, 5]),
  );

  await broker.restart();
  client.close();
  client = await BrokerClient.connect(broker.grpcAddress);

  const second = records('second', 3);
  for (let p = 0; p < partitions; p++) await kcatProduce(topic, second, ['-p', String(p)]);
  // Records arrive in offset order per partition: had the member started before the committed offsets,
  // batch 1's records would come before batch 2 is complete.
  const c = new KcatMember(group, topic);
  t.after(() => c.child.kill());
  await waitFor('batch 2 consumed after the restart', () => c.records().length >= 3 * partitions);
  assert.deepEqual(
    c
      .records()
      .map((r) => r.payload)
      .sort(),
    Array.from({ length: partitions }, () => second.map(([, v]) => v))
      .flat()
      .sort(),
    'resumed at the committed offsets',
  );
  assert.ok(c.records().every((r) => r.offset >= 5));
  await c.stop();
});
