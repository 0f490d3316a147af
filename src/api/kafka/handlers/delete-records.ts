/**
 * DeleteRecords (API key 21): the grammar is in ../apis/delete-records.ts. Each partition's log start
 * offset moves to the offset asked (-1: the high watermark) through the core's `deleteRecords`, the
 * call gRPC's DeleteRecords makes, and the answer is its low watermark: the log start offset after.
 * Errors are per partition (-1 as the low watermark): UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE
 * past the high watermark, INVALID_TOPIC_EXCEPTION for an internal topic. On one node there are no
 * replicas to wait for, so `timeout_ms` is not used.
 */
import type { DeleteRecordsRequest } from '../../../protocol/kafka/apis/delete-records.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleDeleteRecords(deps: HandlerDeps, req: DeleteRecordsRequest): Promise<Message> {
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map(async (p) => {
          try {
            const lowWatermark = await deps.core.deleteRecords(t.name, p.partitionIndex, p.offset);
            return { partitionIndex: p.partitionIndex, lowWatermark, errorCode: NONE };
          } catch (err) {
            return { partitionIndex: p.partitionIndex, lowWatermark: -1, errorCode: kafkaErrorCode(err) };
          }
        }),
      ),
    })),
  );
  return { throttleTimeMs: 0, topics };
}
