/**
 * The settings of one partition log, named after Kafka's topic configs, with their defaults and
 * bounds from src/limits.ts. `resolveLogConfig` validates every value with a message that names the
 * setting, the value and what is allowed.
 */
import { BrokerError } from '../errors.ts';
import * as limits from '../limits.ts';

/**
 * - `always`: an append resolves only after the bytes and the file's size are on disk (fdatasync).
 *   Appends that arrive while one fdatasync runs share the next one (group commit).
 * - `interval`: an append resolves once the bytes are in the OS page cache; a timer runs fdatasync every
 *   `fsyncIntervalMs` when there are unsynced writes. A machine crash may lose up to that window.
 * - `never`: the log calls fdatasync only when a segment closes and at shutdown; durability rests on the
 *   OS writeback (and, in a cluster, on replication), as Kafka's default does.
 * In every mode a process crash (SIGKILL) loses nothing that was acknowledged, because the bytes were
 * already handed to the kernel; and recovery never serves a torn or corrupt batch.
 */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface LogConfig {
  /** Roll the active segment when it would grow past this. @default 1 GiB */
  segmentBytes: number;
  /** Roll the active segment when its first batch is older than this. @default 7 days */
  segmentMs: number;
  /** Bytes between sparse index entries. @default 4096 */
  indexIntervalBytes: number;
  /** @default 'always' */
  fsync: FsyncPolicy;
  /** Used with `fsync: 'interval'`. @default 1000 */
  fsyncIntervalMs: number;
  /** Delete closed segments whose newest record is older than this; -1 keeps them. @default 7 days */
  retentionMs: number;
  /** Delete the oldest closed segments while the log is larger than this; -1 for no bound. @default -1 */
  retentionBytes: number;
  /** `delete` applies retention, `compact` keeps the newest record per key; both may be on. @default delete */
  cleanupPolicy: { delete: boolean; compact: boolean };
  /** How long compaction keeps tombstones (null values). @default 1 day */
  deleteRetentionMs: number;
  /** Largest batch accepted (Kafka `max.message.bytes`). @default 1048588 */
  maxMessageBytes: number;
}

export const defaultLogConfig: Readonly<LogConfig> = Object.freeze({
  segmentBytes: limits.segmentBytesDefault,
  segmentMs: limits.segmentMsDefault,
  indexIntervalBytes: limits.indexIntervalBytesDefault,
  fsync: 'always',
  fsyncIntervalMs: limits.fsyncIntervalMsDefault,
  retentionMs: limits.retentionMsDefault,
  retentionBytes: limits.retentionBytesDefault,
  cleanupPolicy: Object.freeze({ delete: true, compact: false }),
  deleteRetentionMs: limits.deleteRetentionMsDefault,
  maxMessageBytes: limits.batchBytesDefault,
});

function invalid(key: string, value: unknown, allowed: string): BrokerError {
  return new BrokerError('INVALID_CONFIG', `${key}=${JSON.stringify(value)} is invalid: ${allowed}`);
}

function checkInt(key: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(key, value, `must be an integer between ${min} and ${max}`);
  }
}

export function resolveLogConfig(partial: Partial<LogConfig> = {}): LogConfig {
  const c: LogConfig = {
    ...defaultLogConfig,
    ...partial,
    cleanupPolicy: { ...defaultLogConfig.cleanupPolicy },
  };
  if (partial.cleanupPolicy) c.cleanupPolicy = { ...partial.cleanupPolicy };
  checkInt('segment.bytes', c.segmentBytes, limits.segmentBytesMin, limits.segmentBytesMax);
  checkInt('segment.ms', c.segmentMs, 1, Number.MAX_SAFE_INTEGER);
  checkInt('index.interval.bytes', c.indexIntervalBytes, 0, limits.segmentBytesMax);
  if (!['always', 'interval', 'never'].includes(c.fsync)) {
    throw invalid('fsync', c.fsync, "must be one of 'always', 'interval', 'never'");
  }
  checkInt('fsync.interval.ms', c.fsyncIntervalMs, 1, 24 * 60 * 60 * 1000);
  checkInt('retention.ms', c.retentionMs, -1, Number.MAX_SAFE_INTEGER);
  checkInt('retention.bytes', c.retentionBytes, -1, Number.MAX_SAFE_INTEGER);
  checkInt('delete.retention.ms', c.deleteRetentionMs, 0, Number.MAX_SAFE_INTEGER);
  checkInt('max.message.bytes', c.maxMessageBytes, 0, limits.batchBytesMax);
  return c;
}
