/**
 * Storage engine benchmark (issue 2): append and read throughput of one partition log, beside the
 * disk's sequential write bandwidth measured in the same run with `dd ... conv=fdatasync`.
 *
 *   npm run bench:storage [-- --mb 512 --dir /path/on/the/disk/to/test]
 *
 * Records are 100 bytes, in batches of 1000 (about 100 KiB a batch, uncompressed), encoded before the
 * clock starts: the broker receives batches already encoded by producers. Reported numbers are
 * throughput and ratios to the dd figure, never pass/fail.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writevSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeInlineBytesMax } from '../src/limits.ts';
import { encodeBatch } from '../src/records/batch.ts';
import type { FsyncPolicy } from '../src/storage/log-config.ts';
import { PartitionLog } from '../src/storage/partition-log.ts';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '512' },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const totalBytes = Number(values.mb) * 1024 * 1024;
const root = values.dir ?? tmpdir();
const recordBytes = 100;
const recordsPerBatch = 1000;

function ddBandwidth(): number {
  const dir = mkdtempSync(path.join(root, 'bench-dd-'));
  try {
    // dd reports on stderr; the shell folds it into what execFileSync returns.
    const out = execFileSync(
      'sh',
      [
        '-c',
        `dd if=/dev/zero of=${path.join(dir, 'dd.bin')} bs=1M count=${Math.round(totalBytes / 2 ** 20)} conv=fdatasync 2>&1`,
      ],
      { encoding: 'utf8' },
    );
    const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(out);
    if (!m) throw new Error(`cannot parse dd output: ${out}`);
    return Number(m[1]) / Number(m[2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function makePool(n: number, perBatch: number): Buffer[] {
  const value = Buffer.alloc(recordBytes, 'x');
  return Array.from({ length: n }, () =>
    encodeBatch({ records: Array.from({ length: perBatch }, () => ({ key: null, value })) }),
  );
}

interface Result {
  name: string;
  records: number;
  bytes: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
}

function result(
  name: string,
  batches: number,
  batchBytes: number,
  seconds: number,
  perBatch: number,
): Result {
  const records = batches * perBatch;
  const bytes = batches * batchBytes;
  return {
    name,
    records,
    bytes,
    seconds,
    recordsPerSec: records / seconds,
    mbPerSec: bytes / seconds / 2 ** 20,
  };
}

async function appendRun(
  fsync: FsyncPolicy,
  appenders: number,
  budgetBytes: number,
  perBatch = recordsPerBatch,
): Promise<{ r: Result; log: PartitionLog; dir: string }> {
  const dir = mkdtempSync(path.join(root, 'bench-log-'));
  const log = await PartitionLog.open({ dir, config: { fsync, fsyncIntervalMs: 1000, retentionMs: -1 } });
  const pool = makePool(appenders * 4, perBatch);
  const batchBytes = pool[0].length;
  const batches = Math.max(appenders, Math.floor(budgetBytes / batchBytes));
  let issued = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: appenders }, async (_, a) => {
      let k = 0;
      while (issued < batches) {
        issued++;
        // Each appender cycles through its own buffers; one is reused only after its append resolved.
        await log.append(pool[a * 4 + (k++ % 4)]);
      }
    }),
  );
  await log.flush();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    r: result(
      `append fsync=${fsync} appenders=${appenders}${perBatch === recordsPerBatch ? '' : `, ${perBatch}-record batches`}`,
      batches,
      batchBytes,
      seconds,
      perBatch,
    ),
    log,
    dir,
  };
}

async function readRun(log: PartitionLog): Promise<Result> {
  let offset = log.logStartOffset;
  let bytes = 0;
  const started = process.hrtime.bigint();
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, 1024 * 1024);
    bytes += r.bytes.length;
    offset = r.nextOffset;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const records = log.logEndOffset - log.logStartOffset;
  return {
    name: 'read 1 MiB at a time (page cache)',
    records,
    bytes,
    seconds,
    recordsPerSec: records / seconds,
    mbPerSec: bytes / seconds / 2 ** 20,
  };
}

/**
 * What one write of `size` bytes at the end of a file costs, in µs: as a synchronous writev on the
 * event loop, and as a FileHandle writev, which hops to libuv's thread pool and back. The log writes a
 * round on the event loop up to writeInlineBytesMax (src/limits.ts), where the first is the cheaper.
 */
