import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProducerStateTable } from '../../src/broker/producer-state.ts';

const batch = (producerId: number, producerEpoch: number, baseSequence: number, count = 1) => ({
  producerId,
  producerEpoch,
  baseSequence,
  lastOffsetDelta: count - 1,
});

test('sequences must follow; retries of the last five batches get their original offsets', async () => {
  const t = new ProducerStateTable();
  let offset = 0;
  const append = (b: ReturnType<typeof batch>) => {
    const v = t.validate(b, 0);
    assert.equal(v.kind, 'append');
    t.complete(v, offset, offset + b.lastOffsetDelta);
    offset += b.lastOffsetDelta + 1;
  };
  append(batch(7, 0, 0, 3)); // offsets 0..2, seq 0..2
  for (let i = 0; i < 6; i++) append(batch(7, 0, 3 + i * 2, 2)); // seq 3..14
  const dup = t.validate(batch(7, 0, 13, 2), 0);
  assert.equal(dup.kind, 'duplicate');
  assert.deepEqual(await (dup as { offsets: Promise<unknown> }).offsets, { firstOffset: 13, lastOffset: 14 });
  // The first batch fell out of the five remembered; its retry is out of order now.
  assert.throws(() => t.validate(batch(7, 0, 0, 3), 0), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
  assert.throws(() => t.validate(batch(7, 0, 20), 0), {
    code: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
    message: /expected 15/,
  });
  assert.throws(() => t.validate(batch(9, 0, 4), 0), { code: 'UNKNOWN_PRODUCER_ID' });
});

test('a newer epoch fences the older one and restarts at sequence 0', () => {
  const t = new ProducerStateTable();
  t.complete(t.validate(batch(1, 0, 0), 0), 0, 0);
  assert.throws(() => t.validate(batch(1, 1, 5), 0), { code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
  t.complete(t.validate(batch(1, 1, 0), 0), 1, 1);
  assert.throws(() => t.validate(batch(1, 0, 1), 0), { code: 'INVALID_PRODUCER_EPOCH' });
});

test('pipelined batches validate against reservations; a failed append releases its sequence', async () => {
  const t = new ProducerStateTable();
  const a = t.validate(batch(3, 0, 0, 2), 0);
  const b = t.validate(batch(3, 0, 2, 2), 0); // validated before `a` is stored
  const retryOfB = t.validate(batch(3, 0, 2, 2), 0);
  assert.equal(retryOfB.kind, 'duplicate');
  t.complete(a, 0, 1);
  t.abort(b, new Error('disk'));
  await assert.rejects((retryOfB as { offsets: Promise<unknown> }).offsets);
  // The producer's retry of b is in order again.
  const again = t.validate(batch(3, 0, 2, 2), 0);
  assert.equal(again.kind, 'append');
});

test('snapshots round-trip and replay rebuilds the same answers', async () => {
  const t = new ProducerStateTable();
  t.complete(t.validate(batch(5, 2, 0, 4), 0), 10, 13);
  const restored = ProducerStateTable.fromSnapshot(JSON.parse(JSON.stringify(t.snapshot(14))));
  const dup = restored.validate(batch(5, 2, 0, 4), 0);
  assert.deepEqual(await (dup as { offsets: Promise<unknown> }).offsets, { firstOffset: 10, lastOffset: 13 });
  const replayed = new ProducerStateTable();
  replayed.replay(batch(5, 2, 0, 4), 10, 13, 0);
  assert.equal(replayed.validate(batch(5, 2, 4), 0).kind, 'append');
  replayed.expire(10 * 86_400_000, 86_400_000);
  assert.equal(replayed.size, 1, 'a producer with a batch in flight is not expired');
});
