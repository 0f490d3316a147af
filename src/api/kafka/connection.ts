/**
 * One Kafka client connection: all socket work for the server side lives here (STYLE.md, "All
 * socket work in one connection class"; after kafkajs's socketRequest.js and @platformatic/kafka's
 * connection.ts, seen from the other end).
 *
 * - Framing: a request is an int32 size and that many bytes. The size is checked against the frame
 *   bound as soon as its four bytes arrive; an oversize or undersize frame is logged and the
 *   connection closed before any of its body is read. Bytes are buffered as they arrive (a list of
 *   the socket's chunks), so nothing is ever allocated on the strength of the size field alone.
 * - Request memory: when a frame's size arrives, its full size is reserved from the listener's
 *   shared `RequestMemory` (Kafka's `queued.max.request.bytes`) and held until its response is
 *   built. A connection refused a reservation stops reading until memory is released.
 * - Order: responses go out in request order, whatever order handlers finish in. Kafka guarantees
 *   this per connection and clients depend on it: kafka-python pipelines Metadata behind ApiVersions
 *   before the first answer arrives (issue 5, "Two traps"), and librdkafka matches responses to its
 *   queue by position as well as correlation id.
 * - Backpressure, checked before every write and every dispatch, as Kafka mutes a channel while its
 *   response is outstanding: a response is written only while the socket holds fewer than
 *   `queuedBytesMax` unsent bytes, otherwise it waits in its slot; and no request is read or handled
 *   while those two together reach `queuedBytesMax`, while `inFlightMax` requests are unanswered, or
 *   (for a Fetch) while `fetchInFlightMax` fetches are being handled. The socket is paused whenever
 *   a whole frame is waiting on one of these, and resumes when a write completes or a response is
 *   built. So a client that pipelines Fetch requests and never reads holds `queuedBytesMax` plus one
 *   fetch response plus the small answers of whatever else is in flight (issue 10).
 * - Time: a connection with no request being handled and no bytes moving for `idleMs` is closed
 *   (Kafka's `connections.max.idle.ms`), and so is one whose frame has not arrived whole
 *   `receiveMsMax` after its first byte, counting only time while we were reading.
 * - Writes are corked while a run of ready responses is written, so small responses leave in one
 *   segment.
 *
 * Version handling follows Kafka's broker: an ApiVersions request above our version gets a v0
 * response with UNSUPPORTED_VERSION and our ranges (KIP-511); an unknown API key, an unsupported
 * version of any other API, or a body that does not parse closes the connection with a log line
 * (Kafka's SocketServer does the same, since it cannot build a response for a request it cannot
 * read). Bytes after a body that parses are ignored, as Kafka ignores them (librdkafka issue #5049).
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { ChunkList } from '../../net/chunk-list.ts';
import { API_KEYS, apiByKey, requestHeaderVersion } from '../../protocol/kafka/apis/index.ts';
import { readRequestHeaderPrefix, readRequestHeaderRest } from '../../protocol/kafka/header.ts';
import { decodeRequestBody, encodeResponseFrame } from '../../protocol/kafka/messages.ts';
import { Reader } from '../../protocol/kafka/reader.ts';
import { apiVersionsResponse, apiVersionsUnsupportedResponse } from './api-versions-handler.ts';
import type {
  ConnectionCloseReason,
  ConnectionInfo,
  KafkaListenerObserver,
  KafkaLogger,
  KafkaRequestHandler,
  RequestContext,
} from './handler.ts';
import type { RequestMemory } from './request-memory.ts';

/** The smallest request: api key, version, correlation id and an empty client id (v1 header). */
export const requestFrameBytesMinimum = 10;

