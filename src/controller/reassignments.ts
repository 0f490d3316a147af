/**
 * Reading reassignments out of an image (issue 14): the partitions being moved, as Kafka's
 * ListPartitionReassignments answers them. Shared by the controller and the broker's doors.
 */
import { isReassigning, type MetadataImage } from '../metadata/image.ts';
import type { OngoingReassignment } from './controller.ts';

/**
 * The partitions of `image` being reassigned, by topic name and partition; `filter` keeps some topics
 * (and of each the partitions listed, or all when null); null keeps every one.
 */
export function ongoingReassignments(
  image: MetadataImage,
  filter: readonly { topic: string; partitions: readonly number[] | null }[] | null,
): OngoingReassignment[] {
  const out: OngoingReassignment[] = [];
  const wanted = filter === null ? null : new Map(filter.map((f) => [f.topic, f.partitions]));
  const topics = [...image.topicsByName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const t of topics) {
    if (wanted && !wanted.has(t.name)) continue;
    const only = wanted?.get(t.name) ?? null;
    t.partitions.forEach((p, i) => {
      if (only && !only.includes(i)) return;
      if (!isReassigning(p)) return;
      out.push({
        topic: t.name,
        partition: i,
        replicas: [...p.replicas],
        addingReplicas: [...(p.addingReplicas ?? [])],
        removingReplicas: [...(p.removingReplicas ?? [])],
      });
    });
  }
  return out;
}
