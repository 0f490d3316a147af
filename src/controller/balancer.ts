/**
 * The replica balancer (issue 14): pure planning of partition moves, run by the active controller when
 * a broker joins, while the cluster stays imbalanced, for `broker-admin rebalance --dry-run`, and to
 * decommission (`draining`) brokers. Like Cruise Control's goal optimizer, it runs goals in priority
 * order on a simulated copy of the assignment, each goal keeping what the earlier ones achieved:
 *
 * 1. Drain: every replica of a movable partition on a draining broker is replaced, in the same list
 *    position, by the broker of `brokers` that keeps the partition on the most racks, then holds the
 *    fewest replicas, then the fewest bytes, then has the lowest id.
 * 2. Replica counts: while some broker holds two or more replicas more than another, one replica moves
 *    along an augmenting path a -> m1 -> ... -> b (a's replica of p1 goes to m1, m1's replica of p2 to
 *    m2, ..., ending at b, with count(a) >= count(b) + 2), found by breadth-first search over the
 *    brokers, nearest first, so a direct move from the fullest to the emptiest broker wins when there
 *    is one. Replicas are a flow from partitions to brokers (at most one per pair), so the reachable
 *    count vectors are the bases of a polymatroid, on which a separable convex sum (of squared counts)
 *    has no local minimum but the global one: when no augmenting path is left, the counts are as even
 *    as any assignment of the movable replicas makes them, which is within one of each other whenever
 *    that is possible (always, when nothing is pinned: striping the movable replicas would do it).
 *    Edges that keep the partition's rack count are searched first; one that loses a rack is taken
 *    only when no rack-keeping path exists, since even counts come first. Of the replicas that may take
 *    an edge, the one nearest in size to the two brokers' shares of the byte imbalance moves
 *    (`pickReplica`), so bytes even out as the counts do.
 * 3. Preferred leaders: the same augmenting paths over preferred-leader counts, where an edge x -> y is
 *    a movable partition led by x with a replica on y, carried out by moving y to the front of the list
 *    (no data moves; a partition in the plan already is preferred, costing no extra move). This reaches
 *    the optimum over reorders, by the same argument. When no path is left and a broker still leads at
 *    least two more than another, `leaderMove` tries replica moves: a partition led by a moves that
 *    replica to y, then a chain of reorders and a chain of rack-keeping follower moves restore leader
 *    and replica balance; a trial that finds no chain is undone.
 * 4. Bytes: when the heaviest broker holds more than `bytesRatioMax` times the bytes of the lightest
 *    and more than `bytesSpreadMax` bytes more (1.25x and 64 MiB: below that, copying data costs more
 *    than the imbalance), a replica of p on a heavy broker H and one of q on a light broker L change
 *    places, with bytes(p) - bytes(q) within a quarter of bytes(H) - bytes(L) of half of it (so the
 *    pair's spread at least halves) and a gain, twice that difference, of at least 64 MiB and a
 *    quarter of the bytes the swap copies, where p and q are both led by, or both followed by, H and L
 *    respectively and both moves keep racks: replica and leader counts do not change. When H holds
 *    more replicas than L, a single move of a replica H follows, of a size within the same window,
 *    does the same with half the data. It stops when the rule is met or no such move is left between
 *    any heavy and light pair over the rule. The window and the gain keep sizes that change between
 *    plans (partitions being written) from swapping replicas back and forth.
 *
 * Guarantees of the full plan: every replica of a movable partition leaves the draining brokers; no
 * list repeats a broker, changes length or gains a broker outside `brokers`; replica counts over
 * `brokers` end within one whenever that is possible, and otherwise as even as possible; preferred
 * leaders end at the reorder optimum (no chain of reorders evens them further); a drained replica
 * goes where the partition keeps the most racks, leader moves and byte swaps always keep racks, and a
 * count move loses one only when no rack-keeping path could even the counts at that step. Preferred
 * leaders also ended within one in every seeded cluster of the property test without pinned
 * partitions or fenced preferred leaders, but the replica-move step is a local search (it keeps racks,
 * and tries one partition per pair of brokers), not proven to reach it. With pinned partitions it can
 * be impossible: two pinned partitions of factor 1 on broker 1 of brokers 1 and 2 leave leaders at 2
 * and 0 whatever moves. The racks of draining and fenced brokers are not in the input, so each counts
 * as a rack of its own.
 *
 * Every unit of steps (a drained partition, a path, a leader move, a swap) strictly lowers, in
 * lexicographic order, (replicas on draining brokers, the sum of squared replica counts, the sum of
 * squared leader counts, the sum of squared bytes), so the plan is finite. Steps on one partition
 * merge into one move (its original list to its final one), placed where its first step was: draining
 * moves come first, then replica-count moves, leader reorders and byte swaps. The controller carries
 * out a few moves (`maxMoves`) and plans again, so a cut plan must not lead back uphill. Cutting the
 * merged list would (a partition moved along a path and back later is no move at all, leaving the
 * path's other steps without their end: two states then alternated forever), so a cut plan is the
 * moves of the longest run of whole units from the start that changes at most `maxMoves` partitions:
 * a state the full plan passed through. When the first unit alone changes more, as many of its steps
 * as fit are taken; a path is carried out from its last edge, so any part of it moves a unit from an
 * intermediate broker (holding at least one more than the target) to the target, which does not
 * raise the sum of squares; half a byte swap can, and the next plan's count goal then picks a
 * replica of the swap's other size to restore the counts. That the loop converges is checked by the
 * property test rather than proven for every cut. Partitions are taken in (topic, partition) order
 * and brokers by id, so the same input gives the same plan in whatever order it lists them.
 *
 * Pinned partitions (being reassigned) never move but count where they are; replicas on brokers in
 * neither `brokers` nor `draining` (fenced ones) stay where they are and count for nobody, and a
 * partition whose preferred leader is such a broker keeps it. A pinned partition on a draining broker
 * stays there until its reassignment ends and a later plan drains it.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../errors.ts';

/** The most distinct racks the balancer weighs (racks are bits of a 32-bit mask); past it, none. */
export const RACKS_MAX = 30;

