/**
 * The partitions this node stores: one PartitionLog per topic-partition, in `<data>/<topic>-<n>/`
 * (DESIGN.md "On disk"). Opens them at start (in parallel, bounded), creates them with their topic,
 * and removes them when their topic is deleted.
 */
import assert from 'node:assert/strict';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError, isBrokerError } from '../errors.ts';
import { partitionOpensInFlightMax } from '../limits.ts';
import type { LogConfig } from '../storage/log-config.ts';
import { Semaphore } from '../storage/mutex.ts';
import { type CorruptionEvent, PartitionLog, type StorageLogger } from '../storage/partition-log.ts';

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
  /** Bounds the logs opening or closing at once across every topic (each holds descriptors meanwhile). */
  #opening = new Semaphore(partitionOpensInFlightMax);

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
          logs[p] = await this.#openLog(topic, p, dir, config);
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
      await Promise.all(Array.from({ length: Math.min(partitionOpensInFlightMax, partitions) }, worker));
    } catch (err) {
      await this.closeLogs(logs).catch(() => {});
      throw err;
    }
    this.#logs.set(topic, logs);
  }

  /** Opens one partition's log, within the bound on opens at once. */
  #openLog(topic: string, partition: number, dir: string, config: LogConfig): Promise<PartitionLog> {
    return this.#opening.run(() =>
      PartitionLog.open({
        dir,
        config,
        clock: this.clock,
        logger: this.logger,
        onCorruption: (event) => this.onCorruption?.(topic, partition, event),
      }),
    );
  }

  /** Partitions taken offline because their log could not open. */
  get offlineCount(): number {
    return this.#offline.size;
  }

  /**
   * Creates the partitions of a new topic, which no registered topic owns. Directories of that name
   * left from before (by a crash no intent recorded) are removed first, so that a new topic never
   * adopts old data; when opening fails (too many open files, a full disk), every directory this
   * made is removed before the error is thrown, so a failed creation leaves nothing behind.
   */
  async createTopic(topic: string, partitions: number, config: LogConfig): Promise<void> {
    assert.ok(!this.#logs.has(topic), `partitions of ${topic} are open already`);
    for (let p = 0; p < partitions; p++) {
      await rm(path.join(this.dataDir, partitionDirName(topic, p)), { recursive: true, force: true });
    }
    try {
      await this.openTopic(topic, partitions, config);
    } catch (err) {
      for (let p = 0; p < partitions; p++) {
        await rm(path.join(this.dataDir, partitionDirName(topic, p)), { recursive: true, force: true });
      }
      throw err;
    }
  }

  /**
   * Opens new partitions `from` to `to - 1` of an open topic (CreatePartitions), after removing any
   * directory of those names that a crash left (a growth whose registration never happened), so a new
   * partition never adopts old data. When one cannot open, the ones this opened are closed and removed.
   */
  async addPartitions(topic: string, from: number, to: number, config: LogConfig): Promise<void> {
    const logs = this.#logs.get(topic);
    assert.ok(logs && logs.length === from && to > from, `${topic} has ${from} partitions open`);
    const added: PartitionLog[] = [];
    try {
      for (let p = from; p < to; p++) {
        const dir = path.join(this.dataDir, partitionDirName(topic, p));
        await rm(dir, { recursive: true, force: true });
        added.push(await this.#openLog(topic, p, dir, config));
      }
    } catch (err) {
      await this.closeLogs(added).catch(() => {});
      for (let p = from; p < to; p++)
        await rm(path.join(this.dataDir, partitionDirName(topic, p)), { recursive: true, force: true });
      throw err;
    }
    logs.push(...added);
  }

  /** Closes and removes partitions `from` onward of an open topic: a growth whose registration failed. */
  async removePartitionsFrom(topic: string, from: number): Promise<void> {
    const logs = this.#logs.get(topic);
    assert.ok(logs && logs.length >= from, `${topic} has ${from} partitions open`);
    const gone = logs.splice(from);
    await this.closeLogs(gone);
    for (let p = from; p < from + gone.length; p++)
      await rm(path.join(this.dataDir, partitionDirName(topic, p)), { recursive: true, force: true });
  }

  /**
   * Removes every `<topic>-<n>` directory of a topic that is not open (a creation or deletion a crash
   * interrupted); returns how many it removed.
   */
  async removeTopicDirs(topic: string): Promise<number> {
    assert.ok(!this.#logs.has(topic), `partitions of ${topic} are open`);
    let names: string[] = [];
    try {
      names = await readdir(this.dataDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const at = name.lastIndexOf('-');
      if (at <= 0 || name.slice(0, at) !== topic) continue;
      const n = name.slice(at + 1);
      if (!/^\d+$/.test(n) || partitionDirName(topic, Number(n)) !== name) continue;
      await rm(path.join(this.dataDir, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /**
   * Closes logs, as many at once as `partitionOpensInFlightMax`: a close writes the indexes and the
   * clean-shutdown marker, each a descriptor for a moment, so closing thousands at once ran out of
   * descriptors at shutdown. Every log is closed; the first failure is thrown after.
   */
  async closeLogs(logs: (PartitionLog | undefined)[]): Promise<void> {
    const open = logs.filter((l) => l !== undefined);
    const results = await Promise.allSettled(open.map((l) => this.#opening.run(() => l.close())));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
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
    await this.closeLogs(logs).catch(() => {});
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
    await this.closeLogs(all);
  }
}
