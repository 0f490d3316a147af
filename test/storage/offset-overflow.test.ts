/**
 * Issue 10 finding 1: a segment's relative offsets (int32 in its indexes) never leave their range,
 * whatever offsets the batches claim; and a log written by a release that let them overflow opens,
 * reads and restarts.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  computeBatchCrc,
  F,
  forEachBatch,
  lastOffsetOf,
  readInt64,
  writeInt64,
} from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { segmentName } from '../../src/storage/segment.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch, recordsOf } from './helpers.ts';

const int32Max = 2 ** 31 - 1;

/** A one-record batch at `base` that claims `delta + 1` offsets (as a hostile or buggy producer may). */
function claimingBatch(tag: string, base: number, delta: number): Buffer {
  const b = makeBatch(tag, 1);
  writeInt64(b, F.baseOffset, base);
  b.writeInt32BE(delta, F.lastOffsetDelta);
  b.writeInt32BE(Math.min(delta + 1, int32Max), F.recordsCount);
  b.writeUInt32BE(computeBatchCrc(b, 0, b.length), F.crc);
  return b;
}

/** Every batch of every segment file, checked to fit its segment's int32 relative offsets. */
async function assertSegmentsInRange(dir: string): Promise<{ base: number; last: number }[]> {
  const out: { base: number; last: number }[] = [];
  const logs = (await readdir(dir)).filter((n) => /^\d{20}\.log$/.test(n)).sort();
  for (const name of logs) {
    const segBase = Number(name.slice(0, 20));
    const bytes = await readFile(path.join(dir, name));
    const end = forEachBatch(bytes, (pos) => {
      const base = readInt64(bytes, pos + F.baseOffset);
      const last = lastOffsetOf(bytes, pos);
      assert.ok(base >= segBase, `${name}: batch ${base} below its segment`);
      assert.ok(last - segBase <= int32Max, `${name}: batch ${base}..${last} overflows its segment`);
      out.push({ base, last });
    });
    assert.equal(end, bytes.length, `${name} holds whole batches only`);
  }
  return out;
}

/**
 * The first batch served for each base offset (its records are not decoded: a batch that claims more
 * records than it holds does not decode).
 */
async function servedAt(log: PartitionLog, bases: number[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const base of bases) {
    const { bytes } = await log.read(base, 1);
    assert.equal(readInt64(bytes, F.baseOffset), base, `the read at ${base} starts with its batch`);
    out.push(Buffer.from(bytes.subarray(0, bytes.readInt32BE(F.batchLength) + 12)));
  }
  return out;
}

test('a batch claiming 2^31-1 offsets rolls the segment before the next batch could overflow', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  await log.append(makeBatch('first', 2));
  // Another engineer makes the leader refuse a count its records do not match; until then it is
  // accepted. Either way, nothing may overflow.
  const claimed = await log.append(claimingBatch('huge', 0, int32Max - 1)).catch((err: { code: string }) => {
    assert.ok(['CORRUPT_MESSAGE', 'INVALID_RECORD'].includes(err.code), err.code);
    return null;
  });
  for (let i = 0; i < 3; i++) await log.append(makeBatch(`after${i}`, 2));
  let end = log.logEndOffset;
  if (claimed) assert.equal(end, 2 + int32Max + 6);
  await log.close();
  const batches = await assertSegmentsInRange(dir);
  assert.equal(batches.length, claimed ? 5 : 4);
  for (const reopenKind of ['clean', 'unclean']) {
    if (reopenKind === 'unclean') await rm(path.join(dir, 'clean-shutdown'), { force: true });
    const again = await PartitionLog.open({ dir });
    assert.equal(again.logEndOffset, end, reopenKind);
    const got = await servedAt(
      again,
      batches.map((b) => b.base),
    );
    assert.deepEqual(
      recordsOf(got[claimed ? 4 : 3]).map((r) => r.value),
      ['after2:0:', 'after2:1:'],
    );
    assert.equal((await again.append(makeBatch('more', 1))).baseOffset, end);
    end++;
    batches.push({ base: end - 1, last: end - 1 });
    await again.close();
  }
});

