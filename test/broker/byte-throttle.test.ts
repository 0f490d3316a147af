/**
 * The reassignment throttle's token bucket (issue 14, src/broker/replica-fetcher.ts): over any interval
 * the bytes taken stay within the rate, a tenth of a second's burst and one answer's overshoot, however
 * greedy the taker and however large its answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteThrottle } from '../../src/broker/replica-fetcher.ts';
import { prng } from '../helpers/prng.ts';

test('a greedy taker gets the rate, within the burst and one answer, over every window', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = prng(seed);
    let now = 0;
    const rate = 1_000_000 * (1 + Math.floor(random() * 50));
    const t = new ByteThrottle(rate, () => now);
    const batch = Math.floor(rate / 20);
    const taken: { at: number; bytes: number }[] = [];
    while (now < 20_000) {
      const wait = t.waitMs();
      if (wait > 0) {
        now += wait;
        continue;
      }
      // As the fetcher does: ask for what the bucket holds; the leader may answer with one whole batch more.
      const asked = t.available();
      const got = Math.min(asked, batch) + (random() < 0.5 ? batch : 0);
      t.take(got);
      taken.push({ at: now, bytes: got });
      now += 1 + Math.floor(random() * 5);
    }
    for (const windowMs of [100, 1000, 5000]) {
      for (const start of taken) {
        const sum = taken
          .filter((x) => x.at >= start.at && x.at < start.at + windowMs)
          .reduce((n, x) => n + x.bytes, 0);
        const bound = (rate * windowMs) / 1000 + t.capacity + 2 * batch;
        assert.ok(sum <= bound, `seed ${seed}: ${sum} bytes in ${windowMs} ms over ${bound}`);
      }
    }
    const total = taken.reduce((n, x) => n + x.bytes, 0);
    assert.ok(total >= rate * 19, `seed ${seed}: the rate is used (${total} of ${rate * 20})`);
    assert.equal(t.taken, total);
  }
});
