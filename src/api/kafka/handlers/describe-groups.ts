/**
 * DescribeGroups (API key 15): the request and response grammar is in ../apis/describe-groups.ts. Each
 * group's state and members; an unknown group is Dead, as Kafka answers, and from version 6 also
 * GROUP_ID_NOT_FOUND with a message (KIP-1043). A KIP-848 consumer group is shown with protocol type
 * `consumer` and its members without metadata or assignment bytes.
 */
import type { DescribeGroupsRequest } from '../../../protocol/kafka/apis/describe-groups.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE } from './shared.ts';

/** The first DescribeGroups version that answers GROUP_ID_NOT_FOUND for a group that does not exist. */
const groupIdNotFoundVersion = 6;

export function handleDescribeGroups(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: DescribeGroupsRequest,
): Message {
  const notFound = ctx.apiVersion >= groupIdNotFoundVersion;
  return {
    throttleTimeMs: 0,
    groups: req.groups.map((groupId) => {
      let g: ReturnType<typeof deps.groups.describe>;
      try {
        g = deps.groups.describe(groupId);
      } catch (err) {
        // Another node coordinates it (or is loading it): the client finds the coordinator again.
        return {
          errorCode: kafkaErrorCode(err),
          errorMessage: (err as Error).message,
          groupId,
          groupState: '',
          protocolType: '',
          protocolData: '',
          members: [],
        };
      }
      const consumer = deps.groups.consumerGroups.snapshot(groupId);
      if (consumer)
        // A KIP-848 group, as Kafka's DescribeGroups shows one: protocol type `consumer`, the server
        // assignor as the protocol, and members without metadata (ConsumerGroupDescribe has the rest).
        return {
          errorCode: NONE,
          groupId,
          groupState: consumer.state,
          protocolType: 'consumer',
          protocolData: consumer.assignor,
          members: consumer.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.instanceId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            memberMetadata: Buffer.alloc(0),
            memberAssignment: Buffer.alloc(0),
          })),
        };
      if (!g)
        return {
          errorCode: notFound ? errorCode('GROUP_ID_NOT_FOUND') : NONE,
          errorMessage: notFound ? `Group ${groupId} not found.` : null,
          groupId,
          groupState: 'Dead',
          protocolType: '',
          protocolData: '',
          members: [],
        };
      return {
        errorCode: NONE,
        groupId,
        groupState: g.state,
        protocolType: g.protocolType ?? '',
        protocolData: g.protocolName ?? '',
        members: g.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: m.metadata,
          memberAssignment: m.assignment,
        })),
      };
    }),
  };
}
