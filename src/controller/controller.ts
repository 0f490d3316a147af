/**
 * The controller's operations (issue 11), run on the active controller only: each turns a request and
 * the current metadata image into the records to commit and the answer to give once they are
 * committed. Pure: time comes in as `nowMs`, topic ids from an injected source; nothing here does I/O.
 * The queue (queue.ts) runs one operation at a time and applies its records after commit, through
 * `replay`.
 *
 * Follows Kafka's `metadata/src/main/java/org/apache/kafka/controller/`: `ClusterControlManager`
 * (registration, incarnations, broker epochs), `BrokerHeartbeatManager` (sessions, and the
 * fenced / unfenced / controlled-shutdown / shutdown-now states of `calculateNextBrokerState`),
 * `ReplicationControlManager` (topics, fencing's leader and ISR updates, AlterPartition's checks),
 * `PartitionChangeBuilder` (leader election: the first replica in the ISR that may lead; unclean only
 * when the topic allows it), `ProducerIdControlManager` (blocks never reused) and
 * `ConfigurationControlManager` (incremental configs).
 *
 * State that is not in the image is soft and local, as in Kafka: each broker's session deadline, the
 * metadata offset it last reported, and the offsets at which its registration and its controlled
 * shutdown committed. A controller that takes over starts every registered broker with a fresh session
 * (as Kafka's `BrokerHeartbeatManager` does on activation) and treats their registrations as committed
 * at the image's offset.
 *
 * Choices a reader may look for:
 * - Broker epochs are the image's offset + 1 at registration (Kafka uses the offset of the
 *   RegisterBroker record itself, which its controller knows before committing; ours does not). Every
 *   registration sees an image at least as new as the last one's commit, so epochs only grow.
 * - The ISR never becomes empty (no eligible leader replicas): when its last member is fenced it stays
 *   in the ISR and the partition has no leader; it leads again when it is unfenced.
 * - The leader epoch is bumped on leader changes only, not on ISR shrinks (Kafka from metadata version
 *   3.6, KAFKA-15021); the partition epoch on every change.
 * - Replicas are only ever appended to, by raising internal topics toward their factor (DESIGN.md
 *   decision 12); there is no reassignment, so the preferred leader (the first replica) never changes.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../errors.ts';
import { MetadataDelta } from '../metadata/delta.ts';
import {
  isReassigning,
  type MetadataImage,
  type PartitionRegistration,
  type Provenance,
} from '../metadata/image.ts';
import {
  batchBytesMax,
  producerIdBlockSizeDefault,
  recordsPerBatchMax,
  replicasPerPartitionMax,
  stringLengthMax,
} from '../metadata/limits.ts';
import {
  type ConfigResourceType,
  LISTENER_NAMES,
  type Listener,
  type MetadataRecord,
  NO_LEADER,
  type PartitionChangeRecord,
  recordBytes,
  topicNameProblem,
} from '../metadata/records.ts';
import {
  type BalancePlan,
  type BalancerBroker,
  type BalancerPartition,
  type Move,
  planRebalance,
  planReplicationFactor,
} from './balancer.ts';
import { additionalReplicas, type PlacementBroker, placeReplicas, validateAssignment } from './placement.ts';

/** The topic config that allows electing a leader outside the ISR (data loss for availability). */
export const UNCLEAN_LEADER_ELECTION_KEY = 'unclean.leader.election.enable';

/**
 * The cluster config (broker resource "") that lets `electPreferredLeaders` move leaderships back to
 * each partition's first replica: `true` or `false` (any case), and unset means true, Kafka's default.
 */
export const AUTO_LEADER_REBALANCE_KEY = 'auto.leader.rebalance.enable';

/**
 * Topics whose replication factor the controller raises toward `internalReplicationFactor` as brokers
 * join (DESIGN.md decision 12). The broker layer's `INTERNAL_TOPICS` (src/broker/metadata.ts) names
 * the same two; the controller sits below it and cannot import it.
 */
export const INTERNAL_TOPIC_NAMES: readonly string[] = ['__consumer_offsets', '__transaction_state'];

export interface ControllerOptions {
  /** Where topic ids come from (randomUUID in production; a counter in tests). */
  newTopicId: () => string;
  /** How long a broker stays unfenced without a heartbeat (`cluster.session_timeout`). @default 9000 */
  sessionTimeoutMs?: number;
  /**
   * Checks a resource's configs after a change, throwing INVALID_CONFIG. The broker layer passes its
   * topic-config validation; the default checks only UNCLEAN_LEADER_ELECTION_KEY.
   */
  validateConfigs?: (resourceType: ConfigResourceType, configs: Readonly<Record<string, string>>) => void;
  /** Partitions of a topic created without a count. @default 1 */
  defaultPartitions?: number;
  /** Replication factor of a topic created without one. @default 1 */
  defaultReplicationFactor?: number;
  /**
   * The factor internal topics are raised toward as brokers join (they are created with the default
   * factor capped at the active brokers). @default defaultReplicationFactor
   */
  internalReplicationFactor?: number;
  /** The topics `internalReplicationFactor` applies to. @default INTERNAL_TOPIC_NAMES */
  internalTopics?: readonly string[];
  /**
   * Most partitions one preferred-leader election or one replication raise changes, so that its
   * records stay well inside one batch (a leader-only PartitionChange is about 120 bytes; 1000 of them
   * about 120 KiB of batchBytesMax's 1 MiB). Kafka's `maxElectionsPerImbalance` is 1000 too; the
   * answer says when more remain and the host runs the operation again. @default 1000
   */
  partitionChangesPerOperationMax?: number;
  /** Most partitions of one topic. @default 10000 */
  partitionsPerTopicMax?: number;
  /** Producer ids per block. @default 1000 */
  producerIdBlockSize?: number;
  /**
   * Most partition replicas one broker may hold (each broker's `storage.max_partitions`, as the
   * controller's own config gives it); a creation that would place more on any broker is
   * POLICY_VIOLATION. @default 10000
   */
  replicasPerBrokerMax?: number;
  /**
   * Who is in a new partition's ISR: every active replica (Kafka's rule, right once followers fetch
   * from the start) or the leader alone, for a broker whose followers do not replicate yet, so that an
   * ISR never names a replica without the data. @default 'replicas'
   */
  isrAtCreation?: 'replicas' | 'leader';
  /** This cluster's `cluster.controller_quorum_size`, which every registering node must share. */
  quorumSize?: number;
  /**
   * The broker in the controller's own process: its registration is never a duplicate of an older
   * incarnation, which cannot be alive while this process runs on its data directory.
   */
  localBroker?: { id: number; incarnationId: string };
}

/** What every operation returns: the records to commit and the answer once they are committed. */
export interface OperationResult<T> {
  records: MetadataRecord[];
  answer: T;
}

export interface RegisterBrokerRequest {
  brokerId: number;
  incarnationId: string;
  listeners: Listener[];
  rack?: string | null;
  controllerEligible: boolean;
  /** The joining node's `cluster.controller_quorum_size`; refused when it is not the controller's. */
  quorumSize?: number;
  /** The node's name (`node.id`). */
  nodeName?: string;
}

export interface HeartbeatRequest {
  brokerId: number;
  brokerEpoch: number;
  /** The offset of the last metadata record the broker has applied. */
  metadataOffset: number;
  wantShutDown: boolean;
  /**
   * The sizes in bytes of partitions this broker leads, as [topicId, partition, bytes], sent now and
   * then: the balancer weighs moves by them. Soft state, kept by the active controller only.
   */
  partitionSizes?: [string, number, number][];
}

export interface HeartbeatAnswer {
  /** The broker has applied its own registration. */
  isCaughtUp: boolean;
  isFenced: boolean;
  inControlledShutdown: boolean;
  /** The broker may stop now: it leads nothing and the other brokers have seen that. */
  shouldShutDown: boolean;
}

export interface CreateTopicRequest {
  name: string;
  /** -1 or absent: the default. */
  partitions?: number;
  /** -1 or absent: the default. */
  replicationFactor?: number;
  /** A replica list per partition, instead of partitions and replicationFactor. */
  assignments?: number[][];
  configs?: Record<string, string>;
}

export interface CreatePartitionsRequest {
  name: string;
  /** The new partition count, above the current one. */
  count: number;
  /** A replica list per new partition, the preferred leader first; absent: placed as at creation. */
  assignments?: number[][];
}

export interface CreateTopicResult {
  name: string;
  topicId?: string;
  partitions?: number;
  replicationFactor?: number;
  error?: BrokerError;
}

export interface DeleteTopicResult {
  name: string;
  topicId?: string;
  error?: BrokerError;
}

export interface AlterConfigsRequest {
  resourceType: ConfigResourceType;
  /** A topic name; for brokers a broker id, or "" for the cluster-wide default. */
  resourceName: string;
  /** Keys to set, or to delete with null (Kafka's IncrementalAlterConfigs SET and DELETE). */
  changes: Record<string, string | null>;
}

export interface AlterConfigsResult {
  resourceType: ConfigResourceType;
  resourceName: string;
  error?: BrokerError;
}

export interface ProducerIdBlock {
  firstProducerId: number;
  size: number;
}

export interface AlterPartitionRequest {
  /** The leader asking. */
  brokerId: number;
  brokerEpoch: number;
  topicId: string;
  partition: number;
  leaderEpoch: number;
  partitionEpoch: number;
  newIsr: number[];
}

export interface PartitionState {
  leader: number;
  leaderEpoch: number;
  isr: readonly number[];
  partitionEpoch: number;
}

/** One partition of a batched AlterPartition: the fields of AlterPartitionRequest but the broker's. */
export type AlterPartitionItem = Omit<AlterPartitionRequest, 'brokerId' | 'brokerEpoch'>;

/** Kafka's AlterPartition request: one leader's ISR changes for many partitions at once. */
export interface AlterPartitionsRequest {
  brokerId: number;
  brokerEpoch: number;
  partitions: AlterPartitionItem[];
}

/** Each partition's outcome: its new state, or the error that refused its change alone. */
export type AlterPartitionResult =
  | ({ topicId: string; partition: number; error?: undefined } & PartitionState)
  | { topicId: string; partition: number; error: BrokerError };

export interface ElectPreferredLeadersAnswer {
  /** Partitions whose leadership moved to their first replica. */
  moved: number;
  /** The bound stopped the operation with eligible partitions left: run it again. */
  more: boolean;
}

