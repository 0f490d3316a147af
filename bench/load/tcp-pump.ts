/**
 * Loopback TCP throughput through Node sockets (issue 7), the limit a Node broker and client pair
 * share: role `server` listens on an ephemeral port, prints it, and counts bytes until the client
 * ends; role `client` writes 1 MiB chunks for `durationMs`, honouring backpressure. Run as two
 * processes; the server prints the result as one JSON line.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

const p = JSON.parse(process.argv[2]) as { role: 'server' | 'client'; port?: number; durationMs: number };
if (p.role === 'server') {
  const srv = createServer((sock) => {
    let bytes = 0;
    let first = 0;
    sock.on('data', (d: Buffer) => {
      if (bytes === 0) first = performance.now();
      bytes += d.length;
    });
    sock.on('end', () => {
      const seconds = (performance.now() - first) / 1000;
      console.log(JSON.stringify({ bytes, seconds, bytesPerSec: bytes / seconds }));
      srv.close();
      sock.destroy();
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  console.log(JSON.stringify({ port: (srv.address() as { port: number }).port }));
} else {
  const sock = connect(p.port!, '127.0.0.1');
  await once(sock, 'connect');
  const chunk = Buffer.alloc(1 << 20, 'x');
  const deadline = performance.now() + p.durationMs;
  while (performance.now() < deadline) {
    if (!sock.write(chunk)) await once(sock, 'drain');
  }
  sock.end();
  await once(sock, 'close');
}
