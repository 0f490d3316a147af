/**
 * A linearizability checker for a key-value register history, after Porcupine's algorithm
 * (github.com/anishathalye/porcupine, itself after Lowe's "Testing for linearisability", 2017, with
 * the P-compositionality of Horn and Kroening: each key is checked on its own).
 *
 * The history is a list of operations with call and return times. An operation whose outcome the client
 * never learned (timeout, crash) returns at +infinity: it may have taken effect at any point after its
 * call, or never. The search walks the call/return events in time order, tries to linearize each
 * pending call, backtracks at a return whose call could not be linearized, and memoizes (set of
 * linearized operations, state) pairs already explored.
 *
 * Writes whose outcome is unknown are what make the search blow up: each may be linearized anywhere
 * after its call or not at all, so k of them open up to 2^k sets of linearized operations, and the
 * memo cannot help (seed 200338: 26 timed-out puts on one key ran past a 5,000,000-step budget). Most
 * never took effect, and none of those was read. So before the search, an unknown write whose value no
 * completed read returned is dropped. That is exact, not a heuristic: in any linearization that
 * includes such a write, no read falls between it and the next write (it would have returned the
 * write's value), so removing the write leaves every read's value unchanged, and the history without
 * it is linearizable exactly when the history with it is.
 */

export interface KvOp {
  readonly client: number;
  readonly kind: 'put' | 'get';
  readonly key: string;
  /** The value written (put) or read (get; null when absent). */
  readonly value: string | null;
  readonly call: number;
  /** Infinity when the outcome is unknown. Unknown gets should be left out: they constrain nothing. */
  readonly ret: number;
}

interface Node {
  op: number; // index into ops; -1 for the list head
  isCall: boolean;
  time: number;
  match: Node | null; // a call's return event
  prev: Node | null;
  next: Node | null;
}

export interface LinResult {
  /** False when not linearizable, or when the search ran past its budget (reported as `exhausted`). */
  readonly ok: boolean;
  readonly exhausted?: boolean;
  /** The key whose history is not linearizable. */
  readonly key?: string;
  readonly ops?: readonly KvOp[];
}

/**
 * The search is exponential in the worst case (a non-linearizable history with many concurrent
 * writes can take very long to refute), so it has a budget of steps; running out is reported, never
 * taken as a pass.
 */
export function checkKvLinearizable(history: readonly KvOp[], stepsMax = 5_000_000): LinResult {
  const byKey = new Map<string, KvOp[]>();
  for (const op of history) {
    let l = byKey.get(op.key);
    if (!l) byKey.set(op.key, (l = []));
    l.push(op);
  }
  for (const key of [...byKey.keys()].sort()) {
    const all = byKey.get(key)!;
    const read = new Set<string | null>();
    for (const op of all) if (op.kind === 'get') read.add(op.value);
    const ops = all.filter(
      (op) => op.kind === 'get' || op.ret !== Number.POSITIVE_INFINITY || read.has(op.value),
    );
    const r = checkRegister(ops, stepsMax);
    if (r !== true) return { ok: false, key, ops, exhausted: r === 'exhausted' };
  }
  return { ok: true };
}

/** One key: a register starting out absent (null). */
function checkRegister(ops: readonly KvOp[], stepsMax: number): boolean | 'exhausted' {
  const events: { op: number; isCall: boolean; time: number }[] = [];
  ops.forEach((o, k) => {
    events.push({ op: k, isCall: true, time: o.call });
    events.push({ op: k, isCall: false, time: o.ret });
  });
  // Time order; at equal times calls first, so that operations touching at an instant count as
  // concurrent (the permissive reading, as Porcupine's).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));

  const head: Node = { op: -1, isCall: false, time: -1, match: null, prev: null, next: null };
  let tail = head;
  const calls = new Map<number, Node>();
  for (const e of events) {
    const n: Node = { op: e.op, isCall: e.isCall, time: e.time, match: null, prev: tail, next: null };
    tail.next = n;
    tail = n;
    if (e.isCall) calls.set(e.op, n);
    else calls.get(e.op)!.match = n;
  }

  const lift = (call: Node): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  const words = Math.ceil(ops.length / 32) || 1;
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: { call: Node; state: string | null }[] = [];
  let state: string | null = null;
  let entry = head.next;
  let steps = 0;
  while (head.next !== null) {
    if (++steps > stepsMax) return 'exhausted';
    if (entry === null) return false;
    if (entry.isCall) {
      const op = ops[entry.op];
      let ok: boolean;
      let next: string | null;
      if (op.kind === 'put') {
        ok = true;
        next = op.value;
      } else {
        ok = op.value === state;
        next = state;
      }
      if (ok) {
        const w = entry.op >>> 5;
        const bit = 1 << (entry.op & 31);
        linearized[w] |= bit;
        const key = `${linearized.join(',')}|${next === null ? '\u0000' : next}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ call: entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[w] &= ~bit;
      }
      entry = entry.next;
    } else {
      // A return whose call was not linearized before it: backtrack.
      const top = stack.pop();
      if (!top) return false;
      state = top.state;
      linearized[top.call.op >>> 5] &= ~(1 << (top.call.op & 31));
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}
