/**
 * ListGroups (API key 16): the request and response grammar is in ../apis/list-groups.ts. The groups this
 * node coordinates, filtered by state and (v5) type. Every group here is a `classic` group (the JoinGroup
 * protocol), so a types filter without `classic` lists none; filters match without regard to case, as Kafka's
 * do.
 */
import type { ListGroupsRequest } from '../../../protocol/kafka/apis/list-groups.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { type HandlerDeps, NONE } from './shared.ts';

/** Kafka's name for a group of the JoinGroup/SyncGroup protocol (Group.GroupType.CLASSIC). */
const classicGroupType = 'classic';

export function handleListGroups(deps: HandlerDeps, req: ListGroupsRequest): Message {
  const coordinator = deps.groups.coordinator;
  const filter = new Set(req.statesFilter.map((s) => s.toLowerCase()));
  const types = new Set(req.typesFilter.map((s) => s.toLowerCase()));
  if (types.size > 0 && !types.has(classicGroupType))
    return { throttleTimeMs: 0, errorCode: NONE, groups: [] };
  const groups = coordinator
    .groupIds()
    .map((id) => coordinator.snapshot(id)!)
    .filter((g) => filter.size === 0 || filter.has(g.state.toLowerCase()))
    .map((g) => ({
      groupId: g.groupId,
      protocolType: g.protocolType ?? '',
      groupState: g.state,
      groupType: classicGroupType,
    }));
  return { throttleTimeMs: 0, errorCode: NONE, groups };
}
