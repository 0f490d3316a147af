/**
 * The suite's markdown report and SVG charts (issue 7), rendered from results.json alone so that a
 * run's report can be regenerated: `node bench/lib/report.ts bench/results/<run>/results.json`.
 * Every figure is reported beside the goals of issue 7 and as ratios to the peer and the machine's
 * limits measured in the same run; nothing is asserted.
 */
import { brokerNodeFlags } from '../../src/cli/node-flags.ts';
import type { GcTotals } from './proc.ts';
import type { LatencyResults, ProduceRow, Results } from './results.ts';
import { formatInt, formatMs, formatRatio, mib, ratio } from './stats.ts';
import { barChartSvg } from './svg.ts';

const MiB = 2 ** 20;

/** The goals of issue 7. */
export const goals = {
  grpcRecordsPerSec: 500_000,
  kafkaRecordsPerSec: 1_000_000,
  natsMultiple: 3,
  p99AtHalfLoadMs: 5,
  tenThousandPartitionsRssBytes: 2 * 2 ** 30,
  firstAckMs: 300,
} as const;

/**
 * The highest gRPC produce rate of `size`-byte records in batches of 1000 (acks=1, fsync interval),
 * from the TypeScript client's row or the Go generator's, and which it was.
 */
function bestGrpcProduce(r: Results, size: number): { recordsPerSec: number; source: string } | null {
  const candidates: { recordsPerSec: number; source: string }[] = [];
  const ts = produceRow(r, size, 1000, 1, 'interval');
  if (ts) candidates.push({ recordsPerSec: ts.recordsPerSec, source: 'TypeScript client, ProduceBatch' });
  for (const g of r.produceGo?.rows ?? [])
    if (g.recordBytes === size && g.batch === 1000)
      candidates.push({
        recordsPerSec: g.recordsPerSec,
        source: `Go generator, ${g.rpc}${g.pinned === false ? ', no CPU pinned as in the NATS row' : ''}`,
      });
  return candidates.sort((a, b) => b.recordsPerSec - a.recordsPerSec)[0] ?? null;
}

function produceRow(r: Results, size: number, batch: number, acks: 1 | -1, fsync: 'interval' | 'always') {
  return r.produce?.find(
    (p) => p.recordBytes === size && p.batch === batch && p.acks === acks && p.fsync === fsync,
  );
}

/** How the suite starts the broker: as `npm start` does (bench/lib/proc.ts). */
const brokerCommand = `node ${brokerNodeFlags.join(' ')} src/cli/broker.ts`;

export function renderCharts(r: Results): Record<string, string> {
  const charts: Record<string, string> = {};
  if (r.produce && r.produce.length > 0) {
    const series: { label: string; pick: (p: ProduceRow) => boolean }[] = [];
    for (const size of [100, 1024])
      for (const fsync of ['interval', 'always'] as const)
        for (const acks of [1, -1] as const)
          series.push({
            label: `${size} B, acks=${acks === 1 ? '1' : 'all'}, fsync ${fsync}`,
            pick: (p) => p.recordBytes === size && p.fsync === fsync && p.acks === acks,
          });
    charts['throughput-by-batch.svg'] = barChartSvg({
      title: 'gRPC produce throughput by batch size (records/s)',
      yLabel: 'records/s',
      logScale: true,
      series: series.map((s) => s.label),
      groups: [1, 100, 1000].map((batch) => ({
        label: `batch ${batch}`,
        values: series.map(
          (s) => r.produce!.find((p) => p.batch === batch && s.pick(p))?.recordsPerSec ?? null,
        ),
      })),
    });
  }
  if (r.latency && r.latency.rows.length > 0) {
    charts['latency-percentiles.svg'] = barChartSvg({
      title: `End-to-end latency (ms) at fixed offered rates; 100 B records, batches of ${r.latency.batch}`,
      yLabel: 'milliseconds',
      logScale: true,
      series: ['p50', 'p99', 'p99.9', 'max'],
      format: (v) => formatMs(v),
      groups: r.latency.rows.map((row) => ({
        label: `${row.loadPercent}% (${formatInt(row.offeredRecordsPerSec)}/s)`,
        values: [row.latency.p50Ms, row.latency.p99Ms, row.latency.p999Ms, row.latency.maxMs],
      })),
    });
  }
  return charts;
}

