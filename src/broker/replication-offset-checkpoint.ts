/**
 * The high watermarks of the partitions held on this node, kept across restarts (Kafka's
 * `replication-offset-checkpoint`, written by `ReplicaManager.checkpointHighWatermarks`). Without it a
 * restarted replica starts its high watermark at the log start offset, so a leader (or a follower that
 * becomes leader) would answer ListOffsets latest and consumers with a high watermark far behind
 * until the ISR had fetched again.
 *
 * One file for the node's data directory (Kafka keeps one per log directory; this broker has one),
 * replaced durably (temp file, fsync, rename, fsync of the directory) every
 * `replica.high.watermark.checkpoint.interval.ms` (5 s) and at shutdown. Kafka's checkpoint text
 * format, so that Kafka's tools read it:
 *
 * ```
 * 0                  version
 * 2                  number of entries
 * orders 0 1200      topic partition highWatermark
 * orders 1 877
 * ```
 *
 * A file that cannot be trusted is ignored (the caller warns): a high watermark starting low is what
 * happened before this file existed, never a loss of data, so it is no reason to refuse to start.
 */
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { isTemporaryFile, replaceFileDurably } from '../storage/segment.ts';

export const HW_CHECKPOINT_FILE = 'replication-offset-checkpoint';

/**
 * Bytes of `replication-offset-checkpoint` read before the file is judged corrupt. An entry is at most
 * 279 bytes (a 249-character topic name, a space, an int32 partition, a space, a 2^53 offset, a
 * newline), so 32 MiB holds over 120,000 entries, more replicas than one node holds
 * (`replicasPerBrokerMax` defaults to 10,000); a larger file is damage, and is not allocated.
 * @default 33554432
 */
export const hwCheckpointBytesMax = 32 * 1024 * 1024;

const CHECKPOINT_VERSION = 0;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
/** Kafka's legal topic names (`Topic.validate`): the file's separator, a space, cannot be in one. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const PARTITION_MAX = 0x7fffffff;

/** The map key of a partition's entry. */
export function hwKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export interface HwEntry {
  topic: string;
  partition: number;
  highWatermark: number;
}

/** The file's bytes for `entries`, sorted so that an unchanged set encodes to the same bytes. */
export function encodeHwCheckpoint(entries: readonly HwEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) =>
    a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
  );
  let text = `${CHECKPOINT_VERSION}\n${sorted.length}\n`;
  for (const e of sorted) text += `${e.topic} ${e.partition} ${e.highWatermark}\n`;
  return Buffer.from(text, 'utf8');
}

/** The entries a checkpoint file's text holds, by `hwKey`, or why it cannot be trusted. */
export function parseHwCheckpoint(text: string): Map<string, HwEntry> | { problem: string } {
  const lines = text.split('\n');
  // One newline ends the last line; nothing may follow it.
  if (lines.at(-1) === '') lines.pop();
  if (lines.length < 2) return { problem: 'the file has no version and count lines' };
  if (lines[0] !== String(CHECKPOINT_VERSION))
    return { problem: `version ${JSON.stringify(lines[0].slice(0, 20))}` };
  if (!DECIMAL.test(lines[1])) return { problem: `count ${JSON.stringify(lines[1].slice(0, 20))}` };
  const count = Number(lines[1]);
  if (count !== lines.length - 2)
    return { problem: `the count says ${count} entries, ${lines.length - 2} follow` };
  const entries = new Map<string, HwEntry>();
  for (let i = 2; i < lines.length; i++) {
    const bad = { problem: `line ${i + 1} is ${JSON.stringify(lines[i].slice(0, 60))}` };
    const parts = lines[i].split(' ');
    if (
      parts.length !== 3 ||
      !TOPIC_NAME.test(parts[0]) ||
      !DECIMAL.test(parts[1]) ||
      !DECIMAL.test(parts[2])
    )
      return bad;
    const partition = Number(parts[1]);
    const highWatermark = Number(parts[2]);
    if (partition > PARTITION_MAX || !Number.isSafeInteger(highWatermark)) return bad;
    const key = hwKey(parts[0], partition);
    if (entries.has(key)) return { problem: `line ${i + 1} repeats ${parts[0]} ${partition}` };
    entries.set(key, { topic: parts[0], partition, highWatermark });
  }
  return entries;
}

/**
 * Reads the checkpoint file in `dataDir`: its entries, an empty map when there is no file, or why it
 * cannot be trusted. Reads at most `hwCheckpointBytesMax` bytes.
 */
export async function readHwCheckpoint(dataDir: string): Promise<Map<string, HwEntry> | { problem: string }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path.join(dataDir, HW_CHECKPOINT_FILE), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    return { problem: `cannot open it: ${(err as Error).message}` };
  }
  try {
    const { size } = await fh.stat();
    if (size > hwCheckpointBytesMax) return { problem: `${size} bytes, more than ${hwCheckpointBytesMax}` };
    // One byte more than the stat said, to notice a file that grew since.
    const buf = Buffer.alloc(size + 1);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done > size) return { problem: 'the file grew while it was read' };
    return parseHwCheckpoint(buf.subarray(0, done).toString('utf8'));
  } catch (err) {
    return { problem: `cannot read it: ${(err as Error).message}` };
  } finally {
    await fh.close();
  }
}

/** Removes the temporary files of writes that a crash cut short (the checkpoint itself is whole). */
export async function removeHwCheckpointLeftovers(dataDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dataDir);
  } catch {
    return;
  }
  for (const name of names)
    if (name.startsWith(`${HW_CHECKPOINT_FILE}.`) && isTemporaryFile(name))
      await rm(path.join(dataDir, name), { force: true });
}

/** Replaces the checkpoint file in `dataDir` with `bytes` (from `encodeHwCheckpoint`), durably. */
export function writeHwCheckpoint(dataDir: string, bytes: Buffer): Promise<void> {
  return replaceFileDurably(path.join(dataDir, HW_CHECKPOINT_FILE), bytes);
}
