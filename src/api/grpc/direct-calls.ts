/**
 * The Broker service's unary calls and its Subscribe stream, served on Node's HTTP/2 streams
 * directly, in front of grpc-js.
 *
 * grpc-js builds for every call a chain of objects (an intercepting call, its listener, a metadata
 * copy of the headers, a stream decoder, a read queue, a writable-stream wrapper, promise steps for
 * decompression) before the handler runs, and answers through as many: at 1,725 ProduceBatch calls a
 * second they were about half of what the broker allocated, and the young-generation collections
 * they cause are where the p99 of a produce sits. Here a call is one small object: the message is
 * read off the stream's DATA chunks, decoded with the method's own (bounded) deserializer, handed to
 * the same wrapper grpc-js would call, and answered with prebuilt headers, the framed message and the
 * trailers. A Subscribe message's stored batches are written as they were read, where grpc-js copies
 * them into one buffer per message.
 *
 * What a gRPC server owes a caller is kept: the 5-byte message prefix and its bound
 * (`grpc.max_receive_message_length`, refused from the prefix, before the bytes arrive), exactly one
 * request message, gzip and deflate request compression (decompressed asynchronously, bounded),
 * `grpc-timeout` (DEADLINE_EXCEEDED, and the call is cancelled), cancellation when the caller resets
 * the stream, the response bound, the stream's flow control ('drain'), and errors as trailers (only
 * trailers when nothing was sent) with a percent-encoded `grpc-message` and the error's metadata.
 * ProduceStream, the health, reflection and cluster services, and any request that is not
 * `application/grpc` stay with grpc-js, which sees every stream this path does not take.
 *
 * The streams are taken from the HTTP/2 listeners grpc-js keeps in its `http2Servers` map, as
 * flow-control.ts reaches them: not grpc-js's public API. When a later version lacks the map,
 * `serveDirectly` returns false and every call goes through grpc-js as before.
 */
import http2 from 'node:http2';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { serializedParts } from '../../grpc-proto.ts';

/** A unary handler as grpc-js calls it: the call (request, peer, cancellation) and the answer. */
export type UnaryHandler = (call: DirectUnaryCall, answer: grpc.sendUnaryData<unknown>) => void;
/** A server-streaming handler: the call, which it writes to and ends. */
export type ServerStreamHandler = (call: DirectServerStreamCall) => void;

interface MethodCodec {
  /** The request's deserializer (the service definition's, bounds included). */
  deserialize: (bytes: Buffer) => unknown;
  /** The response's serializer: a Buffer, or what `serializedParts` reads. */
  serialize: (value: unknown) => Buffer;
}

export type DirectMethod =
  | (MethodCodec & { kind: 'unary'; handler: UnaryHandler })
  | (MethodCodec & { kind: 'serverStream'; handler: ServerStreamHandler });

export interface DirectLimits {
  receiveBytesMax: number;
  sendBytesMax: number;
}

const okHeaders = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
});
const okTrailers = Object.freeze({ 'grpc-status': '0', 'grpc-message': 'OK' });
const waitForTrailers = Object.freeze({ waitForTrailers: true });
const endStream = Object.freeze({ endStream: true });

/** grpc-timeout: at most 8 digits and a unit (the gRPC HTTP/2 protocol). */
const timeoutPattern = /^(\d{1,8})([HMSmun])$/;
const timeoutUnitMs: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** A call's outcome as the trailers carry it. */
export interface CallStatus {
  code: number;
  details: string;
  metadata?: grpc.Metadata | null;
}

/**
 * What every direct call shares: reading its one request message off the stream, the peer, the
 * deadline, cancellation, and sending its status. A subclass answers: `started()` runs once the
 * request is decoded.
 */
