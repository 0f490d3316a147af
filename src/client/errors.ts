/** Typed errors of the client: the broker's error code when it sent one, the gRPC status, and `retriable`. */
import * as grpc from '@grpc/grpc-js';

/** gRPC statuses that a retry may cure when the broker did not say otherwise. */
const RETRIABLE_STATUS = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ABORTED,
]);

export class BrokerClientError extends Error {
  /** The broker's error name (e.g. UNKNOWN_TOPIC_OR_PARTITION), or CANCELLED / UNAVAILABLE for transport failures. */
  readonly code: string;
  readonly grpcCode: grpc.status;
  readonly retriable: boolean;

  constructor(
    message: string,
    code: string,
    grpcCode: grpc.status,
    retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BrokerClientError';
    this.code = code;
    this.grpcCode = grpcCode;
    this.retriable = retriable;
  }

  static fromGrpc(err: grpc.ServiceError): BrokerClientError {
    const code = err.metadata?.get('broker-error-code')[0]?.toString();
    const retriableHeader = err.metadata?.get('broker-retriable')[0]?.toString();
    // RESOURCE_EXHAUSTED from the broker (a limit) is final; from the transport it may pass.
    const retriable =
      retriableHeader !== undefined ? retriableHeader === 'true' : RETRIABLE_STATUS.has(err.code);
    return new BrokerClientError(
      err.details || err.message,
      code ?? grpc.status[err.code] ?? 'UNKNOWN',
      err.code,
      retriable,
      { cause: err },
    );
  }
}

export function abortError(signal: AbortSignal): BrokerClientError {
  return new BrokerClientError(
    `aborted: ${String(signal.reason ?? 'AbortSignal')}`,
    'CANCELLED',
    grpc.status.CANCELLED,
    false,
    {
      cause: signal.reason,
    },
  );
}
