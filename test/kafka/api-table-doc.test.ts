/**
 * docs/kafka.md's table of served APIs says what ApiVersions advertises: every API in apis/index.ts has a
 * row, with its range, and no row names an API or a range we do not serve.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { APIS } from '../../src/protocol/kafka/apis/index.ts';

test('docs/kafka.md lists every served API with the range it advertises', async () => {
  const doc = await readFile(new URL('../../docs/kafka.md', import.meta.url), 'utf8');
  const section = doc.slice(
    doc.indexOf('## What is served'),
    doc.indexOf('\n## ', doc.indexOf('## What is served') + 1),
  );
  const documented = new Map<string, string>();
  for (const line of section.split('\n')) {
    // A row: | names | ranges | notes |, where a row may pair several APIs with as many ranges.
    const m = /^\| ([A-Za-z, ]+) \| ([0-9, -]+) \|/.exec(line);
    if (!m) continue;
    const names = m[1].split(',').map((s) => s.trim());
    const ranges = m[2].split(',').map((s) => s.trim());
    assert.equal(names.length, ranges.length, `row ${m[1]}: one range per API`);
    for (const [i, n] of names.entries()) documented.set(n, ranges[i]);
  }
  const served = new Map(
    // An API with one version (OffsetDelete, DescribeProducers) is written as that version alone.
    [...APIS.values()].map((a) => [
      a.name as string,
      a.minVersion === a.maxVersion ? String(a.minVersion) : `${a.minVersion}-${a.maxVersion}`,
    ]),
  );
  assert.deepEqual(
    [...documented].sort(([a], [b]) => a.localeCompare(b)),
    [...served].sort(([a], [b]) => a.localeCompare(b)),
  );
});
