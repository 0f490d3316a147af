/**
 * The driver: runs the pure core with real time, a real disk and a real network. One serialized loop
 * steps whatever arrived (messages, ticks, proposals), handles the Ready (send, persist with fsync,
 * send the acknowledgements, apply), then advances. Inputs that arrive while a Ready is being persisted
 * queue up and are stepped together, which is what batches proposals into one fsync.
 */
import assert from 'node:assert/strict';
import { tickMsDefault } from './limits.ts';
import { Prng } from './prng.ts';
import { type ProposeRefusal, Raft, type Status } from './raft.ts';
import { RaftStorage } from './storage.ts';
import { TcpTransport } from './transport.ts';
import {
  bootstrapSnapshot,
  type ConfChange,
  type Entry,
  EntryType,
  emptySnapshot,
  type Message,
  type NodeId,
} from './types.ts';

export interface StateMachine {
  /** Applies a committed command; the result is handed to whoever proposed it on this node. */
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array, index: number): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  dir: string;
  /** Founding voters when starting a new cluster; omit for a node that joins an existing one. */
  bootstrapVoters?: NodeId[];
  stateMachine: StateMachine;
  /** @default tickMsDefault */
  tickMs?: number;
  /** @default 10 */
  electionTicks?: number;
  /** Snapshot and compact once this many entries were applied since the last snapshot. @default 10000 */
  snapshotEntries?: number;
  /** Entries kept in the log after compaction, for slow followers. @default 1000 */
  retainEntries?: number;
  /** Seed of the election jitter; the driver may use real randomness, tests pass a seed. */
  seed?: number;
}

export class NotLeaderError extends Error {
  readonly leader: NodeId;
  constructor(leader: NodeId, reason: string) {
    super(`not the leader (${reason}); leader is ${leader || 'unknown'}`);
    this.leader = leader;
  }
}

/**
 * A proposal the leader refused for a reason other than leadership: a membership change already in
 * flight, no entry committed in the leader's term yet, a learner too far behind to promote, or an
 * invalid change. The caller may retry later on the same node.
 */
export class ProposalRefusedError extends Error {
  readonly reason: ProposeRefusal;
  readonly leader: NodeId;
  constructor(leader: NodeId, reason: ProposeRefusal) {
    super(`proposal refused by the leader: ${reason}`);
    this.reason = reason;
    this.leader = leader;
  }
}

/** The error for a refused proposal: NotLeaderError only when leadership is the reason. */
function refusal(leader: NodeId, reason: ProposeRefusal): Error {
  return reason === 'not-leader' || reason === 'transferring'
    ? new NotLeaderError(leader, reason)
    : new ProposalRefusedError(leader, reason);
}

type Waiter = { term: number; resolve: (v: unknown) => void; reject: (e: Error) => void };

export class RaftNode {
  readonly raft: Raft;
  readonly transport: TcpTransport;
  private readonly storage: RaftStorage;
  private readonly sm: StateMachine;
  private readonly opts: RaftNodeOptions;
  private inbox: Message[] = [];
  private ticks = 0;
  private proposals: { data: Uint8Array; resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private calls: ((raft: Raft) => void)[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private readonly reads = new Map<number, () => void>();
  private readsToServe: { index: number; context: number }[] = [];
  private nextContext = 1;
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  snapshotsInstalled = 0;

  private constructor(opts: RaftNodeOptions, raft: Raft, storage: RaftStorage) {
    this.opts = opts;
    this.raft = raft;
    this.storage = storage;
    this.sm = opts.stateMachine;
    this.transport = new TcpTransport((m) => {
      this.inbox.push(m);
      this.kick();
    });
  }

  static async start(opts: RaftNodeOptions): Promise<{ node: RaftNode; port: number }> {
    const fresh = opts.bootstrapVoters ? bootstrapSnapshot(opts.bootstrapVoters) : emptySnapshot;
    const { storage, init } = await RaftStorage.open(opts.dir, fresh);
    opts.stateMachine.restore(init.snapshot.data, init.snapshot.index);
    const raft = new Raft(
      {
        id: opts.id,
        electionTicks: opts.electionTicks ?? 10,
        heartbeatTicks: 1,
        random: new Prng(opts.seed ?? Date.now() ^ (opts.id * 7919)),
      },
      init,
    );
    const node = new RaftNode(opts, raft, storage);
    const port = await node.transport.listen(0);
    node.timer = setInterval(() => {
      node.ticks++;
      node.kick();
    }, opts.tickMs ?? tickMsDefault);
    return { node, port };
  }

  setPeer(id: NodeId, host: string, port: number): void {
    this.transport.setPeer(id, host, port);
  }

  /** Resolves with the state machine's result once the command is committed and applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('node closed'));
      this.proposals.push({ data, resolve, reject });
      this.kick();
    });
  }

  proposeConfChange(cc: ConfChange): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push((raft) => {
        const r = raft.proposeConfChange(cc);
        if (!r.ok) reject(refusal(r.leader, r.reason));
        else this.waiters.set(r.index, { term: r.term, resolve: () => resolve(), reject });
      });
      this.kick();
    });
  }

  /** Resolves once a linearizable read may be served from the local state machine (ReadIndex). */
  readBarrier(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push((raft) => {
        const ctx = this.nextContext++;
        if (raft.readIndex(ctx)) this.reads.set(ctx, resolve);
        else reject(new NotLeaderError(raft.leader, 'cannot serve reads'));
      });
      this.kick();
    });
  }

