/**
 * One replica of a partition held on this node (DESIGN.md's broker layer; Kafka's `Partition.scala`):
 * the one object that owns the replica's role, leader epoch, ISR, high watermark and
 * `min.insync.replicas`, and the one place every read and write of the partition passes. The rules
 * themselves (how the high watermark moves, when a follower is in sync, how a diverged follower
 * truncates) are the pure core in replica-state.ts; this is its shell: it feeds that core the log's
 * offsets and the clock, applies the metadata's registration, and wakes what waits on the partition.
 *
 * Roles follow the metadata image: `update(registration)` makes this replica the leader (a new
 * `LeaderReplicaState` for each leader epoch, whose followers start unknown so that the high
 * watermark moves only once the ISR has fetched in this term), a follower of another node (the
 * replica fetcher copies the leader's batches with `appendAsFollower`, keeping their offsets and
 * leader epochs), or neither (no leader: the partition is offline).
 *
 * Waiting is one purgatory per partition: the consumer's long poll, the acks=all produce and the
 * follower's long poll all wait here, and are woken when the high watermark or the log end moves, or
 * the role changes (after which their re-check answers NOT_LEADER_OR_FOLLOWER).
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError } from '../errors.ts';
import type { PartitionRegistration } from '../metadata/image.ts';
import type { AppendResult, PartitionLog, ReadResult } from '../storage/partition-log.ts';
import type { PartitionDescription, PartitionView } from './partition-view.ts';
import {
  checkCurrentLeaderEpoch,
  divergingEpoch,
  LeaderReplicaState,
  truncationOnDivergence,
} from './replica-state.ts';

export type Role = 'leader' | 'follower' | 'offline';

/** What `update` changed, for the replica manager (start or stop fetching, load or drop producer state). */
export interface RoleChange {
  role: Role;
  /** The role or the leader epoch changed: a new term for this replica. */
  newTerm: boolean;
}

/** What a follower's fetch of this leader's partition returns (one partition of the Fetch response). */
export interface FollowerRead {
  bytes: Buffer;
  highWatermark: number;
  logStartOffset: number;
  logEndOffset: number;
  /** Set when the follower's log diverged from this one: it truncates, then fetches again. */
  divergingEpoch?: { epoch: number; endOffset: number };
}

export interface PartitionOptions {
  topic: string;
  partition: number;
  topicId: string;
  /** This node's numeric id, and its name for admin output. */
  localId: number;
  /** The log, looked up at each use: a config change reopens it under the same Partition. */
  log: () => PartitionLog;
  nodeName: (id: number) => string;
  clock?: () => number;
  /** The file of producer state kept beside the log, removed when the log is truncated. */
  producerSnapshotFile?: string;
  /** replica.lag.time.max.ms. @default 30000 */
  lagMaxMs?: number;
  /** Whether a broker may be in an ISR now (registered, unfenced, not shutting down), from the image. */
  isIsrEligible?: (id: number) => boolean;
  /**
   * The high watermark this replica starts from, in either role: the one the node checkpointed
   * before it restarted (replication-offset-checkpoint.ts), read through the log's bounds (capped by
   * its end, floored at its start). @default 0 (the log start offset)
   */
  highWatermark?: number;
}

export class Partition implements PartitionView {
  readonly topic: string;
  readonly partition: number;
  readonly topicId: string;
  readonly localId: number;
  readonly #log: () => PartitionLog;
  readonly #nodeName: (id: number) => string;
  readonly #clock: () => number;
  readonly #producerSnapshotFile: string | undefined;
  #registration: PartitionRegistration | null = null;
  #role: Role = 'offline';
  #leaderState: LeaderReplicaState | null = null;
  /** What a follower (or an offline replica) knows of the high watermark: the leader's, capped by its log. */
  #followerHighWatermark = 0;
  /** The purgatory: checks run when the high watermark, the log end or the role moves. */
  readonly #waiters = new Set<() => void>();
  #minInsyncReplicas = 1;
  readonly #lagMaxMs: number;
  readonly #isIsrEligible: (id: number) => boolean;
  /** Set when the ISR state may want a change proposed (a follower caught up): the manager polls it. */
  onIsrCandidate: (() => void) | null = null;

