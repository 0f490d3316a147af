/**
 * The disk's fdatasync latency (issue 7), a machine limit shown beside the broker's fsync=always
 * figures: `count` times, append `bytes` to a file in `dir` and fdatasync it, timing each call in an
 * HdrHistogram of microseconds. Prints one JSON line.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { latencyHistogram, summarizeUs } from '../lib/stats.ts';

const p = JSON.parse(process.argv[2]) as { dir: string; count: number; bytes: number };
const dir = mkdtempSync(path.join(p.dir, 'bench-fsync-'));
const fd = openSync(path.join(dir, 'f.bin'), 'w');
const buf = Buffer.alloc(p.bytes, 'x');
const h = latencyHistogram();
const started = performance.now();
try {
  for (let i = 0; i < p.count; i++) {
    const t = performance.now();
    writeSync(fd, buf);
    fdatasyncSync(fd);
    h.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
  }
} finally {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
}
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ ...summarizeUs(h), syncsPerSec: p.count / seconds, bytes: p.bytes }));
