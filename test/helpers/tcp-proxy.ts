/**
 * A userspace TCP proxy between a client and a broker, for faults that a real network produces: it can
 * cut a connection the moment the broker starts answering a request (so the broker has done the work
 * but the client never hears of it), and its target can change (a broker restarted on a new port keeps
 * the address clients know).
 *
 * gRPC runs over HTTP/2, so the proxy reads the broker-to-client byte stream as HTTP/2 frames (RFC 9113
 * section 4.1: a 9-byte header of length(24) type(8) flags(8) stream id(32)). A HEADERS frame (type 1)
 * on a stream (id > 0) is the start of a unary response, and a DATA frame (type 0) on a stream whose
 * headers came already is the next message of a streamed one (a ProduceStream answer); the broker's
 * gRPC server sends either only once the handler has finished, so for a produce with acks=all it
 * means the append is done.
 */
import { once } from 'node:events';
import net from 'node:net';

export interface TcpProxy {
  /** host:port to give clients. */
  address: string;
  /** Where connections go from now on. */
  target: { host: string; port: number };
  /** Cut the connection at the next response of the broker, before the client sees any of it. */
  cutNextResponse(): void;
  /** Responses cut so far. */
  readonly cuts: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

const HTTP2_DATA = 0x0;
const HTTP2_HEADERS = 0x1;

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let armed = false;
  let cuts = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const state = { target };
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(state.target.port, state.target.host);
    sockets.add(client).add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill).on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('error', kill).on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.pipe(upstream);
    // Broker to client: split into frames so that a cut happens exactly before a response's first byte.
    let pending: Buffer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let pos = 0;
      while (pending.length - pos >= 9) {
        const length = pending.readUIntBE(pos, 3);
        const type = pending[pos + 3];
        const stream = pending.readUInt32BE(pos + 5) & 0x7fffffff;
        if (pending.length - pos < 9 + length) break;
        if (armed && (type === HTTP2_HEADERS || type === HTTP2_DATA) && stream > 0) {
          armed = false;
          cuts++;
          // Forward what came before this frame, then drop the connection both ways.
          if (pos > 0) client.write(pending.subarray(0, pos));
          kill();
          return;
        }
        pos += 9 + length;
      }
      if (pos > 0) client.write(pending.subarray(0, pos));
      pending = pending.subarray(pos);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    get target() {
      return state.target;
    },
    set target(t) {
      state.target = t;
    },
    cutNextResponse() {
      armed = true;
    },
    get cuts() {
      return cuts;
    },
    get connections() {
      return connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
