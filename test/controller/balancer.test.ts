/**
 * The replica balancer (issue 14), checked on seeded random clusters (BALANCER_SEED reproduces a run):
 * every hard guarantee of the full plan (drained brokers empty, no doubled replica, factors kept,
 * replica counts within one, or as even as pinned partitions allow, preferred leaders within one where
 * that is achievable, racks kept, bytes evened by the rule), the loads it reports, convergence of the
 * controller's apply-two-and-replan loop, determinism and idempotence; then named scenarios (a node
 * joins, one is decommissioned, racks, bytes, replication factor up and down, errors).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BalanceInput,
  type BalancerBroker,
  type BalancerPartition,
  type BrokerLoad,
  bytesRatioMax,
  bytesSpreadMax,
  type Move,
  planRebalance,
  planReplicationFactor,
} from '../../src/controller/balancer.ts';
import { isBrokerError } from '../../src/errors.ts';
import { prng } from '../helpers/prng.ts';

const MiB = 1024 * 1024;
const code = (c: string) => (err: unknown) => isBrokerError(err) && err.code === c;
const key = (p: { topic: string; partition: number }) => `${p.topic}-${p.partition}`;

/** `partitions` with `moves` carried out, checking each move against the partition it names. */
function apply(partitions: readonly BalancerPartition[], moves: readonly Move[], where: string) {
  const byKey = new Map(partitions.map((p) => [key(p), p]));
  const out = new Map(byKey);
  for (const m of moves) {
    const p = byKey.get(key(m));
    assert.ok(p, `${where}: move names ${key(m)}, which exists`);
    assert.deepEqual(m.from, p.replicas, `${where}: ${key(m)} moves from where it is`);
    assert.ok(out.get(key(m)) === p, `${where}: ${key(m)} moves once in a plan`);
    out.set(key(m), { ...p, replicas: m.to });
  }
  return partitions.map((p) => out.get(key(p))!);
}

function loadsOf(ids: readonly number[], partitions: readonly BalancerPartition[]): BrokerLoad[] {
  return [...ids]
    .sort((a, b) => a - b)
    .map((id) => {
      const held = partitions.filter((p) => p.replicas.includes(id));
      return {
        id,
        replicas: held.length,
        leaders: held.filter((p) => p.replicas[0] === id).length,
        bytes: held.reduce((sum, p) => sum + p.bytes, 0),
      };
    });
}

const spread = (values: readonly number[]) => Math.max(...values) - Math.min(...values);

function rackSpan(brokers: readonly BalancerBroker[], replicas: readonly number[]): number {
  const rack = new Map(brokers.map((b) => [b.id, b.rack ?? '']));
  return new Set(replicas.map((id) => rack.get(id) ?? `unknown ${id}`)).size;
}

/**
 * Whether some broker could pass a unit of load to one holding two or fewer less, along a chain of
 * edges x -> y, each a partition that `edge` says could carry load from x to y: the optimality
 * condition of the replica-count and leader-count goals, written here independently of the balancer.
 */
function improvable(
  ids: readonly number[],
  load: ReadonlyMap<number, number>,
  edge: (x: number, y: number) => boolean,
): boolean {
  for (const a of ids) {
    const seen = new Set([a]);
    const queue = [a];
    while (queue.length > 0) {
      const x = queue.shift()!;
      for (const y of ids) {
        if (seen.has(y) || !edge(x, y)) continue;
        if (load.get(y)! <= load.get(a)! - 2) return true;
        seen.add(y);
        queue.push(y);
      }
    }
  }
  return false;
}

