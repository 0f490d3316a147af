/**
 * The controller's one serialized queue of operations (issue 11), after Kafka's `QuorumController`
 * event queue: an operation runs against the current image, yields records and an answer, and the
 * answer is given only once the records are committed (STYLE.md: hold acknowledgements until the data
 * is durable; etcd's `msgsAfterAppend`). The commit is injected (`commit(records)`: the Raft proposal,
 * later), so the queue is tested with a committer the test controls.
 *
 * Operations never interleave: the next one starts only after the previous one's records were
 * committed and applied, or it failed. This is simpler than Kafka, which runs later operations on the
 * uncommitted state while earlier ones are in flight and reverts on failure; metadata operations are
 * few (registrations, heartbeats that mostly make no records, topic changes), so one Raft commit per
 * operation is not the bottleneck, and no answer can ever depend on a record that later fails. An
 * operation that makes no records answers at once: the state it read is committed.
 *
 * A failed commit fails its operation with NOT_CONTROLLER (retriable; the cause attached): the
 * records may or may not commit later (a Raft leader can lose its role with them in flight), so the
 * caller must treat the outcome as unknown, and whoever wires Raft must then rebuild the controller
 * from the image the log actually holds (`reset`) before taking more operations.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../errors.ts';
import type { MetadataRecord } from '../metadata/records.ts';
import type { Controller, OperationResult } from './controller.ts';

/**
 * Commits one operation's records; resolves with the offset (and epoch) of the last entry. Records
 * over one entry's bounds are split with `splitIntoBatches` (records.ts) by the committer; only
 * fencing and elections of very large clusters need that, since the controller bounds every creation
 * to one batch.
 */
export type Commit = (records: readonly MetadataRecord[]) => Promise<{ offset: number; epoch?: number }>;

export class ControllerQueue {
  #controller: Controller;
  readonly #commit: Commit;
  #tail: Promise<void> = Promise.resolve();
  #running = false;
  #pending = 0;
  #closed: BrokerError | null = null;

  constructor(controller: Controller, commit: Commit) {
    this.#controller = controller;
    this.#commit = commit;
  }

  get controller(): Controller {
    return this.#controller;
  }

  /** Operations queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Queues `op`; resolves with its answer once its records are committed and applied. A BrokerError
   * thrown by `op` rejects with it and commits nothing.
   */
  run<T>(op: (controller: Controller) => OperationResult<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    this.#pending++;
    const result = this.#tail.then(() => this.#runOne(op));
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.#pending--;
    });
  }

  async #runOne<T>(op: (controller: Controller) => OperationResult<T>): Promise<T> {
    if (this.#closed) throw this.#closed;
    assert.ok(!this.#running, 'controller operations never interleave');
    this.#running = true;
    try {
      const controller = this.#controller;
      const { records, answer } = op(controller);
      if (records.length === 0) return answer;
      let position: { offset: number; epoch?: number };
      try {
        position = await this.#commit(records);
      } catch (err) {
        throw new BrokerError(
          'NOT_CONTROLLER',
          `the metadata records were not committed: ${(err as Error)?.message ?? String(err)}`,
          { cause: err },
        );
      }
      // A reset while the commit was in flight replaced the controller; these records are its concern.
      if (controller === this.#controller) {
        const before = controller.image.provenance;
        assert.ok(
          position.offset > before.offset,
          `commit offset ${position.offset} is not after ${before.offset}`,
        );
        controller.replay(records, { offset: position.offset, epoch: position.epoch ?? before.epoch });
      }
      return answer;
    } finally {
      this.#running = false;
    }
  }

  /** Replaces the controller (after a failed commit or a leadership change); queued operations use it. */
  reset(controller: Controller): void {
    this.#controller = controller;
  }

  /** Refuses every queued and later operation with NOT_CONTROLLER (this node stopped leading). */
  close(reason = 'this node is no longer the active controller'): void {
    this.#closed ??= new BrokerError('NOT_CONTROLLER', reason);
  }
}
