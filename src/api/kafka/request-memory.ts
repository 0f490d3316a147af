/**
 * The bytes of request frames that one listener holds across all its connections, bounded as Kafka
 * bounds its request queue with `queued.max.request.bytes` (limits.ts `queuedRequestBytesMax`).
 *
 * A connection reserves a frame's full size as soon as the frame's size field arrives, and keeps the
 * reservation while the frame arrives and while its request is handled; the reservation is released
 * when the response is built or the connection closes. A reservation is granted whenever the total is
 * below the bound, whatever its size (Kafka's non-strict `SimpleMemoryPool`): a strict pool would let
 * a stream of small frames starve a large one forever. The total therefore stays below the bound plus
 * one frame. A connection refused a reservation stops reading and waits its turn; waiters are woken in
 * the order they arrived, as memory is released.
 *
 * Pure bookkeeping, no I/O, so that a test can step it.
 */
import assert from 'node:assert/strict';

export class RequestMemory {
  readonly bytesMax: number;
  #usedBytes = 0;
  /** Connections waiting for memory, oldest first (a Set keeps insertion order). */
  readonly #waiters = new Set<() => void>();
  #waking = false;

  constructor(bytesMax: number) {
    assert.ok(Number.isSafeInteger(bytesMax) && bytesMax >= 1, `bytesMax must be a positive integer`);
    this.bytesMax = bytesMax;
  }

  /** Bytes reserved now, across all connections. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Connections waiting for a reservation. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Reserves `bytes` if the total is below the bound; otherwise reserves nothing and returns false. */
  tryReserve(bytes: number): boolean {
    assert.ok(Number.isSafeInteger(bytes) && bytes > 0, `a reservation is a positive integer, got ${bytes}`);
    if (this.#usedBytes >= this.bytesMax) return false;
    this.#usedBytes += bytes;
    return true;
  }

  /** Returns `bytes` reserved earlier, and wakes waiters while there is room. */
  release(bytes: number): void {
    assert.ok(
      Number.isSafeInteger(bytes) && bytes > 0 && bytes <= this.#usedBytes,
      `bad release of ${bytes}`,
    );
    this.#usedBytes -= bytes;
    this.#wake();
  }

  /** Calls `retry` once, when memory is next released below the bound (unless cancelled first). */
  wait(retry: () => void): void {
    this.#waiters.add(retry);
  }

  cancel(retry: () => void): void {
    this.#waiters.delete(retry);
  }

  #wake(): void {
    // A woken connection may release memory itself (a request answered at once); the loop below
    // picks up the room it makes instead of waking recursively.
    if (this.#waking) return;
    this.#waking = true;
    try {
      while (this.#usedBytes < this.bytesMax && this.#waiters.size > 0) {
        const [retry] = this.#waiters;
        this.#waiters.delete(retry);
        retry();
      }
    } finally {
      this.#waking = false;
    }
  }
}
