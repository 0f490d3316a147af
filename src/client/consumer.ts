/**
 * The high-level group consumer: joins a consumer group, heartbeats, follows rebalances, fetches the
 * partitions the broker assigns with long polls, hands records to the caller and commits what was
 * processed. Two ways to consume:
 *
 *   const consumer = client.consumer({ groupId: 'billing', topics: ['orders'], fromBeginning: true });
 *   for await (const m of consumer) handle(m);                     // breaking out closes the consumer
 *
 *   await consumer.run({ eachMessage: async ({ message }) => handle(message) });   // until close()
 *
 * Delivery is at least once. A record counts as processed when `eachMessage` (or `eachBatch`, for the
 * whole batch) resolves, or, in a `for await` loop, when the loop asks for the next record or calls
 * `commit()`. Auto-commit (on by default) commits processed offsets every `autoCommitIntervalMs`,
 * before every rejoin and on close; records processed but not committed when a member dies are
 * delivered again to the partition's next owner, and nothing else is.
 *
 * Rebalances follow Kafka's eager protocol: when a heartbeat says the group is rebalancing (or the
 * broker forgot this member), the consumer stops delivering, drops what it fetched but did not deliver,
 * commits what it processed, rejoins, and starts every assigned partition afresh from its committed
 * offset (else from the log start with `fromBeginning`, or the log end).
 *
 * Dead letters: with `deadLetterQueue: true` (or a `deadLetterTopic`), a handler that throws is retried
 * `maxRetries` times with exponential backoff; then the record is produced, by an idempotent producer,
 * to `<topic>.dlq` (created with one partition if missing) with the headers in `DLQ_HEADERS` added, and
 * it counts as processed, so the group moves on. Without a dead letter queue the error ends `run()`,
 * after the consumer has committed what was processed before it and left the group.
 */
import * as grpc from '@grpc/grpc-js';
import type { RecordHeader } from '../records/batch.ts';
import { BrokerClientError } from './errors.ts';
import type { BrokerClient, ConsumedMessage } from './index.ts';
import { backoffMs, sleep } from './messages.ts';
import type { Producer } from './producer.ts';

/** Headers a dead letter carries besides the original record's own. */
export const DLQ_HEADERS = {
  topic: 'dlq.original.topic',
  partition: 'dlq.original.partition',
  offset: 'dlq.original.offset',
  error: 'dlq.error',
  attempts: 'dlq.attempts',
  failedAt: 'dlq.failed.at',
} as const;

export interface GroupAssignmentEvent {
  memberId: string;
  generationId: number;
  assignments: { topic: string; partitions: number[] }[];
}

export interface ConsumerOptions {
  groupId: string;
  topics: string | string[];
  /** Where a partition without a committed offset starts: its log start (true) or its end. @default false */
  fromBeginning?: boolean;
  /** Commit processed offsets on an interval, before rejoining and on close. @default true */
  autoCommit?: boolean;
  /** @default 5000 */
  autoCommitIntervalMs?: number;
  /** Sent with each join; the broker's default applies when unset. At least 1000. */
  sessionTimeoutMs?: number;
  /** How long the group waits for members to rejoin during a rebalance. @default 60000 */
  rebalanceTimeoutMs?: number;
  /** Assignment strategies in order of preference. @default ['range'] */
  strategies?: ('range' | 'roundrobin')[];
  /** Shown in describe-group. @default '' */
  clientId?: string;
  /** Longest a fetch waits on the broker for new records (long poll). @default 1000 */
  maxWaitMs?: number;
  /** About how many bytes one fetch returns per partition. @default 1048576 */
  maxBytes?: number;
  /** Fetches in flight at once, across partitions. @default 4 */
  maxConcurrentFetches?: number;
  /** Retries of a throwing handler before the record goes to the dead letter topic (or the error ends run). @default 3 */
  maxRetries?: number;
  /** First retry backoff; doubles each retry, with jitter. @default 100 */
  retryBackoffMs?: number;
  /** @default 10000 */
  retryBackoffMaxMs?: number;
  /** Send records whose handler keeps failing to a dead letter topic. @default false, true when deadLetterTopic is set */
  deadLetterQueue?: boolean;
  /** The dead letter topic. @default `${topic}.dlq` */
  deadLetterTopic?: string;
  /** Closes the consumer (gracefully, as close()) when it aborts. */
  signal?: AbortSignal;
  /** Called after each join with this member's partitions, before any of them is fetched. */
  onPartitionsAssigned?: (event: GroupAssignmentEvent) => unknown;
  /** Called before rejoining or leaving, after the last commit of the generation. */
  onPartitionsRevoked?: (event: GroupAssignmentEvent) => unknown;
  /** Called with errors the consumer recovers from by itself (a failed heartbeat or auto-commit). */
  onError?: (err: Error) => void;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: ConsumedMessage;
}