export interface ConnectionLimits {
  /** Largest request frame accepted, in bytes (the size field's value). */
  frameBytesMax: number;
  /** Requests read and not yet answered before the connection stops reading. */
  inFlightMax: number;
  /** Bytes of responses held (unsent in the socket or waiting their turn) before reading stops. */
  queuedBytesMax: number;
  /** Fetch requests handled at once; a later one waits unread. */
  fetchInFlightMax: number;
  /** Milliseconds without a request in progress or bytes moving before the connection is closed. */
  idleMs: number;
  /** Milliseconds a request frame may take to arrive whole, while we are reading. */
  receiveMsMax: number;
}

/** What the listener shares among its connections. */
export interface ConnectionShared {
  /** Request bytes across all connections (Kafka's `queued.max.request.bytes`). */
  memory: RequestMemory;
  observer?: KafkaListenerObserver;
  /** A monotonic clock in milliseconds, for choosing which idle connection to close. */
  now: () => number;
}

interface Slot {
  /** The response frame, [] for a request that gets no response, null while the handler works. */
  frame: Buffer[] | null;
  /** Bytes of `frame`, counted in `heldResponseBytes` until written. */
  frameBytes: number;
  /** Request bytes still reserved in the shared memory for this request (0 once released). */
  requestBytes: number;
  /** Whether this is a Fetch, counted in `fetchesHandled` until its response is built. */
  fetch: boolean;
}

export class KafkaConnection {
  readonly info: ConnectionInfo;
  private readonly socket: Socket;
  private readonly handler: KafkaRequestHandler;
  private readonly logger: KafkaLogger;
  private readonly limits: ConnectionLimits;
  private readonly shared: ConnectionShared;

  /** Received bytes not yet taken as frames, as the socket's chunks. */
  private readonly chunks = new ChunkList();
  /** Bytes reserved in the shared memory for the frame at the head of `chunks` (0: none yet). */
  private reservedBytes = 0;
  private waitingMemory = false;
  private readonly onMemory = () => {
    this.waitingMemory = false;
    this.pump();
  };

  /** Unanswered requests in arrival order; the head is written as soon as its frame is ready. */
  private readonly queue: Slot[] = [];
  /** Bytes of built responses not yet handed to the socket. */
  private heldResponseBytes = 0;
  /** Fetch requests dispatched whose response is not yet built. */
  private fetchesHandled = 0;
  private paused = false;
  private closed = false;
  /** Set while `pump` runs, so that a response completed inside it does not re-enter it. */
  private pumping = false;
  /** When bytes last moved or a request was last answered, by `shared.now()`. */
  private lastActiveMs: number;
  /** Closes the connection when the frame being received is late; null when none is running. */
  private receiveTimer: NodeJS.Timeout | null = null;
  private readonly onWritten = () => {
    this.lastActiveMs = this.shared.now();
    this.flush();
    this.pump();
  };

