/**
 * Issue 10: the Kafka door answers a storage fault with a per-partition error, at once, and serves the
 * other partitions of the same Fetch: a corrupt batch is CORRUPT_MESSAGE (2), never a dropped
 * connection, an empty answer forever, or a long poll that waits out its time.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { encodeBatch, forEachBatch } from '../../src/records/batch.ts';
import { startBroker } from '../../src/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { kafkaCaller } from '../kafka/helpers.ts';

const kafka = kafkaCaller;

const fetchBody = (offsets: number[], maxWaitMs: number) => ({
  replicaId: -1,
  maxWaitMs,
  minBytes: 1 << 20,
  maxBytes: 1 << 20,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [
    {
      topic: 'mix',
      partitions: offsets.map((fetchOffset, partition) => ({
        partition,
        currentLeaderEpoch: -1,
        fetchOffset,
        lastFetchedEpoch: -1,
        logStartOffset: -1,
        partitionMaxBytes: 1 << 20,
      })),
    },
  ],
  forgottenTopicsData: [],
  rackId: '',
});

test('Fetch answers a corrupt batch with CORRUPT_MESSAGE for its partition and serves the others', async (t) => {
  const dataDir = await tempDir(t);
  let broker = await startBroker({ dataDir, autoCreateTopics: false, offsetsPartitions: 1 });
  await broker.core.createTopic({
    name: 'mix',
    partitions: 2,
    configs: { 'segment.bytes': '4096', 'retention.ms': '-1' },
  });
  for (let i = 0; i < 40; i++) {
    for (const p of [0, 1]) {
      await broker.core.produce(
        'mix',
        p,
        encodeBatch({ records: [{ value: Buffer.from(`p${p}-${i}`.padEnd(150)) }] }),
      );
    }
  }
  await broker.close();
  const dir = path.join(dataDir, 'mix-0');
  const file = path.join(dir, (await readdir(dir)).filter((n) => n.endsWith('.log')).sort()[0]);
  const bytes = await readFile(file);
  const starts: number[] = [];
  forEachBatch(bytes, (pos) => starts.push(pos));
  bytes[starts[3] + 80] ^= 0x01;
  await writeFile(file, bytes);

  broker = await startBroker({ dataDir, autoCreateTopics: false, offsetsPartitions: 1 });
  t.after(() => broker.close());
  const k = await kafka(broker.kafkaPort);
  t.after(() => k.close());
  // min_bytes far above what there is and a long max wait: an error still answers at once.
  const r = await k.call('Fetch', 12, fetchBody([3, 0], 60_000));
  const [p0, p1] = r.responses[0].partitions;
  assert.equal(p0.errorCode, 2, 'CORRUPT_MESSAGE for the partition with the corrupt batch');
  assert.equal(p0.highWatermark, 40);
  assert.equal(p1.errorCode, 0);
  assert.ok(p1.records.length > 0, 'the other partition is served in the same answer');
  // From the start, the batches before the corrupt one are served; the next fetch reports it again.
  const head = await k.call('Fetch', 12, fetchBody([0, 40], 0));
  assert.equal(head.responses[0].partitions[0].errorCode, 0);
  let n = 0;
  forEachBatch(head.responses[0].partitions[0].records, () => n++);
  assert.equal(n, 3, 'the three whole batches before the corrupt one');
  const again = await k.call('Fetch', 12, fetchBody([3, 40], 0));
  assert.equal(again.responses[0].partitions[0].errorCode, 2);
  const after = await k.call('Fetch', 12, fetchBody([4, 40], 0));
  assert.equal(after.responses[0].partitions[0].errorCode, 0, 'the batch after the corrupt one is served');
});
