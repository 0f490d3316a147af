/**
 * The shell around the group coordinator: real time, the offsets topic, metrics. Commits and group
 * metadata are records in the internal compacted topic `__consumer_offsets` (DESIGN.md decision 7),
 * keyed so that compaction keeps the newest of each; on start the service replays that topic into the
 * coordinator. A group lives on partition `abs(hashCode(groupId)) % partitions`, as in Kafka, so the
 * group's coordinator in a cluster is that partition's leader.
 */
import { randomUUID } from 'node:crypto';
import { BrokerError, isBrokerError } from '../../errors.ts';
import { offsetsRecordBytesMax } from '../../limits.ts';
import type { MetadataImage } from '../../metadata/image.ts';
import { encodeBatch, F, forEachBatch, readInt64 } from '../../records/batch.ts';
import { recordKey, recordValue, walkBatch } from '../../records/record-walk.ts';
import type { BrokerCore, PartitionView } from '../core.ts';
import {
  type ConsumerGroupConfig,
  type ConsumerGroupSnapshot,
  ConsumerGroups,
  type ConsumerHeartbeat,
  type ConsumerHeartbeatResult,
  type TopicsByName,
} from './consumer-group.ts';
import {
  assignedPartitions,
  type CommittedOffset,
  type CoordinatorConfig,
  GroupCoordinator,
  type GroupSnapshot,
  type JoinRequest,
  type JoinResponse,
  offsetKey,
  type SyncRequest,
} from './coordinator.ts';

export const OFFSETS_TOPIC = '__consumer_offsets';

/** Java's String.hashCode, which Kafka uses to place a group on an offsets partition. */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

export function partitionForGroup(groupId: string, partitions: number): number {
  const h = javaStringHashCode(groupId);
  // Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}

/**
 * Keys of `__consumer_offsets` records, JSON. `consumer-group` holds a KIP-848 group's whole state
 * (epochs, members with subscriptions, current and target assignments) in one record, where Kafka
 * writes a record per member and per member's assignment (ConsumerGroupMetadata, MemberMetadata,
 * TargetAssignment..., key versions 3-8): simpler, at the cost of rewriting the group's state on
 * every change.
 */
type OffsetsKey =
  | { type: 'offset'; group: string; topic: string; partition: number }
  | { type: 'group'; group: string }
  | { type: 'consumer-group'; group: string };

interface StoredGroup extends Omit<GroupSnapshot, 'members'> {
  members: (Omit<GroupSnapshot['members'][number], 'metadata' | 'assignment'> & {
    metadata: string;
    assignment: string;
  })[];
}

export interface GroupServiceOptions {
  /** Partitions of `__consumer_offsets`. @default 50 (Kafka's offsets.topic.num.partitions) */
  offsetsPartitions?: number;
  coordinator?: Partial<CoordinatorConfig>;
  /** KIP-848 consumer groups (ConsumerGroupHeartbeat). @default defaultConsumerGroupConfig */
  consumerGroups?: Partial<ConsumerGroupConfig>;
  clock?: () => number;
  /**
   * Called for each offsets-topic record (or batch) that `load()` skipped because it cannot be parsed,
   * so that metrics can count them. @default none
   */
  onSkippedRecord?: (what: 'record' | 'batch') => void;
}

export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: number;
  metadata?: string;
  leaderEpoch?: number;
}

export class GroupService {
  readonly core: BrokerCore;
  readonly coordinator: GroupCoordinator;
  /** KIP-848 groups; their committed offsets live in `coordinator` as classic groups' do. */
  readonly consumerGroups: ConsumerGroups;
  #topicsImage: MetadataImage | null = null;
  /** Writes of consumer group state made by the call in progress, which answers once they are stored. */
  #consumerWrites: Promise<void>[] = [];
  #topics: TopicsByName = new Map();
  readonly offsetsPartitions: number;
  readonly clock: () => number;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = 0;
  #topicReady: Promise<void> | null = null;
  #writes: Promise<unknown> = Promise.resolve();
  #closed = false;
  #onSkipped: (what: 'record' | 'batch') => void;
  /** Offsets partitions whose groups this node coordinates (loaded). */
  #shards = new Set<number>();
  /** Offsets partitions being loaded. */
  #loading = new Set<number>();
  /** Loads and drops of shards, one at a time. */
  #shardChain: Promise<void> = Promise.resolve();

