/**
 * The driver: runs the pure core (raft.ts) against a transport, a ticker and a store that it is given
 * (io.ts; DESIGN.md decisions 9 and 10). One serialized loop steps whatever arrived (messages, ticks,
 * calls, proposals), handles the Ready (send, persist with fsync, send the acknowledgements, apply),
 * then advances. Inputs that arrive while a Ready is being persisted queue up and are stepped
 * together, which is what batches proposals into one fsync.
 *
 * The same class runs in production (`RaftNode.open`: TCP, files, real time) and in the simulator
 * (sim/simulator.ts: seeded network, disk and crashes), so the simulator tests this loop, not a copy.
 *
 * The node never exits the process. An error from the store or a broken invariant stops the loop: the
 * node steps nothing more, rejects what is pending and every later call with a `RaftNodeStoppedError`
 * (code RAFT_NODE_FAILED), and reports the error once to `onFatal`. The caller decides what to do
 * (the kv-node CLI exits; an embedded broker reports unhealthy and closes).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import {
  type Done,
  IntervalTicker,
  type PeerAddress,
  type RaftStore,
  type RaftTransport,
  type Ticker,
} from './io.ts';
import { electionTicksDefault, heartbeatTicksDefault, proposalBytesMax, tickMsDefault } from './limits.ts';
import { Prng, type Random } from './prng.ts';
import { type ProposeRefusal, Raft, type RaftConfig, type Status } from './raft.ts';
import { FileRaftStore } from './storage.ts';
import { TcpTransport } from './transport.ts';
import {
  bootstrapSnapshot,
  type ConfChange,
  type Entry,
  emptySnapshot,
  type Message,
  NONE,
  type NodeId,
  type Ready,
  type Role,
} from './types.ts';

export interface StateMachine {
  /**
   * Applies a committed entry, in index order, every entry once: commands, the empty no-op of each new
   * leader, and membership changes (`EntryType.conf`, already applied to the configuration by the
   * core; a state machine that keeps no membership steps over them). The result is handed to whoever
   * proposed the entry on this node.
   */
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's: at start-up, and when the leader sent one. */
  restore(data: Uint8Array, index: number): void;
}

/** Knobs of the core that the driver passes through (raft.ts `RaftConfig`, with its defaults). */
export type RaftTuning = Partial<Omit<RaftConfig, 'id' | 'random'>>;

/**
 * Hooks into the loop, for the simulator's checkers and fault injection and for tests; production
 * leaves them unset. They run inside the loop and must not call back into the node.
 */
export interface RaftNodeProbe {
  /** After each batch of inputs was stepped and after each Ready was advanced. */
  stepped?(raft: Raft): void;
  /** After a Ready was persisted and before its snapshot and committed entries are applied. */
  applying?(rd: Ready): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  stateMachine: StateMachine;
  transport: RaftTransport;
  ticker: Ticker;
  /** Opened and recovered; the node starts from `store.initial`. */
  store: RaftStore;
  /** The election jitter's source. Tests and the simulator pass a seeded `Prng`. */
  random: Random;
  /** @default { electionTicks: electionTicksDefault, heartbeatTicks: heartbeatTicksDefault } */
  raft?: RaftTuning;
  /** Snapshot and compact once this many entries were applied since the last snapshot. @default 10000 */
  snapshotEntries?: number;
  /** Entries kept in the log after compaction, for slow followers. @default 1000 */
  retainEntries?: number;
  /**
   * Called, inside the loop, when the leader this node knows of changes (NONE while there is none) or
   * a known leader's term does. Must not throw: a throw is a fatal error of the loop.
   */
  onLeaderChange?: (leader: NodeId, term: number) => void;
  /** Called once with the error that stopped the loop (a storage error, a broken invariant). */
  onFatal?: (err: Error) => void;
  probe?: RaftNodeProbe;
}

/** `RaftNode.open`: the production node, with TCP, files and real time. */
export interface RaftNodeOpenOptions {
  id: NodeId;
  /** The directory of the WAL and the snapshot; created if missing. */
  dir: string;
  /** Founding voters when starting a new cluster; omit for a node that joins an existing one. */
  bootstrapVoters?: NodeId[];
  stateMachine: StateMachine;
  /** @default '127.0.0.1' */
  host?: string;
  /** The Raft listener's port; 0 for an ephemeral one. @default 0 */
  port?: number;
  /** @default tickMsDefault */
  tickMs?: number;
  /** Seed of the election jitter. @default a random one */
  seed?: number;
  raft?: RaftTuning;
  snapshotEntries?: number;
  retainEntries?: number;
  onLeaderChange?: (leader: NodeId, term: number) => void;
  onFatal?: (err: Error) => void;
}

