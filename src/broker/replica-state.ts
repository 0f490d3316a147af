/**
 * The pure core of a partition replica's replication state (DESIGN.md decisions 6, 7 and 8; STYLE.md
 * "Per-replica state lives on one object, changed only under its rules"), after the rules of Kafka's
 * `kafka.cluster.Partition`, `kafka.cluster.Replica` and `kafka.server.AbstractFetcherThread`.
 *
 * Nothing here reads a clock or does I/O: time comes in as `nowMs` arguments, the logs' epoch caches
 * as `endOffsetFor` functions, and every answer is a value that the caller acts on (send an
 * AlterPartition, complete the acks=all purgatory, truncate the log). Invariants are asserted with
 * `node:assert/strict`, left on in production: a failed assertion is a bug in the caller or here.
 *
 * Leader side, `LeaderReplicaState`, one object per leader term (a higher leader epoch is a new
 * object): the followers' fetch state, the high watermark, the committed ISR and at most one ISR
 * change in flight. Fetch validation on the leader, `checkCurrentLeaderEpoch` and `divergingEpoch`.
 * Follower side, `truncationOnDivergence`.
 */
import assert from 'node:assert/strict';

/** Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`: what an epoch cache answers when it has no answer. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

/** A log's answer to "where does epoch E end?": the largest epoch <= E that it has, and that epoch's end offset. */
export interface EpochEndOffset {
  epoch: number;
  endOffset: number;
}

/** What the metadata says about one partition: the part of its registration this module needs. */
export interface PartitionRegistration {
  replicas: readonly number[];
  isr: readonly number[];
  leaderEpoch: number;
  partitionEpoch: number;
}

export interface LeaderReplicaStateOptions extends PartitionRegistration {
  /** This node's broker id: the leader. */
  localId: number;
  /** The leader's log end offset when it became leader (Kafka's `leaderEpochStartOffsetOpt`). */
  leaderEpochStartOffset: number;
  /** The log's last known high watermark, or its log start offset. */
  highWatermark: number;
  /**
   * The leader's own end offset for the high watermark: its durable end offset under `fsync: always`,
   * else its log end offset. @default leaderEpochStartOffset
   */
  leaderEndOffset?: number;
  nowMs: number;
  /** `replica.lag.time.max.ms`: how long an ISR follower may go without catching up. */
  lagMaxMs: number;
  /** The topic's `min.insync.replicas`. @default 1 */
  minIsr?: number;
  /**
   * Whether a follower may join the ISR now (Kafka's `isReplicaIsrEligible`: not fenced, not in
   * controlled shutdown). Read on every proposal and high-watermark step, so it must answer from
   * state the caller already holds (the metadata image), never by I/O. @default every follower
   */
  isIsrEligible?: (id: number) => boolean;
}

/** One follower's fetch state on the leader (Kafka's `ReplicaState`). */
interface FollowerState {
  id: number;
  /** The offset of its last fetch: everything below it is on its log. -1 until it fetches in this term. */
  logEndOffset: number;
  /** The largest time t at which its fetch offset reached the leader's log end offset at t; -Infinity: never in this term. */
  lastCaughtUpTimeMs: number;
  /** When its last fetch arrived; -Infinity: none in this term. */
  lastFetchTimeMs: number;
  /** The leader's log end offset when its last fetch arrived; -1: none in this term. */
  lastFetchLeaderLogEndOffset: number;
}

/** What a follower looks like from the leader, for metrics and the admin API. */
export interface FollowerView {
  id: number;
  inIsr: boolean;
  /** -1 until the follower has fetched in this leader term. */
  logEndOffset: number;
  /** The leader's end offset minus the follower's; null while its end offset is unknown. */
  lagOffsets: number | null;
  /** `nowMs - lastCaughtUpTimeMs`; null if it has not caught up once in this leader term. */
  caughtUpLagMs: number | null;
}

/** An ISR change sent to the controller and not yet answered. */
export interface IsrChangeInFlight {
  kind: 'expand' | 'shrink';
  isr: readonly number[];
}

