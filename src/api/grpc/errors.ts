/** Maps the core's errors to gRPC status codes (the table in proto/tsbroker/v1/broker.proto). */
import * as grpc from '@grpc/grpc-js';
import { BrokerError, type ErrorCode } from '../../errors.ts';

const STATUS: Record<ErrorCode, grpc.status> = {
  CORRUPT_MESSAGE: grpc.status.INVALID_ARGUMENT,
  INVALID_RECORD: grpc.status.INVALID_ARGUMENT,
  INVALID_TIMESTAMP: grpc.status.INVALID_ARGUMENT,
  MESSAGE_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: grpc.status.INVALID_ARGUMENT,
  UNSUPPORTED_COMPRESSION_TYPE: grpc.status.INVALID_ARGUMENT,
  OFFSET_OUT_OF_RANGE: grpc.status.OUT_OF_RANGE,
  KAFKA_STORAGE_ERROR: grpc.status.UNAVAILABLE,
  LOG_CLOSED: grpc.status.UNAVAILABLE,
  UNKNOWN_TOPIC_OR_PARTITION: grpc.status.NOT_FOUND,
  TOPIC_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  INVALID_TOPIC_EXCEPTION: grpc.status.INVALID_ARGUMENT,
  INVALID_PARTITIONS: grpc.status.INVALID_ARGUMENT,
  INVALID_REPLICATION_FACTOR: grpc.status.INVALID_ARGUMENT,
  INVALID_REQUIRED_ACKS: grpc.status.INVALID_ARGUMENT,
  INVALID_REQUEST: grpc.status.INVALID_ARGUMENT,
  POLICY_VIOLATION: grpc.status.RESOURCE_EXHAUSTED,
  REQUEST_TIMED_OUT: grpc.status.DEADLINE_EXCEEDED,
  BROKER_NOT_AVAILABLE: grpc.status.UNAVAILABLE,
  UNKNOWN_SERVER_ERROR: grpc.status.INTERNAL,
  INVALID_CONFIG: grpc.status.INVALID_ARGUMENT,
  INVALID_GROUP_ID: grpc.status.INVALID_ARGUMENT,
  UNKNOWN_MEMBER_ID: grpc.status.FAILED_PRECONDITION,
  MEMBER_ID_REQUIRED: grpc.status.FAILED_PRECONDITION,
  ILLEGAL_GENERATION: grpc.status.FAILED_PRECONDITION,
  REBALANCE_IN_PROGRESS: grpc.status.ABORTED,
  INCONSISTENT_GROUP_PROTOCOL: grpc.status.INVALID_ARGUMENT,
  INVALID_SESSION_TIMEOUT: grpc.status.INVALID_ARGUMENT,
  GROUP_MAX_SIZE_REACHED: grpc.status.RESOURCE_EXHAUSTED,
  FENCED_INSTANCE_ID: grpc.status.FAILED_PRECONDITION,
  NON_EMPTY_GROUP: grpc.status.FAILED_PRECONDITION,
  FENCED_MEMBER_EPOCH: grpc.status.FAILED_PRECONDITION,
  STALE_MEMBER_EPOCH: grpc.status.FAILED_PRECONDITION,
  UNRELEASED_INSTANCE_ID: grpc.status.FAILED_PRECONDITION,
  UNSUPPORTED_ASSIGNOR: grpc.status.INVALID_ARGUMENT,
  INVALID_REGULAR_EXPRESSION: grpc.status.INVALID_ARGUMENT,
  GROUP_ID_NOT_FOUND: grpc.status.NOT_FOUND,
  GROUP_SUBSCRIBED_TO_TOPIC: grpc.status.FAILED_PRECONDITION,
  COORDINATOR_LOAD_IN_PROGRESS: grpc.status.UNAVAILABLE,
  INVALID_PRODUCER_EPOCH: grpc.status.FAILED_PRECONDITION,
  UNKNOWN_PRODUCER_ID: grpc.status.FAILED_PRECONDITION,
  OUT_OF_ORDER_SEQUENCE_NUMBER: grpc.status.FAILED_PRECONDITION,
  DUPLICATE_SEQUENCE_NUMBER: grpc.status.ALREADY_EXISTS,
  DUPLICATE_BROKER_REGISTRATION: grpc.status.ALREADY_EXISTS,
  BROKER_ID_NOT_REGISTERED: grpc.status.FAILED_PRECONDITION,
  STALE_BROKER_EPOCH: grpc.status.FAILED_PRECONDITION,
  INVALID_REPLICA_ASSIGNMENT: grpc.status.INVALID_ARGUMENT,
  INVALID_UPDATE_VERSION: grpc.status.FAILED_PRECONDITION,
  FENCED_LEADER_EPOCH: grpc.status.FAILED_PRECONDITION,
  UNKNOWN_LEADER_EPOCH: grpc.status.UNAVAILABLE,
  NOT_ENOUGH_REPLICAS: grpc.status.UNAVAILABLE,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: grpc.status.UNAVAILABLE,
  NETWORK_EXCEPTION: grpc.status.UNAVAILABLE,
  INELIGIBLE_REPLICA: grpc.status.FAILED_PRECONDITION,
  REASSIGNMENT_IN_PROGRESS: grpc.status.FAILED_PRECONDITION,
  NO_REASSIGNMENT_IN_PROGRESS: grpc.status.FAILED_PRECONDITION,
  ELECTION_NOT_NEEDED: grpc.status.FAILED_PRECONDITION,
  PREFERRED_LEADER_NOT_AVAILABLE: grpc.status.UNAVAILABLE,
  ELIGIBLE_LEADERS_NOT_AVAILABLE: grpc.status.UNAVAILABLE,
  NOT_CONTROLLER: grpc.status.UNAVAILABLE,
  NOT_LEADER_OR_FOLLOWER: grpc.status.UNAVAILABLE,
  NOT_COORDINATOR: grpc.status.UNAVAILABLE,
};

