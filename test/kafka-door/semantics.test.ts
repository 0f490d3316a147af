/**
 * Kafka semantics that the clients' own test suites found missing (issue 16 section 2), each tested
 * as a class against the real broker process over raw frames: Fetch's two byte limits, OffsetCommit
 * of any int64, fresh producer ids without a transactional id, and transactional ids refused with an
 * error every client treats as fatal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fetchResponseBytesMax } from '../../src/api/kafka/limits.ts';
import { encodeBatch, forEachBatch } from '../../src/records/batch.ts';
import { brokerProcess, kafka } from './raw.ts';

/** Sizes of the whole batches in a partition's records, in order. */
function batchSizes(records: Buffer | null): number[] {
  const sizes: number[] = [];
  if (records) forEachBatch(records, (_pos, size) => sizes.push(size));
  return sizes;
}

test('Fetch honours max_bytes and partition_max_bytes: one first batch may exceed them, nothing else', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const partitions = 4;
  await k.call('CreateTopics', 7, {
    topics: [
      { name: 'limits', numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  // Batches of varied sizes on every partition (some partitions large, some with a single batch).
  const sizes: number[][] = [];
  for (let p = 0; p < partitions; p++) {
    sizes.push([]);
    const batches = 1 + ((p * 3) % 5);
    for (let b = 0; b < batches; b++) {
      const value = Buffer.alloc(200 + ((p * 7919 + b * 104729) % 3000), p + 1);
      const records = encodeBatch({ records: [{ value }, { value: Buffer.from(`p${p}b${b}`) }] });
      sizes[p].push(records.length);
      const r = await k.call('Produce', 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: [{ name: 'limits', partitionData: [{ index: p, records }] }],
      });
      assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
    }
  }
  const offsetsAt = (p: number) => {
    // Offsets are 2 per batch; a fetch from batch i starts at offset 2i.
    return sizes[p].map((_, i) => i * 2);
  };

  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 20_000 }),
      fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: partitions, maxLength: partitions }),
      fc.array(fc.nat(), { minLength: partitions, maxLength: partitions }),
      fc.array(fc.boolean(), { minLength: partitions, maxLength: partitions }),
      async (maxBytes, partitionMax, startPick, atEnd) => {
        const start = startPick.map((s, p) =>
          atEnd[p] ? sizes[p].length * 2 : offsetsAt(p)[s % sizes[p].length],
        );
        const r = await k.call('Fetch', 12, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [
            {
              topic: 'limits',
              partitions: Array.from({ length: partitions }, (_, p) => ({
                partition: p,
                currentLeaderEpoch: -1,
                fetchOffset: start[p],
                lastFetchedEpoch: -1,
                logStartOffset: -1,
                partitionMaxBytes: partitionMax[p],
              })),
            },
          ],
          forgottenTopicsData: [],
          rackId: '',
        });
        assert.equal(r.errorCode, 0);
        const got = r.responses[0].partitions as {
          partitionIndex: number;
          errorCode: number;
          records: Buffer;
        }[];
        let total = 0;
        let first: number | null = null;
        for (const part of got) {
          assert.equal(part.errorCode, 0);
          const p = part.partitionIndex;
          const returned = batchSizes(part.records);
          const expected = sizes[p].slice(start[p] / 2, start[p] / 2 + returned.length);
          assert.deepEqual(returned, expected, `partition ${p} returns whole batches from its offset`);
          const bytes = returned.reduce((a, b) => a + b, 0);
          if (bytes === 0) continue;
          if (first === null) {
            first = p;
            // The first partition with data: within both limits, or exactly one first batch.
            assert.ok(
              returned.length === 1 || bytes <= Math.min(maxBytes, partitionMax[p]),
              `partition ${p}: ${returned.length} batches, ${bytes} bytes`,
            );
          } else {
            assert.ok(bytes <= partitionMax[p], `partition ${p}: ${bytes} > its limit ${partitionMax[p]}`);
          }
          total += bytes;
        }
        const firstBatch = first === null ? 0 : sizes[first][start[first] / 2];
        assert.ok(
          total <= Math.max(maxBytes, firstBatch),
          `total ${total} exceeds max_bytes ${maxBytes} beyond one first batch of ${firstBatch}`,
        );
        // When any partition has data at its offset, at least one batch comes back.
        const hasData = start.some((s, p) => s < sizes[p].length * 2);
        assert.equal(first !== null, hasData, 'at least one batch whenever data exists');
      },
    ),
    { numRuns: 150 },
  );
});