  constructor(core: BrokerCore, opts: GroupServiceOptions = {}) {
    this.core = core;
    this.#onSkipped = opts.onSkippedRecord ?? (() => {});
    this.clock = opts.clock ?? Date.now;
    this.offsetsPartitions = opts.offsetsPartitions ?? 50;
    core.onLeadership((topic, partition, leads) => {
      if (topic === OFFSETS_TOPIC) this.#shard(partition, leads);
    });
    this.coordinator = new GroupCoordinator(
      {
        partitionsOf: (topic) => core.metadata.getTopic(topic)?.partitions ?? 0,
        newMemberId: (clientId) => `${clientId || 'member'}-${randomUUID()}`,
        onGroupChange: (s) => this.#persistGroup(s),
      },
      opts.coordinator,
    );
    this.consumerGroups = new ConsumerGroups(
      {
        newMemberId: () => randomUUID(),
        onGroupChange: (id, snapshot) => this.#persistConsumerGroup(id, snapshot),
      },
      {
        ...(opts.coordinator?.maxGroupSize === undefined
          ? {}
          : { maxGroupSize: opts.coordinator.maxGroupSize }),
        ...opts.consumerGroups,
      },
    );
  }

  /** The topics of the current metadata image by name; the same map until the image changes. */
  #topicsByName(): TopicsByName {
    const image = this.core.metadata.image;
    if (image !== this.#topicsImage) {
      this.#topicsImage = image;
      this.#topics = new Map(
        [...image.topicsByName.values()].map((t) => [t.name, { id: t.id, partitions: t.partitions.length }]),
      );
    }
    return this.#topics;
  }

  /**
   * Replays `__consumer_offsets`, if it exists, into the coordinator. A record that cannot be parsed
   * (or a batch whose records cannot be walked) is skipped with a logged error and counted through
   * `onSkippedRecord`; it never stops the start (issue 10 finding 2). Records are walked in place,
   * one batch at a time, under the record walk's bounds.
   */
  async load(): Promise<void> {
    const topic = this.core.metadata.getTopic(OFFSETS_TOPIC);
    if (!topic) return;
    this.#topicReady = Promise.resolve();
    // A topic made before its records were sized from the group bounds takes the node's default.
    if (Number(topic.configs['max.message.bytes'] ?? 0) < offsetsRecordBytesMax) {
      try {
        await this.core.alterTopicConfigs(OFFSETS_TOPIC, {
          'max.message.bytes': String(offsetsRecordBytesMax),
        });
      } catch (err) {
        // A full disk, say: the start goes on; large groups fail to store until a later start.
        this.core.logger.warn(
          { topic: OFFSETS_TOPIC, err: String(err) },
          'cannot raise max.message.bytes of the offsets topic',
        );
      }
    }
    const t = this.core.metadata.image.topicsByName.get(OFFSETS_TOPIC);
    for (let p = 0; p < (t?.partitions.length ?? 0); p++) {
      if (t?.partitions[p].leader === this.core.numericNodeId) this.#shard(p, true);
    }
    await this.#shardChain;
  }

  /**
   * Loads or drops the coordinator shard of one offsets partition, in order with the others (DESIGN.md
   * decision 8): this node coordinates the groups of the partitions it leads. Loading replays the
   * partition; requests for its groups meanwhile get COORDINATOR_LOAD_IN_PROGRESS. Dropping forgets
   * its groups here (the new leader loads them from the log) and tells waiting members to look again.
   */
  #shard(partition: number, leads: boolean): void {
    this.#shardChain = this.#shardChain.then(async () => {
      if (this.#closed) return;
      if (leads) {
        if (this.#shards.has(partition)) return;
        this.#loading.add(partition);
        const started = performance.now();
        try {
          await this.#loadPartition(partition);
          this.#shards.add(partition);
          this.core.logger.info(
            { partition, ms: Math.round(performance.now() - started) },
            'coordinates the groups of an offsets partition (loaded from its log)',
          );
        } catch (err) {
          this.core.logger.error(
            { partition, err: String(err) },
            'cannot load the groups of an offsets partition',
          );
        } finally {
          this.#loading.delete(partition);
        }
        this.#reschedule();
      } else {
        if (!this.#shards.delete(partition)) return;
        const count = this.core.metadata.image.topicsByName.get(OFFSETS_TOPIC)?.partitions.length ?? 0;
        for (const id of this.coordinator.groupIds())
          if (count === 0 || partitionForGroup(id, count) === partition) this.coordinator.unload(id);
        for (const id of this.consumerGroups.groupIds())
          if (count === 0 || partitionForGroup(id, count) === partition) this.consumerGroups.unload(id);
        this.core.logger.info({ partition }, 'no longer coordinates the groups of an offsets partition');
      }
    });
  }

  /** Replays one offsets partition into the coordinator. */
  async #loadPartition(p: number): Promise<void> {
    const now = this.clock();
    const groups = new Map<string, GroupSnapshot | null>();
    const consumerGroups = new Map<string, ConsumerGroupSnapshot | null>();
    let view: PartitionView;
    try {
      view = this.core.partition(OFFSETS_TOPIC, p, { ignoreLease: true });
    } catch (err) {
      // Another node leads this partition and coordinates its groups.
      if (isBrokerError(err, 'NOT_LEADER_OR_FOLLOWER')) return;
      // An offline partition (issue 10: one partition's fault never stops the broker): its groups
      // start empty here.
      this.core.logger.error(
        { partition: p, err: String(err) },
        'cannot load group state from an offline partition',
      );
      return;
    }
    let offset = view.logStartOffset;
    while (offset < view.logEndOffset) {
      let read: { bytes: Buffer; nextOffset: number };
      try {
        read = await view.read(offset, 4 * 1024 * 1024);
      } catch (err) {
        if (!isBrokerError(err, 'CORRUPT_MESSAGE')) throw err;
        offset = view.offsetPastDamage(offset); // damaged group records are skipped
        continue;
      }
      const { bytes, nextOffset } = read;
      if (bytes.length === 0) break;
      const spans: [number, number][] = [];
      forEachBatch(bytes, (pos, size) => spans.push([pos, size]));
      for (const [pos, size] of spans) {
        const baseOffset = readInt64(bytes, pos + F.baseOffset);
        try {
          await walkBatch(bytes.subarray(pos, pos + size), (r, records) => {
            const at = baseOffset + r.offsetDelta;
            try {
              this.#replay(recordKey(r, records), recordValue(r, records), groups, consumerGroups);
            } catch (err) {
              this.#skipped(p, at, err, 'record');
            }
            return undefined;
          });
        } catch (err) {
          this.#skipped(p, baseOffset, err, 'batch');
        }
      }
      offset = nextOffset;
    }
    for (const snapshot of consumerGroups.values()) {
      if (!snapshot) continue;
      try {
        this.consumerGroups.restore(snapshot, now);
      } catch (err) {
        this.#skipped(p, -1, err, 'record');
      }
    }
    for (const [group, snapshot] of groups) {
      if (!snapshot) {
        // The group's last metadata record is a tombstone (DeleteGroups): gone unless offsets remain.
        this.coordinator.forgetIfEmpty(group);
        continue;
      }
      try {
        this.coordinator.restore(snapshot, now);
      } catch (err) {
        this.#skipped(partitionForGroup(group, this.core.partitionCount(OFFSETS_TOPIC)), -1, err, 'record');
      }
    }
  }

  /** Applies one offsets-topic record; throws when it cannot be parsed. */
  #replay(
    keyBytes: Buffer | null,
    valueBytes: Buffer | null,
    groups: Map<string, GroupSnapshot | null>,
    consumerGroups: Map<string, ConsumerGroupSnapshot | null>,
  ): void {
    if (keyBytes === null) throw new Error('record has no key');
    const key = JSON.parse(keyBytes.toString('utf8')) as OffsetsKey;
    if (typeof key !== 'object' || key === null || typeof key.group !== 'string') {
      throw new Error('key is not an object with a group');
    }
    const value: unknown = valueBytes === null ? null : JSON.parse(valueBytes.toString('utf8'));
    if (key.type === 'offset') {
      if (typeof key.topic !== 'string' || !Number.isInteger(key.partition) || key.partition < 0) {
        throw new Error('offset key has no topic or partition');
      }
      this.coordinator.applyCommit(key.group, key.topic, key.partition, checkCommitted(value));
    } else if (key.type === 'group') {
      groups.set(key.group, value === null ? null : fromStored(checkStoredGroup(value)));
    } else if (key.type === 'consumer-group') {
      consumerGroups.set(key.group, value === null ? null : checkStoredConsumerGroup(value));
    } else {
      throw new Error(`unknown key type ${String((key as { type?: unknown }).type)}`);
    }
  }

  #skipped(partition: number, offset: number, err: unknown, what: 'record' | 'batch'): void {
    this.core.logger.error(
      { topic: OFFSETS_TOPIC, partition, offset, err: String(err) },
      `cannot parse a ${what} of the offsets topic; skipped`,
    );
    this.#onSkipped(what);
  }

  /**
   * Creates `__consumer_offsets` with the settings the service relies on, unless it exists. The only
   * way the topic comes to exist: clients cannot create it (a client's auto-creation of it, through
   * Metadata, lands here), as Kafka's AutoTopicCreationManager creates internal topics with their
   * own configuration.
   */
  ensureOffsetsTopic(): Promise<void> {
    return this.#ensureTopic();
  }

  #ensureTopic(): Promise<void> {
    this.#topicReady ??= this.core
      .createTopic(
        {
          name: OFFSETS_TOPIC,
          partitions: this.offsetsPartitions,
          configs: {
            'cleanup.policy': 'compact',
            'segment.bytes': String(100 * 1024 * 1024),
            'retention.ms': '-1',
            'max.message.bytes': String(offsetsRecordBytesMax),
          },
        },
        { internal: true },
      )
      .then(
        () => undefined,
        (err) => {
          if ((err as BrokerError).code === 'TOPIC_ALREADY_EXISTS') return;
          this.#topicReady = null;
          throw err;
        },
      )
      // The shards of the partitions this node leads load as the topic appears.
      .then(() => this.#shardChain);
    return this.#topicReady;
  }

  /** Appends records to the group's offsets partition, in order with earlier writes. */
  #append(groupId: string, records: { key: OffsetsKey; value: unknown }[]): Promise<void> {
    const write = this.#writes.then(async () => {
      await this.#ensureTopic();
      const partition = partitionForGroup(groupId, this.core.partitionCount(OFFSETS_TOPIC));
      const batch = encodeBatch({
        records: records.map((r) => ({
          key: Buffer.from(JSON.stringify(r.key)),
          value: r.value === null ? null : Buffer.from(JSON.stringify(r.value)),
        })),
      });
      await this.core.produce(OFFSETS_TOPIC, partition, batch, { acks: -1, internal: true });
    });
    this.#writes = write.catch(() => {});
    return write;
  }

  #persistGroup(s: GroupSnapshot): void {
    if (this.#closed) return;
    this.#append(s.groupId, [{ key: { type: 'group', group: s.groupId }, value: toStored(s) }]).catch((err) =>
      this.core.logger.error({ group: s.groupId, err: String(err) }, 'cannot persist group metadata'),
    );
  }

  #persistConsumerGroup(groupId: string, s: ConsumerGroupSnapshot | null): void {
    if (this.#closed) return;
    const write = this.#append(groupId, [{ key: { type: 'consumer-group', group: groupId }, value: s }]);
    this.#consumerWrites.push(write);
    write.catch((err) =>
      this.core.logger.error({ group: groupId, err: String(err) }, 'cannot persist consumer group state'),
    );
  }

  #reschedule(): void {
    if (this.#closed) return;
    const classic = this.coordinator.nextDeadline();
    const consumer = this.consumerGroups.nextDeadline();
    const next = classic === null ? consumer : consumer === null ? classic : Math.min(classic, consumer);
    if (next === null) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      return;
    }
    if (this.#timer && this.#timerAt <= next) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        const now = this.clock();
        this.coordinator.tick(now);
        this.consumerGroups.tick(now);
        this.#reschedule();
      },
      Math.max(0, next - this.clock()) + 1,
    );
    this.#timer.unref();
  }

  /**
   * A group's state as its coordinator holds it, or null when it has none; NOT_COORDINATOR (or
   * COORDINATOR_LOAD_IN_PROGRESS) on a node that does not coordinate it.
   */
  describe(groupId: string): GroupSnapshot | null {
    this.#checkCoordinator(groupId);
    return this.coordinator.snapshot(groupId);
  }

  /**
   * The node that coordinates `groupId` (DESIGN.md decision 8): the leader of the group's
   * `__consumer_offsets` partition. Null before the topic exists (this node creates it on the first
   * join), while that partition has no leader, and while this node leads it past its leader lease.
   */
  coordinatorOf(groupId: string): number | null {
    const t = this.core.metadata.image.topicsByName.get(OFFSETS_TOPIC);
    if (!t) return null;
    const reg = t.partitions[partitionForGroup(groupId, t.partitions.length)];
    // Past its leader lease this node does not know that it still leads the offsets partition.
    const leader = reg ? this.core.leaderToAdvertise(reg) : -1;
    return leader === -1 ? null : leader;
  }

  /** NOT_COORDINATOR when another node leads the group's offsets partition (the client finds it again). */
  #checkCoordinator(groupId: string): void {
    const t = this.core.metadata.image.topicsByName.get(OFFSETS_TOPIC);
    if (!t) return;
    const leader = this.coordinatorOf(groupId);
    if (
      leader === this.core.numericNodeId &&
      !this.#shards.has(partitionForGroup(groupId, t.partitions.length))
    )
      throw new BrokerError(
        'COORDINATOR_LOAD_IN_PROGRESS',
        `node ${this.core.numericNodeId} is loading the groups of ${groupId}'s offsets partition`,
      );
    if (leader !== this.core.numericNodeId)
      throw new BrokerError(
        'NOT_COORDINATOR',
        leader === null
          ? `group ${groupId} has no coordinator right now: its __consumer_offsets partition has no leader known here`
          : `node ${this.core.numericNodeId} is not the coordinator of group ${groupId}; node ${leader} is`,
      );
  }

  #checkOpen(): void {
    if (this.#closed) throw new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is shutting down');
  }

  // ---------------------------------------------------------------- group protocol

  async join(req: JoinRequest): Promise<JoinResponse> {
    this.#checkOpen();
    await this.#ensureTopic();
    this.#checkCoordinator(req.groupId);
    if (this.consumerGroups.has(req.groupId)) {
      // Kafka answers a classic join to a consumer-protocol group with members so (it would convert
      // online; this broker does not). An empty consumer group becomes a classic one.
      if (!this.consumerGroups.isEmpty(req.groupId))
        throw new BrokerError(
          'INCONSISTENT_GROUP_PROTOCOL',
          `group ${req.groupId} is a consumer-protocol group with members; join it with ConsumerGroupHeartbeat`,
        );
      this.consumerGroups.deleteGroup(req.groupId);
    }
    return new Promise((resolve, reject) => {
      this.coordinator.join(req, this.clock(), (r) => (r instanceof BrokerError ? reject(r) : resolve(r)));
      this.#reschedule();
    });
  }

  sync(req: SyncRequest): Promise<{ assignment: Buffer; protocolType: string; protocolName: string }> {
    this.#checkOpen();
    this.#checkCoordinator(req.groupId);
    return new Promise((resolve, reject) => {
      this.coordinator.sync(req, this.clock(), (r) => (r instanceof BrokerError ? reject(r) : resolve(r)));
      this.#reschedule();
    });
  }

  /**
   * One ConsumerGroupHeartbeat (KIP-848). A group id that names a classic group with members is
   * GROUP_ID_NOT_FOUND, as Kafka answers when it does not convert the group; an empty classic group
   * (committed offsets only) becomes a consumer group and keeps its offsets.
   */
  async consumerHeartbeat(req: ConsumerHeartbeat, version: number): Promise<ConsumerHeartbeatResult> {
    this.#checkOpen();
    await this.#ensureTopic();
    this.#checkCoordinator(req.groupId);
    const classic = this.consumerGroups.has(req.groupId) ? null : this.coordinator.snapshot(req.groupId);
    if (classic && classic.members.length > 0)
      throw new BrokerError(
        'GROUP_ID_NOT_FOUND',
        `group ${req.groupId} is a classic group with members; this broker does not convert it to the consumer protocol`,
      );
    let result: ConsumerHeartbeatResult;
    this.#consumerWrites = [];
    try {
      result = this.consumerGroups.heartbeat(req, this.#topicsByName(), this.clock(), version >= 1);
    } finally {
      this.#reschedule();
    }
    // The answer waits until the state it reports is stored (acks=all), as Kafka's coordinator answers
    // after its records commit: a member never acts on an epoch or assignment a restart would forget.
    // A failed write fails the answer; the member retries, and the state held here stands.
    const writes = this.#consumerWrites;
    this.#consumerWrites = [];
    await Promise.all(writes);
    return result;
  }

  /** A consumer group's state, or null; NOT_COORDINATOR on a node that does not coordinate it. */
  describeConsumerGroup(groupId: string): ConsumerGroupSnapshot | null {
    this.#checkCoordinator(groupId);
    return this.consumerGroups.snapshot(groupId);
  }

  /** Topic names by id, from the current metadata image. */
  topicName(topicId: string): string | null {
    return this.core.metadata.image.topicsById.get(topicId)?.name ?? null;
  }

  heartbeat(groupId: string, memberId: string, generationId: number, groupInstanceId?: string | null): void {
    this.#checkOpen();
    this.#checkCoordinator(groupId);
    try {
      this.coordinator.heartbeat(groupId, memberId, generationId, this.clock(), groupInstanceId);
    } finally {
      this.#reschedule();
    }
  }

  leave(
    groupId: string,
    members: { memberId: string; groupInstanceId?: string | null }[],
  ): (BrokerError | null)[] {
    this.#checkOpen();
    this.#checkCoordinator(groupId);
    const r = this.coordinator.leave(groupId, members, this.clock());
    this.#reschedule();
    return r;
  }

  // ---------------------------------------------------------------- offsets

  /**
   * Validates, stores (acks=all on the offsets partition) and then applies a commit. Per-partition
   * problems (an unknown topic or partition) are reported per partition; the rest is committed.
   */
  async commit(
    groupId: string,
    memberId: string,
    generationId: number,
    offsets: OffsetCommit[],
    groupInstanceId?: string | null,
  ): Promise<(BrokerError | null)[]> {
    this.#checkOpen();
    // The coordinator is the leader of the group's offsets partition, which must exist to say who.
    await this.#ensureTopic();
    this.#checkCoordinator(groupId);
    if (this.consumerGroups.has(groupId)) this.consumerGroups.validateCommit(groupId, memberId, generationId);
    else this.coordinator.validateCommit(groupId, memberId, generationId, groupInstanceId);
    const now = this.clock();
    const results: (BrokerError | null)[] = offsets.map((o) => {
      const t = this.core.metadata.getTopic(o.topic);
      if (!t || !Number.isInteger(o.partition) || o.partition < 0 || o.partition >= t.partitions) {
        return new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `no partition ${o.topic}-${o.partition}`);
      }
      // Any int64 is stored as committed, negative ones too, as Kafka does: kafkajs commits -2
      // ("earliest") after OFFSET_OUT_OF_RANGE and in resetOffsets, and loops if that is refused.
      if (!Number.isSafeInteger(o.offset))
        return new BrokerError('INVALID_REQUEST', `offset ${o.offset} is not a safe integer`);
      return null;
    });
    const ok = offsets.filter((_, i) => results[i] === null);
    if (ok.length === 0) return results;
    const values = ok.map((o) => ({
      topic: o.topic,
      partition: o.partition,
      value: {
        offset: o.offset,
        metadata: o.metadata ?? '',
        commitTimestampMs: now,
        leaderEpoch: o.leaderEpoch ?? -1,
      } satisfies CommittedOffset,
    }));
    await this.#append(
      groupId,
      values.map((v) => ({
        key: { type: 'offset', group: groupId, topic: v.topic, partition: v.partition },
        value: v.value,
      })),
    );
    for (const v of values) this.coordinator.applyCommit(groupId, v.topic, v.partition, v.value);
    return results;
  }

  fetchOffsets(
    groupId: string,
    partitions?: { topic: string; partition: number }[],
  ): { topic: string; partition: number; value: CommittedOffset | null }[] {
    this.#checkCoordinator(groupId);
    if (!partitions) return this.coordinator.committed(groupId);
    return partitions.map((p) => ({
      ...p,
      value: this.coordinator.fetchOffset(groupId, p.topic, p.partition),
    }));
  }

  /**
   * Committed offset, log end and lag of every partition the group has committed or its members are
   * assigned. A partition assigned but never committed shows committed -1 and the whole log as lag.
   */
  lag(
    groupId: string,
  ): { topic: string; partition: number; committed: number; logEndOffset: number; lag: number }[] {
    const rows = new Map<string, { topic: string; partition: number; committed: number }>();
    const snapshot = this.coordinator.snapshot(groupId);
    for (const m of snapshot?.members ?? []) {
      for (const a of assignedPartitions(snapshot!.protocolType, m.assignment)) {
        for (const p of a.partitions)
          rows.set(offsetKey(a.topic, p), { topic: a.topic, partition: p, committed: -1 });
      }
    }
    for (const m of this.consumerGroups.snapshot(groupId)?.members ?? []) {
      for (const t of m.assigned) {
        const topic = this.topicName(t.topicId);
        if (topic === null) continue;
        for (const p of t.partitions) rows.set(offsetKey(topic, p), { topic, partition: p, committed: -1 });
      }
    }
    for (const c of this.coordinator.committed(groupId)) {
      rows.set(offsetKey(c.topic, c.partition), {
        topic: c.topic,
        partition: c.partition,
        committed: c.value.offset,
      });
    }
    const out = [];
    for (const r of rows.values()) {
      let view: PartitionView;
      try {
        view = this.core.partition(r.topic, r.partition, { ignoreLease: true });
      } catch {
        continue; // the topic was deleted, or the partition never existed
      }
      const from = r.committed >= 0 ? r.committed : view.logStartOffset;
      out.push({ ...r, logEndOffset: view.logEndOffset, lag: Math.max(0, view.logEndOffset - from) });
    }
    return out.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  }

  /**
   * Deletes an empty group (Kafka's DeleteGroups): GROUP_ID_NOT_FOUND when there is none,
   * NON_EMPTY_GROUP while it has members. Its metadata and every offset it committed are tombstoned
   * in `__consumer_offsets` (acks=all) before this resolves, so a restart does not bring them back.
   */
  async deleteGroup(groupId: string): Promise<void> {
    this.#checkOpen();
    this.#checkCoordinator(groupId);
    if (groupId === '') throw new BrokerError('INVALID_GROUP_ID', 'the group id is empty');
    // Read before the coordinator forgets the group: these are the offsets to tombstone.
    const offsets = this.coordinator.committed(groupId);
    if (this.consumerGroups.has(groupId)) {
      // Its offsets, if any, are held by the classic coordinator's entry of the same id.
      this.consumerGroups.deleteGroup(groupId);
      if (this.coordinator.has(groupId)) this.coordinator.deleteGroup(groupId);
    } else this.coordinator.deleteGroup(groupId);
    await this.#append(groupId, [
      { key: { type: 'group', group: groupId }, value: null },
      ...offsets.map((o) => ({
        key: { type: 'offset' as const, group: groupId, topic: o.topic, partition: o.partition },
        value: null,
      })),
    ]);
  }

  /**
   * Deletes a group's committed offsets of some partitions (Kafka's OffsetDelete): each partition
   * answers null, UNKNOWN_TOPIC_OR_PARTITION for one that does not exist, or GROUP_SUBSCRIBED_TO_TOPIC
   * while a member subscribes to its topic; the group as a whole may be GROUP_ID_NOT_FOUND or
   * NON_EMPTY_GROUP (thrown). The offsets go as tombstones in `__consumer_offsets` before this resolves.
   */
  async deleteOffsets(
    groupId: string,
    partitions: { topic: string; partition: number }[],
  ): Promise<(BrokerError | null)[]> {
    this.#checkOpen();
    this.#checkCoordinator(groupId);
    if (groupId === '') throw new BrokerError('INVALID_GROUP_ID', 'the group id is empty');
    if (!this.coordinator.snapshot(groupId) && !this.consumerGroups.has(groupId))
      throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
    const results = partitions.map(({ topic, partition }) => {
      const t = this.core.metadata.getTopic(topic);
      if (!t || !Number.isInteger(partition) || partition < 0 || partition >= t.partitions)
        return new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `no partition ${topic}-${partition}`);
      if (
        this.consumerGroups.subscribesTo(groupId, topic) ||
        (this.coordinator.has(groupId) && this.coordinator.subscribesTo(groupId, topic))
      )
        return new BrokerError(
          'GROUP_SUBSCRIBED_TO_TOPIC',
          `a member of group ${groupId} subscribes to ${topic}`,
        );
      return null;
    });
    // Only offsets the group holds need a tombstone.
    const doomed = partitions.filter(
      (p, i) => results[i] === null && this.coordinator.fetchOffset(groupId, p.topic, p.partition) !== null,
    );
    if (doomed.length > 0) {
      await this.#append(
        groupId,
        doomed.map((p) => ({
          key: { type: 'offset' as const, group: groupId, topic: p.topic, partition: p.partition },
          value: null,
        })),
      );
      for (const p of doomed) this.coordinator.applyCommit(groupId, p.topic, p.partition, null);
    }
    return results;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#writes;
  }
}

