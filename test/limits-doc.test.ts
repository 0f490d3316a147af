import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  collectBounds,
  limitsDocPath,
  limitsModules,
  parseBounds,
  renderLimitsDoc,
  unitOf,
} from '../scripts/limits-doc.ts';

test('every exported bound of every limits module has a comment saying what it is', async () => {
  const modules = limitsModules();
  assert.ok(
    modules.includes('src/limits.ts') && modules.includes('src/api/kafka/limits.ts'),
    String(modules),
  );
  const bounds = await collectBounds();
  assert.ok(bounds.length >= 20, `found only ${bounds.length} bounds`);
  const undocumented = bounds.filter((b) => b.doc.length < 10).map((b) => `${b.module}: ${b.name}`);
  assert.deepEqual(undocumented, []);
});

test('docs/limits.md is what the limits modules say (run npm run docs:limits after changing one)', async () => {
  const expected = renderLimitsDoc(await collectBounds());
  const actual = readFileSync(limitsDocPath, 'utf8');
  assert.equal(actual, expected, 'docs/limits.md is out of date: run npm run docs:limits');
});

test('the generator reads names, tags and units', () => {
  const parsed = parseBounds(
    '/**\n * Most bytes.\n * @default 1 MiB\n * @config kafka.thing_bytes\n */\nexport const thingBytesMax = 1;\nexport const bare = 2;\n',
  );
  assert.deepEqual(parsed, [
    { name: 'thingBytesMax', doc: 'Most bytes.', configKey: 'kafka.thing_bytes' },
    { name: 'bare', doc: '', configKey: null },
  ]);
  assert.equal(unitOf('requestFrameBytesMax'), 'bytes');
  assert.equal(unitOf('tickMsDefault'), 'milliseconds');
  assert.equal(unitOf('connectionsMax'), 'count');
  assert.equal(unitOf('electionTicksDefault'), 'ticks');
});
