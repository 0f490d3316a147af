/**
 * OffsetDelete (API key 47): the grammar is in ../apis/offset-delete.ts. The group service's
 * `deleteOffsets` tombstones the group's offsets of the partitions named, except those of a topic a
 * member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) and of partitions that do not exist
 * (UNKNOWN_TOPIC_OR_PARTITION). A group error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for members of
 * a protocol whose subscriptions are unknown, INVALID_GROUP_ID) is top-level, with no topics, as
 * Kafka answers it.
 */
import type { OffsetDeleteRequest } from '../../../protocol/kafka/apis/offset-delete.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleOffsetDelete(deps: HandlerDeps, req: OffsetDeleteRequest): Promise<Message> {
  const partitions = req.topics.flatMap((t) =>
    t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex })),
  );
  let results: Awaited<ReturnType<typeof deps.groups.deleteOffsets>>;
  try {
    results = await deps.groups.deleteOffsets(req.groupId, partitions);
  } catch (err) {
    return { errorCode: kafkaErrorCode(err), throttleTimeMs: 0, topics: [] };
  }
  let i = 0;
  return {
    errorCode: NONE,
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        const err = results[i++];
        return { partitionIndex: p.partitionIndex, errorCode: err ? kafkaErrorCode(err) : NONE };
      }),
    })),
  };
}
