/**
 * FindCoordinator (API key 10): the request and response grammar is in ../apis/find-coordinator.ts. This
 * node coordinates every group; a transactional id is refused; a share group's key (type 2, v6) or an unknown
 * key type is INVALID_REQUEST, as Kafka answers without a share coordinator (KafkaApis.getCoordinator).
 */
import type { FindCoordinatorRequest } from '../apis/find-coordinator.ts';
import type { Message } from '../codec.ts';
import { errorCode } from '../error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { type HandlerDeps, NONE, TRANSACTIONS_UNSUPPORTED } from './shared.ts';

export function handleFindCoordinator(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: FindCoordinatorRequest,
): Message {
  const { host, port } = deps.advertised();
  // Key type 1 is a transactional id. Until transactions exist the answer is one that every client
  // treats as fatal (kafkajs, @platformatic/kafka and librdkafka mark it non-retriable; Java throws
  // TransactionalIdAuthorizationException), so a transactional producer fails at once with a message
  // instead of retrying a COORDINATOR_NOT_AVAILABLE forever. docs/kafka.md says the same.
  const refused = req.keyType === 1;
  const unknownType = req.keyType !== 0 && !refused;
  const err = refused
    ? errorCode('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')
    : unknownType
      ? errorCode('INVALID_REQUEST')
      : NONE;
  const errorMessage = refused
    ? TRANSACTIONS_UNSUPPORTED
    : unknownType
      ? `key type ${req.keyType} is not served: this broker coordinates groups (0) only, and no share groups (2)`
      : null;
  if (ctx.apiVersion >= 4) {
    return {
      throttleTimeMs: 0,
      coordinators: req.coordinatorKeys.map((key) => ({
        key,
        nodeId: err ? -1 : deps.kafkaNodeId,
        host: err ? '' : host,
        port: err ? -1 : port,
        errorCode: err,
        errorMessage,
      })),
    };
  }
  return {
    throttleTimeMs: 0,
    errorCode: err,
    errorMessage,
    nodeId: err ? -1 : deps.kafkaNodeId,
    host: err ? '' : host,
    port: err ? -1 : port,
  };
}
