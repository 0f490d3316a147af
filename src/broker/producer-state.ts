/**
 * Idempotent producer state of one partition (Kafka's ProducerStateManager, non-transactional part).
 *
 * For each producer id: its epoch and its last five batches (first and last sequence, first and last
 * offset). A batch whose sequences match one of the five is a retry and is answered with its original
 * offsets without being appended again; a batch whose first sequence does not follow the last one is
 * OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH (the producer was fenced); a
 * producer the partition has never seen must start at sequence 0 (else UNKNOWN_PRODUCER_ID).
 *
 * Validation reserves the sequence at once (so pipelined batches of one producer validate against each
 * other) and `complete()` records the offsets once the append is stored; a failed append `abort()`s.
 * The state is rebuilt from batch headers alone (no record is decoded), from a snapshot onwards.
 */
import { BrokerError } from '../errors.ts';

/** Batches remembered per producer for duplicate detection (Kafka's max.in.flight with idempotence). */
export const producerBatchesRemembered = 5;

export interface BatchIdentity {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  /** Records in the batch minus one (the sequence span). */
  lastOffsetDelta: number;
}

interface BatchEntry {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  /** Resolves with the offsets once the append that reserved this entry is stored. */
  stored: Promise<{ firstOffset: number; lastOffset: number }> | null;
}

interface ProducerEntry {
  epoch: number;
  batches: BatchEntry[];
  lastUpdateMs: number;
}

export interface ProducerSnapshot {
  /** The log end offset the snapshot covers; replay continues from here. */
  offset: number;
  producers: {
    producerId: number;
    epoch: number;
    lastUpdateMs: number;
    batches: Omit<BatchEntry, 'stored'>[];
  }[];
}

const SEQ_MAX = 2147483647;

function nextSeq(seq: number, delta: number): number {
  // Sequences wrap from Integer.MAX_VALUE to 0, as in Kafka.
  const n = seq + delta;
  return n > SEQ_MAX ? n - SEQ_MAX - 1 : n;
}

export type Validation =
  | { kind: 'append'; reservation: BatchEntry; producerId: number }
  | { kind: 'duplicate'; offsets: Promise<{ firstOffset: number; lastOffset: number }> };

export class ProducerStateTable {
  #producers = new Map<number, ProducerEntry>();

