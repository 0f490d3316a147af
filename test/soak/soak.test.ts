/**
 * The short soak inside `npm test` (issue 10): the same run as `npm run soak` (test/soak/run.ts) for
 * 40 seconds, so that every hostile client class meets the broker on every change. The full 30-minute
 * run and its chart are recorded in docs/reliability.md.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostiles, runSoak } from './run.ts';

test('a short soak: valid load and every hostile client class, then a restart, lose nothing', async () => {
  const seed = 20261201;
  const r = await runSoak({ seconds: 40, seed, outDir: null });
  const failed = r.verdicts.filter((v) => !v.ok).map((v) => `${v.name}: ${v.detail}`);
  assert.deepEqual(failed, [], `replay with: npm run soak -- --seconds 40 --seed ${seed}`);
  assert.ok(r.produced.grpc > 0 && r.produced.kafka > 0, 'the valid load ran through both doors');
  assert.deepEqual(
    Object.keys(r.hostileRuns).sort(),
    Object.keys(hostiles).sort(),
    'every hostile class ran',
  );
});
