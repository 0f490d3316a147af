/**
 * CreatePartitions (API key 37): the grammar is in ../apis/create-partitions.ts. Each topic grows to
 * `count` partitions on this node through the core's `createPartitions` (the gRPC CreatePartitions
 * call), within the per-topic and node partition limits: INVALID_PARTITIONS when the count is not
 * larger, with Kafka's message. A manual assignment must give one replica list per new partition and
 * name this node alone, as Kafka's `ReplicationControlManager.createPartitions` requires of
 * registered brokers (INVALID_REPLICA_ASSIGNMENT otherwise). A topic named twice is INVALID_REQUEST
 * for both, as Kafka answers duplicates. Validate-only checks everything and changes nothing.
 */
import { BrokerError } from '../../../errors.ts';
import type { CreatePartitionsRequest } from '../../../protocol/kafka/apis/create-partitions.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

type Topic = CreatePartitionsRequest['topics'][number];

/** What is wrong with a manual assignment (Kafka's INVALID_REPLICA_ASSIGNMENT message), or null. */
function assignmentProblem(t: Topic, current: number, nodeId: number): string | null {
  if (t.assignments === null) return null;
  const more = t.count - current;
  if (more > 0 && t.assignments.length !== more)
    return `Attempted to add ${more} additional partition(s), but only ${t.assignments.length} assignment(s) were specified.`;
  for (const a of t.assignments) {
    if (a.brokerIds.length === 0) return 'The manual partition assignment includes an empty replica list.';
    const other = a.brokerIds.find((id) => id !== nodeId);
    if (other !== undefined)
      return `The manual partition assignment includes broker ${other}, but no such broker is registered (this single node is broker ${nodeId}).`;
    if (a.brokerIds.length > 1)
      return `The manual partition assignment includes the broker ${nodeId} more than once.`;
  }
  return null;
}

export async function handleCreatePartitions(
  deps: HandlerDeps,
  req: CreatePartitionsRequest,
): Promise<Message> {
  const named = new Map<string, number>();
  for (const t of req.topics) named.set(t.name, (named.get(t.name) ?? 0) + 1);
  const results = await Promise.all(
    req.topics.map(async (t) => {
      try {
        if ((named.get(t.name) ?? 0) > 1)
          throw new BrokerError('INVALID_REQUEST', `Duplicate topic name: ${t.name}`);
        const current = deps.core.partitionCount(t.name);
        const problem = assignmentProblem(t, current, deps.kafkaNodeId);
        if (problem !== null)
          return { name: t.name, errorCode: errorCode('INVALID_REPLICA_ASSIGNMENT'), errorMessage: problem };
        await deps.core.createPartitions(t.name, t.count, { validateOnly: req.validateOnly });
        return { name: t.name, errorCode: NONE, errorMessage: null };
      } catch (err) {
        return { name: t.name, errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message };
      }
    }),
  );
  return { throttleTimeMs: 0, results };
}
