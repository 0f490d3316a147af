/**
 * DescribeProducers (API key 61): the grammar is in ../apis/describe-producers.ts. Each partition's
 * idempotent producers come from the core's producer state (the table that checks sequences): id,
 * epoch, last sequence stored and the time of its last batch. Without transactions there is no
 * coordinator epoch (0) or open transaction (-1). An unknown partition is UNKNOWN_TOPIC_OR_PARTITION
 * for that partition.
 */
import type { DescribeProducersRequest } from '../../../protocol/kafka/apis/describe-producers.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleDescribeProducers(
  deps: HandlerDeps,
  req: DescribeProducersRequest,
): Promise<Message> {
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitionIndexes.map(async (partitionIndex) => {
          try {
            const producers = await deps.core.describeProducers(t.name, partitionIndex);
            return {
              partitionIndex,
              errorCode: NONE,
              errorMessage: null,
              activeProducers: producers.map((p) => ({
                producerId: p.producerId,
                producerEpoch: p.producerEpoch,
                lastSequence: p.lastSequence,
                lastTimestamp: p.lastTimestampMs,
                coordinatorEpoch: 0,
                currentTxnStartOffset: -1,
              })),
            };
          } catch (err) {
            return {
              partitionIndex,
              errorCode: kafkaErrorCode(err),
              errorMessage: (err as Error).message,
              activeProducers: [],
            };
          }
        }),
      ),
    })),
  );
  return { throttleTimeMs: 0, topics };
}
