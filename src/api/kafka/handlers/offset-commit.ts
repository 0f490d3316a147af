/**
 * OffsetCommit (API key 8): the request and response grammar is in ../apis/offset-commit.ts. Stores a
 * group's offsets through the group service, each partition with its own error. From version 9 a commit
 * with a generation (0 or more) to a group that does not exist is answered GROUP_ID_NOT_FOUND, as Kafka's
 * OffsetMetadataManager.validateOffsetCommit does; for a KIP-848 consumer group it is the member epoch, and a
 * member's commit at another epoch is STALE_MEMBER_EPOCH (a member commits through v9+ only); a commit without one (-1: an admin client or a consumer
 * outside group management) still creates the group, at every version. From version 10 topics are named by
 * id; an id no topic has gets UNKNOWN_TOPIC_ID for each of its partitions, and the rest are committed.
 */
import type { OffsetCommitRequest } from '../../../protocol/kafka/apis/offset-commit.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE } from './shared.ts';
import { topicIds } from './topic-ids.ts';

/** The first OffsetCommit version that answers GROUP_ID_NOT_FOUND for a group that does not exist. */
const groupIdNotFoundVersion = 9;
/** The first OffsetCommit version whose GenerationIdOrMemberEpoch is a KIP-848 member epoch. */
const memberEpochVersion = 9;
/** The first OffsetCommit version that names topics by id (KIP-848). */
const topicIdsVersion = 10;

export async function handleOffsetCommit(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: OffsetCommitRequest,
): Promise<Message> {
  const ids = ctx.apiVersion >= topicIdsVersion ? topicIds(deps) : null;
  // Each request topic's name: its own before v10, the name of the topic with its id from v10 (null: none).
  const names = req.topics.map((t) => (ids ? ids.nameOf(t.topicId) : t.name));
  const flat = req.topics.flatMap((t, at) => {
    const topic = names[at];
    if (topic === null) return [];
    return t.partitions.map((p) => ({
      topic,
      partition: p.partitionIndex,
      // An offset beyond 2^53 arrives exact, as a bigint. No log can reach it; as a number it is not
      // a safe integer, which the group service refuses for that partition alone (INVALID_REQUEST)
      // rather than storing a rounded value.
      offset: typeof p.committedOffset === 'bigint' ? Number(p.committedOffset) : p.committedOffset,
      metadata: p.committedMetadata ?? '',
      leaderEpoch: p.committedLeaderEpoch,
    }));
  });
  const consumerGroup = deps.groups.consumerGroups.has(req.groupId);
  const missingGroup =
    ctx.apiVersion >= groupIdNotFoundVersion &&
    req.generationId >= 0 &&
    !deps.groups.coordinator.has(req.groupId) &&
    !consumerGroup;
  let errors: number[];
  if (missingGroup) {
    errors = flat.map(() => errorCode('GROUP_ID_NOT_FOUND'));
  } else if (consumerGroup && ctx.apiVersion < memberEpochVersion && req.memberId !== '') {
    // A member of a KIP-848 group commits with its member epoch, which only v9+ carries (Kafka's
    // OffsetMetadataManager answers older versions so).
    errors = flat.map(() => errorCode('UNSUPPORTED_VERSION'));
  } else {
    try {
      const results = await deps.groups.commit(
        req.groupId,
        req.memberId,
        req.generationId,
        flat,
        req.groupInstanceId,
      );
      errors = results.map((e) => (e ? kafkaErrorCode(e) : NONE));
    } catch (err) {
      errors = flat.map(() => kafkaErrorCode(err));
    }
  }
  // Errors in request order; the partitions of an unknown topic id were not committed.
  let i = 0;
  const unknownTopicId = errorCode('UNKNOWN_TOPIC_ID');
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t, at) => ({
      name: t.name,
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: names[at] === null ? unknownTopicId : errors[i++],
      })),
    })),
  };
}
