/**
 * The Raft WAL on a full disk (issue 11, keeping issue 10's promise for the metadata log): the store
 * keeps a reserve file that it gives up when a write finds no space, so the write goes through once
 * and nothing half-written stays in the WAL; a second full disk, with no reserve left, fails the
 * write, and a restart recovers exactly what was acknowledged. A real tmpfs.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { walReserveBytes } from '../../src/raft/limits.ts';
import { FileRaftStore } from '../../src/raft/storage.ts';
import { bootstrapSnapshot, type Entry, EntryType, type Ready } from '../../src/raft/types.ts';
import { fillDisk, freeBytes, smallDisk } from '../helpers/small-disk.ts';

function ready(entries: Entry[]): Ready {
  return {
    hardState: { term: 1, vote: 1, commit: entries.at(-1)?.index ?? 1 },
    entries,
    snapshot: null,
    messages: [],
    messagesAfterPersist: [],
    committedEntries: [],
    readStates: [],
  };
}

function entries(from: number, count: number, bytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: from + i,
    term: 1,
    type: EntryType.normal,
    data: new Uint8Array(bytes).fill((from + i) % 251),
  }));
}

test('a WAL write on a full disk goes through on the reserve once; the next fails; a restart holds what was acknowledged', async (t) => {
  const disk = await smallDisk(t, 8 * 1024 * 1024);
  const dir = path.join(disk, 'raft');
  let store = await FileRaftStore.open(dir, bootstrapSnapshot([1]));
  assert.ok(existsSync(path.join(dir, 'reserve')), 'the reserve is made at open');
  await store.persistReady(ready(entries(2, 4, 1000)));
  const filler = await fillDisk(disk);
  assert.ok((await freeBytes(disk)) < 4096, 'the disk is full');
  // 256 KiB of entries: more than the last block of the WAL can take.
  await store.persistReady(ready(entries(6, 4, 64 * 1024)));
  assert.equal(store.reserveReleases, 1, 'the reserve was given up for it');
  assert.ok(!existsSync(path.join(dir, 'reserve')));
  // No reserve left: the next write fails, and leaves nothing of itself in the WAL.
  const more = await fillDisk(disk);
  await assert.rejects(store.persistReady(ready(entries(10, 40, 64 * 1024))), { code: 'ENOSPC' });
  await store.close();
  await more.release();
  await filler.release();
  store = await FileRaftStore.open(dir, bootstrapSnapshot([1]));
  try {
    const recovered = store.initial.entries.map((e) => e.index);
    assert.deepEqual(
      recovered,
      [2, 3, 4, 5, 6, 7, 8, 9],
      'every acknowledged entry, none of the failed write',
    );
    assert.equal(store.initial.entries.at(-1)!.data.length, 64 * 1024);
    assert.equal(store.tornBytes, 0, 'the failed write was cut back, not left torn');
    assert.ok(existsSync(path.join(dir, 'reserve')), 'with room again, the reserve is back');
    assert.ok(walReserveBytes >= 1024 * 1024);
  } finally {
    await store.close();
  }
});
