/**
 * A producer over `BrokerClient`, optionally idempotent (Kafka's enable.idempotence, KIP-98).
 *
 *   const producer = client.producer({ idempotent: true, compression: 'zstd' });
 *   await producer.send('orders', { key: 'customer-7', value: JSON.stringify(order) });
 *   await producer.close();
 *
 * An idempotent producer asks the broker for a producer id and epoch once, keeps a sequence number per
 * topic-partition, and stamps each batch with them. A retried batch carries the very same bytes (same
 * sequence), so the broker recognises it among the last five of that producer and answers with the
 * original offsets instead of storing it twice: a produce whose answer was lost is retried without a
 * duplicate. A sequence advances only when its batch is acknowledged, and batches to one partition are
 * sent one after another, which keeps their order.
 *
 * When the broker answers OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH,
 * or a batch is still unacknowledged when `deliveryTimeoutMs` runs out, the producer can no longer tell
 * which of its batches are stored, so it fails: that send and every later one reject with the error
 * (code IDEMPOTENT_PRODUCER_FAILED, the broker's code in `cause`). Create a new producer to go on; it
 * gets a new producer id. This is Kafka's behaviour before KIP-360 and keeps "never a duplicate" simple
 * to reason about.
 */
import * as grpc from '@grpc/grpc-js';
import { encodeBatchAsync } from '../records/batch.ts';
import { COMPRESSION, type CompressionName } from '../records/compression.ts';
import { BrokerClientError } from './errors.ts';
import type { BrokerClient } from './index.ts';
import {
  backoffMs,
  groupByPartition,
  type Message,
  sleep,
  toBuffer,
  toHeaders,
  type Value,
} from './messages.ts';

export interface ProducerOptions {
  /** Stamp batches with a producer id and sequences so that retries never duplicate. @default false */
  idempotent?: boolean;
  /** 0, 1 or -1 (all). An idempotent producer needs -1 or 1. @default -1 */
  acks?: 0 | 1 | -1;
  /** Codec of the batches sent. @default 'none' */
  compression?: CompressionName;
  /** How long an idempotent send keeps retrying retriable failures before the producer fails. @default 120000 */
  deliveryTimeoutMs?: number;
}

export interface SendOptions {
  partition?: number;
  signal?: AbortSignal;
}

export interface SendResult {
  topic: string;
  partition: number;
  baseOffset: number;
  count: number;
}

const SEQUENCE_MAX = 2147483647;
/** Broker answers after which the producer cannot know which of its batches are stored. */
const FATAL_CODES = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

export class Producer {
  readonly client: BrokerClient;
  readonly idempotent: boolean;
  readonly acks: 0 | 1 | -1;
  readonly compression: CompressionName;
  readonly deliveryTimeoutMs: number;
  #identity: Promise<{ producerId: number; producerEpoch: number }> | null = null;
  #sequences = new Map<string, number>();
  /** The tail of each partition's queue: batches to one partition go one at a time, in order. */
  #queues = new Map<string, Promise<unknown>>();
  #partitionCounts = new Map<string, number>();
  #sticky = new Map<string, number>();
  #inFlight = new Set<Promise<unknown>>();
  #failed: BrokerClientError | null = null;
  #closed = false;

  constructor(client: BrokerClient, opts: ProducerOptions = {}) {
    this.client = client;
    this.idempotent = opts.idempotent ?? false;
    this.acks = opts.acks ?? -1;
    this.compression = opts.compression ?? 'none';
    this.deliveryTimeoutMs = opts.deliveryTimeoutMs ?? 120_000;
    if (![0, 1, -1].includes(this.acks)) throw invalid(`acks must be 0, 1 or -1, got ${this.acks}`);
    if (this.idempotent && this.acks === 0)
      throw invalid('an idempotent producer needs acks 1 or -1: with acks 0 it never learns what is stored');
    if (!(this.compression in COMPRESSION))
      throw invalid(`compression must be one of ${Object.keys(COMPRESSION).join(', ')}`);
    if (!(this.deliveryTimeoutMs > 0)) throw invalid('deliveryTimeoutMs must be positive');
  }

  /** The producer id and epoch, once the first idempotent send has obtained them. */
  async identity(): Promise<{ producerId: number; producerEpoch: number } | null> {
    return this.#identity ? await this.#identity : null;
  }

  /** Sends one record; resolves with where it was stored. */
  async send(
    topic: string,
    value: Value | Message,
    opts: SendOptions = {},
  ): Promise<{ topic: string; partition: number; offset: number }> {
    const r = await this.sendBatch(topic, [value], opts);
    return { topic, partition: r.results[0].partition, offset: r.results[0].baseOffset };
  }

