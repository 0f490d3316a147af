/**
 * DescribeCluster (API key 60): the grammar is in ../apis/describe-cluster.ts. The live brokers and the
 * active controller, as this node's metadata image names them (every node runs both roles). The Kafka
 * listener is a broker endpoint, so a request for the controllers' endpoints (endpoint type 2,
 * KIP-919) gets MISMATCHED_ENDPOINT_TYPE, and any type other than 1 or 2 UNSUPPORTED_ENDPOINT_TYPE,
 * as Kafka's broker answers them. Authorized operations are not computed (no ACLs): Kafka's
 * "not requested" value, -2^31, stands.
 */
import type { DescribeClusterRequest } from '../../../protocol/kafka/apis/describe-cluster.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { controllerId, type HandlerDeps, kafkaBrokers, NONE } from './shared.ts';

const ENDPOINT_BROKERS = 1;
const ENDPOINT_CONTROLLERS = 2;
const OPERATIONS_NOT_REQUESTED = -2147483648;

export function handleDescribeCluster(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: DescribeClusterRequest,
): Message {
  const endpointType = ctx.apiVersion >= 1 ? req.endpointType : ENDPOINT_BROKERS;
  const base = {
    throttleTimeMs: 0,
    endpointType,
    clusterId: deps.clusterId,
    clusterAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
  };
  if (endpointType !== ENDPOINT_BROKERS) {
    const mismatched = endpointType === ENDPOINT_CONTROLLERS;
    return {
      ...base,
      errorCode: errorCode(mismatched ? 'MISMATCHED_ENDPOINT_TYPE' : 'UNSUPPORTED_ENDPOINT_TYPE'),
      errorMessage: mismatched
        ? 'The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER'
        : `endpoint type ${endpointType} is not supported`,
      controllerId: -1,
      brokers: [],
    };
  }
  return {
    ...base,
    errorCode: NONE,
    errorMessage: null,
    controllerId: controllerId(deps),
    brokers: kafkaBrokers(deps).map((b) => ({
      brokerId: b.nodeId,
      host: b.host,
      port: b.port,
      rack: b.rack,
    })),
  };
}
