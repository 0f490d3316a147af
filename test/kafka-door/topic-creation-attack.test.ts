/**
 * Topic creation attacked through both doors of the real broker process (issues 10 and 16):
 * - one Produce (and one Metadata) naming far more unknown topics than the node may hold creates
 *   topics up to `storage.max_partitions` exactly, refuses the rest with POLICY_VIOLATION, logs it, and
 *   leaves on disk exactly the registered topics' directories;
 * - generated rounds of simultaneous creations of the same and different names, through Kafka
 *   CreateTopics, Metadata and Produce auto-creation and gRPC CreateTopic, on separate connections,
 *   give one winner per name and topics whose every partition answers ListOffsets and takes records;
 * - the same under a low open files limit (`ulimit -n 600`), where the limit itself is lowered;
 * - a SIGKILL at generated points of a large creation leaves, after a restart, the topic whole or
 *   not at all, and one in the middle of a deletion leaves no directory of it.
 * Each ends with a restart that finds the same topics, directories and about as many descriptors.
 */
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { BrokerClient } from '../../src/client/index.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import {
  expectedDirs,
  fdCount,
  type KafkaCaller,
  kafkaCaller,
  partitionDirs,
  strayEntries,
} from '../helpers/node-state.ts';
import { tempDir } from '../helpers/tmp.ts';

const NONE = 0;
const TOPIC_ALREADY_EXISTS = 36;
const POLICY_VIOLATION = 44;
const INVALID_TOPIC_EXCEPTION = 17;

const records = (v: string) => encodeBatch({ records: [{ value: Buffer.from(v) }] });

async function allTopics(k: KafkaCaller): Promise<{ name: string; partitions: number }[]> {
  const md = await k.call('Metadata', 9, { topics: null, allowAutoTopicCreation: false });
  return md.topics
    .map((t: { name: string; partitions: unknown[] }) => ({ name: t.name, partitions: t.partitions.length }))
    .sort((a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1));
}

/** Every partition of every topic answers ListOffsets and takes a record. */
async function checkServing(k: KafkaCaller, topics: { name: string; partitions: number }[]) {
  const parts = (t: { partitions: number }) => Array.from({ length: t.partitions }, (_, i) => i);
  const lo = await k.call('ListOffsets', 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: topics.map((t) => ({
      name: t.name,
      partitions: parts(t).map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: -1 })),
    })),
  });
  for (const t of lo.topics)
    for (const p of t.partitions)
      assert.equal(p.errorCode, NONE, `ListOffsets ${t.name}-${p.partitionIndex}`);
  const pr = await k.call('Produce', 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 10_000,
    topicData: topics.map((t) => ({
      name: t.name,
      partitionData: parts(t).map((p) => ({ index: p, records: records('check') })),
    })),
  });
  for (const t of pr.responses)
    for (const p of t.partitionResponses) assert.equal(p.errorCode, NONE, `Produce ${t.name}-${p.index}`);
}

/** Stops the broker cleanly, starts it again on the same data, and checks it holds the same. */
async function restartAndCheck(
  broker: BrokerProcess,
  dataDir: string,
  env: Record<string, string>,
  fdsBefore: number,
): Promise<BrokerProcess> {
  const k = await kafkaCaller(broker.kafkaPort!);
  const topics = await allTopics(k);
  k.close();
  assert.equal(await broker.stop(), 0);
  const again = await spawnBroker(dataDir, [], env);
  const k2 = await kafkaCaller(again.kafkaPort!);
  try {
    assert.deepEqual(await allTopics(k2), topics, 'the restart finds the same topics');
    assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics));
    assert.deepEqual(strayEntries(dataDir), []);
    // Descriptors: the same partitions are open; a few sockets and timers more or less.
    const fds = fdCount(again.proc.pid!);
    assert.ok(Math.abs(fds - fdsBefore) <= 16, `${fds} descriptors after the restart, ${fdsBefore} before`);
    await checkServing(k2, topics);
  } finally {
    k2.close();
  }
  return again;
}

