import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ChunkList } from '../../src/net/chunk-list.ts';

test('a chunk list gives back the stream it was fed, however it was split and taken', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 300 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 30 }),
      (bytes, splits, takes) => {
        const stream = Buffer.from(bytes);
        const list = new ChunkList();
        for (let at = 0, i = 0; at < stream.length; i++) {
          const n = splits[i % splits.length];
          list.push(stream.subarray(at, at + n));
          at += n;
        }
        assert.equal(list.bufferedBytes, stream.length);
        assert.equal(list.peekInt32(0), stream.readInt32BE(0));
        const out: Buffer[] = [];
        for (let i = 0, pos = 0; list.bufferedBytes > 0; i++) {
          if (list.bufferedBytes >= 4) assert.equal(list.peekUint32(0), stream.readUInt32BE(pos));
          const n = Math.max(1, Math.min(takes[i % takes.length], list.bufferedBytes));
          out.push(list.take(n));
          pos += n;
        }
        assert.deepEqual(Buffer.concat(out), stream);
      },
    ),
  );
});
