/**
 * DescribeGroups (API key 15): the request and response grammar is in ../apis/describe-groups.ts. Each
 * group's state and members; an unknown group is Dead, as Kafka answers, and from version 6 also
 * GROUP_ID_NOT_FOUND with a message (KIP-1043).
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