test('one Produce or Metadata naming thousands of unknown topics stops at the partition limit', async (t) => {
  const dataDir = await tempDir(t);
  const limit = 60;
  const env = { BROKER_STORAGE_MAX_PARTITIONS: String(limit) };
  let broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  const fdsEmpty = fdCount(broker.proc.pid!);
  const k = await kafkaCaller(broker.kafkaPort!);
  const names = fc
    .sample(
      fc.uniqueArray(fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/), { minLength: 3000, maxLength: 3000 }),
      { seed: 10_5, numRuns: 1 },
    )[0]
    .filter((n) => n !== '.' && n !== '..' && !n.startsWith('__'));
  const produceNames = names.slice(0, 2000);
  const pr = await k.call('Produce', 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: produceNames.map((name) => ({ name, partitionData: [{ index: 0, records: records(name) }] })),
  });
  const codes = pr.responses.map(
    (r: { partitionResponses: { errorCode: number }[] }) => r.partitionResponses[0].errorCode,
  );
  assert.equal(codes.filter((c: number) => c === NONE).length, limit, 'exactly the limit was created');
  assert.equal(codes.filter((c: number) => c === POLICY_VIOLATION).length, produceNames.length - limit);
  assert.ok(
    broker.logs.some(
      (l) => l.msg === 'topics a client named were not created' && l.refused === produceNames.length - limit,
    ),
    'the refusal is logged, once',
  );

  // Metadata with auto-creation: nothing more fits; bad names are told so.
  const md = await k.call('Metadata', 9, {
    topics: [...names.slice(2000), 'bad name', '__transaction_state'].map((name) => ({ name })),
    allowAutoTopicCreation: true,
  });
  const mdCodes = new Map<string, number>(
    md.topics.map((x: { name: string; errorCode: number }) => [x.name, x.errorCode]),
  );
  for (const name of names.slice(2000)) assert.equal(mdCodes.get(name), POLICY_VIOLATION, name);
  assert.equal(mdCodes.get('bad name'), INVALID_TOPIC_EXCEPTION);
  assert.equal(mdCodes.get('__transaction_state'), INVALID_TOPIC_EXCEPTION);

  const topics = await allTopics(k);
  assert.equal(topics.length, limit);
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics), 'no directory without a registered topic');
  assert.deepEqual(strayEntries(dataDir), []);
  const fds = fdCount(broker.proc.pid!);
  // Each open partition holds its active segment; the refused ones hold nothing.
  assert.ok(
    fds <= fdsEmpty + 2 * limit + 16,
    `${fds} descriptors for ${limit} partitions (${fdsEmpty} empty)`,
  );
  await checkServing(k, topics);
  k.close();
  broker = await restartAndCheck(broker, dataDir, env, fds);
});

test('under a low open files limit, a Produce naming many unknown topics fills the lowered limit and no more', async (t) => {
  const dataDir = await tempDir(t);
  const limits = { openFilesMax: 600 };
  let broker = await spawnBroker(dataDir, [], {}, limits);
  t.after(() => broker.stop('SIGKILL'));
  const lowered = broker.logs.find((l) => l.msg?.toString().startsWith('storage.max_partitions lowered'));
  assert.ok(lowered, 'the broker lowered its partition limit to fit the descriptors');
  const effective = lowered.effective as number;
  const k = await kafkaCaller(broker.kafkaPort!);
  const names = Array.from({ length: 3 * effective }, (_, i) => `fd-${i}`);
  const pr = await k.call('Produce', 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 60_000,
    topicData: names.map((name) => ({ name, partitionData: [{ index: 0, records: records(name) }] })),
  });
  const codes = pr.responses.map(
    (r: { partitionResponses: { errorCode: number }[] }) => r.partitionResponses[0].errorCode,
  );
  const counts = new Map<number, number>();
  for (const c of codes) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.deepEqual(
    [...counts].sort(),
    [
      [NONE, effective],
      [POLICY_VIOLATION, names.length - effective],
    ],
    'every creation up to the limit succeeded (no descriptor ran out); the rest were refused',
  );
  const topics = await allTopics(k);
  assert.equal(topics.length, effective);
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics));
  assert.deepEqual(strayEntries(dataDir), []);
  assert.ok(fdCount(broker.proc.pid!) < limits.openFilesMax);
  k.close();
  const fds = fdCount(broker.proc.pid!);
  const exit = await broker.stop();
  assert.equal(exit, 0, JSON.stringify(broker.logs.filter((l) => (l.level as number) >= 40).slice(-3)));
  broker = await spawnBroker(dataDir, [], {}, limits);
  const k2 = await kafkaCaller(broker.kafkaPort!);
  t.after(() => k2.close());
  assert.deepEqual(await allTopics(k2), topics, 'the restart under the same limit opens them all');
  assert.ok(Math.abs(fdCount(broker.proc.pid!) - fds) <= 16);
  // All at once: the first write to each log after a clean open drops its marker and syncs its
  // directory, and 450 of those together once ran the process out of descriptors.
  await checkServing(k2, topics);
});

