/**
 * The benchmark's own arithmetic (issue 7), kept free of I/O so that test/bench/ can check it:
 * percentiles, ratios, rate pacing, unit conversions and the parsing of /proc figures.
 */
import assert from 'node:assert';
import { build, type Histogram } from 'hdr-histogram-js';

/** Latency histograms record microseconds; one hour is the largest value they track. */
export const latencyHistogramMaxUs = 3_600_000_000;

export function latencyHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: latencyHistogramMaxUs,
    numberOfSignificantValueDigits: 3,
  });
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Percentiles of a histogram of microseconds, in milliseconds. */
export function summarizeUs(h: Histogram): LatencySummary {
  const ms = (us: number) => us / 1000;
  // A percentile reads the top of its bucket, which can exceed the exact maximum: cap it there.
  const at = (p: number) => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));
  return {
    count: h.totalCount,
    p50Ms: at(50),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: ms(h.maxValue),
    meanMs: ms(h.mean),
  };
}

/**
 * Nearest-rank percentile of values sorted ascending: the smallest value with at least `p` percent
 * of the values at or below it (the definition HdrHistogram follows, without its bucketing).
 */
export function percentile(sorted: readonly number[], p: number): number {
  assert(p >= 0 && p <= 100, `percentile must be within 0..100, got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  for (let i = 1; i < sorted.length; i++) assert(sorted[i - 1] <= sorted[i], 'values must be sorted');
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** ours / theirs, or null when either side is missing or theirs is not positive. */
export function ratio(ours: number | null | undefined, theirs: number | null | undefined): number | null {
  if (ours == null || theirs == null || !Number.isFinite(ours) || !Number.isFinite(theirs)) return null;
  if (theirs <= 0) return null;
  return ours / theirs;
}

export function formatRatio(r: number | null): string {
  if (r === null) return 'n/a';
  return r >= 10 ? `${r.toFixed(0)}x` : r >= 0.1 ? `${r.toFixed(2)}x` : `${r.toFixed(3)}x`;
}

export function formatInt(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return 'n/a';
  return Math.round(n).toLocaleString('en-US');
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return 'n/a';
  // The precision by the value as rounded, so that 99.996 reads 100 rather than 100.00.
  if (Math.round(ms * 100) / 100 >= 100) return ms.toFixed(0);
  return Math.round(ms * 1000) / 1000 >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function mib(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes)) return 'n/a';
  return (bytes / 2 ** 20).toFixed(0);
}

/** Payload megabytes (2^20 bytes) per second: records of `recordBytes` values at `recordsPerSec`. */
export function mbPerSec(recordsPerSec: number, recordBytes: number): number {
  return (recordsPerSec * recordBytes) / 2 ** 20;
}

/**
 * Open-loop pacing at a fixed offered rate: batch `i` (from 0) of `batch` records is due when the
 * last of its records is due, `(i + 1) * batch / ratePerSec` seconds after the start. Latency is
 * measured from this intended time, not from when the send happened, so that a stalled broker
 * cannot hide its stall by slowing the generator (coordinated omission).
 */
export function intendedSendMs(i: number, ratePerSec: number, batch: number): number {
  assert(ratePerSec > 0 && batch > 0 && i >= 0);
  return ((i + 1) * batch * 1000) / ratePerSec;
}

/** How many batches are due `elapsedMs` after the start at this pacing (the inverse of the above). */
export function batchesDue(elapsedMs: number, ratePerSec: number, batch: number): number {
  assert(ratePerSec > 0 && batch > 0);
  if (elapsedMs <= 0) return 0;
  // The epsilon absorbs the rounding of (i + 1) * batch * 1000 / rate back to i + 1.
  return Math.floor((elapsedMs * ratePerSec) / (batch * 1000) + 1e-9);
}

/** CPU seconds (user + system) from the text of /proc/<pid>/stat, with `ticksPerSec` (CLK_TCK). */
export function cpuSecondsFromStat(stat: string, ticksPerSec: number): number {
  // The command name (field 2) may hold spaces and parentheses; fields after the last ')' are fixed.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  assert(Number.isFinite(utime) && Number.isFinite(stime), `cannot parse /proc stat: ${stat}`);
  return (utime + stime) / ticksPerSec;
}

/** VmRSS and VmHWM (peak RSS) in bytes from the text of /proc/<pid>/status. */
export function memoryFromStatus(status: string): { rssBytes: number; peakRssBytes: number } {
  const kb = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  };
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

/** Bytes per second from dd's summary line ("N bytes (...) copied, S s, ..."). */
export function ddBytesPerSec(out: string): number {
  const m = /(\d+) bytes .* copied, ([\d.,]+) s/.exec(out);
  if (!m) throw new Error(`cannot parse dd output: ${out}`);
  return Number(m[1]) / Number(m[2].replace(',', '.'));
}