/** Checks the hard guarantees on `partitions`, the state after a full plan (or a converged loop). */
function checkBalanced(input: BalanceInput, partitions: readonly BalancerPartition[], where: string) {
  const ids = input.brokers.map((b) => b.id);
  const active = new Set(ids);
  const draining = new Set(input.draining ?? []);
  const movable = partitions.filter((p) => !p.pinned);
  for (const p of movable) {
    for (const id of p.replicas) assert.ok(!draining.has(id), `${where}: ${key(p)} left draining ${id}`);
  }
  if (ids.length === 0) return;
  const counts = new Map(loadsOf(ids, partitions).map((l) => [l.id, l.replicas]));
  const leaders = new Map(loadsOf(ids, partitions).map((l) => [l.id, l.leaders]));
  // Replica counts: within one without pinned partitions (striping always can); with them, no chain
  // of moves evens them further.
  const countEdge = (x: number, y: number) =>
    movable.some((p) => p.replicas.includes(x) && !p.replicas.includes(y));
  if (partitions.every((p) => !p.pinned)) {
    assert.ok(spread([...counts.values()]) <= 1, `${where}: replica counts ${[...counts]} within one`);
  } else {
    assert.ok(
      !improvable(ids, counts, countEdge),
      `${where}: replica counts ${[...counts]} as even as can be`,
    );
  }
  // Preferred leaders: no chain of reorders evens them further; within one when nothing is pinned
  // and no preferred leader is fenced (the header of balancer.ts: what its local search reaches on
  // these clusters, not a theorem; pinned partitions can make it impossible).
  const leaderEdge = (x: number, y: number) =>
    movable.some((p) => p.replicas[0] === x && p.replicas.includes(y));
  assert.ok(
    !improvable(ids, leaders, leaderEdge),
    `${where}: leaders ${[...leaders]} as even as reorders allow`,
  );
  const fencedLeader = partitions.some((p) => !active.has(p.replicas[0]));
  if (partitions.every((p) => !p.pinned) && !fencedLeader) {
    assert.ok(spread([...leaders.values()]) <= 1, `${where}: leaders ${[...leaders]} within one`);
  }
}

/** Checks each move of a plan: the factor, no doubled broker, only active brokers added, pins kept. */
function checkMoves(input: BalanceInput, moves: readonly Move[], where: string) {
  const active = new Set(input.brokers.map((b) => b.id));
  const byKey = new Map(input.partitions.map((p) => [key(p), p]));
  for (const m of moves) {
    const p = byKey.get(key(m))!;
    assert.ok(!p.pinned, `${where}: pinned ${key(m)} does not move`);
    assert.equal(m.to.length, m.from.length, `${where}: ${key(m)} keeps its factor`);
    assert.equal(new Set(m.to).size, m.to.length, `${where}: ${key(m)} -> ${m.to} repeats no broker`);
    assert.notDeepEqual(m.to, m.from, `${where}: ${key(m)} changes`);
    for (const id of m.to) {
      assert.ok(m.from.includes(id) || active.has(id), `${where}: ${key(m)} adds only active brokers`);
    }
  }
}

/** The brokers a plan reports loads for. */
const loadIds = (input: BalanceInput) => [...input.brokers.map((b) => b.id), ...(input.draining ?? [])];

/** One seeded random cluster. */
function randomInput(seed: number): BalanceInput {
  const rng = prng(seed);
  const int = (n: number) => Math.floor(rng() * n);
  const all = 1 + int(9);
  const rackCount = int(2) === 0 ? 0 : 2 + int(2);
  const evenRacks = int(2) === 0;
  const pool = Array.from({ length: all }, (_, i) => ({
    id: 1 + i * 2 + int(2),
    rack: rackCount === 0 ? null : `r${evenRacks ? i % rackCount : int(rackCount)}`,
  }));
  const drainCount = all >= 2 && int(3) === 0 ? 1 + int(Math.min(2, all - 1)) : 0;
  const brokers = pool.slice(0, all - drainCount);
  const draining = pool.slice(all - drainCount).map((b) => b.id);
  const fenced = int(5) === 0 ? [99] : [];
  // A new empty broker half the time: it holds nothing yet.
  const empty = brokers.length >= 2 && int(2) === 0 ? brokers[int(brokers.length)].id : undefined;
  const holders = [...brokers.map((b) => b.id).filter((id) => id !== empty), ...draining, ...fenced];
  const skew = int(3) === 0;
  const pinnedShare = int(3) === 0 ? 0.1 : 0;
  const byteMode = int(3);
  const partitions: BalancerPartition[] = [];
  const topics = 1 + int(3);
  const total = int(301);
  for (let i = 0; i < total; i++) {
    const topic = `t${i % topics}`;
    const rf = 1 + int(Math.min(3, brokers.length, holders.length));
    const replicas: number[] = [];
    while (replicas.length < rf) {
      // Skewed: the first holders far more often.
      const at = skew ? Math.floor(rng() ** 3 * holders.length) : int(holders.length);
      if (!replicas.includes(holders[at])) replicas.push(holders[at]);
    }
    const bytes = byteMode === 0 ? 0 : byteMode === 1 ? int(512) * MiB : Math.floor(rng() ** 4 * 4096) * MiB;
    partitions.push({
      topic,
      partition: Math.floor(i / topics),
      replicas,
      bytes,
      pinned: rng() < pinnedShare,
    });
  }
  return { brokers, draining, partitions };
}

