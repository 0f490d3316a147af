/**
 * The one narrow view of a partition that everything above `broker/` sees (DESIGN.md layers, STYLE.md
 * "The doors see a partition through one narrow view"), after Redpanda's `kafka/server/partition_proxy.h`:
 * whether this replica leads, its leader epoch, the high watermark, log start and end, the last stable
 * offset, its size, read, append, and the time query. Neither door nor the group service touches a
 * `PartitionLog`, its segments or its config. The replica's `Partition` (partition.ts) implements it:
 * the one place that knows the replica's role and epoch, so that every read and write passes it.
 *
 * The doors still produce and fetch through `BrokerCore.produce` and `BrokerCore.fetch`, which hold the
 * Kafka semantics above the log (validation, idempotence, timestamps, the consumer's long poll, the
 * metrics) and reach the log through this view; what the doors read from a partition directly
 * (offsets, the time query, waiting for data) comes from here.
 */
import type { AppendResult, ReadResult } from '../storage/partition-log.ts';

export interface PartitionDescription {
  partition: number;
  leader: string;
  replicas: string[];
  isr: string[];
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
  sizeBytes: number;
  segments: number;
  /** Offsets the slowest follower is behind the leader's log end (0 with none); -1 off the leader. */
  maxFollowerLag?: number;
  /** The same roles by numeric node id (-1: no leader), and the leader epoch, from the metadata. */
  leaderId?: number;
  replicaIds?: number[];
  isrIds?: number[];
  leaderEpoch?: number;
}

export interface PartitionView {
  readonly topic: string;
  readonly partition: number;
  /** Whether this replica leads the partition: always, on a single node. */
  readonly isLeader: boolean;
  /** The leader epoch of this replica's term; 0 on a single node, whose leadership never moves. */
  readonly leaderEpoch: number;
  /**
   * The offset a consumer may read up to, and ListOffsets' latest: on a single node, what is on disk
   * under `fsync: always`, else what is written (DESIGN.md decision 7).
   */
  readonly highWatermark: number;
  /** The first offset still stored, and ListOffsets' earliest. */
  readonly logStartOffset: number;
  /** One past the last offset written (a follower reads up to it). */
  readonly logEndOffset: number;
  /** Without transactions every offset below the high watermark is stable. */
  readonly lastStableOffset: number;
  readonly sizeBytes: number;
  /** The largest batch the partition takes (its topic's max.message.bytes). */
  readonly maxBatchBytes: number;
  /** The largest record timestamp stored (ListOffsets' MAX_TIMESTAMP), or -1 when there is none. */
  readonly maxTimestamp: number;
  /**
   * Whole batches from the one holding `offset`, up to `maxBytes` but at least one, and none whose last
   * offset reaches `maxOffset`. Without `maxOffset` the read goes to the log end, as a follower's or the
   * broker's own loaders' do; a consumer's read stops at the high watermark.
   */
  read(offset: number, maxBytes: number, opts?: { maxOffset?: number }): Promise<ReadResult>;
  /** Appends batches as they are (the core has validated them; `verified` says so to the log). */
  append(batches: Buffer, opts?: { verified?: boolean }): Promise<AppendResult>;
  /**
   * Moves the log start offset forward to `offset`, durably (DeleteRecords); the caller has checked it
   * against the high watermark. Resolves with the new log start offset (the low watermark).
   */
  deleteRecordsBefore(offset: number): Promise<number>;
  /** The first record at or after `timestamp` (ListOffsets by time), or null when every one is older. */
  offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number } | null>;
  /** Resolves once the high watermark passes `offset`, after `timeoutMs`, or on abort (the long poll). */
  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Where a reader that must step over damaged data at `offset` (a read that failed CORRUPT_MESSAGE)
   * goes on: the first offset past the stretch holding it.
   */
  offsetPastDamage(offset: number): number;
  /** What admin tools show of this replica. */
  describe(): PartitionDescription;
}

/** What admin tools show of a partition whose log cannot open: no in-sync replica, no offsets. */
export function offlinePartitionDescription(partition: number, nodeId: string): PartitionDescription {
  return {
    partition,
    leader: nodeId,
    replicas: [nodeId],
    isr: [],
    logStartOffset: -1,
    logEndOffset: -1,
    highWatermark: -1,
    sizeBytes: 0,
    segments: 0,
    maxFollowerLag: -1,
  };
}
