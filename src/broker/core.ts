/**
 * The broker core (DESIGN.md decision 2): topics, produce and fetch in Kafka's semantics, behind both
 * front doors. It knows nothing of gRPC or the Kafka wire format; errors are BrokerErrors from the
 * closed list in src/errors.ts, which each door maps to its own codes.
 */
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { numericNodeId } from '../config/node-id.ts';
import type { BalancePlan, Move } from '../controller/balancer.ts';
import type {
  AlterConfigsResult,
  AlterPartitionResult,
  CreateTopicResult,
  DeleteTopicResult,
  ElectLeadersRequest,
  OngoingReassignment,
  PartitionResult,
  ProducerIdBlock,
  ReassignmentRequest,
} from '../controller/controller.ts';
import { type ControllerOp, partitionSizesPerHeartbeatMax } from '../controller/ops.ts';
import { ongoingReassignments } from '../controller/reassignments.ts';
import { BrokerError, type ErrorCode, isBrokerError } from '../errors.ts';
import { consumeRecordsMax } from '../limits.ts';
import { MetadataImage, type TopicImage } from '../metadata/image.ts';
import { migrateLegacyMetadata } from '../metadata/migrate.ts';
import type { MetadataRecord } from '../metadata/records.ts';
import {
  ATTR,
  type BatchInput,
  type DecodedRecord,
  encodeBatchAsync,
  F,
  forEachBatch,
  type RecordInput,
  readBatchHeader,
  readInt64,
  recompressBatch,
} from '../records/batch.ts';
import { COMPRESSION, type CompressionCode } from '../records/compression.ts';
import { partitionForKey } from '../records/partitioner.ts';
import { materialize, STOP, walkBatch } from '../records/record-walk.ts';
import { validateClientBatch } from '../records/validate.ts';
import type { PartitionLog, StorageLogger } from '../storage/partition-log.ts';
import { isTemporaryFile, replaceFileDurably } from '../storage/segment.ts';
import { Cluster, type ClusterOptions } from './cluster/cluster.ts';
import {
  ImageTopics,
  isInternalTopic,
  leadershipChanges,
  type TopicMetadata,
  validateTopicName,
} from './metadata.ts';
import { Partition } from './partition.ts';
import { PartitionManager } from './partition-manager.ts';
import {
  offlinePartitionDescription,
  type PartitionDescription,
  type PartitionView,
} from './partition-view.ts';
import { type ProducerSnapshot, ProducerStateTable, type Validation } from './producer-state.ts';
import { ReplicaFetcherManager } from './replica-fetcher.ts';
import type { IsrChangeInFlight, LeaderReplicaState } from './replica-state.ts';
import {
  encodeHwCheckpoint,
  type HwEntry,
  readHwCheckpoint,
  removeHwCheckpointLeftovers,
  writeHwCheckpoint,
} from './replication-offset-checkpoint.ts';
import {
  checkTopicConfigName,
  effectiveConfigs,
  logConfigFor,
  minInsyncReplicasFor,
  type TopicDefaults,
  timestampBounds,
  validateTopicConfigs,
} from './topic-config.ts';

/** Hooks the core calls so that metrics can count without the core knowing Prometheus. */
export interface CoreObserver {
  produced(topic: string, records: number, bytes: number): void;
  consumed(topic: string, records: number, bytes: number): void;
  cleanerRun(kind: 'retention' | 'compaction'): void;
  /** A partition's log found corrupt data (counted once per place). */
  storageCorruption?(topic: string, partition: number): void;
}

const noObserver: CoreObserver = { produced() {}, consumed() {}, cleanerRun() {} };

export interface CoreOptions {
  dataDir: string;
  nodeId: string;
  defaults: TopicDefaults;
  /** Partitions of a topic created without a count (and of auto-created topics). @default 1 */
  defaultPartitions?: number;
  /** Most partitions one topic may have. @default 10000 */
  partitionsPerTopicMax?: number;
  /** Most partitions this node holds in all. @default 10000 */
  partitionsMax?: number;
  /** How often retention and compaction run; 0 disables the cleaner. @default 300000 */
  cleanupIntervalMs?: number;
  logger: StorageLogger & { debug?(obj: object, msg: string): void };
  observer?: CoreObserver;
  clock?: () => number;
  /** The node's int32 id (DESIGN.md decision 4). @default the number `nodeId` ends with */
  numericNodeId?: number;
  /**
   * How this node takes part in the cluster (cluster/cluster.ts). Without it the core runs a one-node
   * cluster of its own: a lone voter on an ephemeral loopback Raft port, reachable by nobody else.
   */
  cluster?: Partial<Omit<ClusterOptions, 'dataDir' | 'nodeId' | 'controller' | 'migration' | 'logger'>> & {
    defaultReplicationFactor?: number;
  };
  /** How long `open` waits to register and catch up with the metadata log. @default 120000 */
  readyTimeoutMs?: number;
  /** Replication between this node and the others (DESIGN.md decisions 6 and 7). */
  replication?: Partial<ReplicationOptions>;
}

export interface ReplicationStats {
  led: {
    topic: string;
    partition: number;
    isrSize: number;
    replicas: number;
    leaderEpoch: number;
    highWatermark: number;
    /** lagBytes: the leader's log from the follower's end offset on (PartitionLog.bytesFrom, an estimate). */
    followers: { id: number; lagOffsets: number; lagMs: number; lagBytes: number }[];
  }[];
  underReplicated: number;
  offline: number;
}

export interface ReplicationOptions {
  /** Bytes a follower asks for per partition per fetch. @default 1638400 (100 batches of 16 KiB) */
  partitionMaxBytes: number;
  /** Bytes a follower asks for per fetch response. @default 10485760 */
  responseMaxBytes: number;
  /** How long a leader holds a follower's fetch that has nothing new. @default 100 */
  maxWaitMs: number;
  /** Kafka's replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR. @default 30000 */
  lagTimeMaxMs: number;
  /**
   * Kafka's replica.high.watermark.checkpoint.interval.ms: how often the high watermarks are written to
   * `replication-offset-checkpoint` (and at shutdown); 0 writes them at shutdown only. @default 5000
   */
  highWatermarkCheckpointIntervalMs: number;
  /**
   * Bytes per second this node's replicas being added by reassignments may copy from their leaders
   * (`replication.reassignment_bytes_per_sec`); 0: no throttle. @default 52428800 (50 MiB/s)
   */
  reassignmentBytesPerSec: number;
}

const replicationDefaults: ReplicationOptions = {
  partitionMaxBytes: 100 * 16 * 1024,
  responseMaxBytes: 10 * 1024 * 1024,
  maxWaitMs: 100,
  lagTimeMaxMs: 30_000,
  highWatermarkCheckpointIntervalMs: 5_000,
  reassignmentBytesPerSec: 50 * 1024 * 1024,
};

export type Acks = 0 | 1 | -1;

export interface ProduceOptions {
  acks?: Acks;
  /** How long to wait for the append to be acknowledged. @default 30000 */
  timeoutMs?: number;
  /**
   * Set by the broker's own writers (the group service) only: allows an append to an internal topic,
   * as Kafka's `internalTopicsAllowed`. Never set from a client's request.
   * @default false
   */
  internal?: boolean;
}

export interface ProduceResult {
  partition: number;
  baseOffset: number;
  lastOffset: number;
  /** -1 unless the topic uses log append time. */
  logAppendTimeMs: number;
  logStartOffset: number;
}

export interface FetchOptions {
  maxBytes?: number;
  /**
   * Whether the first batch is returned whole when it alone is larger than `maxBytes` (Kafka's
   * minOneMessage: true for the first partition of a fetch with data, false for the rest). @default true
   */
  minOneBatch?: boolean;
  /** Long poll: wait up to this long for data at `offset`. @default 0 */
  maxWaitMs?: number;
  signal?: AbortSignal;
}

