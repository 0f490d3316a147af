/**
 * Scenario scripts with recorded output (etcd raft's testdata, run by datadriven): each file under
 * testdata/ is a sequence of commands, each followed by `----` and the output it must produce. Run with
 * UPDATE=1 to rewrite the recorded output after an intended change, then review the diff.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runScript } from './harness.ts';

const dir = join(import.meta.dirname, 'testdata');

for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort()) {
  test(`scenario ${file}`, () => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const actual = runScript(text);
    if (process.env.UPDATE === '1') {
      writeFileSync(path, actual);
      return;
    }
    assert.equal(actual, text);
  });
}
