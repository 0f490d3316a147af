/**
 * The TCP transport between Raft nodes (a `RaftTransport`, io.ts): one outbound connection per peer,
 * frames of `[u32 length][message]`. Raft tolerates loss, so the transport never blocks the core.
 *
 * - Framing: inbound bytes go through one `FrameReader` per connection (frames.ts), a list of the
 *   socket's chunks with the frame bound (`messageBytesMax`) checked as soon as a length arrives; a
 *   frame over it, or one that does not decode, closes the connection.
 * - Backpressure: each peer has a bounded queue (`peerQueueMessagesMax`, `peerQueueBytesMax`);
 *   messages past the bound are dropped and Raft retransmits. The queue is handed to the socket only
 *   while the socket accepts writes: after a `write` returns false nothing more is written until
 *   `drain`, so the socket holds at most its high-water mark plus one frame, and the rest waits in
 *   the bounded queue. Runs of frames are written corked.
 * - Connections are re-established `reconnectDelayMs` after they fail, when something is queued.
 */
import net from 'node:net';
import { ByteReader, ByteWriter, decodeMessage, encodeMessage } from './codec.ts';
import { FrameReader } from './frames.ts';
import type { PeerAddress, RaftTransport } from './io.ts';
import { messageBytesMax, peerQueueBytesMax, peerQueueMessagesMax, reconnectDelayMs } from './limits.ts';
import type { Message, NodeId } from './types.ts';

class Peer {
  socket: net.Socket | null = null;
  connecting = false;
  writable = false;
  queue: Uint8Array[] = [];
  queuedBytes = 0;
  timer: NodeJS.Timeout | null = null;
  address: PeerAddress;
  readonly id: NodeId;

  constructor(id: NodeId, address: PeerAddress) {
    this.id = id;
    this.address = address;
  }
}

export interface TcpTransportStats {
  /** Messages dropped: unknown peer, full queue, or closed transport. */
  dropped: number;
  /** Inbound connections closed for an oversize or undecodable frame. */
  badFrames: number;
}

export interface TcpTransportOptions {
  /** Largest inbound frame body. @default messageBytesMax */
  frameBytesMax?: number;
  /** Messages queued per peer beyond what its socket holds. @default peerQueueMessagesMax */
  peerQueueMessagesMax?: number;
  /** Bytes queued per peer beyond what its socket holds. @default peerQueueBytesMax */
  peerQueueBytesMax?: number;
}

export class TcpTransport implements RaftTransport {
  private server: net.Server | null = null;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<net.Socket>();
  private closed = false;
  private deliver: ((m: Message) => void) | null = null;
  readonly stats: TcpTransportStats = { dropped: 0, badFrames: 0 };
  private readonly frameBytesMax: number;
  private readonly queueMessagesMax: number;
  private readonly queueBytesMax: number;

  constructor(opts: TcpTransportOptions = {}) {
    this.frameBytesMax = opts.frameBytesMax ?? messageBytesMax;
    this.queueMessagesMax = opts.peerQueueMessagesMax ?? peerQueueMessagesMax;
    this.queueBytesMax = opts.peerQueueBytesMax ?? peerQueueBytesMax;
    for (const [name, v] of [
      ['frameBytesMax', this.frameBytesMax],
      ['peerQueueMessagesMax', this.queueMessagesMax],
      ['peerQueueBytesMax', this.queueBytesMax],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    }
  }

  attach(deliver: (m: Message) => void): void {
    if (this.deliver) throw new Error('transport already attached to a node');
    this.deliver = deliver;
  }

  /** Listens on `port` (0 for an ephemeral one) and returns the port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as net.AddressInfo).port;
  }

  setPeer(id: NodeId, address: PeerAddress): void {
    const p = this.peers.get(id);
    if (p && p.address.host === address.host && p.address.port === address.port) return;
    if (p) {
      // Forget the old connection at once, so that the next send connects to the new address rather
      // than writing into a socket that is still closing.
      p.address = { host: address.host, port: address.port };
      const old = p.socket;
      p.socket = null;
      p.connecting = false;
      p.writable = false;
      old?.destroy();
      if (p.queue.length > 0 && !p.timer) this.connect(p);
    } else {
      this.peers.set(id, new Peer(id, { host: address.host, port: address.port }));
    }
  }

  removePeer(id: NodeId): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    p.queue = [];
    p.queuedBytes = 0;
    const s = p.socket;
    p.socket = null;
    s?.destroy();
  }

  /**
   * What waits for peer `id` (for tests and metrics): messages and bytes in the queue, not yet handed
   * to the socket, and the bytes the socket holds unsent.
   */
  queuedTo(id: NodeId): { messages: number; bytes: number; socketBytes: number } {
    const p = this.peers.get(id);
    return {
      messages: p?.queue.length ?? 0,
      bytes: p?.queuedBytes ?? 0,
      socketBytes: p?.socket?.writableLength ?? 0,
    };
  }

  send(m: Message): void {
    const p = this.peers.get(m.to);
    if (!p || this.closed) {
      this.stats.dropped++;
      return;
    }
    // Sized so that the message is encoded into one buffer (a snapshot too), which is then the frame.
    let estimate = 96 + (m.snapshot ? 64 + 4 * m.snapshot.conf.voters.length + m.snapshot.data.length : 0);
    for (const e of m.entries) estimate += 30 + e.data.length;
    const w = new ByteWriter(estimate);
    const setLen = w.placeholderU32();
    encodeMessage(m, w);
    setLen(w.length - 4);
    const frame = w.finish();
    if (p.queue.length >= this.queueMessagesMax || p.queuedBytes + frame.length > this.queueBytesMax) {
      this.stats.dropped++;
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
    if (!p.writable || p.queue.length === 0) return;
    const s = p.socket;
    s.cork();
    let k = 0;
    while (k < p.queue.length) {
      const f = p.queue[k++];
      p.queuedBytes -= f.length;
      if (!s.write(f)) {
        // Respect the socket's buffer: wait for 'drain' before writing more.
        p.writable = false;
        break;
      }
    }
    p.queue = k === p.queue.length ? [] : p.queue.slice(k);
    s.uncork();
  }

  private connect(p: Peer): void {
    if (p.connecting || p.timer || this.closed) return;
    p.connecting = true;
    const s = net.connect(p.address.port, p.address.host);
    s.setNoDelay(true);
    p.socket = s;
    s.on('connect', () => {
      if (p.socket !== s) return;
      p.connecting = false;
      p.writable = true;
      this.flush(p);
    });
    s.on('drain', () => {
      if (p.socket !== s) return;
      p.writable = true;
      this.flush(p);
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (p.socket !== s) return;
      p.socket = null;
      p.connecting = false;
      p.writable = false;
      if (this.closed || this.peers.get(p.id) !== p) return;
      p.timer = setTimeout(() => {
        p.timer = null;
        if (p.queue.length > 0) this.connect(p);
      }, reconnectDelayMs);
    });
  }

  private accept(s: net.Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    this.inbound.add(s);
    s.setNoDelay(true);
    const frames = new FrameReader(this.frameBytesMax);
    s.on('data', (chunk: Buffer) => {
      // Frames come out as plain Uint8Array views, so the decoder's slice() of entry data copies
      // rather than pinning the socket's chunk (frames.ts).
      frames.push(chunk);
      for (;;) {
        let m: Message;
        try {
          const body = frames.next();
          if (body === null) return;
          m = decodeMessage(new ByteReader(body));
        } catch {
          // An oversize frame (checked before its body is buffered) or one that does not decode.
          this.stats.badFrames++;
          s.destroy();
          return;
        }
        this.deliver?.(m);
      }
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
