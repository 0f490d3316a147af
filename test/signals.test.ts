/**
 * SIGTERM the moment the broker says it is ready is a clean shutdown (exit 0), never Node's default
 * death by signal: the handlers are installed before the start, and a signal during the start is acted
 * on once it ends. Supervisors and tests send SIGTERM on the ready line.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnBroker } from './helpers/broker-process.ts';
import { tempDir } from './helpers/tmp.ts';

test('SIGTERM on the ready line exits 0, again and again on the same data directory', async () => {
  const dir = await tempDir();
  for (let i = 0; i < 5; i++) {
    const broker = await spawnBroker(dir);
    assert.equal(await broker.stop('SIGTERM'), 0, `round ${i}`);
  }
});