test('simultaneous creations of the same and different names through both doors: one winner each', async (t) => {
  const dataDir = await tempDir(t);
  const env = { BROKER_STORAGE_MAX_PARTITIONS: '2000' };
  let broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  const grpc = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => grpc.close());
  const check = await kafkaCaller(broker.kafkaPort!);
  t.after(() => check.close());
  let round = 0;

  const door = fc.constantFrom('CreateTopics', 'gRPC', 'Metadata', 'Produce');
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          partitions: fc.integer({ min: 1, max: 6 }),
          doors: fc.array(door, { minLength: 2, maxLength: 6 }),
        }),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      async (spec) => {
        round++;
        const named = spec.map((s, i) => ({ ...s, name: `race-${round}-${i}` }));
        const conns = await Promise.all(
          named.flatMap((n) => n.doors.map(() => kafkaCaller(broker.kafkaPort!))),
        );
        let c = 0;
        const attempts = named.flatMap((n) =>
          n.doors.map(async (d) => {
            const k = conns[c++];
            if (d === 'gRPC') {
              try {
                await grpc.createTopic(n.name, { partitions: n.partitions });
                return { name: n.name, door: d, code: NONE };
              } catch (err) {
                return {
                  name: n.name,
                  door: d,
                  code: (err as { code: string }).code === 'TOPIC_ALREADY_EXISTS' ? TOPIC_ALREADY_EXISTS : -1,
                  err,
                };
              }
            }
            if (d === 'CreateTopics') {
              const r = await k.call('CreateTopics', 7, {
                topics: [
                  {
                    name: n.name,
                    numPartitions: n.partitions,
                    replicationFactor: -1,
                    assignments: [],
                    configs: [],
                  },
                ],
                timeoutMs: 30_000,
                validateOnly: false,
              });
              return { name: n.name, door: d, code: r.topics[0].errorCode as number };
            }
            if (d === 'Metadata') {
              const r = await k.call('Metadata', 9, {
                topics: [{ name: n.name }],
                allowAutoTopicCreation: true,
              });
              return { name: n.name, door: d, code: r.topics[0].errorCode as number };
            }
            const r = await k.call('Produce', 9, {
              transactionalId: null,
              acks: -1,
              timeoutMs: 30_000,
              topicData: [{ name: n.name, partitionData: [{ index: 0, records: records('race') }] }],
            });
            return { name: n.name, door: d, code: r.responses[0].partitionResponses[0].errorCode as number };
          }),
        );
        const results = await Promise.all(attempts);
        for (const k of conns) k.close();
        for (const n of named) {
          const mine = results.filter((r) => r.name === n.name);
          const explicit = mine.filter((r) => r.door === 'CreateTopics' || r.door === 'gRPC');
          assert.ok(
            explicit.filter((r) => r.code === NONE).length <= 1,
            `at most one creation of ${n.name} wins`,
          );
          for (const r of explicit)
            assert.ok(r.code === NONE || r.code === TOPIC_ALREADY_EXISTS, `${r.door} ${n.name}: ${r.code}`);
          for (const r of mine.filter((x) => x.door === 'Metadata' || x.door === 'Produce'))
            assert.equal(r.code, NONE, `${r.door} ${n.name} auto-creates or finds it`);
        }
        const topics = (await allTopics(check)).filter((x) => x.name.startsWith(`race-${round}-`));
        assert.deepEqual(topics.map((x) => x.name).sort(), named.map((n) => n.name).sort());
        for (const x of topics) {
          const n = named.find((m) => m.name === x.name)!;
          // An explicit creation that won sets the count; an auto-creation that won gives the default, 1.
          const won = results.some(
            (r) => r.name === x.name && r.code === NONE && (r.door === 'CreateTopics' || r.door === 'gRPC'),
          );
          assert.equal(x.partitions, won ? n.partitions : 1, x.name);
        }
        await checkServing(check, topics);
        const all = await allTopics(check);
        assert.deepEqual(partitionDirs(dataDir), expectedDirs(all));
        assert.deepEqual(strayEntries(dataDir), []);
      },
    ),
    { numRuns: 8, seed: 16 },
  );
  // A burst of different names at once through both doors: none fails on a shared temporary file.
  const burst = 60;
  const conns = await Promise.all(Array.from({ length: burst }, () => kafkaCaller(broker.kafkaPort!)));
  const codes = await Promise.all([
    ...conns.map(async (k, i) => {
      const r = await k.call('CreateTopics', 7, {
        topics: [
          { name: `burst-k${i}`, numPartitions: 2, replicationFactor: -1, assignments: [], configs: [] },
        ],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      return `${r.topics[0].errorCode}`;
    }),
    ...Array.from({ length: burst }, (_, i) =>
      grpc.createTopic(`burst-g${i}`, { partitions: 2 }).then(
        () => '0',
        (err: { code: string }) => err.code,
      ),
    ),
  ]);
  for (const k of conns) k.close();
  assert.deepEqual(codes, Array(2 * burst).fill('0'));
  const afterBurst = await allTopics(check);
  assert.equal(afterBurst.filter((x) => x.name.startsWith('burst-')).length, 2 * burst);
  await checkServing(check, afterBurst);
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(afterBurst));
  const fds = fdCount(broker.proc.pid!);
  grpc.close();
  check.close();
  broker = await restartAndCheck(broker, dataDir, env, fds);
});

