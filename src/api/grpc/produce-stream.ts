/**
 * ProduceStream (broker.proto): ProduceBatch requests on one bidirectional call. Each message is run
 * exactly as a ProduceBatch call is (the same RPC function, readiness check and error mapping) and
 * answered with its id as it completes. What a stream saves is grpc-js's and HTTP/2's per-call work:
 * a new stream, its headers, its interceptors, its trailers; several times a message's own cost.
 *
 * Flow control: requests are read ahead of their answers up to `produceStreamReadAheadBytesMax`;
 * past it, or while the client does not read its answers (a write returns false), the call is paused,
 * so HTTP/2 flow control holds the client back. The server's close ends the stream with UNAVAILABLE
 * once every request already read is answered, so that a client knows that the requests it has no
 * answer for were not run. (A message that cannot be decoded at all is grpc-js's to refuse: it ends
 * the call with INTERNAL.)
 */
import type * as grpc from '@grpc/grpc-js';
import { BrokerError } from '../../errors.ts';
import { grpcFailureOf, toGrpcError } from './errors.ts';
import { produceStreamReadAheadBytesMax } from './limits.ts';
import { RefusedRequest } from './request-bounds.ts';
import type { UnaryRpc, WireRecord } from './rpc.ts';
import type { GrpcServerOptions } from './server.ts';

interface BatchRequest {
  topic?: string;
  records?: WireRecord[];
  recordBatch?: Buffer;
}
interface StreamRequest {
  id?: number;
  batch?: BatchRequest;
}
export type ProduceStreamCall = grpc.ServerDuplexStream<StreamRequest | RefusedRequest, unknown>;

/** What a request holds while it runs: its record bytes, and a little for the rest. */
function heldBytes(req: BatchRequest): number {
  let n = 256 + (req.recordBatch?.length ?? 0);
  for (const r of req.records ?? []) n += 64 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  return n;
}

/** A stream being served; `close()` ends it once the requests it has read are answered. */
export interface ProduceStreamHandle {
  close(): void;
}

export function produceStream(
  opts: GrpcServerOptions,
  call: ProduceStreamCall,
  produceBatch: UnaryRpc,
  readAheadBytesMax = produceStreamReadAheadBytesMax,
): ProduceStreamHandle {
  const topicExists = (t: string) => opts.core.metadata.getTopic(t) !== undefined;
  let running = 0;
  let heldTotal = 0;
  let waitingForDrain = false;
  let clientEnded = false;
  let cancelled = false;
  /** Set by close(): the stream ends with this status once the requests read are answered. */
  let closing: BrokerError | null = null;
  let finished = false;

  const flowControl = () => {
    if (closing !== null || finished) return;
    if (heldTotal >= readAheadBytesMax || waitingForDrain) call.pause();
    else call.resume();
  };
  const finishIfDone = () => {
    if (finished || running > 0 || cancelled) return;
    if (closing !== null) {
      finished = true;
      // As Subscribe does: grpc-js sends a server stream's status from its 'error' event.
      call.emit('error', Object.assign(new Error(closing.message), toGrpcError(closing)));
    } else if (clientEnded) {
      finished = true;
      if (!call.writableEnded) call.end();
    }
  };
  const answer = (message: object) => {
    if (cancelled || finished || call.writableEnded) return;
    if (!call.write(message) && !waitingForDrain) {
      waitingForDrain = true;
      call.once('drain', () => {
        waitingForDrain = false;
        flowControl();
      });
      flowControl();
    }
  };
  const fail = (id: number, err: unknown, topic: string | undefined) => {
    const f = grpcFailureOf(err, topicExists, topic);
    answer({
      id,
      error: { code: f.code, message: f.details, brokerCode: f.brokerCode, retriable: f.retriable },
    });
  };

  call.on('data', (msg: StreamRequest | RefusedRequest) => {
    if (closing !== null || finished) return;
    // Over ProduceBatch's bounds: its id was read (checkProduceStreamBounds), so it fails alone.
    if (msg instanceof RefusedRequest) {
      fail(msg.id ?? 0, msg.error, undefined);
      opts.observeRequest?.('ProduceStream', 0, false);
      return;
    }
    const id = msg.id ?? 0;
    const req = msg.batch ?? {};
    if (!opts.isReady()) {
      fail(id, new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is not ready'), req.topic);
      opts.observeRequest?.('ProduceStream', 0, false);
      return;
    }
    const held = heldBytes(req);
    running++;
    heldTotal += held;
    flowControl();
    const started = process.hrtime.bigint();
    Promise.resolve()
      .then(() => produceBatch(req as never, call as never))
      .then(
        (result) => {
          answer({ id, result });
          return true;
        },
        (err) => {
          if (!(err instanceof BrokerError))
            opts.logger.error(
              { method: 'ProduceStream', err: (err as Error)?.stack ?? String(err) },
              'unexpected error in a gRPC call',
            );
          fail(id, err, req.topic);
          return false;
        },
      )
      .then((ok) => {
        opts.observeRequest?.('ProduceStream', Number(process.hrtime.bigint() - started) / 1e9, ok);
        running--;
        heldTotal -= held;
        flowControl();
        finishIfDone();
      });
  });
  call.on('end', () => {
    clientEnded = true;
    finishIfDone();
  });
  call.on('cancelled', () => {
    cancelled = true;
  });

  return {
    close() {
      if (closing !== null || finished) return;
      closing = new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is shutting down');
      call.pause();
      finishIfDone();
    },
  };
}
