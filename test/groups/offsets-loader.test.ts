/**
 * Issue 10 finding 2 (the loader's part): records of `__consumer_offsets` that the loader cannot parse
 * (no key, a key that is not JSON, keys and values of the wrong shape, unknown record types, a batch
 * whose records are garbage under a valid CRC) are skipped with a logged error and counted in
 * `consumer_offsets_records_skipped_total`; the real broker process still starts, keeps the commits
 * around them, and restarts again.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { OFFSETS_TOPIC, partitionForGroup } from '../../src/broker/groups/service.ts';
import { BrokerClient } from '../../src/client/index.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { craftBatch } from '../helpers/craft-batch.ts';
import { tempDir } from '../helpers/tmp.ts';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

/** Records that can never parse as an offsets-topic record, one class per branch. */
const garbageArb = fc.oneof(
  fc.option(fc.uint8Array({ maxLength: 20 }), { nil: null }).map((v) => ({
    key: null,
    value: v && Buffer.from(v),
  })),
  fc
    .string({ maxLength: 20 })
    .map((s) => ({ key: Buffer.from(`not json ${s}`), value: json({ offset: 1 }) })),
  fc.string({ maxLength: 10 }).map((s) => ({ key: json({ type: `x${s}`, group: 'g' }), value: null })),
  fc
    .nat()
    .map((n) => ({ key: json({ type: 'offset', group: 'g', topic: 't', partition: -1 - n }), value: null })),
  fc
    .oneof(
      fc.constant(json({ offset: 'seven' })),
      fc.string().map((s) => Buffer.from(`{${s}`)),
    )
    .map((value) => ({ key: json({ type: 'offset', group: 'g', topic: 't', partition: 0 }), value })),
  fc.jsonValue().map((v) => ({ key: json({ type: 'group', group: 'g' }), value: json({ members: v }) })),
  fc.oneof(fc.integer(), fc.array(fc.string())).map((k) => ({ key: json(k), value: null })),
);

async function skipped(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^consumer_offsets_records_skipped_total\{([^}]*)\} (\d+)/gm)) {
    const kind = /kind="(\w+)"/.exec(m[1])?.[1];
    if (kind) out[kind] = Number(m[2]);
  }
  return out;
}

test('unparsable records of __consumer_offsets are skipped and counted; the broker starts and keeps its commits', async (t) => {
  const garbage = fc.sample(fc.array(garbageArb, { minLength: 20, maxLength: 40 }), {
    numRuns: 1,
    seed: 10,
  })[0];
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  t.after(() => broker.stop('SIGKILL'));
  let client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('t', { partitions: 2 });
  await client.commitOffsets('g', [{ topic: 't', partition: 0, offset: 5 }]);
  assert.equal(await client.fetchOffset('g', 't', 0), 5);
  client.close();
  assert.equal(await broker.stop(), 0);

  // Written straight into the log while the broker is down, as a bug or an older version could have.
  const log = await PartitionLog.open({
    dir: path.join(dir, `${OFFSETS_TOPIC}-${partitionForGroup('g', 50)}`),
  });
  await log.append(encodeBatch({ records: garbage }));
  await log.append(craftBatch({ section: Buffer.from('garbage under a valid CRC'), count: 3 }));
  await log.append(
    encodeBatch({
      records: [
        {
          key: json({ type: 'offset', group: 'g', topic: 't', partition: 1 }),
          value: json({ offset: 9, metadata: '', commitTimestampMs: Date.now(), leaderEpoch: -1 }),
        },
      ],
    }),
  );
  await log.close();

  broker = await spawnBroker(dir);
  client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  assert.equal(await client.fetchOffset('g', 't', 0), 5, 'the commit before the garbage is kept');
  assert.equal(await client.fetchOffset('g', 't', 1), 9, 'the commit after the garbage is loaded');
  assert.deepEqual(await skipped(broker.metricsUrl), { record: garbage.length, batch: 1 });
  const errors = broker.logs.filter(
    (l) => typeof l.msg === 'string' && l.msg.includes('offsets topic; skipped'),
  );
  assert.equal(errors.length, garbage.length + 1, 'each skip is logged');
  assert.ok(
    errors.every((l) => l.level === 50 || l.level === 'error'),
    'skips are logged as errors',
  );

  // The group goes on working, and the next start skips the same records again without failing.
  await client.commitOffsets('g', [{ topic: 't', partition: 0, offset: 6 }]);
  client.close();
  assert.equal(await broker.stop(), 0);
  broker = await spawnBroker(dir);
  client = await BrokerClient.connect(broker.grpcAddress);
  assert.equal(await client.fetchOffset('g', 't', 0), 6);
  assert.equal(await client.fetchOffset('g', 't', 1), 9);
  assert.deepEqual(await skipped(broker.metricsUrl), { record: garbage.length, batch: 1 });
});
