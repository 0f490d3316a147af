/**
 * Kafka semantics that the clients' own test suites found missing (issue 16 section 2), each tested
 * as a class against the real broker process over raw frames: Fetch's two byte limits, OffsetCommit
 * of any int64, fresh producer ids without a transactional id, and transactional ids refused with an
 * error every client treats as fatal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
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