test('OffsetCommit stores any int64 the client commits, negative ones too, and OffsetFetch returns it', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await k.call('CreateTopics', 7, {
    topics: [{ name: 'commits', numPartitions: 3, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.constantFrom(-2, -1, 0, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
          fc.integer({ min: -1000, max: 1000 }),
          fc.maxSafeInteger(),
          fc.maxSafeNat().map((n) => (n === 0 ? 0 : -n)), // never -0, which int64 cannot carry
        ),
        { minLength: 3, maxLength: 3 },
      ),
      fc.constantFrom(2, 8),
      async (offsets, version) => {
        const c = await k.call('OffsetCommit', version, {
          groupId: 'tool',
          generationId: -1,
          memberId: '',
          groupInstanceId: null,
          retentionTimeMs: -1,
          topics: [
            {
              name: 'commits',
              partitions: offsets.map((o, p) => ({
                partitionIndex: p,
                committedOffset: o,
                committedLeaderEpoch: -1,
                committedMetadata: `m${o}`,
              })),
            },
          ],
        });
        assert.deepEqual(
          c.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode),
          [0, 0, 0],
        );
        const f = await k.call('OffsetFetch', 7, {
          groupId: 'tool',
          topics: [{ name: 'commits', partitionIndexes: [0, 1, 2] }],
          requireStable: false,
        });
        assert.equal(f.errorCode, 0);
        assert.deepEqual(
          f.topics[0].partitions.map((p: { committedOffset: number; metadata: string }) => [
            p.committedOffset,
            p.metadata,
          ]),
          offsets.map((o) => [o, `m${o}`]),
        );
      },
    ),
    { numRuns: 60 },
  );
});

test('InitProducerId without a transactional id always allocates a fresh producer id', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const seen = new Set<number>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(0, 1, 2, 3, 4, 5),
      // The client sends no id, an id the broker handed out before (as @platformatic/kafka does), or
      // one the broker never handed out.
      fc.oneof(fc.constant(-1), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
      fc.integer({ min: -1, max: 32767 }),
      async (version, pick, producerEpoch) => {
        const issued = [...seen];
        const producerId =
          pick === -1 || pick === Number.MAX_SAFE_INTEGER || issued.length === 0
            ? pick
            : issued[pick % issued.length];
        const r = await k.call('InitProducerId', version, {
          transactionalId: null,
          transactionTimeoutMs: 60000,
          producerId,
          producerEpoch,
        });
        assert.equal(r.errorCode, 0);
        assert.ok(r.producerId >= 0);
        assert.equal(r.producerEpoch, 0, 'a fresh id starts at epoch 0');
        assert.ok(!seen.has(r.producerId), `producer id ${r.producerId} handed out twice`);
        assert.notEqual(r.producerId, producerId, 'the id the client sent is never echoed');
        seen.add(r.producerId);
      },
    ),
    { numRuns: 40 },
  );
});

