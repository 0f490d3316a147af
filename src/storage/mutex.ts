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