export interface EachBatchPayload {
  topic: string;
  partition: number;
  messages: ConsumedMessage[];
  /** The partition's high watermark when the batch was fetched. */
  highWatermark: number;
}

export interface RunOptions {
  eachMessage?: (payload: EachMessagePayload) => unknown;
  /** Takes precedence over eachMessage; the whole batch is processed (or dead-lettered) together. */
  eachBatch?: (payload: EachBatchPayload) => unknown;
}

interface PartitionState {
  topic: string;
  partition: number;
  /** The next offset to fetch. */
  fetchOffset: number;
  /** The offset after the last record handed to the application. */
  nextDeliver: number;
  /** The offset after the last processed record: what a commit stores. */
  processed: number;
  /** The last offset committed (or read from the broker at assignment). */
  committed: number;
  paused: boolean;
  /** Bumped by seek and pause so that answers of fetches sent before are dropped. */
  epoch: number;
  fetching: boolean;
  /** A fetched batch waits in the ready queue. */
  queued: boolean;
}

interface Fetched {
  ps: PartitionState;
  epoch: number;
  records: ConsumedMessage[];
  highWatermark: number;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Errors of a member whose membership is over: rejoin. */
const MEMBERSHIP_LOST = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID']);

class Stopped extends Error {}

export class Consumer implements AsyncIterable<ConsumedMessage> {
  readonly client: BrokerClient;
  readonly groupId: string;
  readonly topics: string[];
  readonly options: Required<
    Omit<
      ConsumerOptions,
      | 'groupId'
      | 'topics'
      | 'signal'
      | 'sessionTimeoutMs'
      | 'deadLetterTopic'
      | 'onPartitionsAssigned'
      | 'onPartitionsRevoked'
      | 'onError'
    >
  > &
    Pick<
      ConsumerOptions,
      'sessionTimeoutMs' | 'deadLetterTopic' | 'onPartitionsAssigned' | 'onPartitionsRevoked' | 'onError'
    >;

  #memberId = '';
  #generationId = -1;
  #assignments: { topic: string; partitions: number[] }[] = [];
  #partitions = new Map<string, PartitionState>();
  #needJoin = true;
  #ready: Fetched[] = [];
  #inFlight = 0;
  /** Where #startFetches starts looking: after the partition it started last. */
  #fetchCursor = 0;
  /** Aborts this generation's long polls when the consumer must rejoin or close. */
  #fetchAbort = new AbortController();
  /** Aborts sleeps and joins when the consumer closes. */
  #closeAbort = new AbortController();
  #wake: (() => void) | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #heartbeatToken = 0;
  #heartbeatIntervalMs = 3000;
  #commits: Promise<void> = Promise.resolve();
  #lastCommitAt = Date.now();
  /** The record a `for await` loop or a handler is holding (the last of an eachBatch), which commit() counts as processed. */
  #current: { ps: PartitionState; offset: number } | null = null;
  #mode: 'idle' | 'iterator' | 'run' = 'idle';
  #closing = false;
  #fatal: Error | null = null;
  #finished: Promise<void> | null = null;
  #done = Promise.withResolvers<void>();
  #dlqProducer: Producer | null = null;
  #dlqTopics = new Map<string, Promise<void>>();

