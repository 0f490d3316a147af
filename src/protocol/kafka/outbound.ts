/**
 * One outbound Kafka connection: the client side of the framing the listener speaks (STYLE.md "All
 * socket work in one connection class per side", after kafkajs's requestQueue and @platformatic/kafka's
 * connection.ts). The replica fetcher talks to a leader's inter-broker listener through it.
 *
 * - Correlation ids: each request gets the next one; a response is matched to the oldest request
 *   outstanding (Kafka answers in order on a connection) and its id checked, so a peer that answers out
 *   of order or with a wrong id is a protocol error that closes the connection.
 * - In-flight cap: at most `inFlightMax` requests are outstanding; the next waits for a slot.
 * - Timeouts: every request has one; an expired request fails with REQUEST_TIMED_OUT and closes the
 *   connection (the response it would get later could not be told from the next one's).
 * - Framing: responses are read through the chunk list, each size checked against `frameBytesMax`
 *   before any of its body is buffered beyond what arrived; nothing is allocated on a size alone.
 * - Writes respect `drain`: a request waits while the socket's buffer is over its high-water mark.
 *
 * Any failure closes the connection and fails every request outstanding with the same error; the
 * caller makes a new connection (the fetcher backs off first).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { BrokerError } from '../../errors.ts';
import { ChunkList } from '../../net/chunk-list.ts';
import { API_KEYS, type ApiName, apiByKey } from './apis/index.ts';
import type { Message } from './codec.ts';
import { outboundFrameBytesMax } from './limits.ts';
import { decodeResponsePayload, encodeRequestFrame } from './messages.ts';

export interface OutboundOptions {
  host: string;
  port: number;
  clientId: string;
  /** Connect within this, else BROKER_NOT_AVAILABLE. @default 5000 */
  connectTimeoutMs?: number;
  /** Requests outstanding at once. @default 5 */
  inFlightMax?: number;
  /** Largest response frame accepted. @default outboundFrameBytesMax */
  frameBytesMax?: number;
}

interface Pending {
  correlationId: number;
  apiName: ApiName;
  version: number;
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class KafkaOutbound {
  readonly #socket: Socket;
  readonly #opts: Required<OutboundOptions>;
  readonly #chunks = new ChunkList();
  readonly #pending: Pending[] = [];
  #slotWaiters: (() => void)[] = [];
  #nextCorrelationId = 1;
  #failure: Error | null = null;

  private constructor(socket: Socket, opts: Required<OutboundOptions>) {
    this.#socket = socket;
    this.#opts = opts;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) =>
      this.#fail(new BrokerError('NETWORK_EXCEPTION', `${this.#peer}: ${err.message}`)),
    );
    socket.on('close', () =>
      this.#fail(new BrokerError('NETWORK_EXCEPTION', `${this.#peer}: connection closed`)),
    );
  }

  static connect(options: OutboundOptions): Promise<KafkaOutbound> {
    const opts: Required<OutboundOptions> = {
      connectTimeoutMs: 5000,
      inFlightMax: 5,
      frameBytesMax: outboundFrameBytesMax,
      ...options,
    };
    assert.ok(opts.inFlightMax >= 1);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: opts.host, port: opts.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new BrokerError(
            'BROKER_NOT_AVAILABLE',
            `${opts.host}:${opts.port} did not accept a connection within ${opts.connectTimeoutMs} ms`,
          ),
        );
      }, opts.connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new BrokerError(
            'BROKER_NOT_AVAILABLE',
            `cannot connect to ${opts.host}:${opts.port}: ${err.message}`,
          ),
        );
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new KafkaOutbound(socket, opts));
      });
    });
  }

  get #peer(): string {
    return `${this.#opts.host}:${this.#opts.port}`;
  }

  get closed(): boolean {
    return this.#failure !== null;
  }

  /** Sends one request and resolves with its decoded response body. */
  async request(apiName: ApiName, version: number, body: Message, timeoutMs: number): Promise<Message> {
    while (this.#failure === null && this.#pending.length >= this.#opts.inFlightMax)
      await new Promise<void>((r) => this.#slotWaiters.push(r));
    if (this.#failure) throw this.#failure;
    const api = apiByKey(API_KEYS[apiName]);
    assert.ok(api, `${apiName} is in the API table`);
    const correlationId = this.#nextCorrelationId;
    this.#nextCorrelationId = (this.#nextCorrelationId + 1) & 0x7fffffff;
    const frame = encodeRequestFrame(
      api,
      { apiKey: api.key, apiVersion: version, correlationId, clientId: this.#opts.clientId },
      body,
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.#fail(
            new BrokerError(
              'REQUEST_TIMED_OUT',
              `${this.#peer}: no ${apiName} response within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      this.#pending.push({ correlationId, apiName, version, resolve, reject, timer });
      this.#socket.cork();
      for (const b of frame) this.#socket.write(b);
      this.#socket.uncork();
    });
  }

  #onData(chunk: Buffer): void {
    this.#chunks.push(chunk);
    while (this.#failure === null && this.#chunks.bufferedBytes >= 4) {
      const size = this.#chunks.peekInt32(0);
      if (size < 4 || size > this.#opts.frameBytesMax) {
        this.#fail(
          new BrokerError(
            'CORRUPT_MESSAGE',
            `${this.#peer}: response frame of ${size} bytes is out of bounds`,
          ),
        );
        return;
      }
      if (this.#chunks.bufferedBytes < 4 + size) return;
      this.#chunks.take(4);
      const payload = this.#chunks.take(size);
      const p = this.#pending.shift();
      if (!p) {
        this.#fail(new BrokerError('CORRUPT_MESSAGE', `${this.#peer}: a response to no request`));
        return;
      }
      clearTimeout(p.timer);
      this.#slotWaiters.shift()?.();
      let decoded: { correlationId: number; body: Message };
      try {
        const api = apiByKey(API_KEYS[p.apiName]);
        assert.ok(api);
        decoded = decodeResponsePayload(api, p.version, payload);
      } catch (err) {
        const e = new BrokerError(
          'CORRUPT_MESSAGE',
          `${this.#peer}: undecodable ${p.apiName} response: ${String(err)}`,
        );
        p.reject(e);
        this.#fail(e);
        return;
      }
      if (decoded.correlationId !== p.correlationId) {
        const e = new BrokerError(
          'CORRUPT_MESSAGE',
          `${this.#peer}: response correlation id ${decoded.correlationId}, expected ${p.correlationId}`,
        );
        p.reject(e);
        this.#fail(e);
        return;
      }
      p.resolve(decoded.body);
    }
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#socket.destroy();
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    for (const w of this.#slotWaiters.splice(0)) w();
  }

  close(): void {
    this.#fail(new BrokerError('NETWORK_EXCEPTION', `${this.#peer}: connection closed by this side`));
  }
}
