/**
 * Durable storage for one Raft node, the production `RaftStore` (io.ts): a WAL (see codec.ts for the
 * format) and a snapshot file, in one directory. A Ready is acknowledged only after `persist()` has
 * written and fdatasync'ed it (DESIGN.md decision 11); recovery cuts off a torn tail. The driver calls
 * one operation at a time; the promise-returning methods do the work, and the `RaftStore` methods wrap
 * them into completion callbacks.
 *
 *   <dir>/wal        append-only frames: entries, hard states, markers
 *   <dir>/snapshot   the latest snapshot, replaced atomically (temporary file, fsync, rename, dir fsync)
 */
import assert from 'node:assert/strict';
import { type FileHandle, mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  decodeSnapshotFile,
  decodeWal,
  encodeRecoveredWal,
  encodeSnapshotFile,
  encodeWalRecords,
  recoverInitialState,
  walNeedsRewrite,
} from './codec.ts';
import type { Done, DurableLog, RaftStore } from './io.ts';
import type { InitialState, Ready, Snapshot } from './types.ts';

export class FileRaftStore implements RaftStore {
  private wal: FileHandle | null = null;
  readonly dir: string;
  /** Bytes cut off the WAL's tail at open (a torn write from a crash). */
  tornBytes = 0;
  initial!: InitialState;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens (creating if needed) and recovers. `fresh` is the snapshot to start from when nothing is stored. */
  static async open(dir: string, fresh: Snapshot): Promise<FileRaftStore> {
    await mkdir(dir, { recursive: true });
    const s = new FileRaftStore(dir);
    const snapPath = join(dir, 'snapshot');
    const stored = await exists(snapPath);
    const snapshot = stored ? decodeSnapshotFile(await readFile(snapPath)) : fresh;
    const walPath = join(dir, 'wal');
    const walBytes = (await exists(walPath)) ? await readFile(walPath) : new Uint8Array(0);
    const wal = decodeWal(walBytes);
    const init = recoverInitialState(snapshot, wal);
    s.initial = init;
    s.wal = await open(walPath, 'a+');
    s.tornBytes = wal.tornBytes;
    // A bootstrap snapshot (the founding voters) is made durable before any entry follows it, so that
    // a restart recovers the membership from the directory alone, without being told it again.
    if (!stored && fresh.index > 0) await s.writeSnapshot(fresh);
    if (walNeedsRewrite(snapshot, wal)) {
      // The snapshot is ahead of the WAL (see walNeedsRewrite): start the WAL over from what was
      // recovered, atomically, before anything is appended after the snapshot.
      await s.rewriteWal(encodeRecoveredWal(init));
    } else if (wal.tornBytes > 0) {
      await s.wal.truncate(wal.validBytes);
      await s.wal.datasync();
    }
    return s;
  }

  persist(rd: Ready, done: Done): void {
    this.persistReady(rd).then(() => done(null), done);
  }

  compact(snapshot: Snapshot, durable: DurableLog, done: Done): void {
    this.compactTo(snapshot, durable).then(() => done(null), done);
  }

  /** Makes a Ready durable: the snapshot first (if any), then entries and hard state, one fdatasync. */
  async persistReady(rd: Ready): Promise<void> {
    assert.ok(this.wal, 'storage is closed');
    if (rd.snapshot) await this.writeSnapshot(rd.snapshot);
    if (!rd.snapshot && rd.entries.length === 0 && !rd.hardState) return;
    const bytes = encodeWalRecords(
      rd.snapshot && { index: rd.snapshot.index, term: rd.snapshot.term },
      rd.entries,
      rd.hardState,
    );
    await this.wal.write(bytes);
    await this.wal.datasync();
  }

  /** After the core compacted: save its snapshot, then rewrite the WAL to start at the compaction point. */
  async compactTo(snapshot: Snapshot, durable: DurableLog): Promise<void> {
    await this.writeSnapshot(snapshot);
    await this.rewriteWal(encodeWalRecords(durable.base, durable.entries, durable.hardState));
  }

  /** Replaces the WAL atomically: temporary file, fsync, rename, directory fsync. */
  private async rewriteWal(bytes: Uint8Array): Promise<void> {
    const tmp = join(this.dir, 'wal.tmp');
    const fh = await open(tmp, 'w');
    await fh.write(bytes);
    await fh.sync();
    await fh.close();
    await this.wal!.close();
    await rename(tmp, join(this.dir, 'wal'));
    await syncDir(this.dir);
    this.wal = await open(join(this.dir, 'wal'), 'a+');
  }

  async close(): Promise<void> {
    await this.wal?.close();
    this.wal = null;
  }

  private async writeSnapshot(s: Snapshot): Promise<void> {
    const tmp = join(this.dir, 'snapshot.tmp');
    const fh = await open(tmp, 'w');
    await fh.write(encodeSnapshotFile(s));
    await fh.sync();
    await fh.close();
    await rename(tmp, join(this.dir, 'snapshot'));
    await syncDir(this.dir);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** A rename is durable only once its directory is synced. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