  constructor(client: BrokerClient, opts: ConsumerOptions) {
    this.client = client;
    this.groupId = opts.groupId;
    this.topics = Array.isArray(opts.topics) ? [...opts.topics] : [opts.topics];
    this.options = {
      fromBeginning: opts.fromBeginning ?? false,
      autoCommit: opts.autoCommit ?? true,
      autoCommitIntervalMs: opts.autoCommitIntervalMs ?? 5000,
      sessionTimeoutMs: opts.sessionTimeoutMs,
      rebalanceTimeoutMs: opts.rebalanceTimeoutMs ?? 60_000,
      strategies: opts.strategies ?? ['range'],
      clientId: opts.clientId ?? '',
      maxWaitMs: opts.maxWaitMs ?? 1000,
      maxBytes: opts.maxBytes ?? 1024 * 1024,
      maxConcurrentFetches: opts.maxConcurrentFetches ?? 4,
      maxRetries: opts.maxRetries ?? 3,
      retryBackoffMs: opts.retryBackoffMs ?? 100,
      retryBackoffMaxMs: opts.retryBackoffMaxMs ?? 10_000,
      deadLetterQueue: opts.deadLetterQueue ?? opts.deadLetterTopic !== undefined,
      deadLetterTopic: opts.deadLetterTopic,
      onPartitionsAssigned: opts.onPartitionsAssigned,
      onPartitionsRevoked: opts.onPartitionsRevoked,
      onError: opts.onError,
    };
    const o = this.options;
    if (!this.groupId) throw invalid('groupId must not be empty');
    if (this.topics.length === 0 || this.topics.some((t) => !t))
      throw invalid('topics must name at least one topic');
    if (o.sessionTimeoutMs !== undefined && !(o.sessionTimeoutMs >= 1000))
      throw invalid('sessionTimeoutMs must be at least 1000');
    if (!(o.rebalanceTimeoutMs >= 1000)) throw invalid('rebalanceTimeoutMs must be at least 1000');
    if (!(o.autoCommitIntervalMs > 0)) throw invalid('autoCommitIntervalMs must be positive');
    if (!(o.maxWaitMs >= 0 && o.maxWaitMs <= 300_000))
      throw invalid('maxWaitMs must be between 0 and 300000');
    if (!(Number.isInteger(o.maxConcurrentFetches) && o.maxConcurrentFetches >= 1))
      throw invalid('maxConcurrentFetches must be an integer of at least 1');
    if (!(Number.isInteger(o.maxRetries) && o.maxRetries >= 0))
      throw invalid('maxRetries must be an integer >= 0');
    if (opts.signal) {
      if (opts.signal.aborted) this.#closing = true;
      else opts.signal.addEventListener('abort', () => void this.close().catch(() => {}), { once: true });
    }
  }

