/**
 * ListOffsets (API key 2): the request and response grammar is in ../apis/list-offsets.ts. Latest (-1),
 * earliest (-2), the largest timestamp (-3) or the first offset at a time, from the partition view. With no
 * tiered storage, the earliest local offset (-4, v8) is the earliest offset and the last tiered offset (-5,
 * v9) is none: offset -1 and leader epoch -1, as Kafka's UnifiedLog.fetchOffsetByTimestamp answers when
 * remote storage is off. Nothing here reads remote storage, so v10's TimeoutMs has nothing to bound.
 */
import type { ListOffsetsRequest } from '../../../protocol/kafka/apis/list-offsets.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleListOffsets(deps: HandlerDeps, req: ListOffsetsRequest): Promise<Message> {
  const core = deps.core;
  const topics = await Promise.all(
    req.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map(async (p) => {
          const base = { partitionIndex: p.partitionIndex, timestamp: -1, offset: -1, leaderEpoch: -1 };
          try {
            const view = core.partition(t.name, p.partitionIndex);
            const hw = view.highWatermark;
            if (p.timestamp === -1)
              return { ...base, errorCode: NONE, offset: hw, leaderEpoch: view.leaderEpoch };
            if (p.timestamp === -5) return { ...base, errorCode: NONE };
            if (p.timestamp === -2 || p.timestamp === -4)
              return { ...base, errorCode: NONE, offset: view.logStartOffset, leaderEpoch: view.leaderEpoch };
            let target = p.timestamp;
            if (target === -3) {
              // MAX_TIMESTAMP (ListOffsets v7): the record with the largest timestamp.
              target = view.maxTimestamp;
              if (target < 0) return { ...base, errorCode: NONE };
            } else if (target < 0) {
              return { ...base, errorCode: errorCode('INVALID_REQUEST') };
            }
            const found = await view.offsetForTimestamp(target);
            if (!found || found.offset >= hw) return { ...base, errorCode: NONE };
            return {
              ...base,
              errorCode: NONE,
              offset: found.offset,
              timestamp: found.timestamp,
              leaderEpoch: view.leaderEpoch,
            };
          } catch (err) {
            return { ...base, errorCode: kafkaErrorCode(err) };
          }
        }),
      ),
    })),
  );
  return { throttleTimeMs: 0, topics };
}
