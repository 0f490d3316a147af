/**
 * The Kafka protocol listener: a TCP server that hands each connection to a `KafkaConnection`
 * (connection.ts) and bounds how many there are. It knows nothing of what requests mean; that is the
 * injected handler's work (handler.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { KafkaConnection, requestFrameBytesMinimum } from './connection.ts';
import type { KafkaLogger, KafkaRequestHandler } from './handler.ts';
import {
  connectionsMax as connectionsMaxDefault,
  inFlightRequestsMax,
  requestFrameBytesMax,
  socketQueuedBytesMax,
} from './limits.ts';

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
  /** Response bytes queued per socket before it stops reading. @default socketQueuedBytesMax (64 MiB) */
  queuedBytesMax?: number;
  /** Open connections; more are closed on accept. @default connectionsMax (10000) */
  connectionsMax?: number;
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
    if (this.connections.size >= this.connectionsMax) {
      this.opts.logger.warn(
        { conn: id, remote: socket.remoteAddress, max: this.connectionsMax },
        'kafka connection limit reached; closing new connection',
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
    const conn = new KafkaConnection(socket, info, this.opts.handler, this.opts.logger, {
      frameBytesMax: this.frameBytesMax,
      inFlightMax: this.inFlightMax,
      queuedBytesMax: this.queuedBytesMax,
    });
    this.connections.add(conn);
    socket.on('close', () => this.connections.delete(conn));
    this.opts.logger.debug({ conn: id, remote: info.remoteAddress }, 'kafka connection accepted');
  }
}