  /** This member's id and generation (empty and -1 before the first join). */
  get membership(): { memberId: string; generationId: number } {
    return { memberId: this.#memberId, generationId: this.#generationId };
  }

  /** The partitions assigned in the current generation. */
  assignment(): { topic: string; partitions: number[] }[] {
    return this.#assignments.map((a) => ({ topic: a.topic, partitions: [...a.partitions] }));
  }

  // ---------------------------------------------------------------- consuming

  /** Records one at a time. Breaking out of the loop closes the consumer (committing, leaving). */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedMessage> {
    this.#start('iterator');
    try {
      for await (const f of this.#fetched()) {
        for (const m of f.records) {
          if (!this.#deliverable(f, m)) break;
          this.#current = { ps: f.ps, offset: m.offset };
          f.ps.nextDeliver = m.offset + 1;
          yield m;
          this.#current = null;
          f.ps.processed = Math.max(f.ps.processed, m.offset + 1);
          await this.#maybeAutoCommit();
        }
      }
    } finally {
      this.#current = null;
      await this.#shutdown();
    }
  }

  /** Consumes with `eachMessage` or `eachBatch` until close() (or the signal); rejects on a fatal error. */
  async run(handlers: RunOptions): Promise<void> {
    if (!handlers.eachMessage && !handlers.eachBatch) throw invalid('run needs eachMessage or eachBatch');
    this.#start('run');
    try {
      for await (const f of this.#fetched()) {
        if (handlers.eachBatch) {
          const messages = f.records;
          if (!this.#deliverable(f, messages[0])) continue;
          f.ps.nextDeliver = messages.at(-1)!.offset + 1;
          this.#current = { ps: f.ps, offset: messages.at(-1)!.offset };
          const done = await this.#process(messages, () =>
            handlers.eachBatch!({
              topic: f.ps.topic,
              partition: f.ps.partition,
              messages,
              highWatermark: f.highWatermark,
            }),
          );
          this.#current = null;
          if (!done) break;
          f.ps.processed = Math.max(f.ps.processed, messages.at(-1)!.offset + 1);
          await this.#maybeAutoCommit();
          continue;
        }
        for (const m of f.records) {
          if (!this.#deliverable(f, m)) break;
          f.ps.nextDeliver = m.offset + 1;
          this.#current = { ps: f.ps, offset: m.offset };
          const done = await this.#process([m], () =>
            handlers.eachMessage!({ topic: m.topic, partition: m.partition, message: m }),
          );
          this.#current = null;
          if (!done) break;
          f.ps.processed = Math.max(f.ps.processed, m.offset + 1);
          await this.#maybeAutoCommit();
        }
      }
    } finally {
      this.#current = null;
      await this.#shutdown();
    }
  }

  #start(mode: 'iterator' | 'run'): void {
    if (this.#mode !== 'idle') throw invalid(`the consumer is already consuming (${this.#mode})`);
    if (this.#finished) throw invalid('the consumer is closed');
    this.#mode = mode;
  }

  /** Whether `m` of a fetched batch may still be handed out, else drops the rest of the batch. */
  #deliverable(f: Fetched, m: ConsumedMessage): boolean {
    const ps = f.ps;
    if (this.#closing || this.#needJoin) return false;
    if (this.#partitions.get(tpKey(ps.topic, ps.partition)) !== ps || ps.epoch !== f.epoch) return false;
    if (ps.paused) {
      // Fetch again from here on resume.
      ps.fetchOffset = m.offset;
      ps.epoch++;
      return false;
    }
    return true;
  }

  /**
   * Runs a handler with retries; then dead-letters the records when that is configured. Resolves
   * false when the consumer is closing during retries (the records stay unprocessed).
   */
  async #process(records: ConsumedMessage[], handler: () => unknown): Promise<boolean> {
    const o = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        await handler();
        return true;
      } catch (err) {
        if (attempt <= o.maxRetries) {
          try {
            await sleep(
              backoffMs(attempt - 1, o.retryBackoffMs, o.retryBackoffMaxMs),
              this.#closeAbort.signal,
            );
          } catch {
            return false;
          }
          continue;
        }
        if (!o.deadLetterQueue) throw err;
        await this.#deadLetter(records, err, attempt);
        return true;
      }
    }
  }

  async #deadLetter(records: ConsumedMessage[], err: unknown, attempts: number): Promise<void> {
    this.#dlqProducer ??= this.client.producer({ idempotent: true });
    const failedAt = new Date().toISOString();
    const error = err instanceof Error ? err.message : String(err);
    for (const m of records) {
      const topic = this.options.deadLetterTopic ?? `${m.topic}.dlq`;
      await this.#ensureDlqTopic(topic);
      const headers: RecordHeader[] = [
        ...m.headers,
        { key: DLQ_HEADERS.topic, value: Buffer.from(m.topic) },
        { key: DLQ_HEADERS.partition, value: Buffer.from(String(m.partition)) },
        { key: DLQ_HEADERS.offset, value: Buffer.from(String(m.offset)) },
        { key: DLQ_HEADERS.error, value: Buffer.from(error) },
        { key: DLQ_HEADERS.attempts, value: Buffer.from(String(attempts)) },
        { key: DLQ_HEADERS.failedAt, value: Buffer.from(failedAt) },
      ];
      await this.#dlqProducer.send(topic, { key: m.key, value: m.value, headers, timestamp: m.timestamp });
    }
  }

