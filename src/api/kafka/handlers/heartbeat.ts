/**
 * Heartbeat (API key 12): the request and response grammar is in ../apis/heartbeat.ts. Keeps a member of a
 * group alive, through the group service.
 */
import type { HeartbeatRequest } from '../../../protocol/kafka/apis/heartbeat.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export function handleHeartbeat(deps: HandlerDeps, req: HeartbeatRequest): Message {
  try {
    deps.groups.heartbeat(req.groupId, req.memberId, req.generationId, req.groupInstanceId);
    return { throttleTimeMs: 0, errorCode: NONE };
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err) };
  }
}
