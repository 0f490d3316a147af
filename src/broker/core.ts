/**
 * The broker core (DESIGN.md decision 2): topics, produce and fetch in Kafka's semantics, behind both
 * front doors. It knows nothing of gRPC or the Kafka wire format; errors are BrokerErrors from the
 * closed list in src/errors.ts, which each door maps to its own codes.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError, isBrokerError } from '../errors.ts';
import { consumeRecordsMax, topicCreationsInFlightMax } from '../limits.ts';
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
import { Semaphore } from '../storage/mutex.ts';
import type { StorageLogger } from '../storage/partition-log.ts';
import { replaceFileDurably } from '../storage/segment.ts';
import {
  isInternalTopic,
  LocalMetadataStore,
  type MetadataStore,
  type TopicMetadata,
  validateTopicName,
} from './metadata.ts';
import { PartitionManager } from './partition-manager.ts';
import {
  LocalPartitionView,
  offlinePartitionDescription,
  type PartitionDescription,
  type PartitionView,
} from './partition-view.ts';
import { type ProducerSnapshot, ProducerStateTable, type Validation } from './producer-state.ts';
import {
  effectiveConfigs,
  logConfigFor,
  type TopicDefaults,
  timestampBounds,
  validateTopicConfigs,
} from './topic-config.ts';
import { TopicIntents } from './topic-intents.ts';

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
  /** A metadata store other than the local file (the Raft-backed controller). */
  metadata?: MetadataStore;
}

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
  readonly metadata: MetadataStore;
  readonly partitions: PartitionManager;
  readonly defaults: TopicDefaults;
  readonly defaultPartitions: number;
  readonly logger: CoreOptions['logger'];
  #observer: CoreObserver;
  #partitionsPerTopicMax: number;
  #partitionsMax: number;
  #roundRobin = new Map<string, number>();
  #cleanerTimer: NodeJS.Timeout | null = null;
  #cleaning: Promise<void> | null = null;
  #inflight = new Set<Promise<unknown>>();
  #closed = false;
  /** Idempotence state per partition (`topic-partition`), built on first use from snapshot and log. */
  #producerStates = new Map<string, Promise<ProducerStateTable>>();
  #producerIds: ProducerIdAllocator;
  #intents: TopicIntents;
  /** The creation or deletion under way per topic name; the next one for that name waits for it. */
  #topicChanges = new Map<string, Promise<void>>();
  /** Partitions of creations under way, counted against the node's limit before they exist. */
  #partitionsReserved = 0;
  #creating = new Semaphore(topicCreationsInFlightMax);
  readonly dataDir: string;

  private constructor(
    opts: CoreOptions,
    metadata: MetadataStore,
    partitions: PartitionManager,
    producerIds: ProducerIdAllocator,
    intents: TopicIntents,
  ) {
    this.nodeId = opts.nodeId;
    this.#intents = intents;
    this.dataDir = opts.dataDir;
    this.#producerIds = producerIds;
    this.metadata = metadata;
    this.partitions = partitions;
    this.defaults = opts.defaults;
    this.defaultPartitions = opts.defaultPartitions ?? 1;
    this.logger = opts.logger;
    this.#observer = opts.observer ?? noObserver;
    this.#partitionsPerTopicMax = opts.partitionsPerTopicMax ?? 10_000;
    this.#partitionsMax = opts.partitionsMax ?? 10_000;
  }

  static async open(opts: CoreOptions): Promise<BrokerCore> {
    const clock = opts.clock ?? Date.now;
    const metadata = opts.metadata ?? (await LocalMetadataStore.open(path.join(opts.dataDir, 'meta'), clock));
    const partitions = new PartitionManager(opts.dataDir, opts.logger, clock);
    partitions.onCorruption = (topic, partition) => opts.observer?.storageCorruption?.(topic, partition);
    await partitions.removeDeletedLeftovers();
    const intents = await TopicIntents.open(path.join(opts.dataDir, 'meta'));
    for (const name of await intents.pending()) {
      if (!metadata.getTopic(name)) {
        const removed = await partitions.removeTopicDirs(name);
        if (removed > 0)
          opts.logger.warn(
            { topic: name, directories: removed },
            'removed the partitions of a topic whose creation or deletion a crash interrupted',
          );
      }
      await intents.end(name);
    }
    const producerIds = await ProducerIdAllocator.open(path.join(opts.dataDir, 'meta'));
    const core = new BrokerCore(opts, metadata, partitions, producerIds, intents);
    for (const topic of metadata.listTopics()) {
      await partitions.openTopic(topic.name, topic.partitions, logConfigFor(topic.configs, core.defaults), {
        tolerateFailures: true,
      });
    }
    const interval = opts.cleanupIntervalMs ?? 300_000;
    if (interval > 0) {
      core.#cleanerTimer = setInterval(() => void core.runCleaner(), interval);
      core.#cleanerTimer.unref();
    }
    return core;
  }

  // ---------------------------------------------------------------- topics

  /**
   * Creates a topic: its partitions first, then its registration, so that no client sees a topic whose
   * partitions are not open. Creations and deletions of one name run one at a time (issue 16: the
   * loser of two simultaneous auto-creations removed the winner's partitions), so a second creation of
   * a name answers TOPIC_ALREADY_EXISTS once the first is done. The node's partition limit counts the
   * partitions of creations under way (issue 10: 20,000 simultaneous auto-creations each saw room). A
   * creation that fails removes what it made; one a crash interrupts is settled at the next start
   * (topic-intents.ts). Internal topics are created by the broker only (`internal`).
   */
  async createTopic(
    spec: {
      name: string;
      partitions?: number;
      replicationFactor?: number;
      configs?: Record<string, string>;
    },
    opts: { internal?: boolean } = {},
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
    // A single node holds one copy; a requested factor above 1 is refused, as Kafka does with too few brokers.
    const rf =
      spec.replicationFactor === undefined || spec.replicationFactor === -1 ? 1 : spec.replicationFactor;
    if (rf !== 1) {
      throw new BrokerError(
        'INVALID_REPLICATION_FACTOR',
        `replication factor ${rf} is larger than the 1 available broker`,
      );
    }
    const configs = validateTopicConfigs(spec.configs ?? {});
    return this.#oneChangeAtATime(name, async () => {
      this.#checkOpen();
      if (this.metadata.getTopic(name))
        throw new BrokerError('TOPIC_ALREADY_EXISTS', `topic ${name} already exists`);
      // Checked and reserved in one synchronous step, so simultaneous creations cannot all fit.
      const held = this.partitions.partitionCount + this.#partitionsReserved;
      if (held + partitions > this.#partitionsMax) {
        throw new BrokerError(
          'POLICY_VIOLATION',
          `this node holds ${held} partitions; ${partitions} more would pass its limit of ${this.#partitionsMax} (storage.max_partitions, which counts creations under way)`,
        );
      }
      this.#partitionsReserved += partitions;
      try {
        return await this.#creating.run(async () => {
          this.#checkOpen();
          await this.#intents.begin(name, 'create');
          await this.partitions.createTopic(name, partitions, logConfigFor(configs, this.defaults));
          let topic: TopicMetadata;
          try {
            topic = await this.metadata.createTopic({ name, partitions, replicationFactor: rf, configs });
          } catch (err) {
            await this.partitions.dropTopic(name, 'failed');
            throw err;
          }
          await this.#intents.end(name);
          this.logger.info({ topic: name, partitions }, 'created topic');
          return topic;
        });
      } catch (err) {
        this.logger.warn({ topic: name, partitions, err: String(err) }, 'topic creation failed');
        await this.#intents.end(name).catch(() => {});
        if (err instanceof BrokerError) throw err;
        // The disk refused (no space, too many open files): an operating error, not a bug.
        throw new BrokerError(
          'KAFKA_STORAGE_ERROR',
          `cannot create topic ${name}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      } finally {
        this.#partitionsReserved -= partitions;
      }
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

  async deleteTopic(name: string): Promise<void> {
    this.#checkOpen();
    validateTopicName(name);
    if (isInternalTopic(name))
      throw new BrokerError('POLICY_VIOLATION', `${name} is an internal topic and cannot be deleted`);
    await this.#oneChangeAtATime(name, async () => {
      if (!this.metadata.getTopic(name))
        throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
      // Recorded so that a crash between unregistering the topic and removing its directories is
      // finished at the next start. A full disk cannot take the record; deleting is then how space is
      // freed, so the deletion goes on without it.
      const recorded = await this.#intents.begin(name, 'delete').then(
        () => true,
        (err: unknown) => {
          this.logger.warn({ topic: name, err: String(err) }, 'cannot record a topic deletion intent');
          return false;
        },
      );
      let topic: TopicMetadata;
      try {
        topic = await this.metadata.deleteTopic(name);
      } catch (err) {
        // A full disk cannot take the metadata write that records the deletion, and deleting is how an
        // operator frees space (issue 10 finding 8): remove the topic's data first, then record it. A
        // crash in between leaves the topic with empty partitions, which a retried delete removes.
        const known = this.metadata.getTopic(name);
        if (!isBrokerError(err, 'KAFKA_STORAGE_ERROR') || !known) throw err;
        this.logger.warn(
          { topic: name, err: String(err) },
          'cannot record a topic deletion; freeing its data first',
        );
        for (let p = 0; p < known.partitions; p++) this.#producerStates.delete(`${name}-${p}`);
        await this.partitions.dropTopic(name, known.id);
        topic = await this.metadata.deleteTopic(name);
      }
      for (let p = 0; p < topic.partitions; p++) this.#producerStates.delete(`${name}-${p}`);
      await this.partitions.dropTopic(name, topic.id);
      this.#roundRobin.delete(name);
      if (recorded) await this.#intents.end(name);
      this.logger.info({ topic: name }, 'deleted topic');
    });
  }

  async alterTopicConfigs(name: string, configs: Record<string, string>): Promise<TopicMetadata> {
    this.#checkOpen();
    this.#topic(name);
    // In turn with creations and deletions of the name: it closes and reopens the topic's logs.
    return this.#oneChangeAtATime(name, async () => {
      const topic = this.#topic(name);
      const merged = validateTopicConfigs({ ...topic.configs, ...configs });
      const updated = await this.metadata.alterTopicConfigs(name, merged);
      // Logs read their settings at open; reopen this topic's logs with the new ones.
      const logs = this.partitions.partitionsOf(name) ?? [];
      await this.#snapshotProducers(name);
      for (let p = 0; p < logs.length; p++) this.#producerStates.delete(`${name}-${p}`);
      await this.partitions.closeLogs(logs);
      await this.partitions.openTopic(name, topic.partitions, logConfigFor(merged, this.defaults), {
        tolerateFailures: true,
      });
      return updated;
    });
  }

  listTopics(): TopicMetadata[] {
    return this.metadata.listTopics();
  }

  describeTopic(name: string): TopicDescription {
    const topic = this.#topic(name);
    const logs = this.partitions.partitionsOf(name) ?? [];
    return {
      name: topic.name,
      id: topic.id,
      replicationFactor: topic.replicationFactor,
      configs: effectiveConfigs(topic.configs, this.defaults),
      internal: isInternalTopic(name),
      // An offline partition (its log cannot open) has no in-sync replica and reports no offsets. Its
      // place in `logs` is a hole, which map() would skip: Array.from visits it.
      partitions: Array.from(logs, (log, partition) =>
        log
          ? new LocalPartitionView(name, partition, log, this.nodeId).describe()
          : offlinePartitionDescription(partition, this.nodeId),
      ),
    };
  }

  /**
   * The one view of a partition that the doors and the group service get (partition-view.ts): throws
   * UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist and KAFKA_STORAGE_ERROR for one
   * that is offline.
   */
  partition(topic: string, index: number): PartitionView {
    return new LocalPartitionView(topic, index, this.partitions.get(topic, index), this.nodeId);
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
    const view = this.partition(topic, partition);
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
    const r = await withTimeout(work, opts.timeoutMs ?? 30_000, `produce to ${topic}-${partition}`);
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
    await this.#checkTimestamps(topic, batches);
    const header = batches.length >= F.records ? readBatchHeader(batches) : null;
    if (!header || header.producerId < 0 || header.magic !== 2) {
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
  async #checkTimestamps(topic: string, batches: Buffer): Promise<void> {
    const bounds = timestampBounds(this.metadata.getTopic(topic)?.configs ?? {});
    if (!bounds) return;
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
      if (!this.#producerIds.issued(existing.producerId))
        throw new BrokerError(
          'UNKNOWN_PRODUCER_ID',
          `producer id ${existing.producerId} was never handed out by this broker`,
        );
      return { producerId: existing.producerId, producerEpoch: existing.producerEpoch + 1 };
    }
    return { producerId: await this.#producerIds.next(), producerEpoch: 0 };
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
    const view = this.partition(topic, partition);
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    if (
      opts.maxWaitMs &&
      offset >= view.highWatermark &&
      offset >= view.logStartOffset &&
      offset <= view.logEndOffset
    ) {
      await view.waitForData(offset, opts.maxWaitMs, opts.signal);
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
    await Promise.allSettled([...this.#inflight]);
    await this.#cleaning;
    await this.#snapshotProducers();
    await this.partitions.closeAll();
  }
}

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
 * Hands out producer ids in blocks: the end of the current block is persisted before any id in it is
 * given out, so that a restart never reuses an id.
 */
class ProducerIdAllocator {
  readonly #file: string;
  #next = 0;
  #blockEnd = 0;
  #persisting: Promise<void> | null = null;
  static readonly blockSize = 1000;

  private constructor(file: string) {
    this.#file = file;
  }

  static async open(metaDir: string): Promise<ProducerIdAllocator> {
    const a = new ProducerIdAllocator(path.join(metaDir, 'producer-ids.json'));
    try {
      const { blockEnd } = JSON.parse(await readFile(a.#file, 'utf8')) as { blockEnd: number };
      a.#next = blockEnd;
      a.#blockEnd = blockEnd;
    } catch {
      // First start: ids begin at 0.
    }
    return a;
  }

  /** Whether `id` may have been handed out (every id below the next one, across restarts). */
  issued(id: number): boolean {
    return Number.isSafeInteger(id) && id >= 0 && id < this.#next;
  }

  async next(): Promise<number> {
    while (this.#next >= this.#blockEnd) {
      this.#persisting ??= (async () => {
        const end = this.#blockEnd + ProducerIdAllocator.blockSize;
        await mkdir(path.dirname(this.#file), { recursive: true });
        await replaceFileDurably(this.#file, Buffer.from(JSON.stringify({ blockEnd: end })));
        this.#blockEnd = end;
      })().finally(() => {
        this.#persisting = null;
      });
      await this.#persisting;
    }
    return this.#next++;
  }
}
