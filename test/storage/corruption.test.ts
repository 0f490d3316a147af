/**
 * Issue 10 finding 9: damage to closed segments (a flipped byte, an index shifted by a few bytes, a
 * file cut short) is detected and answered with CORRUPT_MESSAGE, never served, never skipped over in
 * silence, counted once per place, and leaves the log writable and restartable.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isBrokerError } from '../../src/errors.ts';
import { F, forEachBatch, lastOffsetOf, readInt64 } from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch } from './helpers.ts';

const config = { segmentBytes: 4096, indexIntervalBytes: 256, fsync: 'never' as const };

interface Original {
  base: number;
  last: number;
  bytes: Buffer;
  /** The segment file holding the batch, and its position there. */
  file: string;
  position: number;
}

/** A closed log of several segments; returns every batch as stored on disk. */
async function buildLog(dir: string, sizes: number[]): Promise<Original[]> {
  const log = await PartitionLog.open({ dir, config });
  for (const [i, v] of sizes.entries()) await log.append(makeBatch(`b${i}`, 1 + (i % 4), { valueBytes: v }));
  await log.close();
  const out: Original[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.log')).sort()) {
    const bytes = await readFile(path.join(dir, name));
    forEachBatch(bytes, (pos, size) => {
      out.push({
        base: readInt64(bytes, pos + F.baseOffset),
        last: lastOffsetOf(bytes, pos),
        bytes: Buffer.from(bytes.subarray(pos, pos + size)),
        file: name,
        position: pos,
      });
    });
  }
  return out;
}

/**
 * Reads every offset and checks the answers: each is either CORRUPT_MESSAGE or whole original batches,
 * the first holding the offset asked for (no skip), each the next one of the log. Returns the offsets
 * that answered with an error.
 */
async function checkEveryRead(
  log: PartitionLog,
  originals: Original[],
  maxBytes: number,
): Promise<Set<number>> {
  const failed = new Set<number>();
  const byBase = new Map(originals.map((o, i) => [o.base, i]));
  for (let offset = 0; offset < log.logEndOffset; offset++) {
    let bytes: Buffer;
    try {
      ({ bytes } = await log.read(offset, maxBytes));
    } catch (err) {
      assert.ok(isBrokerError(err, 'CORRUPT_MESSAGE'), `offset ${offset}: ${String(err)}`);
      failed.add(offset);
      continue;
    }
    assert.ok(bytes.length > 0, `offset ${offset} below the log end reads something or fails`);
    let expectIndex = -1;
    forEachBatch(bytes, (pos, size) => {
      const base = readInt64(bytes, pos + F.baseOffset);
      const i = byBase.get(base);
      assert.ok(i !== undefined, `offset ${offset}: served a batch at ${base} that was never written`);
      if (expectIndex < 0) {
        assert.ok(
          originals[i].base <= offset && offset <= originals[i].last,
          `offset ${offset}: skipped to ${base}`,
        );
      } else {
        assert.equal(i, expectIndex, `offset ${offset}: batches served in order`);
      }
      assert.deepEqual(
        bytes.subarray(pos, pos + size),
        originals[i].bytes,
        `offset ${offset}: batch ${base} intact`,
      );
      expectIndex = i + 1;
    });
  }
  return failed;
}

/** After any damage: the log takes appends, closes, reopens, and still serves what is intact. */
async function checkStillWorks(dir: string, originals: Original[], failed: Set<number>): Promise<void> {
  const log = await PartitionLog.open({ dir, config });
  const end = log.logEndOffset;
  assert.equal((await log.append(makeBatch('after', 2))).baseOffset, end);
  await log.close();
  const again = await PartitionLog.open({ dir, config });
  try {
    for (const o of originals) {
      if (failed.has(o.base)) continue;
      const { bytes } = await again.read(o.base, 1);
      assert.deepEqual(bytes, o.bytes, `batch ${o.base} still served after a restart`);
    }
    await assert.rejects(again.read([...failed][0] ?? -1, 1), (err: Error) =>
      isBrokerError(err, failed.size > 0 ? 'CORRUPT_MESSAGE' : 'OFFSET_OUT_OF_RANGE'),
    );
  } finally {
    await again.close();
  }
}

const sizesArb = fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 30, maxLength: 60 });

test('a flipped byte anywhere a CRC covers, in a closed segment, fails exactly the reads of its batch', async () => {
  await fc.assert(
    fc.asyncProperty(
      sizesArb,
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 8192 }),
      async (sizes, pickBatch, pickByte, xor, reopen, maxBytes) => {
        const dir = await tempDir();
        const originals = await buildLog(dir, sizes);
        const files = [...new Set(originals.map((o) => o.file))];
        const closed = originals.filter((o) => o.file !== files.at(-1));
        fc.pre(closed.length > 0);
        const victim = closed[pickBatch % closed.length];
        // Every byte but baseOffset (0-7) and partitionLeaderEpoch (12-15), which Kafka's CRC does not cover.
        const positions = [...Array(victim.bytes.length).keys()].filter((b) => b >= 8 && (b < 12 || b >= 16));
        const at = positions[pickByte % positions.length];
        const log = reopen ? null : await PartitionLog.open({ dir, config });
        const file = path.join(dir, victim.file);
        const bytes = await readFile(file);
        bytes[victim.position + at] ^= xor;
        await writeFile(file, bytes);
        const reader = log ?? (await PartitionLog.open({ dir, config }));
        const failed = await checkEveryRead(reader, originals, maxBytes);
        for (let o = victim.base; o <= victim.last; o++)
          assert.ok(failed.has(o), `offset ${o} of the bad batch fails`);
        assert.ok(reader.corruptions > 0, 'the corruption is counted');
        await reader.close();
        await checkStillWorks(dir, originals, failed);
        await rm(dir, { recursive: true, force: true });
      },
    ),
    { numRuns: 60 },
  );
});