/** A broker that may receive replicas (active and not being decommissioned). */
export interface BalancerBroker {
  id: number;
  rack: string | null;
}

/** One partition as the balancer sees it. */
export interface BalancerPartition {
  topic: string;
  partition: number;
  /** Its replicas (for one being reassigned, its target), the preferred leader first. */
  replicas: readonly number[];
  /** The size of one replica in bytes; 0 when unknown. */
  bytes: number;
  /** It may not move (it is being reassigned already); it still counts toward its brokers' load. */
  pinned?: boolean;
}

export interface BalanceInput {
  /** The brokers that may hold replicas. */
  brokers: readonly BalancerBroker[];
  /** Brokers every replica must leave (being decommissioned); not in `brokers`. */
  draining?: readonly number[];
  partitions: readonly BalancerPartition[];
  /**
   * Most moves to return: those of the plan's first whole steps that fit (see the header), which are
   * the first moves of the full plan when no later step changes their partitions again; all when
   * absent.
   */
  maxMoves?: number;
}

/** Moving one partition's replicas from one list to another (the preferred leader first in each). */
export interface Move {
  topic: string;
  partition: number;
  from: number[];
  to: number[];
}

/** One broker's share: replicas held, partitions it is the preferred leader of, and bytes held. */
export interface BrokerLoad {
  id: number;
  replicas: number;
  leaders: number;
  bytes: number;
}

export interface BalancePlan {
  moves: Move[];
  /** Per broker of `brokers` (and `draining`), by id, before and after the moves returned. */
  before: BrokerLoad[];
  after: BrokerLoad[];
}

/**
 * Byte balancing starts when the heaviest broker holds more than this many times the bytes of the
 * lightest (and more than `bytesSpreadMax` more): within it, moving data costs more than it evens.
 */
export const bytesRatioMax = 1.25;
/** Byte balancing starts only when the heaviest broker holds more than this many bytes more. */
export const bytesSpreadMax = 64 * 1024 * 1024;

/** Which replica moves an edge may use: any, those keeping the racks, or those also not leaders. */
const ANY = 0;
const KEEPS_RACKS = 1;
const FOLLOWER_KEEPS_RACKS = 2;
type EdgeKind = typeof ANY | typeof KEEPS_RACKS | typeof FOLLOWER_KEEPS_RACKS;

/** The simulated assignment the goals work on: brokers of `brokers` by index 0..n-1. */
interface State {
  ids: number[];
  index: Map<number, number>;
  racks: string[];
  /** Rack key of any broker id (brokers outside `brokers` each get one of their own). */
  rackOf: (id: number) => string;
  /** Per broker index, its rack's index among the racks of `brokers`, for `Part.rackMask`. */
  rackIndex: number[];
  parts: Part[];
  /** Per broker index, the indices of the partitions with a replica on it. */
  holds: Set<number>[];
  counts: number[];
  leaders: number[];
  bytes: number[];
  /** Sequence number of each partition's first step (its place in the plan); -1 when untouched. */
  firstStep: number[];
  steps: number;
  /**
   * Every step, in order: the unit it belongs to (a whole path, swap or drained partition, which
   * lowers the measure on its own), the partition and its list after the step. A cut plan replays it.
   */
  log: { unit: number; pi: number; replicas: number[] }[];
  unit: number;
  /**
   * Per (edge kind, x, y), how many unpinned partitions on broker index x could move that replica to
   * y, at `kind * n * n + x * n + y`; kept up to date by every move, so the path search asks in
   * constant time whether an edge exists. Empty until needed.
   */
  movable: Int32Array;
  /** Per (x, y), how many unpinned partitions led by x have a replica on y, at `x * n + y`. */
  leadable: Int32Array;
  /** Per broker index, its unpinned partitions by (bytes, index): the count goal's choice. */
  bySize: number[][];
}

interface Part {
  source: BalancerPartition;
  replicas: number[];
  pinned: boolean;
  /** Bit r set when a replica is on a broker of rack index r (brokers of `brokers` only). */
  rackMask: number;
  /** Bit r set when two or more replicas are on rack index r. */
  rackTwice: number;
}

/**
 * The moves that balance replica counts, preferred leaders and bytes over `input.brokers` and empty
 * the draining brokers (see the header for the method and its guarantees). INVALID_REPLICATION_FACTOR
 * when a draining broker's replicas have nowhere to go (fewer brokers than a partition's factor).
 */
export function planRebalance(input: BalanceInput): BalancePlan {
  const draining = [...new Set(input.draining ?? [])].sort((a, b) => a - b);
  const st = makeState(input.brokers, input.partitions);
  for (const id of draining) assert.ok(!st.index.has(id), `draining broker ${id} is also in brokers`);
  const drainSet = new Set(draining);
  const loadIds = [...st.ids, ...draining].sort((a, b) => a - b);
  const before = loads(loadIds, input.partitions);
  checkDrainable(st, drainSet);
  st.movable = new Int32Array(3 * st.ids.length * st.ids.length);
  st.leadable = new Int32Array(st.ids.length * st.ids.length);
  for (let pi = 0; pi < st.parts.length; pi++) countEdges(st, pi, 1);
  st.bySize = st.holds.map((set) => [...set].filter((pi) => !st.parts[pi].pinned).sort(bySizeOrder(st)));

  drain(st, drainSet);
  balanceCounts(st);
  balanceLeaders(st);
  balanceBytes(st);

  if (input.maxMoves !== undefined) {
    assert.ok(Number.isSafeInteger(input.maxMoves) && input.maxMoves >= 0, 'maxMoves is a count');
  }
  const moves = planMoves(st, input.maxMoves ?? Number.POSITIVE_INFINITY);
  return { moves, before, after: loads(loadIds, applyMoves(input.partitions, moves)) };
}

