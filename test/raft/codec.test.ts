import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ByteReader,
  ByteWriter,
  decodeMessage,
  decodeSnapshotFile,
  decodeWal,
  encodeMessage,
  encodeRecoveredWal,
  encodeSnapshotFile,
  encodeWalRecords,
  recoverInitialState,
  walNeedsRewrite,
} from '../../src/raft/codec.ts';
import { bootstrapSnapshot, type Entry, EntryType, MessageType, makeMessage } from '../../src/raft/types.ts';

const enc = new TextEncoder();
const entry = (index: number, term: number, s = `e${index}`): Entry => ({
  index,
  term,
  type: EntryType.normal,
  data: enc.encode(s),
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('WAL: entries and hard state round-trip; a later entry at a lower index truncates', () => {
  const wal = concat([
    encodeWalRecords(null, [entry(2, 1), entry(3, 1), entry(4, 1)], { term: 1, vote: 1, commit: 2 }),
    encodeWalRecords(null, [entry(3, 2, 'new')], { term: 2, vote: 3, commit: 3 }),
  ]);
  const w = decodeWal(wal);
  assert.deepEqual(
    w.entries.map((e) => [e.index, e.term]),
    [
      [2, 1],
      [3, 2],
    ],
  );
  assert.deepEqual(w.hardState, { term: 2, vote: 3, commit: 3 });
  assert.equal(w.tornBytes, 0);
});

test('WAL: every cut of the last write recovers exactly the whole frames before it', () => {
  const first = encodeWalRecords(null, [entry(2, 1)], { term: 1, vote: 1, commit: 1 });
  const second = encodeWalRecords(null, [entry(3, 1), entry(4, 1)], { term: 1, vote: 1, commit: 4 });
  const all = concat([first, second]);
  let lastCount = 0;
  for (let cut = first.length; cut <= all.length; cut++) {
    const w = decodeWal(all.subarray(0, cut));
    assert.equal(w.validBytes + w.tornBytes, cut);
    // Never more than what was fully written, never less than the first (synced) write.
    assert.ok(w.entries.length >= 1 && w.entries.length <= 3);
    assert.ok(w.entries.length >= lastCount, 'recovered prefix only grows with the cut');
    lastCount = w.entries.length;
    // The commit index never runs ahead of the recovered entries.
    assert.ok(w.hardState.commit <= w.entries[w.entries.length - 1].index);
  }
  assert.equal(decodeWal(all).hardState.commit, 4);
});

test('WAL: a flipped byte ends the log at the damaged frame', () => {
  const a = encodeWalRecords(null, [entry(2, 1)], null);
  const b = encodeWalRecords(null, [entry(3, 1)], null);
  const all = concat([a, b]);
  all[a.length + 12] ^= 0xff;
  const w = decodeWal(all);
  assert.equal(w.entries.length, 1);
  assert.equal(w.validBytes, a.length);
});

test('recovery drops WAL entries that do not continue an installed snapshot', () => {
  // The WAL holds an old history (index 5 at term 1); the snapshot at 5 has term 2, and the crash came
  // before the marker was written. The old entries must not be grafted onto the snapshot.
  const wal = decodeWal(
    encodeWalRecords(null, [entry(2, 1), entry(3, 1), entry(4, 1), entry(5, 1), entry(6, 1)], null),
  );
  const snap = { index: 5, term: 2, conf: { voters: [1, 2, 3], learners: [] }, data: new Uint8Array(0) };
  assert.deepEqual(recoverInitialState(snap, wal).entries, []);
  // With the marker, entries after it are kept.
  const wal2 = decodeWal(
    concat([
      encodeWalRecords(null, [entry(2, 1)], null),
      encodeWalRecords({ index: 5, term: 2 }, [entry(6, 2)], null),
    ]),
  );
  assert.deepEqual(
    recoverInitialState(snap, wal2).entries.map((e) => e.index),
    [6],
  );
  // A founder's WAL continues the bootstrap snapshot.
  assert.equal(recoverInitialState(bootstrapSnapshot([1]), wal).entries.length, 5);
});

test('recovery after a crash between a snapshot file and its WAL marker rewrites the WAL (seed 201631)', () => {
  // Entries up to 8 are durable; a snapshot at 9 was installed (its file is written first) and the
  // crash tore the WAL marker after it. The node restarts from the snapshot and appends entry 10.
  const stale = encodeWalRecords(
    null,
    [2, 3, 4, 5, 6, 7, 8].map((i) => entry(i, 1)),
    { term: 1, vote: 1, commit: 8 },
  );
  const snap = { index: 9, term: 1, conf: { voters: [1, 2, 3], learners: [] }, data: new Uint8Array(0) };
  const wal = decodeWal(stale);
  const init = recoverInitialState(snap, wal);
  assert.deepEqual(init.entries, []);
  assert.equal(init.hardState.commit, 9);
  assert.ok(walNeedsRewrite(snap, wal));
  const next = encodeWalRecords(null, [entry(10, 2)], { term: 2, vote: 1, commit: 9 });
  // Appending to the stale WAL leaves a gap that the next recovery refuses.
  assert.throws(() => decodeWal(concat([stale, next])), /WAL gap: entry 10 after 8/);
  // Appending to the rewritten WAL recovers the snapshot plus entry 10.
  const again = decodeWal(concat([encodeRecoveredWal(init), next]));
  assert.ok(!walNeedsRewrite(snap, again));
  const init2 = recoverInitialState(snap, again);
  assert.deepEqual(
    init2.entries.map((e) => [e.index, e.term]),
    [[10, 2]],
  );
  assert.deepEqual(init2.hardState, { term: 2, vote: 1, commit: 9 });
});

test('snapshot file round-trips and detects corruption', () => {
  const s = { index: 9, term: 3, conf: { voters: [1, 2], learners: [5] }, data: enc.encode('state') };
  const bytes = encodeSnapshotFile(s);
  assert.deepEqual(decodeSnapshotFile(bytes), s);
  bytes[bytes.length - 1] ^= 1;
  assert.throws(() => decodeSnapshotFile(bytes), /CRC/);
});

test('messages round-trip through the wire codec', () => {
  fc.assert(
    fc.property(
      fc.record({
        type: fc.integer({ min: 1, max: 10 }),
        from: fc.integer({ min: 1, max: 1000 }),
        term: fc.nat(1e9),
        index: fc.nat(1e12),
        reject: fc.boolean(),
        context: fc.nat(1e6),
        ents: fc.array(fc.tuple(fc.nat(1e6), fc.uint8Array({ maxLength: 40 })), { maxLength: 5 }),
        snap: fc.boolean(),
      }),
      (r) => {
        const m = makeMessage({
          type: r.type as MessageType,
          from: r.from,
          to: r.from + 1,
          term: r.term,
          index: r.index,
          logTerm: r.term,
          commit: r.index,
          reject: r.reject,
          rejectHint: r.index,
          context: r.context,
          entries: r.ents.map(([t, d], k) => ({
            index: r.index + k + 1,
            term: t,
            type: EntryType.normal,
            data: d,
          })),
          snapshot: r.snap
            ? { index: 4, term: 2, conf: { voters: [1], learners: [] }, data: enc.encode('x') }
            : null,
        });
        const w = new ByteWriter(8);
        encodeMessage(m, w);
        const back = decodeMessage(new ByteReader(w.finish()));
        assert.deepEqual(back, m);
      },
    ),
  );
  assert.equal(MessageType.app, 1);
});
