/**
 * One Kafka client connection: all socket work for the server side lives here (STYLE.md, "All
 * socket work in one connection class"; after kafkajs's socketRequest.js and @platformatic/kafka's
 * connection.ts, seen from the other end).
 *
 * - Framing: a request is an int32 size and that many bytes. The size is checked against the frame
 *   bound as soon as its four bytes arrive; an oversize or undersize frame is logged and the
 *   connection closed before any of its body is read. Bytes are buffered as they arrive (a list of
 *   the socket's chunks), so nothing is ever allocated on the strength of the size field alone.
 * - Order: responses go out in request order, whatever order handlers finish in. Kafka guarantees
 *   this per connection and clients depend on it: kafka-python pipelines Metadata behind ApiVersions
 *   before the first answer arrives (issue 5, "Two traps"), and librdkafka matches responses to its
 *   queue by position as well as correlation id.
 * - Backpressure: at `inFlightMax` unanswered requests, or when more than `queuedBytesMax` bytes of
 *   responses wait in the socket, the connection stops reading (the socket is paused) until the
 *   count drops or 'drain' fires.
 * - Writes are corked while a run of ready responses is written, so small responses leave in one
 *   segment.
 *
 * Version handling follows Kafka's broker: an ApiVersions request above our version gets a v0
 * response with UNSUPPORTED_VERSION and our ranges (KIP-511); an unknown API key, an unsupported
 * version of any other API, or a body that does not parse closes the connection with a log line
 * (Kafka's SocketServer does the same, since it cannot build a response for a request it cannot
 * read).
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { apiVersionsResponse, apiVersionsUnsupportedResponse } from './api-versions-handler.ts';
import { API_KEYS, apiByKey, requestHeaderVersion } from './apis/index.ts';
import type { ConnectionInfo, KafkaLogger, KafkaRequestHandler, RequestContext } from './handler.ts';
import { readRequestHeaderPrefix, readRequestHeaderRest } from './header.ts';
import { decodeRequestBody, encodeResponseFrame } from './messages.ts';
import { Reader } from './protocol/reader.ts';

/** The smallest request: api key, version, correlation id and an empty client id (v1 header). */
export const requestFrameBytesMinimum = 10;

export interface ConnectionLimits {
  /** Largest request frame accepted, in bytes (the size field's value). */
  frameBytesMax: number;
  /** Requests read and not yet answered before the connection stops reading. */
  inFlightMax: number;
  /** Bytes of responses waiting in the socket before the connection stops reading. */
  queuedBytesMax: number;
}

interface Slot {
  /** The response frame, [] for a request that gets no response, null while the handler works. */
  frame: Buffer[] | null;
}

export class KafkaConnection {
  readonly info: ConnectionInfo;
  private readonly socket: Socket;
  private readonly handler: KafkaRequestHandler;
  private readonly logger: KafkaLogger;
  private readonly limits: ConnectionLimits;

  /** Received bytes not yet taken as frames: chunks in order, the first starting at `headOffset`. */
  private readonly chunks: Buffer[] = [];
  private headOffset = 0;
  private bufferedBytes = 0;

  /** Unanswered requests in arrival order; the head is written as soon as its frame is ready. */
  private readonly queue: Slot[] = [];
  private waitingDrain = false;
  private paused = false;
  private closed = false;
  /** Set while `pump` runs, so that a response completed inside it does not re-enter it. */
  private pumping = false;

  constructor(
    socket: Socket,
    info: ConnectionInfo,
    handler: KafkaRequestHandler,
    logger: KafkaLogger,
    limits: ConnectionLimits,
  ) {
    this.socket = socket;
    this.info = info;
    this.handler = handler;
    this.logger = logger;
    this.limits = limits;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    socket.on('error', (err) => this.logger.debug({ conn: info.id, err }, 'kafka connection error'));
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Requests read and not yet written back. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Whether the connection has stopped reading because a bound was reached. */
  get readingPaused(): boolean {
    return this.paused;
  }

  /** Bytes received and not yet taken as frames. */
  get bufferedBytesCount(): number {
    return this.bufferedBytes;
  }

  /** Closes the connection at once; responses not yet written are dropped. */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    this.pump();
  }

