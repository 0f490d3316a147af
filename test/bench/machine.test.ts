import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSteal, stealMsByCpu } from '../../bench/lib/machine.ts';

test('parseSteal reads each CPU steal column, not the all-CPU line', () => {
  const stat = [
    'cpu  367803 0 206193 2883950 8913 0 9292 79803 0 0',
    'cpu0 187613 0 102079 1492654 2935 0 3311 45232 0 0',
    'cpu1 201671 0 114147 1459391 6766 0 8754 41921 0 0',
    'intr 123 0 0',
    'ctxt 99',
  ].join('\n');
  assert.deepEqual(parseSteal(stat, 10), [452320, 419210]);
  // A kernel without the steal column counts none.
  assert.deepEqual(parseSteal('cpu0 1 2 3 4 5 6 7\n', 10), [0]);
});

test('stealMsByCpu gives a count for every CPU of this machine', () => {
  const steal = stealMsByCpu();
  assert.ok(steal, 'this machine has /proc/stat');
  assert.ok(steal.length >= 1);
  for (const ms of steal) assert.ok(Number.isFinite(ms) && ms >= 0, String(ms));
});