export type FollowerFetchResult =
  | { ok: true; hwChanged: boolean }
  /**
   * The fetching broker is not a follower of this partition in this term (Kafka answers
   * NOT_LEADER_OR_FOLLOWER: "Replica X is not recognized as a valid replica"). Nothing changed.
   */
  | { ok: false; error: 'NOT_LEADER_OR_FOLLOWER' };

function assertOffset(name: string, offset: number): void {
  assert.ok(
    Number.isSafeInteger(offset) && offset >= 0,
    `${name} must be a safe integer >= 0, got ${offset}`,
  );
}

function assertRegistration(localId: number, r: PartitionRegistration): void {
  assert.ok(Number.isSafeInteger(r.leaderEpoch) && r.leaderEpoch >= 0, `leaderEpoch ${r.leaderEpoch}`);
  assert.ok(
    Number.isSafeInteger(r.partitionEpoch) && r.partitionEpoch >= 0,
    `partitionEpoch ${r.partitionEpoch}`,
  );
  assert.equal(new Set(r.replicas).size, r.replicas.length, `replicas ${r.replicas} has duplicates`);
  assert.equal(new Set(r.isr).size, r.isr.length, `isr ${r.isr} has duplicates`);
  assert.ok(r.replicas.includes(localId), `the leader ${localId} is not among the replicas ${r.replicas}`);
  assert.ok(r.isr.includes(localId), `the leader ${localId} is not in the ISR ${r.isr}`);
  for (const id of r.isr)
    assert.ok(r.replicas.includes(id), `ISR member ${id} is not a replica (${r.replicas})`);
}

/**
 * The leader's replication state of one partition for one leader term.
 *
 * The caller drives it:
 * - on becoming leader: construct it and write `highWatermark` to the log (it may have stepped at once);
 * - after every append (and, under `fsync: always`, every fsync): `leaderAdvanced(end, nowMs)`;
 * - after serving every follower fetch (once the read succeeded and no diverging epoch was answered,
 *   as Kafka's `Partition.fetchRecords` does): `followerFetched(...)`, then `isrChangeToPropose(nowMs)`
 *   so that a follower that caught up is added at once (Kafka's `maybeExpandIsr` on fetch);
 * - on a timer (Kafka: every `replica.lag.time.max.ms / 2`): `isrChangeToPropose(nowMs)` for shrinks;
 * - when a proposal is sent: `isrChangeSent(isr)`; when the controller answers it or the metadata
 *   brings a registration with this leader and epoch: `isrChangeCommitted(...)`; when it is refused:
 *   `isrChangeFailed(nowMs)`;
 * - whenever a result says `hwChanged`: write the new high watermark to the log and complete the
 *   purgatory (`ackedAt`, long-poll fetches).
 */
export class LeaderReplicaState {
  readonly localId: number;
  readonly leaderEpoch: number;
  readonly leaderEpochStartOffset: number;
  #partitionEpoch: number;
  #replicas: readonly number[];
  #isr: readonly number[];
  #inFlight: IsrChangeInFlight | null = null;
  #highWatermark: number;
  #leaderEndOffset: number;
  #followers = new Map<number, FollowerState>();
  #lagMaxMs: number;
  #minIsr: number;
  #isIsrEligible: (id: number) => boolean;

