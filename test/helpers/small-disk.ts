/**
 * A real, small file system for disk-full tests: a tmpfs of a few MiB mounted on a fresh directory
 * (the test must run as root, as `npm test` does in CI), unmounted when the test ends.
 */
import { execFileSync } from 'node:child_process';
import { open, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './tmp.ts';

export async function smallDisk(t: TestContext, bytes: number): Promise<string> {
  const dir = await tempDir(t, 'tsbroker-disk-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  t.after(() => {
    // Lazy, so that a file a failed test left open cannot keep the mount alive.
    execFileSync('umount', ['-l', dir]);
  });
  return dir;
}

/** Bytes still free on the file system that holds `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

const FILLER = 'filler';

/** Fills the file system of `dir` until at most `leaveBytes` are free; `release` frees the space again. */
export async function fillDisk(dir: string, leaveBytes = 0): Promise<{ release(): Promise<void> }> {
  const file = path.join(dir, FILLER);
  const fh = await open(file, 'a');
  try {
    const chunk = Buffer.alloc(4096, 0xee);
    for (;;) {
      const free = await freeBytes(dir);
      if (free <= leaveBytes) break;
      const n = Math.min(chunk.length, free - leaveBytes);
      try {
        await fh.write(chunk, 0, n);
      } catch {
        break; // ENOSPC: as full as it gets
      }
    }
  } finally {
    await fh.close();
  }
  return { release: () => rm(file, { force: true }) };
}
