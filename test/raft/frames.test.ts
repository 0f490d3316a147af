/**
 * The Raft transport's framing over a list of received chunks (src/raft/frames.ts): frames split at
 * every byte boundary, many frames in one chunk, and the bound checked on the length alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FrameReader, FrameTooLargeError } from '../../src/raft/frames.ts';

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('frames: any split of a byte stream into chunks yields the same frames, in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
      (bodies, cuts) => {
        const stream = concat(bodies.map(frame));
        const r = new FrameReader(1024);
        const got: Uint8Array[] = [];
        let at = 0;
        let k = 0;
        while (at < stream.length) {
          const n = cuts[k++ % cuts.length];
          r.push(stream.subarray(at, at + n));
          at += n;
          for (let f = r.next(); f !== null; f = r.next()) got.push(f.slice());
        }
        assert.deepEqual(
          got,
          bodies.map((b) => Uint8Array.from(b)),
        );
        assert.equal(r.bufferedBytes, 0);
      },
    ),
  );
});

test('frames: a frame within one chunk is a view of it, a frame across chunks one copy', () => {
  const a = frame(new Uint8Array([1, 2, 3]));
  const b = frame(new Uint8Array([4, 5, 6, 7]));
  const chunk = concat([a, b.subarray(0, 6)]);
  const r = new FrameReader(100);
  r.push(chunk);
  const first = r.next()!;
  assert.deepEqual([...first], [1, 2, 3]);
  assert.equal(first.buffer, chunk.buffer, 'taken without copying');
  assert.equal(r.next(), null, 'the second frame is not whole yet');
  r.push(b.subarray(6));
  assert.deepEqual([...r.next()!], [4, 5, 6, 7]);
  assert.equal(r.next(), null);
});

test('frames: a length over the bound is refused as soon as its four bytes arrive', () => {
  const r = new FrameReader(1000);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 1001);
  r.push(header.subarray(0, 3));
  assert.equal(r.next(), null, 'three bytes are not a length yet');
  r.push(header.subarray(3));
  assert.throws(
    () => r.next(),
    (err: unknown) =>
      err instanceof FrameTooLargeError && err.bytes === 1001 && err.code === 'FRAME_TOO_LARGE',
  );
  // A frame exactly at the bound is accepted.
  const ok = new FrameReader(4);
  ok.push(frame(new Uint8Array([9, 9, 9, 9])));
  assert.deepEqual([...ok.next()!], [9, 9, 9, 9]);
});

test('frames: an empty body is a frame', () => {
  const r = new FrameReader(10);
  r.push(concat([frame(new Uint8Array(0)), frame(new Uint8Array([1]))]));
  assert.equal(r.next()!.length, 0);
  assert.deepEqual([...r.next()!], [1]);
});
