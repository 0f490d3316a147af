/**
 * Three consumer processes in one group against a real broker process: one is SIGKILLed mid-stream,
 * one leaves cleanly, one joins late. Checks the three properties: every produced record is
 * processed at least once, committed offsets never go backwards, and no partition is owned by two
 * members of one generation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { type Report, startConsumerChild, until } from './helpers.ts';

const PARTITIONS = 6;
const N = 600;

test('three consumer processes: SIGKILL, clean leave, late join', { timeout: 120_000 }, async (t) => {
  const broker = await spawnBroker(await tempDir(t), [], {
    BROKER_CONSUMER_GROUPS_SESSION_TIMEOUT: '2s',
    BROKER_CONSUMER_GROUPS_HEARTBEAT_INTERVAL: '300ms',
  });
  t.after(() => broker.stop());
  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  await client.createTopic('work', { partitions: PARTITIONS });

  // Committed offsets, polled all along: each poll must be at or above the one before.
  const committed = new Map<number, number>();
  let polling = true;
  let backwards: string | null = null;
  const poller = (async () => {
    while (polling) {
      for (const o of await client.fetchOffsets('workers')) {
        const before = committed.get(o.partition) ?? -1;
        if (o.offset < before) backwards ??= `partition ${o.partition}: ${before} -> ${o.offset}`;
        committed.set(o.partition, Math.max(before, o.offset));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  const reports: Report[] = [];
  const processed = () => new Set(reports.filter((r) => r.type === 'record').map((r) => r.value));
  const a = startConsumerChild(broker.grpcAddress, 'workers', 'work', reports, { processingDelayMs: 2 });
  const b = startConsumerChild(broker.grpcAddress, 'workers', 'work', reports, { processingDelayMs: 2 });
  t.after(() => {
    a.proc.kill('SIGKILL');
    b.proc.kill('SIGKILL');
  });

  const producer = client.producer({ idempotent: true });
  const values = Array.from({ length: N }, (_, i) => `record-${i}`);
  const send = (from: number, to: number) =>
    producer.sendBatch(
      'work',
      values.slice(from, to).map((v) => ({ key: v, value: v })),
    );
  await send(0, N / 2);

  // A dies while it holds partitions and has work in progress.
  await until(() => reports.some((r) => r.type === 'record' && r.pid === a.pid) && processed().size >= 100);
  assert.equal(await a.kill('SIGKILL'), 'SIGKILL');
  const c = startConsumerChild(broker.grpcAddress, 'workers', 'work', reports, { processingDelayMs: 2 });
  t.after(() => c.proc.kill('SIGKILL'));
  await send(N / 2, N);

  // B leaves cleanly once C is in the group.
  await until(() =>
    reports.some((r) => r.type === 'assigned' && r.pid === c.pid && r.partitions!.length > 0),
  );
  assert.equal(await b.close(), 0);
  assert.ok(reports.some((r) => r.type === 'closed' && r.pid === b.pid));

  // C ends up with every partition and finishes the work.
  await until(() => processed().size === N);
  await until(async () => {
    const offsets = await client.fetchOffsets('workers');
    const info = await client.describeTopic('work');
    return info.partitionInfo.every(
      (p) => offsets.find((o) => o.partition === p.partition)?.offset === p.logEndOffset,
    );
  });
  assert.equal(await c.close(), 0);
  polling = false;
  await poller;

  assert.deepEqual([...processed()].sort(), [...values].sort(), 'every record was processed');
  assert.equal(backwards, null, `a committed offset went backwards: ${backwards}`);

  // Ownership per generation: the members reporting a generation hold disjoint partitions.
  const byGeneration = new Map<number, Map<number, number>>();
  for (const r of reports.filter((x) => x.type === 'assigned')) {
    const owners = byGeneration.get(r.generation) ?? new Map<number, number>();
    byGeneration.set(r.generation, owners);
    for (const p of r.partitions!) {
      const other = owners.get(p);
      assert.ok(
        other === undefined || other === r.pid,
        `generation ${r.generation}: partition ${p} owned twice`,
      );
      owners.set(p, r.pid);
    }
  }
  assert.ok(byGeneration.size >= 3, 'the kill, the leave and the late join caused rebalances');
  // Records are processed only by the member that owns their partition in the generation they report.
  for (const r of reports.filter((x) => x.type === 'record')) {
    assert.equal(
      byGeneration.get(r.generation)?.get(r.partition!),
      r.pid,
      `record ${r.value} processed by a member that did not own partition ${r.partition}`,
    );
  }
  const group = await client.describeGroup('workers');
  assert.equal(group.members.length, 0);
  assert.ok(group.offsets.every((o) => o.lag === 0));
});
