/**
 * Server-side partition assignors for groups whose members let the broker assign (the gRPC consumer's
 * protocol type `tsbroker`). Both are deterministic functions of the member ids and their
 * subscriptions, as Kafka's RangeAssignor and RoundRobinAssignor are.
 */

export type Assignment = Map<string, { topic: string; partitions: number[] }[]>;

export interface Subscription {
  memberId: string;
  topics: string[];
}

function emptyAssignment(members: Subscription[]): Map<string, Map<string, number[]>> {
  return new Map(members.map((m) => [m.memberId, new Map<string, number[]>()]));
}

function finish(raw: Map<string, Map<string, number[]>>): Assignment {
  const out: Assignment = new Map();
  for (const [member, topics] of raw) {
    out.set(
      member,
      [...topics.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([topic, partitions]) => ({ topic, partitions: partitions.sort((x, y) => x - y) })),
    );
  }
  return out;
}

/**
 * Range: per topic, the subscribed members in id order each take a contiguous range; the first
 * `partitions % members` take one extra.
 */
export function rangeAssign(members: Subscription[], partitionsOf: (topic: string) => number): Assignment {
  const raw = emptyAssignment(members);
  const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
  for (const topic of topics) {
    const subscribers = members
      .filter((m) => m.topics.includes(topic))
      .map((m) => m.memberId)
      .sort();
    const n = partitionsOf(topic);
    if (n <= 0 || subscribers.length === 0) continue;
    const per = Math.floor(n / subscribers.length);
    const extra = n % subscribers.length;
    let next = 0;
    subscribers.forEach((member, i) => {
      const count = per + (i < extra ? 1 : 0);
      if (count === 0) return;
      raw.get(member)!.set(
        topic,
        Array.from({ length: count }, (_, k) => next + k),
      );
      next += count;
    });
  }
  return finish(raw);
}

/** Round-robin: every topic-partition in (topic, partition) order, dealt to subscribed members in id order. */
export function roundRobinAssign(
  members: Subscription[],
  partitionsOf: (topic: string) => number,
): Assignment {
  const raw = emptyAssignment(members);
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
  const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
  let turn = 0;
  for (const topic of topics) {
    for (let p = 0; p < partitionsOf(topic); p++) {
      // The next member in the circle that subscribes to this topic.
      for (let tries = 0; tries < sorted.length; tries++) {
        const m = sorted[turn++ % sorted.length];
        if (!m.topics.includes(topic)) continue;
        const t = raw.get(m.memberId)!;
        if (!t.has(topic)) t.set(topic, []);
        t.get(topic)!.push(p);
        break;
      }
    }
  }
  return finish(raw);
}

export const ASSIGNORS = { range: rangeAssign, roundrobin: roundRobinAssign } as const;
export type AssignorName = keyof typeof ASSIGNORS;
