/**
 * The partitions this node stores: one PartitionLog per topic-partition, in `<data>/<topic>-<n>/`
 * (DESIGN.md "On disk"). Opens them at start (in parallel, bounded), creates them with their topic,
 * and removes them when their topic is deleted.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError } from '../errors.ts';
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
  #logs = new Map<string, PartitionLog[]>();
  /** Told of each corrupt place a log finds (the metrics hook). */
  onCorruption: ((topic: string, partition: number, event: CorruptionEvent) => void) | undefined;

  constructor(dataDir: string, logger: StorageLogger, clock: () => number = Date.now) {
    this.dataDir = dataDir;
    this.logger = logger;
    this.clock = clock;
  }

  /** Opens (or creates) every partition of a topic. */
  async openTopic(topic: string, partitions: number, config: LogConfig): Promise<PartitionLog[]> {
    const logs: PartitionLog[] = new Array(partitions);
    const next = { i: 0 };
    const worker = async () => {
      while (next.i < partitions) {
        const p = next.i++;
        logs[p] = await PartitionLog.open({
          dir: path.join(this.dataDir, partitionDirName(topic, p)),
          config,
          clock: this.clock,
          logger: this.logger,
          onCorruption: (event) => this.onCorruption?.(topic, p, event),
        });
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(openConcurrency, partitions) }, worker));
    } catch (err) {
      await Promise.all(logs.filter(Boolean).map((l) => l.close().catch(() => {})));
      throw err;
    }
    this.#logs.set(topic, logs);
    return logs;
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
    return logs[partition];
  }

  partitionsOf(topic: string): PartitionLog[] | undefined {
    return this.#logs.get(topic);
  }

  *all(): Generator<{ topic: string; partition: number; log: PartitionLog }> {
    for (const [topic, logs] of this.#logs)
      for (let p = 0; p < logs.length; p++) yield { topic, partition: p, log: logs[p] };
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
    await Promise.all(logs.map((l) => l.close().catch(() => {})));
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
    await Promise.all(all.map((l) => l.close()));
  }
}
