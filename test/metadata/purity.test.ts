/**
 * The metadata and controller layers stay pure and below the broker (DESIGN.md's layers table and
 * decision 10, issue 11), checked on the source: they import only each other, errors.ts and
 * `node:assert`, and never read a clock or a random source.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

const importRe = /^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm;

test('metadata/ and controller/ import only the layers below them, and no I/O', () => {
  const allowed: Record<string, RegExp> = {
    'src/metadata': /^(\.\/[a-z-]+\.ts|\.\.\/errors\.ts|node:assert\/strict)$/,
    'src/controller': /^(\.\/[a-z-]+\.ts|\.\.\/metadata\/[a-z-]+\.ts|\.\.\/errors\.ts|node:assert\/strict)$/,
  };
  let files = 0;
  for (const [dir, re] of Object.entries(allowed)) {
    for (const file of sources(dir)) {
      files++;
      const text = readFileSync(path.join(root, file), 'utf8');
      for (const m of text.matchAll(importRe)) assert.match(m[1], re, `${file} imports ${m[1]}`);
      assert.doesNotMatch(
        text,
        /Date\.now|new Date\(|Math\.random|performance\.now|process\.|setTimeout|setInterval/,
        file,
      );
    }
  }
  assert.ok(files >= 9, `the scan found the layers' files (${files})`);
  // The pattern would catch an upward import.
  const upward = "import { validateTopicName } from '../broker/metadata.ts';";
  assert.doesNotMatch([...upward.matchAll(importRe)][0][1], allowed['src/metadata']);
});