export interface RaiseReplicationAnswer {
  /** Partitions that gained replicas. */
  raised: number;
  /** The bound stopped the operation with partitions left: run it again. */
  more: boolean;
}

/** Moves a partition's replicas to `replicas`, or cancels its move (null); Kafka's AlterPartitionReassignments. */
export interface ReassignmentRequest {
  topic: string;
  partition: number;
  /** The target replicas, the preferred leader first; null cancels the ongoing move. */
  replicas: number[] | null;
}

/** One partition's outcome of a reassignment or an election. */
export interface PartitionResult {
  topic: string;
  partition: number;
  error?: BrokerError;
}

/** A partition being reassigned (Kafka's ListPartitionReassignments entry). */
export interface OngoingReassignment {
  topic: string;
  partition: number;
  /** Every replica now: the target ones first, then those leaving. */
  replicas: number[];
  addingReplicas: number[];
  removingReplicas: number[];
}

/** Kafka's ElectLeaders: PREFERRED moves leadership to the first replica; UNCLEAN elects any live replica of a leaderless partition. */
export type ElectionType = 'preferred' | 'unclean';

export interface ElectLeadersRequest {
  type: ElectionType;
  /** The partitions; null means every partition (the answer then lists only those elected). */
  partitions: { topic: string; partition: number }[] | null;
}

export interface ReplicationFactorRequest {
  topic: string;
  replicationFactor: number;
}

interface Session {
  deadlineMs: number;
  /** The metadata offset the broker last reported. */
  metadataOffset: number;
  /** The offset at which its current registration committed; -1 while it has not. */
  registeredOffset: number;
  /** The offset at which its controlled shutdown committed; -1 when none. */
  controlledShutdownOffset: number;
  /**
   * The offset at which it was last fenced; -1 when it has not been since this controller took over.
   * It is unfenced only once it has applied that (and so the leaderships that moved away from it).
   */
  fencedOffset: number;
}

/** Records built against a working copy of the image, so each step sees the steps before it. */
class Changes {
  readonly records: MetadataRecord[] = [];
  readonly delta: MetadataDelta;
  /** The encoded size of the records so far, one newline each included. */
  bytes = 0;

  constructor(image: MetadataImage) {
    this.delta = new MetadataDelta(image);
  }

  add(record: MetadataRecord): void {
    this.delta.replay(record);
    this.records.push(record);
    this.bytes += recordBytes(record) + 1;
  }

  isActive(id: number): boolean {
    const b = this.delta.broker(id);
    return b !== undefined && !b.fenced && !b.inControlledShutdown;
  }

  partition(topicId: string, i: number): PartitionRegistration {
    const p = this.delta.topicById(topicId)?.partitions[i];
    assert.ok(p, `partition ${topicId}/${i} exists`);
    return p;
  }
}

export class Controller {
  #image: MetadataImage;
  readonly #sessions = new Map<number, Session>();
  /** Sessions of new incarnations whose registration is not committed yet. */
  readonly #pendingSessions = new Map<number, { incarnationId: string; deadlineMs: number }>();
  readonly #newTopicId: () => string;
  readonly #sessionTimeoutMs: number;
  readonly #validateConfigs: NonNullable<ControllerOptions['validateConfigs']>;
  readonly #defaultPartitions: number;
  readonly #defaultReplicationFactor: number;
  readonly #partitionsPerTopicMax: number;
  readonly #producerIdBlockSize: number;
  readonly #replicasPerBrokerMax: number;
  readonly #isrAtCreation: 'replicas' | 'leader';
  readonly #quorumSize: number | undefined;
  readonly #localBroker: { id: number; incarnationId: string } | undefined;
  readonly #internalReplicationFactor: number;
  readonly #internalTopics: readonly string[];
  readonly #changesPerOperationMax: number;
  /** Partition sizes in bytes by `topicId:partition`, from their leaders' heartbeats. */
  readonly #sizes = new Map<string, number>();

