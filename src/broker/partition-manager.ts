/**
 * The partitions this node stores: one PartitionLog per topic-partition, in `<data>/<topic>-<n>/`
 * (DESIGN.md "On disk"). Opens them at start (in parallel, bounded), creates them with their topic,
 * and removes them when their topic is deleted.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError, isBrokerError } from '../errors.ts';
import type { LogConfig } from '../storage/log-config.ts';
import { type CorruptionEvent, PartitionLog, type StorageLogger } from '../storage/partition-log.ts';

/** How many logs open (and recover) at once at start-up. */
const openConcurrency = 32;

export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export class PartitionManager {
  readonly dataDir: string;
  readonly logger: StorageLogger;
  readonly clock: () => number;
  /** A hole where a partition could not be opened; its error is in #offline. */
  #logs = new Map<string, (PartitionLog | undefined)[]>();
  /**
   * Partitions whose log could not be opened (`topic-partition` to why), as Kafka takes a failed log
   * directory offline without stopping the broker (its LogDirFailureChannel): every request for one
   * answers KAFKA_STORAGE_ERROR, and the other partitions go on.
   */
  #offline = new Map<string, BrokerError>();
  /** Told of each corrupt place a log finds (the metrics hook). */
  onCorruption: ((topic: string, partition: number, event: CorruptionEvent) => void) | undefined;

  constructor(dataDir: string, logger: StorageLogger, clock: () => number = Date.now) {
    this.dataDir = dataDir;
    this.logger = logger;
    this.clock = clock;
  }

  /**
   * Opens (or creates) every partition of a topic. With `tolerateFailures` (at start-up, and when a
   * topic's logs reopen with new settings), a partition whose log cannot open is taken offline rather
   * than failing the whole topic, and with it the broker.
   */
  async openTopic(
    topic: string,
    partitions: number,
    config: LogConfig,
    opts: { tolerateFailures?: boolean } = {},
  ): Promise<void> {
    const logs: (PartitionLog | undefined)[] = new Array(partitions);
    for (let p = 0; p < partitions; p++) this.#offline.delete(`${topic}-${p}`);
    const next = { i: 0 };
    const worker = async () => {
      while (next.i < partitions) {
        const p = next.i++;
        const dir = path.join(this.dataDir, partitionDirName(topic, p));
        try {
          logs[p] = await PartitionLog.open({
            dir,
            config,
            clock: this.clock,
            logger: this.logger,
            onCorruption: (event) => this.onCorruption?.(topic, p, event),
          });
        } catch (err) {
          if (!opts.tolerateFailures) throw err;
          const why = isBrokerError(err, 'KAFKA_STORAGE_ERROR')
            ? err
            : new BrokerError('KAFKA_STORAGE_ERROR', `partition ${topic}-${p} cannot open: ${String(err)}`, {
                cause: err,
              });
          this.logger.error(
            { topic, partition: p, dir, err: why.message },
            'partition offline: its log cannot open',
          );
          this.#offline.set(`${topic}-${p}`, why);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(openConcurrency, partitions) }, worker));
    } catch (err) {
      await Promise.all(logs.map((l) => l?.close().catch(() => {})));
      throw err;
    }
    this.#logs.set(topic, logs);
  }

  /** Partitions taken offline because their log could not open. */
  get offlineCount(): number {
    return this.#offline.size;
  }

  get(topic: string, partition: number): PartitionLog {
    const logs = this.#logs.get(topic);
    if (!logs) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
    if (!Number.isInteger(partition) || partition < 0 || partition >= logs.length) {
      throw new BrokerError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic ${topic} has no partition ${partition} (it has ${logs.length})`,
      );
    }
    const log = logs[partition];
    if (!log) {
      throw (
        this.#offline.get(`${topic}-${partition}`) ??
        new BrokerError('KAFKA_STORAGE_ERROR', `partition ${topic}-${partition} is offline`)
      );
    }
    return log;
  }

  /** A topic's logs by partition; undefined where a partition is offline. */
  partitionsOf(topic: string): (PartitionLog | undefined)[] | undefined {
    return this.#logs.get(topic);
  }

  /** Every open log (offline partitions are skipped). */
  *all(): Generator<{ topic: string; partition: number; log: PartitionLog }> {
    for (const [topic, logs] of this.#logs)
      for (let p = 0; p < logs.length; p++) {
        const log = logs[p];
        if (log) yield { topic, partition: p, log };
      }
  }

  get partitionCount(): number {
    let n = 0;
    for (const logs of this.#logs.values()) n += logs.length;
    return n;
  }

  /**
   * Closes and removes a topic's partitions. Directories are renamed aside first (as Kafka marks them
   * `-delete`), so that a crash mid-way never leaves a half-deleted partition under a live name.
   */
  async dropTopic(topic: string, id: string): Promise<void> {
    const logs = this.#logs.get(topic) ?? [];
    this.#logs.delete(topic);
    for (let p = 0; p < logs.length; p++) this.#offline.delete(`${topic}-${p}`);
    await Promise.all(logs.map((l) => l?.close().catch(() => {})));
    for (let p = 0; p < logs.length; p++) {
      const dir = path.join(this.dataDir, partitionDirName(topic, p));
      const aside = `${dir}.${id}-delete`;
      await rename(dir, aside).catch(() => {});
      await rm(aside, { recursive: true, force: true });
    }
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

  async closeAll(): Promise<void> {
    const all = [...this.#logs.values()].flat();
    this.#logs.clear();
    this.#offline.clear();
    await Promise.all(all.map((l) => l?.close()));
  }
}