  constructor(
    socket: Socket,
    info: ConnectionInfo,
    handler: KafkaRequestHandler,
    logger: KafkaLogger,
    limits: ConnectionLimits,
    shared: ConnectionShared,
  ) {
    this.socket = socket;
    this.info = info;
    this.handler = handler;
    this.logger = logger;
    this.limits = limits;
    this.shared = shared;
    this.lastActiveMs = shared.now();
    socket.setNoDelay(true);
    // Node's socket timeout fires after `idleMs` without a read or a completed write.
    socket.setTimeout(limits.idleMs);
    socket.on('timeout', () => this.onIdle());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.logger.debug({ conn: info.id, err }, 'kafka connection error'));
    socket.on('close', () => this.onClose());
  }

  /** Requests read and not yet written back. */
  get inFlight(): number {
    return this.queue.length;
  }

  /** Whether the connection has stopped reading because a bound was reached. */
  get readingPaused(): boolean {
    return this.paused;
  }

  /** Whether the connection waits for the listener's request memory to read its next frame. */
  get waitingForMemory(): boolean {
    return this.waitingMemory;
  }

  /** Bytes received and not yet taken as frames. */
  get bufferedBytesCount(): number {
    return this.chunks.bufferedBytes;
  }

  /** Bytes of built responses this connection holds: unsent in the socket or waiting their turn. */
  get heldResponseBytesCount(): number {
    return this.heldResponseBytes + this.socket.writableLength;
  }

  /** Whether a request is being handled (a handler is working on it). */
  get busy(): boolean {
    return this.queue.some((s) => s.frame === null);
  }

  /** When bytes last moved or a response was last built (by the listener's clock). */
  get lastActive(): number {
    return this.lastActiveMs;
  }

  /** Closes the connection at once; responses not yet written are dropped. */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
    this.onClose();
  }

  /** Closes the connection for one of the listener's own reasons, with a log line and a count. */
  close(reason: ConnectionCloseReason, detail: object = {}): void {
    if (this.closed) return;
    const msg: Record<ConnectionCloseReason, string> = {
      idle: 'kafka connection idle too long; closing it',
      slow_request: 'kafka request frame did not arrive in time; closing connection',
      evicted: 'kafka connection limit reached; closing the connection idle longest',
    };
    this.logger.info({ conn: this.info.id, remote: this.info.remoteAddress, ...detail }, msg[reason]);
    this.shared.observer?.connectionClosed(reason);
    this.destroy();
  }

  /** Returns every byte this connection holds in the shared memory; runs once, on close. */
  private onClose(): void {
    this.closed = true;
    this.clearReceiveTimer();
    this.shared.memory.cancel(this.onMemory);
    const memory = this.shared.memory;
    if (this.reservedBytes > 0) {
      memory.release(this.reservedBytes);
      this.reservedBytes = 0;
    }
    for (const slot of this.queue) this.releaseRequest(slot);
  }

  private releaseRequest(slot: Slot): void {
    if (slot.requestBytes === 0) return;
    const n = slot.requestBytes;
    slot.requestBytes = 0;
    this.shared.memory.release(n);
  }

  private onIdle(): void {
    if (this.closed) return;
    if (this.busy) {
      // A request is being handled (a long-poll fetch, an acks=all produce): not idle. Re-arm.
      this.socket.setTimeout(this.limits.idleMs);
      return;
    }
    this.close('idle', { idleMs: this.limits.idleMs });
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActiveMs = this.shared.now();
    this.chunks.push(chunk);
    this.pump();
  }

  /** Whether the responses this connection holds have reached their bound. */
  private responsesFull(): boolean {
    return this.heldResponseBytes + this.socket.writableLength >= this.limits.queuedBytesMax;
  }

  /**
   * Takes and dispatches whole frames while the bounds allow, then pauses or resumes reading: it
   * reads on only while the next frame is incomplete and has its memory, or no size has arrived yet.
   */
  private pump(): void {
    // A response completed synchronously inside dispatch (ApiVersions) calls back here; the loop
    // below re-reads the state on every turn, so the nested call returns instead of recursing once
    // per buffered frame.
    if (this.pumping || this.closed) return;
    this.pumping = true;
    let read = false;
    try {
      for (;;) {
        if (this.closed) return;
        if (this.responsesFull() || this.queue.length >= this.limits.inFlightMax) break;
        if (this.chunks.bufferedBytes < 4) {
          read = true;
          break;
        }
        const size = this.chunks.peekInt32(0);
        if (size < requestFrameBytesMinimum || size > this.limits.frameBytesMax) {
          this.refuseSize(size);
          return;
        }
        if (this.reservedBytes === 0) {
          if (!this.shared.memory.tryReserve(4 + size)) {
            this.waitingMemory = true;
            this.shared.memory.wait(this.onMemory);
            break;
          }
          this.reservedBytes = 4 + size;
        }
        if (this.chunks.bufferedBytes < 4 + size) {
          read = true;
          break;
        }
        const apiKey = this.chunks.peekInt32(4) >> 16; // the int16 api key opens the header
        if (apiKey === API_KEYS.Fetch && this.fetchesHandled >= this.limits.fetchInFlightMax) break;
        this.clearReceiveTimer();
        this.chunks.take(4);
        this.dispatch(this.chunks.take(size));
      }
    } finally {
      this.pumping = false;
    }
    if (this.closed) return;
    if (!read && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (read && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    // A frame has begun and we are reading it: it must arrive whole in time. The clock does not
    // run while we are not reading (our bounds, not the client, hold the frame up).
    if (read && this.chunks.bufferedBytes > 0) this.startReceiveTimer();
    else this.clearReceiveTimer();
  }

  private startReceiveTimer(): void {
    if (this.receiveTimer !== null) return;
    this.receiveTimer = setTimeout(() => {
      this.receiveTimer = null;
      this.close('slow_request', {
        receivedBytes: this.chunks.bufferedBytes,
        receiveMsMax: this.limits.receiveMsMax,
      });
    }, this.limits.receiveMsMax);
    this.receiveTimer.unref();
  }

  private clearReceiveTimer(): void {
    if (this.receiveTimer === null) return;
    clearTimeout(this.receiveTimer);
    this.receiveTimer = null;
  }

  private refuseSize(size: number): void {
    this.logger.warn(
      { conn: this.info.id, remote: this.info.remoteAddress, size, max: this.limits.frameBytesMax },
      size > this.limits.frameBytesMax
        ? 'kafka request frame over the size limit; closing connection'
        : 'kafka request frame too small to hold a header; closing connection',
    );
    this.destroy();
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
      const slot = this.newSlot(false);
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
      const decoded = decodeRequestBody(api, prefix.apiVersion, r);
      body = decoded.body;
      if (decoded.trailingBytes > 0) {
        // Kafka ignores bytes after a request body; librdkafka >= 2.1 sends three after Metadata v12.
        this.logger.debug(
          { ...where, trailingBytes: decoded.trailingBytes },
          `ignoring trailing bytes after kafka ${api.name} request`,
        );
        this.shared.observer?.trailingBytes(api.name, prefix.apiVersion, decoded.trailingBytes);
      }
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
    const slot = this.newSlot(api.key === API_KEYS.Fetch);
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

  /** A slot for the request just taken; it takes over the frame's memory reservation. */
  private newSlot(fetch: boolean): Slot {
    const slot: Slot = { frame: null, frameBytes: 0, requestBytes: this.reservedBytes, fetch };
    this.reservedBytes = 0;
    if (fetch) this.fetchesHandled++;
    this.queue.push(slot);
    return slot;
  }

  /** Records a built response, returns its request's memory, and writes what may now go out. */
  private complete(slot: Slot, frame: Buffer[]): void {
    assert.equal(slot.frame, null, 'a request is answered once');
    slot.frame = frame;
    for (const b of frame) slot.frameBytes += b.length;
    this.heldResponseBytes += slot.frameBytes;
    this.lastActiveMs = this.shared.now();
    if (slot.fetch) this.fetchesHandled--;
    this.releaseRequest(slot);
    this.flush();
    this.pump();
  }

  /**
   * Writes the responses at the head of the queue that are built, while the socket holds fewer than
   * `queuedBytesMax` unsent bytes: the bound is checked before each write, so at most one response
   * crosses it. The last write's callback (the bytes reached the kernel) writes on and reads on.
   */
  private flush(): void {
    if (this.closed) return;
    const out: Buffer[] = [];
    let queued = this.socket.writableLength;
    while (this.queue.length > 0 && this.queue[0].frame !== null && queued < this.limits.queuedBytesMax) {
      const done = this.queue.shift() as Slot;
      this.heldResponseBytes -= done.frameBytes;
      queued += done.frameBytes;
      for (const b of done.frame as Buffer[]) out.push(b);
    }
    if (out.length === 0) return;
    this.socket.cork();
    for (let i = 0; i < out.length - 1; i++) this.socket.write(out[i]);
    this.socket.write(out[out.length - 1], this.onWritten);
    this.socket.uncork();
  }
}
