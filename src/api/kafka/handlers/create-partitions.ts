/**
 * CreatePartitions (API key 37): the grammar is in ../apis/create-partitions.ts. Each topic grows to
 * `count` partitions through the core's `createPartitions` (the gRPC CreatePartitions call), within
 * the per-topic and broker partition limits: INVALID_PARTITIONS when the count is not larger, with
 * Kafka's message. A manual assignment (one replica list per new partition, the preferred leader
 * first) goes to the controller, which checks its brokers against those registered as Kafka's
 * `ReplicationControlManager.createPartitions` does (INVALID_REPLICA_ASSIGNMENT for an unregistered
 * or repeated broker, an empty list, lists of different lengths or of another length than the topic's
 * replication factor, or lists whose brokers are all fenced). The one check made here is the
 * client-facing count: as many assignments as new partitions, with Kafka's message. A topic named
 * twice is INVALID_REQUEST for both, as Kafka answers duplicates. Validate-only checks everything and
 * changes nothing.
 */
import { BrokerError } from '../../../errors.ts';
import type { CreatePartitionsRequest } from '../../../protocol/kafka/apis/create-partitions.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

type Topic = CreatePartitionsRequest['topics'][number];

/** Kafka's message when the assignments do not match the partitions added, or null when they do. */
function countProblem(t: Topic, current: number): string | null {
  if (t.assignments === null) return null;
  const more = t.count - current;
  if (more > 0 && t.assignments.length !== more)
    return `Attempted to add ${more} additional partition(s), but only ${t.assignments.length} assignment(s) were specified.`;
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
        const problem = countProblem(t, current);
        if (problem !== null)
          return { name: t.name, errorCode: errorCode('INVALID_REPLICA_ASSIGNMENT'), errorMessage: problem };
        await deps.core.createPartitions(t.name, t.count, {
          validateOnly: req.validateOnly,
          ...(t.assignments === null ? {} : { assignments: t.assignments.map((a) => a.brokerIds) }),
        });
        return { name: t.name, errorCode: NONE, errorMessage: null };
      } catch (err) {
        return { name: t.name, errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message };
      }
    }),
  );
  return { throttleTimeMs: 0, results };
}
