/**
 * The disk's write latency (issue 7), a machine limit shown beside the broker's figures: `count`
 * times, append `bytes` to a file in `dir` and, unless `sync` is false, fdatasync it, timing each
 * call in an HdrHistogram of microseconds. With `ratePerSec`, the writes are paced at that rate (as a
 * partition's write rounds are under load) instead of back to back. Prints one JSON line.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { latencyHistogram, summarizeUs } from '../lib/stats.ts';

const p = JSON.parse(process.argv[2]) as {
  dir: string;
  count: number;
  bytes: number;
  sync?: boolean;
  ratePerSec?: number;
};
const sync = p.sync !== false;
const dir = mkdtempSync(path.join(p.dir, 'bench-fsync-'));
const fd = openSync(path.join(dir, 'f.bin'), 'w');
const buf = Buffer.alloc(p.bytes, 'x');
const h = latencyHistogram();
const pause = new Int32Array(new SharedArrayBuffer(4));
const started = performance.now();
try {
  for (let i = 0; i < p.count; i++) {
    if (p.ratePerSec) {
      const wait = started + (i * 1000) / p.ratePerSec - performance.now();
      if (wait > 0) Atomics.wait(pause, 0, 0, wait);
    }
    const t = performance.now();
    writeSync(fd, buf);
    if (sync) fdatasyncSync(fd);
    h.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
  }
} finally {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ ...summarizeUs(h), syncsPerSec: p.count / seconds, bytes: p.bytes }));
