/** The benchmark's own arithmetic (issue 7): percentiles, ratios, pacing and /proc parsing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  batchesDue,
  cpuSecondsFromStat,
  ddBytesPerSec,
  formatMs,
  formatRatio,
  intendedSendMs,
  latencyHistogram,
  mbPerSec,
  memoryFromStatus,
  percentile,
  ratio,
  summarizeUs,
} from '../../bench/lib/stats.ts';

test('nearest-rank percentiles of sorted values', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 99.9), 100);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([2, 1], 50), /sorted/);
  assert.throws(() => percentile(xs, 101));
});

test('HdrHistogram summaries agree with exact percentiles within 3 significant digits', () => {
  const h = latencyHistogram();
  const values: number[] = [];
  // A skewed distribution in microseconds: mostly about 1 ms, a 0.2% tail at 250 ms.
  for (let i = 1; i <= 10_000; i++) {
    const us = i % 500 === 0 ? 250_000 : 900 + (i % 200);
    values.push(us);
    h.recordValue(us);
  }
  values.sort((a, b) => a - b);
  const s = summarizeUs(h);
  assert.equal(s.count, 10_000);
  for (const [p, got] of [
    [50, s.p50Ms],
    [99, s.p99Ms],
    [99.9, s.p999Ms],
  ] as const) {
    const exactMs = percentile(values, p) / 1000;
    assert.ok(Math.abs(got - exactMs) <= exactMs * 0.001 + 0.001, `p${p}: ${got} vs ${exactMs}`);
  }
  assert.equal(s.maxMs, 250);
  assert.ok(s.p999Ms <= s.maxMs, 'a percentile never exceeds the maximum');
});

test('milliseconds keep three significant digits or whole milliseconds, by the value as rounded', () => {
  assert.equal(formatMs(0.4494), '0.449');
  assert.equal(formatMs(0.9996), '1.00');
  assert.equal(formatMs(6.664), '6.66');
  assert.equal(formatMs(99.996), '100');
  assert.equal(formatMs(439.4), '439');
  assert.equal(formatMs(Number.NaN), 'n/a');
  assert.equal(formatMs(null), 'n/a');
});

test('ratios are null rather than infinite or made up', () => {
  assert.equal(ratio(600_000, 200_000), 3);
  assert.equal(ratio(1, 0), null);
  assert.equal(ratio(null, 5), null);
  assert.equal(ratio(5, undefined), null);
  assert.equal(ratio(Number.NaN, 5), null);
  assert.equal(formatRatio(null), 'n/a');
  assert.equal(formatRatio(3), '3.00x');
  assert.equal(formatRatio(0.0123), '0.012x');
  assert.equal(formatRatio(42.4), '42x');
  assert.equal(mbPerSec(2 ** 20, 100), 100);
});

test('open-loop pacing: batch i is due when its last record is, and the inverse counts due batches', () => {
  // 100,000 records/s in batches of 100: one batch a millisecond.
  assert.equal(intendedSendMs(0, 100_000, 100), 1);
  assert.equal(intendedSendMs(9, 100_000, 100), 10);
  assert.equal(batchesDue(0, 100_000, 100), 0);
  assert.equal(batchesDue(0.999, 100_000, 100), 0);
  assert.equal(batchesDue(1, 100_000, 100), 1);
  assert.equal(batchesDue(1000, 100_000, 100), 1000);
  // An awkward rate: the two functions stay each other's inverse.
  const rate = 123_457;
  const batch = 37;
  for (let i = 0; i < 5000; i++) {
    const t = intendedSendMs(i, rate, batch);
    assert.equal(batchesDue(t, rate, batch), i + 1, `batch ${i} at ${t} ms`);
    assert.equal(batchesDue(t - 1e-6, rate, batch), i);
  }
  // Over a second the offered records equal the rate, to within one batch.
  const offered = batchesDue(1000, rate, batch) * batch;
  assert.ok(Math.abs(offered - rate) < batch);
});

test('/proc parsing: CPU ticks after the command name, memory in kB', () => {
  // A command name with spaces and a parenthesis must not shift the fields.
  const stat =
    '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 11 0 12345 1000000 5000 18446744073709551615';
  assert.equal(cpuSecondsFromStat(stat, 100), 3);
  const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n';
  assert.deepEqual(memoryFromStatus(status), { rssBytes: 100 * 2 ** 20, peakRssBytes: 200 * 2 ** 20 });
  assert.equal(ddBytesPerSec('268435456 bytes (268 MB, 256 MiB) copied, 0.5 s, 537 MB/s\n'), 268435456 / 0.5);
  assert.throws(() => ddBytesPerSec('dd: error'), /cannot parse/);
});
