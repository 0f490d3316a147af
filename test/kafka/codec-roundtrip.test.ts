import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { APIS } from '../../src/protocol/kafka/apis/index.ts';
import { decodeMessage, encodeMessage } from '../../src/protocol/kafka/codec.ts';
import { Reader } from '../../src/protocol/kafka/reader.ts';
import type { CompiledMessage } from '../../src/protocol/kafka/schema.ts';
import { Writer } from '../../src/protocol/kafka/writer.ts';
import { expectedDecoded, structArb } from './arbitrary.ts';

function encode(m: CompiledMessage, v: number, o: Record<string, unknown>): Buffer {
  const w = new Writer(64); // small chunks, so values straddle chunk boundaries
  encodeMessage(w, m.plan(v), o);
  return w.toBuffer();
}

for (const api of APIS.values()) {
  for (const [dir, m] of [
    ['request', api.request],
    ['response', api.response],
  ] as const) {
    test(`${api.name} ${dir}: every version round-trips random messages byte for byte`, () => {
      for (let v = api.minVersion; v <= api.maxVersion; v++) {
        const plan = m.plan(v);
        fc.assert(
          fc.property(structArb(plan), (o) => {
            const bytes = encode(m, v, o);
            const r = new Reader(bytes);
            const decoded = decodeMessage(r, plan);
            assert.equal(r.remaining(), 0, `v${v}: decoder left bytes unread`);
            assert.deepEqual(decoded, expectedDecoded(plan, o), `v${v}: decoded value differs`);
            // Re-encoding what was decoded gives the same bytes: nothing is lost or invented.
            assert.ok(encode(m, v, decoded).equals(bytes), `v${v}: re-encoding differs`);
          }),
          { numRuns: 25 },
        );
      }
    });
  }
}

test('every truncation of a valid message is refused with INVALID_REQUEST, never a crash', () => {
  for (const api of APIS.values()) {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const plan = api.request.plan(v);
      const [o] = fc.sample(structArb(plan), { numRuns: 1, seed: api.key * 100 + v });
      const bytes = encode(api.request, v, o);
      for (let cut = 0; cut < bytes.length; cut++) {
        assert.throws(
          () => decodeMessage(new Reader(bytes.subarray(0, cut)), plan),
          (e: unknown) =>
            (e as { code?: string }).code === 'INVALID_REQUEST' ||
            (e as { code?: string }).code === 'CORRUPT_MESSAGE',
          `${api.name} v${v} cut at ${cut}/${bytes.length}`,
        );
      }
    }
  }
});