test('a SIGKILL anywhere in a large creation leaves the topic whole or gone after a restart', async (t) => {
  const dataDir = await tempDir(t);
  const env = { BROKER_STORAGE_MAX_PARTITIONS: '3000' };
  let broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  const partitions = 600;
  // Kill points: after the first directory, in the middle, and after the last.
  const killAfter = [
    1,
    ...fc.sample(fc.integer({ min: 2, max: partitions - 1 }), { seed: 10_52, numRuns: 2 }),
    partitions,
  ];
  const outcomes = { whole: 0, gone: 0 };
  for (const [round, after] of killAfter.entries()) {
    const name = `big${round}`;
    const k = await kafkaCaller(broker.kafkaPort!);
    const seen = new Set<string>();
    const killed = new Promise<void>((resolve) => {
      const w = watch(dataDir, (_event, entry) => {
        if (entry?.startsWith(`${name}-`)) seen.add(entry);
        if (seen.size >= after) {
          w.close();
          broker.proc.kill('SIGKILL');
          resolve();
        }
      });
    });
    void k
      .call('CreateTopics', 7, {
        topics: [{ name, numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] }],
        timeoutMs: 60_000,
        validateOnly: false,
      })
      .catch(() => {});
    await killed;
    await broker.stop();
    k.close();
    broker = await spawnBroker(dataDir, [], env);
    const k2 = await kafkaCaller(broker.kafkaPort!);
    const topics = await allTopics(k2);
    const big = topics.find((x) => x.name === name);
    if (big) {
      assert.equal(big.partitions, partitions, 'registered whole');
      outcomes.whole++;
    } else {
      outcomes.gone++;
      // The name is usable again.
      const r = await k2.call('CreateTopics', 7, {
        topics: [{ name, numPartitions: 2, replicationFactor: -1, assignments: [], configs: [] }],
        timeoutMs: 30_000,
        validateOnly: false,
      });
      assert.equal(r.topics[0].errorCode, NONE);
    }
    const now = await allTopics(k2);
    assert.deepEqual(
      partitionDirs(dataDir),
      expectedDirs(now),
      `kill after ${after}: no unregistered directory`,
    );
    assert.deepEqual(strayEntries(dataDir), []);
    await checkServing(k2, now);
    k2.close();
  }
  // The metadata commits before any directory is made (the replica manager makes them after), so a
  // creation whose directories had begun is always registered whole.
  assert.deepEqual(outcomes, { whole: killAfter.length, gone: 0 });
  const k = await kafkaCaller(broker.kafkaPort!);
  await allTopics(k);
  k.close();
  broker = await restartAndCheck(broker, dataDir, env, fdCount(broker.proc.pid!));
});

test('a SIGKILL in the middle of a deletion leaves no directory of the deleted topic after a restart', async (t) => {
  const dataDir = await tempDir(t);
  const env = { BROKER_STORAGE_MAX_PARTITIONS: '3000' };
  let broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  const partitions = 600;
  const k = await kafkaCaller(broker.kafkaPort!);
  const created = await k.call('CreateTopics', 7, {
    topics: [
      { name: 'doomed', numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] },
      { name: 'kept', numPartitions: 3, replicationFactor: -1, assignments: [], configs: [] },
    ],
    timeoutMs: 60_000,
    validateOnly: false,
  });
  assert.deepEqual(
    created.topics.map((x: { errorCode: number }) => x.errorCode),
    [NONE, NONE],
  );
  // Kill once the first partition has been moved aside: unregistered, most directories still there.
  const killed = new Promise<void>((resolve) => {
    const w = watch(dataDir, (_event, entry) => {
      if (entry?.startsWith('doomed-') && entry.endsWith('-delete')) {
        w.close();
        broker.proc.kill('SIGKILL');
        resolve();
      }
    });
  });
  void k.call('DeleteTopics', 4, { topicNames: ['doomed'], timeoutMs: 60_000 }).catch(() => {});
  await killed;
  await broker.stop();
  k.close();
  broker = await spawnBroker(dataDir, [], env);
  const k2 = await kafkaCaller(broker.kafkaPort!);
  t.after(() => k2.close());
  const topics = await allTopics(k2);
  const doomed = topics.find((x) => x.name === 'doomed');
  if (doomed) assert.equal(doomed.partitions, partitions, 'still registered, whole');
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics), 'no directory of an unregistered topic');
  assert.deepEqual(strayEntries(dataDir), []);
  await checkServing(k2, topics);
});
