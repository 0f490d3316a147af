import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkKvLinearizable, type KvOp } from '../../src/raft/sim/linearizability.ts';

const put = (client: number, value: string, call: number, ret: number): KvOp => ({
  client,
  kind: 'put',
  key: 'k',
  value,
  call,
  ret,
});
const get = (client: number, value: string | null, call: number, ret: number): KvOp => ({
  client,
  kind: 'get',
  key: 'k',
  value,
  call,
  ret,
});

test('a sequential history is linearizable', () => {
  assert.ok(
    checkKvLinearizable([put(0, 'a', 0, 1), get(1, 'a', 2, 3), put(0, 'b', 4, 5), get(1, 'b', 6, 7)]).ok,
  );
});

test('a stale read after a completed write is not linearizable', () => {
  const r = checkKvLinearizable([put(0, 'a', 0, 1), put(0, 'b', 2, 3), get(1, 'a', 4, 5)]);
  assert.equal(r.ok, false);
  assert.equal(r.key, 'k');
});

test('a read of a value never written is not linearizable', () => {
  assert.equal(checkKvLinearizable([put(0, 'a', 0, 1), get(1, 'zzz', 2, 3)]).ok, false);
});

test('concurrent operations may be ordered either way', () => {
  // The get overlaps both puts, so it may see either value or none.
  for (const seen of ['a', 'b', null]) {
    assert.ok(
      checkKvLinearizable([put(0, 'a', 0, 10), put(1, 'b', 0, 10), get(2, seen, 1, 9)]).ok,
      String(seen),
    );
  }
});

test('reads must agree on one order of concurrent writes', () => {
  // Two readers see a then b, and b then a, after both writes completed: no single order explains it.
  const h = [put(0, 'a', 0, 5), put(1, 'b', 0, 5), get(2, 'a', 6, 7), get(2, 'b', 8, 9), get(3, 'a', 10, 11)];
  assert.equal(checkKvLinearizable(h).ok, false);
});

test('a write with an unknown outcome may take effect late or never', () => {
  const unknown = put(0, 'x', 1, Number.POSITIVE_INFINITY);
  assert.ok(checkKvLinearizable([put(1, 'a', 0, 1), unknown, get(2, 'a', 5, 6), get(2, 'x', 7, 8)]).ok);
  assert.ok(checkKvLinearizable([put(1, 'a', 0, 1), unknown, get(2, 'a', 5, 6)]).ok);
  // But not before it was called.
  assert.equal(
    checkKvLinearizable([get(2, 'x', 0, 0.5), put(0, 'x', 1, Number.POSITIVE_INFINITY)]).ok,
    false,
  );
});

test('keys are checked independently', () => {
  const h: KvOp[] = [
    { client: 0, kind: 'put', key: 'a', value: '1', call: 0, ret: 1 },
    { client: 0, kind: 'put', key: 'b', value: '2', call: 2, ret: 3 },
    { client: 1, kind: 'get', key: 'a', value: '1', call: 4, ret: 5 },
    { client: 1, kind: 'get', key: 'b', value: null, call: 6, ret: 7 },
  ];
  const r = checkKvLinearizable(h);
  assert.equal(r.ok, false);
  assert.equal(r.key, 'b');
});

test('many writes with unknown outcomes do not exhaust the search (seed 200338)', () => {
  // Clients that time out leave writes that may have happened at any time after their call. Forty of
  // them open 2^40 subsets to a naive search; those whose value nobody read cannot matter.
  const h: KvOp[] = [put(0, 'a', 0, 1)];
  for (let k = 0; k < 40; k++) h.push(put(1 + (k % 3), `lost${k}`, 2 + k, Number.POSITIVE_INFINITY));
  h.push(put(0, 'b', 50, 51), get(4, 'b', 52, 53), get(4, 'lost7', 60, 61));
  const r = checkKvLinearizable(h, 10_000);
  assert.notEqual(r.exhausted, true);
  assert.equal(r.ok, true);
  // A violation among them is still found: once 'b' is read after 'lost7' was, 'lost7' must have been
  // overwritten by a write that came later, and there is none.
  const bad = [...h, get(4, 'b', 70, 71)];
  const r2 = checkKvLinearizable(bad, 10_000);
  assert.notEqual(r2.exhausted, true);
  assert.equal(r2.ok, false);
});

test('an unknown write nobody read cannot excuse a stale read', () => {
  const h = [put(0, 'a', 0, 1), put(1, 'y', 2, Number.POSITIVE_INFINITY), get(2, null, 3, 4)];
  assert.equal(checkKvLinearizable(h).ok, false);
});