test('a transactional id is refused with a fatal error by FindCoordinator (all versions) and InitProducerId', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const FATAL = 53; // TRANSACTIONAL_ID_AUTHORIZATION_FAILED
  for (const version of [1, 2, 3]) {
    const r = await k.call('FindCoordinator', version, { key: 'tx-1', keyType: 1, coordinatorKeys: [] });
    assert.equal(r.errorCode, FATAL, `FindCoordinator v${version}`);
    assert.match(r.errorMessage, /transactions are not supported/);
    assert.equal(r.nodeId, -1);
  }
  const v4 = await k.call('FindCoordinator', 4, { key: '', keyType: 1, coordinatorKeys: ['tx-1', 'tx-2'] });
  assert.deepEqual(
    v4.coordinators.map((c: { key: string; errorCode: number }) => [c.key, c.errorCode]),
    [
      ['tx-1', FATAL],
      ['tx-2', FATAL],
    ],
  );
  // Group coordinators are still found.
  const g = await k.call('FindCoordinator', 4, { key: '', keyType: 0, coordinatorKeys: ['group'] });
  assert.equal(g.coordinators[0].errorCode, 0);
  assert.equal(g.coordinators[0].port, broker.kafkaPort);
  for (const version of [0, 3, 5]) {
    const r = await k.call('InitProducerId', version, {
      transactionalId: 'tx-1',
      transactionTimeoutMs: 60000,
      producerId: -1,
      producerEpoch: -1,
    });
    assert.deepEqual([r.errorCode, r.producerId], [FATAL, -1], `InitProducerId v${version}`);
  }
  // A transactional Produce (a client that skipped the steps above) gets the same answer, stores nothing.
  await k.call('CreateTopics', 7, {
    topics: [{ name: 'tx', numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  const p = await k.call('Produce', 9, {
    transactionalId: 'tx-1',
    acks: -1,
    timeoutMs: 5000,
    topicData: [
      {
        name: 'tx',
        partitionData: [{ index: 0, records: encodeBatch({ records: [{ value: Buffer.from('x') }] }) }],
      },
    ],
  });
  assert.equal(p.responses[0].partitionResponses[0].errorCode, FATAL);
  assert.match(p.responses[0].partitionResponses[0].errorMessage, /transactions are not supported/);
  const offsets = await k.call('ListOffsets', 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: 'tx', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1 }] }],
  });
  assert.equal(offsets.topics[0].partitions[0].offset, 0, 'nothing was stored');
});

test('a kafkajs transactional producer fails at once with a non-retriable error', async (t) => {
  const broker = await brokerProcess(t);
  const { Kafka, logLevel } = await import('kafkajs');
  const client = new Kafka({
    clientId: 'tx',
    brokers: [broker.kafkaAddress!],
    logLevel: logLevel.NOTHING,
    retry: { retries: 50, initialRetryTime: 100 },
  });
  const producer = client.producer({ transactionalId: 'tx-1', idempotent: true, maxInFlightRequests: 1 });
  t.after(() => producer.disconnect());
  await producer.connect();
  // kafkajs reports the non-retriable FindCoordinator error as a coordinator not found, without retries.
  await assert.rejects(producer.transaction(), (err: Error & { retriable?: boolean }) => {
    assert.equal(err.name, 'KafkaJSGroupCoordinatorNotFound');
    assert.equal(err.retriable, false);
    return true;
  });
});

