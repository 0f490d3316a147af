/**
 * The bytes of request frames that one listener holds across all its connections, bounded as Kafka
 * bounds its request queue with `queued.max.request.bytes` (limits.ts `queuedRequestBytesMax`).
 *
 * A connection reserves a frame's full size as soon as the frame's size field arrives, and keeps the
 * reservation while the frame arrives and while its request is handled; the reservation is released
 * when the response is built or the connection closes (a handler still finishing a closed
 * connection's request is then no longer counted: handlers end within their own bounds, and a closed
 * connection must not be able to hold memory forever). A reservation is granted whenever the total is
 * below the bound, whatever its size (Kafka's non-strict `SimpleMemoryPool`): a strict pool would let
 * a stream of small frames starve a large one forever. The total therefore stays below the bound plus
 * one frame. Small frames (at most `smallBytesMax`) may also use a reserve of `reserveBytes` beyond
 * the bound, so that control requests and health checks are not stuck behind large frames waiting
 * for memory. A connection refused a reservation stops reading and waits its turn; waiters are woken
 * in the order they arrived, as memory is released.
 *
 * Pure bookkeeping, no I/O, so that a test can step it.
 */
import assert from 'node:assert/strict';

export interface RequestMemoryOptions {
  /** The bound (limits.ts `queuedRequestBytesMax`). */
  bytesMax: number;
  /** Extra room for small frames (limits.ts `queuedRequestReserveBytes`). @default 0 */
  reserveBytes?: number;
  /** Largest frame that may use the reserve (limits.ts `smallRequestBytesMax`). @default 0 */
  smallBytesMax?: number;
}

export class RequestMemory {
  readonly bytesMax: number;
  readonly reserveBytes: number;
  readonly smallBytesMax: number;
  #usedBytes = 0;
  /** Connections waiting for memory, oldest first (a Set keeps insertion order). */
  readonly #waiters = new Set<() => void>();
  #waking = false;

  constructor(opts: RequestMemoryOptions) {
    const { bytesMax, reserveBytes = 0, smallBytesMax = 0 } = opts;
    assert.ok(Number.isSafeInteger(bytesMax) && bytesMax >= 1, 'bytesMax must be a positive integer');
    assert.ok(Number.isSafeInteger(reserveBytes) && reserveBytes >= 0, 'reserveBytes must be >= 0');
    assert.ok(smallBytesMax >= 0 && smallBytesMax <= reserveBytes, 'the reserve must hold a small frame');
    this.bytesMax = bytesMax;
    this.reserveBytes = reserveBytes;
    this.smallBytesMax = smallBytesMax;
  }

  /** Bytes reserved now, across all connections. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Connections waiting for a reservation. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Reserves `bytes` if the total is below the bound, or if the frame is small and fits in the
   * reserve; otherwise reserves nothing and returns false.
   */
  tryReserve(bytes: number): boolean {
    assert.ok(Number.isSafeInteger(bytes) && bytes > 0, `a reservation is a positive integer, got ${bytes}`);
    if (!this.#admits(bytes)) return false;
    this.#usedBytes += bytes;
    return true;
  }

  #admits(bytes: number): boolean {
    if (this.#usedBytes < this.bytesMax) return true;
    return bytes <= this.smallBytesMax && this.#usedBytes + bytes <= this.bytesMax + this.reserveBytes;
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
      // Each waiter retries its own frame; one that still does not fit waits again, at the back. The
      // loop stops when room runs out or every waiter has had one turn.
      let turns = this.#waiters.size;
      while (turns-- > 0 && this.#usedBytes < this.bytesMax + this.reserveBytes && this.#waiters.size > 0) {
        const [retry] = this.#waiters;
        this.#waiters.delete(retry);
        retry();
      }
    } finally {
      this.#waking = false;
    }
  }
}
