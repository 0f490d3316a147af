/**
 * ListPartitionReassignments (API key 46): the grammar is in ../apis/list-partition-reassignments.ts.
 * The partitions being moved, from the core's `listPartitionReassignments` (this node's metadata
 * image), grouped by topic. Null topics list every move; otherwise each topic named lists the moves of
 * the partitions named (a topic named twice: the partitions of both), and a topic or partition that
 * does not exist or is not being moved is left out, as Kafka leaves it out.
 *
 * The answer is read from metadata this node already holds, so `timeout_ms` has nothing to bound.
 */
import type { ListPartitionReassignmentsRequest } from '../../../protocol/kafka/apis/list-partition-reassignments.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { groupByTopic, type HandlerDeps, NONE, partitionError } from './shared.ts';

export function handleListPartitionReassignments(
  deps: HandlerDeps,
  req: ListPartitionReassignmentsRequest,
): Message {
  let filter: { topic: string; partitions: number[] }[] | null = null;
  if (req.topics !== null) {
    const wanted = new Map<string, Set<number>>();
    for (const t of req.topics) {
      const set = wanted.get(t.name) ?? new Set<number>();
      for (const p of t.partitionIndexes) set.add(p);
      wanted.set(t.name, set);
    }
    filter = [...wanted].map(([topic, partitions]) => ({ topic, partitions: [...partitions] }));
  }
  try {
    const ongoing = deps.core.listPartitionReassignments(filter);
    return {
      throttleTimeMs: 0,
      errorCode: NONE,
      errorMessage: null,
      topics: [...groupByTopic(ongoing)].map(([name, partitions]) => ({
        name,
        partitions: partitions.map((p) => ({
          partitionIndex: p.partition,
          replicas: p.replicas,
          addingReplicas: p.addingReplicas,
          removingReplicas: p.removingReplicas,
        })),
      })),
    };
  } catch (err) {
    return { throttleTimeMs: 0, ...partitionError(err), topics: [] };
  }
}