test('CreateTopics with a manual replica assignment: valid ones create the partitions, the rest are refused with a message', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const NODE = 1; // node-1
  let n = 0;
  let created = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          partitionIndex: fc.integer({ min: -1, max: 4 }),
          brokerIds: fc.oneof(
            { arbitrary: fc.constant([NODE]), weight: 4 },
            { arbitrary: fc.array(fc.constantFrom(0, NODE, 2), { maxLength: 3 }), weight: 1 },
          ),
        }),
        { minLength: 1, maxLength: 5 },
      ),
      fc.constantFrom(-1, -1, -1, 1, 3),
      fc.constantFrom(-1, -1, -1, 1),
      fc.boolean(),
      async (assignments, numPartitions, replicationFactor, consecutive) => {
        // Half the cases get the indexes 0..n-1 (in a shuffled order) so that valid ones are common.
        if (consecutive) {
          for (const [i, a] of assignments.entries()) a.partitionIndex = assignments.length - 1 - i;
        }
        const name = `manual-${n++}`;
        const r = await k.call('CreateTopics', 7, {
          topics: [{ name, numPartitions, replicationFactor, assignments, configs: [] }],
          timeoutMs: 5000,
          validateOnly: false,
        });
        const indexes = assignments.map((a) => a.partitionIndex).sort((a, b) => a - b);
        const valid =
          numPartitions === -1 &&
          replicationFactor === -1 &&
          indexes.every((p, i) => p === i) &&
          assignments.every((a) => a.brokerIds.length === 1 && a.brokerIds[0] === NODE);
        const got = r.topics[0];
        const md = await k.call('Metadata', 12, {
          topics: [{ name, topicId: '00000000-0000-0000-0000-000000000000' }],
          allowAutoTopicCreation: false,
          includeTopicAuthorizedOperations: false,
        });
        if (valid) {
          assert.equal(got.errorCode, 0, got.errorMessage);
          created++;
          assert.deepEqual([got.numPartitions, got.replicationFactor], [assignments.length, 1]);
          assert.equal(md.topics[0].errorCode, 0);
          assert.deepEqual(
            md.topics[0].partitions.map((p: { partitionIndex: number; replicaNodes: number[] }) => [
              p.partitionIndex,
              p.replicaNodes,
            ]),
            assignments.map((_, i) => [i, [NODE]]),
          );
        } else {
          const expected = numPartitions !== -1 || replicationFactor !== -1 ? 42 : 39;
          assert.equal(got.errorCode, expected, JSON.stringify({ assignments, got }));
          assert.ok(got.errorMessage && got.errorMessage.length > 10, 'the refusal says why');
          assert.equal(md.topics[0].errorCode, 3, 'nothing was created');
        }
      },
    ),
    { numRuns: 80 },
  );
  assert.ok(created > 0, 'some generated assignments were valid');
});

/** Kafka's topic configs (apache/kafka TopicConfig.java and LogConfig) with their defaults. */
const KAFKA_TOPIC_DEFAULTS: Record<string, string> = {
  'cleanup.policy': 'delete',
  'compression.gzip.level': '-1',
  'compression.lz4.level': '9',
  'compression.type': 'producer',
  'compression.zstd.level': '3',
  'delete.retention.ms': '86400000',
  'file.delete.delay.ms': '60000',
  'flush.messages': '9223372036854775807',
  'flush.ms': '9223372036854775807',
  'follower.replication.throttled.replicas': '',
  'index.interval.bytes': '4096',
  'leader.replication.throttled.replicas': '',
  'local.retention.bytes': '-2',
  'local.retention.ms': '-2',
  'max.compaction.lag.ms': '9223372036854775807',
  'max.message.bytes': '1048588',
  'message.downconversion.enable': 'true',
  'message.format.version': '3.0-IV1',
  'message.timestamp.after.max.ms': '9223372036854775807',
  'message.timestamp.before.max.ms': '9223372036854775807',
  'message.timestamp.difference.max.ms': '9223372036854775807',
  'message.timestamp.type': 'CreateTime',
  'min.cleanable.dirty.ratio': '0.5',
  'min.compaction.lag.ms': '0',
  'min.insync.replicas': '1',
  preallocate: 'false',
  'remote.log.copy.disable': 'false',
  'remote.log.delete.on.disable': 'false',
  'remote.storage.enable': 'false',
  'retention.bytes': '-1',
  'retention.ms': '604800000',
  'segment.bytes': '1073741824',
  'segment.index.bytes': '10485760',
  'segment.jitter.ms': '0',
  'segment.ms': '604800000',
  'unclean.leader.election.enable': 'false',
};

/**
 * Where the broker process's own settings (its seed config: storage.max_segment_bytes,
 * retention.default_max_bytes) differ from Kafka's defaults, with the broker synonym they are under.
 */
const BROKER_SETTINGS: Record<string, [string, string]> = {
  'segment.bytes': ['16777216', 'log.segment.bytes'],
  'retention.bytes': ['1073741824', 'log.retention.bytes'],
};

