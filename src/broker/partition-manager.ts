/**
 * The partitions this node stores: one PartitionLog per replica it holds, in `<data>/<topic>-<n>/`
 * (DESIGN.md "On disk"). In a cluster a node holds only the partitions the metadata places on it, so
 * partitions open and go one at a time, as the replica manager (core.ts) acts on metadata changes.
 *
 * Each directory records the id of the topic it belongs to in `partition.metadata` (Kafka's
 * `PartitionMetadataFile`), so that a directory left by an earlier topic of the same name, a deletion
 * this node missed while it was down, is never adopted by a new topic: it is removed and the
 * partition starts empty. A directory without the file (written by the single-node release) is
 * adopted and given one.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError, isBrokerError } from '../errors.ts';
import { partitionOpensInFlightMax } from '../limits.ts';
import type { LogConfig } from '../storage/log-config.ts';
import { Semaphore } from '../storage/mutex.ts';
import { type CorruptionEvent, PartitionLog, type StorageLogger } from '../storage/partition-log.ts';
import { replaceFileDurably } from '../storage/segment.ts';

export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

const PARTITION_METADATA = 'partition.metadata';

/** The topic id a partition directory records, or null when it records none. */
async function recordedTopicId(dir: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, PARTITION_METADATA), 'utf8');
  } catch {
    return null;
  }
  const m = /^topic_id: *(\S+)$/m.exec(text.slice(0, 4096));
  return m ? m[1] : null;
}

export class PartitionManager {
  readonly dataDir: string;
  readonly logger: StorageLogger;
  readonly clock: () => number;
  /** Per topic, the partitions held here; null where one could not be opened (its error is in #offline). */
  #logs = new Map<string, Map<number, PartitionLog | null>>();
  /**
   * Partitions whose log could not be opened (`topic-partition` to why), as Kafka takes a failed log
   * directory offline without stopping the broker (its LogDirFailureChannel): every request for one
   * answers KAFKA_STORAGE_ERROR, and the other partitions go on.
   */
  #offline = new Map<string, BrokerError>();
  /** Told of each corrupt place a log finds (the metrics hook). */
  onCorruption: ((topic: string, partition: number, event: CorruptionEvent) => void) | undefined;
  /** Bounds the logs opening or closing at once across every topic (each holds descriptors meanwhile). */
  #opening = new Semaphore(partitionOpensInFlightMax);

  constructor(dataDir: string, logger: StorageLogger, clock: () => number = Date.now) {
    this.dataDir = dataDir;
    this.logger = logger;
    this.clock = clock;
  }