function makeState(brokers: readonly BalancerBroker[], partitions: readonly BalancerPartition[]): State {
  const sorted = [...brokers].sort((a, b) => a.id - b.id);
  const ids = sorted.map((b) => b.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  assert.equal(index.size, ids.length, 'brokers are distinct');
  // Brokers without a rack share one unnamed rack; those outside `brokers` (fenced or draining) are
  // unknown here and count as a rack each, so leaving them never looks like keeping a rack.
  const racks = sorted.map((b) => b.rack ?? '');
  const rackOf = (id: number) => {
    const i = index.get(id);
    return i === undefined ? `\u0000${id}` : racks[i];
  };
  // Racks as bits of a mask: the path search asks whether a move keeps racks millions of times.
  // More racks than a mask holds (RACKS_MAX, a cluster's node.rack settings allow it): racks are
  // left out of the plan, as if no node named one, rather than refuse to balance.
  const rackNames = [...new Set(racks)].sort();
  const rackAware = rackNames.length <= RACKS_MAX;
  const parts = [...partitions]
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
    .map((source) => {
      assert.ok(source.replicas.length > 0, `${source.topic}-${source.partition} has replicas`);
      assert.equal(
        new Set(source.replicas).size,
        source.replicas.length,
        `${source.topic}-${source.partition} repeats a broker in ${source.replicas}`,
      );
      assert.ok(source.bytes >= 0, `${source.topic}-${source.partition} has bytes >= 0`);
      return {
        source,
        replicas: [...source.replicas],
        pinned: source.pinned === true,
        rackMask: 0,
        rackTwice: 0,
      };
    });
  const n = ids.length;
  const st: State = {
    ids,
    index,
    racks,
    rackOf,
    rackIndex: racks.map((r) => (rackAware ? rackNames.indexOf(r) : 0)),
    parts,
    holds: Array.from({ length: n }, () => new Set<number>()),
    counts: new Array(n).fill(0),
    leaders: new Array(n).fill(0),
    bytes: new Array(n).fill(0),
    firstStep: new Array(parts.length).fill(-1),
    steps: 0,
    log: [],
    unit: 0,
    movable: new Int32Array(0),
    leadable: new Int32Array(0),
    bySize: [],
  };
  parts.forEach((p, pi) => {
    updateRackMask(st, p);
    p.replicas.forEach((id, pos) => {
      const bi = index.get(id);
      if (bi === undefined) return;
      st.holds[bi].add(pi);
      st.counts[bi]++;
      st.bytes[bi] += p.source.bytes;
      if (pos === 0) st.leaders[bi]++;
    });
  });
  return st;
}

/** Throws when some partition's draining replicas cannot all be replaced by brokers it lacks. */
function checkDrainable(st: State, draining: ReadonlySet<number>): void {
  for (const p of st.parts) {
    if (p.pinned) continue;
    const leaving = p.replicas.filter((id) => draining.has(id)).length;
    if (leaving === 0) continue;
    const free = st.ids.length - p.replicas.filter((id) => st.index.has(id)).length;
    if (free < leaving) {
      throw new BrokerError(
        'INVALID_REPLICATION_FACTOR',
        `${p.source.topic}-${p.source.partition} has replication factor ${p.replicas.length} on brokers ` +
          `${p.replicas.join(',')}; draining ${[...draining].join(',')} leaves ` +
          `${st.ids.length === 0 ? 'no brokers' : `brokers ${st.ids.join(',')}`}, too few to hold its replicas`,
      );
    }
  }
}

/** Records that partition `pi` changed, so it is part of the plan from this step on. */
function touch(st: State, pi: number): void {
  if (st.firstStep[pi] < 0) st.firstStep[pi] = st.steps;
  st.steps++;
  st.log.push({ unit: st.unit, pi, replicas: [...st.parts[pi].replicas] });
}

/** Moves partition `pi`'s replica at list position `pos` to broker index `to`. */
function moveReplica(st: State, pi: number, pos: number, to: number): void {
  const p = st.parts[pi];
  assert.ok(!p.pinned, 'a pinned partition never moves');
  const fromId = p.replicas[pos];
  const from = st.index.get(fromId);
  countEdges(st, pi, -1);
  if (st.bySize.length > 0) {
    if (from !== undefined) st.bySize[from].splice(sizeRank(st, st.bySize[from], pi), 1);
    st.bySize[to].splice(sizeRank(st, st.bySize[to], pi), 0, pi);
  }
  const toId = st.ids[to];
  assert.ok(!p.replicas.includes(toId), `${toId} holds ${p.source.topic}-${p.source.partition} already`);
  if (from !== undefined) {
    st.holds[from].delete(pi);
    st.counts[from]--;
    st.bytes[from] -= p.source.bytes;
    if (pos === 0) st.leaders[from]--;
  }
  st.holds[to].add(pi);
  st.counts[to]++;
  st.bytes[to] += p.source.bytes;
  if (pos === 0) st.leaders[to]++;
  p.replicas[pos] = toId;
  updateRackMask(st, p);
  countEdges(st, pi, 1);
  touch(st, pi);
}

/** Puts partition `pi` back on `replicas` (undoing a trial), without making it part of the plan. */
function restore(st: State, pi: number, replicas: readonly number[]): void {
  const p = st.parts[pi];
  countEdges(st, pi, -1);
  const change = (list: readonly number[], sign: number) => {
    list.forEach((id, pos) => {
      const bi = st.index.get(id);
      if (bi === undefined) return;
      if (sign < 0) {
        st.holds[bi].delete(pi);
        st.bySize[bi].splice(sizeRank(st, st.bySize[bi], pi), 1);
      } else {
        st.holds[bi].add(pi);
        st.bySize[bi].splice(sizeRank(st, st.bySize[bi], pi), 0, pi);
      }
      st.counts[bi] += sign;
      st.bytes[bi] += sign * p.source.bytes;
      if (pos === 0) st.leaders[bi] += sign;
    });
  };
  change(p.replicas, -1);
  p.replicas = [...replicas];
  updateRackMask(st, p);
  change(p.replicas, 1);
  countEdges(st, pi, 1);
}

function bySizeOrder(st: State): (a: number, b: number) => number {
  return (a, b) => st.parts[a].source.bytes - st.parts[b].source.bytes || a - b;
}

/** Where partition `pi` is, or would go, in the (bytes, index) order of `list`. */
function sizeRank(st: State, list: readonly number[], pi: number): number {
  const order = bySizeOrder(st);
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (order(list[mid], pi) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Adds (`sign` 1) or removes (-1) partition `pi`'s edges in `st.movable` and `st.leadable`. */
function countEdges(st: State, pi: number, sign: number): void {
  const p = st.parts[pi];
  const n = st.ids.length;
  if (p.pinned || st.movable.length === 0) return;
  const leader = st.index.get(p.replicas[0]);
  if (leader !== undefined) {
    for (const id of p.replicas) {
      const y = st.index.get(id);
      if (y !== undefined && y !== leader) st.leadable[leader * n + y] += sign;
    }
  }
  p.replicas.forEach((id, pos) => {
    const x = st.index.get(id);
    if (x === undefined) return;
    for (let y = 0; y < n; y++) {
      if (p.replicas.includes(st.ids[y])) continue;
      st.movable[ANY * n * n + x * n + y] += sign;
      if (!keepsRacks(st, p, x, y)) continue;
      st.movable[KEEPS_RACKS * n * n + x * n + y] += sign;
      if (pos > 0) st.movable[FOLLOWER_KEEPS_RACKS * n * n + x * n + y] += sign;
    }
  });
}

/** Makes broker index `to` (a replica of partition `pi`) its preferred leader, moving no data. */
function lead(st: State, pi: number, to: number): void {
  const p = st.parts[pi];
  assert.ok(!p.pinned, 'a pinned partition is never reordered');
  const toId = st.ids[to];
  const at = p.replicas.indexOf(toId);
  assert.ok(at > 0, `${toId} is a follower of ${p.source.topic}-${p.source.partition}`);
  const from = st.index.get(p.replicas[0]);
  assert.ok(from !== undefined, 'only a leader in brokers is replaced');
  countEdges(st, pi, -1);
  st.leaders[from]--;
  st.leaders[to]++;
  p.replicas.splice(at, 1);
  p.replicas.unshift(toId);
  countEdges(st, pi, 1);
  touch(st, pi);
}

function rackCount(st: State, replicas: readonly number[]): number {
  return new Set(replicas.map(st.rackOf)).size;
}

function updateRackMask(st: State, p: Part): void {
  p.rackMask = 0;
  p.rackTwice = 0;
  for (const id of p.replicas) {
    const bi = st.index.get(id);
    if (bi === undefined) continue;
    const bit = 1 << st.rackIndex[bi];
    if (p.rackMask & bit) p.rackTwice |= bit;
    p.rackMask |= bit;
  }
}

/**
 * Whether moving partition `p`'s replica from broker index x to y keeps the number of racks it spans:
 * it drops only when x's rack goes (no other replica there) and y's rack is spanned already.
 */
function keepsRacks(st: State, p: Part, x: number, y: number): boolean {
  const leaving = 1 << st.rackIndex[x];
  const coming = 1 << st.rackIndex[y];
  return leaving === coming || (p.rackTwice & leaving) !== 0 || (p.rackMask & coming) === 0;
}

/** Goal 1: every replica of an unpinned partition on a draining broker moves into `brokers`. */
function drain(st: State, draining: ReadonlySet<number>): void {
  st.parts.forEach((p, pi) => {
    if (p.pinned) return;
    st.unit++;
    for (let pos = 0; pos < p.replicas.length; pos++) {
      if (!draining.has(p.replicas[pos])) continue;
      let best = -1;
      let bestKey: number[] = [];
      for (let bi = 0; bi < st.ids.length; bi++) {
        if (p.replicas.includes(st.ids[bi])) continue;
        const trial = p.replicas.slice();
        trial[pos] = st.ids[bi];
        const key = [-rackCount(st, trial), st.counts[bi], st.bytes[bi], st.ids[bi]];
        if (best < 0 || lexLess(key, bestKey)) [best, bestKey] = [bi, key];
      }
      assert.ok(best >= 0, 'checkDrainable found room for every draining replica');
      moveReplica(st, pi, pos, best);
    }
  });
}

/**
 * Breadth-first search from broker index `source` for the nearest broker `isTarget` accepts, over the
 * edges `edge(x, y)` admits (brokers tried in `order`): the brokers of the path, source first, or
 * undefined when no target is reachable.
 */
function augmentingPath(
  n: number,
  source: number,
  order: readonly number[],
  isTarget: (b: number) => boolean,
  edge: (x: number, y: number) => boolean,
): number[] | undefined {
  const via = new Array<number>(n).fill(-1);
  via[source] = source;
  let frontier = [source];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const x of frontier) {
      for (const y of order) {
        if (via[y] >= 0 || !edge(x, y)) continue;
        via[y] = x;
        if (isTarget(y)) {
          const path = [y];
          for (let b = y; b !== source; b = via[b]) path.unshift(via[b]);
          return path;
        }
        next.push(y);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** Broker indices by `load` descending (then bytes descending, id ascending). */
function byLoadDesc(st: State, load: readonly number[]): number[] {
  return st.ids
    .map((_, i) => i)
    .sort((a, b) => load[b] - load[a] || st.bytes[b] - st.bytes[a] || st.ids[a] - st.ids[b]);
}

/** Broker indices by `load` ascending (then bytes ascending, id ascending). */
function byLoadAsc(st: State, load: readonly number[]): number[] {
  return st.ids
    .map((_, i) => i)
    .sort((a, b) => load[a] - load[b] || st.bytes[a] - st.bytes[b] || st.ids[a] - st.ids[b]);
}

/**
 * Runs augmenting paths over `load` until no broker exceeds another by two along a path, each over
 * the edges of the first of `kinds` that has one. `pick(x, y, kind)` is the partition to carry one
 * unit of load from broker index x to y over an edge of that kind, undefined when there is none;
 * `candidates` counts the partitions it could choose from, in constant time; `apply` carries the unit
 * over.
 */
function augmentAll(
  st: State,
  load: number[],
  kinds: readonly EdgeKind[],
  candidates: (x: number, y: number, kind: EdgeKind) => number,
  pick: (x: number, y: number, kind: EdgeKind) => number | undefined,
  apply: (pi: number, x: number, y: number) => void,
): void {
  const n = st.ids.length;
  for (;;) {
    const desc = byLoadDesc(st, load);
    const asc = byLoadAsc(st, load);
    if (n < 2 || load[desc[0]] - load[asc[0]] <= 1) return;
    let path: number[] | undefined;
    let kind = kinds[0];
    for (const k of kinds) {
      kind = k;
      // Of equally loaded sources, the one with the most replicas that could go straight to the least
      // loaded broker first: its choice is widest, and finding one that fits is quickest.
      const direct = (a: number) => candidates(a, asc[0], k);
      const sources = [...desc].sort((a, b) => load[b] - load[a] || direct(b) - direct(a));
      for (const a of sources) {
        if (load[a] - load[asc[0]] <= 1) break;
        path = augmentingPath(
          n,
          a,
          asc,
          (b) => load[b] <= load[a] - 2,
          (x, y) => candidates(x, y, k) > 0,
        );
        if (path) break;
      }
      if (path) break;
    }
    if (!path) return;
    // The last edge first: were the plan cut part way, the target has gained already. An edge stays
    // available while later ones are carried out: they only take load away from its target.
    st.unit++;
    for (let i = path.length - 2; i >= 0; i--) {
      const pi = pick(path[i], path[i + 1], kind);
      assert.ok(pi !== undefined, 'an edge of the path is still there');
      apply(pi, path[i], path[i + 1]);
    }
  }
}

/** Goal 2: replica counts within one of each other (as even as possible). */
function balanceCounts(st: State): void {
  const candidates = (x: number, y: number, kind: EdgeKind) => movable(st, x, y, kind);
  const pick = (x: number, y: number, kind: EdgeKind) => pickReplica(st, x, y, kind);
  augmentAll(st, st.counts, [KEEPS_RACKS, ANY], candidates, pick, (pi, from, to) => {
    moveReplica(st, pi, st.parts[pi].replicas.indexOf(st.ids[from]), to);
  });
}

function movable(st: State, x: number, y: number, kind: EdgeKind): number {
  const n = st.ids.length;
  return st.movable[kind * n * n + x * n + y];
}

/**
 * The partition whose replica on broker index x moves to y over an edge of `kind`: of those that may,
 * the one nearest in size to the bytes each of the two should pass on per move. When all brokers end
 * with the mean bytes T, x has bytes(x) - T to shed over the k(x) replicas it holds above the mean
 * count, and y T - bytes(y) to take over its k(y) below (each k at least 1); the ideal size is the mean
 * of the two shares. With one move left on each side it is half their difference, which evens the pair
 * best; earlier, it keeps the first moves from taking all the largest replicas. It walks outward from
 * that size in x's list by size, nearer first, to the first that may move.
 */
function pickReplica(st: State, x: number, y: number, kind: EdgeKind): number | undefined {
  const n = st.ids.length;
  let replicas = 0;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    replicas += st.counts[i];
    bytes += st.bytes[i];
  }
  const meanBytes = bytes / n;
  const shedCount = Math.max(1, st.counts[x] - Math.ceil(replicas / n));
  const takeCount = Math.max(1, Math.floor(replicas / n) - st.counts[y]);
  const ideal = ((st.bytes[x] - meanBytes) / shedCount + (meanBytes - st.bytes[y]) / takeCount) / 2;
  const list = st.bySize[x];
  const xId = st.ids[x];
  const yId = st.ids[y];
  const fits = (pi: number) => {
    const p = st.parts[pi];
    // The rack test first: bit operations, where the others search the list.
    if (kind !== ANY && !keepsRacks(st, p, x, y)) return false;
    return !p.replicas.includes(yId) && (kind !== FOLLOWER_KEEPS_RACKS || p.replicas[0] !== xId);
  };
  const size = (k: number) => st.parts[list[k]].source.bytes;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (size(mid) < ideal) lo = mid + 1;
    else hi = mid;
  }
  let left = lo - 1;
  let right = lo;
  while (left >= 0 || right < list.length) {
    const takeRight = left < 0 || (right < list.length && size(right) - ideal <= ideal - size(left));
    const k = takeRight ? right++ : left--;
    if (fits(list[k])) return list[k];
  }
  return undefined;
}

/**
 * A partition led by broker index x with a replica on y, to lead from y: the first found that is in
 * the plan already (the reorder costs no extra move), else the first in order.
 */
function pickReorder(st: State, x: number, y: number): number | undefined {
  const xId = st.ids[x];
  const yId = st.ids[y];
  let best: number | undefined;
  for (const pi of st.holds[x]) {
    const p = st.parts[pi];
    if (p.pinned || p.replicas[0] !== xId || !p.replicas.includes(yId)) continue;
    if (st.firstStep[pi] >= 0) return pi;
    if (best === undefined || pi < best) best = pi;
  }
  return best;
}

/** Goal 3: preferred-leader counts within one, by reordering, then by replica moves. */
function balanceLeaders(st: State): void {
  const reorder = (x: number, y: number) => pickReorder(st, x, y);
  for (let rounds = 0; ; rounds++) {
    assert.ok(rounds <= st.parts.length + 1, 'leader balancing terminates');
    augmentAll(
      st,
      st.leaders,
      [ANY],
      (x, y) => st.leadable[x * st.ids.length + y],
      reorder,
      (pi, _, to) => lead(st, pi, to),
    );
    if (!leaderMove(st)) return;
  }
}

/**
 * One replica move that lets some broker leading two or more fewer than broker a lead one more, for
 * when reorders alone cannot: a partition led by a moves that replica to a broker y, which leads it,
 * keeping its racks; if y does not lead two fewer than a did, a chain of reorders carries the
 * leadership on from y to one that does; and if y then holds more replicas than a did, a chain of
 * follower moves that keep racks (so no leader changes) carries one replica from y to a broker that
 * holds fewer than a did, so the sum of squared counts does not grow while that of leaders falls.
 * Where a step has no chain, the trial is undone and the next pair tried. False when none succeeds.
 */
function leaderMove(st: State): boolean {
  const n = st.ids.length;
  const desc = byLoadDesc(st, st.leaders);
  const low = st.leaders[byLoadAsc(st, st.leaders)[0]];
  for (const a of desc) {
    if (st.leaders[a] - low <= 1) break;
    const leadersA = st.leaders[a];
    const countA = st.counts[a];
    for (const y of byLoadAsc(st, st.leaders)) {
      if (y === a) continue;
      const aId = st.ids[a];
      const yId = st.ids[y];
      const pi = sortedHolds(st, a).find((i) => {
        const r = st.parts[i].replicas;
        return !st.parts[i].pinned && r[0] === aId && !r.includes(yId) && keepsRacks(st, st.parts[i], a, y);
      });
      if (pi === undefined) continue;
      const saved = new Map<number, [number[], number]>();
      const save = (i: number) => {
        if (!saved.has(i)) saved.set(i, [[...st.parts[i].replicas], st.firstStep[i]]);
      };
      save(pi);
      const logged = st.log.length;
      st.unit++;
      moveReplica(st, pi, 0, y);
      let ok = true;
      if (st.leaders[y] > leadersA - 1) {
        const path = augmentingPath(
          n,
          y,
          byLoadAsc(st, st.leaders),
          (z) => st.leaders[z] <= leadersA - 2,
          (u, v) => st.leadable[u * n + v] > 0,
        );
        if (path) {
          for (let i = path.length - 2; i >= 0; i--) {
            const qi = pickReorder(st, path[i], path[i + 1]);
            assert.ok(qi !== undefined, 'an edge of the path is still there');
            save(qi);
            lead(st, qi, path[i + 1]);
          }
        } else ok = false;
      }
      if (ok && st.counts[y] > countA) {
        const path = augmentingPath(
          n,
          y,
          byLoadAsc(st, st.counts),
          (z) => st.counts[z] <= countA - 1,
          (u, v) => movable(st, u, v, FOLLOWER_KEEPS_RACKS) > 0,
        );
        if (path) {
          for (let i = path.length - 2; i >= 0; i--) {
            const qi = pickReplica(st, path[i], path[i + 1], FOLLOWER_KEEPS_RACKS);
            assert.ok(qi !== undefined, 'an edge of the path is still there');
            save(qi);
            moveReplica(st, qi, st.parts[qi].replicas.indexOf(st.ids[path[i]]), path[i + 1]);
          }
        } else ok = false;
      }
      if (ok) return true;
      for (const [i, [replicas, firstStep]] of [...saved].reverse()) {
        restore(st, i, replicas);
        st.firstStep[i] = firstStep;
      }
      st.log.length = logged;
    }
  }
  return false;
}

function sortedHolds(st: State, bi: number): number[] {
  return [...st.holds[bi]].sort((x, y) => x - y);
}

/** Whether bytes are spread enough over the brokers to be worth moving data for. */
function bytesImbalanced(heavy: number, light: number): boolean {
  return heavy - light > bytesSpreadMax && heavy > bytesRatioMax * light;
}

/** Goal 4: swaps of replicas between heavy and light brokers, keeping replica and leader counts. */
function balanceBytes(st: State): void {
  const n = st.ids.length;
  // Each swap lowers the sum of squared bytes, so this ends; the bound keeps one plan short on a
  // pathological input (a later plan continues where this one stopped).
  for (let swaps = 0; n >= 2 && swaps < st.parts.length; swaps++) {
    const desc = byLoadDesc(st, st.bytes);
    if (!bytesImbalanced(st.bytes[desc[0]], st.bytes[desc[n - 1]])) return;
    let done = false;
    // The heaviest with the lightest first, then the next pairs that are still spread enough.
    for (let i = 0; i < n && !done; i++) {
      for (let j = n - 1; j > i && !done; j--) {
        if (!bytesImbalanced(st.bytes[desc[i]], st.bytes[desc[j]])) break;
        done = moveBytes(st, desc[i], desc[j]) || swapBytes(st, desc[i], desc[j]);
      }
    }
    if (!done) return;
  }
}

/**
 * A swap between heavy broker index `h` and light broker index `l`, carried out; false when none
 * helps. It wants partitions p on h and q on l with bytes(p) - bytes(q) within a quarter of the spread
 * of spread / 2 (so the pair's spread at least halves), nearest spread / 2, and a gain, 2 (bytes(p) - bytes(q)), of at least bytesSpreadMax
 * and a quarter of the bytes it copies (two near-equal replicas of a GiB each are not swapped to
 * shift a few MiB), where h leads p exactly when l leads q (so leader counts stay) and
 * both moves keep racks. The largest p are tried first, and the first pair that at least halves the
 * spread is taken: the best would cost a search of every pair, and any such pair converges.
 */
function swapBytes(st: State, h: number, l: number): boolean {
  const hId = st.ids[h];
  const lId = st.ids[l];
  const spread = st.bytes[h] - st.bytes[l];
  const heavy = st.bySize[h];
  const light = st.bySize[l];
  const size = (k: number) => st.parts[light[k]].source.bytes;
  let best: [number, number] | undefined;
  let bestGap = Number.POSITIVE_INFINITY;
  for (let k = heavy.length - 1; k >= 0 && bestGap > spread / 4; k--) {
    const pi = heavy[k];
    const p = st.parts[pi];
    const pBytes = p.source.bytes;
    // Smaller p only do worse once even the smallest q leaves p - q under half the spread.
    if (pBytes === 0 || light.length === 0 || spread / 2 - (pBytes - size(0)) >= bestGap) break;
    if (p.replicas.includes(lId) || !keepsRacks(st, p, h, l)) continue;
    const pLed = p.replicas[0] === hId;
    // Walk outward from bytes(q) = bytes(p) - spread / 2, nearer first, while nearer than the best.
    const want = pBytes - spread / 2;
    let lo = 0;
    let hi = light.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (size(mid) < want) lo = mid + 1;
      else hi = mid;
    }
    let left = lo - 1;
    let right = lo;
    while (left >= 0 || right < light.length) {
      const takeRight = left < 0 || (right < light.length && size(right) - want <= want - size(left));
      const at = takeRight ? right++ : left--;
      const gap = Math.abs(size(at) - want);
      // At most a quarter of the spread off its middle: the pair's spread at least halves. A swap that
      // flips most of the spread to the other side gains little, and with sizes that change (a topic
      // being written) the next plan would swap back.
      if (gap >= bestGap || gap > spread / 4) break;
      // Worth its copying: a swap copies both replicas to even the pair by twice their difference,
      // which must be at least bytesSpreadMax and a quarter of what it copies.
      if (2 * (pBytes - size(at)) < Math.max(bytesSpreadMax, (pBytes + size(at)) / 4)) continue;
      const qi = light[at];
      const q = st.parts[qi];
      if (q.replicas.includes(hId) || (q.replicas[0] === lId) !== pLed || !keepsRacks(st, q, l, h)) continue;
      [best, bestGap] = [[pi, qi], gap];
      break;
    }
  }
  if (!best) return false;
  const [pi, qi] = best;
  st.unit++;
  // The half that leaves the counts more than one apart first: were the plan cut after it, the next
  // plan's count goal completes the swap (it picks a replica near the other half's size). The other
  // half alone would leave them even, and the next byte goal could move it straight back.
  const p = () => moveReplica(st, pi, st.parts[pi].replicas.indexOf(hId), l);
  const q = () => moveReplica(st, qi, st.parts[qi].replicas.indexOf(lId), h);
  if (st.counts[h] > st.counts[l]) {
    q();
    p();
  } else {
    p();
    q();
  }
  return true;
}

/**
 * A single move evening bytes between heavy broker index `h` and light broker index `l` when h holds
 * more replicas (so counts stay within one): a partition h follows (so leaders stay), not on l, whose
 * move keeps racks, with spread / 4 <= bytes <= 3 spread / 4 (the pair's spread at least halves),
 * nearest spread / 2. False when there is none.
 */
function moveBytes(st: State, h: number, l: number): boolean {
  if (st.counts[h] <= st.counts[l]) return false;
  const hId = st.ids[h];
  const lId = st.ids[l];
  const spread = st.bytes[h] - st.bytes[l];
  const list = st.bySize[h];
  const size = (k: number) => st.parts[list[k]].source.bytes;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (size(mid) < spread / 2) lo = mid + 1;
    else hi = mid;
  }
  let left = lo - 1;
  let right = lo;
  while (left >= 0 || right < list.length) {
    const takeRight =
      left < 0 || (right < list.length && size(right) - spread / 2 <= spread / 2 - size(left));
    const k = takeRight ? right++ : left--;
    if (Math.abs(size(k) - spread / 2) > spread / 4) break;
    const p = st.parts[list[k]];
    if (p.replicas[0] === hId || p.replicas.includes(lId) || !keepsRacks(st, p, h, l)) continue;
    st.unit++;
    moveReplica(st, list[k], p.replicas.indexOf(hId), l);
    return true;
  }
  return false;
}

/**
 * The moves of the plan: one per partition that changed, from its list to its final one, in the order
 * of their first steps. Cut to `maxMoves`, it is the moves of the longest run of whole units from the
 * start that changes at most that many partitions (so what is carried out is a state the plan passed
 * through, lower in the measure than the start), or, when the first unit alone changes more, as many
 * of its steps as fit (carried out last edge first, a cut path does not raise the measure either).
 */
function planMoves(st: State, maxMoves: number): Move[] {
  const now = new Map<number, number[]>();
  const first = new Map<number, number>();
  const changed = new Set<number>();
  const same = (a: readonly number[], b: readonly number[]) => a.every((id, i) => id === b[i]);
  const step = (k: number) => {
    const { pi, replicas } = st.log[k];
    if (!first.has(pi)) first.set(pi, k);
    now.set(pi, replicas);
    if (same(replicas, st.parts[pi].source.replicas)) changed.delete(pi);
    else changed.add(pi);
  };
  let k = 0;
  while (k < st.log.length) {
    let end = k;
    while (end < st.log.length && st.log[end].unit === st.log[k].unit) end++;
    // Try the whole unit; undo it if it changes too many partitions.
    const before = new Map<
      number,
      { list: number[] | undefined; first: number | undefined; changed: boolean }
    >();
    for (let i = k; i < end; i++) {
      const pi = st.log[i].pi;
      if (!before.has(pi))
        before.set(pi, { list: now.get(pi), first: first.get(pi), changed: changed.has(pi) });
    }
    for (let i = k; i < end; i++) step(i);
    if (changed.size <= maxMoves) {
      k = end;
      continue;
    }
    for (const [pi, was] of before) {
      if (was.list) now.set(pi, was.list);
      else now.delete(pi);
      if (was.first === undefined) first.delete(pi);
      else first.set(pi, was.first);
      if (was.changed) changed.add(pi);
      else changed.delete(pi);
    }
    if (k === 0) {
      for (let i = k; i < end; i++) {
        const pi = st.log[i].pi;
        if (!changed.has(pi) && changed.size >= maxMoves) break;
        step(i);
      }
    }
    break;
  }
  return [...changed]
    .sort((a, b) => first.get(a)! - first.get(b)!)
    .map((pi) => {
      const p = st.parts[pi];
      const to = now.get(pi)!;
      assert.equal(to.length, p.source.replicas.length, 'a move keeps the replication factor');
      assert.equal(new Set(to).size, to.length, 'a move never doubles a replica');
      return {
        topic: p.source.topic,
        partition: p.source.partition,
        from: [...p.source.replicas],
        to: [...to],
      };
    });
}

/** `partitions` with `moves` carried out. */
function applyMoves(partitions: readonly BalancerPartition[], moves: readonly Move[]): BalancerPartition[] {
  const to = new Map(moves.map((m) => [`${m.topic}\u0000${m.partition}`, m.to]));
  return partitions.map((p) => {
    const replicas = to.get(`${p.topic}\u0000${p.partition}`);
    return replicas ? { ...p, replicas } : p;
  });
}

/** Each broker of `ids`: replicas, preferred leaderships and bytes held over `partitions`. */
function loads(ids: readonly number[], partitions: readonly BalancerPartition[]): BrokerLoad[] {
  const byId = new Map(ids.map((id) => [id, { id, replicas: 0, leaders: 0, bytes: 0 }]));
  for (const p of partitions) {
    p.replicas.forEach((id, pos) => {
      const load = byId.get(id);
      if (!load) return;
      load.replicas++;
      load.bytes += p.bytes;
      if (pos === 0) load.leaders++;
    });
  }
  return ids.map((id) => byId.get(id)!);
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

export interface ReplicationFactorInput {
  brokers: readonly BalancerBroker[];
  /** Every partition in the cluster (for the load), the topic's among them. */
  partitions: readonly BalancerPartition[];
  topic: string;
  replicationFactor: number;
}

/**
 * The moves that give every partition of `topic` `replicationFactor` replicas. Raising appends, one at
 * a time, the broker of `brokers` that the partition lacks on a rack it does not span yet, then with
 * the fewest replicas in the cluster, then the fewest bytes, then the lowest id; existing replicas keep
 * their order. Lowering drops replicas on brokers outside `brokers` (fenced) first, then those on the
 * most loaded brokers (most replicas, then bytes, then the higher id), preferring a drop that keeps the
 * partition's racks, and never the preferred leader unless it is outside `brokers` and another replica
 * is in. Loads are updated after each choice, so the counts stay as even as the choices allow.
 * INVALID_REPLICATION_FACTOR for a factor below 1 or above the number of brokers,
 * UNKNOWN_TOPIC_OR_PARTITION for a topic without partitions, REASSIGNMENT_IN_PROGRESS when one of its
 * partitions is pinned (being reassigned).
 */
export function planReplicationFactor(input: ReplicationFactorInput): Move[] {
  const { replicationFactor: rf, topic } = input;
  if (!Number.isSafeInteger(rf) || rf < 1) {
    throw new BrokerError('INVALID_REPLICATION_FACTOR', `replication factor must be at least 1, got ${rf}`);
  }
  if (rf > input.brokers.length) {
    throw new BrokerError(
      'INVALID_REPLICATION_FACTOR',
      `replication factor ${rf} is larger than the ${input.brokers.length} available broker${input.brokers.length === 1 ? '' : 's'}`,
    );
  }
  const st = makeState(input.brokers, input.partitions);
  const mine = st.parts.map((_, pi) => pi).filter((pi) => st.parts[pi].source.topic === topic);
  if (mine.length === 0) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
  for (const pi of mine) {
    const p = st.parts[pi];
    if (p.pinned) {
      throw new BrokerError(
        'REASSIGNMENT_IN_PROGRESS',
        `${topic}-${p.source.partition} is being reassigned; change its replication factor when that ends`,
      );
    }
  }
  const moves: Move[] = [];
  for (const pi of mine) {
    const p = st.parts[pi];
    const from = [...p.replicas];
    while (p.replicas.length < rf) addReplica(st, pi);
    while (p.replicas.length > rf) dropReplica(st, pi);
    if (p.replicas.length !== from.length) {
      assert.equal(new Set(p.replicas).size, rf, 'a new replica list repeats no broker');
      moves.push({ topic, partition: p.source.partition, from, to: [...p.replicas] });
    }
  }
  return moves;
}

function addReplica(st: State, pi: number): void {
  const p = st.parts[pi];
  const spanned = new Set(p.replicas.map(st.rackOf));
  let best = -1;
  let bestKey: number[] = [];
  for (let bi = 0; bi < st.ids.length; bi++) {
    if (p.replicas.includes(st.ids[bi])) continue;
    const key = [spanned.has(st.racks[bi]) ? 1 : 0, st.counts[bi], st.bytes[bi], st.ids[bi]];
    if (best < 0 || lexLess(key, bestKey)) [best, bestKey] = [bi, key];
  }
  assert.ok(best >= 0, 'a factor at most the broker count leaves a broker to add');
  p.replicas.push(st.ids[best]);
  st.holds[best].add(pi);
  st.counts[best]++;
  st.bytes[best] += p.source.bytes;
}

function dropReplica(st: State, pi: number): void {
  const p = st.parts[pi];
  const leaderIn = st.index.has(p.replicas[0]);
  const othersIn = p.replicas.slice(1).some((id) => st.index.has(id));
  const racks = rackCount(st, p.replicas);
  let best = -1;
  let bestKey: number[] = [];
  p.replicas.forEach((id, pos) => {
    if (pos === 0 && (leaderIn || !othersIn)) return;
    const bi = st.index.get(id);
    const rest = p.replicas.filter((_, i) => i !== pos);
    const key = [
      bi === undefined ? 0 : 1,
      rackCount(st, rest) === racks ? 0 : 1,
      bi === undefined ? 0 : -st.counts[bi],
      bi === undefined ? 0 : -st.bytes[bi],
      -id,
    ];
    if (best < 0 || lexLess(key, bestKey)) [best, bestKey] = [pos, key];
  });
  assert.ok(best >= 0, 'a partition above the factor has a replica to drop');
  const bi = st.index.get(p.replicas[best]);
  if (bi !== undefined) {
    st.holds[bi].delete(pi);
    st.counts[bi]--;
    st.bytes[bi] -= p.source.bytes;
  }
  p.replicas.splice(best, 1);
}
