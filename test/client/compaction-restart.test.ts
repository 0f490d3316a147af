/**
 * Compaction keeps the newest value per key across a restart. A compacted topic with small segments
 * gets many values per key from a broker whose cleaner is off; the broker restarts on the same data
 * directory with the cleaner on a 1 s interval; once a pass has run, every key's newest value is there
 * and each key keeps exactly one record in the closed segments, its last one there (the active
 * segment is never compacted, as in Kafka).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { BrokerClient, type ConsumedMessage } from '../../src/client/index.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';

const KEYS = 10;
const ROUNDS = 20;

async function readAll(client: BrokerClient, topic: string): Promise<ConsumedMessage[]> {
  const out: ConsumedMessage[] = [];
  const info = await client.describeTopic(topic);
  let offset = info.partitionInfo[0].logStartOffset;
  while (offset < info.partitionInfo[0].highWatermark) {
    const r = await client.consumeBatch(topic, offset, { partition: 0 });
    out.push(...r.records);
    if (r.nextOffset <= offset) break;
    offset = r.nextOffset;
  }
  return out;
}

test('compaction keeps the newest value per key across a restart', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir, [], { BROKER_RETENTION_CLEANUP_INTERVAL: '0' });
  t.after(() => broker.stop());
  let client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('profiles', {
    partitions: 1,
    configs: { 'cleanup.policy': 'compact', 'segment.bytes': '2048' },
  });
  const newest = new Map<string, string>();
  const producer = client.producer({ idempotent: true });
  for (let round = 0; round < ROUNDS; round++) {
    await producer.sendBatch(
      'profiles',
      Array.from({ length: KEYS }, (_, k) => {
        const value = `user-${k} version ${round} ${'x'.repeat(40)}`;
        newest.set(`user-${k}`, value);
        return { key: `user-${k}`, value };
      }),
    );
  }
  assert.equal(
    (await readAll(client, 'profiles')).length,
    KEYS * ROUNDS,
    'nothing compacted before the restart',
  );
  client.close();
  assert.equal(await broker.stop('SIGTERM'), 0);

  broker = await spawnBroker(dir, [], { BROKER_RETENTION_CLEANUP_INTERVAL: '1s' });
  client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  const logDir = path.join(dir, 'profiles-0');
  const segments = (await readdir(logDir)).filter((f) => f.endsWith('.log')).sort();
  assert.ok(segments.length >= 3, `small segments: ${segments.join(' ')}`);
  // The active segment is the last one; everything before its base offset is in closed segments.
  const activeBase = Number(segments.at(-1)!.slice(0, 20));

  let records = await readAll(client, 'profiles');
  // Compaction works on the closed segments only (as Kafka's cleaner): there each key keeps the last
  // record it had before the active segment. Round r wrote key k at offset r * KEYS + k.
  const expectedClosed: number[] = [];
  for (let k = 0; k < KEYS; k++) {
    let last = -1;
    for (let r = 0; r < ROUNDS; r++) if (r * KEYS + k < activeBase) last = r * KEYS + k;
    if (last >= 0) expectedClosed.push(last);
  }
  expectedClosed.sort((x, y) => x - y);
  const compacted = () =>
    JSON.stringify(records.filter((r) => r.offset < activeBase).map((r) => r.offset)) ===
    JSON.stringify(expectedClosed);
  while (!compacted()) {
    await new Promise((r) => setTimeout(r, 200));
    records = await readAll(client, 'profiles');
  }
  assert.ok(records.length < KEYS * ROUNDS, 'older values are gone');
  for (const r of records.filter((x) => x.offset < activeBase)) {
    assert.equal(r.value?.toString(), `${r.key} version ${Math.floor(r.offset / KEYS)} ${'x'.repeat(40)}`);
  }
  // The active segment is untouched.
  assert.deepEqual(
    records.filter((r) => r.offset >= activeBase).map((r) => r.offset),
    Array.from({ length: KEYS * ROUNDS - activeBase }, (_, i) => activeBase + i),
  );
  const byKey = new Map<string, ConsumedMessage[]>();
  for (const r of records) byKey.set(r.key!.toString(), [...(byKey.get(r.key!.toString()) ?? []), r]);
  for (const [key, value] of newest) {
    const kept = byKey.get(key) ?? [];
    assert.equal(kept.at(-1)?.value?.toString(), value, `${key} keeps its newest value`);
  }
  for (let i = 1; i < records.length; i++)
    assert.ok(records[i].offset > records[i - 1].offset, 'offsets kept in order');
  const metrics = await (await fetch(`${broker.metricsUrl}/metrics`)).text();
  const runs = metrics.match(/^storage_compaction_runs_total(?:\{[^}]*\})? (\d+)/m);
  assert.ok(runs && Number(runs[1]) > 0, 'the cleaner counted its runs');
});
