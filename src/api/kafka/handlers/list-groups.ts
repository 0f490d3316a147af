/**
 * ListGroups (API key 16): the request and response grammar is in ../apis/list-groups.ts. The groups this
 * node coordinates, filtered by state and (v5) type: `classic` groups of the JoinGroup protocol and
 * `consumer` groups of the KIP-848 protocol (ConsumerGroupHeartbeat), whose protocol type is `consumer`
 * as Kafka lists them. Filters match without regard to case, as Kafka's do.
 */
import type { ListGroupsRequest } from '../../../protocol/kafka/apis/list-groups.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { type HandlerDeps, NONE } from './shared.ts';

/** Kafka's name for a group of the JoinGroup/SyncGroup protocol (Group.GroupType.CLASSIC). */
const classicGroupType = 'classic';
/** Kafka's name for a group of the KIP-848 protocol (Group.GroupType.CONSUMER). */
const consumerGroupType = 'consumer';

export function handleListGroups(deps: HandlerDeps, req: ListGroupsRequest): Message {
  const coordinator = deps.groups.coordinator;
  const consumerGroups = deps.groups.consumerGroups;
  const filter = new Set(req.statesFilter.map((s) => s.toLowerCase()));
  const types = new Set(req.typesFilter.map((s) => s.toLowerCase()));
  const all = [
    // A consumer group's committed offsets live in a classic entry of the same id, which is not listed.
    ...coordinator
      .groupIds()
      .filter((id) => !consumerGroups.has(id))
      .map((id) => {
        const g = coordinator.snapshot(id)!;
        return {
          groupId: id,
          protocolType: g.protocolType ?? '',
          groupState: g.state,
          groupType: classicGroupType,
        };
      }),
    ...consumerGroups.groupIds().map((id) => ({
      groupId: id,
      protocolType: 'consumer',
      groupState: consumerGroups.snapshot(id)!.state as string,
      groupType: consumerGroupType,
    })),
  ];
  const groups = all
    .filter((g) => types.size === 0 || types.has(g.groupType))
    .filter((g) => filter.size === 0 || filter.has(g.groupState.toLowerCase()))
    .sort((x, y) => (x.groupId < y.groupId ? -1 : x.groupId > y.groupId ? 1 : 0));
  return { throttleTimeMs: 0, errorCode: NONE, groups };
}