  /** Checks a batch against the producer's state and reserves its sequences. */
  validate(b: BatchIdentity, nowMs: number): Validation {
    const lastSeq = nextSeq(b.baseSequence, b.lastOffsetDelta);
    const entry = this.#producers.get(b.producerId);
    if (!entry) {
      if (b.baseSequence !== 0) {
        throw new BrokerError(
          'UNKNOWN_PRODUCER_ID',
          `producer ${b.producerId} is unknown here and its batch starts at sequence ${b.baseSequence}, not 0`,
        );
      }
      const reservation = this.#reserve(
        b.producerId,
        { epoch: b.producerEpoch, batches: [], lastUpdateMs: nowMs },
        b.baseSequence,
        lastSeq,
      );
      return { kind: 'append', reservation, producerId: b.producerId };
    }
    if (b.producerEpoch < entry.epoch) {
      throw new BrokerError(
        'INVALID_PRODUCER_EPOCH',
        `producer ${b.producerId} epoch ${b.producerEpoch} is older than ${entry.epoch}`,
      );
    }
    if (b.producerEpoch > entry.epoch) {
      if (b.baseSequence !== 0) {
        throw new BrokerError(
          'OUT_OF_ORDER_SEQUENCE_NUMBER',
          `a new epoch ${b.producerEpoch} must start at sequence 0, not ${b.baseSequence}`,
        );
      }
      const reservation = this.#reserve(
        b.producerId,
        { epoch: b.producerEpoch, batches: [], lastUpdateMs: nowMs },
        b.baseSequence,
        lastSeq,
      );
      return { kind: 'append', reservation, producerId: b.producerId };
    }
    const dup = entry.batches.find((x) => x.firstSeq === b.baseSequence && x.lastSeq === lastSeq);
    if (dup) {
      return {
        kind: 'duplicate',
        offsets: dup.stored ?? Promise.resolve({ firstOffset: dup.firstOffset, lastOffset: dup.lastOffset }),
      };
    }
    const last = entry.batches.at(-1);
    const expected = last ? nextSeq(last.lastSeq, 1) : 0;
    if (b.baseSequence !== expected) {
      throw new BrokerError(
        'OUT_OF_ORDER_SEQUENCE_NUMBER',
        `producer ${b.producerId}: batch sequence ${b.baseSequence} does not follow ${last ? last.lastSeq : 'nothing'} (expected ${expected})`,
      );
    }
    entry.lastUpdateMs = nowMs;
    return {
      kind: 'append',
      reservation: this.#reserve(b.producerId, entry, b.baseSequence, lastSeq),
      producerId: b.producerId,
    };
  }

  #reserve(producerId: number, entry: ProducerEntry, firstSeq: number, lastSeq: number): BatchEntry {
    let settle!: (v: { firstOffset: number; lastOffset: number }) => void;
    let fail!: (e: unknown) => void;
    const stored = new Promise<{ firstOffset: number; lastOffset: number }>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    stored.catch(() => {});
    const reservation: BatchEntry & { settle?: typeof settle; fail?: typeof fail } = {
      firstSeq,
      lastSeq,
      firstOffset: -1,
      lastOffset: -1,
      stored,
    };
    reservation.settle = settle;
    reservation.fail = fail;
    entry.batches.push(reservation);
    if (entry.batches.length > producerBatchesRemembered) entry.batches.shift();
    this.#producers.set(producerId, entry);
    return reservation;
  }

  /** Records the offsets of a stored batch. */
  complete(v: Validation, firstOffset: number, lastOffset: number): void {
    if (v.kind !== 'append') return;
    const r = v.reservation as BatchEntry & {
      settle?: (x: { firstOffset: number; lastOffset: number }) => void;
    };
    r.firstOffset = firstOffset;
    r.lastOffset = lastOffset;
    r.stored = null;
    r.settle?.({ firstOffset, lastOffset });
  }

  /** Undoes a reservation whose append failed, so that the producer's retry is not out of order. */
  abort(v: Validation, err: unknown): void {
    if (v.kind !== 'append') return;
    const entry = this.#producers.get(v.producerId);
    const r = v.reservation as BatchEntry & { fail?: (e: unknown) => void };
    r.fail?.(err);
    if (!entry) return;
    const i = entry.batches.indexOf(r);
    // The failed batch and any reserved after it: a storage failure fails those too.
    if (i >= 0) entry.batches.splice(i);
    if (entry.batches.length === 0) this.#producers.delete(v.producerId);
  }

  /** Replays a stored batch header (recovery): no checks, the log is the truth. */
  replay(b: BatchIdentity, firstOffset: number, lastOffset: number, timestampMs: number): void {
    const lastSeq = nextSeq(b.baseSequence, b.lastOffsetDelta);
    let entry = this.#producers.get(b.producerId);
    if (!entry || b.producerEpoch > entry.epoch) {
      entry = { epoch: b.producerEpoch, batches: [], lastUpdateMs: timestampMs };
      this.#producers.set(b.producerId, entry);
    }
    entry.batches.push({ firstSeq: b.baseSequence, lastSeq, firstOffset, lastOffset, stored: null });
    if (entry.batches.length > producerBatchesRemembered) entry.batches.shift();
    entry.lastUpdateMs = Math.max(entry.lastUpdateMs, timestampMs);
  }

  /** Drops producers idle for longer than `expirationMs` (Kafka's producer.id.expiration.ms). */
  expire(nowMs: number, expirationMs: number): void {
    for (const [id, e] of this.#producers) {
      if (nowMs - e.lastUpdateMs > expirationMs && e.batches.every((b) => b.stored === null))
        this.#producers.delete(id);
    }
  }

  get size(): number {
    return this.#producers.size;
  }

  /**
   * Every producer this partition remembers (Kafka's DescribeProducers): its epoch, the last sequence
   * of its last stored batch (-1 when none is stored yet) and when its last batch came (the append's
   * clock, or the batch's max timestamp when it was replayed from the log).
   */
  active(): { producerId: number; producerEpoch: number; lastSequence: number; lastTimestampMs: number }[] {
    return [...this.#producers.entries()].map(([producerId, e]) => {
      const stored = e.batches.filter((b) => b.firstOffset >= 0);
      return {
        producerId,
        producerEpoch: e.epoch,
        lastSequence: stored.length > 0 ? stored[stored.length - 1].lastSeq : -1,
        lastTimestampMs: e.lastUpdateMs,
      };
    });
  }

  snapshot(offset: number): ProducerSnapshot {
    return {
      offset,
      producers: [...this.#producers.entries()].map(([producerId, e]) => ({
        producerId,
        epoch: e.epoch,
        lastUpdateMs: e.lastUpdateMs,
        batches: e.batches
          .filter((b) => b.stored === null)
          .map(({ firstSeq, lastSeq, firstOffset, lastOffset }) => ({
            firstSeq,
            lastSeq,
            firstOffset,
            lastOffset,
          })),
      })),
    };
  }

  static fromSnapshot(s: ProducerSnapshot): ProducerStateTable {
    const t = new ProducerStateTable();
    for (const p of s.producers) {
      t.#producers.set(p.producerId, {
        epoch: p.epoch,
        lastUpdateMs: p.lastUpdateMs,
        batches: p.batches.map((b) => ({ ...b, stored: null })),
      });
    }
    return t;
  }
}