  /** Takes and dispatches whole frames while the bounds allow, then pauses or resumes reading. */
  private pump(): void {
    // A response completed synchronously inside dispatch (ApiVersions) calls back here; the loop
    // below re-reads the state on every turn, so the nested call returns instead of recursing once
    // per buffered frame.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && !this.waitingDrain && this.queue.length < this.limits.inFlightMax) {
        const frame = this.takeFrame();
        if (frame === null) break;
        this.dispatch(frame);
      }
    } finally {
      this.pumping = false;
    }
    if (this.closed) return;
    const shouldPause = this.waitingDrain || this.queue.length >= this.limits.inFlightMax;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** The next whole frame's payload, or null until it has fully arrived (or the connection closed). */
  private takeFrame(): Buffer | null {
    if (this.bufferedBytes < 4) return null;
    const size = this.peekInt32();
    if (size < requestFrameBytesMinimum || size > this.limits.frameBytesMax) {
      this.logger.warn(
        { conn: this.info.id, remote: this.info.remoteAddress, size, max: this.limits.frameBytesMax },
        size > this.limits.frameBytesMax
          ? 'kafka request frame over the size limit; closing connection'
          : 'kafka request frame too small to hold a header; closing connection',
      );
      this.destroy();
      return null;
    }
    if (this.bufferedBytes < 4 + size) return null;
    this.consume(4);
    return this.take(size);
  }

  private peekInt32(): number {
    const head = this.chunks[0];
    if (head.length - this.headOffset >= 4) return head.readInt32BE(this.headOffset);
    const four = Buffer.allocUnsafe(4);
    this.copyOut(four, 4, false);
    return four.readInt32BE(0);
  }

  private consume(n: number): void {
    this.take(n);
  }

  /**
   * Removes `n` buffered bytes and returns them: a view of the chunk when they lie in one (the common
   * case for small requests), otherwise one copy into a buffer of exactly `n` bytes, all of which have
   * already arrived.
   */
  private take(n: number): Buffer {
    assert.ok(n <= this.bufferedBytes);
    const head = this.chunks[0];
    let out: Buffer;
    if (head.length - this.headOffset >= n) {
      out = head.subarray(this.headOffset, this.headOffset + n);
      this.headOffset += n;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      this.copyOut(out, n, true);
    }
    this.bufferedBytes -= n;
    return out;
  }

  /** Copies the first `n` buffered bytes into `dst`, removing them from the list when `remove`. */
  private copyOut(dst: Buffer, n: number, remove: boolean): void {
    let copied = 0;
    let i = 0;
    let offset = this.headOffset;
    while (copied < n) {
      const c = this.chunks[i];
      const k = Math.min(c.length - offset, n - copied);
      c.copy(dst, copied, offset, offset + k);
      copied += k;
      offset += k;
      if (offset === c.length) {
        i++;
        offset = 0;
      }
    }
    if (remove) {
      this.chunks.splice(0, i);
      this.headOffset = offset;
    }
  }

  private dispatch(payload: Buffer): void {
    const r = new Reader(payload);
    const prefix = readRequestHeaderPrefix(r); // the frame holds at least the ten header bytes
    const api = apiByKey(prefix.apiKey);
    const where = { conn: this.info.id, remote: this.info.remoteAddress, ...prefix };
    if (api === undefined) {
      this.logger.warn(where, 'kafka request with an unknown API key; closing connection');
      this.destroy();
      return;
    }
    if (api.key === API_KEYS.ApiVersions && prefix.apiVersion > api.maxVersion) {
      // KIP-511: the body's format is unknown to us, so it is not read; the answer is version 0.
      this.logger.debug(where, 'ApiVersions above our version; answering v0 with UNSUPPORTED_VERSION');
      const slot: Slot = { frame: null };
      this.queue.push(slot);
      this.complete(
        slot,
        encodeResponseFrame(api, 0, prefix.correlationId, apiVersionsUnsupportedResponse()),
      );
      return;
    }
    if (prefix.apiVersion < api.minVersion || prefix.apiVersion > api.maxVersion) {
      this.logger.warn(
        { ...where, min: api.minVersion, max: api.maxVersion },
        `kafka ${api.name} request with an unsupported version; closing connection`,
      );
      this.destroy();
      return;
    }
    let ctx: RequestContext;
    let body: Record<string, unknown>;
    try {
      const header = readRequestHeaderRest(r, prefix, requestHeaderVersion(api, prefix.apiVersion));
      body = decodeRequestBody(api, prefix.apiVersion, r);
      ctx = {
        apiKey: api.key,
        apiName: api.name,
        apiVersion: prefix.apiVersion,
        correlationId: prefix.correlationId,
        clientId: header.clientId,
        connection: this.info,
      };
    } catch (err) {
      this.logger.warn({ ...where, err }, `malformed kafka ${api.name} request; closing connection`);
      this.destroy();
      return;
    }
    const slot: Slot = { frame: null };
    this.queue.push(slot);
    if (api.key === API_KEYS.ApiVersions) {
      this.logger.debug(
        {
          ...where,
          clientId: ctx.clientId,
          software: body.clientSoftwareName,
          softwareVersion: body.clientSoftwareVersion,
        },
        'kafka ApiVersions answered',
      );
      this.complete(slot, encodeResponseFrame(api, ctx.apiVersion, ctx.correlationId, apiVersionsResponse()));
      return;
    }
    let pending: Promise<Record<string, unknown> | null>;
    try {
      pending = this.handler.handle(ctx, body);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending
      .then((res) => {
        if (this.closed) return;
        this.complete(
          slot,
          res === null ? [] : encodeResponseFrame(api, ctx.apiVersion, ctx.correlationId, res),
        );
      })
      .catch((err: unknown) => {
        if (this.closed) return;
        this.logger.error(
          { ...where, err },
          `kafka ${api.name} handler failed or returned a response that does not encode; closing connection`,
        );
        this.destroy();
      });
  }

  /** Records a finished response and writes every response that is now at the head of the queue. */
  private complete(slot: Slot, frame: Buffer[]): void {
    slot.frame = frame;
    if (this.queue[0] !== slot) return; // an earlier request is still being handled
    this.socket.cork();
    while (this.queue.length > 0 && this.queue[0].frame !== null) {
      const done = this.queue.shift() as Slot;
      for (const b of done.frame as Buffer[]) this.socket.write(b);
    }
    this.socket.uncork();
    if (this.socket.writableLength > this.limits.queuedBytesMax) this.waitingDrain = true;
    this.pump();
  }
}
