/**
 * DeleteGroups (API key 42): the grammar is in ../apis/delete-groups.ts. Each group is deleted by the
 * group service's `deleteGroup`, the call gRPC's DeleteGroup makes: only an empty group goes
 * (NON_EMPTY_GROUP otherwise, GROUP_ID_NOT_FOUND for none, INVALID_GROUP_ID for an empty id), and
 * its offsets are tombstoned in `__consumer_offsets` before the answer.
 */
import type { DeleteGroupsRequest } from '../../../protocol/kafka/apis/delete-groups.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleDeleteGroups(deps: HandlerDeps, req: DeleteGroupsRequest): Promise<Message> {
  const results = [];
  // One at a time, in the request's order: the service's writes to the offsets topic are serial anyway.
  for (const groupId of req.groupsNames) {
    try {
      await deps.groups.deleteGroup(groupId);
      results.push({ groupId, errorCode: NONE });
    } catch (err) {
      results.push({ groupId, errorCode: kafkaErrorCode(err) });
    }
  }
  return { throttleTimeMs: 0, results };
}