function cost(b: { cpuSeconds: number; peakRssBytes: number } | undefined): string {
  if (!b) return 'n/a | n/a';
  return `${Number.isFinite(b.cpuSeconds) ? b.cpuSeconds.toFixed(1) : 'n/a'} | ${mib(b.peakRssBytes)}`;
}

/** A latency row's GC cells: young-generation time, and the full collections with their pauses' sum. */
function gcCells(gc: GcTotals | undefined): { minor: string; major: string } {
  const known = (n: number | undefined): n is number => n !== undefined && !Number.isNaN(n);
  return {
    minor: known(gc?.minorSeconds) ? formatMs(gc.minorSeconds * 1000) : 'n/a',
    major: !known(gc?.majorCount)
      ? 'n/a'
      : gc.majorCount === 0
        ? '0'
        : `${formatInt(gc.majorCount)} (${formatMs(gc.majorSeconds * 1000)})`,
  };
}

function verdict(met: boolean | null): string {
  return met === null ? 'not measured' : met ? 'met' : 'not met';
}

export function renderReport(r: Results, opts: { chartFiles: string[] }): string {
  const out: string[] = [];
  const m = r.machine;
  const headline = produceRow(r, 100, 1000, 1, 'interval');
  const headline1k = produceRow(r, 1024, 1000, 1, 'interval');
  const nats100 = r.nats?.rows.find((x) => x.recordBytes === 100);
  const nats1k = r.nats?.rows.find((x) => x.recordBytes === 1024);
  const half = r.latency?.rows.find((x) => x.loadPercent === 50);
  const tenK = r.scale?.find((x) => x.partitions === 10_000 && !x.error);

  out.push(`# Benchmark results (${r.mode} run)`, '');
  out.push(
    `Run ${r.startedAt} to ${r.finishedAt ?? '(unfinished)'} with \`npm run bench${r.mode === 'quick' ? ' -- --quick' : ''}\`. ` +
      `The broker ran as its own process (\`${brokerCommand}\`, gRPC on loopback, retention off); separate ` +
      'load-generator processes (bench/load/) drove it through the TypeScript client. Figures are reported, never asserted.',
    '',
  );
  if (r.mode === 'quick')
    out.push(
      '**Quick run**: short durations and smaller sizes (see the plan at the end); recovery used ' +
        `${(r.plan.recoveryBytes as number[]).map((b) => `${Math.round(b / MiB)} MiB`).join(' and ')} instead of 1 GiB and 10 GiB, ` +
        'and scale stopped at 1,000 partitions. Use the full run for figures to quote.',
      '',
    );

  out.push('## Machine', '');
  out.push('| | |', '|---|---|');
  out.push(`| CPUs (nproc) | ${m.nproc} × ${m.cpuModel} |`);
  out.push(`| memory | ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB |`);
  out.push(`| disk (data directory) | ${m.disk} |`);
  out.push(`| kernel | ${m.kernel} |`);
  out.push(`| Node.js | ${m.node} |`);
  out.push(`| broker revision | ${m.revision} |`);
  out.push(`| open files limit | ${m.openFilesLimit} |`);
  out.push(`| load average at start (1 min) | ${m.loadAverage1m.toFixed(2)} |`);
  const runMs = r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : 0;
  if (r.stolenMsByCpu && runMs > 0)
    out.push(
      `| CPU time stolen by the hypervisor during the run | ${r.stolenMsByCpu.map((ms, cpu) => `CPU ${cpu}: ${(ms / 1000).toFixed(1)} s (${((ms / runMs) * 100).toFixed(1)}%)`).join(', ')} of ${(runMs / 1000).toFixed(0)} s |`,
    );
  out.push('');

  out.push('## Goals (issue 7)', '');
  out.push('| goal | measured | ratio to goal | |', '|---|---:|---:|---|');
  const grpcRate = headline?.recordsPerSec ?? null;
  out.push(
    `| gRPC produce ≥ ${formatInt(goals.grpcRecordsPerSec)} records/s (100 B, batches of 1000, acks=1, fsync interval) | ${formatInt(grpcRate)} | ${formatRatio(ratio(grpcRate, goals.grpcRecordsPerSec))} | ${verdict(grpcRate === null ? null : grpcRate >= goals.grpcRecordsPerSec)} |`,
  );
  const kafkaRate = r.kafka?.produceRecordsPerSec ?? null;
  out.push(
    `| Kafka protocol produce ≥ ${formatInt(goals.kafkaRecordsPerSec)} records/s (kcat) | ${kafkaRate === null ? (r.kafka?.status.startsWith('not available') ? 'not available yet' : 'n/a') : formatInt(kafkaRate)} | ${formatRatio(ratio(kafkaRate, goals.kafkaRecordsPerSec))} | ${verdict(kafkaRate === null ? null : kafkaRate >= goals.kafkaRecordsPerSec)} |`,
  );
  const vsNats = ratio(grpcRate, nats100?.produceRecordsPerSec);
  out.push(
    `| ≥ ${goals.natsMultiple}x NATS JetStream produce (100 B, gRPC path) | ${formatRatio(vsNats)} of JetStream's ${formatInt(nats100?.produceRecordsPerSec)} | ${formatRatio(ratio(vsNats, goals.natsMultiple))} | ${verdict(vsNats === null ? null : vsNats >= goals.natsMultiple)} |`,
  );
  const p99 = half?.latency.p99Ms ?? null;
  out.push(
    `| p99 end-to-end ≤ ${goals.p99AtHalfLoadMs} ms at 50% load | ${formatMs(p99)} ms | ${formatRatio(ratio(p99, goals.p99AtHalfLoadMs))} | ${verdict(p99 === null ? null : p99 <= goals.p99AtHalfLoadMs)} |`,
  );
  const rss10k = tenK?.broker.peakRssBytes ?? null;
  out.push(
    `| 10,000 partitions in < 2 GiB RSS | ${rss10k === null ? 'not measured' : `${mib(rss10k)} MiB peak`} | ${formatRatio(ratio(rss10k, goals.tenThousandPartitionsRssBytes))} | ${verdict(rss10k === null ? null : rss10k < goals.tenThousandPartitionsRssBytes)} |`,
  );
  const firstAck = r.startup?.medianFirstAckMs ?? null;
  out.push(
    `| ≤ ${goals.firstAckMs} ms from process start to first acknowledged produce | ${formatMs(firstAck)} ms (median) | ${formatRatio(ratio(firstAck, goals.firstAckMs))} | ${verdict(firstAck === null ? null : firstAck <= goals.firstAckMs)} |`,
  );
  out.push('');

  out.push('## Goals (issue 17)', '');
  out.push('| goal | measured | ratio to goal | |', '|---|---:|---:|---|');
  const best1k = bestGrpcProduce(r, 1024);
  const best100 = bestGrpcProduce(r, 100);
  const vsNats1k = ratio(best1k?.recordsPerSec, nats1k?.produceRecordsPerSec);
  out.push(
    `| gRPC produce of 1 KiB records (batches of 1000) ≥ 2x NATS JetStream's 1 KiB rate | ${formatRatio(vsNats1k)} (${formatInt(best1k?.recordsPerSec)} against ${formatInt(nats1k?.produceRecordsPerSec)} records/s; ${best1k?.source ?? 'not measured'}) | ${formatRatio(ratio(vsNats1k, 2))} | ${verdict(vsNats1k === null ? null : vsNats1k >= 2)} |`,
  );
  const rate100 = best100?.recordsPerSec ?? null;
  out.push(
    `| gRPC produce of 100 B records ≥ 1,500,000 records/s | ${formatInt(rate100)} (${best100?.source ?? 'not measured'}) | ${formatRatio(ratio(rate100, 1_500_000))} | ${verdict(rate100 === null ? null : rate100 >= 1_500_000)} |`,
  );
  const door = (name: string) => r.doors?.rows.find((x) => x.door === name)?.brokerCpuMsPerMiB ?? null;
  for (const dir of ['produce', 'consume']) {
    const g = door(`gRPC ${dir}`);
    const k = door(`Kafka ${dir}`);
    const x = ratio(g, k);
    out.push(
      `| broker CPU per MiB ${dir === 'produce' ? 'produced' : 'consumed'} through gRPC ≤ 1.5x the Kafka door's | ${formatRatio(x)} (${g === null ? 'n/a' : g.toFixed(2)} against ${k === null ? 'n/a' : k.toFixed(2)} ms/MiB) | ${formatRatio(ratio(x, 1.5))} | ${verdict(x === null ? null : x <= 1.5)} |`,
    );
  }
  const halves = [r.latency, r.latencyUnary]
    .map((lat) => ({ lat, row: lat?.rows.find((x) => x.loadPercent === 50) }))
    .filter((x) => x.row !== undefined);
  const bestHalf = halves.sort((a, b) => a.row!.latency.p99Ms - b.row!.latency.p99Ms)[0];
  const p99Best = bestHalf?.row?.latency.p99Ms ?? null;
  out.push(
    `| p99 end-to-end ≤ ${goals.p99AtHalfLoadMs} ms at 50% load, generator off the broker's CPU | ${formatMs(p99Best)} ms${bestHalf?.lat?.rpc ? ` (${bestHalf.lat.rpc})` : ''} | ${formatRatio(ratio(p99Best, goals.p99AtHalfLoadMs))} | ${verdict(p99Best === null ? null : p99Best <= goals.p99AtHalfLoadMs)} |`,
  );
  out.push(
    `| three-node rows in the same run | ${r.cluster ? 'reported below' : 'not run'} | | ${verdict(r.cluster ? true : null)} |`,
  );
  out.push('');

  out.push('## Side by side: the peer and the machine', '');
  const l = r.limits;
  out.push('| figure | value | ours | ours as a ratio |', '|---|---:|---:|---:|');
  if (nats100)
    out.push(
      `| NATS JetStream produce, 100 B (${formatInt(nats100.records)} records) | ${formatInt(nats100.produceRecordsPerSec)} records/s | ${formatInt(grpcRate)} | ${formatRatio(vsNats)} |`,
      `| NATS JetStream consume, 100 B | ${formatInt(nats100.consumeRecordsPerSec)} records/s | ${formatInt(r.consume?.recordsPerSec)} | ${formatRatio(ratio(r.consume?.recordsPerSec, nats100.consumeRecordsPerSec))} |`,
    );
  if (nats1k)
    out.push(
      `| NATS JetStream produce, 1 KiB | ${formatInt(nats1k.produceRecordsPerSec)} records/s | ${formatInt(headline1k?.recordsPerSec)} | ${formatRatio(ratio(headline1k?.recordsPerSec, nats1k.produceRecordsPerSec))} |`,
    );
  const ourBytes1k = headline1k ? headline1k.mbPerSec * MiB : null;
  if (l?.ddBytesPerSec)
    out.push(
      `| sequential write, dd ${mib(l.ddBytes)} MiB conv=fdatasync | ${(l.ddBytesPerSec / MiB).toFixed(0)} MB/s | ${ourBytes1k === null ? 'n/a' : (ourBytes1k / MiB).toFixed(0)} MB/s (1 KiB, batch 1000) | ${formatRatio(ratio(ourBytes1k, l.ddBytesPerSec))} |`,
    );
  if (l?.fdatasync) {
    const always1 = produceRow(r, 100, 1, 1, 'always');
    out.push(
      `| fdatasync of 4 KiB: p50 ${formatMs(l.fdatasync.p50Ms)} ms, p99 ${formatMs(l.fdatasync.p99Ms)} ms | ${formatInt(l.fdatasync.syncsPerSec)} syncs/s | ${formatInt(always1?.recordsPerSec)} records/s (batch 1, fsync always, ${r.plan.concurrency} in flight) | ${formatRatio(ratio(always1?.recordsPerSec, l.fdatasync.syncsPerSec))} |`,
    );
  }
  if (l?.iperf3BytesPerSec)
    out.push(
      `| loopback TCP, iperf3 | ${(l.iperf3BytesPerSec / MiB).toFixed(0)} MB/s | ${ourBytes1k === null ? 'n/a' : (ourBytes1k / MiB).toFixed(0)} MB/s | ${formatRatio(ratio(ourBytes1k, l.iperf3BytesPerSec))} |`,
    );
  if (l?.nodeTcpBytesPerSec)
    out.push(
      `| loopback TCP, Node socket pump | ${(l.nodeTcpBytesPerSec / MiB).toFixed(0)} MB/s | ${ourBytes1k === null ? 'n/a' : (ourBytes1k / MiB).toFixed(0)} MB/s | ${formatRatio(ratio(ourBytes1k, l.nodeTcpBytesPerSec))} |`,
    );
  out.push('');
  if (r.nats) out.push(`NATS: ${r.nats.status}. Client: ${r.nats.client || 'n/a'}.`, '');
  for (const e of l?.errors ?? []) out.push(`- limits: ${e}`);
  if (l?.errors.length) out.push('');

  out.push('## Kafka protocol (librdkafka via kcat)', '');
  if (r.kafka?.produceRecordsPerSec)
    out.push(
      `${r.kafka.status}. ${formatInt(r.kafka.records)} records: produce ${formatInt(r.kafka.produceRecordsPerSec)} records/s, consume ${formatInt(r.kafka.consumeRecordsPerSec)} records/s; broker CPU ${r.kafka.broker?.cpuSeconds.toFixed(1)} s, peak RSS ${mib(r.kafka.broker?.peakRssBytes)} MiB.`,
      '',
    );
  else out.push(`${r.kafka?.status ?? 'not run'}. No figure is reported for this path.`, '');

  if (r.produce?.length) {
    out.push('## Produce through gRPC', '');
    out.push(
      `Each row: one load process, ${r.plan.concurrency} ProduceBatch calls in flight, ${Number(r.plan.produceMs) / 1000} s, one partition, fresh topic. MB/s counts record values.`,
      '',
    );
    out.push(
      '| record | batch | acks | fsync | records/s | MB/s | broker CPU s | broker peak RSS MiB | client CPU s |',
      '|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    );
    for (const p of r.produce)
      out.push(
        `| ${p.recordBytes} B | ${p.batch} | ${p.acks === 1 ? '1' : 'all'} | ${p.fsync} | ${formatInt(p.recordsPerSec)} | ${p.mbPerSec.toFixed(1)} | ${cost(p.broker)} | ${p.clientCpuSeconds.toFixed(1)} |`,
      );
    out.push('');
  }
  if (r.consume || r.produceConsume) {
    out.push('## Consume, and produce with consume together', '');
    out.push('| scenario | records/s | broker CPU s | broker peak RSS MiB |', '|---|---:|---:|---:|');
    if (r.consume)
      out.push(
        `| consume ${formatInt(r.consume.records)} 100 B records from offset 0 (ConsumeBatch of 1 MiB) | ${formatInt(r.consume.recordsPerSec)} | ${cost(r.consume.broker)} |`,
      );
    if (r.produceConsume)
      out.push(
        `| together: produce (100 B, batch 1000, acks=1) | ${formatInt(r.produceConsume.produceRecordsPerSec)} | ${cost(r.produceConsume.broker)} |`,
        `| together: consume (Subscribe, tailing) | ${formatInt(r.produceConsume.consumeRecordsPerSec)} | (same process, same interval) | |`,
      );
    out.push('');
  }
  if (r.doors) {
    const d = r.doors;
    out.push('## What each door costs the broker', '');
    out.push(
      `bench/door-cost.ts: ${formatInt(d.records)} records of ${formatInt(d.recordBytes)} B produced and consumed through the Kafka door (kcat, librdkafka) and through the gRPC door (the TypeScript client, batches of 1000, 8 in flight; consume with ConsumeBatch of 4 MiB), into one broker, alternating, medians of ${d.rounds} round(s). Broker CPU per MiB of record values.`,
      '',
      '| door | records/s | broker CPU ms per MiB |',
      '|---|---:|---:|',
    );
    for (const x of d.rows)
      out.push(`| ${x.door} | ${formatInt(x.recordsPerSec)} | ${x.brokerCpuMsPerMiB.toFixed(2)} |`);
    out.push('');
  }
  if (r.produceGo && r.produceGo.rows.length > 0) {
    const g = r.produceGo;
    out.push('## Produce through gRPC, Go generator', '');
    out.push(
      `The broker's own produce rate, where the TypeScript load process above runs out of CPU first: ${g.generator}. 1000 records per batch, one partition, acks=1, fsync interval. CPUs: ${g.pinning}, but for the rows marked "none", where neither is pinned, as the NATS section runs its server and generator. ProduceBatch is a call per batch; ProduceStream sends the batches as messages of one call.`,
      '',
      '| record | RPC | CPUs pinned | records/s | MB/s | ack p50 ms | ack p99 ms | generator CPU s | broker CPU s | broker peak RSS MiB |',
      '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const x of g.rows)
      out.push(
        `| ${x.recordBytes === 1024 ? '1024 B' : `${x.recordBytes} B`} | ${x.rpc} | ${x.pinned === false ? 'none' : 'as above'} | ${formatInt(x.recordsPerSec)} | ${x.mbPerSec.toFixed(1)} | ${formatMs(x.ackP50Ms)} | ${formatMs(x.ackP99Ms)} | ${x.generatorCpuSeconds.toFixed(1)} | ${cost(x.broker)} |`,
      );
    out.push('');
  }
  if (r.latency) renderLatency(out, r, r.latency, true);
  if (r.latencyUnary) renderLatency(out, r, r.latencyUnary, !r.latency);
  if (r.cluster) {
    out.push('## Cluster: three nodes', '');
    out.push(`${r.cluster.status}.`, '');
    const c = r.cluster;
    const med = (xs: number[] | undefined) => {
      if (!xs?.length) return null;
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)];
    };
    const range = (xs: number[] | undefined, f: (n: number) => string) =>
      xs?.length
        ? `${f(med(xs)!)} (${f(Math.min(...xs))} to ${f(Math.max(...xs))}, ${xs.length} runs)`
        : 'n/a';
    const ms = (n: number) => `${formatInt(n)} ms`;
    const x = (n: number) => `${n.toFixed(2)}x`;
    out.push('| figure | median (range) |', '|---|---|');
    out.push(`| RF 3 acks=all throughput / RF 1 on one node | ${range(c.rf3OverRf1One, x)} |`);
    out.push(
      `| RF 3 acks=all throughput / RF 1 over the same three nodes | ${range(c.rf3OverRf1Three, x)} |`,
    );
    if (c.lag)
      out.push(
        `| replication lag under that load | p50 ${formatInt(c.lag.offsetsP50)} offsets / ${formatMs(c.lag.msP50)} ms, p99 ${formatInt(c.lag.offsetsP99)} offsets / ${formatMs(c.lag.msP99)} ms |`,
      );
    if (c.latency)
      out.push(
        `| acks=all latency at ${formatInt(c.latency.rateRecordsPerSec)} records/s | acknowledgement p50 ${formatMs(c.latency.ackP50)} ms, p99 ${formatMs(c.latency.ackP99)} ms; end to end p50 ${formatMs(c.latency.e2eP50)} ms, p99 ${formatMs(c.latency.e2eP99)} ms |`,
      );
    out.push(
      `| controller failover (SIGKILL of the active controller to a new LEADER on /ready) | ${range(c.controllerFailoverMs, ms)} |`,
    );
    for (const [kind, f] of Object.entries(c.failover ?? {}))
      out.push(
        `| partition leader failover, ${kind} (to the next acknowledged produce) | ${range(f.ms, ms)}; ${formatInt(f.retriedSends)} sends retried, ${formatInt(f.failedSends)} failed |`,
      );
    out.push(`| a third node joins (start to ready and a voter) | ${range(c.joinMs, ms)} |`, '');
  }
  if (r.scale?.length) {
    out.push('## Scale: partitions on one node', '');
    out.push(
      `One topic with N partitions (created through the client), then ${Number(r.plan.scaleMs) / 1000} s of 100 B records in batches of 100 spread round-robin over the partitions.`,
      '',
    );
    out.push(
      '| partitions | create s | records/s | RSS idle MiB | open fds idle | RSS after load MiB | open fds after load | broker CPU s (load) | peak RSS MiB |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const s of r.scale)
      out.push(
        s.error
          ? `| ${formatInt(s.partitions)} | failed: ${s.error.replace(/\|/g, '/')} | | | | | | | |`
          : `| ${formatInt(s.partitions)} | ${s.createSeconds.toFixed(1)} | ${formatInt(s.recordsPerSec)} | ${mib(s.idleRssBytes)} | ${formatInt(s.idleFds)} | ${mib(s.broker.rssBytes)} | ${formatInt(s.broker.fds)} | ${cost(s.broker)} |`,
      );
    out.push('');
  }
  if (r.compression) {
    const c = r.compression;
    out.push('## Compression on realistic JSON events', '');
    out.push(
      `${formatInt(c.events)} seeded JSON user-activity events (bench/json-events.ts), ${(c.rawBytes / MiB).toFixed(1)} MiB of keys and values, produced in batches of ${c.batch} into one topic per codec; ratio = uncompressed bytes on disk / bytes on disk. Codec speeds are measured in the load process on one batch. Broker CPU ${c.broker.cpuSeconds.toFixed(1)} s and peak RSS ${mib(c.broker.peakRssBytes)} MiB over all codecs.`,
      '',
    );
    out.push(
      '| codec | bytes on disk | ratio | produce events/s | produce input MB/s | compress MB/s | decompress MB/s |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const x of c.rows)
      out.push(
        `| ${x.codec} | ${formatInt(x.diskBytes)} | ${x.ratio.toFixed(2)} | ${formatInt(x.eventsPerSec)} | ${x.inputMBps.toFixed(1)} | ${x.codec === 'none' ? '-' : x.compressMBps.toFixed(0)} | ${x.codec === 'none' ? '-' : x.decompressMBps.toFixed(0)} |`,
      );
    out.push('');
  }
  if (r.startup || r.recovery) {
    out.push('## Startup and recovery', '');
    out.push(
      `From spawning \`${brokerCommand}\` to its "broker ready" line, and to the first acknowledged produce (acks=1) from a client connected once the port is known.`,
      '',
    );
    out.push(
      '| case | to ready ms | to first ack ms | broker CPU s (process life) | peak RSS MiB |',
      '|---|---:|---:|---:|---:|',
    );
    if (r.startup)
      out.push(
        `| clean start, one topic (median of ${r.startup.runs.length}: ${r.startup.runs.map((x) => Math.round(x.firstAckMs)).join(', ')} ms) | ${formatMs(r.startup.medianReadyMs)} | ${formatMs(r.startup.medianFirstAckMs)} | | |`,
      );
    for (const x of r.recovery ?? [])
      out.push(
        x.status === 'measured'
          ? `| after SIGKILL with ${mib(x.dataBytes)} MiB of data (filled in ${x.fillSeconds?.toFixed(0)} s) | ${formatMs(x.readyMs)} | ${formatMs(x.firstAckMs)} | ${cost(x.broker)} |`
          : `| after SIGKILL with ${mib(x.dataBytes)} MiB: ${x.status} | | | | |`,
      );
    out.push('');
  }
  if (opts.chartFiles.length) {
    out.push('## Charts', '');
    out.push(
      `Written beside this report in bench/results/ (not committed): ${opts.chartFiles.map((f) => `\`${f}\``).join(', ')}.`,
      '',
    );
  }
  if (r.notes.length) {
    out.push('## Notes', '');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('');
  }
  out.push('## Plan of this run', '', '```json', JSON.stringify(r.plan), '```', '');
  return out.join('\n');
}

if (import.meta.main) {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const path = await import('node:path');
  const file = process.argv[2];
  const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  const charts = renderCharts(results);
  for (const [name, svg] of Object.entries(charts)) writeFileSync(path.join(path.dirname(file), name), svg);
  writeFileSync(
    path.join(path.dirname(file), 'report.md'),
    renderReport(results, { chartFiles: Object.keys(charts) }),
  );
}

/** One end-to-end latency table (ProduceStream's or ProduceBatch's) with its notes. */
function renderLatency(out: string[], r: Results, lat: LatencyResults, diskNote: boolean): void {
  const go = lat.rows.some((x) => x.ackP99Ms !== undefined);
  // Pinned, the broker ran on CPU 1 and the generator on CPU 0; otherwise the steal of all CPUs.
  const pinned = lat.pinning?.startsWith('broker on CPU 1') ?? false;
  const stolen = (x: LatencyResults['rows'][number]): string => {
    const s = x.stolenMsByCpu;
    if (!s) return 'n/a';
    // Whole ticks of the kernel's clock (10 ms), so whole milliseconds.
    return pinned
      ? `${formatInt(s[1] ?? 0)} / ${formatInt(s[0] ?? 0)}`
      : formatInt(s.reduce((a, b) => a + b, 0));
  };
  const steal = go && lat.rows.some((x) => x.stolenMsByCpu);
  out.push(`## End-to-end latency${lat.rpc ? `, ${lat.rpc}` : ''}`, '');
  out.push(
    `Produce (acks=1, fsync interval) until a subscriber (Subscribe) receives the record, at fixed offered rates of the measured maximum for 100 B records in batches of ${lat.batch} (${formatInt(lat.maxRecordsPerSec)} records/s). Open loop: latency counts from when each batch was due, so a stall is not hidden (coordinated omission). "send lag p99" is how late the generator itself sent, already included in the latency.`,
    '',
    `Generator: ${lat.generator ?? 'bench/load/latency.ts'}. CPUs: ${lat.pinning ?? 'not pinned'}.`,
    '',
  );
  const stealHead = steal ? (pinned ? ' CPU stolen ms (broker / generator) |' : ' CPU stolen ms |') : '';
  out.push(
    go
      ? `| load | offered records/s | records measured | p50 ms | p99 ms | p99.9 ms | max ms | ack p50 ms | ack p99 ms | send lag p99 ms | generator CPU s | broker minor GC ms | broker full GCs (ms) | broker CPU s | broker peak RSS MiB |${stealHead}`
      : '| load | offered records/s | records measured | p50 ms | p99 ms | p99.9 ms | max ms | send lag p99 ms | broker minor GC ms | broker full GCs (ms) | broker CPU s | broker peak RSS MiB |',
    go
      ? `|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${steal ? '---:|' : ''}`
      : '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const x of lat.rows) {
    const gc = gcCells(x.gc);
    const ack = go ? ` ${formatMs(x.ackP50Ms ?? null)} | ${formatMs(x.ackP99Ms ?? null)} |` : '';
    const genCpu = go ? ` ${x.generatorCpuSeconds?.toFixed(1) ?? 'n/a'} |` : '';
    out.push(
      `| ${x.loadPercent}% | ${formatInt(x.offeredRecordsPerSec)} | ${formatInt(x.latency.count)} | ${formatMs(x.latency.p50Ms)} | ${formatMs(x.latency.p99Ms)} | ${formatMs(x.latency.p999Ms)} | ${formatMs(x.latency.maxMs)} |${ack} ${formatMs(x.sendLagP99Ms)} |${genCpu} ${gc.minor} | ${gc.major} | ${cost(x.broker)} |${steal ? ` ${stolen(x)} |` : ''}`,
    );
  }
  out.push('');
  if (steal)
    out.push(
      `"CPU stolen" is the time the hypervisor gave ${pinned ? "the broker's CPU and the generator's" : 'the CPUs'} to something else during the row (the steal column of /proc/stat, which the guest cannot avoid): on a shared virtual machine it comes in stalls of milliseconds to tens of milliseconds, and every record in flight during one waits it out, so a row with more stolen time than its p99 share (1% of ${(Number(r.plan.latencyMs) / 1000).toFixed(0)} s is ${formatMs(Number(r.plan.latencyMs) / 100)} ms) can have its tail set by the host rather than by the broker.`,
      '',
    );
  if (lat.rows.some((x) => (x.gc?.majorCount ?? 0) > 0))
    out.push(
      '"broker full GCs" counts the mark-compacts during the row and gives the sum of their pauses: each stops the event loop for the whole of its pause, so every record in flight waits it out, and at a high utilization the queue it leaves drains slowly.',
      '',
    );
  const rowSeconds = (Number(r.plan.latencyWarmupMs) + Number(r.plan.latencyMs)) / 1000;
  if (go && rowSeconds > 0)
    out.push(
      `The broker's share of its CPU during each row (CPU seconds over the row's ${rowSeconds.toFixed(0)} s, warm-up included): ${lat.rows.map((x) => `${Math.round((x.broker.cpuSeconds / rowSeconds) * 100)}% at ${x.loadPercent}%`).join(', ')}. The maximum is measured closed loop, where many calls share each write round and event-loop turn; at a fixed rate each call pays its own way, so the broker is busier than the load figure says, and a row near saturation queues.`,
      '',
    );
  const w = diskNote ? r.limits?.appendWrite : undefined;
  if (w)
    out.push(
      `The disk under the same data directory, in the same run: a ${formatInt(w.bytes)}-byte write appended to a file (no fsync, as acks=1 with fsync interval writes) takes p50 ${formatMs(w.p50Ms)} ms, p99 ${formatMs(w.p99Ms)} ms, max ${formatMs(w.maxMs)} ms (${formatInt(w.count)} writes). Appends to one partition are written one round at a time, so a slow write holds every produce queued behind it.`,
      '',
    );
  // The generators pace themselves with timers about a millisecond coarse: a send lag p99 near 1 ms
  // is theirs at any load (1.07-1.10 ms in the 10% rows, the broker a quarter busy); past 2 ms it
  // says the generator was held back.
  for (const x of lat.rows)
    if (x.sendLagP99Ms > 2 && x.sendLagP99Ms >= x.latency.p99Ms / 2)
      out.push(
        `At ${x.loadPercent}% the load generator itself sent late (send lag p99 ${formatMs(x.sendLagP99Ms)} ms against a latency p99 of ${formatMs(x.latency.p99Ms)} ms): it could not offer this rate${go ? ' with 64 calls in flight (the broker answered too slowly)' : ' on this machine'}, so the row measures the backlog as much as the broker.`,
        '',
      );
}
