/** Stepping partition moves on the controller harness (issue 14): the leader reports new replicas in sync. */
import { ongoingReassignments } from '../../src/controller/reassignments.ts';
import type { PartitionRegistration } from '../../src/metadata/image.ts';
import { NO_LEADER } from '../../src/metadata/records.ts';
import { Harness } from './metadata.ts';

export const epochOf = (h: Harness, id: number) => h.image.brokers.get(id)!.epoch;

export function part(h: Harness, topic: string, i: number): PartitionRegistration & { topicId: string } {
  const t = h.image.topic(topic)!;
  return { ...t.partitions[i], topicId: t.id };
}

/** The leader of `topic`-`i` adds `ids` to the ISR, as it does once they have caught up. */
export function catchUp(h: Harness, topic: string, i: number, ids: readonly number[]) {
  const p = part(h, topic, i);
  return h.run((c) =>
    c.alterPartition({
      brokerId: p.leader,
      brokerEpoch: epochOf(h, p.leader),
      topicId: p.topicId,
      partition: i,
      leaderEpoch: p.leaderEpoch,
      partitionEpoch: p.partitionEpoch,
      newIsr: [...p.isr, ...ids.filter((id) => !p.isr.includes(id))],
    }),
  );
}

/** Every move under way catches up (its adding replicas join the ISR); returns how many. */
export function catchUpAll(h: Harness): number {
  let n = 0;
  for (const r of ongoingReassignments(h.image, null)) {
    if (part(h, r.topic, r.partition).leader === NO_LEADER) continue;
    catchUp(h, r.topic, r.partition, r.addingReplicas);
    n++;
  }
  return n;
}

/** A harness with `brokers` registered and unfenced. */
export function cluster(brokers: number[], options = {}): Harness {
  const h = new Harness({ sessionTimeoutMs: 9000, ...options });
  for (const id of brokers) h.join(id);
  return h;
}
