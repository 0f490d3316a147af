/**
 * The replica fetcher (DESIGN.md decision 6; Kafka's ReplicaFetcherManager and AbstractFetcherThread):
 * for each leader this node follows partitions of, one loop on one Kafka connection to the leader's
 * inter-broker listener (`network.data_port`), fetching all of that leader's partitions in one Fetch
 * request (v13: topics by id, so a topic deleted and made again is never fetched under its old id).
 *
 * Each partition sends its log end as the fetch offset, the epoch of its last batch as
 * `lastFetchedEpoch`, and the leader epoch it follows as `currentLeaderEpoch`. The answer, per
 * partition: batches to append as they are (Partition.appendAsFollower, which checks each CRC); a
 * diverging epoch to truncate to (Partition.truncateOnDivergence), then fetch again; an offset the
 * leader no longer has (below its log start: start over there); or an error that waits for the
 * metadata to change (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
 * UNKNOWN_TOPIC_ID: this node or the leader is behind the metadata), retried after a back-off.
 *
 * A follower's next fetch is what tells the leader it has the previous batches, so the loop fetches
 * again as soon as an answer is applied; with nothing new, the leader holds the request up to
 * `maxWaitMs` (`replication.fetch_interval`).
 *
 * Replicas being added by a reassignment (issue 14) copy under one throttle per node
 * (`replication.reassignment_bytes_per_sec`, Kafka's follower.replication.throttled.rate): a token
 * bucket holding at most a tenth of a second's bytes. A throttled partition asks for no more than the
 * bucket holds, what it receives is taken from the bucket (which may go below zero by one answer: a
 * leader sends at least one whole batch), and while the bucket is empty it is left out of the fetch
 * until the bucket refills; the other partitions, those already in sync, fetch as before. Over any
 * interval the throttled bytes stay within the rate plus a tenth of a second's worth and one batch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError } from '../errors.ts';
import type { Message } from '../protocol/kafka/codec.ts';
import { errorName } from '../protocol/kafka/error-codes.ts';
import { KafkaOutbound } from '../protocol/kafka/outbound.ts';
import type { Partition } from './partition.ts';

/** The Fetch version followers send: topic ids (13), the replica id still in the request body (< 15). */
export const replicaFetchVersion = 13;

export interface ReplicaFetcherOptions {
  localId: number;
  /** Where a broker's inter-broker listener is, from its registration; null when it has none yet. */
  endpointOf: (brokerId: number) => { host: string; port: number } | null;
  /** Bytes per partition per fetch (`replication.fetch_batch_size` batches of 16 KiB). */
  partitionMaxBytes: number;
  /** Bytes per fetch response. */
  responseMaxBytes: number;
  /** How long the leader may hold a fetch with nothing new (`replication.fetch_interval`). */
  maxWaitMs: number;
  logger: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Told of each fetch answered, for the metrics. */
  onFetched?: (leaderId: number, bytes: number) => void;
  /** Bytes per second all throttled replicas (those a reassignment adds) may copy; 0: no throttle. */
  throttleBytesPerSec?: number;
}

/** A token bucket of bytes, refilled at `rate` per second up to a tenth of a second's worth. */
export class ByteThrottle {
  readonly rate: number;
  /** The most the bucket holds: the burst above the rate that any interval may see. */
  readonly capacity: number;
  #tokens: number;
  #at: number;
  readonly #clock: () => number;
  /** Bytes taken in all (the throttled replicas' copy, for metrics and benches). */
  taken = 0;

  constructor(rate: number, clock: () => number = Date.now) {
    this.rate = rate;
    this.#clock = clock;
    // At least one byte, so that any rate lets a fetch through (an empty replica catches up by one).
    this.capacity = Math.max(1, rate / 10);
    this.#tokens = this.capacity;
    this.#at = clock();
  }