  #ensureDlqTopic(topic: string): Promise<void> {
    let p = this.#dlqTopics.get(topic);
    if (!p) {
      p = this.client.describeTopic(topic).then(
        () => undefined,
        async (err: BrokerClientError) => {
          if (err.grpcCode !== grpc.status.NOT_FOUND) throw err;
          await this.client.createTopic(topic, { partitions: 1 }).catch((e: BrokerClientError) => {
            if (e.code !== 'TOPIC_ALREADY_EXISTS') throw e;
          });
        },
      );
      p.catch(() => this.#dlqTopics.delete(topic));
      this.#dlqTopics.set(topic, p);
    }
    return p;
  }

  /** Fetched batches of the current generation, joining and rejoining as needed, until close. */
  async *#fetched(): AsyncGenerator<Fetched> {
    while (!this.#closing) {
      if (this.#fatal) throw this.#fatal;
      if (this.#needJoin) {
        try {
          await this.#rejoin();
        } catch (err) {
          if (err instanceof Stopped) return;
          throw err;
        }
        continue;
      }
      this.#startFetches();
      const next = this.#ready.shift();
      if (next) {
        next.ps.queued = false;
        if (
          next.epoch === next.ps.epoch &&
          this.#partitions.get(tpKey(next.ps.topic, next.ps.partition)) === next.ps
        )
          yield next;
        continue;
      }
      await this.#maybeAutoCommit();
      await this.#sleepUntilWoken(this.options.autoCommitIntervalMs);
    }
  }

  #sleepUntilWoken(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  #poke(): void {
    this.#wake?.();
  }