export interface FetchResult {
  /** Whole RecordBatch v2 batches; the first may start before the requested offset. */
  bytes: Buffer;
  nextOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

export type { PartitionDescription, PartitionView } from './partition-view.ts';

export interface TopicDescription {
  name: string;
  id: string;
  partitions: PartitionDescription[];
  replicationFactor: number;
  configs: ReturnType<typeof effectiveConfigs>;
  internal: boolean;
}

export interface StorageStats {
  /** Partitions this node holds, offline ones included. */
  partitions: number;
  /** Partitions whose log could not open. */
  offline: number;
  /** Segments of the open logs. */
  segments: number;
  /** Bytes of the open logs' segments. */
  sizeBytes: number;
  /** Open logs whose last write failed (a full or failing disk). */
  failed: number;
  /** Open logs with corrupt data found since they opened. */
  damaged: number;
}

export class BrokerCore {
  readonly nodeId: string;
  /** The int32 id Kafka clients, Raft and the metadata log know this node by. */
  readonly numericNodeId: number;
  readonly metadata: ImageTopics;
  readonly partitions: PartitionManager;
  readonly cluster: Cluster;
  readonly defaults: TopicDefaults;
  readonly defaultPartitions: number;
  readonly logger: CoreOptions['logger'];
  #observer: CoreObserver;
  #partitionsPerTopicMax: number;
  #roundRobin = new Map<string, number>();
  #cleanerTimer: NodeJS.Timeout | null = null;
  #cleaning: Promise<void> | null = null;
  #inflight = new Set<Promise<unknown>>();
  #closed = false;
  /** Idempotence state per partition (`topic-partition`), built on first use from snapshot and log. */
  #producerStates = new Map<string, Promise<ProducerStateTable>>();
  /** The block of producer ids this node hands out from, taken from the controller. */
  #producerIds = { next: 0, end: 0 };
  #producerIdBlock: Promise<void> | null = null;
  /** The creation or deletion under way per topic name; the next one for that name waits for it. */
  #topicChanges = new Map<string, Promise<void>>();
  /** The newest committed image, which the replica manager has not acted on yet when it is not `#published`. */
  #latest: MetadataImage = MetadataImage.EMPTY;
  #applying: Promise<void> | null = null;
  #publishWaiters: { offset: number; resolve: () => void }[] = [];
  #leadershipListeners = new Set<(topic: string, partition: number, leads: boolean) => void>();
  readonly dataDir: string;
  /** Every replica held here, by `topic-partition` (partition.ts): its role, epochs, ISR and HW. */
  readonly #replicas = new Map<string, Partition>();
  readonly #fetcher: ReplicaFetcherManager;
  readonly replication: ReplicationOptions;
  #isrTimer: NodeJS.Timeout | null = null;
  #isrPass: Promise<void> | null = null;
  #isrSoon: NodeJS.Timeout | null = null;
  readonly #clock: () => number;
  readonly #defaultReplicationFactor: number;
  /**
   * The high watermarks checkpointed before this start, by `topic-partition`, not yet taken by a
   * Partition: each is taken once, when its replica is first created here, and what is left goes at the
   * end of start-up (no topic places it here any more).
   */
  #checkpointedHw: Map<string, HwEntry>;
  #hwTimer: NodeJS.Timeout | null = null;
  #hwWrite: Promise<void> | null = null;
  /** The bytes last written to the checkpoint: an unchanged set is not written (and fsync'd) again. */
  #hwWritten: Buffer | null = null;

