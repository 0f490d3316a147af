/**
 * The client's side of ProduceStream (broker.proto): one bidirectional call per broker address that
 * carries the client's ProduceBatch requests as messages, each named by an id and answered by it. A
 * message costs both ends a fraction of a unary call's work (grpc-js's call set-up, headers,
 * interceptors and trailers), which is most of a small batch's cost.
 *
 * Each request keeps the semantics of a ProduceBatch call: its own deadline (a timer here, as the
 * server sets none per message), its AbortSignal, and its error as a BrokerClientError with the
 * broker's code, so that BrokerClient's retries and routing treat both paths alike. When the call
 * ends, every request without an answer fails with the call's status (UNAVAILABLE when the broker
 * stops: retriable), and the next request opens a new call. A broker that has no ProduceStream
 * (UNIMPLEMENTED, an older version) is remembered, and its requests go as unary calls.
 */
import * as grpc from '@grpc/grpc-js';
import { abortError, BrokerClientError } from './errors.ts';

interface Answer {
  id?: number;
  result?: unknown;
  error?: { code?: number; message?: string; brokerCode?: string; retriable?: boolean };
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: BrokerClientError): void;
  done(): void;
}

type OpenCall = (
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
) => grpc.ClientDuplexStream<unknown, Answer>;

export class ProduceStreamMux {
  readonly #open: OpenCall;
  #call: grpc.ClientDuplexStream<unknown, Answer> | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #unsupported = false;
  #closed = false;

  /** `open` starts a ProduceStream call on the address's channel. */
  constructor(open: OpenCall) {
    this.#open = open;
  }

  /** False once the broker answered UNIMPLEMENTED: send unary ProduceBatch calls to it instead. */
  get supported(): boolean {
    return !this.#unsupported;
  }

  /** Sends one ProduceBatch request; resolves with its ProduceBatchResponse. */
  send<T>(batch: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    if (this.#closed)
      return Promise.reject(
        new BrokerClientError('client is closed', 'CANCELLED', grpc.status.CANCELLED, false),
      );
    const call = this.#ensureCall();
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        settle();
        reject(
          new BrokerClientError(
            `no answer within ${timeoutMs} ms`,
            'DEADLINE_EXCEEDED',
            grpc.status.DEADLINE_EXCEEDED,
            true,
          ),
        );
      }, timeoutMs);
      const onAbort = () => {
        settle();
        reject(abortError(signal as AbortSignal));
      };
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
      };
      this.#pending.set(id, {
        resolve: (v) => resolve(v as T),
        reject,
        done: settle,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      call.write({ id, batch });
    });
  }

  close(): void {
    this.#closed = true;
    this.#call?.cancel();
    this.#call = null;
  }

  #ensureCall(): grpc.ClientDuplexStream<unknown, Answer> {
    if (this.#call) return this.#call;
    const call = this.#open(new grpc.Metadata(), {});
    this.#call = call;
    call.on('data', (a: Answer) => {
      const p = this.#pending.get(a.id ?? 0);
      if (!p) return; // Timed out or aborted: its answer comes too late.
      p.done();
      if (a.error)
        p.reject(
          new BrokerClientError(
            a.error.message ?? 'produce failed',
            a.error.brokerCode ?? grpc.status[a.error.code ?? grpc.status.UNKNOWN] ?? 'UNKNOWN',
            a.error.code ?? grpc.status.UNKNOWN,
            a.error.retriable === true,
          ),
        );
      else p.resolve(a.result ?? {});
    });
    call.on('error', () => {
      // The status event below says how the call ended.
    });
    call.on('status', (status: grpc.StatusObject) => {
      if (this.#call === call) this.#call = null;
      if (status.code === grpc.status.UNIMPLEMENTED) this.#unsupported = true;
      const err =
        status.code === grpc.status.OK
          ? new BrokerClientError(
              'the produce stream ended before answering',
              'UNAVAILABLE',
              grpc.status.UNAVAILABLE,
              true,
            )
          : BrokerClientError.fromGrpc(Object.assign(new Error(status.details), status) as grpc.ServiceError);
      for (const [, p] of [...this.#pending]) {
        p.done();
        p.reject(err);
      }
    });
    return call;
  }
}
