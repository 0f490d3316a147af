/**
 * The server-side assignors of KIP-848 consumer groups (ConsumerGroupHeartbeat's `ServerAssignor`):
 * `uniform` (Kafka's default, UniformAssignor) and `range` (Kafka's RangeAssignor). Both are pure
 * functions of the members' subscriptions, the topics' partition counts and the previous target
 * assignment, and deterministic: members and topics are taken in sorted order.
 *
 * Assignments name topics by id (the heartbeat does), partitions by number.
 */

/** Partitions by topic id. */
export type TopicPartitionsById = Map<string, Set<number>>;

export interface AssignorMember {
  memberId: string;
  /** Topic ids the member subscribes to (names and regex already resolved against the metadata). */
  topicIds: ReadonlySet<string>;
}

export interface AssignorInput {
  members: readonly AssignorMember[];
  /** Partition count of every topic some member subscribes to, by id. */
  partitionsOf: ReadonlyMap<string, number>;
  /** The previous target assignment, by member id, for stickiness. */
  previous: ReadonlyMap<string, TopicPartitionsById>;
}

export const SERVER_ASSIGNOR_NAMES = ['uniform', 'range'] as const;
export type ServerAssignorName = (typeof SERVER_ASSIGNOR_NAMES)[number];

export function isServerAssignor(name: string): name is ServerAssignorName {
  return (SERVER_ASSIGNOR_NAMES as readonly string[]).includes(name);
}

const partitionKey = (topicId: string, p: number) => `${topicId}:${p}`;

function emptyTargets(members: readonly AssignorMember[]): Map<string, TopicPartitionsById> {
  return new Map(members.map((m) => [m.memberId, new Map()]));
}

function add(target: TopicPartitionsById, topicId: string, p: number): void {
  let set = target.get(topicId);
  if (!set) target.set(topicId, (set = new Set()));
  set.add(p);
}

function remove(target: TopicPartitionsById, topicId: string, p: number): void {
  const set = target.get(topicId);
  if (!set) return;
  set.delete(p);
  if (set.size === 0) target.delete(topicId);
}

/**
 * Uniform: every partition goes to one subscriber of its topic so that the members' counts differ by
 * at most one where their subscriptions allow, moving as few partitions from their previous owner as
 * it can (sticky). Kafka's UniformAssignor has an optimised path for identical subscriptions and a
 * heuristic one for different subscriptions; this one is a single greedy pass plus a balancing loop,
 * which reaches the same balance for identical subscriptions and a close one otherwise.
 */
export function uniformAssign(input: AssignorInput): Map<string, TopicPartitionsById> {
  const members = [...input.members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
  const out = emptyTargets(members);
  const counts = new Map(members.map((m) => [m.memberId, 0]));
  const owner = new Map<string, string>();
  const topics = [...input.partitionsOf.keys()].sort();
  const subscribers = new Map(
    topics.map((t) => [t, members.filter((m) => m.topicIds.has(t)).map((m) => m.memberId)]),
  );
  const previousOwner = new Map<string, string>();
  for (const [memberId, assignment] of input.previous)
    for (const [t, ps] of assignment) for (const p of ps) previousOwner.set(partitionKey(t, p), memberId);
  const give = (memberId: string, t: string, p: number) => {
    add(out.get(memberId)!, t, p);
    counts.set(memberId, counts.get(memberId)! + 1);
    owner.set(partitionKey(t, p), memberId);
  };
  const unassigned: [string, number][] = [];
  // Keep each partition where it was when its owner still subscribes to its topic.
  for (const t of topics) {
    const subs = subscribers.get(t)!;
    if (subs.length === 0) continue;
    for (let p = 0; p < input.partitionsOf.get(t)!; p++) {
      const prev = previousOwner.get(partitionKey(t, p));
      if (prev !== undefined && subs.includes(prev)) give(prev, t, p);
      else unassigned.push([t, p]);
    }
  }
  const leastLoaded = (subs: string[]) => {
    let best = subs[0];
    for (const s of subs) if (counts.get(s)! < counts.get(best)!) best = s;
    return best;
  };
  for (const [t, p] of unassigned) give(leastLoaded(subscribers.get(t)!), t, p);
  // Move partitions from members with two or more above the least loaded eligible member until none
  // can move; each move lowers the sum of squared counts, so the loop ends.
  for (let moved = true; moved; ) {
    moved = false;
    for (const t of topics) {
      const subs = subscribers.get(t)!;
      if (subs.length < 2) continue;
      for (let p = 0; p < input.partitionsOf.get(t)!; p++) {
        const from = owner.get(partitionKey(t, p))!;
        const to = leastLoaded(subs);
        if (counts.get(from)! - counts.get(to)! < 2) continue;
        remove(out.get(from)!, t, p);
        counts.set(from, counts.get(from)! - 1);
        give(to, t, p);
        moved = true;
      }
    }
  }
  for (const target of out.values()) for (const [t, ps] of target) if (ps.size === 0) target.delete(t);
  return out;
}

/**
 * Range: per topic, the subscribed members in member-id order each take a contiguous range of
 * partitions; the first `partitions % subscribers` take one more. Members with the same subscriptions
 * get the same partition numbers of every topic (co-partitioning), as Kafka's RangeAssignor promises.
 * Not sticky.
 */
export function rangeAssign(input: AssignorInput): Map<string, TopicPartitionsById> {
  const members = [...input.members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
  const out = emptyTargets(members);
  for (const t of [...input.partitionsOf.keys()].sort()) {
    const subs = members.filter((m) => m.topicIds.has(t));
    if (subs.length === 0) continue;
    const n = input.partitionsOf.get(t)!;
    const each = Math.floor(n / subs.length);
    const extra = n % subs.length;
    let next = 0;
    subs.forEach((m, i) => {
      const count = each + (i < extra ? 1 : 0);
      for (let k = 0; k < count; k++) add(out.get(m.memberId)!, t, next++);
    });
  }
  return out;
}

export const SERVER_ASSIGNORS: Record<
  ServerAssignorName,
  (input: AssignorInput) => Map<string, TopicPartitionsById>
> = {
  uniform: uniformAssign,
  range: rangeAssign,
};