  private constructor(
    opts: CoreOptions,
    partitions: PartitionManager,
    cluster: Cluster,
    id: number,
    checkpointedHw: Map<string, HwEntry>,
  ) {
    this.#checkpointedHw = checkpointedHw;
    this.nodeId = opts.nodeId;
    this.numericNodeId = id;
    this.dataDir = opts.dataDir;
    this.metadata = new ImageTopics(MetadataImage.EMPTY);
    this.partitions = partitions;
    this.cluster = cluster;
    this.defaults = opts.defaults;
    this.defaultPartitions = opts.defaultPartitions ?? 1;
    this.logger = opts.logger;
    this.#observer = opts.observer ?? noObserver;
    this.#partitionsPerTopicMax = opts.partitionsPerTopicMax ?? 10_000;
    this.#clock = opts.clock ?? Date.now;
    this.#defaultReplicationFactor = opts.cluster?.defaultReplicationFactor ?? 1;
    this.replication = { ...replicationDefaults, ...opts.replication };
    this.#fetcher = new ReplicaFetcherManager({
      localId: id,
      endpointOf: (broker) => {
        const l = this.metadata.image.brokers.get(broker)?.listeners.find((x) => x.name === 'inter-broker');
        return l ? { host: l.host, port: l.port } : null;
      },
      partitionMaxBytes: this.replication.partitionMaxBytes,
      responseMaxBytes: this.replication.responseMaxBytes,
      maxWaitMs: this.replication.maxWaitMs,
      throttleBytesPerSec: this.replication.reassignmentBytesPerSec,
      logger: { info: (o, m) => this.logger.info(o, m), warn: (o, m) => this.logger.warn(o, m) },
    });
  }

  /** Bytes this node's replicas being added by reassignments have copied under the throttle. */
  get reassignmentBytesCopied(): number {
    return this.#fetcher.throttle?.taken ?? 0;
  }

  /**
   * Opens the node: its metadata log (bootstrapping a one-voter cluster on an empty directory, or
   * joining through `cluster.joinAddr`), the partitions the metadata places here, and registration
   * with the controller; resolves once the node is unfenced and has acted on the metadata log.
   */
  static async open(opts: CoreOptions): Promise<BrokerCore> {
    const clock = opts.clock ?? Date.now;
    const id = opts.numericNodeId ?? numericNodeId(opts.nodeId, 'nodeId');
    const partitions = new PartitionManager(opts.dataDir, opts.logger, clock);
    partitions.onCorruption = (topic, partition) => opts.observer?.storageCorruption?.(topic, partition);
    await partitions.removeDeletedLeftovers();
    const metaDir = path.join(opts.dataDir, 'meta');
    const legacy = await readLegacyMetadata(metaDir, id, opts.partitionsPerTopicMax ?? 10_000);
    const c = opts.cluster ?? {};
    const log = opts.logger;
    const logger: ClusterOptions['logger'] = {
      info: (o, m) => log.info?.(o, m),
      warn: (o, m) => log.warn(o, m),
      error: (o, m) => log.error(o, m),
    };
    const cluster = await Cluster.open({
      dataDir: opts.dataDir,
      nodeId: id,
      nodeName: opts.nodeId,
      bindHost: c.bindHost ?? '127.0.0.1',
      advertisedHost: c.advertisedHost ?? '127.0.0.1',
      raftPort: c.raftPort ?? 0,
      controllerEligible: c.controllerEligible ?? true,
      quorumSize: c.quorumSize ?? 1,
      joinAddr: c.joinAddr ?? null,
      heartbeatMs: c.heartbeatMs ?? 2000,
      sessionTimeoutMs: c.sessionTimeoutMs ?? 9000,
      rack: c.rack ?? null,
      forwarder: c.forwarder ?? null,
      tickMs: c.tickMs,
      snapshotEntries: c.snapshotEntries,
      leaderRebalanceIntervalMs: c.leaderRebalanceIntervalMs,
      autoRebalance: c.autoRebalance,
      rebalanceMaxMoves: c.rebalanceMaxMoves,
      onFatal: c.onFatal,
      clock,
      logger,
      controller: {
        defaultPartitions: opts.defaultPartitions ?? 1,
        defaultReplicationFactor: c.defaultReplicationFactor ?? 1,
        partitionsPerTopicMax: opts.partitionsPerTopicMax ?? 10_000,
        replicasPerBrokerMax: opts.partitionsMax ?? 10_000,
        validateConfigs: (type, configs) => {
          if (type === 'topic') validateTopicConfigs({ ...configs });
        },
      },
      migration: () => legacy.records(cluster.log.image),
    });
    await removeHwCheckpointLeftovers(opts.dataDir);
    const checkpointed = await readHwCheckpoint(opts.dataDir);
    if (!(checkpointed instanceof Map))
      log.warn(
        { dir: opts.dataDir, problem: checkpointed.problem },
        'ignoring replication-offset-checkpoint: high watermarks start at the log start until the ISR fetches',
      );
    const core = new BrokerCore(
      opts,
      partitions,
      cluster,
      id,
      checkpointed instanceof Map ? checkpointed : new Map(),
    );
    cluster.appliedOffset = () => core.metadata.image.provenance.offset;
    cluster.log.onImage(() => core.#kick());
    core.#kick();
    cluster.partitionSizes = () => core.#ledSizes();
    const timeoutMs = opts.readyTimeoutMs ?? 120_000;
    try {
      await cluster.register(
        [{ name: 'raft', host: c.advertisedHost ?? '127.0.0.1', port: cluster.log.port }],
        timeoutMs,
      );
      await cluster.waitReady(timeoutMs);
      await core.#publishedAt(cluster.log.appliedOffset);
      await legacy.retire(core.metadata.image);
      // What no topic places here any more: deletions this node missed, creations a crash interrupted.
      const image = core.metadata.image;
      await partitions.removeStrays((topic, p) => {
        const t = image.topicsByName.get(topic);
        return t?.partitions[p]?.replicas.includes(id) ?? false;
      });
      core.#checkpointedHw.clear();
    } catch (err) {
      await core.close().catch(() => {});
      throw err;
    }
    // Kafka's isr-expiration task: every half of replica.lag.time.max.ms, followers that lag leave.
    const isrEvery = Math.max(50, Math.min(core.replication.lagTimeMaxMs / 2, 5_000));
    core.#isrTimer = setInterval(() => core.#proposeIsrChanges(), isrEvery);
    core.#isrTimer.unref();
    const hwEvery = core.replication.highWatermarkCheckpointIntervalMs;
    if (hwEvery > 0) {
      core.#hwTimer = setInterval(() => void core.checkpointHighWatermarks(), hwEvery);
      core.#hwTimer.unref();
    }
    const interval = opts.cleanupIntervalMs ?? 300_000;
    if (interval > 0) {
      core.#cleanerTimer = setInterval(() => void core.runCleaner(), interval);
      core.#cleanerTimer.unref();
    }
    return core;
  }

  // ---------------------------------------------------------------- the replica manager

  /** The newest committed image arrived: act on it after what is under way (one pass at a time). */
  #kick(): void {
    this.#latest = this.cluster.log.image;
    if (this.#applying || this.#closed) return;
    if (this.#latest === this.metadata.image) return;
    this.#applying = (async () => {
      while (this.#latest !== this.metadata.image && !this.#closed) {
        const next = this.#latest;
        const prev = this.metadata.image;
        try {
          await this.#applyImage(prev, next);
        } catch (err) {
          this.logger.error(
            { err: String(err), offset: next.provenance.offset },
            'cannot act on a metadata change',
          );
        }
        this.metadata.publish(next);
        this.#reportLeadership(prev, next);
        const offset = next.provenance.offset;
        const due = this.#publishWaiters.filter((w) => w.offset <= offset);
        this.#publishWaiters = this.#publishWaiters.filter((w) => w.offset > offset);
        for (const w of due) w.resolve();
      }
    })().finally(() => {
      this.#applying = null;
      if (this.#latest !== this.metadata.image && !this.#closed) this.#kick();
    });
  }

  /**
   * Tells `fn` of each partition this node starts or stops leading, after the image that says so is
   * published (the group service loads and drops coordinator shards by it); a leadership held again at
   * a newer leader epoch is told as a stop and a start (leadershipChanges).
   */
  onLeadership(fn: (topic: string, partition: number, leads: boolean) => void): () => void {
    this.#leadershipListeners.add(fn);
    return () => this.#leadershipListeners.delete(fn);
  }

  #reportLeadership(prev: MetadataImage, next: MetadataImage): void {
    if (this.#leadershipListeners.size === 0) return;
    for (const [topic, partition, leads] of leadershipChanges(prev, next, this.numericNodeId))
      for (const fn of this.#leadershipListeners) fn(topic, partition, leads);
  }

  /** Resolves once this node has acted on the metadata log up to `offset`. */
  #publishedAt(offset: number): Promise<void> {
    if (this.metadata.image.provenance.offset >= offset) return Promise.resolve();
    return new Promise((resolve) => this.#publishWaiters.push({ offset, resolve }));
  }

  /**
   * Brings the partitions held here from what `prev` places on this node to what `next` does (Kafka's
   * `ReplicaManager.applyDelta`, computed from the two images so that a burst of commits, or a
   * snapshot, is one pass): deleted topics' partitions go first, so a topic re-created under the same
   * name never meets the old one's files; then new replicas open (created when new), and topics whose
   * configs changed reopen their logs with the new settings.
   */
  async #applyImage(prev: MetadataImage, next: MetadataImage): Promise<void> {
    const me = this.numericNodeId;
    for (const [id, t] of prev.topicsById) {
      if (next.topicsById.has(id)) continue;
      const held = this.partitions.heldOf(t.name);
      for (const p of held) this.#forgetReplica(t.name, p);
      await Promise.all(held.map((p) => this.partitions.dropPartition(t.name, p, id)));
      this.#roundRobin.delete(t.name);
      this.logger.info({ topic: t.name }, 'deleted topic');
    }
    const work: Promise<void>[] = [];
    for (const [id, t] of next.topicsById) {
      const before = prev.topicsById.get(id);
      const configsChanged =
        before !== undefined && prev.config('topic', t.name) !== next.config('topic', t.name);
      if (before === t && !configsChanged) continue;
      work.push(this.#applyTopic(t, next, before, configsChanged, me));
    }
    await Promise.all(work);
  }

  async #applyTopic(
    t: TopicImage,
    image: MetadataImage,
    before: TopicImage | undefined,
    configsChanged: boolean,
    me: number,
  ): Promise<void> {
    const config = logConfigFor(Object.fromEntries(image.config('topic', t.name)), this.defaults);
    if (configsChanged) {
      // Logs read their settings at open: close this topic's and let the loop below reopen them.
      const held = this.partitions.heldOf(t.name);
      await this.#snapshotProducers(t.name);
      for (const p of held) this.#producerStates.delete(`${t.name}-${p}`);
      await Promise.all(held.map((p) => this.partitions.closePartition(t.name, p)));
    }
    const opens: Promise<void>[] = [];
    for (let p = 0; p < t.partitions.length; p++) {
      const mine = t.partitions[p].replicas.includes(me);
      const held = this.partitions.holds(t.name, p);
      if (mine && !held) opens.push(this.partitions.openPartition(t.name, p, t.id, config));
      else if (!mine && held) {
        this.#forgetReplica(t.name, p);
        opens.push(this.partitions.dropPartition(t.name, p, t.id));
      }
    }
    await Promise.all(opens);
    const rf = t.partitions[0]?.replicas.length ?? 1;
    const minIsr = minInsyncReplicasFor(image.config('topic', t.name).get('min.insync.replicas'), rf);
    for (let p = 0; p < t.partitions.length; p++) {
      if (!t.partitions[p].replicas.includes(me) || !this.partitions.holds(t.name, p)) continue;
      this.#updateReplica(t, p, minIsr);
    }
    if (!before) this.logger.info({ topic: t.name, partitions: t.partitions.length }, 'created topic');
  }

  /** The replica's new registration: its role, and what follows from a new term (fetching, producer state). */
  #updateReplica(t: TopicImage, p: number, minIsr: number): void {
    const key = `${t.name}-${p}`;
    let part = this.#replicas.get(key);
    if (!part) {
      const name = t.name;
      part = new Partition({
        topic: name,
        partition: p,
        topicId: t.id,
        localId: this.numericNodeId,
        log: () => this.partitions.get(name, p),
        nodeName: (id) => this.nodeName(id),
        clock: this.#clock,
        producerSnapshotFile: PRODUCER_SNAPSHOT,
        lagMaxMs: this.replication.lagTimeMaxMs,
        isIsrEligible: (id) => this.metadata.image.isActive(id),
        highWatermark: this.#checkpointedHw.get(key)?.highWatermark,
      });
      this.#checkpointedHw.delete(key);
      part.onIsrCandidate = () => this.#isrChangeSoon();
      this.#replicas.set(key, part);
    }
    part.minInsyncReplicas = minIsr;
    const reg = t.partitions[p];
    // A replica a reassignment adds here copies under the throttle until it has joined the ISR.
    this.#fetcher.setThrottled(
      t.name,
      p,
      (reg.addingReplicas ?? []).includes(this.numericNodeId) && !reg.isr.includes(this.numericNodeId),
    );
    let change: ReturnType<Partition['update']>;
    try {
      change = part.update(reg);
    } catch (err) {
      // The log is offline here (it could not open): requests get its storage error.
      this.logger.warn({ partition: key, err: String(err) }, 'cannot take up a replica role');
      return;
    }
    if (!change) return;
    if (change.newTerm) {
      // The idempotent producers' state is rebuilt from the log when next needed: as a leader from
      // what was replicated to it, and a follower keeps none (its log may be truncated under it).
      this.#producerStates.delete(key);
      this.logger.info(
        { partition: key, role: change.role, leader: reg.leader, leaderEpoch: reg.leaderEpoch, isr: reg.isr },
        change.role === 'leader'
          ? 'leading partition'
          : change.role === 'follower'
            ? 'following partition'
            : 'partition has no leader',
      );
    }
    if (change.role === 'follower') this.#fetcher.follow(part, reg.leader, reg.leaderEpoch);
    else this.#fetcher.stop(t.name, p);
  }

  #forgetReplica(topic: string, p: number): void {
    const key = `${topic}-${p}`;
    this.#producerStates.delete(key);
    this.#checkpointedHw.delete(key);
    this.#fetcher.stop(topic, p);
    this.#fetcher.setThrottled(topic, p, false);
    this.#replicas.get(key)?.close();
    this.#replicas.delete(key);
  }

  /**
   * Writes every replica's high watermark to `replication-offset-checkpoint` (Kafka's
   * `ReplicaManager.checkpointHighWatermarks`), durably; on the timer and at close. One write at a
   * time: a call while one runs waits for it and writes after. A failed write is logged and retried at
   * the next call: the old file still holds earlier, lower, high watermarks, which are safe.
   */
  checkpointHighWatermarks(): Promise<void> {
    const prev = this.#hwWrite ?? Promise.resolve();
    const next = prev.then(async () => {
      // Entries not taken yet (start-up is under way) are kept, or a failed start would lose them.
      const entries = new Map(this.#checkpointedHw);
      for (const [key, part] of this.#replicas) {
        let highWatermark: number;
        try {
          highWatermark = part.highWatermark;
        } catch {
          continue; // the log is offline here
        }
        entries.set(key, { topic: part.topic, partition: part.partition, highWatermark });
      }
      const bytes = encodeHwCheckpoint([...entries.values()]);
      if (this.#hwWritten?.equals(bytes)) return;
      try {
        await writeHwCheckpoint(this.dataDir, bytes);
        this.#hwWritten = bytes;
      } catch (err) {
        this.logger.warn({ err: String(err) }, 'cannot write replication-offset-checkpoint');
      }
    });
    this.#hwWrite = next;
    return next.finally(() => {
      if (this.#hwWrite === next) this.#hwWrite = null;
    });
  }

  /** A follower caught up: propose the ISR change in a moment, batched with any others. */
  #isrChangeSoon(): void {
    if (this.#isrSoon || this.#closed) return;
    this.#isrSoon = setTimeout(() => {
      this.#isrSoon = null;
      this.#proposeIsrChanges();
    }, 10);
    this.#isrSoon.unref();
  }

  /**
   * Kafka's AlterPartition from the leader: every partition led here whose ISR should grow (a follower
   * caught up) or shrink (one lagged past replica.lag.time.max.ms) is sent to the controller in one
   * operation, guarded by its partition epoch; the committed change reaches each Partition through the
   * metadata image, and a refused one is proposed again at the next pass.
   */
  #proposeIsrChanges(): void {
    if (this.#isrPass || this.#closed) return;
    const now = this.#clock();
    const sent: {
      part: Partition;
      newIsr: number[];
      state: LeaderReplicaState;
      change: IsrChangeInFlight;
      grows: boolean;
    }[] = [];
    for (const part of this.#replicas.values()) {
      const state = part.leaderState;
      if (!state) continue;
      if (state.inFlight) continue;
      const newIsr = state.isrChangeToPropose(now);
      if (!newIsr) continue;
      state.isrChangeSent(newIsr);
      // Whether it grows is known now: by the time the answer arrives the image may have changed.
      const grows = newIsr.length > state.isr.length;
      sent.push({ part, newIsr: [...newIsr], state, change: state.inFlight!, grows });
    }
    if (sent.length === 0) return;
    const request = {
      brokerId: this.numericNodeId,
      brokerEpoch: this.cluster.brokerEpoch,
      partitions: sent.map(({ part, newIsr }) => ({
        topicId: part.topicId,
        partition: part.partition,
        leaderEpoch: part.leaderState?.leaderEpoch ?? part.leaderEpoch,
        partitionEpoch: part.registration?.partitionEpoch ?? 0,
        newIsr,
      })),
    };
    this.#isrPass = (async () => {
      try {
        const { answer } = await this.cluster.call<AlterPartitionResult[]>(
          { op: 'alterPartitions', request },
          { timeoutMs: 10_000 },
        );
        answer.forEach((r, i) => {
          const { part, newIsr, state, change } = sent[i];
          if (r.error) {
            // Refused for a stale view (fenced epoch, old partition epoch): the metadata that says so
            // clears the change when it arrives (Kafka keeps it in flight until then); anything else
            // is proposed again at the next pass.
            // The answer is for `state`'s proposal `change`: a new term, or metadata that settled it
            // meanwhile (the controller adding a replica), leaves nothing to drop.
            if (!staleViewErrors.has(r.error.code)) state.isrChangeFailed(this.#clock(), change);
            this.logger.warn(
              { partition: `${part.topic}-${part.partition}`, isr: newIsr, err: String(r.error) },
              'ISR change refused by the controller',
            );
          } else {
            this.logger.info(
              { partition: `${part.topic}-${part.partition}`, isr: newIsr },
              sent[i].grows ? 'ISR expanded' : 'ISR shrunk',
            );
          }
        });
      } catch (err) {
        for (const { state, change } of sent) state.isrChangeFailed(this.#clock(), change);
        if (!this.#closed)
          this.logger.warn({ err: String(err) }, 'cannot send ISR changes to the controller');
      }
    })().finally(() => {
      this.#isrPass = null;
    });
  }

  /**
   * The replica of a partition held here, whatever its role (the inter-broker listener serves
   * followers from it); NOT_LEADER_OR_FOLLOWER when this node holds none.
   */
  replica(topic: string, index: number): Partition {
    const part = this.#replicas.get(`${topic}-${index}`);
    if (!part)
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        `node ${this.numericNodeId} holds no replica of ${topic}-${index}`,
      );
    return part;
  }

  /**
   * What the metrics show of replication here: per partition this node leads, its ISR, epoch, high
   * watermark and each follower's lag (offsets behind the leader's end, the bytes of the leader's log
   * past the follower's end, and ms since it was last caught up); and the counts Kafka's ReplicaManager reports: partitions led here with fewer in-sync replicas
   * than replicas (under-replicated), and replicas held here whose partition has no leader (offline).
   */
  replicationStats(): ReplicationStats {
    const now = this.#clock();
    const led: ReplicationStats['led'] = [];
    let underReplicated = 0;
    let offline = 0;
    for (const part of this.#replicas.values()) {
      if (part.role === 'offline') offline++;
      const state = part.leaderState;
      if (!state) continue;
      // As Kafka counts it: replicas a move is still adding are not missing from the ISR yet.
      const reg = part.registration;
      const factor = (reg?.replicas.length ?? 0) - (reg?.addingReplicas?.length ?? 0);
      if (reg ? state.isr.length < factor : state.underReplicated) underReplicated++;
      let end = 0;
      let log: PartitionLog;
      try {
        log = part.log;
        end = log.logEndOffset;
      } catch {
        continue;
      }
      led.push({
        topic: part.topic,
        partition: part.partition,
        isrSize: state.isr.length,
        replicas: part.registration?.replicas.length ?? 1,
        leaderEpoch: state.leaderEpoch,
        highWatermark: state.highWatermark,
        followers: state.followers(now).map((f) => ({
          id: f.id,
          lagOffsets: f.lagOffsets ?? end,
          lagMs: f.caughtUpLagMs ?? -1,
          // A follower that has not fetched in this term (-1) lacks, as far as is known, the whole log.
          lagBytes: log.bytesFrom(f.logEndOffset),
        })),
      });
    }
    return { led, underReplicated, offline };
  }

  /**
   * Runs a controller operation wherever the active controller is, then waits until this node has acted
   * on the records it committed, so that the caller's next request sees the change here.
   */
  async #control<T>(op: ControllerOp): Promise<T> {
    this.#checkOpen();
    const { answer, offset } = await this.cluster.call<T>(op);
    // Committed: a node cut off from the quorum may not see it soon, and says so rather than hang.
    await withTimeout(
      this.cluster.log.waitForOffset(offset).then(() => this.#publishedAt(offset)),
      30_000,
      `the change committed at metadata offset ${offset}; applying it on node ${this.numericNodeId}`,
    );
    return answer;
  }

  // ---------------------------------------------------------------- topics

  /**
   * Creates a topic through the controller, which places its partitions across the unfenced brokers;
   * resolves once this node has opened the partitions it holds, so that no client of this node sees a
   * topic whose partitions are not open. A second creation of a name answers TOPIC_ALREADY_EXISTS.
   * Internal topics are created by the broker only (`internal`).
   */
  async createTopic(
    spec: {
      name: string;
      partitions?: number;
      replicationFactor?: number;
      /** Replica lists by partition, the preferred leader first (CreateTopics' manual assignment). */
      assignments?: number[][];
      configs?: Record<string, string>;
    },
    opts: { internal?: boolean; validateOnly?: boolean } = {},
  ): Promise<TopicMetadata> {
    this.#checkOpen();
    const name = validateTopicName(spec.name);
    if (isInternalTopic(name) && !opts.internal) {
      throw new BrokerError(
        'INVALID_TOPIC_EXCEPTION',
        `${name} is an internal topic; the broker creates it when it needs it`,
      );
    }
    const partitions =
      spec.partitions === undefined || spec.partitions === -1 ? this.defaultPartitions : spec.partitions;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > this.#partitionsPerTopicMax) {
      throw new BrokerError(
        'INVALID_PARTITIONS',
        `partitions must be between 1 and ${this.#partitionsPerTopicMax}, got ${partitions}`,
      );
    }
    const rf = spec.replicationFactor ?? -1;
    if (!Number.isInteger(rf) || (rf < 1 && rf !== -1))
      throw new BrokerError('INVALID_REPLICATION_FACTOR', `replication factor must be at least 1, got ${rf}`);
    const configs = validateTopicConfigs(spec.configs ?? {});
    return this.#oneChangeAtATime(name, async () => {
      if (this.metadata.getTopic(name))
        throw new BrokerError('TOPIC_ALREADY_EXISTS', `topic ${name} already exists`);
      const [result] = await this.#control<CreateTopicResult[]>({
        op: 'createTopics',
        requests: [
          spec.assignments
            ? { name, assignments: spec.assignments, configs: configs as Record<string, string> }
            : { name, partitions, replicationFactor: rf, configs: configs as Record<string, string> },
        ],
        validateOnly: opts.validateOnly ?? false,
      });
      if (result.error) throw result.error;
      if (opts.validateOnly)
        return {
          name,
          id: result.topicId ?? '',
          partitions: result.partitions ?? partitions,
          replicationFactor: result.replicationFactor ?? 1,
          configs,
        };
      const topic = this.metadata.getTopic(name);
      if (!topic)
        throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} was deleted as it was created`);
      if (rf === -1 && !spec.assignments && topic.replicationFactor < this.#defaultReplicationFactor)
        this.logger.warn(
          {
            topic: name,
            replicationFactor: topic.replicationFactor,
            configured: this.#defaultReplicationFactor,
          },
          'topic created with fewer replicas than replication.default_replication_factor: not enough live brokers',
        );
      return topic;
    });
  }

  /** Runs `fn` once every earlier creation or deletion of `name` has settled. */
  #oneChangeAtATime<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#topicChanges.get(name) ?? Promise.resolve();
    const result = before.then(fn);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.#topicChanges.set(name, settled);
    void settled.then(() => {
      if (this.#topicChanges.get(name) === settled) this.#topicChanges.delete(name);
    });
    return result;
  }

  /** Deletes a topic through the controller; resolves once this node has removed its partitions. */
  async deleteTopic(name: string): Promise<void> {
    this.#checkOpen();
    validateTopicName(name);
    if (isInternalTopic(name))
      throw new BrokerError('POLICY_VIOLATION', `${name} is an internal topic and cannot be deleted`);
    await this.#oneChangeAtATime(name, async () => {
      if (!this.metadata.getTopic(name))
        throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
      const [result] = await this.#control<DeleteTopicResult[]>({ op: 'deleteTopics', names: [name] });
      if (result.error) throw result.error;
    });
  }

  /**
   * Changes a topic's own configs: `configs` are set over the current ones (or, with `replace`, become
   * the whole set, as Kafka's legacy AlterConfigs does), then the keys in `remove` go back to the
   * broker's default (IncrementalAlterConfigs' DELETE). The result is validated as a whole, as at
   * creation; with `validateOnly` nothing is written and the topic as it would be is returned.
   */
  async alterTopicConfigs(
    name: string,
    configs: Record<string, string>,
    opts: { remove?: readonly string[]; replace?: boolean; validateOnly?: boolean } = {},
  ): Promise<TopicMetadata> {
    this.#checkOpen();
    this.#topic(name);
    // Removals name known keys only, as settings do (an unknown name is INVALID_CONFIG).
    for (const key of opts.remove ?? []) checkTopicConfigName(key);
    return this.#oneChangeAtATime(name, async () => {
      const topic = this.#topic(name);
      const next: Record<string, string> = { ...(opts.replace ? {} : topic.configs), ...configs };
      for (const key of opts.remove ?? []) delete next[key];
      const merged = validateTopicConfigs(next) as Record<string, string>;
      if (opts.validateOnly) return { ...topic, configs: merged };
      const changes: Record<string, string | null> = {};
      for (const [key, value] of Object.entries(merged))
        if ((topic.configs as Record<string, string | undefined>)[key] !== value) changes[key] = value;
      for (const key of Object.keys(topic.configs)) if (!(key in merged)) changes[key] = null;
      if (Object.keys(changes).length === 0) return topic;
      const [result] = await this.#control<AlterConfigsResult[]>({
        op: 'alterConfigs',
        requests: [{ resourceType: 'topic', resourceName: name, changes }],
        validateOnly: false,
      });
      if (result.error) throw result.error;
      return this.#topic(name);
    });
  }

  /**
   * Raises a topic's partition count to `count` (Kafka's CreatePartitions) through the controller,
   * which places the new partitions as at creation. A count not above the current one is
   * INVALID_PARTITIONS with Kafka's message, as is one past the per-topic limit. Internal topics keep
   * their count: the group service places groups by it. With `validateOnly` nothing changes and the
   * topic as it would be is returned.
   */
  async createPartitions(
    name: string,
    count: number,
    opts: { validateOnly?: boolean; assignments?: number[][] } = {},
  ): Promise<TopicMetadata> {
    this.#checkOpen();
    this.#topic(name);
    if (isInternalTopic(name))
      throw new BrokerError('POLICY_VIOLATION', `${name} is an internal topic; its partition count is fixed`);
    return this.#oneChangeAtATime(name, async () => {
      const topic = this.#topic(name);
      const [result] = await this.#control<CreateTopicResult[]>({
        op: 'createPartitions',
        requests: [opts.assignments ? { name, count, assignments: opts.assignments } : { name, count }],
        validateOnly: opts.validateOnly ?? false,
      });
      if (result.error) throw result.error;
      if (opts.validateOnly) return { ...topic, partitions: count };
      this.logger.info({ topic: name, from: topic.partitions, to: count }, 'added partitions');
      return this.#topic(name);
    });
  }

  listTopics(): TopicMetadata[] {
    return this.metadata.listTopics();
  }

  /**
   * Removes a node from the cluster (Kafka's UnregisterBroker): the controller fences it, moves its
   * leaderships and drops its registration, and the metadata quorum then drops it. Resolves once this
   * node has applied the removal.
   */
  async removeNode(brokerId: number): Promise<void> {
    this.#checkOpen();
    await this.#control<void>({ op: 'decommissionBroker', brokerId });
  }

  /**
   * Starts or cancels (replicas null) partition moves (Kafka's AlterPartitionReassignments): each
   * partition gets its own result; the move itself goes on in the background (listPartitionReassignments
   * shows it until it is done).
   */
  async alterPartitionReassignments(requests: ReassignmentRequest[]): Promise<PartitionResult[]> {
    this.#checkOpen();
    return this.#control<PartitionResult[]>({ op: 'alterPartitionReassignments', requests });
  }

  /**
   * The partitions being reassigned, as this node's metadata knows them; `filter` narrows them to some
   * topics (and partitions of each; null: all of the topic's), null lists every one.
   */
  listPartitionReassignments(
    filter: { topic: string; partitions: number[] | null }[] | null = null,
  ): OngoingReassignment[] {
    this.#checkOpen();
    return ongoingReassignments(this.metadata.image, filter);
  }

  /** Kafka's ElectLeaders through the controller; each partition gets its own result. */
  async electLeaders(request: ElectLeadersRequest): Promise<PartitionResult[]> {
    this.#checkOpen();
    return this.#control<PartitionResult[]>({ op: 'electLeaders', request });
  }

  /** The balancer's plan for the cluster as it stands, carried out by nobody (`rebalance --dry-run`). */
  async planRebalance(): Promise<BalancePlan> {
    this.#checkOpen();
    const { answer } = await this.cluster.call<BalancePlan>({ op: 'planRebalance' });
    return answer;
  }

  /**
   * Changes a topic's replication factor by reassigning its partitions (the balancer picks the brokers
   * to add or drop); resolves with the moves started (or, with `validateOnly`, planned).
   */
  async alterReplicationFactor(
    topic: string,
    replicationFactor: number,
    opts: { validateOnly?: boolean } = {},
  ): Promise<Move[]> {
    this.#checkOpen();
    this.#topic(topic);
    return this.#control<Move[]>({
      op: 'alterReplicationFactor',
      request: { topic, replicationFactor },
      validateOnly: opts.validateOnly ?? false,
    });
  }

  /**
   * Moves the active controller to voter `to` (0: the most caught-up live voter); resolves with the
   * node that controls now (ControllerHost.transferController).
   */
  async transferController(to: number): Promise<number> {
    this.#checkOpen();
    const { answer } = await this.cluster.call<{ controller: number }>({ op: 'transferController', to });
    return answer.controller;
  }

  /** The name a node goes by in descriptions: the one it registered, else `node-<id>`. */
  nodeName(id: number): string {
    if (id === this.numericNodeId) return this.nodeId;
    return this.metadata.image.brokers.get(id)?.nodeName ?? `node-${id}`;
  }

  /**
   * A partition's leader as this node may tell clients: the metadata's, except -1 (none known) for a
   * partition this node leads past its leader lease, since another node may lead it by now.
   */
  leaderToAdvertise(reg: { leader: number }): number {
    return reg.leader === this.numericNodeId && !this.cluster.hasLeaderLease ? -1 : reg.leader;
  }

  describeTopic(name: string): TopicDescription {
    const topic = this.#topic(name);
    const t = this.metadata.image.topicsByName.get(name)!;
    return {
      name: topic.name,
      id: topic.id,
      replicationFactor: topic.replicationFactor,
      configs: effectiveConfigs(topic.configs, this.defaults, topic.replicationFactor),
      internal: isInternalTopic(name),
      partitions: t.partitions.map((registration, partition) => {
        const reg = { ...registration, leader: this.leaderToAdvertise(registration) };
        const roles = {
          leader: reg.leader === -1 ? '' : this.nodeName(reg.leader),
          replicas: reg.replicas.map((id) => this.nodeName(id)),
          isr: reg.isr.map((id) => this.nodeName(id)),
          leaderId: reg.leader,
          replicaIds: [...reg.replicas],
          isrIds: [...reg.isr],
          leaderEpoch: reg.leaderEpoch,
        };
        const unknown = { ...offlinePartitionDescription(partition, roles.leader), ...roles };
        if (!this.partitions.holds(name, partition)) return unknown;
        try {
          this.partitions.get(name, partition);
        } catch {
          // An offline partition (its log cannot open) has no in-sync replica and reports no offsets.
          return { ...unknown, isr: [], isrIds: [] };
        }
        // Offsets come from the leader only (a follower's trail it): the client asks the leader for
        // partitions answered without them.
        const part = this.#replicas.get(`${name}-${partition}`);
        return part?.isLeader && reg.leader !== -1 ? { ...part.describe(), ...roles } : unknown;
      }),
    };
  }

  /**
   * The one view of a partition that the doors and the group service get (partition-view.ts): throws
   * UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist, NOT_LEADER_OR_FOLLOWER for one
   * another node leads (or none does) or while this node holds no leader lease (Cluster.hasLeaderLease;
   * `ignoreLease` for what only reads this node's own replica: loading group state, sizes, lag),
   * and KAFKA_STORAGE_ERROR for one that is offline here.
   */
  partition(topic: string, index: number, opts: { ignoreLease?: boolean } = {}): PartitionView {
    const t = this.metadata.image.topicsByName.get(topic);
    if (!t) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
    const reg = Number.isInteger(index) ? t.partitions[index] : undefined;
    if (!reg)
      throw new BrokerError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic ${topic} has no partition ${index} (it has ${t.partitions.length})`,
      );
    if (reg.leader !== this.numericNodeId)
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        reg.leader === -1
          ? `partition ${topic}-${index} has no leader: its replicas ${reg.replicas.join(', ')} are all unavailable`
          : `node ${this.numericNodeId} does not lead partition ${topic}-${index}; node ${reg.leader} does`,
      );
    // The image this request saw still makes this node the leader while the replica is already going
    // (a move took it off this node, and the image that says so is published next): the partition
    // exists and moved, which clients handle by asking for metadata again.
    if (!this.partitions.holds(topic, index))
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        `node ${this.numericNodeId} no longer holds ${topic}-${index}: it moved to other nodes`,
      );
    this.partitions.get(topic, index); // KAFKA_STORAGE_ERROR when its log is offline here
    const part = this.#replicas.get(`${topic}-${index}`);
    if (!part)
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        `node ${this.numericNodeId} does not hold ${topic}-${index} yet`,
      );
    part.checkLeader();
    if (!opts.ignoreLease && !this.cluster.hasLeaderLease)
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        `node ${this.numericNodeId} has not heard from the controller for longer than its session: ` +
          `another node may lead ${topic}-${index} now`,
      );
    return part;
  }

  /**
   * Deletes a partition's records below `offset` (Kafka's DeleteRecords) by moving its log start
   * offset there durably; -1 means the high watermark. An offset below 0 (other than -1) or past the
   * high watermark is OFFSET_OUT_OF_RANGE, as Kafka's `Partition.deleteRecordsOnLeader` answers; an
   * internal topic's records are not the client's to delete (INVALID_TOPIC_EXCEPTION), nor a
   * compact-only topic's (POLICY_VIOLATION). Resolves with
   * the low watermark: the log start offset afterwards.
   */
  async deleteRecords(topic: string, partition: number, offset: number): Promise<number> {
    this.#checkOpen();
    if (isInternalTopic(topic))
      throw new BrokerError('INVALID_TOPIC_EXCEPTION', `cannot delete records of internal topic ${topic}`);
    const view = this.partition(topic, partition);
    // As Kafka's Partition.deleteRecordsOnLeader: a compacted-only log keeps every key's latest record.
    if (!logConfigFor(this.#topic(topic).configs, this.defaults).cleanupPolicy.delete)
      throw new BrokerError(
        'POLICY_VIOLATION',
        `Records of partition ${topic}-${partition} can not be deleted due to the configured policy (cleanup.policy without delete)`,
      );
    const hw = view.highWatermark;
    const target = offset === -1 ? hw : offset;
    if (!Number.isSafeInteger(target) || target < 0 || target > hw)
      throw new BrokerError(
        'OFFSET_OUT_OF_RANGE',
        `cannot delete records of ${topic}-${partition} before offset ${offset}: it must be between 0 and the high watermark ${hw} (or -1 for the high watermark)`,
      );
    return this.#track(view.deleteRecordsBefore(target));
  }

  /**
   * The sizes of the partitions this node leads, [topicId, partition, bytes], for the balancer: the
   * largest `partitionSizesPerHeartbeatMax` of them.
   */
  #ledSizes(): [string, number, number][] {
    const out: [string, number, number][] = [];
    for (const part of this.#replicas.values()) {
      if (!part.leaderState) continue;
      try {
        out.push([part.topicId, part.partition, this.partitions.get(part.topic, part.partition).sizeBytes]);
      } catch {
        // offline here: its size is not known
      }
    }
    if (out.length <= partitionSizesPerHeartbeatMax) return out;
    return out.sort((a, b) => b[2] - a[2]).slice(0, partitionSizesPerHeartbeatMax);
  }

  /** Totals over the partitions this node stores, for the storage gauges (src/http/metrics.ts). */
  storageStats(): StorageStats {
    const stats = {
      partitions: this.partitions.partitionCount,
      offline: this.partitions.offlineCount,
      segments: 0,
      sizeBytes: 0,
      failed: 0,
      damaged: 0,
    };
    for (const { log } of this.partitions.all()) {
      stats.segments += log.segments.length;
      stats.sizeBytes += log.sizeBytes;
      if (log.storageFailure) stats.failed++;
      if (log.corruptions > 0) stats.damaged++;
    }
    return stats;
  }

  #topic(name: string): TopicMetadata {
    validateTopicName(name);
    const topic = this.metadata.getTopic(name);
    if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
    return topic;
  }

  partitionCount(topic: string): number {
    return this.#topic(topic).partitions;
  }

  // ---------------------------------------------------------------- produce

  /**
   * Appends encoded batches to one partition. `acks` 0 returns at once (the append still happens);
   * 1 and -1 (all: the same on a single node) wait for the log, up to `timeoutMs`. A batch from an
   * idempotent producer (producerId >= 0) must come alone; its sequence is checked, and a retry of a
   * stored batch is answered with the original offsets without being stored twice. When the topic's
   * compression.type names a codec, batches in another codec are recompressed first.
   */
  async produce(
    topic: string,
    partition: number,
    batches: Buffer,
    opts: ProduceOptions = {},
  ): Promise<ProduceResult> {
    return this.#produce(topic, partition, batches, opts, true);
  }

  /**
   * `produce`, with `validate` false for batches this core encoded itself in the topic's codec
   * (produceRecords), whose records need no second look: the log still checks framing and CRC.
   */
  async #produce(
    topic: string,
    partition: number,
    batches: Buffer,
    opts: ProduceOptions,
    validate: boolean,
  ): Promise<ProduceResult> {
    this.#checkOpen();
    this.#checkWritable(topic, opts);
    const acks = opts.acks ?? -1;
    if (acks !== 0 && acks !== 1 && acks !== -1)
      throw new BrokerError('INVALID_REQUIRED_ACKS', `acks must be 0, 1 or -1, got ${acks}`);
    const view = this.partition(topic, partition) as Partition;
    if (acks === -1) view.checkEnoughReplicas();
    const epoch = view.leaderEpoch;
    const work = this.#track(this.#append(topic, partition, batches, validate));
    if (acks === 0) {
      work.catch((err) => this.logger.warn({ topic, partition, err: String(err) }, 'acks=0 produce failed'));
      return {
        partition,
        baseOffset: -1,
        lastOffset: -1,
        logAppendTimeMs: -1,
        logStartOffset: view.logStartOffset,
      };
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const started = this.#clock();
    const r = await withTimeout(work, timeoutMs, `produce to ${topic}-${partition}`);
    // acks=all (Kafka's DelayedProduce): answered once the high watermark passes the batch.
    if (acks === -1)
      await view.waitForReplication(r.lastOffset, epoch, Math.max(1, timeoutMs - (this.#clock() - started)));
    return {
      partition,
      baseOffset: r.baseOffset,
      lastOffset: r.lastOffset,
      logAppendTimeMs: -1,
      logStartOffset: view.logStartOffset,
    };
  }

  /** Kafka's `internalTopicsAllowed`: only the broker's own writers append to internal topics. */
  #checkWritable(topic: string, opts: ProduceOptions): void {
    if (isInternalTopic(topic) && !opts.internal) {
      throw new BrokerError(
        'INVALID_TOPIC_EXCEPTION',
        `cannot produce to ${topic}: it is an internal topic that only the broker writes`,
      );
    }
  }

  async #append(
    topic: string,
    partition: number,
    input: Buffer,
    validate: boolean,
  ): Promise<{ baseOffset: number; lastOffset: number }> {
    const view = this.partition(topic, partition);
    const batches = validate ? await this.#validate(view, topic, input) : input;
    // Most topics have no timestamp window: no walk, and no await, for them.
    const bounds = timestampBounds(this.metadata.getTopic(topic)?.configs ?? {});
    if (bounds) await this.#checkTimestamps(bounds, batches);
    // The header is read whole only for an idempotent producer's batch.
    const header =
      batches.length >= F.records && batches[F.magic] === 2 && readInt64(batches, F.producerId) >= 0
        ? readBatchHeader(batches)
        : null;
    if (!header) {
      const r = await view.append(batches, { verified: validate });
      this.#observer.produced(topic, r.lastOffset - r.baseOffset + 1, batches.length);
      return r;
    }
    if (header.batchLength + 12 !== batches.length) {
      throw new BrokerError(
        'INVALID_RECORD',
        'a batch from an idempotent producer must be the only batch for its partition in a request',
      );
    }
    if (header.attributes & ATTR.transactional) {
      throw new BrokerError('INVALID_RECORD', 'transactional batches are not supported by this broker');
    }
    const state = await this.#producerState(topic, partition);
    const v: Validation = state.validate(header, Date.now());
    if (v.kind === 'duplicate') {
      const o = await v.offsets;
      this.logger.debug?.(
        { topic, partition, producerId: header.producerId, sequence: header.baseSequence },
        'duplicate batch answered with its original offsets',
      );
      return { baseOffset: o.firstOffset, lastOffset: o.lastOffset };
    }
    let r: { baseOffset: number; lastOffset: number };
    try {
      r = await view.append(batches, { verified: validate });
    } catch (err) {
      state.abort(v, err);
      throw err;
    }
    state.complete(v, r.baseOffset, r.lastOffset);
    this.#observer.produced(topic, r.lastOffset - r.baseOffset + 1, batches.length);
    return r;
  }

  /**
   * Validates every batch of a producer's request (framing, CRC-32C, flags and each record, see
   * records/validate.ts) and re-encodes those whose codec differs from the topic's compression.type
   * (unless it is 'producer'). Batches are taken one at a time, so at most one batch's decompressed
   * records are held at once, whatever the request holds.
   */
  async #validate(view: PartitionView, topic: string, input: Buffer): Promise<Buffer> {
    const type = this.metadata.getTopic(topic)?.configs['compression.type'] ?? this.defaults.compressionType;
    const codec: CompressionCode | null =
      type === 'producer'
        ? null
        : type === 'uncompressed'
          ? COMPRESSION.none
          : (COMPRESSION[type as keyof typeof COMPRESSION] ?? COMPRESSION.none);
    if (input.length === 0) throw new BrokerError('CORRUPT_MESSAGE', 'no record batch in the appended bytes');
    const maxBatchBytes = view.maxBatchBytes;
    let out: Buffer[] | null = null;
    let pos = 0;
    while (pos < input.length) {
      const v = await validateClientBatch(input, pos, input.length, maxBatchBytes);
      if (codec !== null && v.codec !== codec) {
        out ??= pos > 0 ? [input.subarray(0, pos)] : [];
        out.push(await recompressBatch(input.subarray(pos, pos + v.size), v.records, codec));
      } else {
        out?.push(input.subarray(pos, pos + v.size));
      }
      pos += v.size;
    }
    return out === null ? input : out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /**
   * Kafka's CreateTime bounds (LogValidator.validateTimestamp): with message.timestamp.before.max.ms
   * or after.max.ms (or the older difference.max.ms standing for both) set on the topic, every record's
   * timestamp must lie within [now - before, now + after]. Records are decoded only for such topics.
   */
  async #checkTimestamps(bounds: { beforeMs: number; afterMs: number }, batches: Buffer): Promise<void> {
    const now = Date.now();
    const [low, high] = [now - bounds.beforeMs, now + bounds.afterMs];
    const spans: [number, number][] = [];
    forEachBatch(batches, (pos, size) => spans.push([pos, size]));
    for (const [pos, size] of spans) {
      let bad: { timestamp: number; offsetDelta: number } | null = null;
      // The one bounded record walk, as validation uses; records are read in place, not copied.
      await walkBatch(batches.subarray(pos, pos + size), (r) => {
        if (r.timestamp === -1 || (r.timestamp >= low && r.timestamp <= high)) return undefined;
        bad = { timestamp: r.timestamp, offsetDelta: r.offsetDelta };
        return STOP;
      });
      const found = bad as { timestamp: number; offsetDelta: number } | null;
      if (found) throw timestampError(found.timestamp, found.offsetDelta, low, high);
    }
  }

  #producerState(topic: string, partition: number): Promise<ProducerStateTable> {
    const key = `${topic}-${partition}`;
    let p = this.#producerStates.get(key);
    if (!p) {
      p = this.#loadProducerState(topic, partition);
      this.#producerStates.set(key, p);
      p.catch(() => this.#producerStates.delete(key));
    }
    return p;
  }

  /** The snapshot left at the last clean close or cleaner pass, then every batch header after it. */
  async #loadProducerState(topic: string, partition: number): Promise<ProducerStateTable> {
    const log = this.partitions.get(topic, partition);
    let table = new ProducerStateTable();
    let from = log.logStartOffset;
    try {
      const snap = JSON.parse(
        await readFile(path.join(log.dir, PRODUCER_SNAPSHOT), 'utf8'),
      ) as ProducerSnapshot;
      if (snap.offset <= log.logEndOffset) {
        table = ProducerStateTable.fromSnapshot(snap);
        from = Math.max(snap.offset, log.logStartOffset);
      }
    } catch {
      // No snapshot (or an unreadable one): rebuild from the whole log.
    }
    let offset = from;
    while (offset < log.logEndOffset) {
      let read: { bytes: Buffer; nextOffset: number };
      try {
        read = await log.read(offset, 4 * 1024 * 1024);
      } catch (err) {
        // Damaged data (issue 10 finding 9) cannot hold producer state worth having: go past it.
        if (!isBrokerError(err, 'CORRUPT_MESSAGE')) throw err;
        offset = log.offsetPastSegmentOf(offset);
        continue;
      }
      const { bytes, nextOffset } = read;
      if (bytes.length === 0) break;
      forEachBatch(bytes, (pos) => {
        const h = readBatchHeader(bytes, pos);
        if (h.producerId >= 0 && h.baseOffset >= from) {
          table.replay(
            h,
            h.baseOffset,
            h.baseOffset + h.lastOffsetDelta,
            readInt64(bytes, pos + F.maxTimestamp),
          );
        }
      });
      offset = nextOffset;
    }
    return table;
  }

  /** Writes the producer state of loaded partitions (all, or one topic's) beside their logs. */
  async #snapshotProducers(onlyTopic?: string): Promise<void> {
    for (const [key, p] of this.#producerStates) {
      const at = key.lastIndexOf('-');
      const topic = key.slice(0, at);
      if (onlyTopic !== undefined && topic !== onlyTopic) continue;
      try {
        const log = this.partitions.get(topic, Number(key.slice(at + 1)));
        const table = await p;
        table.expire(Date.now(), PRODUCER_EXPIRATION_MS);
        const file = path.join(log.dir, PRODUCER_SNAPSHOT);
        await replaceFileDurably(file, Buffer.from(JSON.stringify(table.snapshot(log.logEndOffset))));
      } catch (err) {
        this.logger.warn({ partition: key, err: String(err) }, 'cannot snapshot producer state');
      }
    }
  }

  /** The idempotent producers a partition remembers (DescribeProducers), from its producer state. */
  async describeProducers(
    topic: string,
    partition: number,
  ): Promise<ReturnType<ProducerStateTable['active']>> {
    this.#checkOpen();
    this.partition(topic, partition); // UNKNOWN_TOPIC_OR_PARTITION, or KAFKA_STORAGE_ERROR when offline
    return (await this.#producerState(topic, partition)).active();
  }

  /**
   * A producer id and epoch for an idempotent producer. With an existing id and epoch, the same id with
   * the next epoch, which fences older instances: the gRPC API's explicit bump, for ids this node
   * handed out (others get UNKNOWN_PRODUCER_ID). The Kafka door never asks for a bump: without a
   * transactional id Kafka always allocates a fresh id.
   */
  async initProducerId(existing?: {
    producerId: number;
    producerEpoch: number;
  }): Promise<{ producerId: number; producerEpoch: number }> {
    this.#checkOpen();
    if (
      existing &&
      existing.producerId >= 0 &&
      existing.producerEpoch >= 0 &&
      existing.producerEpoch < 32766
    ) {
      if (
        !Number.isSafeInteger(existing.producerId) ||
        existing.producerId >= this.metadata.image.producerIds.nextProducerId
      )
        throw new BrokerError(
          'UNKNOWN_PRODUCER_ID',
          `producer id ${existing.producerId} was never handed out by this cluster`,
        );
      return { producerId: existing.producerId, producerEpoch: existing.producerEpoch + 1 };
    }
    while (this.#producerIds.next >= this.#producerIds.end) {
      this.#producerIdBlock ??= (async () => {
        const block = await this.#control<ProducerIdBlock>({
          op: 'allocateProducerIds',
          brokerId: this.numericNodeId,
          brokerEpoch: this.cluster.brokerEpoch,
        });
        this.#producerIds = { next: block.firstProducerId, end: block.firstProducerId + block.size };
      })().finally(() => {
        this.#producerIdBlock = null;
      });
      await this.#producerIdBlock;
    }
    return { producerId: this.#producerIds.next++, producerEpoch: 0 };
  }

  /**
   * Appends plain records: routes each to `partition` if given, else by Kafka's default partitioner
   * for keyed records, round-robin for unkeyed ones; encodes one batch per partition with the
   * topic's compression. Returns one result per partition touched, in partition order.
   */
  async produceRecords(
    topic: string,
    records: RecordInput[],
    opts: ProduceOptions & { partition?: number; compression?: CompressionCode } = {},
  ): Promise<(ProduceResult & { count: number })[]> {
    this.#checkOpen();
    this.#checkWritable(topic, opts);
    const partitions = this.partitionCount(topic);
    if (records.length === 0) throw new BrokerError('INVALID_REQUEST', 'no records to produce');
    const groups = new Map<number, RecordInput[]>();
    for (const r of records) {
      let p: number;
      if (opts.partition !== undefined && opts.partition !== -1) p = opts.partition;
      else if (r.key != null) p = partitionForKey(r.key, partitions);
      else p = this.#nextRoundRobin(topic, partitions);
      if (!Number.isInteger(p) || p < 0 || p >= partitions) {
        throw new BrokerError(
          'UNKNOWN_TOPIC_OR_PARTITION',
          `topic ${topic} has no partition ${p} (it has ${partitions})`,
        );
      }
      let g = groups.get(p);
      if (!g) groups.set(p, (g = []));
      g.push(r);
    }
    const codec = opts.compression ?? this.#topicCodec(topic);
    const now = Date.now();
    const results = await Promise.all(
      [...groups.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(async ([p, group]) => {
          const input: BatchInput = {
            compression: codec,
            baseTimestamp: now,
            records: group.map((r) => ({ ...r, timestamp: r.timestamp ?? now, offsetDelta: undefined })),
          };
          const batch = await encodeBatchAsync(input);
          // Encoded here in the topic's codec: nothing to validate or recompress, unless the caller
          // chose another codec, which the topic's compression.type may override.
          const result = await this.#produce(topic, p, batch, opts, opts.compression !== undefined);
          return { ...result, count: group.length };
        }),
    );
    return results;
  }

  #topicCodec(topic: string): CompressionCode {
    const type = this.metadata.getTopic(topic)?.configs['compression.type'] ?? this.defaults.compressionType;
    if (type in COMPRESSION) return COMPRESSION[type as keyof typeof COMPRESSION];
    if (type === 'producer') return COMPRESSION[this.defaults.encodeCodec ?? 'none'];
    return COMPRESSION.none;
  }

  #nextRoundRobin(topic: string, partitions: number): number {
    const n = this.#roundRobin.get(topic) ?? Math.floor(Math.random() * partitions);
    this.#roundRobin.set(topic, (n + 1) % partitions);
    return n % partitions;
  }

  // ---------------------------------------------------------------- fetch

  /**
   * Reads whole batches from `offset`, up to the high watermark. With `maxWaitMs`, waits for data when
   * there is none yet (a long poll), returning early on data or abort.
   */
  async fetch(
    topic: string,
    partition: number,
    offset: number,
    opts: FetchOptions = {},
  ): Promise<FetchResult> {
    this.#checkOpen();
    let view = this.partition(topic, partition);
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    if (
      opts.maxWaitMs &&
      offset >= view.highWatermark &&
      offset >= view.logStartOffset &&
      offset <= view.logEndOffset
    ) {
      const epoch = view.leaderEpoch;
      await view.waitForData(offset, opts.maxWaitMs, opts.signal);
      // The leadership may have moved while the fetch waited, and the log been truncated under it:
      // answer as a fresh fetch would, never from a replica that no longer leads (an offset past its
      // truncated end would be OFFSET_OUT_OF_RANGE, and a consumer would reset its position).
      view = this.partition(topic, partition);
      if (view.leaderEpoch !== epoch)
        throw new BrokerError(
          'NOT_LEADER_OR_FOLLOWER',
          `partition ${topic}-${partition} changed leader epoch (${epoch} -> ${view.leaderEpoch}) while the fetch waited`,
        );
    }
    const hw = view.highWatermark;
    const read = await view.read(offset, maxBytes, { maxOffset: hw });
    const { bytes, nextOffset } =
      opts.minOneBatch === false && read.bytes.length > maxBytes
        ? { bytes: Buffer.alloc(0), nextOffset: offset }
        : read;
    if (bytes.length > 0) {
      let records = 0;
      forEachBatch(bytes, (pos) => {
        records += bytes.readInt32BE(pos + 57);
      });
      this.#observer.consumed(topic, records, bytes.length);
    }
    return { bytes, nextOffset, highWatermark: hw, logStartOffset: view.logStartOffset };
  }

  /**
   * Fetches and decodes records at or after `offset`: at most `maxRecords` (and never more than
   * `consumeRecordsMax`), and no more than `maxBytes` of decoded records once one is taken. Records are
   * found by the bounded record walk, which stops at the last record wanted, so a batch that expands to
   * many records costs only what is handed out (plus one bounded decompression).
   */
  async fetchRecords(
    topic: string,
    partition: number,
    offset: number,
    opts: FetchOptions & { maxRecords?: number } = {},
  ): Promise<{
    records: DecodedRecord[];
    nextOffset: number;
    highWatermark: number;
    logStartOffset: number;
  }> {
    const r = await this.fetch(topic, partition, offset, opts);
    const maxRecords = Math.min(opts.maxRecords ?? consumeRecordsMax, consumeRecordsMax);
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const records: DecodedRecord[] = [];
    const spans: [number, number][] = [];
    forEachBatch(r.bytes, (pos, size) => spans.push([pos, size]));
    let nextOffset = offset;
    let bytes = 0;
    let full = false;
    for (const [pos, size] of spans) {
      const header = readBatchHeader(r.bytes, pos);
      const batchEnd = header.baseOffset + header.lastOffsetDelta + 1;
      if (!(header.attributes & ATTR.control)) {
        const walked = walkBatch(r.bytes.subarray(pos, pos + size), (view, section) => {
          const at = header.baseOffset + view.offsetDelta;
          if (at < offset) return undefined;
          if (
            records.length >= maxRecords ||
            (records.length > 0 && bytes + view.end - view.start > maxBytes)
          ) {
            full = true;
            return STOP;
          }
          records.push(materialize(header.baseOffset, view, section));
          bytes += view.end - view.start;
          nextOffset = at + 1;
          return undefined;
        });
        try {
          await walked;
        } catch (err) {
          // A stored batch the walk refuses (written before records were validated): what came before
          // it is still served; a fetch that starts at it fails with the walk's error.
          if (records.length === 0 || !isBrokerError(err)) throw err;
          this.logger.warn(
            { topic, partition, offset: header.baseOffset, err: String(err) },
            'cannot decode a stored batch',
          );
          break;
        }
      }
      if (full) break;
      // Control batches (transaction markers) and offsets compaction removed are stepped over.
      nextOffset = Math.max(nextOffset, batchEnd);
    }
    return {
      records,
      nextOffset: Math.max(nextOffset, offset),
      highWatermark: r.highWatermark,
      logStartOffset: r.logStartOffset,
    };
  }

  // ---------------------------------------------------------------- cleaner

  /** One pass of retention and compaction over every partition. */
  runCleaner(): Promise<void> {
    if (this.#cleaning) return this.#cleaning;
    this.#cleaning = (async () => {
      for (const { topic, partition, log } of [...this.partitions.all()]) {
        if (this.#closed) break;
        try {
          if (log.config.cleanupPolicy.delete) {
            await log.deleteRetainedSegments();
            this.#observer.cleanerRun('retention');
          }
          if (log.config.cleanupPolicy.compact) {
            await log.compact();
            this.#observer.cleanerRun('compaction');
          }
        } catch (err) {
          if ((err as BrokerError).code !== 'LOG_CLOSED') {
            this.logger.error({ topic, partition, err: String(err) }, 'cleaner failed on a partition');
          }
        }
      }
      if (!this.#closed) await this.#snapshotProducers();
    })().finally(() => {
      this.#cleaning = null;
    });
    return this.#cleaning;
  }

  // ---------------------------------------------------------------- lifecycle

  #checkOpen(): void {
    if (this.#closed) throw new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is shutting down');
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    p.then(
      () => this.#inflight.delete(p),
      () => this.#inflight.delete(p),
    );
    return p;
  }

  /** Refuses new work, waits for appends in flight, then closes every log cleanly (fsync, indexes, marker). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cleanerTimer) clearInterval(this.#cleanerTimer);
    if (this.#isrTimer) clearInterval(this.#isrTimer);
    if (this.#isrSoon) clearTimeout(this.#isrSoon);
    if (this.#hwTimer) clearInterval(this.#hwTimer);
    await this.#fetcher.close();
    for (const part of this.#replicas.values()) part.close();
    await Promise.allSettled([...this.#inflight]);
    await this.#isrPass;
    await this.#cleaning;
    await this.#snapshotProducers();
    await this.#applying?.catch(() => {});
    // After the appends in flight and the last metadata pass, before the logs close.
    await this.checkpointHighWatermarks();
    await this.cluster
      .close()
      .catch((err: unknown) =>
        this.logger.warn({ err: String(err) }, 'cannot close the metadata log cleanly'),
      );
    await this.partitions.closeAll();
  }
}

/** AlterPartition errors that mean this leader's view is behind: newer metadata will settle the change. */
const staleViewErrors = new Set<ErrorCode>([
  'FENCED_LEADER_EPOCH',
  'INVALID_UPDATE_VERSION',
  'UNKNOWN_TOPIC_OR_PARTITION',
]);

function timestampError(timestamp: number, offset: number, low: number, high: number): BrokerError {
  return new BrokerError(
    'INVALID_TIMESTAMP',
    `timestamp ${timestamp} of the record at offset delta ${offset} is out of range: it must be within [${low}, ${high}]`,
  );
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return p;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new BrokerError('REQUEST_TIMED_OUT', `${what} did not complete within ${ms} ms`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

const PRODUCER_SNAPSHOT = 'producer-state.json';
/** Producers idle this long are forgotten (Kafka's producer.id.expiration.ms default). */
const PRODUCER_EXPIRATION_MS = 24 * 60 * 60 * 1000;

/**
 * A data directory of the single-node release keeps its topics in `meta/topics.json` and its
 * producer-id block in `meta/producer-ids.json`. Their records are committed once as this node's
 * first act as controller, when the log holds none of those topics (DESIGN.md decision 5; issue 11),
 * and the files are then renamed `*.migrated`, so that they are read once and kept for the operator.
 */
async function readLegacyMetadata(
  metaDir: string,
  nodeId: number,
  partitionsPerTopicMax: number,
): Promise<{
  records(image: MetadataImage): MetadataRecord[] | null;
  retire(image: MetadataImage): Promise<void>;
}> {
  const read = (name: string) =>
    readFile(path.join(metaDir, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
  const [topicsJson, producerIdsJson] = [await read('topics.json'), await read('producer-ids.json')];
  // What the single-node release's writes a crash interrupted left: temporary files and intents
  // (the directories of interrupted creations are strays, which the start removes).
  await rm(path.join(metaDir, 'topic-intents'), { recursive: true, force: true });
  for (const name of await readdir(metaDir).catch(() => [] as string[]))
    if (isTemporaryFile(name)) await rm(path.join(metaDir, name), { force: true });
  if (topicsJson === null && producerIdsJson === null) return { records: () => null, retire: async () => {} };
  const records = migrateLegacyMetadata({ nodeId, topicsJson, producerIdsJson, partitionsPerTopicMax });
  const names = records.flatMap((r) => (r.type === 'Topic' ? [r.name] : []));
  const migrated = (image: MetadataImage) =>
    names.length > 0
      ? names.some((n) => image.topicsByName.has(n))
      : image.producerIds.nextProducerId > 0 || records.length === 0;
  return {
    records: (image) => (migrated(image) ? null : records),
    retire: async (image) => {
      if (!migrated(image)) return;
      for (const name of ['topics.json', 'producer-ids.json']) {
        await rename(path.join(metaDir, name), path.join(metaDir, `${name}.migrated`)).catch(
          (err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          },
        );
      }
    },
  };
}
