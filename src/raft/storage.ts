/**
 * Durable storage for one Raft node, the production `RaftStore` (io.ts): a WAL (see codec.ts for the
 * format) and a snapshot file, in one directory. A Ready is acknowledged only after `persist()` has
 * written and fdatasync'ed it (DESIGN.md decision 11); recovery cuts off a torn tail. The driver calls
 * one operation at a time; the promise-returning methods do the work, and the `RaftStore` methods wrap
 * them into completion callbacks.
 *
 *   <dir>/wal        append-only frames: entries, hard states, markers
 *   <dir>/snapshot   the latest snapshot, replaced atomically (temporary file, fsync, rename, dir fsync)
 *   <dir>/reserve    `walReserveBytes` of zeros, given up when a write finds the disk full
 *
 * A full disk is not fatal at once: a write that fails with ENOSPC is undone (the WAL is cut back to
 * where it was), the reserve file is removed, and the write is tried once more. So a node whose disk
 * another writer filled can still commit metadata, among it the deletion that frees space. The
 * reserve is made again once the disk has room for it twice over. Only a second ENOSPC, with no
 * reserve left, stops the node.
 */
import assert from 'node:assert/strict';
import { type FileHandle, mkdir, open, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
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
import { walReserveBytes } from './limits.ts';
import type { InitialState, Ready, Snapshot } from './types.ts';

export class FileRaftStore implements RaftStore {
  private wal: FileHandle | null = null;
  readonly dir: string;
  /** Bytes cut off the WAL's tail at open (a torn write from a crash). */
  tornBytes = 0;
  initial!: InitialState;
  /** The WAL's length: where a write that failed is cut back to. */
  private walBytes = 0;
  /** Whether the reserve file is in place. */
  private reserved = false;
  /** When the reserve was last tried again after it was given up. */
  private reserveTriedMs = 0;
  /** Times the reserve was given up to let a write through (the disk was full). */
  reserveReleases = 0;

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
    s.walBytes = (await s.wal.stat()).size;
    await s.makeReserve();
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
    await this.withReserve(async () => {
      const wal = this.wal!;
      try {
        await writeAll(wal, bytes);
        await wal.datasync();
      } catch (err) {
        // Nothing of a failed write may stay: a later frame after a partial one would read as damage.
        await wal.truncate(this.walBytes).catch(() => {});
        throw err;
      }
      this.walBytes += bytes.length;
    });
    void this.maybeRemakeReserve();
  }

  /** Runs `write`; on a full disk gives up the reserve and runs it once more. */
  private async withReserve(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || !this.reserved) throw err;
      await rm(join(this.dir, 'reserve'), { force: true });
      this.reserved = false;
      this.reserveReleases++;
      this.reserveTriedMs = Date.now();
      await write();
    }
  }

  /** Writes the reserve file (fsync'd); on a disk without room for it, goes on without one. */
  private async makeReserve(): Promise<void> {
    const file = join(this.dir, 'reserve');
    try {
      if ((await stat(file).catch(() => null))?.size === walReserveBytes) {
        this.reserved = true;
        return;
      }
      const fh = await open(file, 'w');
      try {
        await writeAll(fh, Buffer.alloc(walReserveBytes));
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.reserved = true;
    } catch {
      await rm(file, { force: true }).catch(() => {});
      this.reserved = false;
    }
  }

  /** After the reserve was given up: make it again when the disk has room for it twice over. */
  private async maybeRemakeReserve(): Promise<void> {
    if (this.reserved || Date.now() - this.reserveTriedMs < 10_000) return;
    this.reserveTriedMs = Date.now();
    const s = await statfs(this.dir).catch(() => null);
    if (s && s.bavail * s.bsize >= 2 * walReserveBytes) await this.makeReserve();
  }

  /** After the core compacted: save its snapshot, then rewrite the WAL to start at the compaction point. */
  async compactTo(snapshot: Snapshot, durable: DurableLog): Promise<void> {
    await this.withReserve(() => this.writeSnapshot(snapshot));
    await this.withReserve(() =>
      this.rewriteWal(encodeWalRecords(durable.base, durable.entries, durable.hardState)),
    );
  }

  /** Replaces the WAL atomically: temporary file, fsync, rename, directory fsync. */
  private async rewriteWal(bytes: Uint8Array): Promise<void> {
    const tmp = join(this.dir, 'wal.tmp');
    const fh = await open(tmp, 'w');
    try {
      await writeAll(fh, bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.wal!.close();
    await rename(tmp, join(this.dir, 'wal'));
    await syncDir(this.dir);
    this.wal = await open(join(this.dir, 'wal'), 'a+');
    this.walBytes = bytes.length;
  }

  async close(): Promise<void> {
    await this.wal?.close();
    this.wal = null;
  }

  private async writeSnapshot(s: Snapshot): Promise<void> {
    const tmp = join(this.dir, 'snapshot.tmp');
    const fh = await open(tmp, 'w');
    try {
      await writeAll(fh, encodeSnapshotFile(s));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, 'snapshot'));
    await syncDir(this.dir);
  }
}

/**
 * Writes every byte: a write may take fewer than asked (a disk that fills up mid-write returns the
 * count it managed, and only the next write fails with ENOSPC), which must never pass for a whole one.
 */
async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
    if (bytesWritten <= 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    at += bytesWritten;
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