/** Every check of one random cluster's full plan; returns the plan. */
function checkFullPlan(input: BalanceInput, where: string) {
  const plan = planRebalance(input);
  checkMoves(input, plan.moves, where);
  const after = apply(input.partitions, plan.moves, where);
  assert.deepEqual(plan.before, loadsOf(loadIds(input), input.partitions), `${where}: before`);
  assert.deepEqual(plan.after, loadsOf(loadIds(input), after), `${where}: after`);
  checkBalanced(input, after, where);
  // Racks: a move off active brokers never loses a rack when the racks are of one size and nothing is
  // pinned (so a rack-keeping choice always exists). The racks of draining brokers are not known.
  const sizes = new Map<string, number>();
  for (const b of input.brokers) sizes.set(b.rack ?? '', (sizes.get(b.rack ?? '') ?? 0) + 1);
  if (new Set(sizes.values()).size === 1 && input.partitions.every((p) => !p.pinned)) {
    const draining = new Set(input.draining ?? []);
    for (const m of plan.moves) {
      if (m.from.some((id) => draining.has(id))) continue;
      assert.ok(
        rackSpan(input.brokers, m.to) >= rackSpan(input.brokers, m.from),
        `${where}: ${key(m)} ${m.from} -> ${m.to} keeps its racks`,
      );
    }
  }
  // Bytes: once replicas and leaders are balanced, either the rule is met or no swap between the
  // heaviest and the lightest broker helps enough to be worth its copying.
  const loads = loadsOf(
    input.brokers.map((b) => b.id),
    after,
  );
  if (loads.length >= 2 && input.partitions.every((p) => !p.pinned)) {
    const heavy = loads.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const light = loads.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    const d = heavy.bytes - light.bytes;
    if (d > bytesSpreadMax && heavy.bytes > bytesRatioMax * light.bytes) {
      const on = (id: number, other: number) =>
        after.filter((p) => p.replicas.includes(id) && !p.replicas.includes(other));
      for (const p of on(heavy.id, light.id)) {
        for (const q of on(light.id, heavy.id)) {
          const delta = p.bytes - q.bytes;
          if (delta <= 0 || delta >= d || (p.replicas[0] === heavy.id) !== (q.replicas[0] === light.id))
            continue;
          // A swap not worth its copying, or one that would not at least halve the pair's spread
          // (balancer.ts swapBytes), is not expected either.
          if (2 * delta < Math.max(bytesSpreadMax, (p.bytes + q.bytes) / 4)) continue;
          if (Math.abs(delta - d / 2) > d / 4) continue;
          const pTo = p.replicas.map((id) => (id === heavy.id ? light.id : id));
          const qTo = q.replicas.map((id) => (id === light.id ? heavy.id : id));
          const keeps =
            rackSpan(input.brokers, pTo) >= rackSpan(input.brokers, p.replicas) &&
            rackSpan(input.brokers, qTo) >= rackSpan(input.brokers, q.replicas);
          assert.ok(!keeps, `${where}: swapping ${key(p)} and ${key(q)} would even bytes ${d}`);
        }
      }
    }
  }
  // Idempotent: the balanced result needs no further move.
  assert.deepEqual(planRebalance({ ...input, partitions: after }).moves, [], `${where}: replan is empty`);
  return plan;
}

const baseSeed = Number(process.env.BALANCER_SEED ?? 20261201);
/** BALANCER_RUNS=n runs n times as many random clusters (a longer search, off the default run). */
const runsScale = Number(process.env.BALANCER_RUNS ?? 1);