export function grpcStatusOf(code: ErrorCode): grpc.status {
  return STATUS[code];
}

/** What a failure tells a gRPC client: the status code, the message, the broker's code, retriable. */
export interface GrpcFailure {
  code: grpc.status;
  details: string;
  brokerCode: ErrorCode;
  retriable: boolean;
}

/**
 * The failure `err` is to a gRPC client. An unknown partition of a known topic is INVALID_ARGUMENT (the
 * issue's "bad partition"), an unknown topic NOT_FOUND.
 */
export function grpcFailureOf(
  err: unknown,
  topicExists?: (name: string) => boolean,
  topic?: string,
): GrpcFailure {
  const be =
    err instanceof BrokerError
      ? err
      : new BrokerError('UNKNOWN_SERVER_ERROR', (err as Error)?.message ?? String(err), { cause: err });
  let code = STATUS[be.code];
  if (be.code === 'UNKNOWN_TOPIC_OR_PARTITION' && topic && topicExists?.(topic))
    code = grpc.status.INVALID_ARGUMENT;
  // Kafka calls an unknown topic retriable because metadata spreads through a cluster over time; through
  // this API the answer comes from the metadata owner, so waiting would not change it.
  const retriable = be.retriable && be.code !== 'UNKNOWN_TOPIC_OR_PARTITION';
  return { code, details: be.message, brokerCode: be.code, retriable };
}

/** A gRPC error for `err` (grpcFailureOf), the broker's own code in the trailers. */
export function toGrpcError(
  err: unknown,
  topicExists?: (name: string) => boolean,
  topic?: string,
): Partial<grpc.StatusObject> {
  const f = grpcFailureOf(err, topicExists, topic);
  const metadata = new grpc.Metadata();
  metadata.set('broker-error-code', f.brokerCode);
  metadata.set('broker-retriable', String(f.retriable));
  return { code: f.code, details: f.details, metadata };
}
