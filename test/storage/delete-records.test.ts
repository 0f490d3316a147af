/**
 * The log start offset that DeleteRecords sets (PartitionLog.deleteRecordsBefore): kept across a
 * reopen, whole segments below it removed, reads below it refused, and reset when the log is emptied
 * and restarted lower (a follower's truncation).
 */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { PartitionLog } from '../../src/storage/partition-log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch } from './helpers.ts';

const logFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.log')).length;

test('deleteRecordsBefore moves the log start inside a segment, removes the segments below and survives a reopen', async (t) => {
  const dir = await tempDir(t);
  let log = await PartitionLog.open({ dir });
  for (let i = 0; i < 4; i++) {
    await log.append(makeBatch(`s${i}`, 3));
    await log.roll();
  }
  assert.equal(await logFiles(dir), 5);
  assert.equal(await log.deleteRecordsBefore(7), 7);
  assert.equal(log.logStartOffset, 7);
  // Segments [0,3) and [3,6) are wholly below 7; [6,9) holds it and stays.
  assert.equal(await logFiles(dir), 3);
  await assert.rejects(log.read(6, 1 << 20), { code: 'OFFSET_OUT_OF_RANGE' });
  assert.ok((await log.read(7, 1 << 20)).bytes.length > 0);
  assert.equal(await log.deleteRecordsBefore(2), 7, 'an offset below the start changes nothing');
  await log.close();

  log = await PartitionLog.open({ dir });
  assert.equal(log.logStartOffset, 7);
  assert.equal(log.logEndOffset, 12);
  await log.truncateFullyAndStartAt(3);
  assert.equal(log.logStartOffset, 3, 'a log restarted lower forgets the deleted-before offset');
  await log.close();
  log = await PartitionLog.open({ dir });
  assert.equal(log.logStartOffset, 3);
  await log.close();
});

test('a log start past a log end that lost its tail becomes the log end, and later appends stay readable', async (t) => {
  const dir = await tempDir(t);
  let log = await PartitionLog.open({ dir });
  await log.append(makeBatch('a', 4));
  assert.equal(await log.deleteRecordsBefore(4), 4);
  await log.close();
  // What a crash under fsync "never" can leave: the start recorded past the log end that survived.
  await writeFile(path.join(dir, 'log-start-offset'), '9\n');
  log = await PartitionLog.open({ dir });
  assert.equal(log.logStartOffset, 4);
  await log.append(makeBatch('b', 10));
  await log.close();
  log = await PartitionLog.open({ dir });
  assert.equal(log.logStartOffset, 4, 'the clamped start was recorded');
  assert.ok((await log.read(4, 1 << 20)).bytes.length > 0);
  await log.close();
});
