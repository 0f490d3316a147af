/**
 * The leader's view of one follower's replication (etcd's tracker.Progress): how far it matches, what
 * to send next, and the flow-control state that decides whether to send at all.
 *
 * - probe: we do not know where the follower's log agrees with ours; send one append at a time and
 *   wait for the answer (or the next heartbeat response) before sending another.
 * - replicate: the follower is in step; stream appends optimistically, bounded by `inflight`.
 * - snapshot: a snapshot is on its way; send nothing else until it is acknowledged or given up on.
 */
import assert from 'node:assert/strict';

export const ProgressState = { probe: 'probe', replicate: 'replicate', snapshot: 'snapshot' } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.probe;
  /** In probe state: an append is outstanding, so hold further ones until an answer or heartbeat response. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state; a snapshot lost in the network is retried after an election timeout. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Last indexes of the append messages in flight, oldest first (replicate state). */
  inflight: number[] = [];
  readonly isLearner: boolean;

  constructor(next: number, isLearner: boolean) {
    this.next = next;
    this.isLearner = isLearner;
  }

  isPaused(maxInflight: number): boolean {
    switch (this.state) {
      case ProgressState.probe:
        return this.probeSent;
      case ProgressState.replicate:
        return this.inflight.length >= maxInflight;
      case ProgressState.snapshot:
        return true;
    }
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot's index.
    if (this.state === ProgressState.snapshot) {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset(ProgressState.probe);
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset(ProgressState.replicate);
  }

  becomeSnapshot(index: number): void {
    this.reset(ProgressState.snapshot);
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflight = [];
  }

  /** The follower acknowledged up to `n`. Returns whether that was news. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    // Acknowledged appends are no longer in flight.
    let k = 0;
    while (k < this.inflight.length && this.inflight[k] <= n) k++;
    if (k > 0) this.inflight.splice(0, k);
    return updated;
  }

  /**
   * The follower rejected an append whose previous index was `rejected`, hinting that our logs may agree
   * at `probeIndex`. Returns false when the rejection is stale (answers an older append).
   */
  maybeDecrTo(rejected: number, probeIndex: number): boolean {
    if (this.state === ProgressState.replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeIndex + 1), this.match + 1);
    assert.ok(this.next >= 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append sent with entries up to `last`. */
  sentEntries(last: number, count: number): void {
    if (this.state === ProgressState.replicate) {
      if (count > 0) {
        this.next = last + 1;
        this.inflight.push(last);
      }
    } else if (this.state === ProgressState.probe) {
      this.probeSent = true;
    }
  }
}
