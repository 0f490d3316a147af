/**
 * SyncGroup (API key 14): the request and response grammar is in ../apis/sync-group.ts. Hands the
 * assignment to the group service and checks the protocol the member names.
 */
import type { SyncGroupRequest } from '../../../protocol/kafka/apis/sync-group.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleSyncGroup(deps: HandlerDeps, req: SyncGroupRequest): Promise<Message> {
  try {
    const r = await deps.groups.sync({
      groupId: req.groupId,
      memberId: req.memberId,
      generationId: req.generationId,
      groupInstanceId: req.groupInstanceId,
      assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
    });
    if (
      (req.protocolType !== null && req.protocolType !== r.protocolType) ||
      (req.protocolName !== null && req.protocolName !== r.protocolName)
    ) {
      return {
        throttleTimeMs: 0,
        errorCode: errorCode('INCONSISTENT_GROUP_PROTOCOL'),
        protocolType: null,
        protocolName: null,
        assignment: Buffer.alloc(0),
      };
    }
    return {
      throttleTimeMs: 0,
      errorCode: NONE,
      protocolType: r.protocolType,
      protocolName: r.protocolName,
      assignment: r.assignment,
    };
  } catch (err) {
    return {
      throttleTimeMs: 0,
      errorCode: kafkaErrorCode(err),
      protocolType: null,
      protocolName: null,
      assignment: Buffer.alloc(0),
    };
  }
}
