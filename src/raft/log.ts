/**
 * The in-memory view of a node's Raft log: a compacted prefix (summarised by `offset`/`offsetTerm`)
 * followed by the entries still held. The core keeps the whole uncompacted log in memory; compaction
 * (by snapshot) is what bounds it. Which entries are durable is tracked by `persisted`: entries above it
 * are handed out in the next Ready for the driver to write.
 */
import assert from 'node:assert/strict';
import type { Entry, Snapshot } from './types.ts';

export class RaftLog {
  /** Index of the last compacted entry (entries[0] has index offset + 1). */
  offset: number;
  offsetTerm: number;
  entries: Entry[];
  committed: number;
  applied: number;
  /** Highest index known durable on this node's disk. */
  persisted: number;

  constructor(snapshot: Snapshot, entries: readonly Entry[], committed: number) {
    this.offset = snapshot.index;
    this.offsetTerm = snapshot.term;
    this.entries = [];
    for (const e of entries) {
      // Storage may still hold entries the snapshot covers (compaction keeps a tail); skip them.
      if (e.index <= snapshot.index) continue;
      assert.equal(e.index, this.offset + 1 + this.entries.length, 'stored entries must be contiguous');
      this.entries.push(e);
    }
    this.persisted = this.lastIndex();
    assert.ok(
      committed <= this.lastIndex(),
      `commit ${committed} beyond last stored index ${this.lastIndex()}`,
    );
    this.committed = Math.max(committed, snapshot.index);
    this.applied = snapshot.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.offsetTerm : this.entries[this.entries.length - 1].term;
  }

  /** Term of entry `i`, or undefined when `i` is compacted away or beyond the end. */
  term(i: number): number | undefined {
    if (i === this.offset) return this.offsetTerm;
    if (i < this.offset || i > this.lastIndex()) return undefined;
    return this.entries[i - this.offset - 1].term;
  }

  entry(i: number): Entry {
    assert.ok(
      i > this.offset && i <= this.lastIndex(),
      `entry ${i} not in log (${this.offset}, ${this.lastIndex()}]`,
    );
    return this.entries[i - this.offset - 1];
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Raft paper 5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi), at most `maxCount` of them and about `maxBytes` of data (always at least one).
   * Returns null when lo is compacted away.
   */
  slice(
    lo: number,
    hi: number,
    maxCount = Number.POSITIVE_INFINITY,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Entry[] | null {
    if (lo <= this.offset) return null;
    hi = Math.min(hi, this.lastIndex() + 1);
    if (lo >= hi) return [];
    hi = Math.min(hi, lo + maxCount);
    const out = this.entries.slice(lo - this.offset - 1, hi - this.offset - 1);
    if (maxBytes !== Number.POSITIVE_INFINITY) {
      let bytes = 0;
      for (let k = 0; k < out.length; k++) {
        bytes += out[k].data.length;
        if (bytes > maxBytes && k > 0) return out.slice(0, k);
      }
    }
    return out;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: where a follower's log and the
   * leader's can first agree (etcd's findConflictByTerm, the "fast backtracking" of the Raft paper 5.3).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    index = Math.min(index, this.lastIndex());
    while (index > this.offset) {
      const t = this.term(index)!;
      if (t <= term) return { index, term: t };
      index--;
    }
    return { index: this.offset, term: this.offsetTerm };
  }

  /** Appends `ents`, truncating any existing entries from the first one's index on. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0].index;
    assert.ok(
      first > this.committed,
      `truncating committed entries: append at ${first}, commit ${this.committed}`,
    );
    assert.ok(first <= this.lastIndex() + 1, `gap in log: append at ${first}, last ${this.lastIndex()}`);
    if (first <= this.lastIndex()) {
      this.entries.length = first - this.offset - 1;
      if (this.persisted >= first) this.persisted = first - 1;
    }
    for (const e of ents) {
      assert.equal(e.index, this.lastIndex() + 1);
      this.entries.push(e);
    }
  }

  /**
   * The follower side of AppendEntries: if our log has (prevIndex, prevTerm), append what is new, drop
   * what conflicts, and return the index of the last new entry; null on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    // Skip entries we already have (same index and term): re-appending them would needlessly truncate.
    let k = 0;
    while (k < ents.length) {
      const e = ents[k];
      const t = this.term(e.index);
      if (t === undefined && e.index <= this.offset) {
        k++;
        continue;
      }
      if (t !== e.term) break;
      k++;
    }
    if (k < ents.length) this.append(ents.slice(k));
    return lastNew;
  }

  commitTo(i: number): void {
    if (i > this.committed) {
      assert.ok(i <= this.lastIndex(), `commit ${i} beyond last index ${this.lastIndex()}`);
      this.committed = i;
    }
  }

  /** Replaces the whole log with a snapshot's position (the follower side of InstallSnapshot). */
  restore(s: Snapshot): void {
    this.offset = s.index;
    this.offsetTerm = s.term;
    this.entries = [];
    this.committed = s.index;
    this.persisted = s.index;
  }

  /** Drops entries up to and including `index`, which must be applied. */
  compact(index: number): void {
    assert.ok(index <= this.applied, `compacting ${index} beyond applied ${this.applied}`);
    if (index <= this.offset) return;
    const t = this.term(index)!;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = t;
  }
}
