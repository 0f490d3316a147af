/**
 * Consume load generator (issue 7), run as its own process by bench/run.ts. Mode `drain` reads a
 * partition from `fromOffset` up to the high watermark it finds at the start with ConsumeBatch
 * calls of `maxBytes`; mode `tail` follows the partition with Subscribe from `fromOffset` for
 * `durationMs`. Counts records the client decoded. Prints one JSON line.
 */
import { BrokerClient } from '../../src/client/index.ts';

interface Params {
  address: string;
  topic: string;
  partition: number;
  fromOffset: number;
  mode: 'drain' | 'tail';
  maxBytes: number;
  durationMs: number;
}

const p = JSON.parse(process.argv[2]) as Params;
const client = await BrokerClient.connect(p.address, { requestTimeoutMs: 120_000 });
let records = 0;
let bytes = 0;
const cpu0 = process.cpuUsage();
const started = performance.now();
if (p.mode === 'drain') {
  const first = await client.consumeBatch(p.topic, p.fromOffset, {
    partition: p.partition,
    maxBytes: 1,
  });
  const end = first.highWatermark;
  let offset = p.fromOffset;
  const deadline = started + p.durationMs;
  while (offset < end && performance.now() < deadline) {
    const res = await client.consumeBatch(p.topic, offset, { partition: p.partition, maxBytes: p.maxBytes });
    for (const r of res.records) bytes += r.value?.length ?? 0;
    records += res.records.length;
    if (res.nextOffset <= offset) break;
    offset = res.nextOffset;
  }
} else {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), p.durationMs);
  try {
    for await (const r of client.subscribe(p.topic, {
      partition: p.partition,
      offset: p.fromOffset,
      maxBytes: p.maxBytes,
      signal: ac.signal,
    })) {
      records++;
      bytes += r.value?.length ?? 0;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  clearTimeout(timer);
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
client.close();
console.log(
  JSON.stringify({
    records,
    bytes,
    seconds,
    recordsPerSec: records / seconds,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
);
