/**
 * End-to-end latency (issue 7): the `producer` role offers a fixed rate, open loop, in batches of
 * `batch` records, each record carrying the wall-clock time at which its batch was due; the
 * `consumer` role, a separate process, follows the partition with Subscribe and records
 * (receive time - due time) in an HdrHistogram of microseconds. Measuring from the due time rather
 * than the send time keeps a stalled broker from hiding its stall (coordinated omission). The first
 * `warmupMs` of records carry a negative time and are not recorded. Each role prints one JSON line;
 * the consumer prints {"ready":true} first, once its stream is open.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerClient } from '../../src/client/index.ts';
import { batchesDue, intendedSendMs, latencyHistogram, summarizeUs } from '../lib/stats.ts';

interface Params {
  role: 'producer' | 'consumer';
  address: string;
  topic: string;
  partition: number;
  recordBytes: number;
  batch: number;
  acks: 0 | 1 | -1;
  ratePerSec: number;
  warmupMs: number;
  durationMs: number;
  maxInFlight: number;
  /** consumer: stop after this many measured records, or at the deadline. */
  expectedRecords: number;
  graceMs: number;
}

const p = JSON.parse(process.argv[2]) as Params;
const wallMs = () => performance.timeOrigin + performance.now();
const client = await BrokerClient.connect(p.address, { requestTimeoutMs: 120_000 });

if (p.role === 'producer') {
  const sendLag = latencyHistogram();
  const total = p.warmupMs + p.durationMs;
  const t0 = performance.now();
  const wall0 = wallMs();
  let i = 0;
  let inFlight = 0;
  let sent = 0;
  let failed = 0;
  const send = (index: number) => {
    const dueMs = intendedSendMs(index, p.ratePerSec, p.batch);
    const value = Buffer.alloc(p.recordBytes, 'x');
    value.writeDoubleLE(dueMs < p.warmupMs ? -1 : wall0 + dueMs, 0);
    const messages = Array.from({ length: p.batch }, () => ({ value }));
    // Warm-up batches are neither measured by the consumer nor counted here.
    if (dueMs >= p.warmupMs)
      sendLag.recordValue(Math.max(1, Math.round((performance.now() - t0 - dueMs) * 1000)));
    inFlight++;
    client
      .produceBatch(p.topic, messages, { partition: p.partition, acks: p.acks })
      .then(() => {
        if (dueMs >= p.warmupMs) sent += p.batch;
      })
      .catch(() => failed++)
      .finally(() => inFlight--);
  };
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= total) break;
    const due = batchesDue(elapsed, p.ratePerSec, p.batch);
    while (i < due && inFlight < p.maxInFlight) send(i++);
    const next = intendedSendMs(i, p.ratePerSec, p.batch) - (performance.now() - t0);
    await sleep(Math.max(0, Math.min(next, 50)));
  }
  while (inFlight > 0) await sleep(1);
  client.close();
  const lag = summarizeUs(sendLag);
  console.log(
    JSON.stringify({
      sentRecords: sent,
      failedBatches: failed,
      sendLagP99Ms: lag.p99Ms,
      sendLagMaxMs: lag.maxMs,
    }),
  );
} else {
  const h = latencyHistogram();
  await client.consumeBatch(p.topic, 0, { partition: p.partition, maxBytes: 1 });
  const ac = new AbortController();
  const deadline = setTimeout(() => ac.abort(), p.warmupMs + p.durationMs + p.graceMs);
  let warmup = 0;
  console.log(JSON.stringify({ ready: true }));
  try {
    for await (const r of client.subscribe(p.topic, {
      partition: p.partition,
      offset: 0,
      signal: ac.signal,
    })) {
      const due = r.value!.readDoubleLE(0);
      if (due < 0) {
        warmup++;
        continue;
      }
      h.recordValue(Math.max(1, Math.round((wallMs() - due) * 1000)));
      if (h.totalCount >= p.expectedRecords) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  clearTimeout(deadline);
  client.close();
  console.log(JSON.stringify({ warmupRecords: warmup, ...summarizeUs(h) }));
}
