/**
 * What the Kafka listener needs from the rest of the broker: a request handler and a logger. The
 * listener owns framing, headers, version checks, ordering and backpressure; the handler owns what a
 * request means (the broker core's work, DESIGN.md "two front doors").
 */
import type { ApiName } from '../../protocol/kafka/apis/index.ts';
import type { Message } from '../../protocol/kafka/codec.ts';

/** The connection a request arrived on. */
export interface ConnectionInfo {
  /** Unique per listener, in accept order. */
  id: number;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

export interface RequestContext {
  apiKey: number;
  apiName: ApiName;
  apiVersion: number;
  correlationId: number;
  /** The request header's client id (null when the client sent none). */
  clientId: string | null;
  connection: ConnectionInfo;
}

/**
 * Serves decoded requests. `request` is the decoded body: a plain object with one camelCase property
 * per schema field of any version (fields absent from `ctx.apiVersion` hold their defaults; see
 * apis/*.ts for each API's shape and the exported `XxxRequest`/`XxxResponse` types). The promise
 * resolves to the response body in the same shape (fields left undefined are written as their
 * defaults), or to null when the protocol sends no response (Produce with acks=0).
 *
 * Errors the client must see (unknown topic, not coordinator, ...) belong in the response's error
 * codes. A rejected promise is a bug: the listener logs it and closes the connection, as Kafka does
 * when it cannot build a response, and the client reconnects and retries.
 *
 * ApiVersions never reaches the handler: the listener answers it from apis/index.ts.
 */
export interface KafkaRequestHandler {
  handle(ctx: RequestContext, request: Message): Promise<Message | null>;
}

/** A pino-compatible logger: structured fields first, message second. */
export interface KafkaLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Why the listener closed a connection on its own initiative (the reasons a metric counts). */
export type ConnectionCloseReason =
  /** No request, response or byte for `connections.max.idle.ms` (Kafka's idle expiry). */
  | 'idle'
  /** A request frame began but did not arrive whole within the partial-request bound. */
  | 'slow_request'
  /** Closed, idle the longest, to make room for a new connection at the connection limit. */
  | 'evicted';

/**
 * What the listener reports for metrics (src/http/metrics.ts). Every method is called synchronously
 * on the listener's path and must not throw.
 */
export interface KafkaListenerObserver {
  /** A request carried bytes after its body; they were ignored (librdkafka issue #5049). */
  trailingBytes(apiName: ApiName, apiVersion: number, bytes: number): void;
  /** The listener closed a connection for `reason`. */
  connectionClosed(reason: ConnectionCloseReason): void;
}
