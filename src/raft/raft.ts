/**
 * The Raft consensus core: a pure state machine in the manner of etcd's raft (DESIGN.md decision 4).
 *
 * Fed with `tick()`, `step(message)`, `propose(data)`, `proposeConfChange()`, `transferLeadership()` and
 * `readIndex()`; it answers with `ready()`, a batch of what to persist, send and apply, and is told with
 * `advance()` that the batch was handled. There is no clock, file, socket or unseeded randomness in
 * here: the election jitter comes from the injected `Random`.
 *
 * Features (Raft paper and Ongaro's thesis; etcd raft for the engineering):
 * - elections with randomized timeouts in ticks, pre-vote (thesis 9.6) and check-quorum with leader
 *   leases (thesis 6.2 / 4.2.3), so that a partitioned node cannot disrupt a healthy leader;
 * - replication with fast conflict backtracking (paper 5.3), committing only entries of the current
 *   term by counting replicas (paper 5.4.2, "figure 8");
 * - snapshots, InstallSnapshot and log compaction (paper 7);
 * - single-server membership changes (thesis 4.1), allowed only once the leader has committed an
 *   entry of its own term (the fix for the bug Ongaro described on raft-dev in 2015), and learners;
 * - leadership transfer (thesis 3.10) and linearizable reads by ReadIndex (thesis 6.4);
 * - acknowledgements (votes, append responses, the leader's own vote and match) held until the data
 *   they acknowledge is durable (`messagesAfterPersist`, as etcd's msgsAfterAppend).
 */
import assert from 'node:assert/strict';
import {
  committedEntriesPerReadyMax,
  entriesPerMessageMax,
  entryBytesPerMessageMax,
  inflightMessagesMax,
  learnerLagEntriesMax,
} from './limits.ts';
import { RaftLog } from './log.ts';
import type { Random } from './prng.ts';
import { Progress, ProgressState } from './progress.ts';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  campaignTransfer,
  decodeConfChange,
  type Entry,
  EntryType,
  encodeConfChange,
  type HardState,
  type InitialState,
  type Message,
  MessageType,
  makeMessage,
  NONE,
  type NodeId,
  type ReadState,
  type Ready,
  Role,
  type Snapshot,
} from './types.ts';

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks a follower waits for a leader before campaigning; the real timeout is random in [n, 2n). @default 10 */
  readonly electionTicks: number;
  /** Ticks between heartbeats. @default 1 */
  readonly heartbeatTicks: number;
  readonly random: Random;
  /** Run a pre-vote round before bumping the term (thesis 9.6). @default true */
  readonly preVote?: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down. @default true */
  readonly checkQuorum?: boolean;
  /** @default entriesPerMessageMax */
  readonly entriesPerMessageMax?: number;
  /** @default entryBytesPerMessageMax */
  readonly entryBytesPerMessageMax?: number;
  /** @default inflightMessagesMax */
  readonly inflightMessagesMax?: number;
  /** A learner is promoted only once it trails the leader's log by at most this many entries. @default learnerLagEntriesMax */
  readonly learnerLagEntriesMax?: number;
}

/** Why a proposal was refused: an operating condition the caller handles (retry elsewhere, later). */
export type ProposeRefusal =
  | 'not-leader'
  | 'transferring'
  | 'conf-change-pending'
  | 'no-commit-in-term'
  | 'learner-behind'
  | 'invalid';

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: ProposeRefusal; readonly leader: NodeId };

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly conf: ConfState;
}

interface PendingRead {
  readonly index: number;
  readonly context: number;
  readonly acks: Set<NodeId>;
}

export class Raft {
  readonly id: NodeId;
  readonly log: RaftLog;
  term: number;
  vote: NodeId;
  role: Role = Role.follower;
  leader: NodeId = NONE;

  private voters: Set<NodeId>;
  private learners: Set<NodeId>;
  private readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  /** A candidate's vote for itself counts only once the vote is durable, i.e. at the next advance(). */
  private selfVotePending = false;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: Random;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxInflight: number;
  private readonly learnerLagMax: number;

