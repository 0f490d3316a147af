/**
 * End-to-end latency with the fewest processes: the broker, and one client process that produces a
 * batch every ~2 ms (acks=1) and tails the partition with Subscribe, so that the broker's own path is
 * measured without a separate load generator and consumer competing for two cores (the suite's
 * latency section runs three processes). Reported, never asserted.
 *
 *   npm run bench:latency [-- --batch 100 --count 3000 --fsync interval]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { startBroker } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '1' },
    count: { type: 'string', default: '3000' },
    fsync: { type: 'string', default: 'interval' },
  },
});
const batch = Number(values.batch);
const count = Number(values.count);
const dir = mkdtempSync(path.join(tmpdir(), 'bench-latency-'));
const broker = await startBroker({ dataDir: dir, fsync: values.fsync as 'always' | 'interval' | 'never' });
try {
  const client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('latency', 1);
  const sentAt = new Map<string, bigint>();
  const latenciesMs: number[] = [];
  const ac = new AbortController();
  const tail = (async () => {
    for await (const m of client.subscribe('latency', { signal: ac.signal })) {
      const t = sentAt.get(m.value!.toString());
      if (t !== undefined) latenciesMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (latenciesMs.length === count * batch) ac.abort();
    }
  })().catch(() => {});
  for (let i = 0; i < count; i++) {
    const payloads = Array.from({ length: batch }, (_, k) => `${i}-${k}`);
    const now = process.hrtime.bigint();
    for (const v of payloads) sentAt.set(v, now);
    void client.produceBatch('latency', payloads, { partition: 0, acks: 1 });
    await new Promise((r) => setTimeout(r, 2));
  }
  const deadline = Date.now() + 10_000;
  while (latenciesMs.length < count * batch && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  ac.abort();
  await tail;
  client.close();
  latenciesMs.sort((a, b) => a - b);
  const at = (q: number) =>
    latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(q * latenciesMs.length))].toFixed(2);
  console.log(
    `${latenciesMs.length} records in batches of ${batch}, fsync ${values.fsync}: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, p99.9 ${at(0.999)} ms, max ${latenciesMs.at(-1)!.toFixed(2)} ms`,
  );
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
