/** The suite's hand-written SVG charts (issue 7) are well-formed XML and show what they are given. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderCharts } from '../../bench/lib/report.ts';
import type { Results } from '../../bench/lib/results.ts';
import { barChartSvg, escapeXml, niceCeil } from '../../bench/lib/svg.ts';

/** A small well-formedness check: balanced, properly nested tags and quoted attributes, no stray '&' or '<'. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  let roots = 0;
  while (i < svg.length) {
    const lt = svg.indexOf('<', i);
    const text = svg.slice(i, lt === -1 ? svg.length : lt);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(text), `stray & in text: ${text}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(svg);
    assert.ok(m, `malformed tag at ${lt}: ${svg.slice(lt, lt + 60)}`);
    const [, close, name, , selfClose] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
    i = tag.lastIndex;
  }
  assert.deepEqual(stack, [], 'every element is closed');
  assert.equal(roots, 1, 'one root element');
}

test('a bar chart is one well-formed <svg> with a bar per value and escaped labels', () => {
  const svg = barChartSvg({
    title: 'Throughput <records/s> & "more"',
    yLabel: 'records/s',
    series: ['a & b', 'c'],
    groups: [
      { label: 'batch 1', values: [10, 20] },
      { label: 'batch <100>', values: [1000, null] },
    ],
  });
  assertWellFormed(svg);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.equal((svg.match(/<rect [^>]*><title>/g) ?? []).length, 3, 'null draws no bar');
  assert.ok(svg.includes('Throughput &lt;records/s&gt; &amp; &quot;more&quot;'));
  assert.ok(svg.includes('batch &lt;100&gt;'));
});

test('log-scale bars grow with their values and stay inside the plot', () => {
  const svg = barChartSvg({
    title: 't',
    yLabel: 'ms',
    logScale: true,
    series: ['p50', 'p99'],
    groups: [{ label: 'g', values: [0.5, 50] }],
  });
  assertWellFormed(svg);
  const heights = [
    ...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="#\w+"><title>/g),
  ].map((m) => ({
    y: Number(m[1]),
    h: Number(m[2]),
  }));
  assert.equal(heights.length, 2);
  assert.ok(heights[1].h > heights[0].h);
  for (const b of heights) assert.ok(b.y >= 50 && b.h >= 0 && b.y + b.h <= 480 - 90 + 0.1);
});

test('a chart rejects groups whose values do not match the series', () => {
  assert.throws(() =>
    barChartSvg({ title: 't', yLabel: 'y', series: ['a', 'b'], groups: [{ label: 'g', values: [1] }] }),
  );
});

test('axis tops round up to 1, 2 or 5 times a power of ten', () => {
  assert.equal(niceCeil(0), 1);
  assert.equal(niceCeil(7), 10);
  assert.equal(niceCeil(101), 200);
  assert.equal(niceCeil(480_000), 500_000);
  assert.equal(niceCeil(1000), 1000);
  assert.equal(escapeXml(`<a href='x'>&</a>`), '&lt;a href=&apos;x&apos;&gt;&amp;&lt;/a&gt;');
});

test('the suite renders both charts from results', () => {
  const cost = { cpuSeconds: 1, peakRssBytes: 1, rssBytes: 1, fds: 1, peakIsPerScenario: true };
  const results = {
    mode: 'quick',
    startedAt: '',
    plan: {},
    machine: {},
    notes: [],
    produce: [1, 100, 1000].map((batch) => ({
      recordBytes: 100,
      batch,
      acks: 1,
      fsync: 'interval',
      recordsPerSec: batch * 500,
      mbPerSec: 1,
      clientCpuSeconds: 1,
      broker: cost,
    })),
    latency: {
      maxRecordsPerSec: 1000,
      batch: 100,
      recordBytes: 100,
      rows: [10, 50, 80].map((loadPercent) => ({
        loadPercent,
        offeredRecordsPerSec: loadPercent * 10,
        sentRecords: 1,
        sendLagP99Ms: 1,
        latency: { count: 1, p50Ms: 1, p99Ms: 2, p999Ms: 3, maxMs: 4, meanMs: 1 },
        broker: cost,
      })),
    },
  } as unknown as Results;
  const charts = renderCharts(results);
  assert.deepEqual(Object.keys(charts).sort(), ['latency-percentiles.svg', 'throughput-by-batch.svg']);
  for (const svg of Object.values(charts)) assertWellFormed(svg);
  assert.equal((charts['throughput-by-batch.svg'].match(/<rect [^>]*><title>/g) ?? []).length, 3);
  assert.equal((charts['latency-percentiles.svg'].match(/<rect [^>]*><title>/g) ?? []).length, 12);
});