  #refill(): void {
    const now = this.#clock();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) * this.rate) / 1000);
    this.#at = now;
  }

  /** Bytes that may be asked for now (0 while the bucket is empty). */
  available(): number {
    this.#refill();
    return Math.max(0, Math.floor(this.#tokens));
  }

  /** Milliseconds until the bucket holds at least one byte again. */
  waitMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.rate);
  }

  take(bytes: number): void {
    this.#refill();
    this.#tokens -= bytes;
    this.taken += bytes;
  }
}

interface Fetched {
  partition: Partition;
  /** The leader epoch this replica follows in. */
  leaderEpoch: number;
  /** Not fetched again before this time (after an error). */
  delayedUntil: number;
  /** Copied under the reassignment throttle. */
  throttled: boolean;
}

const errorBackoffMs = 500;
const connectBackoffMs = 250;

export class ReplicaFetcherManager {
  readonly #opts: ReplicaFetcherOptions;
  readonly #fetchers = new Map<number, LeaderFetcher>();
  /** Which leader each partition (`topic-partition`) is fetched from. */
  readonly #leaderOf = new Map<string, number>();
  /** Partitions (`topic-partition`) copied under the throttle. */
  readonly #throttled = new Set<string>();
  /** Shared by every leader's fetcher; null without a throttle. */
  readonly throttle: ByteThrottle | null;
  #closed = false;

  constructor(opts: ReplicaFetcherOptions) {
    this.#opts = opts;
    const rate = opts.throttleBytesPerSec ?? 0;
    this.throttle = rate > 0 ? new ByteThrottle(rate) : null;
  }

  /** Whether `topic-partition` copies under the reassignment throttle (its replica is being added). */
  setThrottled(topic: string, partition: number, throttled: boolean): void {
    const key = `${topic}-${partition}`;
    if (throttled) this.#throttled.add(key);
    else this.#throttled.delete(key);
    const leader = this.#leaderOf.get(key);
    if (leader !== undefined) this.#fetchers.get(leader)?.setThrottled(key, throttled);
  }

  /** Fetches `partition` from `leaderId` in `leaderEpoch` (moving it from another leader's fetcher). */
  follow(partition: Partition, leaderId: number, leaderEpoch: number): void {
    if (this.#closed) return;
    const key = `${partition.topic}-${partition.partition}`;
    const was = this.#leaderOf.get(key);
    if (was !== undefined && was !== leaderId) this.#fetchers.get(was)?.remove(key);
    this.#leaderOf.set(key, leaderId);
    let f = this.#fetchers.get(leaderId);
    if (!f) {
      f = new LeaderFetcher(leaderId, this.#opts, this.throttle, () => {
        this.#fetchers.delete(leaderId);
      });
      this.#fetchers.set(leaderId, f);
    }
    f.add(key, { partition, leaderEpoch, delayedUntil: 0, throttled: this.#throttled.has(key) });
  }

  /** Stops fetching `topic-partition` (it leads now, is offline, or is gone). */
  stop(topic: string, partition: number): void {
    const key = `${topic}-${partition}`;
    const was = this.#leaderOf.get(key);
    if (was === undefined) return;
    this.#leaderOf.delete(key);
    this.#fetchers.get(was)?.remove(key);
  }

  /** The partitions fetched, per leader (metrics, tests). */
  fetching(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, f] of this.#fetchers) out.set(id, f.size);
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#fetchers.values()].map((f) => f.close()));
    this.#fetchers.clear();
    this.#leaderOf.clear();
    this.#throttled.clear();
  }
}

class LeaderFetcher {
  readonly leaderId: number;
  readonly #opts: ReplicaFetcherOptions;
  readonly #partitions = new Map<string, Fetched>();
  readonly #onIdle: () => void;
  #conn: KafkaOutbound | null = null;
  #running: Promise<void> | null = null;
  #closed = false;
  #wake: (() => void) | null = null;
  readonly #throttle: ByteThrottle | null;

  constructor(
    leaderId: number,
    opts: ReplicaFetcherOptions,
    throttle: ByteThrottle | null,
    onIdle: () => void,
  ) {
    this.leaderId = leaderId;
    this.#opts = opts;
    this.#throttle = throttle;
    this.#onIdle = onIdle;
  }

