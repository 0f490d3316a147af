/**
 * The Node side of the Python clients' compatibility tests: one definition of the flows, run for
 * kafka-python and confluent-kafka-python through their scripts in this folder (each a child
 * process printing JSON lines), against one real broker process per test file.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import type { CompressionName } from '../../src/records/compression.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import {
  CompatBroker,
  compatDir,
  expectedValues,
  isSplit,
  JsonLinesChild,
  runJsonLines,
  waitFor,
} from './helpers.ts';

export interface PythonClient {
  /** The name in test titles, e.g. "kafka-python". */
  label: string;
  /** The flows script in test/compat/. */
  script: string;
  /** Python modules it needs, and the Debian package that provides them. */
  modules: string[];
  debianPackage: string;
  codecs: readonly CompressionName[];
  idempotent: boolean;
}

interface PyRecord {
  event: 'record';
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
}

// librdkafka sends a batch uncompressed when compressing does not make it smaller: compressible values.
const padding = 'x'.repeat(200);

export function definePythonTests(client: PythonClient): void {
  const available = pythonHas(...client.modules);
  const script = path.join(compatDir, client.script);
  const slug = client.label.replace(/[^a-z]/g, '');
  let broker: CompatBroker;
  let grpc: BrokerClient;

  const run = (t: TestContext, ...args: string[]) => runJsonLines(debianPython, [script, ...args], t);
  const records = (lines: Record<string, unknown>[]) =>
    lines.filter((l) => l.event === 'record') as unknown as PyRecord[];
  const gate = (t: TestContext) => requireDebian(t, available, client.debianPackage);

  before(async () => {
    if (!available) return;
    broker = await CompatBroker.start();
    grpc = await BrokerClient.connect(broker.grpcAddress);
  });

  after(async () => {
    grpc?.close();
    await broker?.close();
  });

  test(`${client.label}: produce and consume with each codec (${client.codecs.join(', ')})`, async (t) => {
    if (!gate(t)) return;
    for (const codec of client.codecs) {
      const topic = `${slug}-codec-${codec}`;
      const prefix = `${codec}-${padding}`;
      await run(t, 'produce', broker.kafkaAddress, topic, codec, prefix, '25', '0');
      const batches = broker.storedBatches(topic, 0);
      assert.ok(batches.length > 0);
      assert.deepEqual(new Set(batches.map((b) => b.codec)), new Set([codec]), `stored codec for ${codec}`);
      const got = records(await run(t, 'consume', broker.kafkaAddress, topic, '0', '25'));
      assert.deepEqual(
        got.map((r) => [r.offset, r.key, r.value]),
        expectedValues(prefix, 25).map((v, i) => [i, `k${i}`, v]),
        codec,
      );
    }
  });

  test(`${client.label}: admin creates and deletes topics`, async (t) => {
    if (!gate(t)) return;
    const topic = `${slug}-admin`;
    await run(t, 'create', broker.kafkaAddress, topic, '3');
    const [listed] = await run(t, 'topics', broker.kafkaAddress);
    assert.equal((listed!.topics as Record<string, number>)[topic], 3);
    assert.equal((await grpc.describeTopic(topic)).partitions, 3, 'the topic is there through gRPC too');
    await run(t, 'delete', broker.kafkaAddress, topic);
    const [after] = await run(t, 'topics', broker.kafkaAddress);
    assert.ok(!(topic in (after!.topics as Record<string, number>)));
    assert.ok(!(await grpc.listTopics()).some((x) => x.name === topic), 'and gone through gRPC');
  });

  if (client.idempotent) {
    test(`${client.label}: idempotent produce stores a producer id and consecutive sequences`, async (t) => {
      if (!gate(t)) return;
      const topic = `${slug}-idempotent`;
      await grpc.createTopic(topic, { partitions: 1 });
      await run(t, 'produce', broker.kafkaAddress, topic, 'none', 'idem', '40', '0', 'idempotent');
      const batches = broker.storedBatches(topic, 0);
      assert.ok(batches.length > 0);
      assert.ok(batches[0]!.producerId >= 0, 'the producer obtained a producer id through InitProducerId');
      for (const b of batches) {
        assert.equal(b.producerId, batches[0]!.producerId);
        assert.equal(b.baseSequence, b.baseOffset, 'sequences run on from batch to batch');
      }
      const got = records(await run(t, 'consume', broker.kafkaAddress, topic, '0', '40'));
      assert.deepEqual(
        got.map((r) => r.value),
        expectedValues('idem', 40),
      );
    });
  }

  test(`${client.label}: a two-member group splits partitions, commits, and resumes after a broker restart`, async (t) => {
    if (!gate(t)) return;
    const topic = `${slug}-group`;
    const group = `${slug}-group`;
    const partitions = 4;
    await grpc.createTopic(topic, { partitions });

    const member = () => {
      const child = new JsonLinesChild(
        debianPython,
        [script, 'member', broker.kafkaAddress, group, topic],
        t,
      );
      return {
        child,
        /** The partitions owned after the latest assignment event (eager: each replaces the set). */
        owned: () => {
          const last = child.lines.filter((l) => l.event === 'assigned' || l.event === 'revoked').at(-1);
          return last?.event === 'assigned' ? (last.partitions as number[]) : [];
        },
        records: () => records(child.lines),
        async command(cmd: 'commit' | 'close', reply: string) {
          const from = child.lines.length;
          child.send(cmd);
          const line = await child.waitLine(
            `${cmd} answered`,
            (l) => l.event === reply || l.event === 'commit-failed',
            from,
          );
          assert.equal(line.event, reply, JSON.stringify(line));
        },
      };
    };

    const a = member();
    await waitFor('member a owns every partition', () => isSplit([a.owned()], partitions));
    const b = member();
    await waitFor('the partitions split between a and b', () => isSplit([a.owned(), b.owned()], partitions));

    const first = `first-${padding}`;
    for (let p = 0; p < partitions; p++)
      await run(t, 'produce', broker.kafkaAddress, topic, 'none', first, '5', String(p));
    await waitFor(
      'batch 1 consumed by the group',
      () => a.records().length + b.records().length >= 5 * partitions,
    );
    for (const m of [a, b]) {
      for (const r of m.records())
        assert.ok(m.owned().includes(r.partition), `partition ${r.partition} not owned`);
    }
    assert.equal(a.records().length + b.records().length, 5 * partitions, 'each record consumed once');
    for (const m of [a, b]) await m.command('commit', 'committed');
    // The commits, read through the other door.
    const committed = await grpc.fetchOffsets(group, [{ topic, partitions: [0, 1, 2, 3] }]);
    assert.deepEqual(
      committed.map((o) => [o.partition, o.offset]).sort((x, y) => x[0]! - y[0]!),
      [0, 1, 2, 3].map((p) => [p, 5]),
    );
    for (const m of [a, b]) {
      await m.command('close', 'closed');
      assert.equal(await m.child.done(), 0);
    }

    await broker.restart();
    grpc.close();
    grpc = await BrokerClient.connect(broker.grpcAddress);

    const second = `second-${padding}`;
    for (let p = 0; p < partitions; p++)
      await run(t, 'produce', broker.kafkaAddress, topic, 'none', second, '3', String(p));
    // Records arrive in offset order per partition: had the member started before the committed
    // offsets, batch 1's records would come before batch 2 is complete.
    const c = member();
    await waitFor('batch 2 consumed after the restart', () => c.records().length >= 3 * partitions);
    assert.deepEqual(
      c
        .records()
        .map((r) => r.value)
        .sort(),
      Array.from({ length: partitions }, () => expectedValues(second, 3))
        .flat()
        .sort(),
      'resumed at the committed offsets',
    );
    assert.ok(c.records().every((r) => r.offset >= 5));
    await c.command('close', 'closed');
  });
}
