/**
 * HTTP on the metrics port: `/health` (liveness: 200 OK while the process serves), `/ready` (200 LEADER
 * or FOLLOWER once the broker serves requests, 503 NOT_READY before and during shutdown) and
 * `/metrics` (Prometheus text format).
 */
import type http from 'node:http';

import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.ts';

// Not `import http from 'node:http'`: an ES import of node:http evaluates every export, and its lazy
// WebSocket and fetch getters load undici, about 20 ms of the broker's start. The CommonJS form does not.
const { createServer } = process.getBuiltinModule('node:http');

export interface HttpServerOptions {
  metrics: Metrics;
  readiness: () => 'LEADER' | 'FOLLOWER' | 'NOT_READY';
}

export class HttpServer {
  readonly server: http.Server;

  constructor(opts: HttpServerOptions) {
    this.server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
      if (url === '/health' || url === '/healthz') return reply(200, 'OK');
      if (url === '/ready' || url === '/readyz') {
        const state = opts.readiness();
        return reply(state === 'NOT_READY' ? 503 : 200, state);
      }
      if (url === '/metrics') {
        opts.metrics.registry.metrics().then(
          (text) => reply(200, text, opts.metrics.registry.contentType),
          (err) => reply(500, `metrics failed: ${(err as Error).message}\n`),
        );
        return;
      }
      reply(404, 'not found: try /health, /ready or /metrics\n');
    });
    this.server.keepAliveTimeout = 5000;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
