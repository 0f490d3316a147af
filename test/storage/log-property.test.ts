/**
 * Model-based property test of the partition log: random sequences of append, read, roll, truncate and
 * reopen (clean, and unclean: a second open of the directory while the first was never closed) are run
 * against the log and against a plain array of batches; after every step they must agree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { lastOffsetOf } from '../../src/records/batch.ts';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch } from './helpers.ts';

interface Model {
  batches: { base: number; last: number; bytes: Buffer }[];
  end: number;
}
interface Real {
  log: PartitionLog;
  dir: string;
  leaked: PartitionLog[];
}

const config = { segmentBytes: 1500, indexIntervalBytes: 200, fsync: 'never' as const };

class Append implements fc.AsyncCommand<Model, Real> {
  readonly count: number;
  readonly valueBytes: number;
  constructor(count: number, valueBytes: number) {
    this.count = count;
    this.valueBytes = valueBytes;
  }
  check = () => true;
  async run(m: Model, r: Real) {
    const batch = makeBatch(`v${m.end}`, this.count, { valueBytes: this.valueBytes });
    const res = await r.log.append(batch);
    assert.equal(res.baseOffset, m.end, 'offsets continue the log');
    m.batches.push({ base: res.baseOffset, last: res.lastOffset, bytes: Buffer.from(batch) });
    m.end = res.lastOffset + 1;
    assert.equal(r.log.logEndOffset, m.end);
  }
  toString = () => `append(${this.count}x${this.valueBytes})`;
}

class Read implements fc.AsyncCommand<Model, Real> {
  readonly at: number;
  readonly maxBytes: number;
  constructor(at: number, maxBytes: number) {
    this.at = at;
    this.maxBytes = maxBytes;
  }
  check = (m: Readonly<Model>) => m.batches.length > 0;
  async run(m: Model, r: Real) {
    const start = m.batches[0].base;
    const offset = start + (this.at % (m.end - start + 1));
    const { bytes } = await r.log.read(offset, this.maxBytes);
    const from = m.batches.findIndex((b) => b.last >= offset);
    if (from < 0) {
      assert.equal(bytes.length, 0);
      return;
    }
    // The result is the model's batches from the one holding `offset`, whole, at least one.
    let at = 0;
    let i = from;
    while (at < bytes.length) {
      const want = m.batches[i].bytes;
      assert.deepEqual(bytes.subarray(at, at + want.length), want, `batch ${i} at read offset ${offset}`);
      assert.equal(lastOffsetOf(bytes, at), m.batches[i].last);
      at += want.length;
      i++;
    }
    assert.ok(i > from, 'at least one batch');
    assert.ok(at <= this.maxBytes || i === from + 1, 'over maxBytes only with a single batch');
  }
  toString = () => `read(${this.at}, ${this.maxBytes})`;
}

class Roll implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(_m: Model, r: Real) {
    await r.log.roll();
  }
  toString = () => 'roll';
}

class Truncate implements fc.AsyncCommand<Model, Real> {
  readonly at: number;
  constructor(at: number) {
    this.at = at;
  }
  check = (m: Readonly<Model>) => m.batches.length > 0;
  async run(m: Model, r: Real) {
    const start = m.batches[0].base;
    const offset = start + 1 + (this.at % (m.end - start));
    await r.log.truncateTo(offset);
    const keep = m.batches.filter((b) => b.last < offset);
    m.end = keep.length < m.batches.length ? m.batches[keep.length].base : m.end;
    m.batches = keep;
    assert.equal(r.log.logEndOffset, m.end);
  }
  toString = () => `truncate(${this.at})`;
}

class Reopen implements fc.AsyncCommand<Model, Real> {
  readonly clean: boolean;
  constructor(clean: boolean) {
    this.clean = clean;
  }
  check = () => true;
  async run(m: Model, r: Real) {
    if (this.clean) await r.log.close();
    else r.leaked.push(r.log);
    r.log = await PartitionLog.open({ dir: r.dir, config });
    assert.equal(r.log.logEndOffset, m.end, 'nothing written is lost across reopen');
  }
  toString = () => `reopen(${this.clean ? 'clean' : 'unclean'})`;
}

test('the log agrees with a model under random append, read, roll, truncate and reopen', async (t) => {
  const commands = [
    fc
      .tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 120 }))
      .map(([c, v]) => new Append(c, v)),
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 3000 })).map(([a, b]) => new Read(a, b)),
    fc.constant(new Roll()),
    fc.nat().map((a) => new Truncate(a)),
    fc.boolean().map((c) => new Reopen(c)),
  ];
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 60 }), async (cmds) => {
      const dir = await tempDir(t);
      const real: Real = { log: await PartitionLog.open({ dir, config }), dir, leaked: [] };
      try {
        await fc.asyncModelRun(() => ({ model: { batches: [], end: 0 }, real }), cmds);
      } finally {
        await real.log.close();
        for (const l of real.leaked) await l.close().catch(() => {});
      }
    }),
    { numRuns: 200 },
  );
});