/**
 * Refusals are operating errors, handed out at the rate clients retry (every redirect is one), and
 * their stack says nothing: where they come from is always the loop. Capturing it was 23% of the
 * simulator's CPU time (a --cpu-prof of seeds 1..200), so they are built without one.
 */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER';
  readonly retriable = true;
  readonly leader: NodeId;
  constructor(leader: NodeId, reason: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`not the leader (${reason}); leader is ${leader || 'unknown'}`);
    Error.stackTraceLimit = limit;
    this.leader = leader;
  }
}

/**
 * A proposal the leader refused for a reason other than leadership: a membership change already in
 * flight, no entry committed in the leader's term yet, a learner too far behind to promote, or an
 * invalid change. The caller may retry later on the same node.
 */
export class ProposalRefusedError extends Error {
  readonly code = 'PROPOSAL_REFUSED';
  readonly retriable = true;
  readonly reason: ProposeRefusal;
  readonly leader: NodeId;
  constructor(leader: NodeId, reason: ProposeRefusal) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`proposal refused by the leader: ${reason}`);
    Error.stackTraceLimit = limit;
    this.reason = reason;
    this.leader = leader;
  }
}

/** A proposal over `proposalBytesMax`: refused before it reaches the log, on any node. */
export class ProposalTooLargeError extends Error {
  readonly code = 'PROPOSAL_TOO_LARGE';
  readonly retriable = false;
  readonly bytes: number;
  constructor(bytes: number) {
    super(`proposal of ${bytes} bytes is over proposalBytesMax (${proposalBytesMax})`);
    this.bytes = bytes;
  }
}

/**
 * The node no longer steps: it was closed (RAFT_NODE_CLOSED), or its loop stopped on an error
 * (RAFT_NODE_FAILED, the error as `cause`). Retriable on another node, never on this one.
 *
 * `maybeCommitted` is true for a proposal that was already in the log when the node stopped: it may
 * still commit through the other nodes, so its outcome is unknown (a client must not assume it did not
 * happen). False for one that never reached the core, and for reads. The simulator found this:
 * treating every such rejection as "did not happen" broke linearizability under failed fsyncs.
 */
export class RaftNodeStoppedError extends Error {
  readonly code: 'RAFT_NODE_CLOSED' | 'RAFT_NODE_FAILED';
  readonly retriable = true;
  readonly maybeCommitted: boolean;
  constructor(code: 'RAFT_NODE_CLOSED' | 'RAFT_NODE_FAILED', cause?: unknown, maybeCommitted = false) {
    super(
      `${code === 'RAFT_NODE_CLOSED' ? 'raft node closed' : `raft node failed: ${String(cause)}`}` +
        `${maybeCommitted ? ' (the proposal was in the log and may still commit)' : ''}`,
      { cause },
    );
    this.code = code;
    this.maybeCommitted = maybeCommitted;
  }
}

/** The error for a refused proposal: NotLeaderError only when leadership is the reason. */
function refusal(leader: NodeId, reason: ProposeRefusal): Error {
  return reason === 'not-leader' || reason === 'transferring'
    ? new NotLeaderError(leader, reason)
    : new ProposalRefusedError(leader, reason);
}

/** Called once with the outcome of a submitted operation. */
export type Reply<T> = (err: Error | null, value?: T) => void;

/** What the broker exports as metrics (DESIGN.md: the Raft term, commit index and applied index). */
export interface RaftNodeMetrics {
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly snapshotsInstalled: number;
  readonly state: 'running' | 'failed' | 'closed';
}

type Waiter = { term: number; reply: Reply<unknown> };
type Call = { run: (raft: Raft) => void; reject: (e: Error) => void };

export class RaftNode {
  readonly raft: Raft;
  readonly transport: RaftTransport;
  private readonly ticker: Ticker;
  private readonly store: RaftStore;
  private readonly sm: StateMachine;
  private readonly snapshotEntries: number;
  private readonly retainEntries: number;
  private readonly onLeaderChange: ((leader: NodeId, term: number) => void) | undefined;
  private readonly onFatal: ((err: Error) => void) | undefined;
  private readonly probe: RaftNodeProbe | undefined;

