/**
 * One node's part in the cluster (issue 11; DESIGN.md decisions 3 to 5, 8): its metadata log, its seat
 * for the active controller, the way to the active controller from anywhere (`call`), and the broker
 * lifecycle: registration with an incarnation id, heartbeats every `heartbeatMs`, and being unfenced
 * once caught up. The single node is this same code with one voter and nowhere to forward to.
 *
 * A controller operation goes to the local controller when this node is the active one, else to the
 * active controller's gRPC listener as the image names it (or, before this node has an image, to the
 * node it joined through), through the injected `Forwarder`. NOT_CONTROLLER and an unreachable node
 * are retried with backoff until the call's deadline, as Kafka's forwarding manager does; every other
 * answer is final.
 */

import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControllerOptions, HeartbeatAnswer } from '../../controller/controller.ts';
import type { ControllerOp } from '../../controller/ops.ts';
import { BrokerError, isBrokerError } from '../../errors.ts';
import type { Listener, MetadataRecord } from '../../metadata/records.ts';
import { type Answered, ControllerHost } from './controller-host.ts';
import { MetadataLog } from './metadata-log.ts';

/** Carries an operation to another node's controller (the gRPC door implements it). */
export interface Forwarder {
  /**
   * Resolves with the answer, or rejects with the BrokerError the controller answered (NOT_CONTROLLER
   * among them) or BROKER_NOT_AVAILABLE when `address` cannot be reached.
   */
  call(address: string, op: ControllerOp, hops: number, timeoutMs: number): Promise<Answered<unknown>>;
}

export interface ClusterOptions {
  dataDir: string;
  nodeId: number;
  /** The node's name (`node.id`), registered for admin tools. */
  nodeName?: string;
  /** The node's rack (`node.rack`), registered for rack-aware placement; null for none. */
  rack?: string | null;
  /** Where the Raft listener binds. */
  bindHost: string;
  /** The host other nodes reach this one at. */
  advertisedHost: string;
  raftPort: number;
  controllerEligible: boolean;
  quorumSize: number;
  /** A member's gRPC address to join through; null starts (or restarts) without one. */
  joinAddr: string | null;
  heartbeatMs: number;
  sessionTimeoutMs: number;
  controller: Omit<ControllerOptions, 'newTopicId' | 'sessionTimeoutMs' | 'quorumSize'>;
  migration?: () => MetadataRecord[] | null;
  forwarder?: Forwarder | null;
  /** Raft tick. @default 50 */
  tickMs?: number;
  snapshotEntries?: number;
  /** How often the active controller moves leaderships back to preferred replicas; 0 never. @default 5000 */
  leaderRebalanceIntervalMs?: number;
  /** Whether the active controller balances replicas by itself (`cluster.auto_rebalance`). @default true */
  autoRebalance?: boolean;
  /** Most partition moves under way at once (`cluster.rebalance_max_moves`). @default 4 */
  rebalanceMaxMoves?: number;

  logger: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  onFatal?: (err: Error) => void;
  clock?: () => number;
}

export interface CallOptions {
  /** @default 30000 */
  timeoutMs?: number;
  /**
   * How many nodes may carry the operation toward the controller, this one included: 2 lets a node
   * that does not know the controller yet (one that is joining) go through a member that does.
   * @default 2
   */
  hops?: number;
}

type BrokerState = 'unregistered' | 'fenced' | 'active' | 'stopped';

/** How often heartbeats carry the sizes of the partitions a node leads, for the balancer. */
const SIZES_EVERY_MS = 10_000;

