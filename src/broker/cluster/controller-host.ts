/**
 * The active controller's seat on one node (issue 11): while this node leads the metadata log's Raft
 * group it runs a `Controller` behind one serialized `ControllerQueue` whose commits are Raft
 * proposals; when it stops leading, the queue refuses everything with NOT_CONTROLLER. On taking over
 * it first waits for a read barrier, so that its controller starts from an image that holds every
 * record committed before its term (Kafka's controller replays the log to its end before it acts).
 *
 * Besides answering operations it keeps time for the cluster: every `tickMs` it fences brokers whose
 * session lapsed, and it keeps the Raft membership in line with the registered brokers (DESIGN.md
 * decision 5): every registered node follows the log as a learner; controller-eligible learners that
 * are unfenced (caught up) are promoted to voters one at a time until the quorum holds
 * `quorumSize`; an unregistered node leaves the group. On the same tick it finishes raising internal
 * topics' replication factor (decision 12; the heartbeat that unfences a broker does the first part),
 * and every `leaderRebalanceIntervalMs` it moves leaderships back to preferred replicas that are in the
 * ISR again (`electPreferredLeaders`), at once again while the bound leaves some.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, type ControllerOptions } from '../../controller/controller.ts';
import { type ControllerOp, runOp } from '../../controller/ops.ts';
import { ControllerQueue } from '../../controller/queue.ts';
import { BrokerError, isBrokerError } from '../../errors.ts';
import type { MetadataRecord } from '../../metadata/records.ts';
import { ConfChangeType, Role } from '../../raft/types.ts';
import type { MetadataLog } from './metadata-log.ts';

/** An operation's answer and the metadata offset a node must reach to see its effect. */
export interface Answered<T> {
  answer: T;
  offset: number;
}

export interface ControllerHostOptions {
  log: MetadataLog;
  controller: Omit<ControllerOptions, 'newTopicId'> & { newTopicId?: () => string };
  /** Voters the metadata quorum should hold (`cluster.controller_quorum_size`). */
  quorumSize: number;
  /** How often to check sessions and membership. @default 250 */
  tickMs?: number;
  /**
   * How often to elect preferred leaders (`cluster.leader_rebalance_interval`); 0 disables it.
   * Kafka's KRaft controller checks every 300 s (`leader.imbalance.check.interval.seconds`); here a
   * restarted node leads its partitions again soon after it has caught up and rejoined their ISR.
   * Checked on the tick, so it is at least `tickMs`. @default 5000
   */
  leaderRebalanceIntervalMs?: number;
  /**
   * Whether the controller balances replicas and leaders across brokers by itself
   * (`cluster.auto_rebalance`); decommissioning moves replicas whatever this says. @default true
   */
  autoRebalance?: boolean;
  /** Most partition moves (reassignments) under way at once (`cluster.rebalance_max_moves`). @default 4 */
  rebalanceMaxMoves?: number;
  /** How often the balancer looks at the cluster. @default 1000 */
  balanceIntervalMs?: number;
  /**
   * How long a broker may go without a heartbeat before the controller checks whether its process is
   * gone (`cluster.heartbeat_interval` plus slack); 0 never checks, leaving crashed brokers to their
   * session timeout. @default 2500
   */
  probeSilenceMs?: number;
  /**
   * Whether something listens at `host:port`: false only when the connection is refused (no process
   * bound there); a timeout or any other failure counts as alive. Injected by tests. @default a TCP connect
   */
  probe?: (host: string, port: number) => Promise<boolean>;
  /**
   * Whether other nodes can reach this controller yet. A node becomes the active controller while it
   * starts, before its gRPC door (where other nodes forward their heartbeats) listens; until
   * `markReachable()`, sessions are renewed rather than checked, so that no broker is fenced for
   * heartbeats it had no way to send. @default true
   */
  reachable?: boolean;
  /**
   * Records to commit once, as the first operation of this node's first term as controller, when the
   * image holds none of their topics (a data directory of the single-node release, migrated).
   */
  migration?: () => MetadataRecord[] | null;
  logger: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  clock?: () => number;
}

/** A TCP connect to `host:port`: false only when it is refused (ECONNREFUSED); bounded by 1 s. */
export function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (alive: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), 1000);
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED'));
  });
}

/** How long a balanced cluster goes without a plan while its metadata does not change. */
const BALANCE_RECHECK_MS = 30_000;

