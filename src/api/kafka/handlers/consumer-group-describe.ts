/**
 * ConsumerGroupDescribe (API key 69): the request and response grammar is in
 * ../apis/consumer-group-describe.ts. Each KIP-848 group's epochs, assignor and members with their
 * subscriptions, current and target assignments. A group that does not exist, or exists as a classic
 * group, is GROUP_ID_NOT_FOUND, as Kafka answers.
 */

import type { TopicPartitions } from '../../../broker/groups/consumer-group.ts';
import type { ConsumerGroupDescribeRequest } from '../../../protocol/kafka/apis/consumer-group-describe.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE, partitionError } from './shared.ts';

/** KIP-1099's MemberType of a member of the consumer protocol. */
const consumerMemberType = 1;

export function handleConsumerGroupDescribe(
  deps: HandlerDeps,
  _ctx: RequestContext,
  req: ConsumerGroupDescribeRequest,
): Message {
  const named = (list: TopicPartitions[]) => ({
    topicPartitions: list.map((t) => ({
      topicId: t.topicId,
      topicName: deps.groups.topicName(t.topicId) ?? '',
      partitions: t.partitions,
    })),
  });
  const empty = (groupId: string) => ({
    groupId,
    groupState: '',
    groupEpoch: -1,
    assignmentEpoch: -1,
    assignorName: '',
    members: [],
    authorizedOperations: -2147483648,
  });
  return {
    throttleTimeMs: 0,
    groups: req.groupIds.map((groupId) => {
      let g: ReturnType<typeof deps.groups.describeConsumerGroup>;
      try {
        g = deps.groups.describeConsumerGroup(groupId);
      } catch (err) {
        return { ...empty(groupId), ...partitionError(err) };
      }
      if (!g)
        return {
          ...empty(groupId),
          errorCode: errorCode('GROUP_ID_NOT_FOUND'),
          errorMessage: `Group ${groupId} not found.`,
        };
      return {
        errorCode: NONE,
        errorMessage: null,
        groupId,
        groupState: g.state,
        groupEpoch: g.groupEpoch,
        assignmentEpoch: g.assignmentEpoch,
        assignorName: g.assignor,
        members: g.members.map((m) => ({
          memberId: m.memberId,
          instanceId: m.instanceId,
          rackId: m.rackId,
          memberEpoch: m.memberEpoch,
          clientId: m.clientId,
          clientHost: m.clientHost,
          subscribedTopicNames: m.subscribedTopicNames,
          subscribedTopicRegex: m.subscribedTopicRegex,
          assignment: named(m.assigned),
          targetAssignment: named(m.target),
          memberType: consumerMemberType,
        })),
        authorizedOperations: -2147483648,
      };
    }),
  };
}