  /** A controller taking over with `image` at `nowMs`: every registered broker gets a fresh session. */
  constructor(image: MetadataImage, options: ControllerOptions, nowMs: number) {
    this.#image = image;
    this.#newTopicId = options.newTopicId;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? 9000;
    this.#validateConfigs = options.validateConfigs ?? defaultValidateConfigs;
    this.#defaultPartitions = options.defaultPartitions ?? 1;
    this.#defaultReplicationFactor = options.defaultReplicationFactor ?? 1;
    this.#partitionsPerTopicMax = options.partitionsPerTopicMax ?? 10_000;
    this.#producerIdBlockSize = options.producerIdBlockSize ?? producerIdBlockSizeDefault;
    this.#replicasPerBrokerMax = options.replicasPerBrokerMax ?? 10_000;
    this.#isrAtCreation = options.isrAtCreation ?? 'replicas';
    this.#quorumSize = options.quorumSize;
    this.#localBroker = options.localBroker;
    this.#internalReplicationFactor = options.internalReplicationFactor ?? this.#defaultReplicationFactor;
    this.#internalTopics = [...(options.internalTopics ?? INTERNAL_TOPIC_NAMES)].sort();
    this.#changesPerOperationMax = options.partitionChangesPerOperationMax ?? 1000;
    assert.ok(
      Number.isSafeInteger(this.#internalReplicationFactor) && this.#internalReplicationFactor >= 1,
      'internalReplicationFactor must be a positive integer',
    );
    assert.ok(this.#changesPerOperationMax >= 1, 'partitionChangesPerOperationMax must be positive');
    assert.ok(this.#sessionTimeoutMs > 0, 'sessionTimeoutMs must be positive');
    assert.ok(this.#producerIdBlockSize > 0, 'producerIdBlockSize must be positive');
    for (const b of image.brokers.values()) {
      const off = image.provenance.offset;
      this.#sessions.set(b.id, {
        deadlineMs: nowMs + this.#sessionTimeoutMs,
        metadataOffset: -1,
        registeredOffset: off,
        controlledShutdownOffset: b.inControlledShutdown ? off : -1,
        fencedOffset: -1,
      });
    }
  }

  get image(): MetadataImage {
    return this.#image;
  }

  /** Applies committed records (an operation's, in order) at `provenance`. */
  replay(records: readonly MetadataRecord[], provenance: Provenance): void {
    const delta = new MetadataDelta(this.#image);
    for (const r of records) delta.replay(r);
    this.#image = delta.apply(provenance);
    for (const r of records) {
      const s = 'brokerId' in r ? this.#sessions.get(r.brokerId) : undefined;
      if (r.type === 'RegisterBroker') {
        const pending = this.#pendingSessions.get(r.brokerId);
        if (pending?.incarnationId === r.incarnationId || !s) {
          this.#pendingSessions.delete(r.brokerId);
          this.#sessions.set(r.brokerId, {
            deadlineMs: pending?.incarnationId === r.incarnationId ? pending.deadlineMs : 0,
            metadataOffset: -1,
            registeredOffset: provenance.offset,
            controlledShutdownOffset: -1,
            fencedOffset: -1,
          });
        } else {
          s.registeredOffset = provenance.offset;
        }
      } else if (r.type === 'BrokerRegistrationChange' && s) {
        if (r.inControlledShutdown !== undefined)
          s.controlledShutdownOffset = r.inControlledShutdown ? provenance.offset : -1;
        if (r.fenced === true) s.fencedOffset = provenance.offset;
      } else if (r.type === 'UnregisterBroker') {
        this.#sessions.delete(r.brokerId);
      }
    }
  }

  // ---- brokers ----

  /**
   * Registers a broker: the same incarnation again is idempotent (its epoch and state are kept, its
   * listeners amended); a new incarnation while the old one's session lives is DUPLICATE_BROKER_
   * REGISTRATION; after the session lapsed, it gets a new epoch, starts fenced, and the old
   * incarnation's leaderships are moved away (Kafka's unclean shutdown handling).
   */
  registerBroker(req: RegisterBrokerRequest, nowMs: number): OperationResult<{ brokerEpoch: number }> {
    checkBrokerId(req.brokerId);
    if (
      typeof req.incarnationId !== 'string' ||
      req.incarnationId.length === 0 ||
      req.incarnationId.length > 64
    ) {
      throw new BrokerError('INVALID_REQUEST', 'incarnationId must be a string of 1 to 64 characters');
    }
    const listeners = checkListeners(req.listeners);
    const rack = req.rack ?? null;
    if (rack !== null && (typeof rack !== 'string' || rack.length === 0 || rack.length > stringLengthMax)) {
      throw new BrokerError('INVALID_REQUEST', `rack must be null or 1 to ${stringLengthMax} characters`);
    }
    if (
      req.quorumSize !== undefined &&
      this.#quorumSize !== undefined &&
      req.quorumSize !== this.#quorumSize
    ) {
      throw new BrokerError(
        'INVALID_CONFIG',
        `node ${req.brokerId} has cluster.controller_quorum_size=${req.quorumSize}, but this cluster's is ${this.#quorumSize}; every node must have the same`,
      );
    }
    const existing = this.#image.brokers.get(req.brokerId);
    const session = this.#sessions.get(req.brokerId);
    const c = new Changes(this.#image);
    if (existing && existing.incarnationId === req.incarnationId) {
      const same =
        existing.rack === rack &&
        existing.nodeName === req.nodeName &&
        existing.controllerEligible === req.controllerEligible &&
        JSON.stringify(existing.listeners) === JSON.stringify(listeners);
      if (!same) {
        c.add({
          type: 'RegisterBroker',
          brokerId: req.brokerId,
          incarnationId: req.incarnationId,
          brokerEpoch: existing.epoch,
          listeners,
          rack,
          controllerEligible: req.controllerEligible,
          fenced: existing.fenced,
          inControlledShutdown: existing.inControlledShutdown,
          ...nodeName(req),
          ...(existing.decommissioning ? { decommissioning: true } : {}),
        });
      }
      this.#touch(req.brokerId, nowMs, session?.metadataOffset ?? -1);
      return { records: c.records, answer: { brokerEpoch: existing.epoch } };
    }
    const local =
      this.#localBroker?.id === req.brokerId && this.#localBroker.incarnationId === req.incarnationId;
    if (existing && session && session.deadlineMs > nowMs && !local) {
      throw new BrokerError(
        'DUPLICATE_BROKER_REGISTRATION',
        `broker ${req.brokerId} is registered by another live process (incarnation ${existing.incarnationId}, session valid for ${session.deadlineMs - nowMs} ms more); node ids must be unique`,
      );
    }
    const brokerEpoch = Math.max(this.#image.provenance.offset + 1, (existing?.epoch ?? -1) + 1);
    if (existing) this.#removeFromPartitions(c, req.brokerId);
    c.add({
      type: 'RegisterBroker',
      brokerId: req.brokerId,
      incarnationId: req.incarnationId,
      brokerEpoch,
      listeners,
      rack,
      controllerEligible: req.controllerEligible,
      fenced: true,
      inControlledShutdown: false,
      ...nodeName(req),
      // A decommissioning node that restarts is still being decommissioned.
      ...(existing?.decommissioning ? { decommissioning: true } : {}),
    });
    // The new incarnation's session starts when its registration commits (replay), so a failed commit
    // leaves the old incarnation's session as it was.
    this.#pendingSessions.set(req.brokerId, {
      incarnationId: req.incarnationId,
      deadlineMs: nowMs + this.#sessionTimeoutMs,
    });
    return { records: c.records, answer: { brokerEpoch } };
  }

  /**
   * Removes a broker at once (Kafka's UnregisterBroker): its leaderships move and it leaves every ISR,
   * but its replicas stay listed (under-replicated) until they are reassigned. `decommissionBroker`
   * is the way that moves the data first; this is for a broker that is gone for good.
   */
  unregisterBroker(brokerId: number): OperationResult<void> {
    const b = this.#image.brokers.get(brokerId);
    if (!b) throw new BrokerError('BROKER_ID_NOT_REGISTERED', `broker ${brokerId} is not registered`);
    if (![...this.#image.brokers.values()].some((o) => o.id !== brokerId && o.controllerEligible))
      throw new BrokerError(
        'INVALID_REQUEST',
        `broker ${brokerId} cannot be removed: no other controller-eligible node would be left to hold the metadata quorum`,
      );
    const c = new Changes(this.#image);
    this.#unregister(c, brokerId);
    return { records: c.records, answer: undefined };
  }

  #unregister(c: Changes, brokerId: number): void {
    const b = c.delta.broker(brokerId);
    assert.ok(b, `broker ${brokerId} is registered`);
    if (!b.fenced) c.add({ type: 'BrokerRegistrationChange', brokerId, brokerEpoch: b.epoch, fenced: true });
    this.#removeFromPartitions(c, brokerId);
    c.add({ type: 'UnregisterBroker', brokerId, brokerEpoch: b.epoch });
  }

  /**
   * A broker's heartbeat: renews its session and moves it through Kafka's states. A fenced broker is
   * unfenced once it has applied its own registration and the record that last fenced it; one that wants to shut down enters controlled
   * shutdown (its leaderships move away) and is told to stop once it leads nothing and every other
   * active broker has applied that.
   */
  heartbeat(req: HeartbeatRequest, nowMs: number): OperationResult<HeartbeatAnswer> {
    const b = this.#checkBrokerEpoch(req.brokerId, req.brokerEpoch);
    if (!Number.isSafeInteger(req.metadataOffset) || req.metadataOffset < -1) {
      throw new BrokerError('INVALID_REQUEST', `metadataOffset ${req.metadataOffset} is not an offset`);
    }
    const session = this.#touch(req.brokerId, nowMs, req.metadataOffset);
    this.#recordSizes(req.partitionSizes);
    // Caught up: it has applied its registration, and its last fencing with what moved away from it,
    // so that once unfenced (and so holding a leader lease again) it acts on a current image.
    const isCaughtUp =
      session.registeredOffset >= 0 &&
      req.metadataOffset >= session.registeredOffset &&
      req.metadataOffset >= session.fencedOffset;
    const c = new Changes(this.#image);
    const answer = (fenced: boolean, shuttingDown: boolean, stop: boolean) => {
      // A broker told to stop has no live session any more: its next start may register at once.
      if (stop) session.deadlineMs = nowMs;
      return {
        records: c.records,
        answer: { isCaughtUp, isFenced: fenced, inControlledShutdown: shuttingDown, shouldShutDown: stop },
      };
    };
    if (b.fenced) {
      if (req.wantShutDown) return answer(true, false, true);
      if (!isCaughtUp) return answer(true, false, false);
      c.add({ type: 'BrokerRegistrationChange', brokerId: b.id, brokerEpoch: b.epoch, fenced: false });
      this.#electLeaderless(c);
      // The newly active broker may take the replicas internal topics lack (decision 12); what the
      // bound leaves is done by raiseInternalReplication on the host's tick.
      this.#raiseInternal(c);
      return answer(false, false, false);
    }
    if (!b.inControlledShutdown) {
      if (!req.wantShutDown) return answer(false, false, false);
      if (!this.#leadsAny(c, b.id)) {
        this.#fence(c, b.id);
        return answer(true, false, true);
      }
      c.add({
        type: 'BrokerRegistrationChange',
        brokerId: b.id,
        brokerEpoch: b.epoch,
        inControlledShutdown: true,
      });
      this.#removeFromPartitions(c, b.id);
      return answer(false, true, false);
    }
    // In controlled shutdown: stop once it leads nothing and the others have seen its leaders move.
    if (this.#leadsAny(c, b.id)) {
      this.#removeFromPartitions(c, b.id);
      return answer(false, true, false);
    }
    const offset = session.controlledShutdownOffset;
    const othersCaughtUp =
      offset >= 0 &&
      [...this.#image.brokers.values()].every(
        (o) => o.id === b.id || o.fenced || (this.#sessions.get(o.id)?.metadataOffset ?? -1) >= offset,
      );
    if (!othersCaughtUp) return answer(false, true, false);
    this.#fence(c, b.id);
    return answer(true, false, true);
  }

  /**
   * Fences every unfenced broker whose session lapsed by `nowMs`, one after another, moving its
   * leaderships to the first active ISR member (Kafka's `maybeFenceOneStaleBroker`, all at once).
   */
  tick(nowMs: number): OperationResult<{ fenced: number[] }> {
    const c = new Changes(this.#image);
    const fenced: number[] = [];
    for (const b of [...this.#image.brokers.values()].sort((x, y) => x.id - y.id)) {
      const s = this.#sessions.get(b.id);
      assert.ok(s, `registered broker ${b.id} has a session`);
      if (b.fenced || s.deadlineMs > nowMs) continue;
      this.#fence(c, b.id);
      fenced.push(b.id);
    }
    return { records: c.records, answer: { fenced } };
  }

  /**
   * Gives every broker's session at least `sessionTimeoutMs` from `nowMs`: while this controller cannot
   * be reached (its node's doors are not listening yet), no broker can heartbeat to it, so none may be
   * fenced for silence.
   */
  renewSessions(nowMs: number): OperationResult<void> {
    for (const s of this.#sessions.values())
      s.deadlineMs = Math.max(s.deadlineMs, nowMs + this.#sessionTimeoutMs);
    return { records: [], answer: undefined };
  }

  /**
   * Unfenced brokers not heard from for `silenceMs` (their last heartbeat, or this controller's
   * take-over, is older): the host probes whether their process is gone, to fence a crashed broker
   * before its session lapses.
   */
  silentBrokers(nowMs: number, silenceMs: number): number[] {
    const out: number[] = [];
    for (const b of this.#image.brokers.values()) {
      const s = this.#sessions.get(b.id);
      if (b.fenced || b.id === this.#localBroker?.id || !s) continue;
      if (s.deadlineMs - this.#sessionTimeoutMs + silenceMs <= nowMs) out.push(b.id);
    }
    return out.sort((x, y) => x - y);
  }

  /**
   * Fences a broker whose process is gone (the host found nothing listening at any of its registered
   * addresses), as if its session had lapsed: only if it is still unfenced and has not heartbeated
   * since `silentSinceMs` (when the probe began), so that a broker that answered meanwhile stays.
   */
  fenceUnreachable(brokerId: number, silentSinceMs: number): OperationResult<{ fenced: boolean }> {
    const b = this.#image.brokers.get(brokerId);
    const s = this.#sessions.get(brokerId);
    const c = new Changes(this.#image);
    if (!b || b.fenced || !s || s.deadlineMs - this.#sessionTimeoutMs > silentSinceMs)
      return { records: [], answer: { fenced: false } };
    this.#fence(c, brokerId);
    // Its process is gone: a restart of it may register at once, as after a controlled shutdown.
    s.deadlineMs = silentSinceMs;
    return { records: c.records, answer: { fenced: true } };
  }

  /** When the next session lapses, for the wirer's timer; null when no unfenced broker is registered. */
  nextDeadlineMs(): number | null {
    let next: number | null = null;
    for (const b of this.#image.brokers.values()) {
      const d = this.#sessions.get(b.id)?.deadlineMs;
      if (!b.fenced && d !== undefined && (next === null || d < next)) next = d;
    }
    return next;
  }

  #touch(brokerId: number, nowMs: number, metadataOffset: number): Session {
    let s = this.#sessions.get(brokerId);
    if (!s) {
      s = {
        deadlineMs: 0,
        metadataOffset: -1,
        registeredOffset: -1,
        controlledShutdownOffset: -1,
        fencedOffset: -1,
      };
      this.#sessions.set(brokerId, s);
    }
    s.deadlineMs = Math.max(s.deadlineMs, nowMs + this.#sessionTimeoutMs);
    s.metadataOffset = Math.max(s.metadataOffset, metadataOffset);
    return s;
  }

  #checkBrokerEpoch(brokerId: number, brokerEpoch: number) {
    const b = this.#image.brokers.get(brokerId);
    if (!b) throw new BrokerError('BROKER_ID_NOT_REGISTERED', `broker ${brokerId} is not registered`);
    if (b.epoch !== brokerEpoch) {
      throw new BrokerError(
        'STALE_BROKER_EPOCH',
        `broker ${brokerId} sent epoch ${brokerEpoch}; its current epoch is ${b.epoch}`,
      );
    }
    return b;
  }

  #fence(c: Changes, brokerId: number): void {
    const b = c.delta.broker(brokerId);
    assert.ok(b && !b.fenced, `broker ${brokerId} is registered and unfenced`);
    c.add({
      type: 'BrokerRegistrationChange',
      brokerId,
      brokerEpoch: b.epoch,
      fenced: true,
      inControlledShutdown: false,
    });
    this.#removeFromPartitions(c, brokerId);
  }

  #leadsAny(c: Changes, brokerId: number): boolean {
    for (const t of this.#image.topicsById.values()) {
      for (let i = 0; i < t.partitions.length; i++) if (c.partition(t.id, i).leader === brokerId) return true;
    }
    return false;
  }

  /** Takes `brokerId` out of every ISR (unless it is the last member) and elects new leaders. */
  #removeFromPartitions(c: Changes, brokerId: number): void {
    const acceptable = (id: number) => id !== brokerId && c.isActive(id);
    for (const t of this.#image.topicsById.values()) {
      const unclean = uncleanAllowed(c, t.name);
      for (let i = 0; i < t.partitions.length; i++) {
        const p = c.partition(t.id, i);
        if (!p.isr.includes(brokerId) && p.leader !== brokerId) continue;
        const change = electionChange(
          p,
          p.isr.filter((id) => id !== brokerId),
          acceptable,
          unclean,
        );
        if (change) c.add({ type: 'PartitionChange', topicId: t.id, partition: i, ...change });
      }
    }
  }

  /** Elects leaders for partitions without one, now that a broker may lead (handleBrokerUnfenced). */
  #electLeaderless(c: Changes): void {
    const acceptable = (id: number) => c.isActive(id);
    for (const t of this.#image.topicsById.values()) {
      const unclean = uncleanAllowed(c, t.name);
      for (let i = 0; i < t.partitions.length; i++) {
        const p = c.partition(t.id, i);
        if (p.leader !== NO_LEADER) continue;
        const change = electionChange(p, p.isr, acceptable, unclean);
        if (change) c.add({ type: 'PartitionChange', topicId: t.id, partition: i, ...change });
      }
    }
  }

  // ---- topics ----

  /** Creates topics; each gets its own result, so one bad topic does not fail the others. */
  createTopics(requests: readonly CreateTopicRequest[]): OperationResult<CreateTopicResult[]> {
    const c = new Changes(this.#image);
    const counts = new Map<string, number>();
    for (const r of requests) counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
    let placed = this.#image.partitionCount;
    const answer = requests.map((req): CreateTopicResult => {
      try {
        if ((counts.get(req.name) ?? 0) > 1) {
          throw new BrokerError('INVALID_REQUEST', `topic ${req.name} appears more than once in the request`);
        }
        const records = this.#topicRecords(c, req, placed);
        // A creation is atomic, so its records must fit one batch (one Raft entry).
        const bytes = records.reduce((n, r) => n + recordBytes(r) + 1, 0);
        if (c.records.length + records.length > recordsPerBatchMax || c.bytes + bytes > batchBytesMax) {
          throw new BrokerError(
            'POLICY_VIOLATION',
            `creating ${req.name} would make this operation more than ${recordsPerBatchMax} metadata records or ${batchBytesMax} bytes (recordsPerBatchMax, batchBytesMax); create fewer topics or partitions at once`,
          );
        }
        for (const r of records) c.add(r);
        const partitions = records.filter((r) => r.type === 'Partition');
        placed += partitions.length;
        const first = partitions[0];
        assert.ok(first?.type === 'Partition' && records[0].type === 'Topic');
        return {
          name: req.name,
          topicId: records[0].topicId,
          partitions: partitions.length,
          replicationFactor: first.replicas.length,
        };
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        return { name: req.name, error: err };
      }
    });
    return { records: c.records, answer };
  }

  #topicRecords(c: Changes, req: CreateTopicRequest, start: number): MetadataRecord[] {
    const problem = typeof req.name === 'string' ? topicNameProblem(req.name) : 'topic name must be a string';
    if (problem !== null) throw new BrokerError('INVALID_TOPIC_EXCEPTION', problem);
    if (c.delta.topicByName(req.name))
      throw new BrokerError('TOPIC_ALREADY_EXISTS', `topic ${req.name} already exists`);
    const configs: Record<string, string> = {};
    for (const [key, value] of Object.entries(checkConfigChanges(req.configs ?? {}))) {
      if (value !== null) configs[key] = value;
    }
    this.#validateConfigs('topic', configs);
    const brokers = [...c.delta.base.brokers.values()].filter((b) => c.isActive(b.id) && !b.decommissioning);
    let assignment: number[][];
    if (req.assignments !== undefined) {
      if ((req.partitions ?? -1) !== -1 || (req.replicationFactor ?? -1) !== -1) {
        throw new BrokerError(
          'INVALID_REQUEST',
          'give either assignments or partitions and a replication factor, not both',
        );
      }
      if (req.assignments.length > this.#partitionsPerTopicMax) {
        throw new BrokerError(
          'INVALID_PARTITIONS',
          `at most ${this.#partitionsPerTopicMax} partitions per topic`,
        );
      }
      validateAssignment(
        req.assignments,
        (id) => c.delta.broker(id) !== undefined,
        (id) => c.isActive(id),
        replicasPerPartitionMax,
      );
      assignment = req.assignments.map((r) => [...r]);
    } else {
      const partitions =
        req.partitions === undefined || req.partitions === -1 ? this.#defaultPartitions : req.partitions;
      if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > this.#partitionsPerTopicMax) {
        throw new BrokerError(
          'INVALID_PARTITIONS',
          `partitions must be between 1 and ${this.#partitionsPerTopicMax}, got ${partitions}`,
        );
      }
      // The default is capped at the brokers there are (DESIGN.md decision 12), so that a small cluster
      // works at once; a factor asked for explicitly is not.
      const rf =
        req.replicationFactor === undefined || req.replicationFactor === -1
          ? Math.max(1, Math.min(this.#defaultReplicationFactor, brokers.length))
          : req.replicationFactor;
      if (rf > replicasPerPartitionMax) {
        throw new BrokerError(
          'INVALID_REPLICATION_FACTOR',
          `replication factor ${rf} is above the most, ${replicasPerPartitionMax}`,
        );
      }
      assignment = placeReplicas(brokers, partitions, rf, start);
    }
    this.#checkBrokerRoom(c, assignment);
    const topicId = this.#newTopicId();
    assert.ok(!c.delta.topicById(topicId), `topic id ${topicId} is new`);
    const records: MetadataRecord[] = [{ type: 'Topic', name: req.name, topicId }];
    assignment.forEach((replicas, partition) => {
      records.push(this.#newPartition(c, topicId, partition, replicas));
    });
    for (const [key, value] of Object.entries(configs).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (value !== null)
        records.push({ type: 'Config', resourceType: 'topic', resourceName: req.name, key, value });
    }
    return records;
  }

  /** A new partition's record: led by its first active replica, with the ISR `isrAtCreation` says. */
  #newPartition(c: Changes, topicId: string, partition: number, replicas: number[]): MetadataRecord {
    const active = replicas.filter((id) => c.isActive(id));
    assert.ok(active.length > 0, 'placement chose an active broker');
    return {
      type: 'Partition',
      topicId,
      partition,
      replicas,
      isr: this.#isrAtCreation === 'leader' ? [active[0]] : active,
      leader: active[0],
      leaderEpoch: 0,
      partitionEpoch: 0,
    };
  }

  /** POLICY_VIOLATION when `assignment` would put more replicas on a broker than it may hold. */
  #checkBrokerRoom(c: Changes, assignment: readonly (readonly number[])[]): void {
    const adding = new Map<number, number>();
    for (const replicas of assignment) for (const id of replicas) adding.set(id, (adding.get(id) ?? 0) + 1);
    const held = new Map<number, number>();
    for (const t of c.delta.base.topicsById.values())
      for (let i = 0; i < t.partitions.length; i++)
        for (const id of c.partition(t.id, i).replicas) held.set(id, (held.get(id) ?? 0) + 1);
    for (const r of c.records)
      if (r.type === 'Partition') for (const id of r.replicas) held.set(id, (held.get(id) ?? 0) + 1);
    for (const [id, more] of adding) {
      const now = held.get(id) ?? 0;
      if (now + more > this.#replicasPerBrokerMax) {
        throw new BrokerError(
          'POLICY_VIOLATION',
          `broker ${id} holds ${now} partitions; ${more} more would pass its limit of ${this.#replicasPerBrokerMax} (storage.max_partitions)`,
        );
      }
    }
  }

  /**
   * Adds partitions to topics (Kafka's CreatePartitions): each new partition gets replicas placed as
   * at creation, with the topic's replication factor; a count not above the current one is
   * INVALID_PARTITIONS with Kafka's wording. Each topic gets its own result.
   */
  createPartitions(requests: readonly CreatePartitionsRequest[]): OperationResult<CreateTopicResult[]> {
    const c = new Changes(this.#image);
    const answer = requests.map((req): CreateTopicResult => {
      try {
        const t = c.delta.topicByName(req.name);
        const topic = t && this.#image.topicsById.get(t.id);
        if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${req.name} does not exist`);
        const current = topic.partitions.length;
        if (!Number.isSafeInteger(req.count) || req.count <= current) {
          throw new BrokerError(
            'INVALID_PARTITIONS',
            req.count === current
              ? `Topic already has ${current} partitions.`
              : `Topic currently has ${current} partitions, which is higher than the requested ${req.count}.`,
          );
        }
        if (req.count > this.#partitionsPerTopicMax) {
          throw new BrokerError(
            'INVALID_PARTITIONS',
            `partitions must be between 1 and ${this.#partitionsPerTopicMax}, got ${req.count}`,
          );
        }
        const rf = Controller.#original(topic.partitions[0]).length;
        const brokers = [...this.#image.brokers.values()].filter(
          (b) => c.isActive(b.id) && !b.decommissioning,
        );
        let assignment: number[][];
        if (req.assignments !== undefined) {
          if (req.assignments.length !== req.count - current) {
            throw new BrokerError(
              'INVALID_REPLICA_ASSIGNMENT',
              `Attempted to add ${req.count - current} additional partition(s), but only ${req.assignments.length} assignment(s) were specified.`,
            );
          }
          validateAssignment(
            req.assignments,
            (id) => c.delta.broker(id) !== undefined,
            (id) => c.isActive(id),
            replicasPerPartitionMax,
            current,
          );
          if (req.assignments[0]?.length !== rf) {
            throw new BrokerError(
              'INVALID_REPLICA_ASSIGNMENT',
              `Inconsistent replication factor between partitions, partition 0 has ${rf} while partitions [${current}] have replication factors [${req.assignments[0]?.length ?? 0}], respectively.`,
            );
          }
          assignment = req.assignments.map((r) => [...r]);
        } else {
          assignment = placeReplicas(brokers, req.count - current, rf, this.#image.partitionCount + current);
        }
        this.#checkBrokerRoom(c, assignment);
        if (c.records.length + assignment.length > recordsPerBatchMax) {
          throw new BrokerError(
            'POLICY_VIOLATION',
            `adding ${assignment.length} partitions would make this operation more than ${recordsPerBatchMax} metadata records; add fewer at once`,
          );
        }
        assignment.forEach((replicas, i) => {
          c.add(this.#newPartition(c, topic.id, current + i, replicas));
        });
        return { name: req.name, topicId: topic.id, partitions: req.count, replicationFactor: rf };
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        return { name: req.name, error: err };
      }
    });
    return { records: c.records, answer };
  }

  deleteTopics(names: readonly string[]): OperationResult<DeleteTopicResult[]> {
    const c = new Changes(this.#image);
    const deleted = new Map<string, string>();
    const answer = names.map((name): DeleteTopicResult => {
      const done = deleted.get(name);
      if (done) return { name, topicId: done };
      const t = this.#image.topicsByName.get(name);
      if (!t)
        return { name, error: new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`) };
      c.add({ type: 'RemoveTopic', topicId: t.id });
      deleted.set(name, t.id);
      return { name, topicId: t.id };
    });
    return { records: c.records, answer };
  }

  /** Incremental config changes, validated on the resulting set of each resource. */
  alterConfigs(requests: readonly AlterConfigsRequest[]): OperationResult<AlterConfigsResult[]> {
    const c = new Changes(this.#image);
    const answer = requests.map((req): AlterConfigsResult => {
      const { resourceType, resourceName } = req;
      try {
        if (resourceType === 'topic') {
          if (!c.delta.topicByName(resourceName)) {
            throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${resourceName} does not exist`);
          }
        } else if (resourceType === 'broker') {
          if (resourceName !== '' && !/^(0|[1-9][0-9]{0,9})$/.test(resourceName)) {
            throw new BrokerError(
              'INVALID_REQUEST',
              `broker resource ${JSON.stringify(resourceName)} is not a broker id or ""`,
            );
          }
        } else {
          throw new BrokerError(
            'INVALID_REQUEST',
            `unknown config resource type ${JSON.stringify(resourceType)}`,
          );
        }
        const changes = checkConfigChanges(req.changes);
        const current = new Map(this.#image.config(resourceType, resourceName));
        const records: MetadataRecord[] = [];
        for (const [key, value] of Object.entries(changes).sort(([a], [b]) => (a < b ? -1 : 1))) {
          if ((current.get(key) ?? null) === value) continue;
          if (value === null) current.delete(key);
          else current.set(key, value);
          records.push({ type: 'Config', resourceType, resourceName, key, value });
        }
        this.#validateConfigs(resourceType, Object.fromEntries(current));
        checkControllerConfigs(resourceType, current);
        for (const r of records) c.add(r);
        return { resourceType, resourceName };
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        return { resourceType, resourceName, error: err };
      }
    });
    // Allowing unclean election takes effect at once for partitions that are offline now.
    if (
      c.records.some(
        (r) => r.type === 'Config' && r.key === UNCLEAN_LEADER_ELECTION_KEY && configIsTrue(r.value),
      )
    ) {
      this.#electLeaderless(c);
    }
    return { records: c.records, answer };
  }

  // ---- producer ids ----

  /** The next block of producer ids for a broker; blocks follow one another and are never reused. */
  allocateProducerIds(brokerId: number, brokerEpoch: number): OperationResult<ProducerIdBlock> {
    this.#checkBrokerEpoch(brokerId, brokerEpoch);
    const first = this.#image.producerIds.nextProducerId;
    const next = first + this.#producerIdBlockSize;
    if (!Number.isSafeInteger(next)) {
      throw new BrokerError('UNKNOWN_SERVER_ERROR', 'producer ids are exhausted');
    }
    return {
      records: [{ type: 'ProducerIds', brokerId, brokerEpoch, nextProducerId: next }],
      answer: { firstProducerId: first, size: this.#producerIdBlockSize },
    };
  }

  // ---- partitions ----

  /**
   * A leader's ISR change (Kafka's AlterPartition) for one partition: alterPartitions with one entry,
   * its error thrown.
   */
  alterPartition(req: AlterPartitionRequest): OperationResult<PartitionState> {
    const { brokerId, brokerEpoch, ...item } = req;
    const { records, answer } = this.alterPartitions({ brokerId, brokerEpoch, partitions: [item] });
    const [result] = answer;
    if (result.error) throw result.error;
    const { topicId: _t, partition: _p, error: _e, ...state } = result;
    return { records, answer: state };
  }

  /**
   * A leader's ISR changes for many partitions (Kafka's `ReplicationControlManager.alterPartition`).
   * A stale broker epoch refuses the whole request; otherwise each partition is checked in Kafka's
   * order (`validateAlterPartitionData`) and answered on its own, so one partition's error does not
   * fail the others:
   * - a leader or partition epoch above the controller's is NOT_CONTROLLER: this controller has not
   *   seen a change the leader has, so it is probably not the active one any more;
   * - a leader epoch below the current is FENCED_LEADER_EPOCH (a new leader was elected);
   * - a broker that is not the leader is INVALID_REQUEST;
   * - a partition epoch below the current is INVALID_UPDATE_VERSION (the change was computed on stale
   *   state);
   * - an ISR that repeats a broker or leaves out the leader is INVALID_REQUEST, and one naming a broker
   *   that is not a replica, not registered, fenced or in controlled shutdown is INELIGIBLE_REPLICA
   *   (Kafka answers a non-replica with INVALID_REQUEST; ours keeps the one code for "may not be in
   *   this ISR").
   * A partition named twice in one request is INVALID_REQUEST for both entries. An unchanged ISR makes
   * no record and answers the current state. One record per partition at most; a request the decoder
   * admits (recordsPerBatchMax entries) may still pass batchBytesMax, and the committer splits it
   * (each change stands alone, as Kafka's non-atomic results do).
   */
  alterPartitions(req: AlterPartitionsRequest): OperationResult<AlterPartitionResult[]> {
    this.#checkBrokerEpoch(req.brokerId, req.brokerEpoch);
    if (!Array.isArray(req.partitions)) throw new BrokerError('INVALID_REQUEST', 'partitions must be a list');
    const c = new Changes(this.#image);
    const key = (p: AlterPartitionItem) => `${p.topicId}:${p.partition}`;
    const counts = new Map<string, number>();
    for (const p of req.partitions) counts.set(key(p), (counts.get(key(p)) ?? 0) + 1);
    const answer = req.partitions.map((item): AlterPartitionResult => {
      const { topicId, partition } = item;
      try {
        if ((counts.get(key(item)) ?? 0) > 1) {
          throw new BrokerError(
            'INVALID_REQUEST',
            `partition ${partition} of topic id ${topicId} appears more than once in the request`,
          );
        }
        return { topicId, partition, ...this.#alterOne(c, req.brokerId, item) };
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        return { topicId, partition, error: err };
      }
    });
    return { records: c.records, answer };
  }

  #alterOne(c: Changes, brokerId: number, req: AlterPartitionItem): PartitionState {
    const t = typeof req.topicId === 'string' ? c.delta.topicById(req.topicId) : undefined;
    const p = t && Number.isSafeInteger(req.partition) ? t.partitions[req.partition] : undefined;
    if (!t || !p) {
      throw new BrokerError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `no partition ${req.partition} of topic id ${req.topicId}`,
      );
    }
    const where = `${t.name}-${req.partition}`;
    const ahead =
      req.leaderEpoch > p.leaderEpoch
        ? `leader epoch ${req.leaderEpoch} is ahead of this controller's ${p.leaderEpoch}`
        : req.partitionEpoch > p.partitionEpoch
          ? `partition epoch ${req.partitionEpoch} is ahead of this controller's ${p.partitionEpoch}`
          : null;
    if (ahead !== null) {
      throw new BrokerError(
        'NOT_CONTROLLER',
        `${where}: ${ahead}; it is probably no longer the active controller`,
      );
    }
    if (req.leaderEpoch !== p.leaderEpoch) {
      throw new BrokerError(
        'FENCED_LEADER_EPOCH',
        `${where}: leader epoch ${req.leaderEpoch} is not the current ${p.leaderEpoch}`,
      );
    }
    if (brokerId !== p.leader) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `${where}: broker ${brokerId} is not the leader (${p.leader})`,
      );
    }
    if (req.partitionEpoch !== p.partitionEpoch) {
      throw new BrokerError(
        'INVALID_UPDATE_VERSION',
        `${where}: partition epoch ${req.partitionEpoch} is not the current ${p.partitionEpoch}`,
      );
    }
    const isr = req.newIsr;
    if (!Array.isArray(isr) || new Set(isr).size !== isr.length || !isr.includes(p.leader)) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `${where}: the new ISR ${isr} must be distinct and include the leader`,
      );
    }
    for (const id of isr) {
      if (!p.replicas.includes(id))
        throw new BrokerError('INELIGIBLE_REPLICA', `${where}: broker ${id} is not a replica`);
      if (!c.isActive(id)) {
        throw new BrokerError('INELIGIBLE_REPLICA', `${where}: broker ${id} is fenced or shutting down`);
      }
    }
    if (!sameList(isr, p.isr)) {
      c.add({ type: 'PartitionChange', topicId: t.id, partition: req.partition, isr: [...isr] });
      // The last target replica of a move caught up: the move completes in the same operation.
      this.#completeReassignment(c, t.id, req.partition);
    }
    const q = c.partition(t.id, req.partition);
    return { leader: q.leader, leaderEpoch: q.leaderEpoch, isr: q.isr, partitionEpoch: q.partitionEpoch };
  }

  /**
   * Moves leaderships back to each partition's preferred replica, its first (Kafka's
   * `maybeBalancePartitionLeaders` with the PREFERRED election of `PartitionChangeBuilder`): a
   * partition whose leader is not its first replica, while that replica is active and in the ISR, is
   * led by it with a bumped leader epoch. Being in the ISR is what makes this safe: a restarted broker
   * rejoins the ISR only through AlterPartition once it has caught up, so it leads again only then.
   * Nothing when the cluster config `auto.leader.rebalance.enable` is `false`. At most
   * `partitionChangesPerOperationMax` partitions per operation; `more` says to run it again.
   */
  electPreferredLeaders(): OperationResult<ElectPreferredLeadersAnswer> {
    const c = new Changes(this.#image);
    if (!rebalanceEnabled(c)) return { records: [], answer: { moved: 0, more: false } };
    let more = false;
    scan: for (const t of this.#image.topicsById.values()) {
      for (let i = 0; i < t.partitions.length; i++) {
        const p = c.partition(t.id, i);
        const preferred = p.replicas[0];
        if (p.leader === preferred || !p.isr.includes(preferred) || !c.isActive(preferred)) continue;
        const record: MetadataRecord = {
          type: 'PartitionChange',
          topicId: t.id,
          partition: i,
          leader: preferred,
        };
        if (!this.#roomFor(c, record)) {
          more = true;
          break scan;
        }
        c.add(record);
      }
    }
    return { records: c.records, answer: { moved: c.records.length, more } };
  }

  /**
   * Raises internal topics toward `internalReplicationFactor` (DESIGN.md decision 12): a partition with
   * fewer replicas than min(factor, active brokers) gets active brokers appended to its replicas,
   * chosen by `additionalReplicas` so that replica counts stay balanced. Only the replicas change: the
   * ISR and the leader stay, and a new replica joins the ISR through AlterPartition once it has caught
   * up (the broker learns of it from `localChanges`, which lists the partition as a new follower). An
   * offline partition is left until it has a leader again: a new replica could not fetch from anyone,
   * and under unclean election it would be a candidate holding nothing.
   * Runs as part of the heartbeat that unfences a broker and, for what the bound left, on its own.
   */
  raiseInternalReplication(): OperationResult<RaiseReplicationAnswer> {
    const c = new Changes(this.#image);
    const more = this.#raiseInternal(c);
    return { records: c.records, answer: { raised: c.records.length, more } };
  }

  /** True when the bound stopped it with partitions left. */
  #raiseInternal(c: Changes): boolean {
    const active: PlacementBroker[] = [];
    for (const b of c.delta.base.brokers.values())
      if (c.isActive(b.id) && !b.decommissioning) active.push({ id: b.id, rack: b.rack });
    const want = Math.min(this.#internalReplicationFactor, active.length);
    const topics = this.#internalTopics
      .map((name) => c.delta.topicByName(name))
      .filter((t) => t !== undefined)
      .map((t) => c.delta.topicById(t.id))
      .filter((t) => t !== undefined);
    // A partition being moved is left to its move (its replicas are the target's and the leaving ones).
    const lacking = (p: PartitionRegistration) =>
      p.replicas.length < want && p.leader !== NO_LEADER && !isReassigning(p);
    if (!topics.some((t) => t.partitions.some(lacking))) return false;
    const held = new Map<number, number>();
    for (const t of c.delta.base.topicsById.values())
      for (let i = 0; i < t.partitions.length; i++)
        for (const id of c.partition(t.id, i).replicas) held.set(id, (held.get(id) ?? 0) + 1);
    const rackOf = (id: number) => ({ id, rack: c.delta.broker(id)?.rack ?? null });
    for (const t of topics) {
      const inTopic = new Map<number, number>();
      for (const p of t.partitions) for (const id of p.replicas) inTopic.set(id, (inTopic.get(id) ?? 0) + 1);
      for (let i = 0; i < t.partitions.length; i++) {
        const p = c.partition(t.id, i);
        if (!lacking(p)) continue;
        const room = active.filter((b) => (held.get(b.id) ?? 0) < this.#replicasPerBrokerMax);
        const extra = additionalReplicas(
          p.replicas.map(rackOf),
          room,
          want - p.replicas.length,
          inTopic,
          held,
        );
        if (extra.length === 0) continue;
        const record: MetadataRecord = {
          type: 'PartitionChange',
          topicId: t.id,
          partition: i,
          replicas: [...p.replicas, ...extra],
        };
        if (!this.#roomFor(c, record)) return true;
        c.add(record);
        for (const id of extra) {
          held.set(id, (held.get(id) ?? 0) + 1);
          inTopic.set(id, (inTopic.get(id) ?? 0) + 1);
        }
      }
    }
    return false;
  }

  // ---- reassignment, elections, balancing (issue 14) ----

  /**
   * Starts, replaces or cancels partition moves (Kafka's AlterPartitionReassignments, KIP-455). A move
   * to `target` from the original replicas `orig` records replicas = target then the rest of orig,
   * addingReplicas = target - orig, removingReplicas = orig - target; the added replicas are followers
   * at once, fetch from the leader and join the ISR through AlterPartition once caught up, and when
   * every target replica is in the ISR the move completes (`#completeReassignment`): the replicas
   * become the target, the ISR drops the removed ones, and the leader moves if it was among them. A
   * new target for a partition being moved replaces the old one (computed from the original
   * replicas); null cancels, going back to the original replicas. Each partition is answered on its
   * own: an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION, a target that is empty, repeats
   * a broker, names an unregistered or decommissioning broker, or is longer than the most replicas is
   * INVALID_REPLICA_ASSIGNMENT, a partition named twice INVALID_REQUEST, a cancellation of nothing
   * NO_REASSIGNMENT_IN_PROGRESS. A target equal to the replicas is answered without a record.
   */
  alterPartitionReassignments(requests: readonly ReassignmentRequest[]): OperationResult<PartitionResult[]> {
    if (!Array.isArray(requests)) throw new BrokerError('INVALID_REQUEST', 'requests must be a list');
    const c = new Changes(this.#image);
    const key = (r: ReassignmentRequest) => `${r.topic}\u0000${r.partition}`;
    const counts = new Map<string, number>();
    for (const r of requests) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
    const answer = requests.map((r): PartitionResult => {
      const { topic, partition } = r;
      try {
        if ((counts.get(key(r)) ?? 0) > 1) {
          throw new BrokerError(
            'INVALID_REQUEST',
            `partition ${partition} of ${topic} appears more than once in the request`,
          );
        }
        const t = this.#partitionOf(c, topic, partition);
        if (r.replicas === null) this.#cancelReassignment(c, t.id, partition);
        else this.#reassign(c, t.id, partition, this.#checkTarget(c, r.replicas, `${topic}-${partition}`));
        return { topic, partition };
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        return { topic, partition, error: err };
      }
    });
    return { records: c.records, answer };
  }

  /** The topic holding partition `i` of `topic`, or UNKNOWN_TOPIC_OR_PARTITION. */
  #partitionOf(c: Changes, topic: string, i: number): { id: string; name: string } {
    const t = typeof topic === 'string' ? c.delta.topicByName(topic) : undefined;
    const parts = t ? c.delta.topicById(t.id)?.partitions : undefined;
    if (!t || !parts) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
    if (!Number.isSafeInteger(i) || i < 0 || i >= parts.length) {
      throw new BrokerError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `topic ${topic} has no partition ${i} (it has ${parts.length})`,
      );
    }
    return t;
  }

  /** A reassignment target as `alterPartitionReassignments` accepts one, copied. */
  #checkTarget(c: Changes, replicas: readonly number[], where: string): number[] {
    if (!Array.isArray(replicas) || replicas.length === 0)
      throw invalidAssignment(`${where}: the target replicas must list at least one broker`);
    if (replicas.length > replicasPerPartitionMax)
      throw invalidAssignment(`${where}: at most ${replicasPerPartitionMax} replicas`);
    const seen = new Set<number>();
    for (const id of replicas) {
      if (seen.has(id)) throw invalidAssignment(`${where}: the target names broker ${id} twice`);
      seen.add(id);
      const b = Number.isSafeInteger(id) ? c.delta.broker(id) : undefined;
      if (!b) throw invalidAssignment(`${where}: broker ${id} is not registered`);
    }
    return [...replicas];
  }

  /** The replicas a partition had before its move (all of them when none is on). */
  static #original(p: PartitionRegistration): number[] {
    const adding = p.addingReplicas ?? [];
    return p.replicas.filter((id) => !adding.includes(id));
  }

  #reassign(c: Changes, topicId: string, i: number, target: number[]): void {
    const p = c.partition(topicId, i);
    const orig = Controller.#original(p);
    for (const id of target) {
      if (!orig.includes(id) && c.delta.broker(id)?.decommissioning)
        throw invalidAssignment(`broker ${id} is being decommissioned and takes no new replicas`);
    }
    const adding = target.filter((id) => !orig.includes(id));
    const removing = orig.filter((id) => !target.includes(id));
    const moving = isReassigning(p);
    if (adding.length === 0 && removing.length === 0) {
      // The same brokers: a new order (a new preferred leader), or the cancellation of a move back to
      // where it came from.
      if (moving) this.#cancelReassignment(c, topicId, i, target);
      else if (!sameList(target, p.replicas))
        c.add({ type: 'PartitionChange', topicId, partition: i, replicas: target });
      return;
    }
    // A replica being added by the move this one replaces, and not a target now, leaves the ISR.
    const replicas = [...target, ...removing];
    const isr = p.isr.filter((id) => replicas.includes(id));
    const change: PartitionChangeRecord = {
      type: 'PartitionChange',
      topicId,
      partition: i,
      replicas,
      addingReplicas: adding,
      removingReplicas: removing,
    };
    if (!sameList(isr, p.isr)) {
      if (isr.length === 0)
        throw new BrokerError('REASSIGNMENT_IN_PROGRESS', 'no in-sync replica would be left');
      change.isr = isr;
      if (!isr.includes(p.leader)) {
        const leader = isr.find((id) => c.isActive(id)) ?? NO_LEADER;
        change.leader = leader;
      }
    }
    c.add(change);
    this.#completeReassignment(c, topicId, i);
  }

  /**
   * Back to the original replicas (`order`, when given, is their new order): the added ones leave
   * the replicas and the ISR; the leader moves if it was one of them. NO_REASSIGNMENT_IN_PROGRESS when
   * no move is on.
   */
  #cancelReassignment(c: Changes, topicId: string, i: number, order?: number[]): void {
    const p = c.partition(topicId, i);
    if (!isReassigning(p))
      throw new BrokerError('NO_REASSIGNMENT_IN_PROGRESS', `partition ${i} is not being reassigned`);
    const replicas = order ?? Controller.#original(p);
    const isr = p.isr.filter((id) => replicas.includes(id));
    if (isr.length === 0) {
      throw new BrokerError(
        'REASSIGNMENT_IN_PROGRESS',
        `none of the original replicas ${replicas} is in sync any more; move it to a new target instead of cancelling`,
      );
    }
    const change: PartitionChangeRecord = {
      type: 'PartitionChange',
      topicId,
      partition: i,
      replicas,
      addingReplicas: [],
      removingReplicas: [],
    };
    if (!sameList(isr, p.isr)) change.isr = isr;
    if (!isr.includes(p.leader) || !c.isActive(p.leader))
      change.leader = replicas.find((id) => isr.includes(id) && c.isActive(id)) ?? NO_LEADER;
    c.add(change);
  }

  /**
   * Completes a move whose target replicas are all in the ISR (Kafka's
   * `PartitionChangeBuilder.completeReassignmentIfNeeded`): the replicas become the target, the removed
   * ones leave the ISR, and a leader among them hands over to the first target replica in the ISR
   * that may lead, with a new leader epoch. Nothing while a target replica is still catching up.
   */
  #completeReassignment(c: Changes, topicId: string, i: number): boolean {
    const p = c.partition(topicId, i);
    const removing = p.removingReplicas ?? [];
    const adding = p.addingReplicas ?? [];
    if (adding.length === 0 && removing.length === 0) return false;
    const target = p.replicas.filter((id) => !removing.includes(id));
    if (!target.every((id) => p.isr.includes(id))) return false;
    const isr = p.isr.filter((id) => target.includes(id));
    const change: PartitionChangeRecord = {
      type: 'PartitionChange',
      topicId,
      partition: i,
      replicas: target,
      addingReplicas: [],
      removingReplicas: [],
    };
    if (!sameList(isr, p.isr)) change.isr = isr;
    if (!target.includes(p.leader) || !c.isActive(p.leader)) {
      const leader = target.find((id) => isr.includes(id) && c.isActive(id));
      // No target replica may lead yet (all fenced): the move waits rather than leave it leaderless.
      if (leader === undefined) return false;
      change.leader = leader;
    }
    c.add(change);
    return true;
  }

  /**
   * Kafka's ElectLeaders. PREFERRED moves each partition's leadership to its first replica when that
   * replica is active and in the ISR (ELECTION_NOT_NEEDED when it leads already,
   * PREFERRED_LEADER_NOT_AVAILABLE otherwise). UNCLEAN elects a leader for a partition that has none:
   * an active ISR member if there is one, else any active replica, which becomes the ISR alone and may
   * lack records the old leader acknowledged (ELECTION_NOT_NEEDED when it has a leader,
   * ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is active). With `partitions` null every partition
   * is tried and only those elected are answered.
   */
  electLeaders(request: ElectLeadersRequest): OperationResult<PartitionResult[]> {
    const { type } = request;
    if (type !== 'preferred' && type !== 'unclean')
      throw new BrokerError(
        'INVALID_REQUEST',
        `election type ${JSON.stringify(type)} is not preferred or unclean`,
      );
    const c = new Changes(this.#image);
    const all = request.partitions === null;
    const wanted =
      request.partitions ??
      [...this.#image.topicsByName.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .flatMap((t) => t.partitions.map((_, partition) => ({ topic: t.name, partition })));
    const seen = new Set<string>();
    const answer: PartitionResult[] = [];
    for (const { topic, partition } of wanted) {
      try {
        const k = `${topic}\u0000${partition}`;
        if (seen.has(k)) continue;
        seen.add(k);
        const t = this.#partitionOf(c, topic, partition);
        this.#elect(c, t.id, partition, type);
        answer.push({ topic, partition });
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        if (!all) answer.push({ topic, partition, error: err });
      }
    }
    return { records: c.records, answer };
  }

  #elect(c: Changes, topicId: string, i: number, type: ElectionType): void {
    const p = c.partition(topicId, i);
    if (type === 'preferred') {
      const preferred = p.replicas[0];
      if (p.leader === preferred)
        throw new BrokerError(
          'ELECTION_NOT_NEEDED',
          `broker ${preferred}, the preferred replica, leads already`,
        );
      if (!p.isr.includes(preferred) || !c.isActive(preferred)) {
        throw new BrokerError(
          'PREFERRED_LEADER_NOT_AVAILABLE',
          `the preferred replica, broker ${preferred}, is ${c.isActive(preferred) ? 'not in the ISR' : 'fenced or shutting down'}`,
        );
      }
      c.add({ type: 'PartitionChange', topicId, partition: i, leader: preferred });
      return;
    }
    if (p.leader !== NO_LEADER) throw new BrokerError('ELECTION_NOT_NEEDED', `broker ${p.leader} leads it`);
    const adding = p.addingReplicas ?? [];
    const clean = p.replicas.find((id) => p.isr.includes(id) && c.isActive(id));
    const dirty = p.replicas.find((id) => !adding.includes(id) && c.isActive(id));
    if (clean !== undefined) c.add({ type: 'PartitionChange', topicId, partition: i, leader: clean });
    else if (dirty !== undefined)
      c.add({ type: 'PartitionChange', topicId, partition: i, leader: dirty, isr: [dirty] });
    else
      throw new BrokerError('ELIGIBLE_LEADERS_NOT_AVAILABLE', `none of the replicas ${p.replicas} is active`);
  }

  /** The brokers the balancer may place replicas on: active and not being decommissioned, by id. */
  #balancerBrokers(c: Changes): BalancerBroker[] {
    return [...c.delta.base.brokers.values()]
      .filter((b) => c.isActive(b.id) && !c.delta.broker(b.id)?.decommissioning)
      .sort((a, b) => a.id - b.id)
      .map((b) => ({ id: b.id, rack: b.rack }));
  }

  /** Every partition as the balancer sees it: a move's target for one being moved (pinned). */
  #balancerPartitions(c: Changes): BalancerPartition[] {
    const out: BalancerPartition[] = [];
    for (const t of [...c.delta.base.topicsByName.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const parts = c.delta.topicById(t.id)?.partitions ?? [];
      parts.forEach((p, i) => {
        const removing = p.removingReplicas ?? [];
        const moving = isReassigning(p);
        out.push({
          topic: t.name,
          partition: i,
          replicas: p.replicas.filter((id) => !removing.includes(id)),
          bytes: this.#sizes.get(`${t.id}:${i}`) ?? 0,
          ...(moving ? { pinned: true } : {}),
        });
      });
    }
    return out;
  }

  /** The balancer's full plan for the cluster as it is (`rebalance --dry-run`). */
  planRebalance(): BalancePlan {
    const c = new Changes(this.#image);
    const draining = [...this.#image.brokers.values()].filter((b) => b.decommissioning).map((b) => b.id);
    return planRebalance({
      brokers: this.#balancerBrokers(c),
      draining,
      partitions: this.#balancerPartitions(c),
    });
  }

  /**
   * One step of balancing (the host runs it every few seconds): a decommissioned broker that holds
   * nothing any more is unregistered; then, while fewer than `maxMoves` moves are on, the balancer's
   * next moves start: those off decommissioning brokers always, the rest only when `auto` is on and
   * every registered broker is active (a broker that is down or restarting is waited for, not moved
   * away from). The balancer cuts its plan at that many partitions changed, reorders (a new
   * preferred leader, no data moved) included, so that each step is a state its full plan passes
   * through.
   */
  balance(opts: {
    auto: boolean;
    maxMoves: number;
  }): OperationResult<{ started: Move[]; removed: number[] }> {
    const c = new Changes(this.#image);
    const removed: number[] = [];
    const holds = new Set<number>();
    for (const t of this.#image.topicsById.values())
      for (const p of t.partitions) for (const id of p.replicas) holds.add(id);
    const draining = [...this.#image.brokers.values()].filter((b) => b.decommissioning);
    for (const b of draining) {
      if (holds.has(b.id)) continue;
      this.#unregister(c, b.id);
      removed.push(b.id);
    }
    const started: Move[] = [];
    let ongoing = 0;
    for (const t of this.#image.topicsById.values())
      for (const p of t.partitions) if (isReassigning(p)) ongoing++;
    const stillDraining = draining.filter((b) => !removed.includes(b.id)).map((b) => b.id);
    if (ongoing >= opts.maxMoves || (stillDraining.length === 0 && !opts.auto)) {
      return { records: c.records, answer: { started, removed } };
    }
    const allActive = [...this.#image.brokers.values()].every((b) => b.decommissioning || c.isActive(b.id));
    const brokers = this.#balancerBrokers(c);
    if (brokers.length === 0) return { records: c.records, answer: { started, removed } };
    let plan: BalancePlan;
    try {
      // The first moves of the plan, as the balancer cuts it: a state the full plan passes through,
      // so that carrying them out and planning again converges (balancer.ts).
      plan = planRebalance({
        brokers,
        draining: stillDraining,
        partitions: this.#balancerPartitions(c),
        maxMoves: opts.maxMoves - ongoing,
      });
    } catch (err) {
      // Too few brokers left for some partition's factor (one went down after the check): wait.
      if (err instanceof BrokerError) return { records: c.records, answer: { started, removed } };
      throw err;
    }
    for (const m of plan.moves) {
      // Draining moves come first in a plan; without balancing (off, or a node down) only they are
      // carried out, and the rest waits.
      const drains = m.from.some((id) => stillDraining.includes(id));
      if (!drains && !(opts.auto && allActive)) break;
      const t = c.delta.topicByName(m.topic);
      if (!t) continue;
      const record = { type: 'PartitionChange', topicId: t.id, partition: m.partition } as const;
      if (!this.#roomFor(c, record)) break;
      try {
        this.#reassign(c, t.id, m.partition, m.to);
      } catch (err) {
        if (err instanceof BrokerError) continue;
        throw err;
      }
      started.push(m);
    }
    return { records: c.records, answer: { started, removed } };
  }

  /**
   * Changes a topic's replication factor by reassignment: the balancer picks the brokers to add (the
   * least loaded) or to drop (the most loaded, keeping the preferred leader), and every partition's
   * move starts at once (the throttle bounds what they copy). INVALID_REPLICATION_FACTOR when the
   * factor is below 1 or above the brokers that may take replicas; REASSIGNMENT_IN_PROGRESS when one
   * of its partitions is being moved already.
   */
  alterReplicationFactor(request: ReplicationFactorRequest): OperationResult<Move[]> {
    const c = new Changes(this.#image);
    const t = c.delta.topicByName(request.topic);
    const topic = t ? c.delta.topicById(t.id) : undefined;
    if (!t || !topic)
      throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${request.topic} does not exist`);
    const rf = request.replicationFactor;
    if (!Number.isSafeInteger(rf) || rf < 1 || rf > replicasPerPartitionMax) {
      throw new BrokerError(
        'INVALID_REPLICATION_FACTOR',
        `replication factor must be from 1 to ${replicasPerPartitionMax}, got ${rf}`,
      );
    }
    topic.partitions.forEach((p, i) => {
      if (isReassigning(p))
        throw new BrokerError(
          'REASSIGNMENT_IN_PROGRESS',
          `partition ${i} of ${t.name} is being reassigned; wait for it or cancel it first`,
        );
    });
    const moves = planReplicationFactor({
      brokers: this.#balancerBrokers(c),
      partitions: this.#balancerPartitions(c),
      topic: t.name,
      replicationFactor: rf,
    });
    for (const m of moves) this.#reassign(c, t.id, m.partition, m.to);
    return { records: c.records, answer: moves };
  }

  /**
   * Starts decommissioning a broker (`remove-node`): marks it, after which the balancer moves every
   * replica off it (a few at a time, `balance`) and, once it holds nothing, it is unregistered and
   * leaves the metadata quorum. Refused, changing nothing, when it is the last broker, the last
   * controller-eligible one, or when the brokers left cannot hold some partition's replication
   * factor. Again for a broker being decommissioned answers at once.
   */
  decommissionBroker(brokerId: number): OperationResult<void> {
    checkBrokerId(brokerId);
    const b = this.#image.brokers.get(brokerId);
    if (!b) throw new BrokerError('BROKER_ID_NOT_REGISTERED', `broker ${brokerId} is not registered`);
    if (b.decommissioning) return { records: [], answer: undefined };
    const left = [...this.#image.brokers.values()].filter((o) => o.id !== brokerId && !o.decommissioning);
    if (left.length === 0)
      throw new BrokerError(
        'INVALID_REQUEST',
        `node ${brokerId} is the last node of the cluster and cannot be removed`,
      );
    if (b.controllerEligible && !left.some((o) => o.controllerEligible))
      throw new BrokerError(
        'INVALID_REQUEST',
        `node ${brokerId} cannot be removed: no other controller-eligible node would be left to hold the metadata quorum`,
      );
    for (const t of [...this.#image.topicsByName.values()].sort((x, y) => (x.name < y.name ? -1 : 1))) {
      t.partitions.forEach((p, i) => {
        if (!p.replicas.includes(brokerId)) return;
        const rf = Controller.#original(p).length;
        if (rf > left.length) {
          throw new BrokerError(
            'INVALID_REPLICATION_FACTOR',
            `node ${brokerId} cannot be removed: ${t.name}-${i} has replication factor ${rf}, and only ${left.length} other node${left.length === 1 ? '' : 's'} (${left.map((o) => o.id).join(', ')}) would be left; lower the topic's replication factor first or add a node`,
          );
        }
      });
    }
    return {
      records: [{ type: 'BrokerRegistrationChange', brokerId, brokerEpoch: b.epoch, decommissioning: true }],
      answer: undefined,
    };
  }

  /** A broker's partition sizes from its heartbeat (soft state for the balancer). */
  #recordSizes(sizes: readonly [string, number, number][] | undefined): void {
    if (!sizes) return;
    for (const [topicId, partition, bytes] of sizes) this.#sizes.set(`${topicId}:${partition}`, bytes);
  }

  /** Whether `record` fits this operation: under the change bound and inside one batch. */
  #roomFor(c: Changes, record: MetadataRecord): boolean {
    return (
      c.records.length < Math.min(this.#changesPerOperationMax, recordsPerBatchMax) &&
      c.bytes + recordBytes(record) + 1 <= batchBytesMax
    );
  }
}

/**
 * The change to elect a leader with `targetIsr` (Kafka's `PartitionChangeBuilder.tryElection`): keep
 * the leader if it may still lead; else the first replica in the ISR that may; else, when unclean
 * election is allowed, the first replica that may, with itself as the ISR; else no leader. An empty
 * target ISR keeps the current one (its last member holds every committed record). Null when nothing
 * changes.
 */
export function electionChange(
  p: PartitionRegistration,
  targetIsr: readonly number[],
  acceptable: (id: number) => boolean,
  unclean: boolean,
): Pick<PartitionChangeRecord, 'isr' | 'leader'> | null {
  let isr = targetIsr.length === 0 ? p.isr : targetIsr;
  let leader = p.leader;
  if (leader === NO_LEADER || !isr.includes(leader) || !acceptable(leader)) {
    const clean = p.replicas.find((id) => isr.includes(id) && acceptable(id));
    // A replica being added by a move holds nothing the partition needs: never an unclean leader.
    const dirty = unclean
      ? p.replicas.find((id) => acceptable(id) && !(p.addingReplicas ?? []).includes(id))
      : undefined;
    if (clean !== undefined) leader = clean;
    else if (dirty !== undefined) {
      leader = dirty;
      isr = [dirty];
    } else leader = NO_LEADER;
  }
  const out: Pick<PartitionChangeRecord, 'isr' | 'leader'> = {};
  if (leader !== p.leader) out.leader = leader;
  if (!sameList(isr, p.isr)) out.isr = [...isr];
  return out.leader === undefined && out.isr === undefined ? null : out;
}

/**
 * The topic's setting, else the cluster default (broker resource ""), else false, as in Kafka. Read as
 * the topic-config validator accepts a boolean (Kafka's `ConfigDef` BOOLEAN: trimmed, any case), so
 * that a stored `TRUE` or ` true ` allows what it says.
 */
function uncleanAllowed(c: Changes, topicName: string): boolean {
  const v =
    c.delta.config('topic', topicName).get(UNCLEAN_LEADER_ELECTION_KEY) ??
    c.delta.config('broker', '').get(UNCLEAN_LEADER_ELECTION_KEY);
  return configIsTrue(v);
}

/** A boolean config's value as Kafka's `ConfigDef` BOOLEAN reads it: trimmed, in any case. */
function configIsTrue(v: string | null | undefined): boolean {
  return v?.trim().toLowerCase() === 'true';
}

/** The cluster config `auto.leader.rebalance.enable`: on unless set to false (Kafka's default is true). */
function rebalanceEnabled(c: Changes): boolean {
  return c.delta.config('broker', '').get(AUTO_LEADER_REBALANCE_KEY)?.trim().toLowerCase() !== 'false';
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function invalidAssignment(message: string): BrokerError {
  return new BrokerError('INVALID_REPLICA_ASSIGNMENT', message);
}

function nodeName(req: RegisterBrokerRequest): { nodeName?: string } {
  if (req.nodeName === undefined) return {};
  if (typeof req.nodeName !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(req.nodeName))
    throw new BrokerError('INVALID_REQUEST', `node name ${JSON.stringify(req.nodeName)} is not a node.id`);
  return { nodeName: req.nodeName };
}

function checkBrokerId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 0 || id > 0x7fffffff) {
    throw new BrokerError('INVALID_REQUEST', `broker id ${id} must be an integer from 0 to 2147483647`);
  }
}

function checkListeners(listeners: readonly Listener[]): Listener[] {
  if (!Array.isArray(listeners)) throw new BrokerError('INVALID_REQUEST', 'listeners must be a list');
  const seen = new Set<string>();
  return listeners.map((l) => {
    if (!(LISTENER_NAMES as readonly string[]).includes(l?.name)) {
      throw new BrokerError(
        'INVALID_REQUEST',
        `listener ${JSON.stringify(l?.name)} is not one of ${LISTENER_NAMES.join(', ')}`,
      );
    }
    if (seen.has(l.name)) throw new BrokerError('INVALID_REQUEST', `listener ${l.name} appears twice`);
    seen.add(l.name);
    if (typeof l.host !== 'string' || l.host.length === 0 || l.host.length > stringLengthMax) {
      throw new BrokerError('INVALID_REQUEST', `listener ${l.name} needs a host`);
    }
    if (!Number.isInteger(l.port) || l.port < 0 || l.port > 65535) {
      throw new BrokerError('INVALID_REQUEST', `listener ${l.name} port ${l.port} is not 0 to 65535`);
    }
    return { name: l.name, host: l.host, port: l.port };
  });
}

/** Keys and values within the record bounds; values are strings, or null to delete. */
function checkConfigChanges(changes: Record<string, string | null>): Record<string, string | null> {
  if (typeof changes !== 'object' || changes === null)
    throw new BrokerError('INVALID_CONFIG', 'configs must be an object');
  for (const [key, value] of Object.entries(changes)) {
    if (key.length === 0 || key.length > 255)
      throw new BrokerError(
        'INVALID_CONFIG',
        `config key ${JSON.stringify(key)} must be 1 to 255 characters`,
      );
    if (value !== null && (typeof value !== 'string' || value.length > stringLengthMax)) {
      throw new BrokerError(
        'INVALID_CONFIG',
        `config ${key} must be a string of at most ${stringLengthMax} characters, or null`,
      );
    }
  }
  return changes;
}

/**
 * The cluster configs the controller itself reads, checked whatever `validateConfigs` the broker
 * injects (its validation covers topic configs only).
 */
function checkControllerConfigs(type: ConfigResourceType, configs: ReadonlyMap<string, string>): void {
  const v = configs.get(AUTO_LEADER_REBALANCE_KEY);
  if (type === 'broker' && v !== undefined && !/^\s*(true|false)\s*$/i.test(v)) {
    throw new BrokerError(
      'INVALID_CONFIG',
      `config ${AUTO_LEADER_REBALANCE_KEY}=${JSON.stringify(v)} must be true or false`,
    );
  }
}

function defaultValidateConfigs(_type: ConfigResourceType, configs: Readonly<Record<string, string>>): void {
  const v = configs[UNCLEAN_LEADER_ELECTION_KEY];
  // As the broker's topic-config validator (topic-config.ts) accepts it.
  if (v !== undefined && !/^\s*(true|false)\s*$/i.test(v)) {
    throw new BrokerError(
      'INVALID_CONFIG',
      `config ${UNCLEAN_LEADER_ELECTION_KEY}=${JSON.stringify(v)} must be true or false`,
    );
  }
}
