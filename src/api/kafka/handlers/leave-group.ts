/**
 * LeaveGroup (API key 13): the request and response grammar is in ../apis/leave-group.ts. One member
 * (before v3) or several (v3+) leave a group, each with its own error.
 */
import type { LeaveGroupRequest } from '../../../protocol/kafka/apis/leave-group.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export function handleLeaveGroup(deps: HandlerDeps, ctx: RequestContext, req: LeaveGroupRequest): Message {
  const members =
    ctx.apiVersion >= 3
      ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
      : [{ memberId: req.memberId, groupInstanceId: null }];
  try {
    const results = deps.groups.leave(req.groupId, members);
    const perMember = members.map((m, i) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      errorCode: results[i] ? kafkaErrorCode(results[i]) : NONE,
    }));
    const top = ctx.apiVersion < 3 && results[0] ? kafkaErrorCode(results[0]) : NONE;
    return { throttleTimeMs: 0, errorCode: top, members: perMember };
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err), members: [] };
  }
}
