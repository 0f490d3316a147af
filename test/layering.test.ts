/**
 * The layering of issue 11 ("First, make room"), checked on the source so that it cannot regress:
 * both front doors and the group service see a partition only through the core's narrow view
 * (src/broker/partition-view.ts), and the metrics only through the core's totals, never the log, its
 * segments or the partition manager's lookups.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.join(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Every line of `dirs` that matches `pattern`, as `file:line: text`. */
function offending(dirs: string[], pattern: RegExp): string[] {
  const found: string[] = [];
  for (const file of dirs.flatMap(sourceFiles)) {
    const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (pattern.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

const aboveTheCore = ['src/api', 'src/broker/groups', 'src/http'];
const theLog = /PartitionLog|partitions\.(get|all|partitionsOf)\b|highWatermarkOf/;
/** What only the log has: its segments, flushed offset, config and damage bookkeeping. */
const logInternals = /\.segments[.[]|flushedOffset|offsetPastSegmentOf|\.config\.fsync|maxMessageBytes/;

test('the doors, the group service and the metrics never name PartitionLog, partitions.get or highWatermarkOf', () => {
  const files = aboveTheCore.flatMap(sourceFiles);
  assert.ok(
    files.includes(path.join('src/api/grpc', 'server.ts')) &&
      files.includes(path.join('src/broker/groups', 'service.ts')) &&
      files.includes(path.join('src/http', 'metrics.ts')) &&
      files.some((f) => f.startsWith(path.join('src/api/kafka', 'handlers'))),
    `the scan found the files it guards: ${files.join(', ')}`,
  );
  assert.deepEqual(offending(aboveTheCore, theLog), []);
});

test('the doors, the group service and the metrics import nothing from storage/ and use no log internals', () => {
  assert.deepEqual(offending(aboveTheCore, /from '[./]*storage\//), []);
  assert.deepEqual(offending(aboveTheCore, logInternals), []);
});

test('the scan would catch a door that reached into the log', () => {
  // The patterns above, on lines this issue removed from the Kafka door and the group service.
  for (const line of [
    'const log = core.partitions.get(topic, p.partition);',
    "import { type BrokerCore, highWatermarkOf } from '../../../broker/core.ts';",
    "import type { PartitionLog } from '../../storage/partition-log.ts';",
    'for (const { log } of self.#core?.partitions.all() ?? []) n += log.sizeBytes;',
  ])
    assert.match(line, theLog);
  for (const line of [
    'target = Math.max(-1, ...log.segments.map((s) => s.maxTimestamp));',
    'offset = log.offsetPastSegmentOf(offset);',
  ])
    assert.match(line, logInternals);
});

test('the Kafka codec sits below the core: protocol/ imports no door, core or storage, and the core no door', () => {
  assert.ok(sourceFiles('src/protocol').some((f) => f.endsWith(path.join('kafka', 'codec.ts'))));
  assert.deepEqual(offending(['src/protocol'], /from '[./]*(api|broker|storage|controller|server)[/.]/), []);
  assert.deepEqual(
    offending(['src/broker', 'src/storage', 'src/controller', 'src/metadata'], /from '[./]*api\//),
    [],
  );
});
