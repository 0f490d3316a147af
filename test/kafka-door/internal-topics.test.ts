/**
 * Writes to internal topics through both doors of the real broker process (issue 10): kcat producing
 * to `__consumer_offsets` was accepted and the next start failed parsing it. Now kcat, generated raw
 * Produce frames (any records, any partition, before and after the topic exists) and gRPC produce are
 * refused with INVALID_TOPIC_EXCEPTION and write nothing; clients cannot create the topic either,
 * though a Metadata auto-creation of it makes the group service create it with its own settings. The
 * group service's own commits still go through, and the broker restarts with them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { BrokerClient } from '../../src/client/index.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { requireDebian } from '../helpers/debian.ts';
import { expectedDirs, fdCount, kafkaCaller, partitionDirs, strayEntries } from '../helpers/node-state.ts';
import { tempDir } from '../helpers/tmp.ts';

const NONE = 0;
const INVALID_TOPIC_EXCEPTION = 17;
const OFFSETS = '__consumer_offsets';
const offsetsPartitions = 3;

test('clients cannot write or create internal topics through either door; the group service can', async (t) => {
  requireDebian(t, existsSync('/usr/bin/kcat'), 'kcat');
  const dataDir = await tempDir(t);
  const env = { BROKER_CONSUMER_GROUPS_OFFSETS_PARTITIONS: String(offsetsPartitions) };
  let broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  let k = await kafkaCaller(broker.kafkaPort!);
  const grpc = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => grpc.close());
  await k.call('CreateTopics', 7, {
    topics: [{ name: 'orders', numPartitions: 2, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 10_000,
    validateOnly: false,
  });

  const rawProduce = fc.record({
    topic: fc.constantFrom(OFFSETS, '__transaction_state'),
    partition: fc.integer({ min: -1, max: offsetsPartitions + 1 }),
    acks: fc.constantFrom(1, -1),
    records: fc.array(
      fc.record({
        key: fc.option(fc.uint8Array({ maxLength: 64 })),
        value: fc.option(fc.uint8Array({ maxLength: 64 })),
      }),
      { minLength: 1, maxLength: 5 },
    ),
  });
  const refuseAll = async (withKcat: boolean) => {
    await fc.assert(
      fc.asyncProperty(rawProduce, async (p) => {
        const batch = encodeBatch({
          records: p.records.map((r) => ({
            key: r.key === null ? null : Buffer.from(r.key),
            value: r.value === null ? null : Buffer.from(r.value),
          })),
        });
        const r = await k.call('Produce', 9, {
          transactionalId: null,
          acks: p.acks,
          timeoutMs: 10_000,
          topicData: [{ name: p.topic, partitionData: [{ index: p.partition, records: batch }] }],
        });
        assert.equal(r.responses[0].partitionResponses[0].errorCode, INVALID_TOPIC_EXCEPTION);
      }),
      { numRuns: 60, seed: 10_2 },
    );
    for (const call of [
      () => grpc.produce(OFFSETS, 'x', { partition: 0 }),
      () =>
        grpc.produceRecordBatch(
          OFFSETS,
          1,
          encodeBatch({ records: [{ key: Buffer.from('k'), value: null }] }),
          {
            retry: false,
          },
        ),
      () => grpc.createTopic(OFFSETS, { partitions: 1 }),
      () => grpc.createTopic('__transaction_state', { partitions: 1 }),
    ]) {
      await assert.rejects(call(), { code: 'INVALID_TOPIC_EXCEPTION' });
    }
    // librdkafka's producer asks Metadata to auto-create the topic: only once it exists.
    if (!withKcat) return;
    // kcat as issue 10 used it: a record that is not the broker's format, to partition 0.
    const kcat = spawn('/usr/bin/kcat', ['-P', '-b', broker.kafkaAddress!, '-t', OFFSETS, '-p', '0'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    kcat.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    kcat.stdin.end('not a group record\n');
    const timer = setTimeout(() => kcat.kill('SIGKILL'), 30_000);
    const [exitCode] = await once(kcat, 'exit');
    clearTimeout(timer);
    assert.notEqual(exitCode, null, 'kcat finished by itself');
    assert.match(stderr, /Invalid topic|INVALID_TOPIC/i, 'kcat is told why');
  };

  // Before the topic exists: nothing creates it from a client's produce or CreateTopics.
  await refuseAll(false);
  const ct = await k.call('CreateTopics', 7, {
    topics: [{ name: OFFSETS, numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 10_000,
    validateOnly: false,
  });
  assert.equal(ct.topics[0].errorCode, INVALID_TOPIC_EXCEPTION);
  let md = await k.call('Metadata', 9, { topics: null, allowAutoTopicCreation: false });
  assert.deepEqual(
    md.topics.map((x: { name: string }) => x.name),
    ['orders'],
  );

  // A Metadata auto-creation of it is the group service's creation, with its settings.
  md = await k.call('Metadata', 9, { topics: [{ name: OFFSETS }], allowAutoTopicCreation: true });
  assert.equal(md.topics[0].errorCode, NONE);
  assert.equal(md.topics[0].isInternal, true);
  assert.equal(md.topics[0].partitions.length, offsetsPartitions);
  const dc = await k.call('DescribeConfigs', 4, {
    resources: [{ resourceType: 2, resourceName: OFFSETS, configurationKeys: ['cleanup.policy'] }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  assert.equal(dc.results[0].configs[0].value, 'compact');

  // After: still refused, and nothing reached the log.
  await refuseAll(true);
  const lo = await k.call('ListOffsets', 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [
      {
        name: OFFSETS,
        partitions: Array.from({ length: offsetsPartitions }, (_, p) => ({
          partitionIndex: p,
          currentLeaderEpoch: -1,
          timestamp: -1,
        })),
      },
    ],
  });
  for (const p of lo.topics[0].partitions)
    assert.deepEqual([p.errorCode, Number(p.offset)], [NONE, 0], 'nothing was written');

  // The group service's own writes go through.
  const commit = await k.call('OffsetCommit', 8, {
    groupId: 'g1',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 1, committedOffset: 7, committedLeaderEpoch: -1, committedMetadata: 'm' },
        ],
      },
    ],
  });
  assert.equal(commit.topics[0].partitions[0].errorCode, NONE);

  // Restart: the broker starts, holds the same topics and the commit.
  k.close();
  grpc.close();
  const fdsBefore = fdCount(broker.proc.pid!);
  assert.equal(await broker.stop(), 0);
  broker = await spawnBroker(dataDir, [], env);
  k = await kafkaCaller(broker.kafkaPort!);
  t.after(() => k.close());
  md = await k.call('Metadata', 9, { topics: null, allowAutoTopicCreation: false });
  const topics = md.topics
    .map((x: { name: string; partitions: unknown[] }) => ({ name: x.name, partitions: x.partitions.length }))
    .sort((a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1));
  assert.deepEqual(topics, [
    { name: OFFSETS, partitions: offsetsPartitions },
    { name: 'orders', partitions: 2 },
  ]);
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics));
  assert.deepEqual(strayEntries(dataDir), []);
  const fds = fdCount(broker.proc.pid!);
  assert.ok(Math.abs(fds - fdsBefore) <= 16, `${fds} descriptors after the restart, ${fdsBefore} before`);
  const of = await k.call('OffsetFetch', 7, {
    groupId: 'g1',
    topics: [{ name: 'orders', partitionIndexes: [1] }],
    requireStable: false,
  });
  assert.equal(Number(of.topics[0].partitions[0].committedOffset), 7);
});
