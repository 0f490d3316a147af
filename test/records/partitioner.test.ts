import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { murmur2, partitionForKey } from '../../src/records/partitioner.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';

test("murmur2 matches the values in Kafka's UtilsTest", () => {
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, want] of cases) assert.equal(murmur2(Buffer.from(key)), want, key);
});

test("keys land on the partition kafka-python's default partitioner picks", (t) => {
  if (!requireDebian(t, pythonHas('kafka'), 'python3-kafka')) return;
  const keys = fc
    .sample(fc.uint8Array({ maxLength: 64 }), { numRuns: 300, seed: 42 })
    .map((a) => Buffer.from(a));
  const script = `
import sys, json
from kafka.partitioner.default import murmur2
keys = json.load(sys.stdin)
print(json.dumps([murmur2(bytes.fromhex(k)) for k in keys]))`;
  const r = spawnSync(debianPython, ['-c', script], {
    input: JSON.stringify(keys.map((k) => k.toString('hex'))),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const theirs = JSON.parse(r.stdout) as number[];
  keys.forEach((k, i) => {
    // kafka-python returns the hash as an unsigned 32-bit value.
    assert.equal(murmur2(k) >>> 0, theirs[i] >>> 0, k.toString('hex'));
    for (const n of [1, 3, 7, 100]) assert.equal(partitionForKey(k, n), (theirs[i] & 0x7fffffff) % n);
  });
});
