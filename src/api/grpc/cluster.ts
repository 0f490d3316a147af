/**
 * The gRPC `Cluster` service (proto/tsbroker/v1/cluster.proto), both sides: the handlers through which
 * other nodes reach this node's controller and ask which cluster it belongs to, and `GrpcForwarder`,
 * through which this node reaches theirs (the `Forwarder` of src/broker/cluster/cluster.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { Cluster, Forwarder } from '../../broker/cluster/cluster.ts';
import type { Answered } from '../../broker/cluster/controller-host.ts';
import { type ControllerOp, decodeAnswer, decodeOp, encodeAnswer, encodeOp } from '../../controller/ops.ts';
import { BrokerError, ERROR_CODES, type ErrorCode } from '../../errors.ts';
import { clusterClientConstructor } from '../../grpc-proto.ts';

/** Bytes of one forwarded operation or answer (a CreateTopics of many topics stays far below it). */
export const controllerCallBytesMax = 4 * 1024 * 1024;

interface CallRequest {
  operation?: Buffer;
  hops?: number;
}

export function clusterHandlers(opts: {
  cluster: () => Cluster;
  clusterId: string;
}): grpc.UntypedServiceImplementation {
  return {
    ControllerCall: (call: grpc.ServerUnaryCall<CallRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      void (async () => {
        try {
          const bytes = call.request.operation ?? Buffer.alloc(0);
          if (bytes.length > controllerCallBytesMax)
            throw new BrokerError(
              'INVALID_REQUEST',
              `an operation of ${bytes.length} bytes is over ${controllerCallBytesMax}`,
            );
          const op = decodeOp(bytes);
          const hops = Math.max(0, Math.min(1, Number(call.request.hops ?? 0) || 0));
          const { answer, offset } = await opts.cluster().call(op, { hops, timeoutMs: 30_000 });
          cb(null, { answer: encodeAnswer(answer), offset });
        } catch (err) {
          const be =
            err instanceof BrokerError
              ? err
              : new BrokerError('UNKNOWN_SERVER_ERROR', (err as Error)?.message ?? String(err), {
                  cause: err,
                });
          cb(null, { errorCode: be.code, errorMessage: be.message });
        }
      })();
    },
    DescribeNode: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const cluster = opts.cluster();
      cb(null, { clusterId: opts.clusterId, nodeId: cluster.nodeId, controllerId: cluster.log.leader });
    },
  };
}

type UnaryClient = grpc.Client &
  Record<
    string,
    (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void
  >;

/** Reaches other nodes' `Cluster` service, one channel per address. */
export class GrpcForwarder implements Forwarder {
  #clients = new Map<string, UnaryClient>();

  #client(address: string): UnaryClient {
    let c = this.#clients.get(address);
    if (!c) {
      const Ctor = clusterClientConstructor();
      c = new Ctor(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': controllerCallBytesMax,
        'grpc.max_send_message_length': controllerCallBytesMax,
        // A node that was down comes back as the controller: heartbeats must reach it within a
        // session, so the channel retries at least every second rather than backing off to minutes.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // Per-call channelz bookkeeping that only a channelz service would read (src/api/grpc/server.ts).
        'grpc.enable_channelz': 0,
      }) as unknown as UnaryClient;
      this.#clients.set(address, c);
    }
    return c;
  }

  #unary<T>(address: string, method: string, req: unknown, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#client(address)[method](req, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) {
          reject(
            new BrokerError(
              'BROKER_NOT_AVAILABLE',
              `cannot reach the node at ${address}: ${err.details || err.message}`,
              {
                cause: err,
              },
            ),
          );
        } else resolve(res as T);
      });
    });
  }

  async call(address: string, op: ControllerOp, hops: number, timeoutMs: number): Promise<Answered<unknown>> {
    const res = await this.#unary<{
      answer?: Buffer;
      errorCode?: string;
      errorMessage?: string;
      offset?: number;
    }>(address, 'ControllerCall', { operation: encodeOp(op), hops }, timeoutMs);
    if (res.errorCode) {
      const code = (res.errorCode in ERROR_CODES ? res.errorCode : 'UNKNOWN_SERVER_ERROR') as ErrorCode;
      throw new BrokerError(code, res.errorMessage ?? code);
    }
    return {
      answer: decodeAnswer(res.answer ?? Buffer.from('{"answer":null}')),
      offset: Number(res.offset ?? -1),
    };
  }

  /** Which cluster and node answer at `address`. */
  describeNode(
    address: string,
    timeoutMs: number,
  ): Promise<{ clusterId: string; nodeId: number; controllerId: number }> {
    return this.#unary(address, 'DescribeNode', {}, timeoutMs);
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
