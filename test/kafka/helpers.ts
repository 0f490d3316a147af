/**
 * Test helpers for the Kafka listener: a raw TCP client that sends frames and splits what comes back
 * into frames, a logger that records lines, and a way to wait for a condition on the next turns of
 * the event loop (an event, never a time threshold).
 */
import { connect, type Socket } from 'node:net';
import type { KafkaLogger } from '../../src/api/kafka/handler.ts';
import { API_KEYS, APIS, type ApiName } from '../../src/protocol/kafka/apis/index.ts';
import type { Message } from '../../src/protocol/kafka/codec.ts';
import { decodeResponsePayload, encodeRequestFrame } from '../../src/protocol/kafka/messages.ts';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

export function recordingLogger(): KafkaLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Resolves once `cond()` holds, checking after each turn of the event loop. */
export async function until(cond: () => boolean, what: string, turnsMax = 100_000): Promise<void> {
  for (let i = 0; i < turnsMax; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`condition never held: ${what}`);
}

export class RawClient {
  readonly socket: Socket;
  /** Received bytes not yet split into frames, joined only once a whole frame is there. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly frames: Buffer[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.pending.push(c);
      this.pendingBytes += c.length;
      while (this.pendingBytes >= 4) {
        if (this.pending[0].length < 4) this.pending = [Buffer.concat(this.pending)];
        const n = this.pending[0].readInt32BE(0);
        if (this.pendingBytes < 4 + n) break;
        const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
        this.frames.push(all.subarray(4, 4 + n));
        const rest = all.subarray(4 + n);
        this.pending = rest.length > 0 ? [rest] : [];
        this.pendingBytes = rest.length;
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** The next response frame's payload, or null if the server closed the connection first. */
  async next(): Promise<Buffer | null> {
    while (this.frames.length === 0) {
      if (this.closed) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.frames.shift() as Buffer;
  }

  get framesWaiting(): number {
    return this.frames.length;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A whole request frame as one buffer. */
export function requestFrame(name: ApiName, version: number, correlationId: number, body: Message): Buffer {
  const api = APIS.get(API_KEYS[name]);
  if (!api) throw new Error(`no API ${name}`);
  return Buffer.concat(
    encodeRequestFrame(api, { apiKey: api.key, apiVersion: version, correlationId, clientId: 'test' }, body),
  );
}

export function decodeResponse(name: ApiName, version: number, payload: Buffer) {
  const api = APIS.get(API_KEYS[name]);
  if (!api) throw new Error(`no API ${name}`);
  return decodeResponsePayload(api, version, payload);
}

export interface KafkaCaller {
  // biome-ignore lint/suspicious/noExplicitAny: decoded responses are checked field by field by callers
  call(name: ApiName, version: number, body: Message): Promise<Record<string, any>>;
  close(): void;
  /** The connection itself, for tests that also send raw frames on it. */
  raw: RawClient;
}

/** One Kafka connection whose calls run one at a time, each answering the decoded response body. */
export async function kafkaCaller(port: number): Promise<KafkaCaller> {
  const c = await RawClient.open(port);
  let correlation = 0;
  let chain: Promise<unknown> = Promise.resolve();
  const call = (name: ApiName, version: number, body: Message) => {
    const run = chain.then(async () => {
      c.write(requestFrame(name, version, ++correlation, body));
      const payload = await c.next();
      if (!payload) throw new Error(`${name} v${version}: connection closed`);
      const r = decodeResponse(name, version, payload);
      if (r.correlationId !== correlation)
        throw new Error(`${name} v${version}: correlation id ${r.correlationId}, expected ${correlation}`);
      // biome-ignore lint/suspicious/noExplicitAny: see KafkaCaller
      return r.body as Record<string, any>;
    });
    chain = run.catch(() => {});
    return run;
  };
  return { call, close: () => c.close(), raw: c };
}