describe('balancer: seeded random clusters', () => {
  it('meets every guarantee on the full plan, deterministically, with the loads it reports', () => {
    for (let run = 0; run < 300 * runsScale; run++) {
      const seed = baseSeed + run;
      const where = `seed ${seed} (BALANCER_SEED=${seed} reproduces as run 0)`;
      const input = randomInput(seed);
      const plan = checkFullPlan(input, where);
      // The same cluster listed in another order plans the same moves.
      const shuffled = {
        ...input,
        brokers: [...input.brokers].reverse(),
        partitions: [...input.partitions].reverse(),
      };
      assert.deepEqual(planRebalance(shuffled), plan, `${where}: deterministic`);
      // maxMoves cuts the plan after its first steps: at most that many valid moves, at least one
      // when there are any, the reported loads those of the cut, and the whole plan when all fit.
      const cut = planRebalance({ ...input, maxMoves: 3 });
      assert.ok(cut.moves.length <= 3 && cut.moves.length >= Math.min(1, plan.moves.length), `${where}: cut`);
      checkMoves(input, cut.moves, `${where} cut`);
      assert.deepEqual(
        cut.after,
        loadsOf(loadIds(input), apply(input.partitions, cut.moves, where)),
        `${where} cut`,
      );
      // (A cut at the plan's own length may stop earlier: a partition moved and moved back counts
      // while it is away.)
      const all = planRebalance({ ...input, maxMoves: input.partitions.length });
      assert.deepEqual(all, plan, `${where}: maxMoves of every partition gives the plan`);
    }
  });

  it('converges when the first two moves are carried out and the plan made again', () => {
    for (let run = 0; run < 150 * runsScale; run++) {
      const seed = baseSeed + 1_000_000 + run;
      const where = `seed ${seed}`;
      const input = randomInput(seed);
      let partitions = input.partitions;
      const full = planRebalance(input).moves.length;
      let rounds = 0;
      for (; ; rounds++) {
        // Each round carries out two moves; a plan may need more after a cut, but not many more.
        assert.ok(rounds <= full + 20, `${where}: converges within ${full + 20} rounds (full plan ${full})`);
        const step = { ...input, partitions, maxMoves: 2 };
        const plan = planRebalance(step);
        assert.ok(plan.moves.length <= 2, `${where}: maxMoves`);
        if (plan.moves.length === 0) break;
        checkMoves(step, plan.moves, where);
        partitions = apply(partitions, plan.moves, where);
      }
      checkBalanced(input, partitions, `${where} after ${rounds} rounds`);
    }
  });

  // Seed 1006166 (BALANCER_SEED=4242), two moves at a time: the merged plan's first two moves were the
  // middle edges of count paths; carried out alone, the next plan moved them back. Seed 555085, one
  // move at a time: half a byte swap left counts even and bytes worse, and the next plan's byte goal
  // moved it back.
  for (const [seed, maxMoves] of [
    [1006166, 2],
    [555085, 1],
  ]) {
    it(`regression: seed ${seed} with maxMoves ${maxMoves} cycled between states`, () => {
      const input = randomInput(seed);
      let partitions = input.partitions;
      for (let rounds = 0; ; rounds++) {
        assert.ok(rounds <= 40, 'converges within 40 rounds');
        const plan = planRebalance({ ...input, partitions, maxMoves });
        if (plan.moves.length === 0) break;
        partitions = apply(partitions, plan.moves, `seed ${seed}`);
      }
      checkBalanced(input, partitions, `seed ${seed}`);
    });
  }

  it('converges one move at a time too', () => {
    for (let run = 0; run < 40 * runsScale; run++) {
      const seed = baseSeed + 2_000_000 + run;
      const input = randomInput(seed);
      let partitions = input.partitions;
      const full = planRebalance(input).moves.length;
      for (let rounds = 0; ; rounds++) {
        assert.ok(rounds <= 3 * full + 60, `seed ${seed}: converges within ${3 * full + 60} rounds`);
        const plan = planRebalance({ ...input, partitions, maxMoves: 1 });
        if (plan.moves.length === 0) break;
        partitions = apply(partitions, plan.moves, `seed ${seed}`);
      }
      checkBalanced(input, partitions, `seed ${seed} one at a time`);
    }
  });
});

