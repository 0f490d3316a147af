/**
 * replication-offset-checkpoint: the high watermarks a node keeps across restarts (Kafka's format),
 * its parser against damaged files, and the embedded broker writing it at close and reading it back.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  encodeHwCheckpoint,
  HW_CHECKPOINT_FILE,
  hwCheckpointBytesMax,
  parseHwCheckpoint,
  readHwCheckpoint,
} from '../../src/broker/replication-offset-checkpoint.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { startBroker } from '../../src/server.ts';
import { tempDir } from '../helpers/tmp.ts';

test("the checkpoint is Kafka's text format and reads back what was written", () => {
  const bytes = encodeHwCheckpoint([
    { topic: 'orders', partition: 1, highWatermark: 877 },
    { topic: '__consumer_offsets', partition: 0, highWatermark: 0 },
    { topic: 'orders', partition: 0, highWatermark: 1200 },
  ]);
  assert.equal(bytes.toString(), '0\n3\n__consumer_offsets 0 0\norders 0 1200\norders 1 877\n');
  const parsed = parseHwCheckpoint(bytes.toString());
  assert.ok(parsed instanceof Map);
  assert.deepEqual(parsed.get('orders-0'), { topic: 'orders', partition: 0, highWatermark: 1200 });
  assert.equal(parsed.size, 3);
  assert.deepEqual(parseHwCheckpoint('0\n0\n'), new Map());
});

test('a damaged checkpoint is a problem, never a throw', () => {
  const garbage = [
    '',
    '0',
    '1\n0\n',
    '0\n-1\n',
    '0\n01\norders 0 1\n',
    '0\n2\norders 0 1\n',
    '0\n1\norders 0 1\nextra\n',
    '0\n1\norders 0\n',
    '0\n1\norders 0 1 2\n',
    '0\n1\norders -1 1\n',
    '0\n1\norders 0 -5\n',
    '0\n1\norders 0 1.5\n',
    '0\n1\norders 2147483648 1\n',
    '0\n1\norders 0 9007199254740993\n',
    '0\n1\nbad/name 0 1\n',
    '0\n1\norders  0 1\n',
    '0\n2\norders 0 1\norders 0 2\n',
    '0\n1\norders 0 1\n\n',
    '\u0000\u0001\u00ff garbage',
  ];
  for (const text of garbage) {
    const r = parseHwCheckpoint(text);
    assert.ok(!(r instanceof Map), `accepted ${JSON.stringify(text)}`);
    assert.equal(typeof r.problem, 'string');
  }
});

test('the read is bounded: an oversized file is refused unread', async (t) => {
  const dir = await tempDir(t);
  assert.deepEqual(await readHwCheckpoint(dir), new Map(), 'no file: no entries');
  await writeFile(path.join(dir, HW_CHECKPOINT_FILE), Buffer.alloc(hwCheckpointBytesMax + 1, 0x30));
  const r = await readHwCheckpoint(dir);
  assert.ok(!(r instanceof Map) && /more than/.test(r.problem), JSON.stringify(r));
});

const records = (n: number) =>
  encodeBatch({ records: Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`v${i}`) })) });

test('a broker writes its high watermarks at close and starts from them; a bad file is ignored', async (t) => {
  const dataDir = await tempDir(t);
  let broker = await startBroker({ dataDir });
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'hw', partitions: 2 });
  await broker.core.produce('hw', 0, records(3));
  await broker.core.produce('hw', 1, records(5));
  await broker.close();
  const file = path.join(dataDir, HW_CHECKPOINT_FILE);
  const text = await readFile(file, 'utf8');
  assert.match(text, /^0\n\d+\n/);
  assert.match(text, /^hw 0 3$/m);
  assert.match(text, /^hw 1 5$/m);

  broker = await startBroker({ dataDir });
  assert.equal(broker.core.replica('hw', 0).highWatermark, 3);
  assert.equal(broker.core.replica('hw', 1).highWatermark, 5);
  await broker.close();

  // Garbage does not stop the node; the next write replaces it with a good file. A temporary file of
  // a write cut short is removed.
  await writeFile(file, 'not a checkpoint\n');
  const leftover = `${file}.0b0e4b1e-8c1f-4b8e-9a53-6f2f8b1c2d3e.tmp`;
  await writeFile(leftover, '0\n');
  broker = await startBroker({ dataDir });
  assert.ok(!(await readdir(dataDir)).includes(path.basename(leftover)));
  assert.equal(broker.core.replica('hw', 1).highWatermark, 5);
  await broker.close();
  const again = parseHwCheckpoint(await readFile(file, 'utf8'));
  assert.ok(again instanceof Map);
  assert.equal(again.get('hw-1')?.highWatermark, 5);
});