abstract class DirectCall<Handler> {
  request: unknown = undefined;
  protected readonly stream: http2.ServerHttp2Stream;
  protected readonly handler: Handler;
  readonly #headers: http2.IncomingHttpHeaders;
  readonly #codec: MethodCodec;
  readonly #limits: DirectLimits;
  /** The message's bytes as they came, and how many. */
  #chunks: Buffer[] = [];
  #received = 0;
  /** The message's length from its prefix, once the prefix is in; -1 before. */
  #declared = -1;
  /** True once the status is sent or the call is cancelled: nothing more is read or written. */
  #finished = false;
  #cancelled = false;
  #onCancel: (() => void)[] | null = null;
  #deadline = Number.POSITIVE_INFINITY;
  #deadlineTimer: NodeJS.Timeout | null = null;
  /** The trailers a stream whose headers are sent ends with (`respondOk` asks for them). */
  #trailers: http2.OutgoingHttpHeaders = okTrailers;

  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: MethodCodec & { handler: Handler },
    limits: DirectLimits,
  ) {
    this.stream = stream;
    this.handler = method.handler;
    this.#headers = headers;
    this.#codec = method;
    this.#limits = limits;
    // Every error also closes the stream, which is what the call acts on.
    stream.on('error', ignore);
    stream.once('close', () => this.#cancel());
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.once('end', () => this.#onEnd());
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) this.#startDeadline(timeout);
  }

  /** Runs the handler once `request` is decoded. */
  protected abstract started(): void;

  /** The caller's address and port, as grpc-js reports it. */
  getPeer(): string {
    const socket = this.stream.session?.socket;
    if (!socket?.remoteAddress) return 'unknown';
    return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
  }

  /** When the caller stops waiting (ms since the epoch), or Infinity. */
  getDeadline(): number {
    return this.#deadline;
  }

  /** The request's metadata (its headers less the pseudo-headers), built on first use. */
  get metadata(): grpc.Metadata {
    return grpc.Metadata.fromHttp2Headers(this.#headers);
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Whether the status is sent (or the call cancelled): nothing more can be written. */
  protected get finished(): boolean {
    return this.#finished;
  }

  /** Only 'cancelled' is emitted: when the caller resets the stream or its deadline passes. */
  on(event: string, fn: () => void): this {
    if (event === 'cancelled') (this.#onCancel ??= []).push(fn);
    return this;
  }

  #startDeadline(value: string | string[]): void {
    const m = timeoutPattern.exec(String(value).trim());
    if (m === null) {
      // After the constructor, as every answer is.
      process.nextTick(() =>
        this.sendStatus({ code: grpc.status.INTERNAL, details: `Invalid grpc-timeout value "${value}"` }),
      );
      return;
    }
    const ms = Number(m[1]) * timeoutUnitMs[m[2]];
    this.#deadline = Date.now() + ms;
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = null;
      if (this.#finished) return;
      this.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
      this.#notifyCancelled();
    }, ms);
  }

  #onData(chunk: Buffer): void {
    if (this.#finished) return;
    this.#chunks.push(chunk);
    this.#received += chunk.length;
    if (this.#declared < 0) {
      if (this.#received < 5) return;
      const head = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks);
      this.#chunks = [head];
      this.#declared = head.readUInt32BE(1);
      if (this.#declared > this.#limits.receiveBytesMax) {
        this.sendStatus({
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: `Received message larger than max (${this.#declared} vs. ${this.#limits.receiveBytesMax})`,
        });
        return;
      }
    }
    if (this.#received > 5 + this.#declared)
      this.sendStatus({
        code: grpc.status.UNIMPLEMENTED,
        details: `Received a second request message for method ${this.#headers[':path']}`,
      });
  }

  #onEnd(): void {
    if (this.#finished) return;
    if (this.#declared < 0 || this.#received < 5 + this.#declared) {
      this.sendStatus({
        code: grpc.status.UNIMPLEMENTED,
        details: `Received no request message for method ${this.#headers[':path']}`,
      });
      return;
    }
    const frame = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#received);
    this.#chunks = [];
    const message = frame.subarray(5);
    if (frame[0] === 0) {
      this.#run(message);
      return;
    }
    const encoding = this.#headers['grpc-encoding'];
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      this.sendStatus(
        encoding === undefined || encoding === 'identity'
          ? { code: grpc.status.INTERNAL, details: 'Compressed message without a grpc-encoding' }
          : {
              code: grpc.status.UNIMPLEMENTED,
              details: `Received message compressed with unsupported encoding "${encoding}"`,
            },
      );
      return;
    }
    const unpack = encoding === 'gzip' ? zlib.gunzip : zlib.inflate;
    unpack(message, { maxOutputLength: this.#limits.receiveBytesMax }, (err, plain) => {
      if (err === null) {
        this.#run(plain);
        return;
      }
      this.sendStatus(
        (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
          ? {
              code: grpc.status.RESOURCE_EXHAUSTED,
              details: `Received message that decompresses to a size larger than ${this.#limits.receiveBytesMax}`,
            }
          : { code: grpc.status.INTERNAL, details: 'Failed to decompress message' },
      );
    });
  }

  #run(message: Buffer): void {
    if (this.#finished) return;
    try {
      this.request = this.#codec.deserialize(message);
    } catch (e) {
      this.sendStatus({
        code: grpc.status.INTERNAL,
        details: `Error deserializing request: ${(e as Error).message}`,
      });
      return;
    }
    this.started();
  }

  /**
   * A response message's buffers and length, or null (and the call ended with INTERNAL or
   * RESOURCE_EXHAUSTED) when it cannot be serialized or is over the response bound.
   */
  protected serialize(value: unknown): { parts: Buffer[]; length: number } | null {
    let parts: Buffer[];
    try {
      parts = serializedParts(this.#codec.serialize(value));
    } catch {
      this.sendStatus({ code: grpc.status.INTERNAL, details: 'Error serializing response' });
      return null;
    }
    let length = 0;
    for (const p of parts) length += p.length;
    if (length > this.#limits.sendBytesMax) {
      this.sendStatus({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${length} vs. ${this.#limits.sendBytesMax})`,
      });
      return null;
    }
    return { parts, length };
  }

  /** Sends the OK headers; the stream's end then sends the trailers `sendStatus` set (OK by default). */
  protected respondOk(): void {
    const stream = this.stream;
    stream.respond(okHeaders, waitForTrailers);
    stream.once('wantTrailers', () => stream.sendTrailers(this.#trailers));
  }

  /**
   * Writes one framed message: the prefix and a small message in one chunk, a large message's parts
   * (stored batches) as they are, uncopied, after it. Ends the stream after it when `end`. Returns
   * what the stream's write returned (false: wait for 'drain').
   */
  protected writeMessage(parts: Buffer[], length: number, end: boolean): boolean {
    const stream = this.stream;
    const first = parts[0];
    const small = parts.length === 1 && first.length <= 16 * 1024;
    const head = Buffer.allocUnsafe(small ? 5 + first.length : 5);
    head[0] = 0;
    head.writeUInt32BE(length, 1);
    if (small) {
      first.copy(head, 5);
      if (end) {
        stream.end(head);
        return false;
      }
      return stream.write(head);
    }
    stream.cork();
    stream.write(head);
    for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]);
    const last = parts[parts.length - 1];
    let more = false;
    if (end) stream.end(last);
    else more = stream.write(last);
    stream.uncork();
    return more;
  }

  /**
   * Ends the call with `status`: as trailers after what was sent, or as a trailers-only response
   * when the headers are not sent yet.
   */
  protected sendStatus(status: CallStatus): void {
    if (this.#finished) return;
    this.finish();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const trailers = {
      'grpc-status': String(status.code),
      'grpc-message': encodeURI(status.details.toWellFormed()),
      ...status.metadata?.toHttp2Headers(),
    };
    if (stream.headersSent) {
      this.#trailers = trailers;
      try {
        stream.end();
      } catch {
        stream.destroy();
      }
      return;
    }
    try {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', ...trailers }, endStream);
    } catch {
      stream.destroy();
      return;
    }
    // A caller still sending (a body refused from its prefix) is asked to stop, without error, as
    // HTTP/2 lets a server that has answered (RFC 9113 section 8.1); what is in flight is dropped.
    if (!stream.readableEnded) {
      stream.resume();
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }
  }

  /** Nothing more is read or written; the deadline is off. */
  protected finish(): void {
    this.#finished = true;
    this.#chunks = [];
    if (this.#deadlineTimer !== null) {
      clearTimeout(this.#deadlineTimer);
      this.#deadlineTimer = null;
    }
  }

  /** The stream closed before the call was answered. */
  #cancel(): void {
    if (this.#finished) return;
    this.finish();
    this.#notifyCancelled();
  }

  #notifyCancelled(): void {
    this.#cancelled = true;
    const listeners = this.#onCancel;
    this.#onCancel = null;
    if (listeners !== null)
      process.nextTick(() => {
        for (const fn of listeners) fn();
      });
  }
}

/** One unary call: the handler answers once, with an error or the response message. */
export class DirectUnaryCall extends DirectCall<UnaryHandler> {
  protected started(): void {
    this.handler(this, (err, value) => this.#answer(err, value));
  }

  #answer(err: grpc.ServerErrorResponse | Partial<grpc.StatusObject> | null, value?: unknown): void {
    if (this.finished) return;
    if (err) {
      this.sendStatus(statusOf(err));
      return;
    }
    const message = this.serialize(value);
    if (message === null) return;
    this.finish();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    try {
      this.respondOk();
      this.writeMessage(message.parts, message.length, true);
    } catch {
      // The session went away between the check and the answer (a forced shutdown): nobody to tell.
      stream.destroy();
    }
  }
}

/**
 * One server-streaming call (Subscribe): the handler writes messages, respecting 'drain', and ends
 * the call with `end()` or `fail()`.
 */
export class DirectServerStreamCall extends DirectCall<ServerStreamHandler> {
  protected started(): void {
    this.handler(this);
  }

  /** True once the call is ended (by `end`, `fail`, a write that failed, or cancellation). */
  get writableEnded(): boolean {
    return this.finished;
  }

  /**
   * Sends one message. False when the caller's flow-control window or the stream's buffer is full
   * (wait for 'drain'), or when the call has ended.
   */
  write(value: unknown): boolean {
    if (this.finished) return false;
    const message = this.serialize(value);
    if (message === null) return false;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return false;
    try {
      if (!stream.headersSent) this.respondOk();
      return this.writeMessage(message.parts, message.length, false);
    } catch {
      stream.destroy();
      return false;
    }
  }

  /** Only 'drain' is listened to: when the stream can take more. */
  once(event: 'drain', fn: () => void): this {
    if (event === 'drain') this.stream.once('drain', fn);
    return this;
  }

  /** Ends the call with status OK. */
  end(): void {
    this.sendStatus(okStatus);
  }

  /** Ends the call with `err`'s code, details and metadata (a grpc-js service error's). */
  fail(err: Partial<grpc.StatusObject>): void {
    this.sendStatus(statusOf(err));
  }
}

const okStatus: CallStatus = Object.freeze({ code: grpc.status.OK, details: 'OK' });

/** A grpc-js error (code, details or message, metadata) as the status the trailers carry. */
function statusOf(err: grpc.ServerErrorResponse | Partial<grpc.StatusObject>): CallStatus {
  return {
    code: Number.isInteger(err.code) ? (err.code as number) : grpc.status.UNKNOWN,
    details: err.details ?? (err as Error).message ?? '',
    metadata: err.metadata,
  };
}

function ignore(): void {}

/**
 * Takes the streams of `methods` (by path) from grpc-js's HTTP/2 listeners. False, and nothing
 * changed, when the listeners cannot be found.
 */
export function serveDirectly(
  server: grpc.Server,
  methods: ReadonlyMap<string, DirectMethod>,
  limits: DirectLimits,
): boolean {
  const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(listeners instanceof Map) || listeners.size === 0) return false;
  const servers = [...listeners.keys()] as http2.Http2Server[];
  if (!servers.every((s) => typeof s?.listeners === 'function' && s.listenerCount('stream') > 0))
    return false;
  for (const listener of servers) {
    const grpcJs = listener.listeners('stream') as ((...args: unknown[]) => void)[];
    listener.removeAllListeners('stream');
    listener.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest) => {
      const method = methods.get(headers[':path'] ?? '');
      const type = headers['content-type'];
      if (method !== undefined && typeof type === 'string' && type.startsWith('application/grpc')) {
        if (method.kind === 'unary') new DirectUnaryCall(stream, headers, method, limits);
        else new DirectServerStreamCall(stream, headers, method, limits);
        return;
      }
      for (const fn of grpcJs) fn.call(listener, stream, headers, ...rest);
    });
  }
  return true;
}