/** `count` partitions of topic t, RF 2, striped over brokers 1-3 with leaders balanced. */
function threeBrokers(count: number, bytes = 0): BalancerPartition[] {
  const lists = [
    [1, 2],
    [2, 3],
    [3, 1],
  ];
  return Array.from({ length: count }, (_, i) => ({
    topic: 't',
    partition: i,
    replicas: lists[i % 3],
    bytes,
  }));
}

const plain = (...ids: number[]): BalancerBroker[] => ids.map((id) => ({ id, rack: null }));

function replicaMoves(moves: readonly Move[]): number {
  return moves.reduce((sum, m) => sum + m.to.filter((id) => !m.from.includes(id)).length, 0);
}

describe('balancer: scenarios', () => {
  it('a node joins 3 brokers holding 12 partitions of RF 2: exactly 6 replicas move to it', () => {
    const input = { brokers: plain(1, 2, 3, 4), partitions: threeBrokers(12) };
    const plan = checkFullPlan(input, 'join');
    assert.equal(replicaMoves(plan.moves), 6);
    for (const m of plan.moves) {
      const added = m.to.filter((id) => !m.from.includes(id));
      assert.ok(added.length === 0 || (added.length === 1 && added[0] === 4), `${key(m)} moves only to 4`);
    }
    assert.deepEqual(
      plan.after.map((l) => [l.id, l.replicas, l.leaders]),
      [
        [1, 6, 3],
        [2, 6, 3],
        [3, 6, 3],
        [4, 6, 3],
      ],
    );
  });

  it('a balanced cluster gets no moves', () => {
    assert.deepEqual(planRebalance({ brokers: plain(1, 2, 3), partitions: threeBrokers(12) }).moves, []);
    assert.deepEqual(planRebalance({ brokers: plain(1, 2, 3), partitions: [] }).moves, []);
    assert.deepEqual(planRebalance({ brokers: [], partitions: [] }).moves, []);
  });

  it('a leader-only imbalance is fixed by reorders alone, moving no data', () => {
    const partitions = threeBrokers(6).map((p) => ({ ...p, replicas: [...p.replicas].sort() }));
    const plan = checkFullPlan({ brokers: plain(1, 2, 3), partitions }, 'reorder');
    assert.ok(plan.moves.length > 0);
    for (const m of plan.moves) assert.deepEqual([...m.to].sort(), [...m.from].sort(), `${key(m)} reorders`);
  });

  it('decommissioning one of 4 brokers moves its replicas, and only those, to the other 3', () => {
    const input = { brokers: plain(1, 2, 3), partitions: [] as BalancerPartition[] };
    input.partitions = planRebalance({
      brokers: plain(1, 2, 3, 4),
      partitions: threeBrokers(12),
    }).moves.reduce((parts, m) => apply(parts, [m], 'setup'), threeBrokers(12));
    const plan = checkFullPlan({ ...input, draining: [4] }, 'decommission');
    assert.equal(replicaMoves(plan.moves), 6);
    assert.deepEqual(plan.after.at(-1), { id: 4, replicas: 0, leaders: 0, bytes: 0 });
    // Draining moves come first.
    const firsts = plan.moves.slice(0, 6);
    for (const m of firsts) assert.ok(m.from.includes(4), `${key(m)} is a draining move`);
  });

  it('keeps a partition on two racks when a broker of its missing rack is free', () => {
    const brokers: BalancerBroker[] = [
      { id: 1, rack: 'a' },
      { id: 2, rack: 'a' },
      { id: 3, rack: 'b' },
      { id: 4, rack: 'b' },
    ];
    // Everything is on 1 (rack a) and 3 (rack b); 2 and 4 are new.
    const partitions = Array.from({ length: 8 }, (_, i) => ({
      topic: 't',
      partition: i,
      replicas: i % 2 ? [1, 3] : [3, 1],
      bytes: 0,
    }));
    const plan = checkFullPlan({ brokers, partitions }, 'racks');
    for (const m of plan.moves)
      assert.equal(rackSpan(brokers, m.to), 2, `${key(m)} -> ${m.to} spans a and b`);
  });

  it('drains a broker onto its rack when that keeps the counts even', () => {
    // Racks a (1, 2) and b (3, 4, and 5, which is new); every partition spans both racks.
    const brokers: BalancerBroker[] = [
      { id: 1, rack: 'a' },
      { id: 2, rack: 'a' },
      { id: 4, rack: 'b' },
      { id: 5, rack: 'b' },
    ];
    const lists = [
      [1, 3],
      [2, 4],
      [3, 1],
      [4, 2],
    ];
    const partitions = Array.from({ length: 8 }, (_, i) => ({
      topic: 't',
      partition: i,
      replicas: lists[i % 4],
      bytes: 0,
    }));
    const plan = checkFullPlan({ brokers, draining: [3], partitions }, 'drain racks');
    for (const m of plan.moves) {
      assert.ok(m.from.includes(3) && m.to.includes(5), `${key(m)} ${m.from} -> ${m.to} goes from 3 to 5`);
      assert.equal(rackSpan(brokers, m.to), 2);
    }
    assert.equal(replicaMoves(plan.moves), 4);
  });

  it('drains onto the rack that keeps the partition spread, even past a less loaded broker', () => {
    const brokers: BalancerBroker[] = [
      { id: 1, rack: 'a' },
      { id: 2, rack: 'a' },
      { id: 4, rack: 'b' },
    ];
    const partitions: BalancerPartition[] = [
      { topic: 't', partition: 0, replicas: [3, 1], bytes: 0 },
      { topic: 'u', partition: 0, replicas: [4], bytes: 0 },
    ];
    const plan = checkFullPlan({ brokers, draining: [3], partitions }, 'drain onto rack');
    const after = apply(partitions, plan.moves, 'drain onto rack');
    assert.deepEqual(after[0].replicas, [4, 1], 't-0 goes to rack b');
    assert.deepEqual(after[1].replicas, [2], 'u-0 makes room');
  });

  it('evens counts through a chain of moves when pinned partitions block the direct one', () => {
    // Broker 1 holds three pinned partitions and t-0, which broker 3 holds too: 1 cannot pass t-0 to
    // 3, but it can pass it to 2, which passes u-0 on to 3.
    const partitions: BalancerPartition[] = [
      ...[0, 1, 2].map((i) => ({ topic: 'p', partition: i, replicas: [1], bytes: 0, pinned: true })),
      { topic: 't', partition: 0, replicas: [1, 3], bytes: 0 },
      { topic: 't', partition: 1, replicas: [3], bytes: 0 },
      ...[0, 1, 2].map((i) => ({ topic: 'u', partition: i, replicas: [2], bytes: 0 })),
    ];
    const plan = checkFullPlan({ brokers: plain(1, 2, 3), partitions }, 'chain');
    assert.deepEqual(
      plan.after.map((l) => l.replicas),
      [3, 3, 3],
    );
    assert.equal(replicaMoves(plan.moves), 2);
  });

  it('evens bytes by swapping replicas when counts are balanced but sizes are not', () => {
    // Broker 1 holds the large partitions, 2 the small ones: counts and leaders are even.
    const partitions: BalancerPartition[] = [
      ...Array.from({ length: 4 }, (_, i) => ({
        topic: 'big',
        partition: i,
        replicas: [1],
        bytes: 1024 * MiB,
      })),
      ...Array.from({ length: 4 }, (_, i) => ({ topic: 'small', partition: i, replicas: [2], bytes: MiB })),
    ];
    const input = { brokers: plain(1, 2), partitions };
    const plan = checkFullPlan(input, 'bytes');
    // 4096 MiB against 4 MiB: one swap leaves 3073 against 1027, still over the rule; a second
    // evens them.
    assert.equal(plan.moves.length, 4, 'two swaps');
    assert.deepEqual(
      plan.after.map((l) => [l.replicas, l.leaders, l.bytes]),
      [
        [4, 4, 2050 * MiB],
        [4, 4, 2050 * MiB],
      ],
    );
    // Within the rule (1.25x or 64 MiB), nothing moves.
    const near = partitions.map((p) => ({ ...p, bytes: p.topic === 'big' ? 16 * MiB : MiB }));
    assert.deepEqual(planRebalance({ brokers: plain(1, 2), partitions: near }).moves, []);
  });

  it('moves the replica that evens bytes best off an overloaded broker', () => {
    const partitions: BalancerPartition[] = [
      { topic: 't', partition: 0, replicas: [1], bytes: 100 * MiB },
      { topic: 't', partition: 1, replicas: [1], bytes: 1000 * MiB },
      { topic: 't', partition: 2, replicas: [1], bytes: 10 * MiB },
    ];
    const plan = planRebalance({ brokers: plain(1, 2), partitions });
    assert.deepEqual(plan.moves, [{ topic: 't', partition: 1, from: [1], to: [2] }]);
  });

  it('leaves pinned partitions and fenced replicas where they are', () => {
    const partitions: BalancerPartition[] = [
      { topic: 't', partition: 0, replicas: [1, 9], bytes: 0, pinned: true },
      { topic: 't', partition: 1, replicas: [1, 9], bytes: 0 },
      { topic: 't', partition: 2, replicas: [1, 9], bytes: 0 },
    ];
    const plan = checkFullPlan({ brokers: plain(1, 2), partitions }, 'pinned');
    assert.deepEqual(plan.moves, [{ topic: 't', partition: 1, from: [1, 9], to: [2, 9] }]);
  });

  it('refuses to drain when too few brokers remain, naming the partition and the brokers', () => {
    const partitions = threeBrokers(3);
    assert.throws(
      () => planRebalance({ brokers: plain(1), draining: [2, 3], partitions }),
      (err: unknown) =>
        code('INVALID_REPLICATION_FACTOR')(err) && /t-0 .*factor 2.*brokers 1\b/.test(String(err)),
    );
    assert.throws(
      () => planRebalance({ brokers: [], draining: [1, 2, 3], partitions }),
      (err: unknown) => code('INVALID_REPLICATION_FACTOR')(err) && /no brokers/.test(String(err)),
    );
    // Nothing to drain: no error even with no brokers.
    assert.deepEqual(planRebalance({ brokers: [], draining: [7], partitions }).moves, []);
  });

  it('handles 10,000 partitions on 9 brokers with a new one', () => {
    const brokers = Array.from({ length: 9 }, (_, i) => ({ id: i + 1, rack: `r${i % 3}` }));
    const partitions = Array.from({ length: 10_000 }, (_, i) => ({
      topic: `t${i % 50}`,
      partition: Math.floor(i / 50),
      replicas: [(i % 8) + 1, ((i + 1) % 8) + 1, ((i + 2) % 8) + 1],
      bytes: ((i * 7919) % 1000) * MiB,
    }));
    const plan = planRebalance({ brokers, partitions });
    const after = apply(partitions, plan.moves, 'large');
    checkBalanced({ brokers, partitions }, after, 'large');
    assert.ok(spread(plan.after.map((l) => l.replicas)) <= 1);
  });
});

