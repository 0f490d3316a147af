/**
 * Byte formats of the Raft layer: write-ahead-log records, the snapshot file, and messages on the wire.
 * Pure functions over bytes, shared by the real driver (storage.ts, transport.ts) and the simulator's
 * disk, so that the simulator exercises the very recovery code production runs.
 *
 * WAL: a sequence of frames `[u32 bodyLength][u32 crc32c(body)][body]`, big-endian. A body is either an
 * entry (kind 1: index f64, term f64, type u8, data) or a hard state (kind 2: term f64, vote u32,
 * commit f64). The log is append-only: an entry whose index is not past the last one replaces that
 * entry and everything after it, which is how a follower truncates a conflicting suffix without
 * rewriting the file. A marker (kind 3: index f64, term f64) says the log continues after that entry,
 * which a snapshot covers: it is written when a snapshot is installed and heads a compacted WAL.
 * Integers are stored as float64 because indexes and terms are JavaScript numbers,
 * exact up to 2^53.
 *
 * A frame that is cut short or fails its CRC ends the log: everything from it on is a torn write from a
 * crash and is dropped (DESIGN.md decision 11). Because the driver writes a Ready's entries before its
 * hard state and acknowledges nothing before fsync, a torn tail only loses unacknowledged data.
 */
import assert from 'node:assert/strict';
import { crc32c } from '../records/crc32c.ts';
import { messageBytesMax } from './limits.ts';
import type {
  ConfState,
  Entry,
  EntryType,
  HardState,
  InitialState,
  Message,
  MessageType,
  Snapshot,
} from './types.ts';

const frameHeaderBytes = 8;
const kindEntry = 1;
const kindHardState = 2;
const kindMarker = 3;

/** Appends bytes to a growing list of chunks without copying them into one buffer until asked. */
export class ByteWriter {
  private chunks: Uint8Array[] = [];
  private cur: Uint8Array;
  private view: DataView;
  private pos = 0;
  length = 0;