function sameBrokers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}

/** How long a controller hand-over may take: a few election timeouts of the metadata log. */
const TRANSFER_TIMEOUT_MS = 3000;

export class ControllerHost {
  readonly #opts: ControllerHostOptions;
  readonly #log: MetadataLog;
  readonly #clock: () => number;
  #queue: ControllerQueue | null = null;
  /** The term this node became leader in, while it is activating or active. */
  #term = 0;
  #activating: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reconciling = false;
  readonly #rebalanceIntervalMs: number;
  readonly #probeSilenceMs: number;
  readonly #probe: (host: string, port: number) => Promise<boolean>;
  /** Brokers being probed now, and when each was last probed. */
  readonly #probing = new Set<number>();
  readonly #probedAt = new Map<number, number>();
  /** Probe every broker at the next tick, whatever its silence (set on taking over). */
  #probeAll = false;
  #reachable: boolean;
  /** When the next preferred-leader election is due; 0 right away (on taking over, or `more`). */
  #nextRebalanceMs = 0;
  /** When the balancer looks next. */
  #nextBalanceMs = 0;
  /** The metadata offset at which the balancer last found nothing to do, and when; -1: none. */
  #balancedOffset = -1;
  #balancedAtMs = 0;
  #closed = false;
  /** This node's registration has been in the image. */
  #selfRegistered = false;
  #listeners = new Set<(active: boolean) => void>();

