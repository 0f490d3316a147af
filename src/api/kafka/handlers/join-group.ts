/**
 * JoinGroup (API key 11): the request and response grammar is in ../apis/join-group.ts. Hands the member to
 * the group service.
 */
import type { JoinGroupRequest } from '../../../protocol/kafka/apis/join-group.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleJoinGroup(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: JoinGroupRequest,
): Promise<Message> {
  const empty = {
    throttleTimeMs: 0,
    generationId: -1,
    protocolType: null,
    protocolName: ctx.apiVersion >= 7 ? null : '',
    leader: '',
    skipAssignment: false,
    memberId: req.memberId,
    members: [],
  };
  try {
    const r = await deps.groups.join({
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: ctx.clientId ?? '',
      clientHost: `/${ctx.connection.remoteAddress}`,
      protocolType: req.protocolType,
      protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      sessionTimeoutMs: req.sessionTimeoutMs,
      // Version 0 has no rebalance timeout: the session timeout serves for both.
      rebalanceTimeoutMs: req.rebalanceTimeoutMs >= 0 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
      requireKnownMemberId: ctx.apiVersion >= 4,
      supportsSkipAssignment: ctx.apiVersion >= 9,
    });
    return {
      ...empty,
      errorCode: NONE,
      generationId: r.generationId,
      protocolType: r.protocolType,
      protocolName: r.protocolName,
      leader: r.leaderId,
      skipAssignment: r.skipAssignment ?? false,
      memberId: r.memberId,
      members: r.members,
    };
  } catch (err) {
    const memberId = (err as { memberId?: string }).memberId ?? req.memberId;
    return { ...empty, errorCode: kafkaErrorCode(err), memberId };
  }
}