  status(): Status {
    return this.raft.status();
  }

  private kick(): void {
    if (this.running || this.closed) return;
    this.running = true;
    setImmediate(() => {
      this.loop().catch((err) => {
        // A failed fsync or a broken invariant: the node must not continue (DESIGN.md decision 6).
        console.error('raft node failed', err);
        process.exit(70);
      });
    });
  }

  private async loop(): Promise<void> {
    const raft = this.raft;
    while (!this.closed) {
      const msgs = this.inbox;
      this.inbox = [];
      for (const m of msgs) raft.step(m);
      for (; this.ticks > 0; this.ticks--) raft.tick();
      const calls = this.calls;
      this.calls = [];
      for (const c of calls) c(raft);
      if (this.proposals.length > 0) {
        const batch = this.proposals;
        this.proposals = [];
        const r = raft.proposeEntries(batch.map((p) => p.data));
        if (!r.ok) {
          const err = refusal(r.leader, r.reason);
          for (const p of batch) p.reject(err);
        } else {
          const first = r.index - batch.length + 1;
          for (let k = 0; k < batch.length; k++) {
            const p = batch[k];
            this.waiters.set(first + k, { term: r.term, resolve: p.resolve, reject: p.reject });
          }
        }
      }
      if (!raft.hasReady()) break;
      const rd = raft.ready();
      for (const m of rd.messages) this.transport.send(m);
      await this.storage.persist(rd);
      for (const m of rd.messagesAfterPersist) this.transport.send(m);
      if (rd.snapshot) {
        this.sm.restore(rd.snapshot.data, rd.snapshot.index);
        this.snapshotsInstalled++;
      }
      for (const e of rd.committedEntries) {
        const result = e.type === EntryType.normal ? this.sm.apply(e) : undefined;
        const w = this.waiters.get(e.index);
        if (w) {
          this.waiters.delete(e.index);
          if (w.term === e.term) w.resolve(result);
          else w.reject(new NotLeaderError(raft.leader, 'proposal lost in a leader change'));
        }
      }
      this.readsToServe.push(...rd.readStates);
      raft.advance();
      const applied = raft.log.applied;
      this.readsToServe = this.readsToServe.filter((r) => {
        if (r.index > applied) return true;
        this.reads.get(r.context)?.();
        this.reads.delete(r.context);
        return false;
      });
      await this.maybeCompact();
    }
    this.running = false;
    if (this.inbox.length > 0 || this.ticks > 0 || this.calls.length > 0 || this.proposals.length > 0)
      this.kick();
  }

  private async maybeCompact(): Promise<void> {
    const every = this.opts.snapshotEntries ?? 10_000;
    const raft = this.raft;
    if (raft.log.applied - raft.latestSnapshot().index < every || raft.hasReady()) return;
    const snap = raft.compact(this.sm.snapshot(), this.opts.retainEntries ?? 1000);
    assert.equal(snap.index, raft.log.applied);
    await this.storage.compact(snap, raft.durableLog());
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.transport.close();
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    await this.storage.close();
  }
}
