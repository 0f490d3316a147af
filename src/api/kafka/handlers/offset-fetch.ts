/**
 * OffsetFetch (API key 9): the request and response grammar is in ../apis/offset-fetch.ts. A group's
 * committed offsets (v8+: of several groups at once). v9's MemberId and MemberEpoch are ignored, as Kafka's
 * ClassicGroup.validateOffsetFetch ignores them: every group here is a classic group.
 */
import type { OffsetFetchRequest } from '../apis/offset-fetch.ts';
import type { Message } from '../codec.ts';
import { kafkaErrorCode } from '../error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE } from './shared.ts';

function offsetsOf(
  deps: HandlerDeps,
  groupId: string,
  topics: { name: string; partitionIndexes: number[] }[] | null,
) {
  const wanted = topics?.flatMap((t) =>
    t.partitionIndexes.map((partition) => ({ topic: t.name, partition })),
  );
  const found = deps.groups.fetchOffsets(groupId, wanted);
  const byTopic = new Map<string, Message[]>();
  for (const f of found) {
    if (!byTopic.has(f.topic)) byTopic.set(f.topic, []);
    byTopic.get(f.topic)!.push({
      partitionIndex: f.partition,
      committedOffset: f.value?.offset ?? -1,
      committedLeaderEpoch: f.value?.leaderEpoch ?? -1,
      metadata: f.value?.metadata ?? '',
      errorCode: NONE,
    });
  }
  return [...byTopic.entries()].map(([name, partitions]) => ({ name, partitions }));
}

export function handleOffsetFetch(deps: HandlerDeps, ctx: RequestContext, req: OffsetFetchRequest): Message {
  if (ctx.apiVersion >= 8) {
    return {
      throttleTimeMs: 0,
      groups: req.groups.map((g) => {
        try {
          return { groupId: g.groupId, topics: offsetsOf(deps, g.groupId, g.topics), errorCode: NONE };
        } catch (err) {
          return { groupId: g.groupId, topics: [], errorCode: kafkaErrorCode(err) };
        }
      }),
    };
  }
  try {
    return { throttleTimeMs: 0, errorCode: NONE, topics: offsetsOf(deps, req.groupId, req.topics) };
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err), topics: [] };
  }
}