describe('planReplicationFactor', () => {
  const brokers = plain(1, 2, 3, 4);
  const partitions = threeBrokers(6).concat([{ topic: 'u', partition: 0, replicas: [4], bytes: 0 }]);

  it('raises 2 -> 3 by appending the least loaded brokers, keeping the order', () => {
    const moves = planReplicationFactor({ brokers, partitions, topic: 't', replicationFactor: 3 });
    assert.equal(moves.length, 6);
    for (const m of moves) {
      assert.deepEqual(m.to.slice(0, 2), m.from, `${key(m)} keeps its replicas in order`);
      assert.equal(new Set(m.to).size, 3);
    }
    const after = loadsOf([1, 2, 3, 4], apply(partitions, moves, 'rf up'));
    assert.ok(spread(after.map((l) => l.replicas)) <= 1, `replica counts ${after.map((l) => l.replicas)}`);
  });

  it('prefers a rack the partition does not span yet', () => {
    const racked = [
      { id: 1, rack: 'a' },
      { id: 2, rack: 'a' },
      { id: 3, rack: 'b' },
    ];
    const moves = planReplicationFactor({
      brokers: racked,
      partitions: [
        { topic: 't', partition: 0, replicas: [1], bytes: 0 },
        { topic: 'x', partition: 0, replicas: [3], bytes: 0 },
        { topic: 'x', partition: 1, replicas: [3], bytes: 0 },
      ],
      topic: 't',
      replicationFactor: 2,
    });
    assert.deepEqual(moves, [{ topic: 't', partition: 0, from: [1], to: [1, 3] }]);
  });

  it('lowers 3 -> 1 keeping the preferred leader', () => {
    const three = planReplicationFactor({ brokers, partitions, topic: 't', replicationFactor: 3 });
    const raised = apply(partitions, three, 'rf up');
    const moves = planReplicationFactor({ brokers, partitions: raised, topic: 't', replicationFactor: 1 });
    assert.equal(moves.length, 6);
    for (const m of moves) assert.deepEqual(m.to, [m.from[0]], `${key(m)} keeps its leader`);
  });

  it('drops fenced replicas first and a fenced leader when another replica is active', () => {
    const moves = planReplicationFactor({
      brokers,
      partitions: [{ topic: 'f', partition: 0, replicas: [9, 1, 2], bytes: 0 }],
      topic: 'f',
      replicationFactor: 1,
    });
    assert.equal(moves.length, 1);
    assert.equal(moves[0].to.length, 1);
    assert.ok([1, 2].includes(moves[0].to[0]), `kept ${moves[0].to}`);
  });

  it('makes no move for partitions already at the factor', () => {
    assert.deepEqual(planReplicationFactor({ brokers, partitions, topic: 't', replicationFactor: 2 }), []);
  });

  it('refuses a bad factor, an unknown topic and a partition being reassigned', () => {
    for (const rf of [0, 5, 1.5]) {
      assert.throws(
        () => planReplicationFactor({ brokers, partitions, topic: 't', replicationFactor: rf }),
        code('INVALID_REPLICATION_FACTOR'),
        `factor ${rf}`,
      );
    }
    assert.throws(
      () => planReplicationFactor({ brokers, partitions, topic: 'nope', replicationFactor: 2 }),
      code('UNKNOWN_TOPIC_OR_PARTITION'),
    );
    const pinned = partitions.map((p) => ({ ...p, pinned: true }));
    assert.throws(
      () => planReplicationFactor({ brokers, partitions: pinned, topic: 't', replicationFactor: 3 }),
      code('REASSIGNMENT_IN_PROGRESS'),
    );
  });
});