  setThrottled(key: string, throttled: boolean): void {
    const f = this.#partitions.get(key);
    if (f) f.throttled = throttled;
  }

  get size(): number {
    return this.#partitions.size;
  }

  add(key: string, f: Fetched): void {
    this.#partitions.set(key, f);
    this.#wake?.();
    this.#running ??= this.#loop().finally(() => {
      this.#running = null;
    });
  }

  remove(key: string): void {
    this.#partitions.delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#conn?.close();
    this.#wake?.();
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#closed && this.#partitions.size > 0) {
      const now = Date.now();
      const ready = [...this.#partitions.entries()].filter(([, f]) => f.delayedUntil <= now);
      if (ready.length === 0) {
        const next = Math.min(...[...this.#partitions.values()].map((f) => f.delayedUntil));
        await this.#pause(Math.max(1, next - now));
        continue;
      }
      try {
        const conn = await this.#connection();
        if (!conn) {
          await this.#pause(connectBackoffMs);
          continue;
        }
        await this.#fetchOnce(conn, ready);
      } catch (err) {
        if (this.#closed) break;
        this.#conn?.close();
        this.#conn = null;
        this.#opts.logger.warn(
          { leader: this.leaderId, err: String(err) },
          'replica fetch from the leader failed; reconnecting',
        );
        await this.#pause(connectBackoffMs);
      }
    }
    this.#conn?.close();
    this.#conn = null;
    if (this.#partitions.size === 0) this.#onIdle();
  }

  /** Sleeps up to `ms`, or until a partition is added or the fetcher closes. */
  async #pause(ms: number): Promise<void> {
    const ac = new AbortController();
    this.#wake = () => ac.abort();
    try {
      await sleep(ms, undefined, { signal: ac.signal });
    } catch {
      // Woken early.
    } finally {
      this.#wake = null;
    }
  }

  async #connection(): Promise<KafkaOutbound | null> {
    if (this.#conn && !this.#conn.closed) return this.#conn;
    const at = this.#opts.endpointOf(this.leaderId);
    if (!at) return null;
    this.#conn = await KafkaOutbound.connect({
      host: at.host,
      port: at.port,
      clientId: `replica-fetcher-${this.#opts.localId}`,
      inFlightMax: 1,
    });
    return this.#conn;
  }

  async #fetchOnce(conn: KafkaOutbound, ready: [string, Fetched][]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    const sent = new Map<string, { key: string; f: Fetched; fetchOffset: number }>();
    const throttle = this.#throttle;
    // What the throttled partitions of this fetch may ask for between them.
    let allowance = throttle ? throttle.available() : 0;
    for (const [key, f] of ready) {
      const part = f.partition;
      let maxBytes = this.#opts.partitionMaxBytes;
      if (throttle && f.throttled) {
        if (allowance <= 0) {
          f.delayedUntil = Date.now() + Math.max(1, throttle.waitMs());
          continue;
        }
        maxBytes = Math.max(1, Math.min(maxBytes, allowance));
        allowance -= maxBytes;
      }
      let pos: ReturnType<Partition['fetchPosition']>;
      try {
        pos = part.fetchPosition();
      } catch (err) {
        // The log is closed or offline here: try again later.
        f.delayedUntil = Date.now() + errorBackoffMs;
        this.#opts.logger.warn({ partition: key, err: String(err) }, 'cannot fetch into a local replica');
        continue;
      }
      let list = byTopic.get(part.topicId);
      if (!list) {
        list = [];
        byTopic.set(part.topicId, list);
      }
      list.push({
        partition: part.partition,
        currentLeaderEpoch: f.leaderEpoch,
        fetchOffset: pos.fetchOffset,
        lastFetchedEpoch: pos.lastFetchedEpoch,
        logStartOffset: pos.logStartOffset,
        partitionMaxBytes: maxBytes,
      });
      sent.set(`${part.topicId}:${part.partition}`, { key, f, fetchOffset: pos.fetchOffset });
    }
    if (sent.size === 0) return;
    const request = {
      replicaId: this.#opts.localId,
      maxWaitMs: this.#opts.maxWaitMs,
      minBytes: 1,
      maxBytes: this.#opts.responseMaxBytes,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions })),
      forgottenTopicsData: [],
      rackId: '',
    };
    const response = (await conn.request(
      'Fetch',
      replicaFetchVersion,
      request,
      this.#opts.maxWaitMs + 30_000,
    )) as {
      errorCode: number;
      responses: {
        topicId: string;
        partitions: {
          partitionIndex: number;
          errorCode: number;
          highWatermark: bigint | number;
          logStartOffset: bigint | number;
          divergingEpoch?: { epoch: number; endOffset: bigint | number };
          records: Buffer | null;
        }[];
      }[];
    };
    if (response.errorCode !== 0)
      throw new BrokerError(
        'NETWORK_EXCEPTION',
        `the leader answered ${errorName(response.errorCode) ?? response.errorCode}`,
      );
    let bytes = 0;
    for (const t of response.responses) {
      for (const p of t.partitions) {
        const s = sent.get(`${t.topicId}:${p.partitionIndex}`);
        // Removed while the fetch was out, or moved to another leader: its answer is not ours to apply.
        if (!s || this.#partitions.get(s.key) !== s.f) continue;
        const part = s.f.partition;
        try {
          if (p.errorCode !== 0) {
            await this.#onPartitionError(part, s.f, p.errorCode, {
              logStartOffset: Number(p.logStartOffset),
              highWatermark: Number(p.highWatermark),
              fetchOffset: s.fetchOffset,
            });
            continue;
          }
          const diverging = p.divergingEpoch;
          if (diverging && Number(diverging.endOffset) >= 0 && diverging.epoch >= 0) {
            const complete = await part.truncateOnDivergence({
              epoch: diverging.epoch,
              endOffset: Number(diverging.endOffset),
            });
            this.#opts.logger.info(
              {
                partition: s.key,
                leader: this.leaderId,
                divergingEpoch: diverging.epoch,
                endOffset: Number(diverging.endOffset),
                logEndOffset: part.logEndOffset,
                complete,
              },
              'truncated a diverged replica to the leader',
            );
            continue;
          }
          const records = p.records ?? Buffer.alloc(0);
          bytes += records.length;
          if (throttle && s.f.throttled) throttle.take(records.length);
          await part.appendAsFollower(records, Number(p.highWatermark), Number(p.logStartOffset));
        } catch (err) {
          s.f.delayedUntil = Date.now() + errorBackoffMs;
          this.#opts.logger.warn({ partition: s.key, err: String(err) }, 'cannot apply a replica fetch');
        }
      }
    }
    this.#opts.onFetched?.(this.leaderId, bytes);
  }

  async #onPartitionError(
    part: Partition,
    f: Fetched,
    code: number,
    at: { logStartOffset: number; highWatermark: number; fetchOffset: number },
  ): Promise<void> {
    const name = errorName(code);
    const leaderLogStart = at.logStartOffset;
    if (name === 'OFFSET_OUT_OF_RANGE' && leaderLogStart >= 0 && at.fetchOffset < leaderLogStart) {
      // The leader deleted what this replica would fetch next (retention): start over at its log start.
      await part.restartAt(leaderLogStart);
      this.#opts.logger.info(
        { partition: `${part.topic}-${part.partition}`, offset: leaderLogStart },
        'replica restarted at the leader log start offset',
      );
      return;
    }
    if (name === 'OFFSET_OUT_OF_RANGE' && at.highWatermark >= 0 && at.fetchOffset > at.highWatermark) {
      // Past the leader's end with no leader epoch to compare (batches written before epochs were kept):
      // what lies below the leader's high watermark is on every in-sync replica, so keep that much.
      await part.truncateTo(at.highWatermark);
      this.#opts.logger.info(
        { partition: `${part.topic}-${part.partition}`, offset: at.highWatermark },
        'replica past the leader log end truncated to its high watermark',
      );
      return;
    }
    f.delayedUntil = Date.now() + errorBackoffMs;
  }
}