  constructor(opts: PartitionOptions) {
    this.topic = opts.topic;
    this.partition = opts.partition;
    this.topicId = opts.topicId;
    this.localId = opts.localId;
    this.#log = opts.log;
    this.#nodeName = opts.nodeName;
    this.#clock = opts.clock ?? Date.now;
    this.#producerSnapshotFile = opts.producerSnapshotFile;
    this.#lagMaxMs = opts.lagMaxMs ?? 30_000;
    this.#isIsrEligible = opts.isIsrEligible ?? (() => true);
    this.#followerHighWatermark = opts.highWatermark ?? 0;
    assert.ok(
      Number.isSafeInteger(this.#followerHighWatermark) && this.#followerHighWatermark >= 0,
      `initial high watermark ${this.#followerHighWatermark}`,
    );
  }

  /** The topic's min.insync.replicas (capped at the replica count, as Kafka's effectiveMinIsr). */
  get minInsyncReplicas(): number {
    return this.#minInsyncReplicas;
  }

  set minInsyncReplicas(n: number) {
    if (n === this.#minInsyncReplicas) return;
    this.#minInsyncReplicas = n;
    if (this.#leaderState?.reconfigure({ minIsr: n }, this.#clock()).hwChanged) this.#wake();
  }

  get log(): PartitionLog {
    return this.#log();
  }

  get role(): Role {
    return this.#role;
  }

  get registration(): PartitionRegistration | null {
    return this.#registration;
  }

  get isLeader(): boolean {
    return this.#role === 'leader';
  }

  get leaderId(): number {
    return this.#registration?.leader ?? -1;
  }

  get leaderEpoch(): number {
    return this.#registration?.leaderEpoch ?? 0;
  }

  get leaderState(): LeaderReplicaState | null {
    return this.#leaderState;
  }

  /** The end a leader counts as its own for the high watermark: what is on disk under fsync=always. */
  #durableEnd(): number {
    const log = this.log;
    return log.config.fsync === 'always' ? log.flushedOffset : log.logEndOffset;
  }

  // ------------------------------------------------------------------ role

  /**
   * Applies the partition's registration from a newly published image. Returns what changed for the
   * caller's bookkeeping (the fetcher, producer state); null when nothing did.
   */
  update(reg: PartitionRegistration): RoleChange | null {
    const prev = this.#registration;
    this.#registration = reg;
    const role: Role = reg.leader === this.localId ? 'leader' : reg.leader === -1 ? 'offline' : 'follower';
    const newTerm = prev === null || role !== this.#role || reg.leaderEpoch !== prev.leaderEpoch;
    if (role === 'leader') {
      if (newTerm || !this.#leaderState) {
        const log = this.log;
        const start = Math.max(log.logStartOffset, Math.min(this.highWatermark, log.logEndOffset));
        this.#leaderState = new LeaderReplicaState({
          localId: this.localId,
          replicas: [...reg.replicas],
          isr: [...reg.isr],
          leaderEpoch: reg.leaderEpoch,
          partitionEpoch: reg.partitionEpoch,
          leaderEpochStartOffset: log.logEndOffset,
          leaderEndOffset: Math.min(this.#durableEnd(), log.logEndOffset),
          highWatermark: start,
          nowMs: this.#clock(),
          lagMaxMs: this.#lagMaxMs,
          minIsr: this.#minInsyncReplicas,
          isIsrEligible: this.#isIsrEligible,
        });
      } else if (reg.partitionEpoch > this.#leaderState.partitionEpoch) {
        this.#leaderState.isrChangeCommitted(
          {
            replicas: [...reg.replicas],
            isr: [...reg.isr],
            leaderEpoch: reg.leaderEpoch,
            partitionEpoch: reg.partitionEpoch,
          },
          this.#clock(),
        );
      }
    } else if (this.#leaderState) {
      // Stepping down keeps the high watermark this leader knew: it is what it reports as a follower.
      this.#followerHighWatermark = this.#leaderState.highWatermark;
      this.#leaderState = null;
    }
    const changed = newTerm || prev?.partitionEpoch !== reg.partitionEpoch;
    this.#role = role;
    this.#wake();
    return changed ? { role, newTerm } : null;
  }

