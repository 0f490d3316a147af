/**
 * ConsumerGroupHeartbeat (API key 68): the request and response grammar is in
 * ../apis/consumer-group-heartbeat.ts. One heartbeat of a KIP-848 consumer group member: join (epoch
 * 0), heartbeat and reconcile, leave (-1) or leave for now as a static member (-2), through the group
 * service, whose state machine (src/broker/groups/consumer-group.ts) holds the rules.
 */
import type { ConsumerGroupHeartbeatRequest } from '../../../protocol/kafka/apis/consumer-group-heartbeat.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE, partitionError } from './shared.ts';

export async function handleConsumerGroupHeartbeat(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: ConsumerGroupHeartbeatRequest,
): Promise<Message> {
  try {
    const r = await deps.groups.consumerHeartbeat(
      {
        groupId: req.groupId,
        memberId: req.memberId,
        memberEpoch: req.memberEpoch,
        instanceId: req.instanceId,
        rackId: req.rackId,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        subscribedTopicNames: req.subscribedTopicNames,
        subscribedTopicRegex: req.subscribedTopicRegex,
        serverAssignor: req.serverAssignor,
        ownedPartitions: req.topicPartitions,
        clientId: ctx.clientId ?? '',
        clientHost: `/${ctx.connection.remoteAddress}`,
      },
      ctx.apiVersion,
    );
    return {
      throttleTimeMs: 0,
      errorCode: NONE,
      errorMessage: null,
      memberId: r.memberId,
      memberEpoch: r.memberEpoch,
      heartbeatIntervalMs: r.heartbeatIntervalMs,
      assignment: r.assignment === null ? null : { topicPartitions: r.assignment },
    };
  } catch (err) {
    return {
      throttleTimeMs: 0,
      ...partitionError(err),
      memberId: null,
      memberEpoch: -1,
      heartbeatIntervalMs: 0,
      assignment: null,
    };
  }
}