test('a batch whose last offset was lowered is never walked past: its lost offsets fail, not skip', async () => {
  // The gap such a batch opens before the next one looks like compaction's: only its CRC tells.
  const sizes = Array.from({ length: 40 }, (_, i) => 40 + ((i * 37) % 300));
  for (const where of ['inside', 'last of'] as const) {
    const dir = await tempDir();
    const originals = await buildLog(dir, sizes);
    const files = [...new Set(originals.map((o) => o.file))];
    const inFirst = originals.filter((o) => o.file === files[0]);
    const candidates = where === 'inside' ? inFirst.slice(1, -1) : inFirst.slice(-1);
    const victim = candidates.find((o) => o.last - o.base >= 2);
    assert.ok(victim, `a batch of 3 records or more ${where} the first segment`);
    const file = path.join(dir, victim.file);
    const bytes = await readFile(file);
    bytes.writeInt32BE(0, victim.position + F.lastOffsetDelta);
    await writeFile(file, bytes);
    const log = await PartitionLog.open({ dir, config });
    for (const maxBytes of [1, 8192]) {
      const failed = await checkEveryRead(log, originals, maxBytes);
      for (let o = victim.base; o <= victim.last; o++)
        assert.ok(failed.has(o), `${where} a segment, maxBytes ${maxBytes}: offset ${o} fails`);
    }
    await log.close();
    await checkStillWorks(
      dir,
      originals,
      new Set(Array.from({ length: victim.last - victim.base + 1 }, (_, i) => victim.base + i)),
    );
    await rm(dir, { recursive: true, force: true });
  }
});

test('an offset index shifted by a few bytes is noticed and rebuilt: every read stays exact', async () => {
  await fc.assert(
    fc.asyncProperty(
      sizesArb,
      fc.nat(),
      fc.constantFrom('positions', 'one entry', 'rotate'),
      fc.integer({ min: 1, max: 7 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 8192 }),
      async (sizes, pickFile, how, shift, down, maxBytes) => {
        const dir = await tempDir();
        const originals = await buildLog(dir, sizes);
        const indexes = (await readdir(dir))
          .filter((n) => n.endsWith('.index'))
          .sort()
          .slice(0, -1);
        const file = path.join(dir, indexes[pickFile % indexes.length]);
        const index = await readFile(file);
        fc.pre(index.length >= 8);
        const delta = down ? -shift : shift;
        if (how === 'positions') {
          for (let at = 4; at < index.length; at += 8)
            index.writeUInt32BE(Math.max(1, index.readUInt32BE(at) + delta), at);
        } else if (how === 'one entry') {
          const at = 4 + 8 * (shift % (index.length / 8));
          index.writeUInt32BE(Math.max(1, index.readUInt32BE(at) + delta), at);
        } else {
          // The whole file moved by `shift` bytes, as a bad copy would leave it; its length stays whole.
          const rotated = Buffer.concat([index.subarray(shift), index.subarray(0, shift)]);
          rotated.copy(index);
        }
        await writeFile(file, index);
        const log = await PartitionLog.open({ dir, config });
        const failed = await checkEveryRead(log, originals, maxBytes);
        assert.deepEqual([...failed], [], 'nothing is lost to a bad index');
        assert.deepEqual(log.damagedRanges(), [], 'a bad index is not mistaken for damaged data');
        await log.close();
        await checkStillWorks(dir, originals, failed);
        await rm(dir, { recursive: true, force: true });
      },
    ),
    { numRuns: 60 },
  );
});

test('a closed segment cut short at any point fails the reads of what it lost, never skips them', async () => {
  await fc.assert(
    fc.asyncProperty(
      sizesArb,
      fc.nat(),
      fc.nat(),
      fc.boolean(),
      fc.integer({ min: 1, max: 8192 }),
      async (sizes, pickFile, pickCut, atBoundary, maxBytes) => {
        const dir = await tempDir();
        const originals = await buildLog(dir, sizes);
        const files = [...new Set(originals.map((o) => o.file))].slice(0, -1);
        const name = files[pickFile % files.length];
        const inFile = originals.filter((o) => o.file === name);
        const fileBytes = inFile.reduce((n, o) => n + o.bytes.length, 0);
        const cut = atBoundary ? inFile[pickCut % inFile.length].position : pickCut % fileBytes;
        await truncate(path.join(dir, name), cut);
        const log = await PartitionLog.open({ dir, config });
        const failed = await checkEveryRead(log, originals, maxBytes);
        const lost = inFile.filter((o) => o.position + o.bytes.length > cut);
        for (const o of lost)
          assert.ok(failed.has(o.base) && failed.has(o.last), `lost batch ${o.base} fails`);
        assert.ok(log.corruptions > 0, 'the damage is counted');
        assert.deepEqual(
          log.damagedRanges().map((r) => r.offset),
          [lost[0].base],
          'the damaged range starts at the first lost batch',
        );
        await assert.rejects(log.compact(), { code: 'KAFKA_STORAGE_ERROR' });
        await log.close();
        await checkStillWorks(dir, originals, failed);
        await rm(dir, { recursive: true, force: true });
      },
    ),
    { numRuns: 60 },
  );
});
