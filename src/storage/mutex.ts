import assert from 'node:assert/strict';

/**
 * A FIFO async mutex: `run(fn)` waits for every earlier holder, then runs `fn` alone. The partition log
 * uses one to serialise its write rounds with truncation, rolls and segment swaps, and another to keep
 * maintenance (retention, compaction) to one task at a time.
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(fn);
    // The next holder waits for this one to settle, whether it succeeded or not.
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** A FIFO counting semaphore: `run(fn)` runs `fn` once fewer than `permits` others are running. */
export class Semaphore {
  readonly permits: number;
  #running = 0;
  #waiting: (() => void)[] = [];

  constructor(permits: number) {
    assert.ok(Number.isInteger(permits) && permits >= 1, 'a semaphore needs at least one permit');
    this.permits = permits;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.#running >= this.permits) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await fn();
    } finally {
      // Hand the permit straight to the next waiter, or give it back.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
