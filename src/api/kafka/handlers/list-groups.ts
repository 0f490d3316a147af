/**
 * ListGroups (API key 16): the request and response grammar is in ../apis/list-groups.ts. The groups this
 * node coordinates, filtered by state.
 */
import type { ListGroupsRequest } from '../apis/list-groups.ts';
import type { Message } from '../codec.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export function handleListGroups(deps: HandlerDeps, req: ListGroupsRequest): Message {
  const coordinator = deps.groups.coordinator;
  const filter = new Set(req.statesFilter.map((s) => s.toLowerCase()));
  const groups = coordinator
    .groupIds()
    .map((id) => coordinator.snapshot(id)!)
    .filter((g) => filter.size === 0 || filter.has(g.state.toLowerCase()))
    .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '', groupState: g.state }));
  return { throttleTimeMs: 0, errorCode: NONE, groups };
}