type Config = {
  name: string;
  value: string | null;
  configSource: number;
  isDefault: boolean;
  readOnly: boolean;
  synonyms: { name: string; value: string; source: number }[];
};

test('DescribeConfigs: every Kafka topic config with its default, source and synonyms, for any key list and version', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const set = {
    'retention.ms': '-1',
    'segment.jitter.ms': '1000',
    'message.timestamp.difference.max.ms': '3600000',
  };
  const created = await k.call('CreateTopics', 7, {
    topics: [
      {
        name: 'described',
        numPartitions: 1,
        replicationFactor: -1,
        assignments: [],
        configs: Object.entries(set).map(([name, value]) => ({ name, value })),
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(created.topics[0].errorCode, 0, created.topics[0].errorMessage);
  // CreateTopics v5+ returns the new topic's configs, as DescribeConfigs shows them.
  const fromCreate = Object.fromEntries(
    created.topics[0].configs.map((c: Config) => [c.name, [c.value, c.configSource]]),
  );
  assert.deepEqual(Object.keys(fromCreate).sort(), Object.keys(KAFKA_TOPIC_DEFAULTS).sort());
  assert.deepEqual(fromCreate['retention.ms'], ['-1', 1]);
  assert.deepEqual(fromCreate['segment.ms'], ['604800000', 5]);

  const describe = async (version: number, keys: string[] | null, includeSynonyms: boolean) => {
    const r = await k.call('DescribeConfigs', version, {
      resources: [{ resourceType: 2, resourceName: 'described', configurationKeys: keys }],
      includeSynonyms,
      includeDocumentation: false,
    });
    assert.equal(r.results[0].errorCode, 0);
    return r.results[0].configs as Config[];
  };
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 4 }),
      fc.oneof(
        fc.constant(null),
        fc.constant([] as string[]),
        fc.subarray([...Object.keys(KAFKA_TOPIC_DEFAULTS), 'no.such.config', 'log.retention.hours']),
      ),
      fc.boolean(),
      async (version, keys, includeSynonyms) => {
        const configs = await describe(version, keys, includeSynonyms);
        const expectedNames =
          keys === null || keys.length === 0
            ? Object.keys(KAFKA_TOPIC_DEFAULTS)
            : keys.filter((key) => key in KAFKA_TOPIC_DEFAULTS);
        assert.deepEqual(
          configs.map((c) => c.name).sort(),
          [...expectedNames].sort(),
          'exactly the known names asked for',
        );
        for (const c of configs) {
          const own = set[c.name as keyof typeof set];
          const brokers = BROKER_SETTINGS[c.name];
          assert.equal(
            c.value,
            own ?? brokers?.[0] ?? KAFKA_TOPIC_DEFAULTS[c.name],
            `${c.name} has the topic's value, else the broker's setting, else Kafka's default`,
          );
          assert.equal(c.readOnly, false);
          const source = own !== undefined ? 1 : brokers ? 4 : 5;
          if (version === 0) {
            assert.equal(c.isDefault, source === 5, `${c.name}: v0 IsDefault`);
            continue;
          }
          assert.equal(c.configSource, source, `${c.name}: source`);
          if (!includeSynonyms) {
            assert.deepEqual(c.synonyms, []);
            continue;
          }
          // The topic's own value, the broker's setting (STATIC_BROKER_CONFIG), then the broker
          // configs' defaults (DEFAULT_CONFIG).
          const expected = [
            ...(own !== undefined ? [{ name: c.name, value: own, source: 1 }] : []),
            ...(brokers ? [{ name: brokers[1], value: brokers[0], source: 4 }] : []),
          ];
          assert.deepEqual(c.synonyms.slice(0, expected.length), expected, `${c.name}: synonyms`);
          for (const s of c.synonyms.slice(expected.length)) assert.equal(s.source, 5);
        }
      },
    ),
    { numRuns: 60 },
  );
  const documented = await k.call('DescribeConfigs', 4, {
    resources: [
      {
        resourceType: 2,
        resourceName: 'described',
        configurationKeys: ['retention.ms', 'preallocate', 'remote.storage.enable'],
      },
    ],
    includeSynonyms: false,
    includeDocumentation: true,
  });
  assert.deepEqual(
    documented.results[0].configs.map((c: { name: string; documentation: string }) => [
      c.name,
      /honoured/.test(c.documentation),
      /no effect/.test(c.documentation),
      /only its default/.test(c.documentation),
    ]),
    [
      ['preallocate', false, true, false],
      ['remote.storage.enable', false, false, true],
      ['retention.ms', true, false, false],
    ],
  );
  const byName = Object.fromEntries((await describe(4, null, true)).map((c) => [c.name, c]));
  assert.deepEqual(byName['retention.ms'].synonyms, [
    { name: 'retention.ms', value: '-1', source: 1 },
    { name: 'log.retention.hours', value: '168', source: 5 },
  ]);
  assert.deepEqual(byName['max.message.bytes'].synonyms, [
    { name: 'message.max.bytes', value: '1048588', source: 5 },
  ]);
  assert.deepEqual(byName['remote.storage.enable'].synonyms, []);
  // Unknown topics and bad names answer per resource.
  const missing = await k.call('DescribeConfigs', 4, {
    resources: [
      { resourceType: 2, resourceName: 'missing', configurationKeys: null },
      { resourceType: 2, resourceName: 'bad name!', configurationKeys: null },
      { resourceType: 16, resourceName: 'x', configurationKeys: null },
    ],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  assert.deepEqual(
    missing.results.map((r: { errorCode: number }) => r.errorCode),
    [3, 17, 42],
  );
});

test("DescribeConfigs for the broker: Kafka broker config names, with this broker's settings and Kafka's defaults", async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const r = await k.call('DescribeConfigs', 4, {
    resources: [
      { resourceType: 4, resourceName: '1', configurationKeys: null },
      { resourceType: 4, resourceName: '1', configurationKeys: [] },
      { resourceType: 4, resourceName: '', configurationKeys: null },
      { resourceType: 4, resourceName: '7', configurationKeys: null },
      { resourceType: 4, resourceName: '1', configurationKeys: ['log.retention.hours', 'nope'] },
    ],
    includeSynonyms: true,
    includeDocumentation: true,
  });
  const [all, empty, cluster, other, picked] = r.results;
  assert.equal(all.errorCode, 0);
  assert.deepEqual(empty.configs, all.configs, 'an empty key list means all');
  assert.deepEqual([cluster.errorCode, cluster.configs], [0, []], 'no cluster-wide dynamic defaults');
  assert.equal(other.errorCode, 42);
  assert.match(other.errorMessage, /expected 1/);
  const byName = Object.fromEntries(all.configs.map((c: Config) => [c.name, c]));
  // Every topic config's broker synonym is there, read-only.
  for (const name of [
    'log.retention.hours',
    'log.segment.bytes',
    'message.max.bytes',
    'log.cleanup.policy',
    'min.insync.replicas',
    'log.message.timestamp.difference.max.ms',
    'compression.type',
  ]) {
    assert.ok(byName[name], `${name} is described`);
    assert.equal(byName[name].readOnly, true);
  }
  assert.deepEqual(
    [byName['log.retention.hours'].value, byName['log.retention.hours'].configSource],
    ['168', 5],
  );
  assert.deepEqual([byName['broker.id'].value, byName['broker.id'].configSource], ['1', 4]);
  // The seed config's segment size is this broker's static setting, above Kafka's default.
  assert.deepEqual(byName['log.segment.bytes'].synonyms, [
    { name: 'log.segment.bytes', value: '16777216', source: 4 },
    { name: 'log.segment.bytes', value: '1073741824', source: 5 },
  ]);
  assert.deepEqual(
    [byName['log.segment.bytes'].value, byName['log.segment.bytes'].configSource],
    ['16777216', 4],
  );
  assert.equal(byName['advertised.listeners'].value, `PLAINTEXT://localhost:${broker.kafkaPort}`);
  // This broker's own setting (group.min.session.timeout.ms is 1000, Kafka's is 6000) is static, then the default.
  assert.deepEqual(byName['group.min.session.timeout.ms'].synonyms, [
    { name: 'group.min.session.timeout.ms', value: '1000', source: 4 },
    { name: 'group.min.session.timeout.ms', value: '6000', source: 5 },
  ]);
  assert.deepEqual(
    picked.configs.map((c: Config) => c.name),
    ['log.retention.hours'],
  );
});

