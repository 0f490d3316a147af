/**
 * The TCP transport over real loopback sockets: messages (a multi-megabyte snapshot among them)
 * arrive whole through the chunk-list framing; an oversize frame closes its connection before its body
 * is read; a peer that stops reading costs the sender no more than the queue bound plus what the
 * socket holds before it reports backpressure, and gets every message not dropped once it reads again;
 * peers are added, moved and removed at run time.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { setImmediate as immediate } from 'node:timers/promises';
import { ByteReader, decodeMessage } from '../../src/raft/codec.ts';
import { FrameReader } from '../../src/raft/frames.ts';
import { TcpTransport } from '../../src/raft/transport.ts';
import { EntryType, type Message, MessageType, makeMessage } from '../../src/raft/types.ts';

const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `cond`; the deadline only stops a stuck test, it asserts no speed. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function transport(): Promise<{ t: TcpTransport; port: number; got: Message[] }> {
  const t = new TcpTransport();
  const got: Message[] = [];
  t.attach((m) => got.push(m));
  const port = await t.listen(0);
  closers.push(() => t.close());
  return { t, port, got };
}

function append(from: number, to: number, index: number, bytes: number): Message {
  return makeMessage({
    type: MessageType.app,
    from,
    to,
    term: 3,
    index,
    logTerm: 2,
    commit: index - 1,
    entries: [
      { index: index + 1, term: 3, type: EntryType.normal, data: new Uint8Array(bytes).fill(index % 251) },
    ],
  });
}

test('transport: messages arrive in order and whole, a 5 MiB snapshot among them', async () => {
  const a = await transport();
  const b = await transport();
  a.t.setPeer(2, { host: '127.0.0.1', port: b.port });
  const snapData = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < snapData.length; i += 4096) snapData[i] = (i / 4096) % 256;
  a.t.send(append(1, 2, 10, 100));
  a.t.send(
    makeMessage({
      type: MessageType.snap,
      from: 1,
      to: 2,
      term: 3,
      snapshot: { index: 50, term: 3, conf: { voters: [1, 2, 3], learners: [4] }, data: snapData },
    }),
  );
  a.t.send(append(1, 2, 51, 7));
  await until(() => b.got.length === 3, 'three messages');
  assert.deepEqual(
    b.got.map((m) => m.type),
    [MessageType.app, MessageType.snap, MessageType.app],
  );
  assert.deepEqual(b.got[0], append(1, 2, 10, 100));
  const s = b.got[1].snapshot!;
  assert.equal(s.index, 50);
  assert.deepEqual(s.conf, { voters: [1, 2, 3], learners: [4] });
  assert.deepEqual(s.data, snapData);
  assert.deepEqual(b.got[2], append(1, 2, 51, 7));
});

test('transport: a frame over the bound closes the connection before its body is read', async () => {
  const t = new TcpTransport({ frameBytesMax: 1000 });
  const got: Message[] = [];
  t.attach((m) => got.push(m));
  const port = await t.listen(0);
  closers.push(() => t.close());
  const s = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => s.once('connect', () => r()));
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.on('error', () => {});
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1001);
  s.write(header); // a length alone: no body follows, so only the length can be what closes it
  await closed;
  assert.equal(t.stats.badFrames, 1);
  assert.equal(got.length, 0);

  // A frame that does not decode closes its connection too; a good one on a new connection arrives.
  const s2 = net.connect(port, '127.0.0.1');
  s2.on('error', () => {});
  const closed2 = new Promise<void>((r) => s2.once('close', () => r()));
  s2.write(Buffer.from([0, 0, 0, 3, 99, 0, 0]));
  await closed2;
  assert.equal(t.stats.badFrames, 2);
  const sender = new TcpTransport();
  sender.attach(() => {});
  closers.push(() => sender.close());
  sender.setPeer(9, { host: '127.0.0.1', port });
  sender.send(append(8, 9, 1, 10));
  await until(() => got.length === 1, 'the good message');
  assert.equal(got[0].from, 8);
});

test('transport: a peer that stops reading holds the sender to its queue bound, then gets all not dropped', async () => {
  // A raw receiver that reads nothing until told to.
  const received: Message[] = [];
  let receiver: net.Socket | null = null;
  const frames = new FrameReader(1 << 20);
  const server = net.createServer((s) => {
    receiver = s;
    s.pause();
    s.on('data', (c: Buffer) => {
      frames.push(c);
      for (let f = frames.next(); f !== null; f = frames.next())
        received.push(decodeMessage(new ByteReader(f)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  closers.push(() => {
    receiver?.destroy();
  });
  const port = (server.address() as net.AddressInfo).port;

  const queueBytesMax = 1024 * 1024;
  const t = new TcpTransport({ peerQueueBytesMax: queueBytesMax });
  t.attach(() => {});
  closers.push(() => t.close());
  t.setPeer(2, { host: '127.0.0.1', port });
  const entryBytes = 64 * 1024;
  let sent = 0;
  let maxQueued = 0;
  let maxSocket = 0;
  // Send until the transport starts dropping: the kernel's buffers and the socket's are full, the
  // socket said so (write returned false) and the queue reached its bound.
  while (t.stats.dropped === 0) {
    // 2,000 frames of 64 KiB (128 MiB) is far beyond loopback's socket buffers plus the 1 MiB queue;
    // the cap keeps a transport that ignored its bounds from taking the test runner's memory.
    if (sent > 2000) assert.fail('never dropped: the queue or the socket is not bounded');
    t.send(append(1, 2, sent + 1, entryBytes));
    sent++;
    const q = t.queuedTo(2);
    maxQueued = Math.max(maxQueued, q.bytes);
    maxSocket = Math.max(maxSocket, q.socketBytes);
    await immediate();
  }
  console.log(`# the transport began dropping after ${sent} frames of ${entryBytes} B`);
  const frameBytes = entryBytes + 200;
  assert.ok(maxQueued <= queueBytesMax, `queued ${maxQueued} bytes, bound ${queueBytesMax}`);
  // Nothing more is written once write() says the socket is full: at most its high-water mark (16 KiB
  // by default) plus the one frame that crossed it, plus one more frame handed over in the same run.
  assert.ok(maxSocket <= 16 * 1024 + 2 * frameBytes, `the socket held ${maxSocket} bytes unsent`);
  assert.ok(t.queuedTo(2).bytes > 0, 'messages wait in the queue while the peer is not reading');

  receiver!.resume();
  const expected = sent - t.stats.dropped;
  await until(() => received.length === expected && t.queuedTo(2).bytes === 0, 'the queue to drain');
  // In order and without gaps except the dropped ones.
  for (let k = 1; k < received.length; k++) assert.ok(received[k].index > received[k - 1].index);
  assert.equal(received[0].index, 1);
});

test('transport: peers are moved and removed at run time', async () => {
  const a = await transport();
  const b = await transport();
  a.t.setPeer(2, { host: '127.0.0.1', port: b.port });
  a.t.send(append(1, 2, 1, 1));
  await until(() => b.got.length === 1, 'the first message');

  // Node 2 restarts on another port (or joins anew): the new address takes over.
  const b2 = await transport();
  a.t.setPeer(2, { host: '127.0.0.1', port: b2.port });
  a.t.send(append(1, 2, 2, 1));
  await until(() => b2.got.length === 1, 'the message to the moved peer');
  assert.equal(b2.got[0].index, 2);

  // Removed: dropped at once, nothing goes out.
  a.t.removePeer(2);
  const dropped = a.t.stats.dropped;
  a.t.send(append(1, 2, 3, 1));
  assert.equal(a.t.stats.dropped, dropped + 1);
  await sleep(50);
  assert.equal(b2.got.length, 1);
  assert.equal(b.got.length, 1);
});