  /**
   * Starts long polls on owned, unpaused partitions that have none, up to maxConcurrentFetches, taking
   * the partitions in turn from where the last call stopped: starting from the first each time would
   * give a freed slot back to the partition that just finished, so that with more partitions than
   * slots the last ones were never fetched once the first ones were drained and long-polling.
   */
  #startFetches(): void {
    const all = [...this.#partitions.values()];
    const from = this.#fetchCursor;
    for (let i = 0; i < all.length; i++) {
      if (this.#inFlight >= this.options.maxConcurrentFetches) return;
      const at = (from + i) % all.length;
      const ps = all[at];
      if (ps.paused || ps.fetching || ps.queued) continue;
      this.#fetchCursor = at + 1;
      void this.#fetch(ps);
    }
  }

  async #fetch(ps: PartitionState): Promise<void> {
    ps.fetching = true;
    this.#inFlight++;
    const epoch = ps.epoch;
    const signal = this.#fetchAbort.signal;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await this.client.consumeBatch(ps.topic, ps.fetchOffset, {
            partition: ps.partition,
            maxWaitMs: this.options.maxWaitMs,
            maxBytes: this.options.maxBytes,
            signal,
          });
          if (epoch !== ps.epoch) return;
          ps.fetchOffset = Math.max(ps.fetchOffset, r.nextOffset);
          if (r.records.length > 0) {
            ps.queued = true;
            this.#ready.push({ ps, epoch, records: r.records, highWatermark: r.highWatermark });
          }
          return;
        } catch (err) {
          if (signal.aborted || epoch !== ps.epoch) return;
          const e = err as BrokerClientError;
          if (e.code === 'OFFSET_OUT_OF_RANGE') {
            // The committed or fetched position left the log (retention, or a log truncated by a crash):
            // start again where a partition without a committed offset would (Kafka's auto.offset.reset).
            const reset = await this.#resetOffset(ps.topic, ps.partition, signal);
            if (epoch !== ps.epoch) return;
            ps.fetchOffset = reset;
            // Forward only: committed offsets never go backwards on their own.
            if (reset > ps.processed) ps.processed = ps.nextDeliver = reset;
            continue;
          }
          if (!e.retriable) {
            // A deleted topic, a closed client: nothing a retry cures, so consuming ends with it.
            this.#fatal ??= e;
            return;
          }
          this.options.onError?.(e);
          await sleep(
            backoffMs(attempt, this.client.options.retryBackoffMs, this.client.options.retryBackoffMaxMs),
            signal,
          );
        }
      }
    } catch {
      // Aborted: the generation ended or the consumer closes.
    } finally {
      ps.fetching = false;
      this.#inFlight--;
      this.#poke();
    }
  }

  async #resetOffset(topic: string, partition: number, signal?: AbortSignal): Promise<number> {
    const info = (await this.client.describeTopic(topic, { signal })).partitionInfo.find(
      (p) => p.partition === partition,
    );
    if (!info) return 0;
    return this.options.fromBeginning ? info.logStartOffset : info.highWatermark;
  }

  // ---------------------------------------------------------------- membership

  async #rejoin(): Promise<void> {
    this.#stopHeartbeats();
    this.#fetchAbort.abort();
    this.#ready = [];
    if (this.#generationId >= 0) {
      if (this.#memberId && this.options.autoCommit) await this.#commitQuietly();
      await this.options.onPartitionsRevoked?.(this.#event());
    }
    this.#partitions = new Map();
    this.#assignments = [];
    const signal = this.#closeAbort.signal;
    for (let attempt = 0; ; attempt++) {
      if (this.#closing) throw new Stopped();
      this.#needJoin = false;
      try {
        const r = await this.client.joinConsumerGroup(this.groupId, this.topics, {
          memberId: this.#memberId,
          strategies: this.options.strategies,
          sessionTimeoutMs: this.options.sessionTimeoutMs,
          rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
          clientId: this.options.clientId,
          signal,
        });
        this.#memberId = r.memberId;
        this.#generationId = r.generationId;
        this.#assignments = r.assignments.filter((a) => a.partitions.length > 0);
        // Heartbeat often enough for our own session timeout too, not only the broker's default.
        this.#heartbeatIntervalMs = Math.max(
          50,
          Math.min(r.heartbeatIntervalMs, (this.options.sessionTimeoutMs ?? Number.POSITIVE_INFINITY) / 3),
        );
        break;
      } catch (err) {
        if (this.#closing) throw new Stopped();
        const e = err as BrokerClientError;
        if (e.code === 'UNKNOWN_MEMBER_ID' || e.code === 'FENCED_INSTANCE_ID') this.#memberId = '';
        else if (e.code === 'REBALANCE_IN_PROGRESS') {
          // Superseded or interrupted join: join again at once.
        } else if (!e.retriable) throw e;
        else {
          this.options.onError?.(e);
          await sleep(
            backoffMs(attempt, this.client.options.retryBackoffMs, this.client.options.retryBackoffMaxMs),
            signal,
          ).catch(() => {});
        }
      }
    }
    this.#fetchAbort = new AbortController();
    this.#startHeartbeats();
    try {
      await this.#initPositions();
    } catch (err) {
      if (this.#closing) throw new Stopped();
      const e = err as BrokerClientError;
      if (!e.retriable) throw e;
      // Try the whole join again; the commits of this generation are none yet.
      this.options.onError?.(e);
      this.#needJoin = true;
      return;
    }
    this.#lastCommitAt = Date.now();
    await this.options.onPartitionsAssigned?.(this.#event());
  }

  async #initPositions(): Promise<void> {
    const wanted = this.#assignments;
    const partitions = new Map<string, PartitionState>();
    if (wanted.length === 0) {
      this.#partitions = partitions;
      return;
    }
    const committed = await this.client.fetchOffsets(this.groupId, wanted, {
      signal: this.#fetchAbort.signal,
    });
    const byKey = new Map(committed.map((c) => [tpKey(c.topic, c.partition), c.offset]));
    const ends = new Map<string, { start: number; end: number }>();
    for (const a of wanted) {
      if (a.partitions.every((p) => (byKey.get(tpKey(a.topic, p)) ?? -1) >= 0)) continue;
      const info = await this.client.describeTopic(a.topic, { signal: this.#fetchAbort.signal });
      for (const p of info.partitionInfo)
        ends.set(tpKey(a.topic, p.partition), { start: p.logStartOffset, end: p.highWatermark });
    }
    for (const a of wanted) {
      for (const p of a.partitions) {
        const key = tpKey(a.topic, p);
        const c = byKey.get(key) ?? -1;
        const bounds = ends.get(key) ?? { start: 0, end: 0 };
        const start = c >= 0 ? c : this.options.fromBeginning ? bounds.start : bounds.end;
        partitions.set(key, {
          topic: a.topic,
          partition: p,
          fetchOffset: start,
          nextDeliver: start,
          processed: start,
          committed: c,
          paused: false,
          epoch: 0,
          fetching: false,
          queued: false,
        });
      }
    }
    this.#partitions = partitions;
  }

  #event(): GroupAssignmentEvent {
    return { memberId: this.#memberId, generationId: this.#generationId, assignments: this.assignment() };
  }

  #requestRejoin(): void {
    if (this.#needJoin) return;
    this.#needJoin = true;
    this.#fetchAbort.abort();
    this.#poke();
  }

  #startHeartbeats(): void {
    const token = ++this.#heartbeatToken;
    const beat = async () => {
      if (token !== this.#heartbeatToken) return;
      try {
        const rejoin = await this.client.heartbeat(this.groupId, this.#memberId, this.#generationId, {
          signal: this.#closeAbort.signal,
          timeoutMs: Math.max(1000, this.#heartbeatIntervalMs * 2),
        });
        if (rejoin && token === this.#heartbeatToken) this.#requestRejoin();
      } catch (err) {
        const e = err as BrokerClientError;
        if (token === this.#heartbeatToken && MEMBERSHIP_LOST.has(e.code)) {
          if (e.code !== 'ILLEGAL_GENERATION') this.#memberId = '';
          this.#requestRejoin();
        } else if (token === this.#heartbeatToken && !this.#closing) this.options.onError?.(e);
      }
      if (token === this.#heartbeatToken && !this.#closing) {
        this.#heartbeatTimer = setTimeout(beat, this.#heartbeatIntervalMs);
        this.#heartbeatTimer.unref();
      }
    };
    this.#heartbeatTimer = setTimeout(beat, this.#heartbeatIntervalMs);
    this.#heartbeatTimer.unref();
  }

  #stopHeartbeats(): void {
    this.#heartbeatToken++;
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = null;
  }

  // ---------------------------------------------------------------- commits

  /**
   * Commits the processed offset of every owned partition (called from a handler or a `for await`
   * loop, including the records being handled), or exactly `offsets` (each the next offset to consume). Throws when the broker
   * refuses, e.g. ILLEGAL_GENERATION after a rebalance took the partitions away.
   */
  async commit(offsets?: { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (this.#current) {
      const c = this.#current;
      c.ps.processed = Math.max(c.ps.processed, c.offset + 1);
    }
    await this.#commit(offsets);
  }

  #commit(explicit?: { topic: string; partition: number; offset: number }[]): Promise<void> {
    // One commit at a time, so that an older commit never lands after a newer one.
    const run = this.#commits.then(async () => {
      if (!this.#memberId) return;
      const states = [...this.#partitions.values()];
      const offsets =
        explicit ??
        states
          .filter((ps) => ps.processed > ps.committed)
          .map((ps) => ({ topic: ps.topic, partition: ps.partition, offset: ps.processed }));
      if (offsets.length === 0) return;
      this.#lastCommitAt = Date.now();
      await this.client.commitOffsets(this.groupId, offsets, {
        memberId: this.#memberId,
        generationId: this.#generationId,
      });
      for (const o of offsets) {
        const ps = this.#partitions.get(tpKey(o.topic, o.partition));
        if (ps && states.includes(ps)) ps.committed = o.offset;
      }
    });
    this.#commits = run.catch(() => {});
    return run;
  }

  /** Commits, reporting a refusal instead of throwing: the records will simply be delivered again. */
  async #commitQuietly(): Promise<void> {
    try {
      await this.#commit();
    } catch (err) {
      const e = err as BrokerClientError;
      if (MEMBERSHIP_LOST.has(e.code) || e.code === 'REBALANCE_IN_PROGRESS') this.#requestRejoin();
      this.options.onError?.(e);
    }
  }

  async #maybeAutoCommit(): Promise<void> {
    if (!this.options.autoCommit || Date.now() - this.#lastCommitAt < this.options.autoCommitIntervalMs)
      return;
    await this.#commitQuietly();
  }

  // ---------------------------------------------------------------- positions

  /** Consumes `topic`-`partition` from `offset` next (this member must own it). */
  seek(topic: string, partition: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw invalid(`offset must be an integer >= 0, got ${offset}`);
    const ps = this.#partitions.get(tpKey(topic, partition));
    if (!ps) throw invalid(`${topic}-${partition} is not assigned to this member`);
    ps.fetchOffset = offset;
    ps.nextDeliver = offset;
    ps.processed = offset;
    ps.epoch++;
    this.#poke();
  }

  /** Stops fetching and delivering these partitions (all of a topic when `partitions` is omitted). */
  pause(topicPartitions: { topic: string; partitions?: number[] }[]): void {
    for (const ps of this.#select(topicPartitions)) {
      if (!ps.paused) {
        ps.paused = true;
        // Drop an answer already fetched; delivery resumes at the first record not yet handed out.
        ps.fetchOffset = ps.nextDeliver;
        ps.epoch++;
      }
    }
  }

  resume(topicPartitions: { topic: string; partitions?: number[] }[]): void {
    for (const ps of this.#select(topicPartitions)) ps.paused = false;
    this.#poke();
  }

  /** Partitions paused now. */
  paused(): { topic: string; partition: number }[] {
    return [...this.#partitions.values()]
      .filter((ps) => ps.paused)
      .map((ps) => ({ topic: ps.topic, partition: ps.partition }));
  }

  #select(tps: { topic: string; partitions?: number[] }[]): PartitionState[] {
    return [...this.#partitions.values()].filter((ps) =>
      tps.some(
        (t) => t.topic === ps.topic && (t.partitions === undefined || t.partitions.includes(ps.partition)),
      ),
    );
  }

  // ---------------------------------------------------------------- closing

  /**
   * Stops after the record being handled, commits what was processed (with autoCommit), leaves the
   * group and resolves. The client stays open.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#fetchAbort.abort();
    this.#poke();
    // A `for await` loop holding a record may be the caller: shut down now rather than wait for the
    // loop, which ends when it asks for the next record.
    if (this.#mode === 'idle' || (this.#mode === 'iterator' && this.#current)) return this.#shutdown();
    // The loop stops after the record being handled and shuts down; wait for that.
    await this.#done.promise;
  }

  #shutdown(): Promise<void> {
    this.#finished ??= (async () => {
      this.#closing = true;
      this.#fetchAbort.abort();
      this.#stopHeartbeats();
      try {
        if (this.#generationId >= 0) {
          if (this.#memberId && this.options.autoCommit) await this.#commitQuietly();
          await this.options.onPartitionsRevoked?.(this.#event());
        }
        if (this.#memberId) await this.client.leaveGroup(this.groupId, this.#memberId).catch(() => {});
      } finally {
        this.#closeAbort.abort();
        await this.#dlqProducer?.close();
        this.#memberId = '';
        this.#partitions = new Map();
        this.#assignments = [];
        this.#done.resolve();
      }
    })();
    return this.#finished;
  }
}

function invalid(message: string): BrokerClientError {
  return new BrokerClientError(message, 'INVALID_REQUEST', grpc.status.INVALID_ARGUMENT, false);
}