  constructor(opts: ControllerHostOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#clock = opts.clock ?? Date.now;
    this.#rebalanceIntervalMs = opts.leaderRebalanceIntervalMs ?? 5000;
    this.#probeSilenceMs = opts.probeSilenceMs ?? 2500;
    this.#probe = opts.probe ?? listening;
    this.#reachable = opts.reachable ?? true;
    if (!Number.isSafeInteger(this.#rebalanceIntervalMs) || this.#rebalanceIntervalMs < 0)
      throw new RangeError(
        `leaderRebalanceIntervalMs must be 0 (off) or a positive integer, got ${this.#rebalanceIntervalMs}`,
      );
    opts.log.onImage((image) => {
      if (image.brokers.has(opts.log.nodeId)) this.#selfRegistered = true;
    });
    this.#timer = setInterval(() => this.#tick(), opts.tickMs ?? 250);
    this.#timer.unref();
  }

  /** Other nodes can reach this controller now (its node's gRPC door listens): sessions count from here. */
  markReachable(): void {
    if (this.#reachable) return;
    this.#reachable = true;
    const queue = this.#queue;
    const now = this.#clock();
    if (queue) queue.run((c) => c.renewSessions(now)).catch(() => this.#recover(queue));
  }

  /** Whether this node is the active controller: it leads Raft and its controller is running. */
  get active(): boolean {
    return this.#queue !== null;
  }

  onActiveChange(fn: (active: boolean) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Told by the metadata log, inside its loop: act after it. */
  leaderChanged(leader: number, term: number): void {
    setImmediate(() => {
      if (this.#closed) return;
      if (leader === this.#log.nodeId) {
        if (this.#term !== term) void this.#activate(term);
      } else this.#deactivate();
    });
  }

  /**
   * Runs one operation; resolves with its answer once its records are committed and applied here.
   * NOT_CONTROLLER when this node is not the active controller (the caller forwards or retries).
   */
  async run<T>(op: ControllerOp): Promise<Answered<T>> {
    if (this.#activating) await this.#activating;
    const queue = this.#queue;
    if (!queue) throw this.#notController();
    if (op.op === 'transferController')
      return { answer: (await this.transferController(op.to)) as T, offset: this.#log.appliedOffset };
    // An operation may refuse with NOT_CONTROLLER itself (AlterPartition with epochs ahead of this
    // controller's); only the queue's own NOT_CONTROLLER (a failed commit, a closed queue) means the
    // controller must be rebuilt, which would also give every broker a fresh session.
    let refused: unknown = null;
    try {
      const answer = (await queue.run((c) => {
        try {
          return runOp(c, op, this.#clock());
        } catch (err) {
          refused = err;
          throw err;
        }
      })) as T;
      const offset = queue.controller.image.provenance.offset;
      if (op.op === 'registerBroker') {
        // A joining node learns from its answer where the quorum's members listen.
        const peers = [...this.#log.image.brokers.values()].flatMap((b) =>
          b.listeners.filter((l) => l.name === 'raft').map((l) => ({ id: b.id, host: l.host, port: l.port })),
        );
        return { answer: { ...(answer as object), peers } as T, offset };
      }
      return { answer, offset };
    } catch (err) {
      if (err !== refused && isBrokerError(err, 'NOT_CONTROLLER')) this.#recover(queue);
      throw err;
    }
  }

  /**
   * Hands the active controller's role to voter `to` (0: the registered, unfenced voter whose log
   * matches most of this one's) by a Raft leadership transfer (thesis 3.10: the target is caught up,
   * then told to campaign at once), and resolves once it leads, within `timeoutMs`. Moving the
   * controller off a node before maintenance costs no election timeout; SIGTERM does it too.
   */
  async transferController(to: number, timeoutMs = TRANSFER_TIMEOUT_MS): Promise<{ controller: number }> {
    const self = this.#log.nodeId;
    if (!this.#log.isLeader) throw this.#notController();
    const voters = this.#log.raft.status().conf.voters;
    if (to === self) return { controller: self };
    let target = to;
    if (to !== 0 && !voters.includes(to))
      throw new BrokerError(
        'INVALID_REQUEST',
        `node ${to} is not a voter of the metadata quorum (the voters are ${voters.join(', ')})`,
      );
    if (to === 0) {
      const image = this.#log.image;
      const match = (id: number) => this.#log.raft.progressOf(id)?.match ?? -1;
      const live = voters
        .filter((id) => id !== self && image.brokers.get(id)?.fenced === false)
        .sort((a, b) => match(b) - match(a) || a - b);
      if (live.length === 0)
        throw new BrokerError(
          'BROKER_NOT_AVAILABLE',
          'no other voter of the metadata quorum is up to take over',
        );
      target = live[0]!;
    }
    this.#log.raft.transferLeadership(target);
    const deadline = this.#clock() + timeoutMs;
    while (this.#clock() < deadline) {
      if (this.#log.leader === target) return { controller: target };
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new BrokerError(
      'REQUEST_TIMED_OUT',
      `node ${target} did not take over the controller within ${timeoutMs} ms (it may be behind or unreachable)`,
    );
  }

  #notController(): BrokerError {
    const leader = this.#log.leader;
    return new BrokerError(
      'NOT_CONTROLLER',
      leader !== 0 && leader !== this.#log.nodeId
        ? `node ${this.#log.nodeId} is not the active controller; node ${leader} is`
        : `node ${this.#log.nodeId} is not the active controller, and no controller is elected yet`,
    );
  }

  async #activate(term: number): Promise<void> {
    this.#term = term;
    const run = (async () => {
      // Every entry of earlier terms is committed and applied once a read barrier passes. A new leader
      // serves none until the empty entry of its own term commits: until then, ask again.
      for (;;) {
        try {
          await this.#log.raft.readBarrier();
          break;
        } catch (err) {
          if (this.#term !== term || this.#closed || this.#log.leader !== this.#log.nodeId) {
            this.#opts.logger.warn(
              { term, err: String(err) },
              'lost the metadata leadership while taking over',
            );
            if (this.#term === term) this.#term = 0;
            return;
          }
          await sleep(10);
        }
      }
      if (this.#term !== term || this.#closed) return;
      const queue = new ControllerQueue(this.#newController(), (records) => this.#log.append(records));
      const legacy = this.#opts.migration?.() ?? null;
      if (legacy && legacy.length > 0) {
        try {
          await queue.run(() => ({ records: legacy, answer: undefined }));
          this.#opts.logger.info(
            { records: legacy.length },
            'migrated the single-node metadata into the metadata log',
          );
        } catch (err) {
          this.#opts.logger.error(
            { err: String(err) },
            'cannot commit the migrated metadata; will retry as controller',
          );
          this.#term = 0;
          return;
        }
      }
      this.#queue = queue;
      this.#nextRebalanceMs = 0;
      // A new controller knows no broker's last heartbeat: it looks for dead ones at once (the old
      // controller's own node among them, when it crashed), rather than after a probe time.
      this.#probeAll = true;
      this.#probedAt.clear();
      this.#opts.logger.info({ term, offset: this.#log.appliedOffset }, 'became the active controller');
      for (const fn of this.#listeners) fn(true);
      this.#tick();
    })();
    this.#activating = run;
    await run;
    if (this.#activating === run) this.#activating = null;
  }

  #newController(): Controller {
    return new Controller(
      this.#log.image,
      { newTopicId: randomUUID, ...this.#opts.controller },
      this.#clock(),
    );
  }

  #deactivate(): void {
    this.#term = 0;
    if (!this.#queue) return;
    this.#queue.close();
    this.#queue = null;
    this.#opts.logger.info({}, 'no longer the active controller');
    for (const fn of this.#listeners) fn(false);
  }

  /**
   * After a failed commit (a refused proposal), the controller's image may be ahead of the log's; when
   * this node still leads, a fresh controller is built from the log's image once the queue is idle.
   */
  #recover(queue: ControllerQueue): void {
    if (this.#queue !== queue) return;
    if (!this.#log.isLeader) {
      this.#deactivate();
      return;
    }
    queue.reset(this.#newController());
  }

  #tick(): void {
    const queue = this.#queue;
    if (this.#closed) return;
    if (!queue) {
      // Leading without a running controller: a take-over that failed (its migration could not
      // commit, say) is tried again, as long as this node still leads.
      const { role, term } = this.#log.raft.status();
      if (role === Role.leader && this.#activating === null && this.#term === 0) void this.#activate(term);
      return;
    }
    if (!this.#reachable) {
      const now = this.#clock();
      if (queue.pending === 0) queue.run((c) => c.renewSessions(now)).catch(() => this.#recover(queue));
      void this.#reconcileMembership();
      return;
    }
    // The tick's operations go in together; the next tick adds more only once these have run.
    const idle = queue.pending === 0;
    if (idle) {
      queue
        .run((c) => c.tick(this.#clock()))
        .then(
          ({ fenced }) => {
            if (fenced.length > 0)
              this.#opts.logger.warn({ brokers: fenced }, 'fenced brokers whose session lapsed');
          },
          () => this.#recover(queue),
        );
      queue
        .run((c) => c.raiseInternalReplication())
        .then(
          ({ raised }) => {
            if (raised > 0)
              this.#opts.logger.info({ partitions: raised }, 'added replicas to internal topics');
          },
          () => this.#recover(queue),
        );
      const nowMs = this.#clock();
      if (this.#rebalanceIntervalMs > 0 && nowMs >= this.#nextRebalanceMs) {
        this.#nextRebalanceMs = nowMs + this.#rebalanceIntervalMs;
        queue
          .run((c) => c.electPreferredLeaders())
          .then(
            ({ moved, more }) => {
              if (more) this.#nextRebalanceMs = 0;
              if (moved > 0)
                this.#opts.logger.info({ partitions: moved }, 'moved leaderships back to preferred replicas');
            },
            () => this.#recover(queue),
          );
      }
    }
    // A plan costs a scan of every partition (about half a second for 10,000): after one that moved
    // nothing, the next waits for a change of the metadata, or half a minute (partition sizes move on).
    const quiet =
      this.#log.image.provenance.offset === this.#balancedOffset &&
      this.#clock() < this.#balancedAtMs + BALANCE_RECHECK_MS;
    if (idle && this.#clock() >= this.#nextBalanceMs && !quiet) {
      this.#nextBalanceMs = this.#clock() + (this.#opts.balanceIntervalMs ?? 1000);
      const offset = this.#log.image.provenance.offset;
      const at = this.#clock();
      const auto = this.#opts.autoRebalance ?? true;
      const maxMoves = this.#opts.rebalanceMaxMoves ?? 4;
      queue
        .run((c) => c.balance({ auto, maxMoves }))
        .then(
          ({ started, removed }) => {
            if (started.length === 0 && removed.length === 0) {
              this.#balancedOffset = offset;
              this.#balancedAtMs = at;
            } else this.#balancedOffset = -1;
            const moves = started.filter((m) => !sameBrokers(m.from, m.to));
            if (moves.length > 0)
              this.#opts.logger.info(
                { moves: moves.map((m) => `${m.topic}-${m.partition}: ${m.from} -> ${m.to}`) },
                'started partition moves to balance the cluster',
              );
            if (started.length > moves.length)
              this.#opts.logger.info(
                { partitions: started.length - moves.length },
                'changed preferred leaders to balance the cluster',
              );
            for (const id of removed)
              this.#opts.logger.info(
                { node: id },
                'node decommissioned: it holds no replicas and left the cluster',
              );
          },
          () => this.#recover(queue),
        );
    }
    this.#probeSilent(queue);
    void this.#reconcileMembership();
  }

  /**
   * Fast failure detection for crashed brokers: a broker silent past `probeSilenceMs` is probed at
   * every address it registered; when every one refuses the connection, no process of it is left, so
   * it is fenced now rather than when its session lapses (9 s by default), and its leaderships move.
   * A paused or slow process (SIGSTOP, a long GC) still has its sockets, whose connections the kernel
   * accepts, and a partitioned one does not refuse: both keep their session. Kafka waits out the
   * session; Redpanda's per-partition Raft fails over in about its election timeout, which this
   * matches for a crash.
   */
  #probeSilent(queue: ControllerQueue): void {
    if (this.#probeSilenceMs <= 0) return;
    const now = this.#clock();
    const silence = this.#probeAll ? 0 : this.#probeSilenceMs;
    this.#probeAll = false;
    for (const id of queue.controller.silentBrokers(now, silence)) {
      if (this.#probing.has(id) || now - (this.#probedAt.get(id) ?? Number.NEGATIVE_INFINITY) < 1000)
        continue;
      const listeners = this.#log.image.brokers.get(id)?.listeners ?? [];
      if (listeners.length === 0) continue;
      this.#probing.add(id);
      this.#probedAt.set(id, now);
      void Promise.all(listeners.map((l) => this.#probe(l.host, l.port)))
        .then(async (alive) => {
          if (alive.some(Boolean) || this.#queue !== queue) return;
          const { fenced } = await queue.run((c) => c.fenceUnreachable(id, now));
          if (fenced)
            this.#opts.logger.warn(
              { broker: id, silentMs: silence },
              'fenced a broker whose process is gone (nothing listens at its addresses)',
            );
        })
        .catch(() => {})
        .finally(() => this.#probing.delete(id));
    }
  }

  /** One membership change at a time, toward: every registered node a member, `quorumSize` voters. */
  async #reconcileMembership(): Promise<void> {
    if (this.#reconciling || !this.#queue) return;
    this.#reconciling = true;
    try {
      const image = this.#log.image;
      const { voters, learners } = this.#log.raft.status().conf;
      const members = new Set([...voters, ...learners]);
      const registered = [...image.brokers.values()].filter((b) =>
        b.listeners.some((l) => l.name === 'raft'),
      );
      const joining = registered.find((b) => !members.has(b.id));
      if (joining) {
        await this.#log.raft.proposeConfChange({ type: ConfChangeType.addLearner, node: joining.id });
        this.#opts.logger.info({ node: joining.id }, 'added a node to the metadata log as a learner');
        return;
      }
      if (voters.length < this.#opts.quorumSize) {
        const next = registered
          .filter((b) => b.controllerEligible && !b.fenced && learners.includes(b.id))
          .sort((a, b) => a.id - b.id)[0];
        if (next) {
          await this.#log.raft.proposeConfChange({ type: ConfChangeType.addVoter, node: next.id });
          this.#opts.logger.info(
            { node: next.id, voters: voters.length + 1 },
            'promoted a node to voter of the metadata quorum',
          );
          return;
        }
      }
      // An unregistered node leaves the group; this node last, once the others are gone (a leader that
      // removes itself hands its role over, raft.ts handOverAfterRemoval).
      // This node counts only once its own registration has been in the log: a new controller that
      // has not registered yet is not a removed one.
      const gone =
        [...members].find((id) => id !== this.#log.nodeId && !image.brokers.has(id)) ??
        (this.#selfRegistered && !image.brokers.has(this.#log.nodeId) ? this.#log.nodeId : undefined);
      if (gone !== undefined && members.has(gone)) {
        await this.#log.raft.proposeConfChange({ type: ConfChangeType.removeNode, node: gone });
        this.#opts.logger.info({ node: gone }, 'removed an unregistered node from the metadata log');
      }
    } catch (err) {
      // Refused while another change is in flight or a learner trails: the next tick tries again.
      const why = String(err);
      if (!/learner-behind|pending|in progress/.test(why))
        this.#opts.logger.warn({ err: why }, 'a metadata quorum change was refused; will retry');
    } finally {
      this.#reconciling = false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#deactivate();
  }
}