  constructor(o: LeaderReplicaStateOptions) {
    assertRegistration(o.localId, o);
    assertOffset('leaderEpochStartOffset', o.leaderEpochStartOffset);
    assertOffset('highWatermark', o.highWatermark);
    const leaderEnd = o.leaderEndOffset ?? o.leaderEpochStartOffset;
    assertOffset('leaderEndOffset', leaderEnd);
    assert.ok(leaderEnd <= o.leaderEpochStartOffset, 'the durable end offset is at most the log end offset');
    assert.ok(
      o.highWatermark <= o.leaderEpochStartOffset,
      `highWatermark ${o.highWatermark} is past the log end offset ${o.leaderEpochStartOffset}`,
    );
    this.localId = o.localId;
    this.leaderEpoch = o.leaderEpoch;
    this.leaderEpochStartOffset = o.leaderEpochStartOffset;
    this.#partitionEpoch = o.partitionEpoch;
    this.#replicas = [...o.replicas];
    this.#isr = [...o.isr];
    this.#highWatermark = o.highWatermark;
    this.#leaderEndOffset = leaderEnd;
    this.#lagMaxMs = o.lagMaxMs;
    this.#minIsr = o.minIsr ?? 1;
    this.#isIsrEligible = o.isIsrEligible ?? (() => true);
    this.#checkConfig();
    // Kafka's `Replica.resetReplicaState` for a new leader: the end offsets are unknown until each
    // follower fetches; followers in the ISR count as caught up now, so that a new leader does not
    // shrink them at once; the others count as never caught up, so they hold back nothing.
    for (const id of o.replicas) {
      if (id === o.localId) continue;
      this.#followers.set(
        id,
        this.#freshFollower(id, o.isr.includes(id) ? o.nowMs : Number.NEGATIVE_INFINITY),
      );
    }
    // Kafka's `makeLeader` steps the high watermark at once: a leader alone in the ISR need not wait
    // for an append. The caller reads `highWatermark` after construction.
    this.#maybeIncrementHighWatermark(o.nowMs);
  }

  #freshFollower(id: number, lastCaughtUpTimeMs: number): FollowerState {
    return {
      id,
      logEndOffset: -1,
      lastCaughtUpTimeMs,
      lastFetchTimeMs: Number.NEGATIVE_INFINITY,
      lastFetchLeaderLogEndOffset: -1,
    };
  }

  #checkConfig(): void {
    assert.ok(Number.isSafeInteger(this.#lagMaxMs) && this.#lagMaxMs > 0, `lagMaxMs ${this.#lagMaxMs}`);
    assert.ok(Number.isSafeInteger(this.#minIsr) && this.#minIsr >= 1, `minIsr ${this.#minIsr}`);
  }

  get highWatermark(): number {
    return this.#highWatermark;
  }

  /** The leader's end offset as last given (durable end under `fsync: always`). */
  get leaderEndOffset(): number {
    return this.#leaderEndOffset;
  }

  get partitionEpoch(): number {
    return this.#partitionEpoch;
  }

  get replicas(): readonly number[] {
    return this.#replicas;
  }

  /** The committed ISR: the last one the metadata (or the controller's answer) brought. */
  get isr(): readonly number[] {
    return this.#isr;
  }

  /**
   * The ISR that the high watermark waits for (Kafka's `PartitionState.maximalIsr`, KIP-497): the
   * committed ISR, plus the followers a pending expansion adds (they count at once, which is safe
   * because waiting for more replicas is stricter); under a pending shrink it is still the committed
   * ISR, so the followers being removed keep holding the high watermark until the shrink commits
   * (assuming it would succeed could advance the high watermark past a replica that stays in the ISR
   * if the AlterPartition fails).
   */
  get maximalIsr(): readonly number[] {
    return this.#inFlight?.kind === 'expand' ? this.#inFlight.isr : this.#isr;
  }

  get inFlight(): IsrChangeInFlight | null {
    return this.#inFlight;
  }

  get underReplicated(): boolean {
    return this.#isr.length < this.#replicas.length;
  }

  /**
   * Kafka's `effectiveMinIsr`: `min.insync.replicas` capped at the replication factor, so that a topic
   * configured above its replica count still accepts writes when every replica is in sync.
   */
  get effectiveMinIsr(): number {
    return Math.min(this.#minIsr, this.#replicas.length);
  }

  /**
   * Whether an acks=all produce may be appended: the committed ISR holds at least the effective
   * `min.insync.replicas` (Kafka's check in `Partition.appendRecordsToLeader`; else
   * NOT_ENOUGH_REPLICAS).
   */
  checkEnoughReplicas(): boolean {
    return this.#isr.length >= this.effectiveMinIsr;
  }

  /**
   * Whether the high watermark has passed `offset` (HW > offset): an acks=all batch whose last offset
   * is `offset` is replicated on every member of the maximal ISR. Kafka then answers
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND if the maximal ISR has shrunk below `min.insync.replicas` while it
   * waited (`checkEnoughReplicasReachOffset`); `enoughReplicasAfterAppend()` is that check.
   */
  ackedAt(offset: number): boolean {
    return this.#highWatermark > offset;
  }

  /** Kafka's check once the high watermark passed an acks=all batch: maximal ISR size >= effective min ISR. */
  enoughReplicasAfterAppend(): boolean {
    return this.maximalIsr.length >= this.effectiveMinIsr;
  }

  followers(nowMs: number): FollowerView[] {
    const isr = new Set(this.#isr);
    return [...this.#followers.values()].map((f) => ({
      id: f.id,
      inIsr: isr.has(f.id),
      logEndOffset: f.logEndOffset,
      lagOffsets: f.logEndOffset < 0 ? null : Math.max(0, this.#leaderEndOffset - f.logEndOffset),
      caughtUpLagMs: Number.isFinite(f.lastCaughtUpTimeMs) ? nowMs - f.lastCaughtUpTimeMs : null,
    }));
  }

  /** A topic config change (`replica.lag.time.max.ms`, `min.insync.replicas`); either may move the high watermark. */
  reconfigure(c: { lagMaxMs?: number; minIsr?: number }, nowMs: number): { hwChanged: boolean } {
    this.#lagMaxMs = c.lagMaxMs ?? this.#lagMaxMs;
    this.#minIsr = c.minIsr ?? this.#minIsr;
    this.#checkConfig();
    return { hwChanged: this.#maybeIncrementHighWatermark(nowMs) };
  }

  /**
   * The leader's own end offset moved: pass the durable end offset under `fsync: always`, else the log
   * end offset. It never moves back within a term (a leader does not truncate its own log).
   */
  leaderAdvanced(leaderEndOffset: number, nowMs: number): { hwChanged: boolean } {
    assertOffset('leaderEndOffset', leaderEndOffset);
    assert.ok(
      leaderEndOffset >= this.#leaderEndOffset,
      `the leader's end offset moved back from ${this.#leaderEndOffset} to ${leaderEndOffset}`,
    );
    this.#leaderEndOffset = leaderEndOffset;
    return { hwChanged: this.#maybeIncrementHighWatermark(nowMs) };
  }

  /**
   * A follower's fetch at `fetchOffset` was served; `leaderLogEndOffset` is the leader's log end offset
   * before the read (Kafka's `initialLogEndOffset`, so that appends racing the fetch do not keep the
   * follower from counting as caught up). Kafka's `Replica.updateFetchStateOrThrow`, then
   * `maybeIncrementLeaderHW`. A follower's end offset may go down (it truncated after a leader
   * change); the high watermark never does.
   */
  followerFetched(
    id: number,
    fetchOffset: number,
    leaderLogEndOffset: number,
    nowMs: number,
  ): FollowerFetchResult {
    const f = this.#followers.get(id);
    if (f === undefined) return { ok: false, error: 'NOT_LEADER_OR_FOLLOWER' };
    assertOffset('fetchOffset', fetchOffset);
    assertOffset('leaderLogEndOffset', leaderLogEndOffset);
    // The caller answers OFFSET_OUT_OF_RANGE to a fetch past its log end before calling this.
    assert.ok(fetchOffset <= leaderLogEndOffset, `fetch offset ${fetchOffset} is past the leader's end`);
    assert.ok(
      leaderLogEndOffset >= this.#leaderEndOffset,
      `the log end offset ${leaderLogEndOffset} is below the leader's end offset ${this.#leaderEndOffset}`,
    );
    if (fetchOffset >= leaderLogEndOffset) {
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, nowMs);
    } else if (fetchOffset >= f.lastFetchLeaderLogEndOffset) {
      // It has everything the leader had when it last fetched: it was caught up at that fetch's time.
      f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs);
    }
    f.logEndOffset = fetchOffset;
    f.lastFetchLeaderLogEndOffset = Math.max(f.lastFetchLeaderLogEndOffset, leaderLogEndOffset);
    f.lastFetchTimeMs = nowMs;
    return { ok: true, hwChanged: this.#maybeIncrementHighWatermark(nowMs) };
  }

  /**
   * Kafka's `Replica.isCaughtUp`: at the leader's end offset, or caught up within `lagMaxMs`. The
   * leader's end offset here is the one the high watermark uses (durable under `fsync: always`).
   */
  #isCaughtUp(f: FollowerState, nowMs: number): boolean {
    return f.logEndOffset === this.#leaderEndOffset || nowMs - f.lastCaughtUpTimeMs <= this.#lagMaxMs;
  }

  /**
   * Kafka's `Partition.maybeIncrementLeaderHW`:
   * - no step while the committed ISR is smaller than the effective `min.insync.replicas`
   *   (KAFKA-15583), so that data acknowledged with acks=1 is not exposed while under-replicated;
   * - candidate = the minimum of the leader's end offset and the end offsets of every follower that
   *   is in the maximal ISR, or that is caught up (`isCaughtUp`) and ISR-eligible though not in it
   *   yet (KAFKA-15021: waiting for it is stricter, and without it a follower chasing a leader that
   *   is alone in the ISR and written to steadily might never reach the high watermark to rejoin);
   * - the high watermark only moves forward, so never past the leader's end offset either.
   * It follows that every offset below the high watermark is on every member of the maximal ISR.
   */
  #maybeIncrementHighWatermark(nowMs: number): boolean {
    if (this.#isr.length < this.effectiveMinIsr) return false;
    const maximal = new Set(this.maximalIsr);
    let candidate = this.#leaderEndOffset;
    for (const f of this.#followers.values()) {
      if (f.logEndOffset >= candidate) continue;
      if (maximal.has(f.id) || (this.#isCaughtUp(f, nowMs) && this.#isIsrEligible(f.id)))
        candidate = f.logEndOffset;
    }
    if (candidate <= this.#highWatermark) return false;
    assert.ok(candidate <= this.#leaderEndOffset);
    this.#highWatermark = candidate;
    return true;
  }

  /**
   * The ISR change to send to the controller now, or null: none while one is in flight (Kafka's
   * `isInflight`). A shrink comes first (Kafka's `getOutOfSyncReplicas`): the ISR followers that are
   * not caught up (`nowMs - lastCaughtUpTimeMs > lagMaxMs` and not at the leader's end offset) leave;
   * their ISR order is kept. Otherwise an expansion (Kafka's `canAddReplicaToIsr` and
   * `isFollowerInSync`): every ISR-eligible follower outside the ISR whose end offset is at least the
   * high watermark and at least the leader epoch's start offset joins, appended after the current ISR
   * in the replicas' order. A follower must reach the current epoch's start before it joins: below it,
   * it might be elected leader while missing committed data between the high watermark and the leader's
   * end. Kafka adds one follower per request; adding all that qualify is the same rule applied at once.
   */
  isrChangeToPropose(nowMs: number): readonly number[] | null {
    if (this.#inFlight !== null) return null;
    const out = this.#isr.filter(
      (id) => id !== this.localId && !this.#isCaughtUp(this.#followers.get(id)!, nowMs),
    );
    if (out.length > 0) return this.#isr.filter((id) => !out.includes(id));
    const add = this.#replicas.filter((id) => {
      if (id === this.localId || this.#isr.includes(id) || !this.#isIsrEligible(id)) return false;
      const end = this.#followers.get(id)!.logEndOffset;
      return end >= this.#highWatermark && end >= this.leaderEpochStartOffset;
    });
    return add.length > 0 ? [...this.#isr, ...add] : null;
  }

  /** The proposal `isr` was sent to the controller (an AlterPartition with this leader and partition epoch). */
  isrChangeSent(isr: readonly number[]): void {
    assert.equal(this.#inFlight, null, 'an ISR change is already in flight');
    assertRegistration(this.localId, { ...this.#registration(), isr });
    const committed = new Set(this.#isr);
    const proposed = new Set(isr);
    const expand = isr.length > this.#isr.length && this.#isr.every((id) => proposed.has(id));
    const shrink = isr.length < this.#isr.length && isr.every((id) => committed.has(id));
    assert.ok(expand || shrink, `ISR change ${isr} from ${this.#isr} is neither an expansion nor a shrink`);
    this.#inFlight = { kind: expand ? 'expand' : 'shrink', isr: [...isr] };
  }

  /**
   * The refused proposal is dropped and the maximal ISR is the committed one again; the caller proposes
   * again later. Kafka drops it this way only when the controller says it did not apply it
   * (OPERATION_NOT_ATTEMPTED, INELIGIBLE_REPLICA); after FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION or
   * UNKNOWN_TOPIC_OR_PARTITION it keeps the change in flight until the metadata brings the truth
   * (`isrChangeCommitted` or a new term). Returns whether the high watermark moved (a dropped expansion
   * waits for fewer replicas).
   *
   * `change`, when given, is the `inFlight` the refusal answers: if it is no longer in flight (the
   * metadata committed a registration meanwhile, such as the controller adding a replica, which clears
   * it), the refusal is stale and nothing changes. Without it, a change must be in flight.
   */
  isrChangeFailed(nowMs: number, change?: IsrChangeInFlight): { hwChanged: boolean } {
    if (change !== undefined && change !== this.#inFlight) return { hwChanged: false };
    assert.notEqual(this.#inFlight, null, 'no ISR change is in flight');
    this.#inFlight = null;
    return { hwChanged: this.#maybeIncrementHighWatermark(nowMs) };
  }

  /**
   * A registration of this partition with this leader and leader epoch was committed: the controller's
   * answer to the proposal, or any other change the metadata brought (a reassignment, another ISR). It
   * replaces the replicas and the ISR and clears the change in flight (as Kafka's
   * `updateAssignmentAndIsr` replaces the partition state by a committed one). A higher leader epoch is
   * a new term: the caller builds a new `LeaderReplicaState` instead. A lower partition epoch is stale.
   */
  isrChangeCommitted(r: PartitionRegistration, nowMs: number): { hwChanged: boolean } {
    assert.equal(r.leaderEpoch, this.leaderEpoch, 'another leader epoch is another term: build a new object');
    assert.ok(
      r.partitionEpoch >= this.#partitionEpoch,
      `partition epoch ${r.partitionEpoch} is older than ${this.#partitionEpoch}`,
    );
    assertRegistration(this.localId, r);
    this.#partitionEpoch = r.partitionEpoch;
    this.#replicas = [...r.replicas];
    this.#isr = [...r.isr];
    this.#inFlight = null;
    for (const id of [...this.#followers.keys()]) if (!r.replicas.includes(id)) this.#followers.delete(id);
    for (const id of r.replicas) {
      // A replica added by a reassignment starts unknown and never caught up, as Kafka's `ReplicaState.Empty`.
      if (id !== this.localId && !this.#followers.has(id)) {
        this.#followers.set(id, this.#freshFollower(id, Number.NEGATIVE_INFINITY));
      }
    }
    return { hwChanged: this.#maybeIncrementHighWatermark(nowMs) };
  }

  #registration(): PartitionRegistration {
    return {
      replicas: this.#replicas,
      isr: this.#isr,
      leaderEpoch: this.leaderEpoch,
      partitionEpoch: this.#partitionEpoch,
    };
  }
}

/**
 * The current-leader-epoch check of a Fetch or OffsetForLeaderEpoch request on the leader (Kafka's
 * `Partition.validateLeaderEpoch`): -1 asks for no check; an older epoch is a fenced requester, a newer
 * one means this broker has not yet learned of the new term.
 */
export function checkCurrentLeaderEpoch(
  requestEpoch: number,
  leaderEpoch: number,
): 'FENCED_LEADER_EPOCH' | 'UNKNOWN_LEADER_EPOCH' | null {
  if (requestEpoch === -1) return null;
  if (requestEpoch < leaderEpoch) return 'FENCED_LEADER_EPOCH';
  if (requestEpoch > leaderEpoch) return 'UNKNOWN_LEADER_EPOCH';
  return null;
}

/**
 * Whether a follower's fetch diverges from the leader's log (KIP-320; Kafka's check in
 * `Partition.readRecords`), run after `checkCurrentLeaderEpoch` passed. With no last fetched epoch (-1)
 * there is nothing to check. Else, with `e = endOffsetFor(lastFetchedEpoch)` from the leader's epoch
 * cache:
 * - an undefined answer (either field -1), or a fetch offset below the log start, is
 *   OFFSET_OUT_OF_RANGE (Kafka throws `OffsetOutOfRangeException` there, it does not answer a
 *   diverging epoch), and the follower resets its fetch position;
 * - if the leader's epoch is older than the follower's, or it ended before the fetch offset, the
 *   follower's log diverged after `e.endOffset`: the answer is `e`, sent as the diverging epoch with no
 *   records and without updating the follower's fetch state;
 * - else null: serve the fetch.
 */
export function divergingEpoch(
  fetchOffset: number,
  lastFetchedEpoch: number,
  endOffsetFor: (epoch: number) => EpochEndOffset,
  logStartOffset = 0,
): EpochEndOffset | 'OFFSET_OUT_OF_RANGE' | null {
  assertOffset('fetchOffset', fetchOffset);
  if (lastFetchedEpoch < 0) return null;
  const e = endOffsetFor(lastFetchedEpoch);
  if (e.epoch === UNDEFINED_EPOCH || e.endOffset === UNDEFINED_EPOCH_OFFSET) return 'OFFSET_OUT_OF_RANGE';
  assert.ok(
    e.epoch <= lastFetchedEpoch,
    `endOffsetFor(${lastFetchedEpoch}) answered a later epoch ${e.epoch}`,
  );
  if (fetchOffset < logStartOffset) return 'OFFSET_OUT_OF_RANGE';
  if (e.epoch < lastFetchedEpoch || e.endOffset < fetchOffset)
    return { epoch: e.epoch, endOffset: e.endOffset };
  return null;
}

/**
 * Where a follower truncates when the leader answered a diverging epoch (or an OffsetForLeaderEpoch
 * answer): Kafka's `AbstractFetcherThread.getOffsetTruncationState`, case by case.
 * - The leader knows no end offset (-1): truncate to the follower's current fetch offset, complete
 *   (Kafka's "initial fetch offset", the follower's high watermark when it started following).
 * - The leader knows no epoch (-1; pre-KIP-279 peers): truncate to min(leader's offset, local LEO), complete.
 * - Else look up the leader's epoch in the follower's own cache (`localEndOffsetFor`):
 *   - the follower has no entry at or below it (its answer is undefined): truncate to
 *     min(leader's offset, local LEO), complete;
 *   - its floor epoch is another one (it never had the leader's epoch): truncate to the end of that
 *     floor epoch, min(its end offset, local LEO), not complete: fetch again, with the new last
 *     fetched epoch, and let the leader answer again;
 *   - the same epoch: truncate to min(follower's end of it, leader's end of it, local LEO), complete.
 */
export function truncationOnDivergence(
  diverging: EpochEndOffset,
  localEndOffsetFor: (epoch: number) => EpochEndOffset,
  localLogEndOffset: number,
  fetchOffset: number = localLogEndOffset,
): { truncateTo: number; complete: boolean } {
  assertOffset('localLogEndOffset', localLogEndOffset);
  if (diverging.endOffset === UNDEFINED_EPOCH_OFFSET) return { truncateTo: fetchOffset, complete: true };
  assertOffset('diverging.endOffset', diverging.endOffset);
  if (diverging.epoch === UNDEFINED_EPOCH) {
    return { truncateTo: Math.min(diverging.endOffset, localLogEndOffset), complete: true };
  }
  const local = localEndOffsetFor(diverging.epoch);
  if (local.endOffset === UNDEFINED_EPOCH_OFFSET) {
    return { truncateTo: Math.min(diverging.endOffset, localLogEndOffset), complete: true };
  }
  assert.ok(
    local.epoch <= diverging.epoch,
    `localEndOffsetFor(${diverging.epoch}) answered epoch ${local.epoch}`,
  );
  if (local.epoch !== diverging.epoch) {
    return { truncateTo: Math.min(local.endOffset, localLogEndOffset), complete: false };
  }
  return { truncateTo: Math.min(local.endOffset, diverging.endOffset, localLogEndOffset), complete: true };
}
