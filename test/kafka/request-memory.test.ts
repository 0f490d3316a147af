/**
 * The listener's request-memory bookkeeping (Kafka's `queued.max.request.bytes`), stepped without
 * sockets: random reservations, releases and waits against a model of what it promises.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RequestMemory } from '../../src/api/kafka/request-memory.ts';

test('a reservation is granted below the bound whatever its size, and refused at it', () => {
  const m = new RequestMemory({ bytesMax: 100 });
  assert.ok(m.tryReserve(99));
  assert.ok(m.tryReserve(500), 'non-strict: admitted while the total is below the bound');
  assert.equal(m.usedBytes, 599);
  assert.equal(m.tryReserve(1), false);
  m.release(500);
  assert.ok(m.tryReserve(1));
});

test('small frames use the reserve beyond the bound; large ones do not', () => {
  const m = new RequestMemory({ bytesMax: 100, reserveBytes: 50, smallBytesMax: 20 });
  assert.ok(m.tryReserve(100));
  assert.equal(m.tryReserve(21), false, 'too large for the reserve');
  assert.ok(m.tryReserve(20));
  assert.ok(m.tryReserve(20));
  assert.equal(m.tryReserve(20), false, 'the reserve is used up');
  assert.ok(m.tryReserve(10));
});

test('waiters are woken in arrival order as memory is released, each once', () => {
  const m = new RequestMemory({ bytesMax: 10 });
  assert.ok(m.tryReserve(10));
  const woken: string[] = [];
  const a = () => {
    woken.push('a');
    assert.ok(m.tryReserve(5));
  };
  const b = () => {
    woken.push('b');
    if (!m.tryReserve(5)) m.wait(b);
  };
  const c = () => woken.push('c');
  m.wait(a);
  m.wait(b);
  m.wait(c);
  m.cancel(c);
  m.release(10);
  assert.deepEqual(woken, ['a', 'b'], 'a then b; c was cancelled');
  assert.equal(m.usedBytes, 10);
  assert.equal(m.waiting, 0);
});

test('model: the total never exceeds bound + reserve + one frame, and every release is returned', () => {
  const bytesMax = 1000;
  const reserveBytes = 200;
  const smallBytesMax = 50;
  const frameMax = 700;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('reserve' as const), bytes: fc.integer({ min: 1, max: frameMax }) }),
          fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
        ),
        { maxLength: 200 },
      ),
      (ops) => {
        const m = new RequestMemory({ bytesMax, reserveBytes, smallBytesMax });
        const held: number[] = [];
        for (const o of ops) {
          if (o.op === 'reserve') {
            const before = m.usedBytes;
            const ok = m.tryReserve(o.bytes);
            const expected =
              before < bytesMax || (o.bytes <= smallBytesMax && before + o.bytes <= bytesMax + reserveBytes);
            assert.equal(ok, expected);
            if (ok) held.push(o.bytes);
          } else if (held.length > 0) {
            const [n] = held.splice(o.pick % held.length, 1);
            m.release(n);
          }
          assert.ok(m.usedBytes < bytesMax + reserveBytes + frameMax);
          assert.equal(
            m.usedBytes,
            held.reduce((a, b) => a + b, 0),
          );
        }
      },
    ),
    { seed: 7, numRuns: 300 },
  );
});
