/**
 * The Kafka protocol listener: a TCP server that hands each connection to a `KafkaConnection`
 * (connection.ts), bounds how many there are and the request bytes they hold together. It knows
 * nothing of what requests mean; that is the injected handler's work (handler.ts).
 *
 * At the connection limit a new connection closes the one idle longest (no request being handled),
 * so that idle or stalled connections, which `connections.max.idle.ms` would close only minutes
 * later, cannot lock out new clients and health checks (issue 10). Only when every connection is
 * handling a request is the new one refused.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { KafkaConnection, requestFrameBytesMinimum } from './connection.ts';
import type { KafkaListenerObserver, KafkaLogger, KafkaRequestHandler } from './handler.ts';
import {
  connectionsMax as connectionsMaxDefault,
  connectionsMaxIdleMs,
  fetchInFlightMax,
  inFlightRequestsMax,
  queuedRequestBytesMax,
  queuedRequestReserveBytes,
  requestFrameBytesMax,
  requestReceiveMsMax,
  smallRequestBytesMax,
  socketQueuedBytesMax,
} from './limits.ts';
import { RequestMemory } from './request-memory.ts';

export interface KafkaServerOptions {
  /** Address to listen on. @default '0.0.0.0' */
  host?: string;
  /** Port to listen on; 0 picks a free one (tests). */
  port: number;
  handler: KafkaRequestHandler;
  logger: KafkaLogger;
  /** Largest request frame in bytes. @default requestFrameBytesMax (100 MiB) */
  frameBytesMax?: number;
  /** Unanswered requests per connection before it stops reading. @default inFlightRequestsMax (100) */
  inFlightMax?: number;
  /** Response bytes one connection holds before it stops writing, reading and handling. @default socketQueuedBytesMax (64 MiB) */
  queuedBytesMax?: number;
  /** Open connections; a new one beyond closes the idlest. @default connectionsMax (10000) */
  connectionsMax?: number;
  /** Fetch requests handled at once per connection. @default fetchInFlightMax (1) */
  fetchInFlightMax?: number;
  /** Request bytes held across all connections. @default queuedRequestBytesMax (256 MiB) */
  queuedRequestBytesMax?: number;
  /** Idle time after which a connection is closed. @default connectionsMaxIdleMs (10 min) */
  idleMs?: number;
  /** Longest a request frame may take to arrive. @default requestReceiveMsMax (60 s) */
  receiveMsMax?: number;
  /** Receives counts for metrics. */
  observer?: KafkaListenerObserver;
  /** Monotonic milliseconds, to rank connections by idleness. @default performance.now */
  now?: () => number;
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export class KafkaServer {
  private readonly server: Server;
  private readonly opts: KafkaServerOptions;
  private readonly connections = new Set<KafkaConnection>();
  private nextConnectionId = 1;
  private readonly frameBytesMax: number;
  private readonly inFlightMax: number;
  private readonly queuedBytesMax: number;
  private readonly connectionsMax: number;
  private readonly fetchInFlightMax: number;
  private readonly idleMs: number;
  private readonly receiveMsMax: number;
  /** Request bytes held across this listener's connections. */
  readonly requestMemory: RequestMemory;
  private readonly now: () => number;

  constructor(opts: KafkaServerOptions) {
    this.opts = opts;
    checkRange('port', opts.port, 0, 65535);
    this.frameBytesMax = checkRange(
      'frameBytesMax',
      opts.frameBytesMax ?? requestFrameBytesMax,
      requestFrameBytesMinimum,
      2 ** 31 - 1,
    );
    this.inFlightMax = checkRange('inFlightMax', opts.inFlightMax ?? inFlightRequestsMax, 1, 1_000_000);
    this.queuedBytesMax = checkRange(
      'queuedBytesMax',
      opts.queuedBytesMax ?? socketQueuedBytesMax,
      1,
      2 ** 31 - 1,
    );
    this.connectionsMax = checkRange(
      'connectionsMax',
      opts.connectionsMax ?? connectionsMaxDefault,
      1,
      1_000_000,
    );
    this.fetchInFlightMax = checkRange(
      'fetchInFlightMax',
      opts.fetchInFlightMax ?? fetchInFlightMax,
      1,
      this.inFlightMax,
    );
    this.requestMemory = new RequestMemory({
      bytesMax: checkRange(
        'queuedRequestBytesMax',
        opts.queuedRequestBytesMax ?? queuedRequestBytesMax,
        1,
        Number.MAX_SAFE_INTEGER,
      ),
      reserveBytes: queuedRequestReserveBytes,
      smallBytesMax: smallRequestBytesMax,
    });
    // Node's timers take at most 2^31 - 1 ms.
    this.idleMs = checkRange('idleMs', opts.idleMs ?? connectionsMaxIdleMs, 1, 2 ** 31 - 1);
    this.receiveMsMax = checkRange('receiveMsMax', opts.receiveMsMax ?? requestReceiveMsMax, 1, 2 ** 31 - 1);
    this.now = opts.now ?? (() => performance.now());
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the bound address (the real port when `port` was 0). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => {
        this.server.off('error', reject);
        const a = this.server.address();
        if (a === null || typeof a === 'string') throw new Error('kafka listener has no TCP address');
        this.opts.logger.info({ host: a.address, port: a.port }, 'kafka listener started');
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** The open connections, in accept order (for observation: tests, metrics). */
  openConnections(): KafkaConnection[] {
    return [...this.connections];
  }

  /** Stops accepting, closes every connection, and resolves once the listener is closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const c of this.connections) c.destroy();
    });
  }

  private accept(socket: Socket): void {
    const id = this.nextConnectionId++;
    if (this.connections.size >= this.connectionsMax && !this.evictIdlest(id)) {
      this.opts.logger.warn(
        { conn: id, remote: socket.remoteAddress, max: this.connectionsMax },
        'kafka connection limit reached and every connection is busy; closing new connection',
      );
      socket.destroy();
      return;
    }
    const info = {
      id,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
    };
    const conn = new KafkaConnection(
      socket,
      info,
      this.opts.handler,
      this.opts.logger,
      {
        frameBytesMax: this.frameBytesMax,
        inFlightMax: this.inFlightMax,
        queuedBytesMax: this.queuedBytesMax,
        fetchInFlightMax: this.fetchInFlightMax,
        idleMs: this.idleMs,
        receiveMsMax: this.receiveMsMax,
      },
      { memory: this.requestMemory, observer: this.opts.observer, now: this.now },
    );
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
    this.opts.logger.debug({ conn: id, remote: info.remoteAddress }, 'kafka connection accepted');
  }

  /**
   * Closes the connection that has gone longest without activity among those not handling a
   * request, to make room for connection `forId`; false when every connection is busy. A linear scan,
   * run only at the limit: cheaper than keeping 10,000 connections ordered on every read.
   */
  private evictIdlest(forId: number): boolean {
    let idlest: KafkaConnection | null = null;
    for (const c of this.connections) {
      if (!c.busy && (idlest === null || c.lastActive < idlest.lastActive)) idlest = c;
    }
    if (idlest === null) return false;
    idlest.close('evicted', { forConn: forId, idleMs: Math.round(this.now() - idlest.lastActive) });
    this.connections.delete(idlest);
    return true;
  }
}