export class Cluster {
  readonly nodeId: number;
  readonly log: MetadataLog;
  readonly controller: ControllerHost;
  /** Random per process start: tells the controller a restart from a second live node of the same id. */
  readonly incarnationId: string;
  readonly #opts: ClusterOptions;
  readonly #clock: () => number;
  #forwarder: Forwarder | null;
  #brokerEpoch = -1;
  /** A controlled shutdown is under way: its own heartbeats replace the regular ones. */
  #shuttingDown = false;
  #state: BrokerState = 'unregistered';
  #listeners: Listener[] = [];
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeating = false;
  #caughtUp = false;
  /** See hasLeaderLease. */
  #leaseUntil = 0;
  #stateWaiters: (() => void)[] = [];
  /** The offset of the last image the broker has acted on (the core's published image). */
  #appliedOffset: () => number;
  #closed = false;
  /** The image has held this incarnation's registration. */
  #seenRegistered = false;
  /** This node's registration was removed while it ran. */
  #removed = false;
  /** When partition sizes last went with a heartbeat. */
  #sizesSentAt = Number.NEGATIVE_INFINITY;
  /** Set by the broker core: the sizes of the partitions this node leads (see ClusterOptions). */
  partitionSizes: (() => [string, number, number][]) | null = null;

  private constructor(
    opts: ClusterOptions,
    log: MetadataLog,
    controller: ControllerHost,
    incarnationId: string,
  ) {
    this.#opts = opts;
    this.incarnationId = incarnationId;
    this.nodeId = opts.nodeId;
    this.log = log;
    this.controller = controller;
    this.#clock = opts.clock ?? Date.now;
    this.#forwarder = opts.forwarder ?? null;
    this.#appliedOffset = () => log.appliedOffset;
    log.onImage((image) => {
      const mine = image.brokers.get(this.nodeId);
      if (mine?.incarnationId === this.incarnationId) this.#seenRegistered = true;
      else if (!mine && this.#seenRegistered && !this.#removed) {
        // An UnregisterBroker of this node committed while it runs (an operator removed it): it must
        // not register itself back. It stops heartbeating and is no longer ready.
        this.#removed = true;
        if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
        this.#setState('stopped');
        opts.logger.warn(
          { node: this.nodeId },
          'this node was removed from the cluster; it no longer registers or serves; stop it',
        );
      }
    });
  }

  /**
   * Opens the metadata log. With an empty `raft/` directory and no join address the node bootstraps
   * a new cluster as its only voter; a node whose log says it is the only voter campaigns at once.
   */
  static async open(opts: ClusterOptions): Promise<Cluster> {
    const dir = path.join(opts.dataDir, 'raft');
    const incarnationId = randomUUID();
    const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
    let host: ControllerHost | null = null;
    const log = await MetadataLog.open({
      dir,
      nodeId: opts.nodeId,
      host: opts.bindHost,
      port: opts.raftPort,
      bootstrap: fresh && opts.joinAddr === null,
      tickMs: opts.tickMs,
      snapshotEntries: opts.snapshotEntries,
      onLeaderChange: (leader, term) => host?.leaderChanged(leader, term),
      onFatal: opts.onFatal,
    });
    host = new ControllerHost({
      log,
      controller: {
        ...opts.controller,
        sessionTimeoutMs: opts.sessionTimeoutMs,
        quorumSize: opts.quorumSize,
        localBroker: { id: opts.nodeId, incarnationId },
      },
      quorumSize: opts.quorumSize,
      migration: opts.migration,
      logger: opts.logger,
      clock: opts.clock,
      leaderRebalanceIntervalMs: opts.leaderRebalanceIntervalMs,
      autoRebalance: opts.autoRebalance,
      rebalanceMaxMoves: opts.rebalanceMaxMoves,
      // A broker heartbeats every heartbeatMs: a quarter second past that, a crashed one is looked for.
      probeSilenceMs: opts.heartbeatMs + 250,
      // With a forwarder the other nodes reach this one's controller through its gRPC door, which
      // listens only once the node has started: until then no session is checked.
      reachable: !opts.forwarder,
    });
    const cluster = new Cluster(opts, log, host, incarnationId);
    const { voters } = log.raft.status().conf;
    if (voters.length === 1 && voters[0] === opts.nodeId) log.raft.campaign();
    return cluster;
  }

  /** Set by the broker core: the offset of the image it has acted on, which heartbeats report. */
  set appliedOffset(fn: () => number) {
    this.#appliedOffset = fn;
  }