describe('limits', () => {
  it('more racks than the balancer weighs are left out of the plan rather than refused', () => {
    const brokers = Array.from({ length: 40 }, (_, i) => ({ id: i + 1, rack: `rack-${i + 1}` }));
    const partitions = Array.from({ length: 20 }, (_, i) => ({
      topic: 't',
      partition: i,
      replicas: [1 + (i % 2), 3 + (i % 2)],
      bytes: 0,
    }));
    const plan = planRebalance({ brokers, partitions });
    const counts = new Map(brokers.map((b) => [b.id, 0]));
    const after = new Map(partitions.map((p) => [p.partition, p.replicas]));
    for (const m of plan.moves) after.set(m.partition, m.to);
    for (const r of after.values()) for (const id of r) counts.set(id, counts.get(id)! + 1);
    assert.ok(Math.max(...counts.values()) - Math.min(...counts.values()) <= 1);
  });

  it('two near-equal large replicas are not swapped to shift a few MiB', () => {
    const GiB = 2 ** 30;
    // Broker 1 holds two replicas and broker 2 one: counts are within one, bytes 2 GiB against 1 GiB,
    // and every swap would shift 2 x 10 MiB while copying 2 GiB.
    const plan = planRebalance({
      brokers: [
        { id: 1, rack: null },
        { id: 2, rack: null },
      ],
      partitions: [
        { topic: 't', partition: 0, replicas: [1], bytes: GiB },
        { topic: 't', partition: 1, replicas: [1], bytes: GiB },
        { topic: 't', partition: 2, replicas: [2], bytes: GiB - 10 * 2 ** 20 },
      ],
    });
    assert.deepEqual(plan.moves, []);
  });
});
