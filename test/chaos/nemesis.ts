/**
 * The nemesis of a chaos run: a schedule of faults drawn from one seed (planSchedule, pure), each aimed
 * at a role as in Redpanda's chaos grid, and their application to the running cluster (applyFault).
 *
 * Faults:
 * - kill: SIGKILL, then a restart on the same data directory when healed;
 * - pause: SIGSTOP, then SIGCONT;
 * - terminate: SIGTERM (a controlled shutdown, which moves leaderships away first), then a restart;
 * - isolate: the target's packets to and from every other node dropped (clients still reach it);
 * - split: a minority, the target among it, cut off from the majority;
 * - bridge: two halves that cannot reach each other, and the target in the middle reaching both;
 * - one-way: packets from every other node to the target dropped, the other direction left open;
 * - rolling-restart: every node in turn, SIGTERM and start again, waiting for a full ISR between;
 * - transfer: the active controller's role handed to another voter (TransferController), at once;
 * - elect: one partition's leadership moved to another in-sync replica while it is written: its
 *   replicas are reordered by a reassignment (the new leader first, no data moved) and a preferred
 *   ElectLeaders follows, as an operator moves a leader off a node.
 * Roles: the leader or a follower of one partition, the active controller, the group coordinator, a
 * random node, all nodes. A role that cannot be resolved at the time (no leader known, say) falls back
 * to a random running node, and the history says so.
 */
import { prng } from '../helpers/prng.ts';
import type { ChaosCluster } from './cluster.ts';

export type FaultKind =
  | 'kill'
  | 'pause'
  | 'terminate'
  | 'isolate'
  | 'split'
  | 'bridge'
  | 'one-way'
  | 'rolling-restart'
  | 'transfer'
  | 'elect';
export type Role = 'leader' | 'follower' | 'controller' | 'coordinator' | 'random' | 'all';

export interface PlannedFault {
  kind: FaultKind;
  role: Role;
  /** How long the fault holds before it is healed. */
  holdMs: number;
  /** The quiet time before it. */
  gapMs: number;
  /** A number in [0, 1) that picks among candidates (which partition, which random node). */
  pick: number;
}

/** The fault/role pairs a cluster of `nodes` can take. */
export function faultMenu(nodes: number): [FaultKind, Role][] {
  if (nodes === 1)
    return [
      ['kill', 'random'],
      ['terminate', 'random'],
      ['pause', 'random'],
    ];
  const roles: Role[] = ['leader', 'follower', 'controller', 'coordinator', 'random'];
  const menu: [FaultKind, Role][] = [];
  for (const role of roles)
    for (const kind of ['kill', 'pause', 'terminate'] as const) menu.push([kind, role]);
  for (const role of ['leader', 'controller', 'coordinator', 'random'] as const)
    menu.push(['isolate', role], ['one-way', role]);
  menu.push(
    ['kill', 'all'],
    ['pause', 'all'],
    ['rolling-restart', 'all'],
    ['transfer', 'controller'],
    ['elect', 'leader'],
  );
  if (nodes >= 3)
    menu.push(['split', 'random'], ['bridge', 'random'], ['split', 'leader'], ['bridge', 'controller']);
  return menu;
}

/**
 * Faults to fill `seconds` of a schedule, each a pair drawn from the menu with a gap of 2-5 s before
 * it and a hold of 3-9 s (a rolling restart holds for as long as it takes).
 */
export function planSchedule(seed: number, seconds: number, nodes: number): PlannedFault[] {
  const random = prng(seed);
  const menu = faultMenu(nodes);
  const out: PlannedFault[] = [];
  let t = 0;
  for (;;) {
    const gapMs = 2000 + Math.floor(random() * 3000);
    const holdMs = 3000 + Math.floor(random() * 6000);
    const [kind, role] = menu[Math.floor(random() * menu.length)]!;
    const pick = random();
    const cost = gapMs + (kind === 'rolling-restart' ? nodes * 4000 : holdMs);
    if (t + cost > seconds * 1000 && out.length > 0) break;
    out.push({ kind, role, holdMs, gapMs, pick });
    t += cost;
    if (t >= seconds * 1000) break;
  }
  return out;
}

/** The short schedule of `--quick`: a kill, a partition and a pause, each of a different role. */
export function quickSchedule(nodes: number): PlannedFault[] {
  if (nodes === 1)
    return [
      { kind: 'kill', role: 'random', holdMs: 2000, gapMs: 2000, pick: 0 },
      { kind: 'kill', role: 'random', holdMs: 2000, gapMs: 2000, pick: 0 },
    ];
  return [
    { kind: 'kill', role: 'leader', holdMs: 3000, gapMs: 2000, pick: 0.1 },
    { kind: 'isolate', role: 'controller', holdMs: 4000, gapMs: 2000, pick: 0.5 },
    { kind: 'pause', role: 'coordinator', holdMs: 3000, gapMs: 2000, pick: 0.9 },
  ];
}