  /** This node's gRPC door listens: other nodes can reach its controller (ControllerHost.markReachable). */
  doorsOpen(): void {
    this.controller.markReachable();
  }

  setForwarder(forwarder: Forwarder): void {
    this.#forwarder = forwarder;
  }

  get brokerEpoch(): number {
    return this.#brokerEpoch;
  }

  /** Registered, unfenced, and caught up with the metadata log. */
  get ready(): boolean {
    return this.#state === 'active' && this.#caughtUp;
  }

  get state(): BrokerState {
    return this.#state;
  }

  /** The gRPC address of the active controller as the image knows it, else the join address. */
  controllerAddress(): string | null {
    const leader = this.log.leader;
    const b = leader !== 0 ? this.log.image.brokers.get(leader) : undefined;
    const grpc = b?.listeners.find((l) => l.name === 'grpc');
    if (grpc && grpc.port !== 0) return `${grpc.host}:${grpc.port}`;
    return this.#opts.joinAddr;
  }

  /** Runs a controller operation wherever the active controller is; see the header. */
  async call<T>(op: ControllerOp, opts: CallOptions = {}): Promise<Answered<T>> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const hops = opts.hops ?? 2;
    const deadline = this.#clock() + timeoutMs;
    let last: unknown = null;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        if (this.controller.active || this.log.isLeader) return await this.controller.run<T>(op);
        const target = this.controllerAddress();
        if (target !== null && this.#forwarder && hops > 0) {
          return (await this.#forwarder.call(
            target,
            op,
            hops - 1,
            Math.max(1, deadline - this.#clock()),
          )) as Answered<T>;
        }
        last = new BrokerError(
          'NOT_CONTROLLER',
          hops > 0 ? 'no active controller is known yet' : `node ${this.nodeId} is not the active controller`,
        );
        if (hops === 0) throw last;
      } catch (err) {
        if (!isBrokerError(err, 'NOT_CONTROLLER') && !isBrokerError(err, 'BROKER_NOT_AVAILABLE')) throw err;
        if (hops === 0) throw err;
        last = err;
      }
      const left = deadline - this.#clock();
      if (left <= 0) break;
      await sleep(Math.min(25 * 2 ** Math.min(attempt, 5), 500, left));
    }
    if (this.#closed) throw new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is shutting down');
    throw last instanceof BrokerError
      ? new BrokerError(last.code, `${last.message} (gave up after ${timeoutMs} ms)`)
      : new BrokerError('REQUEST_TIMED_OUT', `no active controller answered within ${timeoutMs} ms`);
  }

  /**
   * Registers this incarnation with the controller, then heartbeats. A registration refused because
   * the id's previous incarnation still holds a live session (a quick restart after a crash) is
   * retried until that session lapses; past it the id is taken by another live node, and the error
   * stands.
   */
  async register(listeners: Listener[], timeoutMs: number): Promise<void> {
    this.#listeners = listeners;
    const deadline = this.#clock() + timeoutMs;
    // A restart soon after a crash finds its old session still live, and waits for it to lapse; a
    // controller that took over meanwhile granted that session a fresh timeout, hence twice.
    const duplicateDeadline = this.#clock() + 2 * this.#opts.sessionTimeoutMs + 2 * this.#opts.heartbeatMs;
    for (;;) {
      try {
        const { answer } = await this.call<{
          brokerEpoch: number;
          peers?: { id: number; host: string; port: number }[];
        }>(
          {
            op: 'registerBroker',
            request: {
              brokerId: this.nodeId,
              incarnationId: this.incarnationId,
              listeners,
              rack: this.#opts.rack ?? null,
              controllerEligible: this.#opts.controllerEligible,
              quorumSize: this.#opts.quorumSize,
              ...(this.#opts.nodeName === undefined ? {} : { nodeName: this.#opts.nodeName }),
            },
          },
          { timeoutMs: Math.max(1, deadline - this.#clock()) },
        );
        if (answer.peers) this.log.setPeers(answer.peers);
        // Caught up again only once a heartbeat says so: the registration may have made a record
        // (new listeners) that this node has yet to apply.
        this.#caughtUp = false;
        if (this.#brokerEpoch !== answer.brokerEpoch) {
          this.#brokerEpoch = answer.brokerEpoch;
          this.#setState('fenced');
        }
        break;
      } catch (err) {
        if (!isBrokerError(err, 'DUPLICATE_BROKER_REGISTRATION') || this.#clock() >= duplicateDeadline)
          throw err;
        await sleep(Math.min(500, this.#opts.heartbeatMs));
      }
    }
    this.#scheduleHeartbeat(0);
  }

  /** Re-registers the same incarnation with new listeners (the doors listened after the log opened). */
  async updateListeners(listeners: Listener[]): Promise<void> {
    await this.register(listeners, 30_000);
  }

  /** Resolves once this node is registered, unfenced and caught up; rejects after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = this.#clock() + timeoutMs;
    while (!this.ready) {
      if (this.#closed) throw new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is shutting down');
      const left = deadline - this.#clock();
      if (left <= 0)
        throw new BrokerError(
          'REQUEST_TIMED_OUT',
          `node ${this.nodeId} did not catch up with the metadata log within ${timeoutMs} ms (state ${this.#state})`,
        );
      await Promise.race([new Promise<void>((r) => this.#stateWaiters.push(r)), sleep(Math.min(left, 100))]);
    }
  }

  #setState(state: BrokerState): void {
    this.#state = state;
    const waiters = this.#stateWaiters;
    this.#stateWaiters = [];
    for (const w of waiters) w();
  }

  #scheduleHeartbeat(ms: number): void {
    if (this.#closed || this.#removed || this.#shuttingDown) return;
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => void this.#heartbeat(), ms);
    this.#heartbeatTimer.unref();
  }

  /** Whether an operator removed this node from the cluster while it ran. */
  get removed(): boolean {
    return this.#removed;
  }

  /**
   * Whether this node may act as the leader of the partitions the metadata gives it: while the
   * controller's session for it cannot have lapsed. The controller fences a broker no sooner than
   * `sessionTimeoutMs` after it last received a heartbeat, and only then elects other leaders for its
   * partitions; the lease runs from the moment the last acknowledged heartbeat was sent, which is
   * earlier, so a node cut off from the controller stops leading before another node can start. Clients
   * of a node past its lease are told NOT_LEADER_OR_FOLLOWER, and look for the leader elsewhere,
   * instead of reading from or writing to a leader that may have been replaced (a zombie).
   */
  get hasLeaderLease(): boolean {
    return this.#clock() < this.#leaseUntil;
  }

  /** How long ago the lease ran out, in ms (0 while it holds). */
  get leaseLapsedMs(): number {
    return Math.max(0, this.#clock() - this.#leaseUntil);
  }

  #renewLease(sentAt: number, answer: HeartbeatAnswer): void {
    if (answer.isFenced) this.#leaseUntil = 0;
    else this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.#opts.sessionTimeoutMs);
  }

  /** The partition sizes for a heartbeat sent at `now`: every SIZES_EVERY_MS, and the first one. */
  #sizesDue(now: number): { partitionSizes?: [string, number, number][] } {
    const sizes = this.partitionSizes;
    if (!sizes || now < this.#sizesSentAt + SIZES_EVERY_MS) return {};
    this.#sizesSentAt = now;
    return { partitionSizes: sizes() };
  }

  async #heartbeat(): Promise<void> {
    if (this.#heartbeating || this.#closed || this.#removed || this.#shuttingDown) return;
    this.#heartbeating = true;
    let next = this.#opts.heartbeatMs;
    const sentAt = this.#clock();
    try {
      const { answer } = await this.call<HeartbeatAnswer>(
        {
          op: 'heartbeat',
          request: {
            brokerId: this.nodeId,
            brokerEpoch: this.#brokerEpoch,
            metadataOffset: this.#appliedOffset(),
            wantShutDown: false,
            ...this.#sizesDue(sentAt),
          },
        },
        { timeoutMs: this.#opts.heartbeatMs * 2 },
      );
      this.#caughtUp = answer.isCaughtUp;
      this.#renewLease(sentAt, answer);
      this.#setState(answer.isFenced ? 'fenced' : 'active');
      // A fenced broker asks again soon: it is unfenced as soon as it has caught up.
      if (!this.ready) next = Math.min(next, 100);
    } catch (err) {
      if (this.#closed) return;
      if (isBrokerError(err, 'BROKER_ID_NOT_REGISTERED')) {
        // Registered once and now unknown: an operator removed this node (see the image listener).
        this.#removed = true;
        this.#setState('stopped');
        this.#opts.logger.warn(
          { node: this.nodeId },
          'this node was removed from the cluster; it no longer registers or serves; stop it',
        );
        return;
      }
      if (isBrokerError(err, 'STALE_BROKER_EPOCH')) {
        this.#leaseUntil = 0;
        this.#opts.logger.warn(
          { err: String(err) },
          'the controller no longer knows this registration; registering again',
        );
        this.#setState('unregistered');
        this.#heartbeating = false;
        this.register(this.#listeners, 30_000).catch((e: unknown) =>
          this.#opts.logger.error({ err: String(e) }, 'cannot register with the controller'),
        );
        return;
      }
      this.#opts.logger.warn({ err: String(err) }, 'heartbeat to the controller failed');
      next = Math.min(next, 250);
    } finally {
      this.#heartbeating = false;
    }
    this.#scheduleHeartbeat(next);
  }

  /**
   * Controlled shutdown (DESIGN.md decision 8; Kafka's BrokerLifecycleManager): heartbeats asking to
   * shut down, which make the controller move this node's leaderships to other in-sync replicas, until
   * the controller says it may stop (it leads nothing and the other brokers have seen that) or
   * `timeoutMs` passes. Skipped when no other broker is active, since there is nowhere to move to.
   * Resolves with whether the controller let it go.
   */
  async controlledShutdown(timeoutMs: number): Promise<boolean> {
    if (this.#closed || this.#removed || this.#state !== 'active') return false;
    const image = this.log.image;
    const others = [...image.brokers.values()].filter((b) => b.id !== this.nodeId && !b.fenced);
    if (others.length === 0) return false;
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#shuttingDown = true; // no regular heartbeat from here on: it would not ask to shut down
    const deadline = this.#clock() + timeoutMs;
    let done = false;
    try {
      while (this.#clock() < deadline && !this.#closed) {
        const sentAt = this.#clock();
        try {
          const { answer } = await this.call<HeartbeatAnswer>(
            {
              op: 'heartbeat',
              request: {
                brokerId: this.nodeId,
                brokerEpoch: this.#brokerEpoch,
                metadataOffset: this.#appliedOffset(),
                wantShutDown: true,
              },
            },
            { timeoutMs: Math.max(100, Math.min(2_000, deadline - this.#clock())) },
          );
          this.#renewLease(sentAt, answer);
          // Fenced now: no heartbeat may follow, or the next one would unfence this node again.
          if (answer.shouldShutDown) {
            done = true;
            return true;
          }
        } catch (err) {
          this.#opts.logger.warn({ err: String(err) }, 'controlled shutdown heartbeat failed');
        }
        await sleep(Math.min(200, Math.max(0, deadline - this.#clock())));
      }
      return false;
    } finally {
      if (!done) {
        this.#shuttingDown = false;
        this.#scheduleHeartbeat(0);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // The active controller hands its role to another voter before it stops, so that the quorum does
    // not wait out an election timeout to find a new one (etcd does the same).
    if (this.log.isLeader && !this.#removed && this.log.raft.status().conf.voters.length > 1) {
      try {
        const { controller } = await this.controller.transferController(0, 2000);
        this.#opts.logger.info({ controller }, 'handed the active controller over before stopping');
      } catch (err) {
        this.#opts.logger.warn(
          { err: String(err) },
          'could not hand the active controller over before stopping',
        );
      }
    }
    this.#closed = true;
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#setState('stopped');
    await this.controller.close();
    await this.log.close();
  }
}