test('follower batches at any offsets keep every segment within int32 relative offsets', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 33 }), fc.integer({ min: 0, max: int32Max })), {
        minLength: 1,
        maxLength: 12,
      }),
      fc.boolean(),
      async (steps, oneAppend) => {
        const dir = await tempDir();
        const log = await PartitionLog.open({ dir, config: { fsync: 'never' } });
        let next = 0;
        const batches: Buffer[] = [];
        for (const [gap, delta] of steps) {
          const base = next + gap;
          batches.push(claimingBatch(`b${base}`, base, delta));
          next = base + delta + 1;
        }
        if (oneAppend) await log.append(Buffer.concat(batches), { assignOffsets: false });
        else for (const b of batches) await log.append(b, { assignOffsets: false });
        assert.equal(log.logEndOffset, next);
        const bases = batches.map((b) => readInt64(b, F.baseOffset));
        const before = await servedAt(log, bases);
        await log.close();
        const onDisk = await assertSegmentsInRange(dir);
        assert.deepEqual(
          onDisk.map((b) => b.base),
          bases,
        );
        await rm(path.join(dir, 'clean-shutdown'));
        const again = await PartitionLog.open({ dir, config: { fsync: 'never' } });
        assert.equal(again.logEndOffset, next);
        assert.deepEqual(await servedAt(again, bases), before);
        await again.close();
        await rm(dir, { recursive: true, force: true });
      },
    ),
    { numRuns: 40 },
  );
});

test('a follower append whose batches go backwards is refused whole, with nothing written', async (t) => {
  const log = await PartitionLog.open({ dir: await tempDir(t) });
  t.after(() => log.close());
  const bytes = Buffer.concat([claimingBatch('a', 10, 4), claimingBatch('b', 12, 0)]);
  await assert.rejects(log.append(bytes, { assignOffsets: false }), { code: 'INVALID_RECORD' });
  assert.equal(log.logEndOffset, 0);
  assert.equal(log.sizeBytes, 0);
  const past = claimingBatch('far', Number.MAX_SAFE_INTEGER - 3, 10);
  await assert.rejects(log.append(past, { assignOffsets: false }), { code: 'INVALID_RECORD' });
});

test('a log written by an older release with overflowing segments opens, reads, and restarts', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: int32Max })), {
        minLength: 2,
        maxLength: 10,
      }),
      fc.integer({ min: 0, max: 3 }),
      async (steps, cutShort) => {
        const dir = await tempDir();
        // Everything in one segment file at base 0, as the old release wrote it, without indexes.
        let next = 0;
        const batches: Buffer[] = [];
        for (const [gap, delta] of steps) {
          const base = next + gap;
          batches.push(claimingBatch(`b${base}`, base, delta));
          next = base + delta + 1;
        }
        const bases = batches.map((b) => readInt64(b, F.baseOffset));
        const all = Buffer.concat(batches);
        await writeFile(path.join(dir, `${segmentName(0)}.log`), all);
        if (cutShort === 2) {
          // The old release could even close cleanly: no index entry for the overflowing batches, a
          // time index of one entry, and a marker that matches the segment.
          await writeFile(path.join(dir, `${segmentName(0)}.index`), Buffer.alloc(0));
          const ti = Buffer.alloc(12);
          ti.writeBigInt64BE(BigInt(readInt64(batches[0], F.maxTimestamp)), 0);
          await writeFile(path.join(dir, `${segmentName(0)}.timeindex`), ti);
          const marker = { version: 1, activeBaseOffset: 0, activeBytes: all.length, nextOffset: next };
          await writeFile(path.join(dir, 'clean-shutdown'), JSON.stringify(marker));
        }
        if (cutShort === 1) {
          // A split cut short after its copy was written but before it was renamed in.
          await writeFile(
            path.join(dir, `${segmentName(bases[1])}.log.split`),
            all.subarray(batches[0].length),
          );
        }
        const log = await PartitionLog.open({ dir });
        assert.equal(log.logEndOffset, next);
        const expected = batches.map((b) => Buffer.from(b));
        assert.deepEqual(await servedAt(log, bases), expected);
        const appended = await log.append(makeBatch('new', 3));
        assert.equal(appended.baseOffset, next);
        await log.close();
        await assertSegmentsInRange(dir);
        assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.split')), 'no split leftovers');
        const again = await PartitionLog.open({ dir });
        assert.equal(again.logEndOffset, next + 3);
        assert.deepEqual(await servedAt(again, bases), expected);
        await again.close();
        await rm(dir, { recursive: true, force: true });
      },
    ),
    { numRuns: 40 },
  );
});