function toStored(s: GroupSnapshot): StoredGroup {
  return {
    ...s,
    members: s.members.map((m) => ({
      ...m,
      metadata: m.metadata.toString('base64'),
      assignment: m.assignment.toString('base64'),
    })),
  };
}

function checkStoredConsumerGroup(value: unknown): ConsumerGroupSnapshot {
  const g = value as ConsumerGroupSnapshot;
  const partitionsOk = (l: unknown) =>
    Array.isArray(l) &&
    l.every(
      (t) =>
        typeof t === 'object' &&
        t !== null &&
        typeof t.topicId === 'string' &&
        Array.isArray(t.partitions) &&
        t.partitions.every((p: unknown) => Number.isInteger(p) && (p as number) >= 0),
    );
  if (
    typeof g !== 'object' ||
    g === null ||
    typeof g.groupId !== 'string' ||
    !Number.isInteger(g.groupEpoch) ||
    !Number.isInteger(g.assignmentEpoch) ||
    typeof g.metadataSignature !== 'string' ||
    !Array.isArray(g.members) ||
    !g.members.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        typeof m.memberId === 'string' &&
        Number.isInteger(m.memberEpoch) &&
        Number.isInteger(m.previousMemberEpoch) &&
        Array.isArray(m.subscribedTopicNames) &&
        m.subscribedTopicNames.every((n) => typeof n === 'string') &&
        ['stable', 'unrevoked', 'unreleased'].includes(m.state) &&
        partitionsOk(m.assigned) &&
        partitionsOk(m.revoking) &&
        partitionsOk(m.target),
    )
  ) {
    throw new Error('consumer group value has the wrong shape');
  }
  return g;
}

function checkCommitted(value: unknown): CommittedOffset | null {
  if (value === null) return null;
  const v = value as CommittedOffset;
  if (
    typeof v !== 'object' ||
    !Number.isSafeInteger(v.offset) ||
    typeof v.metadata !== 'string' ||
    typeof v.commitTimestampMs !== 'number' ||
    !Number.isInteger(v.leaderEpoch)
  ) {
    throw new Error('committed offset value has the wrong shape');
  }
  return v;
}

function checkStoredGroup(value: unknown): StoredGroup {
  const g = value as StoredGroup;
  if (
    typeof g !== 'object' ||
    typeof g.groupId !== 'string' ||
    !Number.isInteger(g.generationId) ||
    !Array.isArray(g.members) ||
    !g.members.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        typeof m.memberId === 'string' &&
        typeof m.metadata === 'string' &&
        typeof m.assignment === 'string',
    )
  ) {
    throw new Error('group value has the wrong shape');
  }
  return g;
}

function fromStored(s: StoredGroup): GroupSnapshot {
  return {
    ...s,
    members: s.members.map((m) => ({
      ...m,
      metadata: Buffer.from(m.metadata, 'base64'),
      assignment: Buffer.from(m.assignment, 'base64'),
    })),
  };
}
