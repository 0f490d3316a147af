/**
 * The gRPC door's consume RPCs (broker.proto): Consume and ConsumeBatch (records decoded, or raw
 * batches), and the Subscribe stream, all read through the core up to the high watermark.
 */
import type * as grpc from '@grpc/grpc-js';
import { BrokerError } from '../../errors.ts';
import { toGrpcError } from './errors.ts';
import { RefusedRequest } from './request-bounds.ts';
import { int, requireString, toWireRecord, type UnaryRpcs } from './rpc.ts';
import type { GrpcServerOptions } from './server.ts';

export interface SubscribeRequest {
  topic?: string;
  partition?: number;
  offset?: number;
  maxBytes?: number;
  raw?: boolean;
}

/**
 * A Subscribe call as `subscribe` uses it: served directly (direct-calls.ts's
 * DirectServerStreamCall) or, when grpc-js serves it, grpc-js's stream through `grpcJsSubscribeCall`.
 */
export interface SubscribeCall {
  readonly request: SubscribeRequest;
  readonly writableEnded: boolean;
  /** False: wait for 'drain' before the next message. */
  write(message: unknown): boolean;
  once(event: 'drain', fn: () => void): unknown;
  on(event: 'cancelled', fn: () => void): unknown;
  /** Ends the call with status OK. */
  end(): void;
  /** Ends the call with an error status (a grpc-js service error's code, details and metadata). */
  fail(err: Partial<grpc.StatusObject>): void;
}

/** grpc-js's server stream as a SubscribeCall. */
export function grpcJsSubscribeCall(
  call: grpc.ServerWritableStream<SubscribeRequest, unknown>,
): SubscribeCall {
  return {
    get request() {
      return call.request;
    },
    get writableEnded() {
      return call.writableEnded;
    },
    write: (message) => call.write(message),
    once: (event, fn) => call.once(event, fn),
    on: (event, fn) => call.on(event, fn),
    end: () => call.end(),
    // grpc-js sends a server stream's status from its 'error' event; destroy() would tear the
    // stream down without one, and the client would wait for a status that never comes.
    fail: (err) => call.emit('error', Object.assign(new Error(err.details), err)),
  };
}

const signalOf = (call: { on(event: 'cancelled', fn: () => void): unknown }) => {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  return ac.signal;
};

export function consumeRpcs(opts: GrpcServerOptions): UnaryRpcs {
  const core = opts.core;
  return {
    Consume: async (req: { topic?: string; partition?: number; offset?: number }) => {
      const topic = requireString(req.topic, 'topic');
      const partition = req.partition ?? 0;
      const offset = int(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
      const r = await core.fetchRecords(topic, partition, offset, { maxRecords: 1 });
      if (r.records.length === 0) {
        throw new BrokerError(
          'OFFSET_OUT_OF_RANGE',
          `no record at or after offset ${offset} yet (high watermark ${r.highWatermark})`,
        );
      }
      return { record: toWireRecord(r.records[0], partition), highWatermark: r.highWatermark };
    },
    ConsumeBatch: async (
      req: {
        topic?: string;
        partition?: number;
        offset?: number;
        maxRecords?: number;
        maxBytes?: number;
        maxWaitMs?: number;
        raw?: boolean;
      },
      call,
    ) => {
      const topic = requireString(req.topic, 'topic');
      const partition = req.partition ?? 0;
      const offset = int(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
      const opts = {
        maxBytes: int(req.maxBytes || undefined, 'max_bytes', 1, 64 * 1024 * 1024, 1024 * 1024),
        maxWaitMs: int(req.maxWaitMs, 'max_wait_ms', 0, 300_000, 0),
        signal: signalOf(call),
      };
      if (req.raw) {
        const r = await core.fetch(topic, partition, offset, opts);
        return {
          recordBatches: r.bytes,
          nextOffset: r.nextOffset,
          highWatermark: r.highWatermark,
          logStartOffset: r.logStartOffset,
        };
      }
      const r = await core.fetchRecords(topic, partition, offset, {
        ...opts,
        maxRecords: req.maxRecords || undefined,
      });
      return {
        records: r.records.map((rec) => toWireRecord(rec, partition)),
        nextOffset: r.nextOffset,
        highWatermark: r.highWatermark,
        logStartOffset: r.logStartOffset,
      };
    },
  };
}

/**
 * Streams a partition from an offset: answers with what is there, then long-polls for more, until
 * `signal` aborts (the client cancelled, or the server is closing) or the stream ends.
 */
export async function subscribe(
  opts: GrpcServerOptions,
  call: SubscribeCall,
  signal: AbortSignal,
): Promise<void> {
  const core = opts.core;
  try {
    if ((call.request as unknown) instanceof RefusedRequest)
      throw (call.request as unknown as RefusedRequest).error;
    if (!opts.isReady()) throw new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is not ready');
    const req = call.request;
    const topic = requireString(req.topic, 'topic');
    const partition = req.partition ?? 0;
    let offset = int(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const maxBytes = int(req.maxBytes || undefined, 'max_bytes', 1, 64 * 1024 * 1024, 1024 * 1024);
    while (!signal.aborted && !call.writableEnded) {
      let message: unknown;
      if (req.raw) {
        const r = await core.fetch(topic, partition, offset, {
          maxBytes,
          maxWaitMs: 5000,
          signal,
        });
        if (r.bytes.length === 0) continue;
        message = { recordBatches: r.bytes, nextOffset: r.nextOffset, highWatermark: r.highWatermark };
        offset = r.nextOffset;
      } else {
        const r = await core.fetchRecords(topic, partition, offset, {
          maxBytes,
          maxWaitMs: 5000,
          signal,
        });
        if (r.records.length === 0) {
          offset = r.nextOffset;
          continue;
        }
        message = {
          records: r.records.map((rec) => toWireRecord(rec, partition)),
          nextOffset: r.nextOffset,
          highWatermark: r.highWatermark,
        };
        offset = r.nextOffset;
      }
      // Respect flow control: wait for the client to drain before reading more. A write that ended
      // the call (a message over the response bound) ends the loop instead.
      if (!call.write(message) && !call.writableEnded)
        await new Promise<void>((resolve) => {
          const onDrain = () => {
            signal.removeEventListener('abort', onDrain);
            resolve();
          };
          call.once('drain', onDrain);
          signal.addEventListener('abort', onDrain, { once: true });
        });
    }
    if (!call.writableEnded) call.end();
  } catch (err) {
    if (!signal.aborted) {
      const e = err as BrokerError;
      if (e.code === 'BROKER_NOT_AVAILABLE' || e.code === 'LOG_CLOSED') {
        if (!call.writableEnded) call.end();
      } else {
        call.fail(toGrpcError(err, (t) => core.metadata.getTopic(t) !== undefined, call.request.topic));
      }
    }
  }
}