  private leadTransferee: NodeId = NONE;
  /** Index of the latest conf change proposed; another may be proposed once it is applied. */
  private pendingConfIndex = 0;
  private pendingReads: PendingRead[] = [];
  /** Index of the no-op this leader appended on election; committing it commits all before it. */
  private termStartIndex = 0;
  /** This leader proposed its own removal. */
  private removingSelf = false;

  /** Latest snapshot, ours or received: what we send a follower that fell behind compaction. */
  private snapshot: Snapshot;

  // The Ready being assembled.
  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];
  private pendingSnapshot: Snapshot | null = null;
  private prevHardState: HardState;
  /** Set between ready() and advance(); stepping in between is a programmer error. */
  private inReady: Ready | null = null;

  constructor(config: RaftConfig, init: InitialState) {
    assert.ok(config.id > 0, 'node ids are positive');
    assert.ok(config.heartbeatTicks > 0 && config.heartbeatTicks < config.electionTicks);
    this.id = config.id;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxEntries = config.entriesPerMessageMax ?? entriesPerMessageMax;
    this.maxBytes = config.entryBytesPerMessageMax ?? entryBytesPerMessageMax;
    this.maxInflight = config.inflightMessagesMax ?? inflightMessagesMax;
    this.learnerLagMax = config.learnerLagEntriesMax ?? learnerLagEntriesMax;

    this.log = new RaftLog(init.snapshot, init.entries, init.hardState.commit);
    this.snapshot = init.snapshot;
    this.term = init.hardState.term;
    this.vote = init.hardState.vote;
    this.voters = new Set(init.snapshot.conf.voters);
    this.learners = new Set(init.snapshot.conf.learners);
    this.prevHardState = this.hardState();
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    assert.equal(this.inReady, null, 'tick between ready() and advance()');
    if (this.role === Role.leader) {
      this.tickLeader();
    } else {
      this.electionElapsed++;
      if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
        this.electionElapsed = 0;
        this.campaign(this.preVote ? 'pre' : 'election');
      }
    }
  }

  /** Starts an election now, as if the election timeout had passed (used by tests and tooling). */
  campaignNow(): void {
    assert.equal(this.inReady, null);
    if (this.role !== Role.leader && this.promotable()) this.campaign(this.preVote ? 'pre' : 'election');
  }

  step(m: Message): void {
    assert.equal(this.inReady, null, 'step between ready() and advance()');
    assert.equal(m.to, this.id, `message for ${m.to} stepped into ${this.id}`);
    if (
      (m.type === MessageType.voteResp || m.type === MessageType.preVoteResp) &&
      m.reject &&
      m.commit > this.log.committed &&
      this.log.matchTerm(m.commit, m.logTerm)
    ) {
      // A voter that refused us knows that entry `commit` is committed, and our log holds that entry
      // (same index and term), so by log matching our whole prefix up to it is committed too. This is
      // how a voter learns that a removal it holds has committed: the removed node, which never
      // campaigns, may hold a longer log and refuse its vote, and without this the voter would wait
      // for that vote forever under the configuration before the removal (simulator seed 1227).
      this.log.commitTo(m.commit);
    }
    if (m.term > this.term) {
      if (m.type === MessageType.vote || m.type === MessageType.preVote) {
        // Leader lease (thesis 4.2.3): while we hear from a leader, ignore candidates, so that a node
        // that was partitioned away cannot depose a healthy leader. A transfer overrides the lease.
        const inLease = this.checkQuorum && this.leader !== NONE && this.electionElapsed < this.electionTicks;
        if (inLease && m.context !== campaignTransfer) return;
      }
      if (m.type === MessageType.preVote) {
        // A pre-vote does not change our term: the candidate has not actually started an election.
      } else if (m.type === MessageType.preVoteResp && !m.reject) {
        // Granted pre-votes carry the future term; our term moves only when the real election starts.
      } else if (
        m.type === MessageType.app ||
        m.type === MessageType.heartbeat ||
        m.type === MessageType.snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.heartbeat || m.type === MessageType.app)
      ) {
        // A stale leader (or a node that was partitioned) would otherwise never learn of our term. With
        // pre-vote, a node whose term ran ahead can only rejoin if the leader steps down on seeing it,
        // so answer with our term (etcd does the same).
        this.send(makeMessage({ type: MessageType.appResp, from: this.id, to: m.from, term: this.term }));
      } else if (m.type === MessageType.preVote) {
        this.send(
          makeMessage({
            type: MessageType.preVoteResp,
            from: this.id,
            to: m.from,
            term: this.term,
            reject: true,
          }),
        );
      }
      return;
    }

    if (m.type === MessageType.vote || m.type === MessageType.preVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.leader:
        this.stepLeader(m);
        break;
      case Role.candidate:
      case Role.preCandidate:
        this.stepCandidate(m);
        break;
      case Role.follower:
        this.stepFollower(m);
        break;
    }
  }

  propose(data: Uint8Array): ProposeResult {
    return this.proposeEntries([data]);
  }

  /** Appends several commands at once (one Ready, one fsync, one append message per follower). */
  proposeEntries(datas: readonly Uint8Array[]): ProposeResult {
    assert.equal(this.inReady, null, 'propose between ready() and advance()');
    if (this.role !== Role.leader) return { ok: false, reason: 'not-leader', leader: this.leader };
    if (this.leadTransferee !== NONE) return { ok: false, reason: 'transferring', leader: this.leader };
    // A leader on its way out takes no more commands: entries it appended after its own removal could
    // leave it, a non-voter that never campaigns, holding the longest log, and its vote would then be
    // refused to every voter that lacks them (the simulator found this deadlock).
    if (this.removingSelf || !this.voters.has(this.id))
      return { ok: false, reason: 'transferring', leader: this.leader };
    const first = this.log.lastIndex() + 1;
    this.appendEntries(
      datas.map((data, k) => ({ index: first + k, term: this.term, type: EntryType.normal, data })),
    );
    return { ok: true, index: this.log.lastIndex(), term: this.term };
  }

  /**
   * Proposes adding or removing one voter, or adding a learner. Refused while another change is not yet
   * applied, and until the leader has committed an entry of its own term: without that, a change
   * proposed by a new leader may overlap with an uncommitted change of a deposed one, and the two
   * majorities need not intersect (Ongaro, raft-dev, "bug in single-server membership changes", 2015).
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    assert.equal(this.inReady, null);
    if (this.role !== Role.leader) return { ok: false, reason: 'not-leader', leader: this.leader };
    if (this.leadTransferee !== NONE) return { ok: false, reason: 'transferring', leader: this.leader };
    if (this.log.committed < this.termStartIndex) {
      return { ok: false, reason: 'no-commit-in-term', leader: this.leader };
    }
    if (this.pendingConfIndex > this.log.applied) {
      return { ok: false, reason: 'conf-change-pending', leader: this.leader };
    }
    // A leader on its way out proposes nothing more (see proposeEntries).
    if (this.removingSelf || !this.voters.has(this.id))
      return { ok: false, reason: 'transferring', leader: this.leader };
    const isVoter = this.voters.has(cc.node);
    const isLearner = this.learners.has(cc.node);
    const valid =
      cc.node > 0 &&
      ((cc.type === ConfChangeType.addVoter && !isVoter) ||
        (cc.type === ConfChangeType.addLearner && !isVoter && !isLearner) ||
        (cc.type === ConfChangeType.removeNode && (isLearner || (isVoter && this.voters.size > 1))));
    if (!valid) return { ok: false, reason: 'invalid', leader: this.leader };
    if (cc.type === ConfChangeType.addVoter && isLearner) {
      // Learners catch up before promotion (thesis 4.2.1): a voter that trails far behind cannot help
      // commit, so promoting it early would leave the cluster less able to survive a failure. The
      // caller retries once the learner's acknowledged log is within reach of ours.
      const pr = this.progress.get(cc.node);
      if (!pr || pr.match + this.learnerLagMax < this.log.lastIndex()) {
        return { ok: false, reason: 'learner-behind', leader: this.leader };
      }
    }
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ index, term: this.term, type: EntryType.conf, data: encodeConfChange(cc) }]);
    this.pendingConfIndex = index;
    if (cc.type === ConfChangeType.removeNode && cc.node === this.id) this.removingSelf = true;
    return { ok: true, index, term: this.term };
  }

  /** Hands leadership to `to` (thesis 3.10): catch it up, then tell it to campaign at once. */
  transferLeadership(to: NodeId): boolean {
    assert.equal(this.inReady, null);
    if (this.role !== Role.leader || to === this.id || !this.voters.has(to)) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    // The transfer must finish within one election timeout, or it is abandoned (see tickLeader).
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return true;
  }

  /**
   * Asks for a linearizable read (thesis 6.4). Once a quorum confirms we are still leader, a ReadState
   * with the commit index at the time of the request comes out of ready(); the read may be served once
   * the state machine has applied that index. Returns false when this node cannot serve reads now.
   */
  readIndex(context: number): boolean {
    assert.equal(this.inReady, null);
    assert.ok(context > 0, 'read contexts are positive (0 means none)');
    if (this.role !== Role.leader) return false;
    // Until it commits an entry of its term, a new leader's commit index may lag the true one.
    if (this.log.committed < this.termStartIndex) return false;
    // Alone in the configuration, we are the quorum. (A removed leader still handing over is not: it
    // must hear from the remaining voters like anyone else; the simulator found this one.)
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.readStates.push({ index: this.log.committed, context });
      return true;
    }
    this.pendingReads.push({ index: this.log.committed, context, acks: new Set([this.id]) });
    this.broadcastHeartbeat(context);
    return true;
  }

  /**
   * Records that the state machine has been snapshotted at the applied index (the caller has made
   * `data` durable) and drops log entries up to `applied - retainEntries`, so that followers slightly
   * behind can still catch up from the log instead of a snapshot.
   */
  compact(data: Uint8Array, retainEntries = 0): Snapshot {
    assert.equal(this.inReady, null);
    const index = this.log.applied;
    assert.ok(index >= this.snapshot.index, 'snapshot index must not go backwards');
    const term = this.log.term(index);
    assert.ok(term !== undefined, `applied index ${index} has no term`);
    this.snapshot = { index, term, conf: this.confState(), data };
    this.log.compact(Math.max(this.log.offset, index - retainEntries));
    return this.snapshot;
  }

  /** Tells the core that sending a snapshot to `to` failed, so it goes back to probing. */
  reportSnapshotFailure(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === Role.leader && pr && pr.state === ProgressState.snapshot) pr.becomeProbe();
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== null ||
      this.log.persisted < this.log.lastIndex() ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      this.nextCommittedEnd() > this.appliedFrom()
    );
  }

  ready(): Ready {
    assert.equal(this.inReady, null, 'ready() twice without advance()');
    const hs = this.hardState();
    const from = this.appliedFrom();
    const to = this.nextCommittedEnd();
    const rd: Ready = {
      hardState: sameHardState(hs, this.prevHardState) ? null : hs,
      entries: this.log.slice(this.log.persisted + 1, this.log.lastIndex() + 1) ?? [],
      snapshot: this.pendingSnapshot,
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      committedEntries: to > from ? (this.log.slice(from + 1, to + 1) ?? []) : [],
      readStates: this.readStates,
    };
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    this.inReady = rd;
    return rd;
  }

  advance(): void {
    const rd = this.inReady;
    assert.ok(rd !== null, 'advance() without ready()');
    this.inReady = null;
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.snapshot) {
      this.log.applied = Math.max(this.log.applied, rd.snapshot.index);
      this.pendingSnapshot = null;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      // The log cannot change between ready() and advance(), so what was handed out is what is durable.
      assert.equal(this.log.term(last.index), last.term);
      this.log.persisted = Math.max(this.log.persisted, last.index);
    }
    for (const e of rd.committedEntries) {
      assert.equal(e.index, this.log.applied + 1, 'entries are applied in order');
      this.log.applied = e.index;
      if (e.type === EntryType.conf) this.applyConfChange(decodeConfChange(e.data));
    }
    // Acknowledgements of our own durable state, which etcd models as messages to self after append.
    if (
      this.selfVotePending &&
      rd.hardState &&
      rd.hardState.term === this.term &&
      rd.hardState.vote === this.id
    ) {
      this.selfVotePending = false;
      this.recordVote(this.id, true);
    }
    if (this.role === Role.leader) {
      const self = this.progress.get(this.id);
      if (self?.maybeUpdate(this.log.persisted) && this.maybeCommit()) this.broadcastAppend();
    }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return {
      voters: [...this.voters].sort((a, b) => a - b),
      learners: [...this.learners].sort((a, b) => a - b),
    };
  }

  status(): Status {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      conf: this.confState(),
    };
  }

  /** The leader's view of a follower (for tests and diagnostics). */
  progressOf(id: NodeId): { match: number; next: number; state: string } | undefined {
    const pr = this.progress.get(id);
    return pr && { match: pr.match, next: pr.next, state: pr.state };
  }

  /**
   * What is durable on this node's disk right now (valid outside ready()/advance()): the compaction
   * point, the persisted entries after it and the last persisted hard state. The driver rewrites its
   * WAL from this after compacting.
   */
  durableLog(): { base: { index: number; term: number }; entries: Entry[]; hardState: HardState } {
    assert.equal(this.inReady, null);
    return {
      base: { index: this.log.offset, term: this.log.offsetTerm },
      entries: this.log.slice(this.log.offset + 1, this.log.persisted + 1) ?? [],
      hardState: this.prevHardState,
    };
  }

  latestSnapshot(): Snapshot {
    return this.snapshot;
  }

  // ---------------------------------------------------------------- roles

  private promotable(): boolean {
    return this.voters.has(this.id);
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.random.int(this.electionTicks);
  }

  private becomeFollower(term: number, leader: NodeId): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.role = Role.follower;
    this.leader = leader;
    this.votes.clear();
    this.selfVotePending = false;
    this.leadTransferee = NONE;
    this.removingSelf = false;
    this.pendingReads = [];
    this.progress.clear();
    this.resetTimers();
  }

  private campaign(kind: 'pre' | 'election' | 'transfer'): void {
    let voteTerm: number;
    this.votes.clear();
    this.selfVotePending = false;
    if (kind === 'pre') {
      // A pre-candidate keeps its term and vote: nothing changes until a real election starts.
      this.role = Role.preCandidate;
      this.leader = NONE;
      this.resetTimers();
      voteTerm = this.term + 1;
      this.votes.set(this.id, true);
    } else {
      this.becomeFollower(this.term + 1, NONE);
      this.role = Role.candidate;
      this.vote = this.id;
      voteTerm = this.term;
      // Our own vote counts once it is durable (see advance()); otherwise a crash could let us vote
      // again in this term for someone else after we already won with this vote.
      this.selfVotePending = true;
    }
    const type = kind === 'pre' ? MessageType.preVote : MessageType.vote;
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send(
        makeMessage({
          type,
          from: this.id,
          to: id,
          term: voteTerm,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          context: kind === 'transfer' ? campaignTransfer : 0,
        }),
      );
    }
    if (kind === 'pre') this.checkVotes();
  }

  private recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    this.checkVotes();
  }

  private checkVotes(): void {
    let granted = 0;
    let rejected = 0;
    for (const [id, g] of this.votes) {
      if (!this.voters.has(id)) continue;
      if (g) granted++;
      else rejected++;
    }
    const q = quorum(this.voters.size);
    if (granted >= q) {
      if (this.role === Role.preCandidate) this.campaign('election');
      else if (this.role === Role.candidate) this.becomeLeader();
    } else if (rejected >= q) {
      this.becomeFollower(this.term, NONE);
    }
  }

  private becomeLeader(): void {
    assert.equal(this.role, Role.candidate);
    this.role = Role.leader;
    this.leader = this.id;
    this.votes.clear();
    this.progress.clear();
    for (const id of [...this.voters, ...this.learners]) {
      const pr = new Progress(this.log.lastIndex() + 1, this.learners.has(id));
      if (id === this.id) {
        pr.match = this.log.persisted;
        pr.becomeReplicate();
      }
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    // A conf change may sit uncommitted in our log; do not let another be proposed until it is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // If that change removes us (proposed by an earlier leader, or by us in an earlier term), we are a
    // leader on its way out just as if we had proposed it now: we take no commands, or entries
    // appended after the removal could leave us, a non-voter that never campaigns, holding a longer log
    // than every remaining voter, and our refused votes would then block every election (seed 106907).
    this.removingSelf = this.removalOfSelfPending();
    this.resetTimers();
    // The no-op of the new term: committing it commits everything before it (paper 5.4.2), and lets
    // ReadIndex and conf changes proceed.
    this.termStartIndex = this.log.lastIndex() + 1;
    this.appendEntries([
      { index: this.termStartIndex, term: this.term, type: EntryType.normal, data: empty },
    ]);
  }

  /** Whether an unapplied conf change in our log removes this node. */
  private removalOfSelfPending(): boolean {
    for (let i = Math.max(this.log.applied, this.log.offset) + 1; i <= this.log.lastIndex(); i++) {
      const e = this.log.entry(i);
      if (e.type !== EntryType.conf) continue;
      const cc = decodeConfChange(e.data);
      if (cc.type === ConfChangeType.removeNode && cc.node === this.id) return true;
    }
    return false;
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        let active = 0;
        for (const id of this.voters) {
          const pr = this.progress.get(id);
          if (id === this.id || pr?.recentActive) active++;
        }
        for (const pr of this.progress.values()) pr.recentActive = false;
        if (active < quorum(this.voters.size)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
      }
      // A transfer that did not finish within an election timeout is abandoned, unless we are a removed
      // leader, which must hand over: it tries again, possibly with another voter.
      this.leadTransferee = NONE;
      if (!this.voters.has(this.id)) this.handOverAfterRemoval();
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      for (const [id, pr] of this.progress) {
        if (
          id !== this.id &&
          pr.state === ProgressState.snapshot &&
          ++pr.snapshotTicks >= this.electionTicks
        ) {
          // The snapshot (or its answer) was probably lost: probe again, which resends it if still needed.
          pr.becomeProbe();
        }
      }
      this.broadcastHeartbeat(0);
    }
  }

  // ---------------------------------------------------------------- message handling

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.preVote;
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.leader === NONE) || (pre && m.term > this.term);
    const respType = pre ? MessageType.preVoteResp : MessageType.voteResp;
    // A vote is a promise that must survive a crash, so its answer waits until our vote is durable. A
    // pre-vote promises nothing and goes out at once.
    const reply = (r: Message) => (pre ? this.send(r) : this.sendAfterPersist(r));
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // Granted responses carry the candidate's term, so that a pre-candidate can count them.
      reply(makeMessage({ type: respType, from: this.id, to: m.from, term: m.term }));
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      // The refusal tells the candidate how far we know the log is committed (and the term there),
      // which it adopts if its log matches (see step()).
      reply(
        makeMessage({
          type: respType,
          from: this.id,
          to: m.from,
          term: this.term,
          reject: true,
          commit: this.log.committed,
          logTerm: this.log.term(this.log.committed) ?? 0,
        }),
      );
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.app:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        break;
      case MessageType.heartbeat:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        break;
      case MessageType.snap:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        break;
      case MessageType.timeoutNow:
        if (this.promotable()) this.campaign('transfer');
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === Role.preCandidate ? MessageType.preVoteResp : MessageType.voteResp;
    switch (m.type) {
      case MessageType.app:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        break;
      case MessageType.heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case MessageType.snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case myResp:
        this.recordVote(m.from, !m.reject);
        break;
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.appResp:
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        break;
      case MessageType.heartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === ProgressState.replicate && pr.inflight.length >= this.maxInflight)
          pr.inflight.shift();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context !== 0) this.ackRead(m.context, m.from);
        // A TimeoutNow may have been lost: repeat it while the transferee is caught up.
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        break;
      default:
        break;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit index is already agreed; tell the leader where we are.
      this.sendAfterPersist(
        makeMessage({
          type: MessageType.appResp,
          from: this.id,
          to: m.from,
          term: this.term,
          index: this.log.committed,
        }),
      );
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.entries);
    if (lastNew !== null) {
      this.log.commitTo(Math.min(m.commit, lastNew));
      this.sendAfterPersist(
        makeMessage({
          type: MessageType.appResp,
          from: this.id,
          to: m.from,
          term: this.term,
          index: lastNew,
        }),
      );
      return;
    }
    // Fast backtracking: name the last index at or below the leader's previous index whose term is not
    // above the leader's previous term; every entry after it certainly disagrees with the leader.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.sendAfterPersist(
      makeMessage({
        type: MessageType.appResp,
        from: this.id,
        to: m.from,
        term: this.term,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(our match, its commit), so this never commits an entry we do not hold.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(
      makeMessage({
        type: MessageType.heartbeatResp,
        from: this.id,
        to: m.from,
        term: this.term,
        context: m.context,
      }),
    );
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert.ok(s !== null, 'snapshot message without a snapshot');
    if (s.index <= this.log.committed) {
      this.sendAfterPersist(
        makeMessage({
          type: MessageType.appResp,
          from: this.id,
          to: m.from,
          term: this.term,
          index: this.log.committed,
        }),
      );
      return;
    }
    if (this.log.matchTerm(s.index, s.term)) {
      // We already hold the snapshot's last entry, so everything before it matches: just commit.
      this.log.commitTo(s.index);
    } else {
      this.log.restore(s);
      this.snapshot = s;
      this.pendingSnapshot = s;
      this.voters = new Set(s.conf.voters);
      this.learners = new Set(s.conf.learners);
    }
    this.sendAfterPersist(
      makeMessage({
        type: MessageType.appResp,
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.lastIndex(),
      }),
    );
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let probe = m.rejectHint;
      if (m.logTerm > 0) probe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === ProgressState.replicate) pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused(this.maxInflight);
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === ProgressState.probe) {
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.snapshot && pr.match >= pr.pendingSnapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      if (this.maybeCommit()) {
        this.broadcastAppend();
      } else if (wasPaused) {
        this.sendAppend(m.from, true);
      }
      // Fill the pipeline.
      while (this.sendAppend(m.from, false)) {}
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  // ---------------------------------------------------------------- replication

  private appendEntries(ents: Entry[]): void {
    this.log.append(ents);
    // Our own match moves when the entries are durable (advance()), like any follower's.
    this.broadcastAppend();
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private broadcastHeartbeat(context: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send(
        makeMessage({
          type: MessageType.heartbeat,
          from: this.id,
          to: id,
          term: this.term,
          commit: Math.min(pr.match, this.log.committed),
          context,
        }),
      );
    }
  }

  /** Sends what `to` needs next (entries or a snapshot). Returns whether a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to)!;
    if (pr.isPaused(this.maxInflight)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxEntries, this.maxBytes);
    if (prevTerm === undefined || ents === null) {
      // The follower needs entries we compacted away: send the snapshot instead (paper 7).
      pr.becomeSnapshot(this.snapshot.index);
      this.send(
        makeMessage({ type: MessageType.snap, from: this.id, to, term: this.term, snapshot: this.snapshot }),
      );
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      makeMessage({
        type: MessageType.app,
        from: this.id,
        to,
        term: this.term,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.log.committed,
      }),
    );
    pr.sentEntries(prevIndex + ents.length, ents.length);
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: MessageType.timeoutNow, from: this.id, to, term: this.term }));
  }

  /**
   * Commits the highest index a quorum of voters holds, if it is of the current term: an older-term
   * entry replicated on a majority can still be overwritten (paper figure 8), so it commits only
   * indirectly, under an entry of the current term.
   */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    const q = matches[quorum(matches.length) - 1];
    if (q > this.log.committed && this.log.term(q) === this.term) {
      this.log.commitTo(q);
      return true;
    }
    return false;
  }

  private ackRead(context: number, from: NodeId): void {
    const k = this.pendingReads.findIndex((r) => r.context === context);
    if (k < 0) return;
    const r = this.pendingReads[k];
    r.acks.add(from);
    let acks = 0;
    for (const id of r.acks) if (this.voters.has(id)) acks++;
    if (acks < quorum(this.voters.size)) return;
    // A quorum confirmed leadership at a time after every earlier request, so those are good too.
    for (const done of this.pendingReads.splice(0, k + 1)) {
      this.readStates.push({ index: done.index, context: done.context });
    }
  }

  // ---------------------------------------------------------------- membership

  private applyConfChange(cc: ConfChange): void {
    // Re-applying an entry after a restart must be harmless, so every branch is idempotent.
    switch (cc.type) {
      case ConfChangeType.addVoter:
        this.learners.delete(cc.node);
        this.voters.add(cc.node);
        break;
      case ConfChangeType.addLearner:
        if (!this.voters.has(cc.node)) this.learners.add(cc.node);
        break;
      case ConfChangeType.removeNode:
        this.voters.delete(cc.node);
        this.learners.delete(cc.node);
        break;
    }
    if (this.role !== Role.leader) return;
    if (cc.type === ConfChangeType.removeNode) {
      this.progress.delete(cc.node);
      if (this.leadTransferee === cc.node) this.leadTransferee = NONE;
      if (cc.node === this.id) {
        // A leader that removed itself keeps leading until it has handed over (thesis 4.2.2). Stepping
        // down at once can deadlock: the remaining voters may not yet know the removal committed, so
        // they still need this node's vote, which it refuses them if its log is longer (it proposed
        // entries after the removal), while it no longer campaigns itself. Heartbeats carry the commit
        // index to them, and a transfer to the most caught-up voter ends our term promptly.
        this.handOverAfterRemoval();
      }
    } else {
      const existing = this.progress.get(cc.node);
      const isLearner = this.learners.has(cc.node);
      if (!existing || existing.isLearner !== isLearner) {
        const pr = new Progress(this.log.lastIndex() + 1, isLearner);
        if (existing) {
          pr.match = existing.match;
          pr.next = existing.next;
        }
        pr.recentActive = true;
        this.progress.set(cc.node, pr);
      }
    }
    if (this.maybeCommit()) this.broadcastAppend();
  }

  private handOverAfterRemoval(): void {
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      if (pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === NONE) return;
    this.leadTransferee = best;
    if (bestMatch === this.log.lastIndex()) this.sendTimeoutNow(best);
    else this.sendAppend(best, true);
  }

  // ---------------------------------------------------------------- plumbing

  private send(m: Message): void {
    this.msgs.push(m);
  }

  /** Messages that acknowledge our log or vote: the caller sends them only once the Ready is durable. */
  private sendAfterPersist(m: Message): void {
    this.msgsAfterPersist.push(m);
  }

  private appliedFrom(): number {
    return Math.max(this.log.applied, this.pendingSnapshot?.index ?? 0);
  }

  /** Last index to hand out for applying: committed, and durable here too. */
  private nextCommittedEnd(): number {
    const end = Math.min(this.log.committed, this.log.persisted);
    const from = this.appliedFrom();
    return Math.min(end, from + committedEntriesPerReadyMax);
  }
}

const empty = new Uint8Array(0);

function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