  constructor(initialBytes = 4096) {
    this.cur = new Uint8Array(initialBytes);
    this.view = new DataView(this.cur.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    if (this.pos > 0) this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = new Uint8Array(Math.max(n, this.cur.length * 2));
    this.view = new DataView(this.cur.buffer);
    this.pos = 0;
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    this.length += 1;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
    this.length += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
    this.length += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.cur.set(b, this.pos);
    this.pos += b.length;
    this.length += b.length;
  }

  /** Reserves 4 bytes and returns a function that fills them in later (for length prefixes). */
  placeholderU32(): (v: number) => void {
    this.ensure(4);
    const view = this.view;
    const at = this.pos;
    this.pos += 4;
    this.length += 4;
    return (v) => view.setUint32(at, v);
  }

  finish(): Uint8Array {
    const tail = this.cur.subarray(0, this.pos);
    if (this.chunks.length === 0) return tail;
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of [...this.chunks, tail]) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export class ByteReader {
  private readonly view: DataView;
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end)
      throw new RangeError(`read of ${n} bytes past end (${this.pos}/${this.end})`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`bad integer field ${v}`);
    return v;
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

// ---------------------------------------------------------------- WAL

function frame(w: ByteWriter, body: (w: ByteWriter) => void, scratch: ByteWriter): void {
  body(scratch);
  const b = scratch.finish();
  w.u32(b.length);
  w.u32(crc32c(b));
  w.bytes(b);
}

/** The WAL bytes for one Ready: entries first, then the hard state, so a torn tail never commits ahead of the log. */
export function encodeWalRecords(
  marker: { readonly index: number; readonly term: number } | null,
  entries: readonly Entry[],
  hardState: HardState | null,
): Uint8Array {
  const w = new ByteWriter(64 + entries.reduce((n, e) => n + 32 + e.data.length, 0));
  if (marker) {
    frame(
      w,
      (s) => {
        s.u8(kindMarker);
        s.f64(marker.index);
        s.f64(marker.term);
      },
      new ByteWriter(17),
    );
  }
  for (const e of entries) {
    frame(
      w,
      (s) => {
        s.u8(kindEntry);
        s.f64(e.index);
        s.f64(e.term);
        s.u8(e.type);
        s.bytes(e.data);
      },
      new ByteWriter(18 + e.data.length),
    );
  }
  if (hardState) {
    frame(
      w,
      (s) => {
        s.u8(kindHardState);
        s.f64(hardState.term);
        s.u32(hardState.vote);
        s.f64(hardState.commit);
      },
      new ByteWriter(21),
    );
  }
  return w.finish();
}

export interface WalContents {
  readonly hardState: HardState;
  /** The entry the log continues after (from the last marker), or null if the WAL has none. */
  readonly base: { readonly index: number; readonly term: number } | null;
  /** Contiguous entries, after applying the truncations recorded in the WAL. */
  readonly entries: Entry[];
  /** Bytes of valid frames; anything after is a torn or corrupt tail to cut off. */
  readonly validBytes: number;
  readonly tornBytes: number;
}

export function decodeWal(buf: Uint8Array): WalContents {
  let hardState: HardState = { term: 0, vote: 0, commit: 0 };
  let base: { index: number; term: number } | null = null;
  let entries: Entry[] = [];
  let pos = 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  while (pos + frameHeaderBytes <= buf.length) {
    const len = view.getUint32(pos);
    const crc = view.getUint32(pos + 4);
    if (pos + frameHeaderBytes + len > buf.length) break;
    const body = buf.subarray(pos + frameHeaderBytes, pos + frameHeaderBytes + len);
    if (crc32c(body) !== crc) break;
    const r = new ByteReader(body);
    const kind = r.u8();
    if (kind === kindEntry) {
      const index = r.f64();
      const term = r.f64();
      const type = r.u8() as EntryType;
      // Copy: the WAL buffer may be large and the entry may outlive it.
      const data = body.slice(r.pos);
      if (entries.length > 0) {
        const first = entries[0].index;
        const last = first + entries.length - 1;
        if (index <= last) {
          // A truncation: this entry replaces the tail from its index on.
          entries.length = Math.max(0, index - first);
        } else {
          assert.equal(index, last + 1, `WAL gap: entry ${index} after ${last}`);
        }
      } else if (base) {
        assert.equal(index, base.index + 1, `WAL gap: entry ${index} after marker ${base.index}`);
      }
      entries.push({ index, term, type, data });
    } else if (kind === kindMarker) {
      base = { index: r.f64(), term: r.f64() };
      entries = [];
    } else if (kind === kindHardState) {
      hardState = { term: r.f64(), vote: r.u32(), commit: r.f64() };
    } else {
      throw new Error(`unknown WAL record kind ${kind} at byte ${pos}`);
    }
    pos += frameHeaderBytes + len;
  }
  return { hardState, base, entries, validBytes: pos, tornBytes: buf.length - pos };
}

/**
 * What a node starts from, given its snapshot and WAL. WAL entries continue the snapshot only if the
 * WAL holds the snapshot's own last entry (same index and term, as an entry or a marker); otherwise they
 * belong to a history the snapshot superseded (a crash fell between writing an installed snapshot and
 * the WAL marker after it) and are dropped. Such entries follow an entry that disagrees with the
 * committed log, so they were never committed, and dropping them loses nothing acknowledged for good.
 */
export function recoverInitialState(snapshot: Snapshot, wal: WalContents): InitialState {
  const termAt = (i: number): number | undefined => {
    if (wal.base && i === wal.base.index) return wal.base.term;
    if (wal.entries.length === 0) return undefined;
    const first = wal.entries[0].index;
    if (i < first || i >= first + wal.entries.length) return undefined;
    return wal.entries[i - first].term;
  };
  const t = termAt(snapshot.index);
  // With no record of the snapshot's entry, the WAL continues the snapshot only if it starts right
  // after it (a founder's WAL after the bootstrap snapshot, or one that holds nothing yet).
  const continues =
    t === undefined
      ? wal.entries.length === 0 || wal.entries[0].index <= snapshot.index + 1
      : t === snapshot.term;
  const entries = continues ? wal.entries.filter((e) => e.index > snapshot.index) : [];
  if (continues && entries.length > 0) assert.equal(entries[0].index, snapshot.index + 1);
  const last = entries.length > 0 ? entries[entries.length - 1].index : snapshot.index;
  // The commit index was made durable after the entries it covers, so it never runs past them; in the
  // dropped-history case it is below the snapshot's index, which the core raises it to.
  const commit = Math.max(wal.hardState.commit, snapshot.index);
  assert.ok(commit <= last, `recovered commit ${commit} beyond last entry ${last}`);
  return { hardState: { ...wal.hardState, commit }, snapshot, entries };
}

/**
 * Whether the WAL must be rewritten, after recovery and before anything is appended to it, so that it
 * starts with a marker at the snapshot's entry. It must be whenever the snapshot file is ahead of the
 * WAL's own marker: a crash between installing a snapshot (its file is written first) and syncing the
 * WAL marker after it leaves a WAL that ends below the snapshot, and entries appended after the
 * snapshot would then follow that stale tail with a gap (seeds 201631 and 206348: "WAL gap: entry 10
 * after 8" on the next restart). Rewriting also drops any superseded history recovery ignored.
 */
export function walNeedsRewrite(snapshot: Snapshot, wal: WalContents): boolean {
  return wal.base === null || wal.base.index !== snapshot.index || wal.base.term !== snapshot.term;
}

/** The WAL that holds exactly a recovered state: a marker at the snapshot, its entries, its hard state. */
export function encodeRecoveredWal(init: InitialState): Uint8Array {
  return encodeWalRecords(
    { index: init.snapshot.index, term: init.snapshot.term },
    init.entries,
    init.hardState,
  );
}

// ---------------------------------------------------------------- snapshot

function writeConf(w: ByteWriter, conf: ConfState): void {
  w.u32(conf.voters.length);
  for (const v of conf.voters) w.u32(v);
  w.u32(conf.learners.length);
  for (const l of conf.learners) w.u32(l);
}

function readConf(r: ByteReader): ConfState {
  const voters: number[] = [];
  const nv = r.u32();
  if (nv > 1024) throw new RangeError(`snapshot names ${nv} voters`);
  for (let k = 0; k < nv; k++) voters.push(r.u32());
  const learners: number[] = [];
  const nl = r.u32();
  if (nl > 1024) throw new RangeError(`snapshot names ${nl} learners`);
  for (let k = 0; k < nl; k++) learners.push(r.u32());
  return { voters, learners };
}

function writeSnapshotBody(w: ByteWriter, s: Snapshot): void {
  w.f64(s.index);
  w.f64(s.term);
  writeConf(w, s.conf);
  w.u32(s.data.length);
  w.bytes(s.data);
}

function readSnapshotBody(r: ByteReader): Snapshot {
  const index = r.f64();
  const term = r.f64();
  const conf = readConf(r);
  const n = r.u32();
  return { index, term, conf, data: r.bytes(n).slice() };
}

/** A snapshot file: one CRC-checked frame. Written to a temporary name and renamed into place. */
export function encodeSnapshotFile(s: Snapshot): Uint8Array {
  const body = new ByteWriter(64 + s.data.length);
  writeSnapshotBody(body, s);
  const b = body.finish();
  const w = new ByteWriter(b.length + 8);
  w.u32(b.length);
  w.u32(crc32c(b));
  w.bytes(b);
  return w.finish();
}

export function decodeSnapshotFile(buf: Uint8Array): Snapshot {
  const r = new ByteReader(buf);
  const len = r.u32();
  const crc = r.u32();
  const body = r.bytes(len);
  if (crc32c(body) !== crc) throw new Error('snapshot file fails its CRC-32C');
  return readSnapshotBody(new ByteReader(body));
}

// ---------------------------------------------------------------- messages

/**
 * Message body: type u8, from u32, to u32, term f64, logTerm f64, index f64, commit f64, reject u8,
 * rejectHint f64, context f64, entry count u32, entries (index f64, term f64, type u8, length u32,
 * data), snapshot flag u8 and snapshot body. The transport frames it with a u32 length.
 */
export function encodeMessage(m: Message, w: ByteWriter): void {
  w.u8(m.type);
  w.u32(m.from);
  w.u32(m.to);
  w.f64(m.term);
  w.f64(m.logTerm);
  w.f64(m.index);
  w.f64(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.f64(m.rejectHint);
  w.f64(m.context);
  w.u32(m.entries.length);
  for (const e of m.entries) {
    w.f64(e.index);
    w.f64(e.term);
    w.u8(e.type);
    w.u32(e.data.length);
    w.bytes(e.data);
  }
  if (m.snapshot) {
    w.u8(1);
    writeSnapshotBody(w, m.snapshot);
  } else {
    w.u8(0);
  }
}

export function decodeMessage(r: ByteReader): Message {
  const type = r.u8();
  if (type < 1 || type > 10) throw new RangeError(`unknown message type ${type}`);
  const from = r.u32();
  const to = r.u32();
  const term = r.f64();
  const logTerm = r.f64();
  const index = r.f64();
  const commit = r.f64();
  const reject = r.u8() === 1;
  const rejectHint = r.f64();
  const context = r.f64();
  const n = r.u32();
  if (n > messageBytesMax / 21) throw new RangeError(`message claims ${n} entries`);
  const entries: Entry[] = [];
  for (let k = 0; k < n; k++) {
    const index = r.f64();
    const term = r.f64();
    const type = r.u8() as EntryType;
    const len = r.u32();
    entries.push({ index, term, type, data: r.bytes(len).slice() });
  }
  const snapshot = r.u8() === 1 ? readSnapshotBody(r) : null;
  return {
    type: type as MessageType,
    from,
    to,
    term,
    logTerm,
    index,
    commit,
    reject,
    rejectHint,
    context,
    entries,
    snapshot,
  };
}