  /**
   * Sends records: keyed ones to murmur2(key) mod partitions, unkeyed ones to one partition per call
   * (round-robin across calls), or all to `partition`; one batch per partition.
   */
  async sendBatch(
    topic: string,
    messages: (Value | Message)[],
    opts: SendOptions = {},
  ): Promise<{ count: number; results: SendResult[] }> {
    if (this.#closed)
      throw new BrokerClientError('producer is closed', 'CANCELLED', grpc.status.CANCELLED, false);
    if (this.#failed) throw this.#failed;
    if (messages.length === 0) throw invalid('sendBatch needs at least one message');
    const work = this.#sendBatch(topic, messages, opts);
    this.#inFlight.add(work);
    try {
      return await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #sendBatch(
    topic: string,
    messages: (Value | Message)[],
    opts: SendOptions,
  ): Promise<{ count: number; results: SendResult[] }> {
    if (!this.idempotent) {
      const r = await this.client.produceBatch(topic, messages, {
        acks: this.acks,
        compression: this.compression,
        partition: opts.partition,
        signal: opts.signal,
      });
      const results = r.results.map((x) => ({ topic, ...x }));
      return { count: r.count, results };
    }
    const groups = await this.#route(topic, messages, opts);
    const results = await Promise.all(
      [...groups.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([partition, group]) => this.#enqueue(topic, partition, group, opts.signal)),
    );
    return { count: results.reduce((n, r) => n + r.count, 0), results };
  }

  async #route(
    topic: string,
    messages: (Value | Message)[],
    opts: SendOptions,
  ): Promise<Map<number, Message[]>> {
    let partitions = this.#partitionCounts.get(topic);
    if (partitions === undefined) {
      partitions = (await this.client.describeTopic(topic, { signal: opts.signal })).partitions;
      this.#partitionCounts.set(topic, partitions);
    }
    const groups = groupByPartition(messages, partitions, opts.partition, () => {
      const n = this.#sticky.get(topic) ?? 0;
      this.#sticky.set(topic, n + 1);
      return n;
    });
    return groups;
  }

  /** Queues one partition's batch behind that partition's earlier ones. */
  #enqueue(topic: string, partition: number, messages: Message[], signal?: AbortSignal): Promise<SendResult> {
    const key = `${topic}\u0000${partition}`;
    const prev = this.#queues.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.#sendIdempotent(topic, partition, messages, signal));
    const tail = next.catch(() => {});
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return next;
  }

  async #sendIdempotent(
    topic: string,
    partition: number,
    messages: Message[],
    signal?: AbortSignal,
  ): Promise<SendResult> {
    if (this.#failed) throw this.#failed;
    this.#identity ??= this.client.initProducerId({ signal }).catch((err) => {
      this.#identity = null;
      throw err;
    });
    const { producerId, producerEpoch } = await this.#identity;
    const key = `${topic}\u0000${partition}`;
    const sequence = this.#sequences.get(key) ?? 0;
    const now = Date.now();
    // Encoded once: every retry sends these exact bytes, so the broker can recognise it as a retry.
    const batch = await encodeBatchAsync({
      compression: COMPRESSION[this.compression],
      baseTimestamp: now,
      producerId,
      producerEpoch,
      baseSequence: sequence,
      records: messages.map((m) => ({
        key: toBuffer(m.key),
        value: toBuffer(m.value),
        headers: toHeaders(m.headers),
        timestamp: m.timestamp ?? now,
      })),
    });
    const deadline = now + this.deliveryTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.client.produceRecordBatch(topic, partition, batch, {
          acks: this.acks,
          signal,
          retry: false,
        });
        // Sequences wrap from Integer.MAX_VALUE to 0, as the broker expects.
        const n = sequence + messages.length;
        this.#sequences.set(key, n > SEQUENCE_MAX ? n - SEQUENCE_MAX - 1 : n);
        return { topic, partition, baseOffset: r.baseOffset, count: r.count };
      } catch (err) {
        const e = err as BrokerClientError;
        if (e.code === 'CANCELLED' && signal?.aborted) {
          // The caller gave up; whether the batch is stored is unknown, so the sequence is too.
          throw this.#fail(topic, partition, sequence, e, 'the send was aborted before it was acknowledged');
        }
        if (FATAL_CODES.has(e.code)) throw this.#fail(topic, partition, sequence, e, e.message);
        if (!e.retriable) throw e; // Refused outright (too large, unknown topic): nothing stored, sequence unused.
        if (Date.now() >= deadline)
          throw this.#fail(
            topic,
            partition,
            sequence,
            e,
            `still unacknowledged after ${this.deliveryTimeoutMs} ms`,
          );
        const c = this.client.options;
        await sleep(
          Math.min(backoffMs(attempt, c.retryBackoffMs, c.retryBackoffMaxMs), deadline - Date.now()),
        );
      }
    }
  }

  #fail(
    topic: string,
    partition: number,
    sequence: number,
    cause: BrokerClientError,
    why: string,
  ): BrokerClientError {
    this.#failed ??= new BrokerClientError(
      `idempotent producer failed on ${topic}-${partition} at sequence ${sequence}: ${why}; ` +
        'create a new producer to continue',
      'IDEMPOTENT_PRODUCER_FAILED',
      cause.grpcCode,
      false,
      { cause },
    );
    return this.#failed;
  }

  /** Waits for sends in flight, then refuses new ones. The client stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
  }
}

function invalid(message: string): BrokerClientError {
  return new BrokerClientError(message, 'INVALID_REQUEST', grpc.status.INVALID_ARGUMENT, false);
}
