/**
 * What the Raft driver (`node.ts`) does I/O with, as interfaces (DESIGN.md decisions 9 and 10): a
 * transport to the peers, a ticker that drives logical time, and a store that makes the core's output
 * durable. Production passes `TcpTransport` (transport.ts), `IntervalTicker` (below) and
 * `FileRaftStore` (storage.ts); the simulator (sim/simulator.ts) passes seeded ones that delay, drop,
 * partition and crash, and so runs the very loop that production runs.
 *
 * Completions are callbacks, not promises, on purpose: the simulator is one synchronous event loop, and
 * a simulated fsync must complete inside the simulator's event that models it. A promise would resolve
 * in a microtask, after the whole simulation returned. Production wraps its promises into callbacks
 * (`FileRaftStore`), which costs nothing measurable beside an fsync.
 */
import type { Entry, HardState, InitialState, Message, NodeId, Ready, Snapshot } from './types.ts';

/** Called once when an operation ends: `null` on success, the error otherwise. */
export type Done = (err: Error | null) => void;

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Carries messages between nodes. Raft tolerates loss, duplication and reordering, so `send` never
 * blocks and may drop (an unknown peer, a full queue, a broken connection); the core retransmits.
 */
export interface RaftTransport {
  /** Called once by the node before any `send`: where received messages go. */
  attach(deliver: (m: Message) => void): void;
  send(m: Message): void;
  /** Adds a peer or changes its address (a node that joined, or restarted on another port). */
  setPeer(id: NodeId, address: PeerAddress): void;
  /** Forgets a peer (a node removed from the cluster); messages to it are dropped from now on. */
  removePeer(id: NodeId): void;
  close(): Promise<void>;
}

/** Logical time: the driver calls `tick()` on the core once per `onTick`. */
export interface Ticker {
  start(onTick: () => void): void;
  stop(): void;
  /**
   * Runs `run` after the caller's current work: the driver defers its loop so that inputs that arrive
   * together are stepped together (one Ready, one fsync for a burst of proposals). The real ticker
   * uses `setImmediate`; the simulator runs it at once, since its inputs arrive one event at a time.
   */
  defer(run: () => void): void;
}

/** The durable part of a node's log after compaction: where it starts, its entries, its hard state. */
export interface DurableLog {
  readonly base: { readonly index: number; readonly term: number };
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

/**
 * Durable storage of one node: the WAL and the snapshot. The driver issues one operation at a time and
 * steps nothing while it runs, so a store needs no locking. An error is fatal to the node.
 */
export interface RaftStore {
  /** What the node starts from, recovered when the store was opened. */
  readonly initial: InitialState;
  /**
   * Makes a Ready's snapshot (first), entries and hard state durable (fsync) and then calls `done`.
   * The driver sends the Ready's `messagesAfterPersist` only after that.
   */
  persist(rd: Ready, done: Done): void;
  /** After the core compacted: stores `snapshot` and rewrites the log to start at it. */
  compact(snapshot: Snapshot, durable: DurableLog, done: Done): void;
  close(): Promise<void>;
}

/** The production ticker: real time, `tickMs` per tick. */
export class IntervalTicker implements Ticker {
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(tickMs: number) {
    if (!(tickMs >= 1)) throw new RangeError(`tickMs must be at least 1, got ${tickMs}`);
    this.tickMs = tickMs;
  }

  start(onTick: () => void): void {
    if (this.timer) throw new Error('ticker already started');
    this.timer = setInterval(onTick, this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  defer(run: () => void): void {
    setImmediate(run);
  }
}
