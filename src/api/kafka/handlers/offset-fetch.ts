/**
 * OffsetFetch (API key 9): the request and response grammar is in ../apis/offset-fetch.ts. A group's
 * committed offsets (v8+: of several groups at once). v9's MemberId and MemberEpoch are ignored for a classic
 * group, as Kafka's ClassicGroup.validateOffsetFetch ignores them; for a KIP-848 consumer group a fetch that
 * names a member is checked as ConsumerGroup.validateOffsetFetch does (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH). From version 10 topics
 * are named by id: an id no topic has gets UNKNOWN_TOPIC_ID for each partition asked, and a request for all
 * of a group's topics lists those that exist now, by id (a deleted topic's offsets have no id to go by).
 */
import type { OffsetFetchRequest } from '../../../protocol/kafka/apis/offset-fetch.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE } from './shared.ts';
import { type TopicIds, topicIds } from './topic-ids.ts';

/** The first OffsetFetch version that carries a KIP-848 member id and epoch. */
const memberEpochVersion = 9;
/** The first OffsetFetch version that names topics by id (KIP-848). */
const topicIdsVersion = 10;

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

/** A v10 group's offsets: its topics named by id, resolved to the topics that have those ids now. */
function offsetsById(
  deps: HandlerDeps,
  ids: TopicIds,
  groupId: string,
  topics: { topicId: string; partitionIndexes: number[] }[] | null,
) {
  const named = topics?.flatMap((t) => {
    const name = ids.nameOf(t.topicId);
    return name === null ? [] : [{ name, partitionIndexes: t.partitionIndexes }];
  });
  const found = offsetsOf(deps, groupId, named ?? null).flatMap((t) => {
    const topicId = ids.idOf(t.name);
    return topicId === null ? [] : [{ ...t, topicId }];
  });
  const unknown = (topics ?? [])
    .filter((t) => ids.nameOf(t.topicId) === null)
    .map((t) => ({
      name: '',
      topicId: t.topicId,
      partitions: t.partitionIndexes.map((partitionIndex) => ({
        partitionIndex,
        committedOffset: -1,
        committedLeaderEpoch: -1,
        metadata: '',
        errorCode: errorCode('UNKNOWN_TOPIC_ID'),
      })),
    }));
  return [...found, ...unknown];
}

export function handleOffsetFetch(deps: HandlerDeps, ctx: RequestContext, req: OffsetFetchRequest): Message {
  if (ctx.apiVersion >= 8) {
    const ids = ctx.apiVersion >= topicIdsVersion ? topicIds(deps) : null;
    return {
      throttleTimeMs: 0,
      groups: req.groups.map((g) => {
        try {
          if (ctx.apiVersion >= memberEpochVersion && deps.groups.consumerGroups.has(g.groupId))
            deps.groups.consumerGroups.validateFetch(g.groupId, g.memberId, g.memberEpoch);
          const topics = ids
            ? offsetsById(deps, ids, g.groupId, g.topics)
            : offsetsOf(deps, g.groupId, g.topics);
          return { groupId: g.groupId, topics, errorCode: NONE };
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