async function writeCost(size: number): Promise<{ size: number; inlineUs: number; poolUs: number }> {
  const dir = mkdtempSync(path.join(root, 'bench-write-'));
  const file = await open(path.join(dir, 'w.bin'), 'w+');
  try {
    const buffers = [Buffer.alloc(size, 'x')];
    // 32 MiB of writes per way, at least 200 of them, so that neither runs into dirty-page throttling.
    const n = Math.max(200, Math.floor((32 * 2 ** 20) / size));
    let started = process.hrtime.bigint();
    for (let i = 0, pos = 0; i < n; i++) pos += (await file.writev(buffers, pos)).bytesWritten;
    const poolUs = Number(process.hrtime.bigint() - started) / 1e3 / n;
    await file.truncate(0);
    started = process.hrtime.bigint();
    for (let i = 0, pos = 0; i < n; i++) pos += writevSync(file.fd, buffers, pos);
    const inlineUs = Number(process.hrtime.bigint() - started) / 1e3 / n;
    return { size, inlineUs, poolUs };
  } finally {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const writeCosts = [];
for (const size of [4096, 16384, 65536, 262144, 1048576]) writeCosts.push(await writeCost(size));

const results: Result[] = [];
const ddBytesPerSec = ddBandwidth();
const ddMbPerSec = ddBytesPerSec / 2 ** 20;

// The last two rows use 1-record batches, where each append is dominated by its fdatasync rather than
// by bandwidth: they show group commit when the disk's bandwidth cannot cap the ratio.
for (const [fsync, appenders, share, perBatch] of [
  ['never', 4, 1, recordsPerBatch],
  ['interval', 4, 1, recordsPerBatch],
  ['always', 1, 0.25, recordsPerBatch],
  ['always', 8, 0.25, recordsPerBatch],
  ['always', 1, 1 / 256, 1],
  ['always', 8, 1 / 256, 1],
] as [FsyncPolicy, number, number, number][]) {
  const { r, log, dir } = await appendRun(fsync, appenders, totalBytes * share, perBatch);
  results.push(r);
  if (fsync === 'interval') results.push(await readRun(log));
  await log.close();
  rmSync(dir, { recursive: true, force: true });
}

const always1 = results.find((r) => r.name === 'append fsync=always appenders=1')!;
const always8 = results.find((r) => r.name === 'append fsync=always appenders=8')!;
const small1 = results.find((r) => r.name === 'append fsync=always appenders=1, 1-record batches')!;
const small8 = results.find((r) => r.name === 'append fsync=always appenders=8, 1-record batches')!;
if (values.json) {
  console.log(JSON.stringify({ ddMbPerSec, results, writeCosts }, null, 2));
} else {
  console.log(`disk sequential write (dd conv=fdatasync, ${values.mb} MiB): ${ddMbPerSec.toFixed(0)} MB/s\n`);
  console.log('| scenario | records/s | MB/s | vs dd |');
  console.log('|---|---:|---:|---:|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${Math.round(r.recordsPerSec).toLocaleString('en-US')} | ${r.mbPerSec.toFixed(0)} | ${(r.mbPerSec / ddMbPerSec).toFixed(2)}x |`,
    );
  }
  console.log(
    `\none write at the end of a file, µs (the log writes rounds up to ${writeInlineBytesMax / 1024} KiB on the event loop):\n`,
  );
  console.log('| bytes | on the event loop | on the thread pool |');
  console.log('|---:|---:|---:|');
  for (const w of writeCosts)
    console.log(`| ${w.size} | ${w.inlineUs.toFixed(1)} | ${w.poolUs.toFixed(1)} |`);
  console.log(
    `\ngroup commit: 8 appenders reach ${(always8.recordsPerSec / always1.recordsPerSec).toFixed(1)}x the throughput of 1 under fsync=always with 1000-record batches (8 reach ${(always8.mbPerSec / ddMbPerSec).toFixed(2)}x of dd, which caps the ratio), and ${(small8.recordsPerSec / small1.recordsPerSec).toFixed(1)}x with 1-record batches`,
  );
}
