/**
 * The Broker service's unary calls served on Node's HTTP/2 streams directly, in front of grpc-js.
 *
 * grpc-js builds for every call a chain of objects (an intercepting call, its listener, a metadata
 * copy of the headers, a stream decoder, a read queue, a writable-stream wrapper, promise steps for
 * decompression) before the handler runs, and answers through as many: at 1,725 ProduceBatch calls a
 * second they were about half of what the broker allocated, and the young-generation collections
 * they cause are where the p99 of a produce sits. Here a call is one small object: the message is
 * read off the stream's DATA chunks, decoded with the method's own (bounded) deserializer, handed to
 * the same wrapper grpc-js would call, and answered with prebuilt headers, the framed message and the
 * trailers.
 *
 * What a gRPC server owes a caller is kept: the 5-byte message prefix and its bound
 * (`grpc.max_receive_message_length`, refused from the prefix, before the bytes arrive), exactly one
 * request message, gzip and deflate request compression (decompressed asynchronously, bounded),
 * `grpc-timeout` (DEADLINE_EXCEEDED, and the call is cancelled), cancellation when the caller resets
 * the stream, the response bound, and errors as trailers-only responses with a percent-encoded
 * `grpc-message` and the error's metadata. Streaming methods, the health, reflection and cluster
 * services, and any request that is not `application/grpc` stay with grpc-js, which sees every stream
 * this path does not take.
 *
 * The streams are taken from the HTTP/2 listeners grpc-js keeps in its `http2Servers` map, as
 * flow-control.ts reaches them: not grpc-js's public API. When a later version lacks the map,
 * `serveUnaryDirectly` returns false and every call goes through grpc-js as before.
 */
import http2 from 'node:http2';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { serializedParts } from '../../grpc-proto.ts';

/** A unary handler as grpc-js calls it: the call (request, peer, cancellation) and the answer. */
export type UnaryHandler = (call: DirectUnaryCall, answer: grpc.sendUnaryData<unknown>) => void;

export interface DirectMethod {
  /** The request's deserializer (the service definition's, bounds included). */
  deserialize: (bytes: Buffer) => unknown;
  /** The response's serializer: a Buffer, or what `serializedParts` reads. */
  serialize: (value: unknown) => Buffer;
  handler: UnaryHandler;
}

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

interface Status {
  code: number;
  details: string;
  metadata?: grpc.Metadata | null;
}

/**
 * One unary call: what a handler sees (the decoded request, the peer, the deadline, 'cancelled') and
 * the state of its stream.
 */
export class DirectUnaryCall {
  request: unknown = undefined;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #headers: http2.IncomingHttpHeaders;
  readonly #method: DirectMethod;
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

  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    method: DirectMethod,
    limits: DirectLimits,
  ) {
    this.#stream = stream;
    this.#headers = headers;
    this.#method = method;
    this.#limits = limits;
    // Every error also closes the stream, which is what the call acts on.
    stream.on('error', ignore);
    stream.once('close', () => this.#cancel());
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.once('end', () => this.#onEnd());
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) this.#startDeadline(timeout);
  }

  /** The caller's address and port, as grpc-js reports it. */
  getPeer(): string {
    const socket = this.#stream.session?.socket;
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
        this.#sendStatus({ code: grpc.status.INTERNAL, details: `Invalid grpc-timeout value "${value}"` }),
      );
      return;
    }
    const ms = Number(m[1]) * timeoutUnitMs[m[2]];
    this.#deadline = Date.now() + ms;
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = null;
      if (this.#finished) return;
      this.#sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
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
        this.#sendStatus({
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: `Received message larger than max (${this.#declared} vs. ${this.#limits.receiveBytesMax})`,
        });
        return;
      }
    }
    if (this.#received > 5 + this.#declared)
      this.#sendStatus({
        code: grpc.status.UNIMPLEMENTED,
        details: `Received a second request message for unary method ${this.#headers[':path']}`,
      });
  }

  #onEnd(): void {
    if (this.#finished) return;
    if (this.#declared < 0 || this.#received < 5 + this.#declared) {
      this.#sendStatus({
        code: grpc.status.UNIMPLEMENTED,
        details: `Received no request message for unary method ${this.#headers[':path']}`,
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
      this.#sendStatus(
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
      this.#sendStatus(
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
      this.request = this.#method.deserialize(message);
    } catch (e) {
      this.#sendStatus({
        code: grpc.status.INTERNAL,
        details: `Error deserializing request: ${(e as Error).message}`,
      });
      return;
    }
    this.#method.handler(this, (err, value) => this.#answer(err, value));
  }

  #answer(err: grpc.ServerErrorResponse | Partial<grpc.StatusObject> | null, value?: unknown): void {
    if (this.#finished) return;
    if (err) {
      const code = Number.isInteger(err.code) ? (err.code as number) : grpc.status.UNKNOWN;
      this.#sendStatus({
        code,
        details: err.details ?? (err as Error).message ?? '',
        metadata: err.metadata,
      });
      return;
    }
    let parts: Buffer[];
    try {
      parts = serializedParts(this.#method.serialize(value));
    } catch {
      this.#sendStatus({ code: grpc.status.INTERNAL, details: 'Error serializing response' });
      return;
    }
    let length = 0;
    for (const p of parts) length += p.length;
    if (length > this.#limits.sendBytesMax) {
      this.#sendStatus({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${length} vs. ${this.#limits.sendBytesMax})`,
      });
      return;
    }
    this.#finish();
    const stream = this.#stream;
    if (stream.destroyed || stream.closed) return;
    // The prefix and a small message in one chunk; a large message's parts (stored batches) as they
    // are, uncopied, after it.
    const first = parts[0];
    const small = parts.length === 1 && first.length <= 16 * 1024;
    const head = Buffer.allocUnsafe(small ? 5 + first.length : 5);
    head[0] = 0;
    head.writeUInt32BE(length, 1);
    if (small) first.copy(head, 5);
    try {
      stream.respond(okHeaders, waitForTrailers);
      stream.once('wantTrailers', () => stream.sendTrailers(okTrailers));
      if (small) stream.end(head);
      else {
        stream.cork();
        stream.write(head);
        for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]);
        stream.end(parts[parts.length - 1]);
        stream.uncork();
      }
    } catch {
      // The session went away between the check and the answer (a forced shutdown): nobody to tell.
      stream.destroy();
    }
  }

  /** A status without a message: trailers only. */
  #sendStatus(status: Status): void {
    if (this.#finished) return;
    this.#finish();
    const stream = this.#stream;
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    try {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc+proto',
          'grpc-status': String(status.code),
          'grpc-message': encodeURI(status.details.toWellFormed()),
          ...status.metadata?.toHttp2Headers(),
        },
        endStream,
      );
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

  #finish(): void {
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
    this.#finish();
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

function ignore(): void {}

/**
 * Takes the streams of `methods` (by path) from grpc-js's HTTP/2 listeners. False, and nothing
 * changed, when the listeners cannot be found.
 */
export function serveUnaryDirectly(
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
        new DirectUnaryCall(stream, headers, method, limits);
        return;
      }
      for (const fn of grpcJs) fn.call(listener, stream, headers, ...rest);
    });
  }
  return true;
}
