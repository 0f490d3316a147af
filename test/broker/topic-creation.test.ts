/**
 * Topic creation under concurrency and failure, on the core with real files (issues 10 and 16).
 * Generated schedules of simultaneous creations and deletions of the same and different names, against
 * a node whose partition limit they overrun, must end with: at most one winner per name, the limit
 * held, exactly the registered topics' directories on disk, every registered partition writable, and
 * the same state after a reopen. A creation whose registration fails leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { BrokerCore } from '../../src/broker/core.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { expectedDirs, partitionDirs, strayEntries } from '../helpers/node-state.ts';
import { tempDir } from '../helpers/tmp.ts';

const silent = { info() {}, warn() {}, error() {} };

function openCore(dataDir: string, partitionsMax: number): Promise<BrokerCore> {
  return BrokerCore.open({
    dataDir,
    nodeId: 'node-1',
    defaults: { log: { fsync: 'never' }, compressionType: 'producer', minInsyncReplicas: 1 },
    partitionsMax,
    cleanupIntervalMs: 0,
    logger: silent,
  });
}

/** The registered topics as the checks compare them. */
const registered = (core: BrokerCore) =>
  core.listTopics().map((t) => ({ name: t.name, partitions: t.partitions }));

async function checkConsistent(core: BrokerCore, dataDir: string, partitionsMax: number) {
  const topics = registered(core);
  const total = topics.reduce((n, t) => n + t.partitions, 0);
  assert.ok(total <= partitionsMax, `${total} partitions registered past the limit of ${partitionsMax}`);
  assert.equal(core.partitions.partitionCount, total, 'open partitions are the registered ones');
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics), 'directories are the registered ones');
  assert.deepEqual(strayEntries(dataDir), [], 'nothing left aside');
  for (const t of topics) {
    for (let p = 0; p < t.partitions; p++) {
      const r = await core.produce(t.name, p, encodeBatch({ records: [{ value: Buffer.from('x') }] }));
      assert.ok(r.baseOffset >= 0);
    }
  }
}

type Op = { kind: 'create'; name: string; partitions: number } | { kind: 'delete'; name: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      // Names that collide, and names that look like another's partition directory ("a" and "a-1").
      name: fc.constantFrom('a', 'b', 'a-1', 'a-1-0', 'c.d'),
      partitions: fc.integer({ min: 1, max: 4 }),
    }),
    weight: 4,
  },
  fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom('a', 'b', 'a-1') }),
);

test('simultaneous creations and deletions keep one winner per name, the partition limit and no strays', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(op, { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 10 }),
      async (ops: Op[], partitionsMax: number) => {
        const dataDir = await tempDir();
        const core = await openCore(dataDir, partitionsMax);
        try {
          const settled = await Promise.allSettled(
            ops.map((o) =>
              o.kind === 'create'
                ? core.createTopic({ name: o.name, partitions: o.partitions })
                : core.deleteTopic(o.name),
            ),
          );
          for (const [i, s] of settled.entries()) {
            if (s.status === 'rejected') {
              const allowed =
                ops[i].kind === 'create'
                  ? ['TOPIC_ALREADY_EXISTS', 'POLICY_VIOLATION']
                  : ['UNKNOWN_TOPIC_OR_PARTITION'];
              assert.ok(
                allowed.includes((s.reason as { code: string }).code),
                `${ops[i].kind} ${ops[i].name}: ${s.reason}`,
              );
            }
          }
          // With no deletions, a name has at most one winning creation, and it has that one's count.
          if (ops.every((o) => o.kind === 'create')) {
            for (const t of registered(core)) {
              const wins: Extract<Op, { kind: 'create' }>[] = ops.filter(
                (o, i): o is Extract<Op, { kind: 'create' }> =>
                  o.kind === 'create' && o.name === t.name && settled[i].status === 'fulfilled',
              );
              assert.equal(wins.length, 1, `one creation of ${t.name} wins`);
              assert.equal(t.partitions, wins[0].partitions);
            }
          }
          await checkConsistent(core, dataDir, partitionsMax);
        } finally {
          await core.close();
        }
        const before = registered(core);
        const again = await openCore(dataDir, partitionsMax);
        try {
          assert.deepEqual(registered(again), before, 'a reopen finds the same topics');
          await checkConsistent(again, dataDir, partitionsMax);
        } finally {
          await again.close();
        }
      },
    ),
    { numRuns: 25 },
  );
});

test('a refused creation leaves nothing behind, and a directory of an earlier topic of the name is not adopted', async () => {
  const dataDir = await tempDir();
  let core = await openCore(dataDir, 5);
  try {
    await core.createTopic({ name: 'kept', partitions: 2 });
    await assert.rejects(core.createTopic({ name: 'x', partitions: 4 }), { code: 'POLICY_VIOLATION' });
    await assert.rejects(core.createTopic({ name: 'y', replicationFactor: 2 }), {
      code: 'INVALID_REPLICATION_FACTOR',
      message: /larger than the 1 available/,
    });
    assert.deepEqual(partitionDirs(dataDir), ['kept-0', 'kept-1']);
    await core.produce('kept', 0, encodeBatch({ records: [{ value: Buffer.from('old') }] }));
  } finally {
    await core.close();
  }
  // A directory the metadata does not know (a deletion this node missed) is removed at start.
  await mkdir(path.join(dataDir, 'gone-0'));
  core = await openCore(dataDir, 5);
  try {
    assert.deepEqual(partitionDirs(dataDir), ['kept-0', 'kept-1']);
    await core.deleteTopic('kept');
    await core.createTopic({ name: 'kept', partitions: 1 });
    assert.equal(core.partitions.get('kept', 0).logEndOffset, 0, 'the new topic starts empty');
    await checkConsistent(core, dataDir, 5);
  } finally {
    await core.close();
  }
});

test('clients cannot create, delete or produce to internal topics; the broker can', async () => {
  const dataDir = await tempDir();
  const core = await openCore(dataDir, 100);
  try {
    for (const name of ['__consumer_offsets', '__transaction_state']) {
      await assert.rejects(core.createTopic({ name }), { code: 'INVALID_TOPIC_EXCEPTION' });
      await assert.rejects(core.deleteTopic(name), { code: 'POLICY_VIOLATION' });
    }
    await core.createTopic({ name: '__consumer_offsets', partitions: 2 }, { internal: true });
    const batch = encodeBatch({ records: [{ key: Buffer.from('not json'), value: Buffer.from('x') }] });
    await assert.rejects(core.produce('__consumer_offsets', 0, batch), { code: 'INVALID_TOPIC_EXCEPTION' });
    await assert.rejects(core.produce('__consumer_offsets', 0, batch, { acks: 0 }), {
      code: 'INVALID_TOPIC_EXCEPTION',
    });
    await assert.rejects(core.produceRecords('__consumer_offsets', [{ value: Buffer.from('x') }]), {
      code: 'INVALID_TOPIC_EXCEPTION',
    });
    assert.equal(core.partitions.get('__consumer_offsets', 0).logEndOffset, 0, 'nothing was written');
    const own = await core.produce('__consumer_offsets', 1, batch, { internal: true });
    assert.equal(own.baseOffset, 0);
  } finally {
    await core.close();
  }
});
