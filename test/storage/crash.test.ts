/**
 * Crash consistency with a real process: a child appends with fsync=always and reports each
 * acknowledged batch; the parent SIGKILLs it at random moments, many times, reopening the log after
 * each kill. Every acknowledged batch must be present and intact, and no partial batch may be visible.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { decodeBatch, forEachBatch } from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { Segment } from '../../src/storage/segment.ts';
import { tempDir } from '../helpers/tmp.ts';
import { readAll } from './helpers.ts';

const child = new URL('./crash-child.ts', import.meta.url).pathname;
const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);

/** Runs the child until it has acknowledged something, then kills it after a random delay. */
async function runAndKill(dir: string, mode: string, runSeed: number, delayMs: number) {
  const proc = spawn(process.execPath, [child, dir, mode, String(runSeed)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acks: { base: number; last: number; tag: string; keys: string[] }[] = [];
  let buffered = '';
  let ready = false;
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [kind, a, b, tag, keys] = line.split(' ');
      if (kind === 'ready') ready = true;
      if (kind === 'ack') acks.push({ base: Number(a), last: Number(b), tag, keys: keys.split(',') });
    }
  });
  const exited = once(proc, 'exit');
  while (!ready || acks.length === 0) {
    if (proc.exitCode !== null) throw new Error(`child exited with ${proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, delayMs));
  proc.kill('SIGKILL');
  await exited;
  return acks;
}

/**
 * No segment's records run into the next segment's offsets. Reads go by base offset and would not show
 * such an overlap (a merge whose replaced segments survived next to it), so each file is scanned.
 */
async function assertSegmentsDisjoint(log: PartitionLog) {
  for (const [i, seg] of log.segments.slice(0, -1).entries()) {
    const fresh = await Segment.openExisting(log.dir, seg.baseOffset);
    try {
      const scan = await fresh.rebuild(log.config.indexIntervalBytes);
      assert.equal(scan.stoppedBecause, undefined, `closed segment ${seg.baseOffset} is whole`);
      assert.ok(
        scan.nextOffset <= log.segments[i + 1].baseOffset,
        `segment ${seg.baseOffset} overlaps the next`,
      );
    } finally {
      await fresh.file.close();
    }
  }
}

function decodeAll(bytes: Buffer) {
  const records = new Map<number, { key: string; value: string }>();
  const end = forEachBatch(bytes, (pos, size) => {
    for (const r of decodeBatch(bytes.subarray(pos, pos + size)).records) {
      assert.ok(!records.has(r.offset), `offset ${r.offset} is served once`);
      records.set(r.offset, { key: r.key!.toString(), value: r.value!.toString() });
    }
  });
  assert.equal(end, bytes.length, 'the log holds only whole batches');
  return records;
}

test(`every acknowledged append survives SIGKILL at random moments (seed ${seed})`, async (t) => {
  const dir = await tempDir(t);
  let rng = seed;
  const acked: { base: number; last: number; tag: string }[] = [];
  for (let round = 0; round < 12; round++) {
    rng = (rng * 1103515245 + 12345) % 2147483648;
    acked.push(...(await runAndKill(dir, 'append', rng, rng % 150)));
    const log = await PartitionLog.open({ dir, config: { fsync: 'always', segmentBytes: 64 * 1024 } });
    const records = decodeAll(await readAll(log));
    for (const a of acked) {
      for (let o = a.base; o <= a.last; o++) {
        const r = records.get(o);
        assert.ok(
          r,
          `round ${round}: acknowledged offset ${o} (${a.tag}) is missing (replay: CRASH_SEED=${seed})`,
        );
        assert.ok(r.value.startsWith(`${a.tag}:${o - a.base}:`), `offset ${o} holds ${r.value.slice(0, 40)}`);
      }
    }
    // Offsets are dense: no gaps, nothing past the end.
    assert.equal(records.size, log.logEndOffset);
    await log.close();
  }
});

test(`compaction killed at random moments leaves a correct, readable log (seed ${seed})`, async (t) => {
  const dir = await tempDir(t);
  let rng = seed + 1;
  // For each key, the newest offset at which an append of it was acknowledged, over all rounds.
  const newestAcked = new Map<string, number>();
  for (let round = 0; round < 10; round++) {
    rng = (rng * 1103515245 + 12345) % 2147483648;
    const acks = await runAndKill(dir, 'compact', rng, 50 + (rng % 250));
    for (const a of acks) {
      for (const [i, key] of a.keys.entries())
        newestAcked.set(key, Math.max(newestAcked.get(key) ?? -1, a.base + i));
    }
    const log = await PartitionLog.open({
      dir,
      config: { fsync: 'always', segmentBytes: 8 * 1024, cleanupPolicy: { delete: false, compact: true } },
    });
    const records = decodeAll(await readAll(log));
    const newestInLog = new Map<string, number>();
    let prev = -1;
    for (const [offset, r] of records) {
      assert.ok(offset > prev, 'offsets increase');
      prev = offset;
      newestInLog.set(r.key, offset);
    }
    // Compaction may remove a record only when a newer record of its key exists: so the log's newest
    // record of each key is at or after the newest acknowledged one.
    for (const [key, offset] of newestAcked) {
      const newest = newestInLog.get(key);
      assert.ok(
        newest !== undefined && newest >= offset,
        `round ${round}, key ${key}: newest acknowledged ${offset}, log has ${newest} (CRASH_SEED=${seed})`,
      );
      const r = records.get(newest)!;
      assert.equal(r.key, key);
    }
    assert.ok(log.logEndOffset >= Math.max(...acks.map((a) => a.last + 1)));
    await assertSegmentsDisjoint(log);
    await log.close();
  }
});
