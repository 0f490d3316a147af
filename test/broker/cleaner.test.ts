import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBatch } from '../../src/records/batch.ts';
import { startBroker } from '../../src/server.ts';

test('the background cleaner compacts on its interval and counts its runs', async (t) => {
  const broker = await startBroker({ cleanupIntervalMs: 50 });
  t.after(() => broker.close());
  await broker.core.createTopic({
    name: 'state',
    configs: { 'cleanup.policy': 'compact', 'segment.bytes': '2048', 'delete.retention.ms': '0' },
  });
  // The cleaner may already run while these are written (its interval is 50 ms), so the size to
  // beat is what was written, not what the log holds once the writes are done.
  let before = 0;
  for (let i = 0; i < 60; i++) {
    const batch = encodeBatch({
      records: [{ key: Buffer.from(`k${i % 5}`), value: Buffer.from(`v${i}`.padEnd(60, '.')) }],
    });
    before += batch.length;
    await broker.core.produce('state', 0, batch);
  }
  const log = broker.core.partitions.get('state', 0);
  // Wait (bounded) for a cleaner pass to compact the closed segments.
  const deadline = Date.now() + 20_000;
  while (log.sizeBytes >= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(log.sizeBytes < before, `compaction shrank the log (${before} -> ${log.sizeBytes} bytes)`);
  const text = await broker.metrics.registry.metrics();
  const runs = Number(/^storage_compaction_runs_total\{[^}]*\} (\d+)/m.exec(text)?.[1]);
  assert.ok(runs >= 1, `storage_compaction_runs_total is ${runs}`);
  const { records } = await broker.core.fetchRecords('state', 0, 0, { maxBytes: 1 << 20 });
  const keys = new Map<string, string>();
  const all = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const r = await broker.core.fetchRecords('state', 0, offset, { maxBytes: 1 << 20 });
    all.push(...r.records);
    offset = r.nextOffset;
  }
  for (const r of all) keys.set(r.key!.toString(), r.value!.toString().replace(/\.+$/, ''));
  assert.deepEqual(Object.fromEntries(keys), { k0: 'v55', k1: 'v56', k2: 'v57', k3: 'v58', k4: 'v59' });
  assert.ok(records.length > 0);
});
