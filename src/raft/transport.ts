/**
 * The TCP transport between Raft nodes: one outbound connection per peer, frames of
 * `[u32 length][message]`. Raft tolerates loss, so the transport never blocks the core: each peer has a
 * bounded queue (messages past the bound are dropped, Raft retransmits), connections are re-established
 * after a delay, and writes respect `drain`.
 */
import net from 'node:net';
import { ByteReader, ByteWriter, decodeMessage, encodeMessage } from './codec.ts';
import { messageBytesMax, peerQueueBytesMax, peerQueueMessagesMax, reconnectDelayMs } from './limits.ts';
import type { Message, NodeId } from './types.ts';

class Peer {
  socket: net.Socket | null = null;
  connecting = false;
  writable = false;
  queue: Uint8Array[] = [];
  queuedBytes = 0;
  timer: NodeJS.Timeout | null = null;
  address: { host: string; port: number };

  constructor(address: { host: string; port: number }) {
    this.address = address;
  }
}

export class TcpTransport {
  private server: net.Server | null = null;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<net.Socket>();
  private closed = false;
  dropped = 0;
  private readonly onMessage: (m: Message) => void;

  constructor(onMessage: (m: Message) => void) {
    this.onMessage = onMessage;
  }

  /** Listens on `port` (0 for an ephemeral one) and returns the port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  setPeer(id: NodeId, host: string, port: number): void {
    const p = this.peers.get(id);
    if (p && p.address.host === host && p.address.port === port) return;
    if (p) {
      p.socket?.destroy();
      p.address = { host, port };
    } else {
      this.peers.set(id, new Peer({ host, port }));
    }
  }

  send(m: Message): void {
    const p = this.peers.get(m.to);
    if (!p || this.closed) {
      this.dropped++;
      return;
    }
    const w = new ByteWriter(64 + m.entries.reduce((n, e) => n + 30 + e.data.length, 0));
    const setLen = w.placeholderU32();
    encodeMessage(m, w);
    setLen(w.length - 4);
    const frame = w.finish();
    if (p.queue.length >= peerQueueMessagesMax || p.queuedBytes + frame.length > peerQueueBytesMax) {
      this.dropped++;
      return;
    }
    p.queue.push(frame);
    p.queuedBytes += frame.length;
    this.flush(p);
  }

  private flush(p: Peer): void {
    if (!p.socket) {
      this.connect(p);
      return;
    }
    if (!p.writable) return;
    const s = p.socket;
    s.cork();
    while (p.queue.length > 0) {
      const f = p.queue.shift()!;
      p.queuedBytes -= f.length;
      if (!s.write(f)) {
        p.writable = false;
        break;
      }
    }
    s.uncork();
  }

  private connect(p: Peer): void {
    if (p.connecting || p.timer || this.closed) return;
    p.connecting = true;
    const s = net.connect(p.address.port, p.address.host);
    s.setNoDelay(true);
    p.socket = s;
    s.on('connect', () => {
      p.connecting = false;
      p.writable = true;
      this.flush(p);
    });
    s.on('drain', () => {
      p.writable = true;
      this.flush(p);
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (p.socket !== s) return;
      p.socket = null;
      p.connecting = false;
      p.writable = false;
      if (this.closed) return;
      p.timer = setTimeout(() => {
        p.timer = null;
        if (p.queue.length > 0) this.connect(p);
      }, reconnectDelayMs);
    });
  }

  private accept(s: net.Socket): void {
    this.inbound.add(s);
    s.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let pos = 0;
      while (buf.length - pos >= 4) {
        const len = buf.readUInt32BE(pos);
        if (len > messageBytesMax) {
          s.destroy();
          return;
        }
        if (buf.length - pos - 4 < len) break;
        let m: Message;
        try {
          m = decodeMessage(new ByteReader(buf, pos + 4, pos + 4 + len));
        } catch {
          s.destroy();
          return;
        }
        pos += 4 + len;
        this.onMessage(m);
      }
      buf = buf.subarray(pos);
    });
    s.on('error', () => {});
    s.on('close', () => this.inbound.delete(s));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.peers.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.socket?.destroy();
    }
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
