import { readdirSync } from 'node:fs';
import { HW_CHECKPOINT_FILE } from '../../src/broker/replication-offset-checkpoint.ts';
import { PID_FILE } from '../../src/pid-file.ts';

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Names of the partition directories (`<topic>-<n>`) in a data directory, sorted. */
export function partitionDirs(dataDir: string): string[] {
  return readdirSync(dataDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^.+-\d+$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * Every other entry of a data directory (beside meta/, raft/, the high watermark checkpoint and a
 * running broker process's pid file): anything a failed or interrupted change left aside.
 */
export function strayEntries(dataDir: string): string[] {
  return readdirSync(dataDir)
    .filter(
      (n) =>
        n !== 'meta' && n !== 'raft' && n !== HW_CHECKPOINT_FILE && n !== PID_FILE && !/^.+-\d+$/.test(n),
    )
    .sort();
}

/** The directories a set of topics should have: `<topic>-0` .. `<topic>-(n-1)` each. */
export function expectedDirs(topics: { name: string; partitions: number }[]): string[] {
  return topics.flatMap((t) => Array.from({ length: t.partitions }, (_, p) => `${t.name}-${p}`)).sort();
}

export { type KafkaCaller, kafkaCaller } from '../kafka/helpers.ts';