  private inbox: Message[] = [];
  private ticks = 0;
  private proposals: { data: Uint8Array; reply: Reply<unknown> }[] = [];
  private calls: Call[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private readonly reads = new Map<number, Reply<undefined>>();
  private readsToServe: { index: number; context: number }[] = [];
  private nextContext = 1;

  private state: 'running' | 'failed' | 'closed' = 'running';
  /** The loop is on the stack (a store may complete synchronously, inside it). */
  private pumping = false;
  /** A deferred run of the loop is scheduled. */
  private scheduled = false;
  /** A store operation is in flight: nothing is stepped until it completes. */
  private busy = false;
  private idleWaiters: (() => void)[] = [];
  private knownLeader: NodeId = NONE;
  private knownTerm = 0;
  /** The error that stopped the loop, if one did. */
  failure: Error | null = null;
  snapshotsInstalled = 0;

  /** Starts the node at once: recovers from `store.initial`, attaches the transport, starts ticking. */
  constructor(opts: RaftNodeOptions) {
    if (!Number.isInteger(opts.id) || opts.id <= 0 || opts.id > 0xffffffff)
      throw new RangeError(`id must be an integer between 1 and 2^32-1, got ${opts.id}`);
    this.snapshotEntries = opts.snapshotEntries ?? 10_000;
    this.retainEntries = opts.retainEntries ?? 1000;
    if (!Number.isInteger(this.snapshotEntries) || this.snapshotEntries < 1)
      throw new RangeError(`snapshotEntries must be a positive integer, got ${this.snapshotEntries}`);
    if (!Number.isInteger(this.retainEntries) || this.retainEntries < 0)
      throw new RangeError(`retainEntries must be a non-negative integer, got ${this.retainEntries}`);
    this.transport = opts.transport;
    this.ticker = opts.ticker;
    this.store = opts.store;
    this.sm = opts.stateMachine;
    this.onLeaderChange = opts.onLeaderChange;
    this.onFatal = opts.onFatal;
    this.probe = opts.probe;
    const init = opts.store.initial;
    this.sm.restore(init.snapshot.data, init.snapshot.index);
    this.raft = new Raft(
      {
        electionTicks: electionTicksDefault,
        heartbeatTicks: heartbeatTicksDefault,
        ...opts.raft,
        id: opts.id,
        random: opts.random,
      },
      init,
    );
    this.knownTerm = this.raft.term;
    this.transport.attach((m) => {
      if (this.state !== 'running') return;
      this.inbox.push(m);
      this.kick();
    });
    this.ticker.start(() => {
      if (this.state !== 'running') return;
      this.ticks++;
      this.kick();
    });
  }

  /**
   * The production node in one call: opens (and recovers) the store in `dir`, listens for Raft
   * traffic, and ticks in real time. Returns the node and the port it listens on.
   */
  static async open(opts: RaftNodeOpenOptions): Promise<{ node: RaftNode; port: number }> {
    const fresh = opts.bootstrapVoters ? bootstrapSnapshot(opts.bootstrapVoters) : emptySnapshot;
    const store = await FileRaftStore.open(opts.dir, fresh);
    const transport = new TcpTransport();
    try {
      const port = await transport.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
      const node = new RaftNode({
        id: opts.id,
        stateMachine: opts.stateMachine,
        transport,
        ticker: new IntervalTicker(opts.tickMs ?? tickMsDefault),
        store,
        random: new Prng(opts.seed ?? randomInt(2 ** 31)),
        raft: opts.raft,
        snapshotEntries: opts.snapshotEntries,
        retainEntries: opts.retainEntries,
        onLeaderChange: opts.onLeaderChange,
        onFatal: opts.onFatal,
      });
      return { node, port };
    } catch (err) {
      // Unwind what was opened, in reverse order, once.
      await transport.close();
      await store.close();
      throw err;
    }
  }

  setPeer(id: NodeId, address: PeerAddress): void {
    this.transport.setPeer(id, address);
  }

  removePeer(id: NodeId): void {
    this.transport.removePeer(id);
  }

  /** Resolves with the state machine's result once the command is committed and applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => this.submit(data, (err, v) => (err ? reject(err) : resolve(v))));
  }

  /** `propose` with a callback (the simulator's form: it completes inside the loop, no microtask). */
  submit(data: Uint8Array, reply: Reply<unknown>): void {
    if (this.state !== 'running') {
      reply(this.stoppedError());
      return;
    }
    if (data.length > proposalBytesMax) {
      reply(new ProposalTooLargeError(data.length));
      return;
    }
    this.proposals.push({ data, reply });
    this.kick();
  }

  /** Resolves once the membership change is committed and applied here. */
  proposeConfChange(cc: ConfChange): Promise<void> {
    return new Promise((resolve, reject) =>
      this.submitConfChange(cc, (err) => (err ? reject(err) : resolve())),
    );
  }

  submitConfChange(cc: ConfChange, reply: Reply<unknown>): void {
    this.call(reply, (raft) => {
      const r = raft.proposeConfChange(cc);
      if (!r.ok) reply(refusal(r.leader, r.reason));
      else this.waiters.set(r.index, { term: r.term, reply });
    });
  }

  /** Resolves once a linearizable read may be served from the local state machine (ReadIndex). */
  readBarrier(): Promise<void> {
    return new Promise((resolve, reject) => this.submitRead((err) => (err ? reject(err) : resolve())));
  }

  submitRead(reply: Reply<undefined>): void {
    this.call(reply, (raft) => {
      const ctx = this.nextContext++;
      if (raft.readIndex(ctx)) this.reads.set(ctx, reply);
      else reply(new NotLeaderError(raft.leader, 'cannot serve reads'));
    });
  }

  /**
   * Starts an election now rather than after an election timeout: a node that is its cluster's only
   * voter calls it at start, so that a one-node cluster is ready at once.
   */
  campaign(): void {
    this.call(
      () => {},
      (raft) => raft.campaignNow(),
    );
  }

  /** Asks the leader to hand leadership to `to`; `onLeaderChange` reports the outcome. */
  transferLeadership(to: NodeId): void {
    this.call(
      () => {},
      (raft) => raft.transferLeadership(to),
    );
  }

  status(): Status {
    return this.raft.status();
  }

  /** The leader's view of follower `id`'s log: how much of it matches (undefined on a follower). */
  progressOf(id: NodeId): { match: number; next: number; state: string } | undefined {
    return this.raft.progressOf(id);
  }

  metrics(): RaftNodeMetrics {
    const raft = this.raft;
    return {
      role: raft.role,
      term: raft.term,
      leader: raft.leader,
      commitIndex: raft.log.committed,
      appliedIndex: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      snapshotIndex: raft.latestSnapshot().index,
      snapshotsInstalled: this.snapshotsInstalled,
      state: this.state,
    };
  }

  /** A store operation is in flight (a Ready being made durable, or a compaction). */
  get persisting(): boolean {
    return this.busy;
  }

  /** Stops ticking and stepping, closes the transport, waits for the store's operation, closes it. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ticker.stop();
    this.rejectPending();
    await this.transport.close();
    if (this.busy) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.store.close();
  }

  // ---------------------------------------------------------------- the loop

  private call(reply: Reply<never>, run: (raft: Raft) => void): void {
    if (this.state !== 'running') {
      reply(this.stoppedError());
      return;
    }
    this.calls.push({ run, reject: (e) => reply(e) });
    this.kick();
  }

  private kick(): void {
    if (this.state !== 'running' || this.pumping || this.busy || this.scheduled) return;
    this.scheduled = true;
    this.ticker.defer(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Steps inputs and handles Readies until a store operation is in flight or nothing is left to do. */
  private pump(): void {
    // A store that completes synchronously calls back in here; the loop below re-reads the state on
    // every turn, so the nested call returns instead of recursing.
    if (this.state !== 'running' || this.pumping) return;
    this.pumping = true;
    try {
      const raft = this.raft;
      while (this.state === 'running' && !this.busy) {
        this.stepInputs();
        this.probe?.stepped?.(raft);
        this.reportLeader();
        if (!raft.hasReady()) {
          if (this.maybeCompact()) continue;
          break;
        }
        this.handleReady(raft.ready());
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.pumping = false;
    }
  }

  private stepInputs(): void {
    const raft = this.raft;
    const msgs = this.inbox;
    this.inbox = [];
    for (const m of msgs) raft.step(m);
    for (; this.ticks > 0; this.ticks--) raft.tick();
    const calls = this.calls;
    this.calls = [];
    for (const c of calls) c.run(raft);
    if (this.proposals.length > 0) {
      const batch = this.proposals;
      this.proposals = [];
      const r = raft.proposeEntries(batch.map((p) => p.data));
      if (!r.ok) {
        const err = refusal(r.leader, r.reason);
        for (const p of batch) p.reply(err);
      } else {
        const first = r.index - batch.length + 1;
        for (let k = 0; k < batch.length; k++)
          this.waiters.set(first + k, { term: r.term, reply: batch[k].reply });
      }
    }
  }

  private reportLeader(): void {
    const { leader, term } = this.raft;
    if (leader === this.knownLeader && (leader === NONE || term === this.knownTerm)) return;
    this.knownLeader = leader;
    this.knownTerm = term;
    this.onLeaderChange?.(leader, term);
  }

  private handleReady(rd: Ready): void {
    for (const m of rd.messages) this.transport.send(m);
    if (rd.snapshot === null && rd.entries.length === 0 && rd.hardState === null) {
      this.finishReady(rd);
      return;
    }
    this.busy = true;
    this.store.persist(rd, (err) => this.completed(err, () => this.finishReady(rd)));
  }

  /** The continuation of a store operation: on success `then`, and the loop runs on. */
  private completed(err: Error | null, then: () => void): void {
    assert.ok(this.busy, 'a store completed an operation twice');
    this.busy = false;
    if (this.state === 'running') {
      try {
        if (err) throw err;
        then();
      } catch (e) {
        this.fail(e);
      }
      this.pump();
    }
    if (!this.busy) for (const r of this.idleWaiters.splice(0)) r();
  }

  private finishReady(rd: Ready): void {
    const raft = this.raft;
    for (const m of rd.messagesAfterPersist) this.transport.send(m);
    this.probe?.applying?.(rd);
    if (rd.snapshot) {
      this.sm.restore(rd.snapshot.data, rd.snapshot.index);
      this.snapshotsInstalled++;
    }
    for (const e of rd.committedEntries) {
      const result = this.sm.apply(e);
      const w = this.waiters.get(e.index);
      if (w) {
        this.waiters.delete(e.index);
        if (w.term === e.term) w.reply(null, result);
        else w.reply(new NotLeaderError(raft.leader, 'proposal lost in a leader change'));
      }
    }
    for (const r of rd.readStates) this.readsToServe.push(r);
    raft.advance();
    const applied = raft.log.applied;
    if (this.readsToServe.length > 0) {
      this.readsToServe = this.readsToServe.filter((r) => {
        if (r.index > applied) return true;
        const reply = this.reads.get(r.context);
        this.reads.delete(r.context);
        reply?.(null);
        return false;
      });
    }
  }

  /** Snapshots and compacts once enough was applied; true if it started (or did) a compaction. */
  private maybeCompact(): boolean {
    const raft = this.raft;
    if (raft.log.applied - raft.latestSnapshot().index < this.snapshotEntries || raft.hasReady())
      return false;
    const snap = raft.compact(this.sm.snapshot(), this.retainEntries);
    assert.equal(snap.index, raft.log.applied);
    this.busy = true;
    const done: Done = (err) => this.completed(err, () => {});
    this.store.compact(snap, raft.durableLog(), done);
    return true;
  }

  private fail(cause: unknown): void {
    if (this.state !== 'running') return;
    const err = cause instanceof Error ? cause : new Error(String(cause));
    this.state = 'failed';
    this.failure = err;
    this.ticker.stop();
    this.rejectPending();
    this.onFatal?.(err);
  }

  private stoppedError(maybeCommitted = false): RaftNodeStoppedError {
    return this.state === 'failed'
      ? new RaftNodeStoppedError('RAFT_NODE_FAILED', this.failure, maybeCommitted)
      : new RaftNodeStoppedError('RAFT_NODE_CLOSED', undefined, maybeCommitted);
  }

  private rejectPending(): void {
    const err = this.stoppedError();
    const inLog = this.stoppedError(true);
    const proposals = this.proposals;
    const calls = this.calls;
    const waiters = [...this.waiters.values()];
    const reads = [...this.reads.values()];
    this.proposals = [];
    this.calls = [];
    this.waiters.clear();
    this.reads.clear();
    this.readsToServe = [];
    this.inbox = [];
    for (const p of proposals) p.reply(err);
    for (const c of calls) c.reject(err);
    for (const w of waiters) w.reply(inLog);
    for (const r of reads) r(err);
  }
}