test('CreateTopics knows every Kafka topic config: honoured or stored ones are kept, unhonourable values refused by name', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  // A valid non-default value for every config, and whether this broker accepts it.
  const values: Record<string, [string, boolean]> = {
    'cleanup.policy': ['compact,delete', true],
    'compression.gzip.level': ['5', true],
    'compression.lz4.level': ['12', true],
    'compression.type': ['zstd', true],
    'compression.zstd.level': ['-5', true],
    'delete.retention.ms': ['1000', true],
    'file.delete.delay.ms': ['0', true],
    'flush.messages': ['1', true],
    'flush.ms': ['1000', true],
    'follower.replication.throttled.replicas': ['0:1', true],
    'index.interval.bytes': ['8192', true],
    'leader.replication.throttled.replicas': ['*', true],
    'local.retention.bytes': ['1000', true],
    'local.retention.ms': ['1000', true],
    'max.compaction.lag.ms': ['60000', false],
    'max.message.bytes': ['2000000', true],
    'message.downconversion.enable': ['false', true],
    'message.format.version': ['2.8', true],
    'message.timestamp.after.max.ms': ['60000', true],
    'message.timestamp.before.max.ms': ['60000', true],
    'message.timestamp.difference.max.ms': ['60000', true],
    'message.timestamp.type': ['LogAppendTime', false],
    'min.cleanable.dirty.ratio': ['0.1', true],
    'min.compaction.lag.ms': ['1000', false],
    'min.insync.replicas': ['1', true],
    preallocate: ['true', true],
    'remote.log.copy.disable': ['true', true],
    'remote.log.delete.on.disable': ['true', true],
    'remote.storage.enable': ['true', false],
    'retention.bytes': ['1000000', true],
    'retention.ms': ['9223372036854775807', true],
    'segment.bytes': ['1048576', true],
    'segment.index.bytes': ['4096', true],
    'segment.jitter.ms': ['10', true],
    'segment.ms': ['3600000', true],
    'unclean.leader.election.enable': ['true', true],
  };
  assert.deepEqual(Object.keys(values).sort(), Object.keys(KAFKA_TOPIC_DEFAULTS).sort());
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.subarray(Object.keys(values), { minLength: 1 }),
      fc.option(
        fc.constantFrom(
          'retention.ms=soon',
          'no.such.config=1',
          'min.cleanable.dirty.ratio=2',
          'preallocate=yes',
        ),
      ),
      async (keys, broken) => {
        const configs = keys.map((name) => ({ name, value: values[name][0] }));
        if (broken) {
          const [name, value] = broken.split('=');
          configs.push({ name, value });
        }
        const name = `cfg-${n++}`;
        const r = await k.call('CreateTopics', 7, {
          topics: [{ name, numPartitions: 1, replicationFactor: -1, assignments: [], configs }],
          timeoutMs: 5000,
          validateOnly: false,
        });
        const refused = keys.filter((key) => !values[key][1]);
        const got = r.topics[0];
        if (refused.length === 0 && !broken) {
          assert.equal(got.errorCode, 0, got.errorMessage);
          const d = await k.call('DescribeConfigs', 4, {
            resources: [{ resourceType: 2, resourceName: name, configurationKeys: keys }],
            includeSynonyms: false,
            includeDocumentation: false,
          });
          assert.deepEqual(
            Object.fromEntries(d.results[0].configs.map((c: Config) => [c.name, [c.value, c.configSource]])),
            Object.fromEntries(keys.map((key) => [key, [values[key][0], 1]])),
          );
        } else {
          assert.equal(got.errorCode, 40, `INVALID_CONFIG for ${JSON.stringify(configs)}`);
          const named = [...refused, ...(broken ? [broken.split('=')[0]] : [])];
          assert.ok(
            named.some((key) => got.errorMessage.includes(key)),
            `the message names the key: ${got.errorMessage}`,
          );
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('message.timestamp.*.max.ms are honoured: a record outside the window is refused with INVALID_TIMESTAMP', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const hour = 3_600_000;
  await k.call('CreateTopics', 7, {
    topics: [
      {
        name: 'window-diff',
        numPartitions: 1,
        replicationFactor: -1,
        assignments: [],
        configs: [{ name: 'message.timestamp.difference.max.ms', value: String(hour) }],
      },
      {
        name: 'window-after',
        numPartitions: 1,
        replicationFactor: -1,
        assignments: [],
        configs: [{ name: 'message.timestamp.after.max.ms', value: String(hour) }],
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  const produce = async (topic: string, timestamps: number[]) => {
    const r = await k.call('Produce', 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        {
          name: topic,
          partitionData: [
            {
              index: 0,
              records: encodeBatch({
                records: timestamps.map((ts) => ({ value: Buffer.from('v'), timestamp: ts })),
              }),
            },
          ],
        },
      ],
    });
    return r.responses[0].partitionResponses[0].errorCode as number;
  };
  const now = Date.now();
  // Far outside the window on either side, with the bad record anywhere in the batch.
  assert.equal(await produce('window-diff', [now, now - 10 * hour]), 32);
  assert.equal(await produce('window-diff', [now + 10 * hour, now]), 32);
  assert.equal(await produce('window-diff', [now, now + 1]), 0);
  // after.max.ms alone bounds the future only.
  assert.equal(await produce('window-after', [now - 1000 * hour]), 0);
  assert.equal(await produce('window-after', [now, now + 10 * hour]), 32);
});

test("Fetch asking for 2 GiB gets at most the broker's fetchResponseBytesMax, and still at least one batch", async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const partitions = 4;
  const perPartitionBytes = 20 * 1024 * 1024;
  await k.call('CreateTopics', 7, {
    topics: [{ name: 'big', numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  // About 80 MiB in 1000 KiB batches, more than one response may carry.
  const value = Buffer.alloc(1000 * 1024, 7);
  for (let p = 0; p < partitions; p++) {
    for (let written = 0; written < perPartitionBytes; written += value.length) {
      const r = await k.call('Produce', 9, {
        transactionalId: null,
        acks: 1,
        timeoutMs: 5000,
        topicData: [
          { name: 'big', partitionData: [{ index: p, records: encodeBatch({ records: [{ value }] }) }] },
        ],
      });
      assert.equal(r.responses[0].partitionResponses[0].errorCode, 0);
    }
  }
  const fetchAll = (partitionMaxBytes: number) =>
    k.call('Fetch', 12, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 0x7fffffff,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: 'big',
          partitions: Array.from({ length: partitions }, (_, p) => ({
            partition: p,
            currentLeaderEpoch: -1,
            fetchOffset: 0,
            lastFetchedEpoch: -1,
            logStartOffset: -1,
            partitionMaxBytes,
          })),
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
  const r = await fetchAll(0x7fffffff);
  const total = (r.responses[0].partitions as { records: Buffer }[]).reduce(
    (n, p) => n + p.records.length,
    0,
  );
  assert.ok(total > 0, 'the response carries records');
  assert.ok(
    total <= fetchResponseBytesMax,
    `${total} bytes in one response, more than ${fetchResponseBytesMax}`,
  );
  // Under the cap, every partition gets what it asked for.
  const small = await fetchAll(4 * 1024 * 1024);
  for (const p of small.responses[0].partitions as { records: Buffer }[]) assert.ok(p.records.length > 0);
});
