/**
 * DescribeGroups (API key 15): the request and response grammar is in ../apis/describe-groups.ts. Each
 * group's state and members; an unknown group is Dead, as Kafka answers.
 */
import type { DescribeGroupsRequest } from '../apis/describe-groups.ts';
import type { Message } from '../codec.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export function handleDescribeGroups(deps: HandlerDeps, req: DescribeGroupsRequest): Message {
  const coordinator = deps.groups.coordinator;
  return {
    throttleTimeMs: 0,
    groups: req.groups.map((groupId) => {
      const g = coordinator.snapshot(groupId);
      if (!g)
        return {
          errorCode: NONE,
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