/** What applying a fault needs of the run. */
export interface NemesisEnv {
  cluster: ChaosCluster;
  net: {
    partition(groups: number[][]): Promise<void>;
    dropOneWay(from: number, to: number): Promise<void>;
    heal(): Promise<void>;
  };
  /** The node playing `role` now, or null when it cannot be told. */
  resolve(role: Exclude<Role, 'all' | 'random'>, pick: number): Promise<number | null>;
  /** Waits (bounded) until every partition is led with its whole ISR. */
  settled(ms: number): Promise<boolean>;
  /** Moves the active controller to another voter; resolves with the new one. */
  transferController(): Promise<number>;
  /**
   * Moves the leadership of the partition `pick` chooses to another live in-sync replica (reorder,
   * then a preferred election); resolves with what happened.
   */
  moveLeadership(pick: number): Promise<string>;
}

export interface AppliedFault {
  /** The nodes it hit. */
  nodes: number[];
  detail: string;
  heal(): Promise<void>;
}

function pickOf<T>(items: T[], pick: number): T {
  return items[Math.min(items.length - 1, Math.floor(pick * items.length))]!;
}

/** Resolves the fault's target and applies it; the returned `heal` undoes it. */
export async function applyFault(f: PlannedFault, env: NemesisEnv): Promise<AppliedFault> {
  const { cluster, net } = env;
  const ids = cluster.nodes.map((n) => n.id);
  const running = cluster.nodes.filter((n) => n.alive && !n.paused).map((n) => n.id);
  let target: number;
  let note = '';
  if (f.role === 'all' || f.role === 'random') target = pickOf(running.length ? running : ids, f.pick);
  else {
    const resolved = await env.resolve(f.role, f.pick).catch(() => null);
    if (resolved === null) note = ` (no ${f.role} known: a random node)`;
    target = resolved ?? pickOf(running.length ? running : ids, f.pick);
  }
  const others = ids.filter((id) => id !== target);
  switch (f.kind) {
    case 'kill':
    case 'pause':
    case 'terminate': {
      const hit = f.role === 'all' ? ids : [target];
      const signal = f.kind === 'kill' ? 'SIGKILL' : f.kind === 'pause' ? 'SIGSTOP' : 'SIGTERM';
      await Promise.all(hit.map((id) => cluster.signal(id, signal)));
      return {
        nodes: hit,
        detail: `${signal} ${hit.map((id) => `node ${id}`).join(', ')}${note}`,
        heal: () => cluster.healProcesses(),
      };
    }
    case 'isolate':
      await net.partition([[target], others]);
      return {
        nodes: [target],
        detail: `node ${target} cut off from ${others.join(', ')}${note}`,
        heal: () => net.heal(),
      };
    case 'split': {
      // A minority of floor((n-1)/2) nodes with the target in it; at least the target alone.
      const size = Math.max(1, Math.floor((ids.length - 1) / 2));
      const minority = [target, ...others.slice(0, size - 1)];
      const majority = ids.filter((id) => !minority.includes(id));
      await net.partition([minority, majority]);
      return {
        nodes: minority,
        detail: `minority ${minority.join(', ')} | majority ${majority.join(', ')}${note}`,
        heal: () => net.heal(),
      };
    }
    case 'bridge': {
      const half = Math.ceil(others.length / 2);
      const a = others.slice(0, half);
      const b = others.slice(half);
      for (const x of a)
        for (const y of b) {
          await net.dropOneWay(x, y);
          await net.dropOneWay(y, x);
        }
      return {
        nodes: [target],
        detail: `${a.join(', ')} x ${b.join(', ')}, node ${target} reaching both${note}`,
        heal: () => net.heal(),
      };
    }
    case 'one-way':
      for (const x of others) await net.dropOneWay(x, target);
      return {
        nodes: [target],
        detail: `node ${target} hears none of ${others.join(', ')}, they hear it${note}`,
        heal: () => net.heal(),
      };
    case 'transfer': {
      // A refusal (no other voter up yet, say) is the cluster's answer, not the harness's failure.
      const detail = await env.transferController().then(
        (to) => `the controller moved from node ${target} to node ${to}${note}`,
        (err: unknown) => `the controller stayed: ${(err as Error).message}`,
      );
      return { nodes: [target], detail, heal: async () => {} };
    }
    case 'elect': {
      const detail = await env
        .moveLeadership(f.pick)
        .catch((err: unknown) => `the leadership stayed: ${(err as Error).message}`);
      return { nodes: [target], detail, heal: async () => {} };
    }
    case 'rolling-restart': {
      const settledAfter: string[] = [];
      for (const id of ids) {
        await cluster.signal(id, 'SIGTERM');
        await cluster.startNode(id);
        settledAfter.push((await env.settled(30_000)) ? `${id}` : `${id} (ISR not full within 30 s)`);
      }
      return {
        nodes: ids,
        detail: `SIGTERM and start, in turn: ${settledAfter.join(', ')}`,
        heal: async () => {},
      };
    }
  }
}
