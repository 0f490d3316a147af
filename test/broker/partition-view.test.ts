/**
 * The core's narrow partition view (src/broker/partition-view.ts, issue 11): what a single node
 * reports of its role and offsets, its time query and long poll, and its errors for partitions that
 * do not exist or are offline.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { encodeBatch } from '../../src/records/batch.ts';
import { startBroker } from '../../src/server.ts';
import { tempDir } from '../helpers/tmp.ts';

const batch = (values: string[], timestamp: number) =>
  encodeBatch({
    baseTimestamp: timestamp,
    records: values.map((v, i) => ({ value: Buffer.from(v), timestamp: timestamp + i })),
  });

test('a single node leads every partition in epoch 0, and the view follows its log', async (t) => {
  const broker = await startBroker({ dataDir: await tempDir(t) });
  t.after(() => broker.close());
  const core = broker.core;
  await core.createTopic({ name: 'view', partitions: 2 });
  const empty = core.partition('view', 1);
  assert.deepEqual(
    [empty.isLeader, empty.leaderEpoch, empty.logStartOffset, empty.logEndOffset, empty.highWatermark],
    [true, 0, 0, 0, 0],
  );
  assert.equal(empty.maxTimestamp, -1);

  await core.produce('view', 1, batch(['a', 'b', 'c'], 1_000));
  const view = core.partition('view', 1);
  assert.deepEqual([view.logEndOffset, view.highWatermark, view.lastStableOffset], [3, 3, 3]);
  assert.ok(view.sizeBytes > 0);
  assert.equal(view.maxTimestamp, 1_002);
  assert.deepEqual(await view.offsetForTimestamp(1_001), { offset: 1, timestamp: 1_001 });
  assert.equal(await view.offsetForTimestamp(5_000), null);
  const read = await view.read(0, 1024, { maxOffset: view.highWatermark });
  assert.equal(read.nextOffset, 3);
  assert.deepEqual(core.describeTopic('view').partitions[1], {
    ...view.describe(),
    leaderId: core.numericNodeId,
    replicaIds: [core.numericNodeId],
    isrIds: [core.numericNodeId],
    leaderEpoch: 0,
  });
  assert.deepEqual(
    { ...view.describe(), sizeBytes: 0 },
    {
      partition: 1,
      leader: core.nodeId,
      replicas: [core.nodeId],
      isr: [core.nodeId],
      logStartOffset: 0,
      logEndOffset: 3,
      highWatermark: 3,
      sizeBytes: 0,
      segments: 1,
      maxFollowerLag: 0,
      leaderId: core.numericNodeId,
      replicaIds: [core.numericNodeId],
      isrIds: [core.numericNodeId],
      leaderEpoch: 0,
    },
  );

  // The long poll resolves once the high watermark passes the offset waited on.
  const waiting = view.waitForData(3, 60_000);
  await core.produce('view', 1, batch(['d'], 2_000));
  await waiting;
  assert.equal(view.highWatermark, 4);

  assert.throws(() => core.partition('view', 2), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  assert.throws(() => core.partition('nothing', 0), { code: 'UNKNOWN_TOPIC_OR_PARTITION' });
});

test('the view of a partition whose log cannot open throws KAFKA_STORAGE_ERROR; the rest serve', async (t) => {
  const dataDir = await tempDir(t);
  let broker = await startBroker({ dataDir });
  await broker.core.createTopic({ name: 'broken', partitions: 2, configs: { 'retention.ms': '-1' } });
  await broker.core.produce('broken', 0, batch(['x'], 1_000));
  await broker.close();
  // A committed compaction swap whose manifest is unreadable: the log refuses to open rather than guess.
  const stem = path.join(dataDir, 'broken-0', '00000000000000000000');
  await writeFile(`${stem}.log.swap`, await readFile(`${stem}.log`));
  await writeFile(`${stem}.swap-manifest`, '{"replaces":[0,');

  broker = await startBroker({ dataDir });
  t.after(() => broker.close());
  assert.throws(() => broker.core.partition('broken', 0), { code: 'KAFKA_STORAGE_ERROR' });
  assert.equal(broker.core.partition('broken', 1).isLeader, true);
  const [offline] = broker.core.describeTopic('broken').partitions;
  assert.deepEqual(
    [offline.isr, offline.logStartOffset, offline.highWatermark, offline.segments],
    [[], -1, -1, 0],
  );
});
