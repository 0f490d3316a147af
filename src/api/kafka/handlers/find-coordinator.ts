/**
 * FindCoordinator (API key 10): the request and response grammar is in ../apis/find-coordinator.ts. A
 * group's coordinator is the leader of its `__consumer_offsets` partition; a transactional id is refused; a share group's key (type 2, v6) or an unknown
 * key type is INVALID_REQUEST, as Kafka answers without a share coordinator (KafkaApis.getCoordinator).
 */
import type { FindCoordinatorRequest } from '../../../protocol/kafka/apis/find-coordinator.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, kafkaBroker, NONE, TRANSACTIONS_UNSUPPORTED } from './shared.ts';

export async function handleFindCoordinator(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: FindCoordinatorRequest,
): Promise<Message> {
  // Key type 1 is a transactional id. Until transactions exist the answer is one that every client
  // treats as fatal (kafkajs, @platformatic/kafka and librdkafka mark it non-retriable; Java throws
  // TransactionalIdAuthorizationException), so a transactional producer fails at once with a message
  // instead of retrying a COORDINATOR_NOT_AVAILABLE forever. docs/kafka.md says the same.
  const refused = req.keyType === 1;
  const unknownType = req.keyType !== 0 && !refused;
  const keys: string[] = ctx.apiVersion >= 4 ? req.coordinatorKeys : [req.key];
  if (!refused && !unknownType) {
    // The coordinator is the leader of the group's offsets partition (DESIGN.md decision 8), so the
    // topic must exist first: this node creates it, as Kafka's FindCoordinator does.
    await deps.groups.ensureOffsetsTopic().catch(() => {});
  }
  const answer = (key: string) => {
    if (refused)
      return {
        errorCode: errorCode('TRANSACTIONAL_ID_AUTHORIZATION_FAILED'),
        errorMessage: TRANSACTIONS_UNSUPPORTED,
      };
    if (unknownType)
      return {
        errorCode: errorCode('INVALID_REQUEST'),
        errorMessage: `key type ${req.keyType} is not served: this broker coordinates groups (0) only, and no share groups (2)`,
      };
    const id = deps.groups.coordinatorOf(key);
    const broker = id === null ? null : kafkaBroker(deps, id);
    if (!broker)
      return {
        errorCode: errorCode('COORDINATOR_NOT_AVAILABLE'),
        errorMessage: `the coordinator of ${key} is not available: its __consumer_offsets partition has no live leader`,
      };
    return { errorCode: NONE, errorMessage: null, ...broker };
  };
  const failed = { nodeId: -1, host: '', port: -1 };
  if (ctx.apiVersion >= 4) {
    return {
      throttleTimeMs: 0,
      coordinators: keys.map((key) => {
        const a = answer(key);
        return {
          key,
          nodeId: a.errorCode ? -1 : (a as { nodeId: number }).nodeId,
          host: a.errorCode ? '' : (a as { host: string }).host,
          port: a.errorCode ? -1 : (a as { port: number }).port,
          errorCode: a.errorCode,
          errorMessage: a.errorMessage,
        };
      }),
    };
  }
  const a = answer(keys[0]);
  const where = a.errorCode ? failed : (a as { nodeId: number; host: string; port: number });
  return {
    throttleTimeMs: 0,
    errorCode: a.errorCode,
    errorMessage: a.errorMessage,
    nodeId: where.nodeId,
    host: where.host,
    port: where.port,
  };
}