  /**
   * Opens (or creates) the log of one partition of the topic with id `topicId`. A directory of
   * another topic id is removed first. A log that cannot open takes the partition offline rather
   * than failing: the error is what requests for it get.
   */
  async openPartition(topic: string, partition: number, topicId: string, config: LogConfig): Promise<void> {
    const key = `${topic}-${partition}`;
    const dir = path.join(this.dataDir, partitionDirName(topic, partition));
    let logs = this.#logs.get(topic);
    if (!logs) {
      logs = new Map();
      this.#logs.set(topic, logs);
    }
    if (logs.get(partition)) return;
    this.#offline.delete(key);
    logs.set(partition, null);
    try {
      const log = await this.#opening.run(async () => {
        const recorded = await recordedTopicId(dir);
        if (recorded !== null && recorded !== topicId) {
          this.logger.warn(
            { topic, partition, dir, was: recorded, now: topicId },
            'removed the directory of an earlier topic of the same name',
          );
          await this.#removeDir(dir, recorded);
        }
        await mkdir(dir, { recursive: true });
        if (recorded !== topicId)
          await replaceFileDurably(
            path.join(dir, PARTITION_METADATA),
            Buffer.from(`version: 0\ntopic_id: ${topicId}\n`),
          );
        return PartitionLog.open({
          dir,
          config,
          clock: this.clock,
          logger: this.logger,
          onCorruption: (event) => this.onCorruption?.(topic, partition, event),
        });
      });
      if (this.#logs.get(topic) !== logs || logs.get(partition) !== null) {
        // Dropped while it opened.
        await log.close().catch(() => {});
        return;
      }
      logs.set(partition, log);
    } catch (err) {
      const why = isBrokerError(err, 'KAFKA_STORAGE_ERROR')
        ? err
        : new BrokerError('KAFKA_STORAGE_ERROR', `partition ${key} cannot open: ${String(err)}`, {
            cause: err,
          });
      this.logger.error(
        { topic, partition, dir, err: why.message },
        'partition offline: its log cannot open',
      );
      this.#offline.set(key, why);
    }
  }

  /** Closes one partition's log (its files stay), e.g. to reopen it with new settings. */
  async closePartition(topic: string, partition: number): Promise<void> {
    const logs = this.#logs.get(topic);
    const log = logs?.get(partition);
    logs?.delete(partition);
    if (logs?.size === 0) this.#logs.delete(topic);
    this.#offline.delete(`${topic}-${partition}`);
    if (log) await this.#opening.run(() => log.close());
  }

  /**
   * Closes and removes one partition. The directory is renamed aside first (as Kafka marks it
   * `-delete`), so that a crash mid-way never leaves a half-deleted partition under a live name.
   */
  async dropPartition(topic: string, partition: number, topicId: string): Promise<void> {
    await this.closePartition(topic, partition).catch(() => {});
    await this.#removeDir(path.join(this.dataDir, partitionDirName(topic, partition)), topicId);
  }

  async #removeDir(dir: string, topicId: string): Promise<void> {
    const aside = `${dir}.${topicId}-delete`;
    await rename(dir, aside).catch(() => {});
    await rm(aside, { recursive: true, force: true });
  }

  /** Partitions taken offline because their log could not open. */
  get offlineCount(): number {
    return this.#offline.size;
  }

  /** Whether this node holds the partition (open or offline). */
  holds(topic: string, partition: number): boolean {
    return this.#logs.get(topic)?.has(partition) ?? false;
  }

  /** The partition's log; KAFKA_STORAGE_ERROR when it is offline, UNKNOWN_TOPIC_OR_PARTITION when not held. */
  get(topic: string, partition: number): PartitionLog {
    const logs = this.#logs.get(topic);
    if (!logs?.has(partition))
      throw new BrokerError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `this node holds no partition ${partition} of ${topic}`,
      );
    const log = logs.get(partition);
    if (!log) {
      throw (
        this.#offline.get(`${topic}-${partition}`) ??
        new BrokerError('KAFKA_STORAGE_ERROR', `partition ${topic}-${partition} is offline`)
      );
    }
    return log;
  }

  /** The partition numbers of a topic this node holds, in order. */
  heldOf(topic: string): number[] {
    return [...(this.#logs.get(topic)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Topics with at least one partition held here. */
  topics(): string[] {
    return [...this.#logs.keys()];
  }

  /** Every open log (offline partitions are skipped). */
  *all(): Generator<{ topic: string; partition: number; log: PartitionLog }> {
    for (const [topic, logs] of this.#logs)
      for (const [partition, log] of logs) if (log) yield { topic, partition, log };
  }

  /** Partitions held here, offline ones included. */
  get partitionCount(): number {
    let n = 0;
    for (const logs of this.#logs.values()) n += logs.size;
    return n;
  }

  /**
   * Removes every `<name>-<n>` directory that `keep` does not claim and no open partition uses: what
   * a deletion this node missed, or a creation a crash interrupted, left. Returns how many it removed.
   */
  async removeStrays(keep: (topic: string, partition: number) => boolean): Promise<number> {
    let names: string[] = [];
    try {
      names = await readdir(this.dataDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const m = /^(.+)-(0|[1-9]\d{0,8})$/.exec(name);
      if (!m) continue;
      const [topic, partition] = [m[1], Number(m[2])];
      if (this.holds(topic, partition) || keep(topic, partition)) continue;
      await rm(path.join(this.dataDir, name), { recursive: true, force: true });
      this.logger.warn({ dir: name }, 'removed a partition directory that no topic places on this node');
      removed++;
    }
    return removed;
  }

  /** Removes directories left by a deletion a crash interrupted. */
  async removeDeletedLeftovers(): Promise<void> {
    let names: string[] = [];
    try {
      names = await readdir(this.dataDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.endsWith('-delete')) await rm(path.join(this.dataDir, name), { recursive: true, force: true });
    }
  }

  /**
   * Closes every log, as many at once as `partitionOpensInFlightMax`: a close writes the indexes and
   * the clean-shutdown marker, each a descriptor for a moment, so closing thousands at once ran out
   * of descriptors at shutdown. Every log is closed; the first failure is thrown after.
   */
  async closeAll(): Promise<void> {
    const open = [...this.all()].map((x) => x.log);
    this.#logs.clear();
    this.#offline.clear();
    const results = await Promise.allSettled(open.map((l) => this.#opening.run(() => l.close())));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