  /** The replica is no longer held (deleted, or moved off this node): wake and fail what waits. */
  close(): void {
    // The high watermark stays readable: the node checkpoints it at shutdown, after this.
    if (this.#leaderState) this.#followerHighWatermark = this.#leaderState.highWatermark;
    this.#role = 'offline';
    this.#leaderState = null;
    this.#wake();
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check();
  }

  // ------------------------------------------------------------------ the view

  get highWatermark(): number {
    if (this.#leaderState) return this.#leaderState.highWatermark;
    const log = this.log;
    return Math.max(log.logStartOffset, Math.min(this.#followerHighWatermark, log.logEndOffset));
  }

  get logStartOffset(): number {
    return this.log.logStartOffset;
  }

  get logEndOffset(): number {
    return this.log.logEndOffset;
  }

  get lastStableOffset(): number {
    return this.highWatermark;
  }

  get sizeBytes(): number {
    return this.log.sizeBytes;
  }

  get maxBatchBytes(): number {
    return this.log.config.maxMessageBytes;
  }

  get maxTimestamp(): number {
    let max = -1;
    for (const s of this.log.segments) max = Math.max(max, s.maxTimestamp);
    return max;
  }

  read(offset: number, maxBytes: number, opts: { maxOffset?: number } = {}): Promise<ReadResult> {
    return this.log.read(offset, maxBytes, opts);
  }

  /** Throws NOT_LEADER_OR_FOLLOWER unless this replica leads (in `epoch`, when given). */
  checkLeader(epoch?: number): LeaderReplicaState {
    const state = this.#leaderState;
    if (!state) {
      const leader = this.leaderId;
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        leader === -1
          ? `partition ${this.topic}-${this.partition} has no leader: its in-sync replicas are all unavailable`
          : `node ${this.localId} does not lead partition ${this.topic}-${this.partition}; node ${leader} does`,
      );
    }
    if (epoch !== undefined && epoch !== this.leaderEpoch)
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        `partition ${this.topic}-${this.partition} changed leader epoch (${epoch} -> ${this.leaderEpoch})`,
      );
    return state;
  }

  /** NOT_ENOUGH_REPLICAS when the ISR is smaller than min.insync.replicas (an acks=all write, before it appends). */
  checkEnoughReplicas(): void {
    const state = this.checkLeader();
    if (!state.checkEnoughReplicas())
      throw new BrokerError(
        'NOT_ENOUGH_REPLICAS',
        `partition ${this.topic}-${this.partition} has ${state.isr.length} in-sync replicas (${state.isr.join(', ')}); min.insync.replicas is ${this.minInsyncReplicas}`,
      );
  }

  /** Appends as the leader: each batch is stamped with this leader epoch. */
  async append(batches: Buffer, opts: { verified?: boolean } = {}): Promise<AppendResult> {
    const epoch = this.checkLeader().leaderEpoch;
    const r = await this.log.append(batches, { verified: opts.verified, leaderEpoch: epoch });
    this.#leaderAdvanced();
    return r;
  }

  #leaderAdvanced(): void {
    const state = this.#leaderState;
    if (!state) return;
    state.leaderAdvanced(this.#durableEnd(), this.#clock());
    // The follower long polls wait on the log end, the consumers' on the high watermark: both here.
    this.#wake();
  }

  deleteRecordsBefore(offset: number): Promise<number> {
    return this.log.deleteRecordsBefore(offset);
  }

  offsetForTimestamp(timestamp: number): Promise<{ offset: number; timestamp: number } | null> {
    return this.log.offsetForTimestamp(timestamp);
  }

  /**
   * Resolves once `visible()` passes `offset`, after `timeoutMs`, on abort, or when the role changes:
   * the one delayed operation every wait of this partition is.
   */
  #wait(
    visible: () => number,
    offset: number,
    timeoutMs: number,
    signal?: AbortSignal,
    reader = false,
  ): Promise<void> {
    if (visible() > offset || timeoutMs <= 0 || signal?.aborted) return Promise.resolve();
    const role = this.#role;
    const epoch = this.leaderEpoch;
    return new Promise((resolve) => {
      // A reader's wait lets the log keep the next write round in memory for it.
      const endWait = reader ? this.log.readerWaiting(offset) : undefined;
      const done = () => {
        endWait?.();
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (this.#role !== role || this.leaderEpoch !== epoch) return done();
        let v: number;
        try {
          v = visible();
        } catch {
          return done();
        }
        if (v > offset) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(check);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** The consumer's long poll: until the high watermark passes `offset`. */
  waitForData(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#wait(() => this.highWatermark, offset, timeoutMs, signal, true);
  }

  /** A follower's long poll on the leader: until the log end passes `offset`. */
  waitForLogEnd(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#wait(() => this.log.logEndOffset, offset, timeoutMs, signal, true);
  }

  /**
   * The acks=all wait (Kafka's DelayedProduce): resolves once the high watermark passes `lastOffset`;
   * REQUEST_TIMED_OUT after `timeoutMs`; NOT_LEADER_OR_FOLLOWER when this replica stops leading in the
   * epoch it appended in; NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR that acknowledged it is smaller
   * than min.insync.replicas.
   */
  async waitForReplication(lastOffset: number, epoch: number, timeoutMs: number): Promise<void> {
    const deadline = this.#clock() + timeoutMs;
    for (;;) {
      const state = this.checkLeader(epoch);
      if (state.ackedAt(lastOffset)) {
        if (!state.enoughReplicasAfterAppend())
          throw new BrokerError(
            'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
            `partition ${this.topic}-${this.partition}: the write is stored by ${state.isr.length} in-sync replicas (${state.isr.join(', ')}), fewer than min.insync.replicas ${this.minInsyncReplicas}`,
          );
        return;
      }
      const left = deadline - this.#clock();
      if (left <= 0)
        throw new BrokerError(
          'REQUEST_TIMED_OUT',
          `partition ${this.topic}-${this.partition}: offset ${lastOffset} was not replicated to the in-sync replicas (${state.isr.join(', ')}) within ${timeoutMs} ms; high watermark ${state.highWatermark}`,
        );
      await this.#wait(() => this.#leaderState?.highWatermark ?? Number.MAX_SAFE_INTEGER, lastOffset, left);
    }
  }

  offsetPastDamage(offset: number): number {
    return this.log.offsetPastSegmentOf(offset);
  }

  describe(): PartitionDescription {
    const reg = this.#registration;
    const name = (id: number) => (id === -1 ? '' : this.#nodeName(id));
    return {
      partition: this.partition,
      leader: reg ? name(reg.leader) : '',
      replicas: reg ? reg.replicas.map(name) : [],
      isr: reg ? reg.isr.map(name) : [],
      logStartOffset: this.logStartOffset,
      logEndOffset: this.logEndOffset,
      highWatermark: this.highWatermark,
      sizeBytes: this.sizeBytes,
      segments: this.log.segments.length,
      leaderId: reg?.leader ?? -1,
      replicaIds: reg ? [...reg.replicas] : [],
      isrIds: reg ? [...reg.isr] : [],
      leaderEpoch: reg?.leaderEpoch ?? 0,
      maxFollowerLag: this.#leaderState
        ? Math.max(
            0,
            ...this.#leaderState.followers(this.#clock()).map((f) => f.lagOffsets ?? this.logEndOffset),
          )
        : -1,
    };
  }

  // ------------------------------------------------------------------ the leader serving followers

  /**
   * A follower's fetch of this partition (one partition of a Fetch with a replica id): checks the
   * follower's view of the leader epoch, answers a diverging epoch when its last fetched epoch does
   * not end where this log says, else records its fetch offset (moving the high watermark and maybe
   * making it a candidate for the ISR) and reads from there to the log end.
   */
  async readForFollower(
    followerId: number,
    fetchOffset: number,
    currentLeaderEpoch: number,
    lastFetchedEpoch: number,
    maxBytes: number,
  ): Promise<FollowerRead> {
    const state = this.checkLeader();
    const log = this.log;
    const epochError = checkCurrentLeaderEpoch(currentLeaderEpoch, state.leaderEpoch);
    if (epochError)
      throw new BrokerError(
        epochError,
        `partition ${this.topic}-${this.partition}: the follower's leader epoch ${currentLeaderEpoch} is not ${state.leaderEpoch}`,
      );
    const base = {
      highWatermark: state.highWatermark,
      logStartOffset: log.logStartOffset,
      logEndOffset: log.logEndOffset,
    };
    const outOfRange = () =>
      new BrokerError(
        'OFFSET_OUT_OF_RANGE',
        `partition ${this.topic}-${this.partition}: offset ${fetchOffset} is outside [${log.logStartOffset}, ${log.logEndOffset}]`,
      );
    const diverged = divergingEpoch(
      fetchOffset,
      lastFetchedEpoch,
      (e) => log.endOffsetForEpoch(e),
      log.logStartOffset,
    );
    if (diverged === 'OFFSET_OUT_OF_RANGE') throw outOfRange();
    // Diverged: the follower truncates first; its fetch offset says nothing of what it holds.
    if (diverged) return { ...base, bytes: Buffer.alloc(0), divergingEpoch: diverged };
    if (fetchOffset < log.logStartOffset || fetchOffset > log.logEndOffset) throw outOfRange();
    // Kafka's order: read, then record the fetch against the log end the read saw, and answer with
    // the high watermark from before the update.
    const endBefore = log.logEndOffset;
    const read = fetchOffset < endBefore ? await log.read(fetchOffset, maxBytes) : null;
    const now = this.#clock();
    const r = state.followerFetched(followerId, fetchOffset, endBefore, now);
    if (!r.ok)
      throw new BrokerError(
        'NOT_LEADER_OR_FOLLOWER',
        `node ${followerId} is not a follower of ${this.topic}-${this.partition} in leader epoch ${state.leaderEpoch}`,
      );
    if (r.hwChanged) this.#wake();
    if (state.inFlight === null && state.isrChangeToPropose(now) !== null) this.onIsrCandidate?.();
    return {
      bytes: read?.bytes ?? Buffer.alloc(0),
      highWatermark: base.highWatermark,
      logStartOffset: log.logStartOffset,
      logEndOffset: log.logEndOffset,
    };
  }

  // ------------------------------------------------------------------ the follower side

  /** What the fetcher sends for this replica: where it is, and the epoch of its last batch. */
  fetchPosition(): { fetchOffset: number; lastFetchedEpoch: number; logStartOffset: number } {
    const log = this.log;
    return {
      fetchOffset: log.logEndOffset,
      lastFetchedEpoch: log.logEndOffset > log.logStartOffset ? log.latestEpoch() : -1,
      logStartOffset: log.logStartOffset,
    };
  }

  /**
   * Appends batches the leader sent, as they are (offsets and leader epochs kept), after the log checks
   * each one's framing and CRC-32C: a follower never adopts a batch that fails its checksum. Then
   * takes the leader's high watermark (capped by this log) and its log start offset.
   */
  async appendAsFollower(
    bytes: Buffer,
    leaderHighWatermark: number,
    leaderLogStartOffset: number,
  ): Promise<void> {
    if (this.#role !== 'follower') return;
    const log = this.log;
    if (bytes.length > 0) {
      // A partial batch at the end of a fetch (a response cut at its byte limit) is left for the next fetch.
      const whole = wholeBatches(bytes);
      if (whole.length > 0) await log.append(whole, { assignOffsets: false });
    }
    if (leaderLogStartOffset > log.logStartOffset && leaderLogStartOffset <= log.logEndOffset)
      await log.deleteRecordsBefore(leaderLogStartOffset);
    this.#followerHighWatermark = Math.max(
      this.#followerHighWatermark,
      Math.min(leaderHighWatermark, log.logEndOffset),
    );
    this.#wake();
  }

  /**
   * Truncates a diverged follower as the leader's diverging epoch says (replica-state.ts has the rule).
   * Returns whether truncation is complete (else the fetcher fetches again with the new last epoch).
   */
  async truncateOnDivergence(diverging: { epoch: number; endOffset: number }): Promise<boolean> {
    const log = this.log;
    const t = truncationOnDivergence(diverging, (e) => log.endOffsetForEpoch(e), log.logEndOffset);
    assert.ok(t.truncateTo >= 0, `a truncation offset ${t.truncateTo}`);
    await this.truncateTo(t.truncateTo);
    return t.complete;
  }

  /** Truncates the log to `offset`; the producer state that described what is cut goes with it. */
  async truncateTo(offset: number): Promise<void> {
    const log = this.log;
    assert.ok(this.#role !== 'leader', 'a leader never truncates its own log');
    // At or past the log end nothing is cut, but the epoch cache still is (an epoch begun at the log
    // end with no batch in it would otherwise answer the same divergence forever).
    if (offset >= log.logEndOffset) return log.truncateTo(log.logEndOffset);
    await this.#dropProducerSnapshot();
    if (offset < log.logStartOffset) await log.truncateFullyAndStartAt(offset);
    else await log.truncateTo(offset);
    this.#followerHighWatermark = Math.min(this.#followerHighWatermark, log.logEndOffset);
  }

  /** The leader no longer has this follower's offset (it is below the leader's log start): start there. */
  async restartAt(offset: number): Promise<void> {
    await this.#dropProducerSnapshot();
    await this.log.truncateFullyAndStartAt(offset);
    this.#followerHighWatermark = offset;
  }

  async #dropProducerSnapshot(): Promise<void> {
    if (this.#producerSnapshotFile)
      await rm(path.join(this.log.dir, this.#producerSnapshotFile), { force: true });
  }
}

/** The longest prefix of `bytes` made of whole batches (a fetch may end in a partial one). */
function wholeBatches(bytes: Buffer): Buffer {
  let pos = 0;
  while (pos + 12 <= bytes.length) {
    const size = 12 + bytes.readInt32BE(pos + 8);
    if (size < 12 || pos + size > bytes.length) break;
    pos += size;
  }
  return pos === bytes.length ? bytes : bytes.subarray(0, pos);
}
