/**
 * The Broker service's unary calls and Subscribe served on Node's HTTP/2 streams directly
 * (direct-calls.ts): what a gRPC server owes a caller, checked from raw HTTP/2 requests (the framing,
 * one message, compression, grpc-timeout, cancellation, bounds, errors, a stream's flow control and
 * trailers) and from grpc-js's client (compressed calls, errors with their metadata); and the same
 * calls left to grpc-js, the path a grpc-js without the listeners falls back to. One real broker
 * core and GrpcServer, real sockets.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { grpcRequestBytesMax } from '../../src/api/grpc/limits.ts';
import type { GrpcServer } from '../../src/api/grpc/server.ts';
import { BrokerClient } from '../../src/client/index.ts';
import { brokerServiceDefinition } from '../../src/grpc-proto.ts';
import { type RunningBroker, startBroker } from '../../src/server.ts';
import { grpcServerFor } from '../helpers/grpc-server.ts';

const definition = brokerServiceDefinition();
const encode = (method: string, req: object) =>
  (definition[method].requestSerialize as (r: object) => Buffer)(req);
const decode = (method: string, bytes: Buffer) =>
  (definition[method].responseDeserialize as (b: Buffer) => Record<string, unknown>)(bytes);

function frame(message: Buffer, compressed = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

interface RawAnswer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  data: Buffer;
  /** grpc-status and grpc-message, from the trailers or a trailers-only response. */
  status: number;
  message: string;
}

let broker: RunningBroker;
let server: GrpcServer;
let port: number;
let session: http2.ClientHttp2Session;
const finished: { method: string; ok: boolean }[] = [];

before(async () => {
  broker = await startBroker();
  server = grpcServerFor(broker, {
    clusterId: 'direct-calls-test',
    observeRequest: (method, _seconds, ok) => finished.push({ method, ok }),
  });
  port = await server.listen('127.0.0.1', 0);
  session = http2.connect(`http://127.0.0.1:${port}`);
  const client = await BrokerClient.connect(`127.0.0.1:${port}`, { retries: 0 });
  await client.createTopic('d', { partitions: 1 });
  await client.createTopic('empty', { partitions: 1 });
  await client.createTopic('stream-a', { partitions: 1 });
  await client.createTopic('stream-b', { partitions: 1 });
  client.close();
});

after(async () => {
  session.close();
  await server.close();
  await broker.close();
});

/** One request on the shared session; `body` is written as given (frames, or anything). */
function raw(
  method: string,
  body: Buffer | null,
  headers: http2.OutgoingHttpHeaders = {},
  opts: { keepOpen?: boolean } = {},
): { answer: Promise<RawAnswer>; stream: http2.ClientHttp2Stream } {
  const stream = session.request({
    ':method': 'POST',
    ':path': `/tsbroker.v1.Broker/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...headers,
  });
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      const source = trailers['grpc-status'] !== undefined ? trailers : head;
      resolve({
        headers: head,
        trailers,
        data: Buffer.concat(chunks),
        status: Number(source['grpc-status']),
        message: decodeURI(String(source['grpc-message'] ?? '')),
      });
    });
  });
  if (body !== null) stream.write(body);
  if (!opts.keepOpen) stream.end();
  return { answer, stream };
}

/** The single message of an answer, decoded. */
function messageOf(method: string, a: RawAnswer): Record<string, unknown> {
  assert.equal(a.data[0], 0, 'not compressed');
  assert.equal(a.data.readUInt32BE(1), a.data.length - 5, 'one whole message');
  return decode(method, a.data.subarray(5));
}

test('the server takes the unary calls from grpc-js; answers are framed with headers and trailers', async () => {
  assert.equal(server.direct, true);
  const req = encode('ProduceBatch', { topic: 'd', partition: 0, records: [{ value: Buffer.from('v') }] });
  // The message split over DATA frames, the prefix itself split.
  const bytes = frame(req);
  const { answer, stream } = raw('ProduceBatch', bytes.subarray(0, 2), {}, { keepOpen: true });
  stream.write(bytes.subarray(2, 7));
  stream.end(bytes.subarray(7));
  const a = await answer;
  assert.equal(a.headers[':status'], 200);
  assert.equal(a.headers['content-type'], 'application/grpc+proto');
  assert.equal(a.status, 0);
  assert.deepEqual(messageOf('ProduceBatch', a), {
    partition: 0,
    baseOffset: 0,
    count: 1,
    results: [{ partition: 0, baseOffset: 0, count: 1 }],
  });
  // A large raw consume answer (its stored batches written uncopied after the prefix): the same
  // message grpc-js would frame.
  const big = Buffer.alloc(100_000, 'x');
  const produced = raw(
    'ProduceBatch',
    frame(encode('ProduceBatch', { topic: 'd', partition: 0, records: [{ value: big }] })),
  );
  assert.equal((await produced.answer).status, 0);
  const c = await raw(
    'ConsumeBatch',
    frame(encode('ConsumeBatch', { topic: 'd', partition: 0, offset: 1, raw: true })),
  ).answer;
  assert.equal(c.status, 0, c.message);
  const m = messageOf('ConsumeBatch', c);
  assert.equal(m.nextOffset, 2);
  assert.ok((m.recordBatches as Buffer).length > 100_000);
});

test('a unary call with no message, two messages, or bytes that are not the message fails alone', async () => {
  const one = frame(encode('ListTopics', {}));
  const none = await raw('ListTopics', null).answer;
  assert.equal(none.status, grpc.status.UNIMPLEMENTED);
  assert.match(none.message, /no request message/);
  const partial = await raw('ListTopics', Buffer.from([0, 0, 0, 0, 9, 1])).answer;
  assert.equal(partial.status, grpc.status.UNIMPLEMENTED);
  const two = await raw('ListTopics', Buffer.concat([one, one])).answer;
  assert.equal(two.status, grpc.status.UNIMPLEMENTED);
  assert.match(two.message, /second request message/);
  const garbage = await raw('ProduceBatch', frame(Buffer.from([0x1a, 0x05, 0x01]))).answer;
  assert.equal(garbage.status, grpc.status.INTERNAL);
  assert.match(garbage.message, /Error deserializing request/);
  // The session and the server go on.
  const ok = await raw('ListTopics', one).answer;
  assert.equal(ok.status, 0);
  assert.deepEqual(
    (messageOf('ListTopics', ok).topics as { name: string }[]).map((t) => t.name),
    ['d', 'empty', 'stream-a', 'stream-b'],
  );
});

test('a prefix claiming more than the bound is refused from the prefix, before the bytes', async () => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(grpcRequestBytesMax + 1, 1);
  // Only the prefix is sent, and the stream stays open: the answer cannot wait for the claimed bytes.
  const { answer, stream } = raw('ProduceBatch', head, {}, { keepOpen: true });
  const a = await answer;
  stream.close();
  assert.equal(a.status, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(
    a.message,
    new RegExp(`larger than max \\(${grpcRequestBytesMax + 1} vs. ${grpcRequestBytesMax}\\)`),
  );
  const head2 = Buffer.alloc(5);
  head2.writeUInt32BE(0xffffffff, 1);
  assert.equal((await raw('ListTopics', head2).answer).status, grpc.status.RESOURCE_EXHAUSTED);
});

test('gzip and deflate requests are decompressed, within the bound; other encodings are refused', async () => {
  const req = encode('ProduceBatch', { topic: 'd', partition: 0, records: [{ value: Buffer.from('z') }] });
  for (const [encoding, pack] of [
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
  ] as const) {
    const a = await raw('ProduceBatch', frame(pack(req), 1), { 'grpc-encoding': encoding }).answer;
    assert.equal(a.status, 0, `${encoding}: ${a.message}`);
    assert.equal(messageOf('ProduceBatch', a).count, 1);
  }
  const bomb = zlib.gzipSync(Buffer.alloc(grpcRequestBytesMax + 1));
  const a = await raw('ProduceBatch', frame(bomb, 1), { 'grpc-encoding': 'gzip' }).answer;
  assert.equal(a.status, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(a.message, /decompresses to a size larger than/);
  const broken = await raw('ProduceBatch', frame(Buffer.from('not gzip'), 1), { 'grpc-encoding': 'gzip' })
    .answer;
  assert.equal(broken.status, grpc.status.INTERNAL);
  assert.match(broken.message, /Failed to decompress/);
  const unknown = await raw('ProduceBatch', frame(req, 1), { 'grpc-encoding': 'br' }).answer;
  assert.equal(unknown.status, grpc.status.UNIMPLEMENTED);
  const unnamed = await raw('ProduceBatch', frame(req, 1)).answer;
  assert.equal(unnamed.status, grpc.status.INTERNAL);

  // grpc-js's own client, compressing every call.
  for (const algorithm of [1, 2]) {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': algorithm,
    });
    const res = await new Promise<Record<string, unknown>>((resolve, reject) =>
      client.makeUnaryRequest(
        '/tsbroker.v1.Broker/ProduceBatch',
        (r: object) => encode('ProduceBatch', r),
        (b: Buffer) => decode('ProduceBatch', b),
        { topic: 'd', partition: 0, records: [{ value: Buffer.alloc(10_000, 'c') }] },
        (err, value) => (err ? reject(err) : resolve(value as Record<string, unknown>)),
      ),
    );
    client.close();
    assert.equal(res.count, 1);
  }
});

test('grpc-timeout ends a long poll with DEADLINE_EXCEEDED and cancels it; a malformed one is refused', async () => {
  const poll = frame(encode('ConsumeBatch', { topic: 'empty', partition: 0, offset: 0, maxWaitMs: 60_000 }));
  const polls = () => finished.filter((f) => f.method === 'ConsumeBatch').length;
  const before = polls();
  const started = Date.now();
  const a = await raw('ConsumeBatch', poll, { 'grpc-timeout': '200m' }).answer;
  assert.equal(a.status, grpc.status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - started < 30_000);
  // The handler saw the cancellation: its long poll ended (the latency metric's call).
  await waitFor(() => polls() > before);
  const bad = await raw('ListTopics', frame(encode('ListTopics', {})), { 'grpc-timeout': 'soon' }).answer;
  assert.equal(bad.status, grpc.status.INTERNAL);
  assert.match(bad.message, /Invalid grpc-timeout value "soon"/);
});

test('a caller that resets the stream cancels its long poll; the server goes on', async () => {
  const before = finished.filter((f) => f.method === 'ConsumeBatch').length;
  const poll = frame(encode('ConsumeBatch', { topic: 'empty', partition: 0, offset: 0, maxWaitMs: 60_000 }));
  const { answer, stream } = raw('ConsumeBatch', poll);
  await new Promise((r) => setTimeout(r, 100));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  const a = await answer;
  assert.ok(Number.isNaN(a.status), 'no status: the caller reset the stream');
  await waitFor(() => finished.filter((f) => f.method === 'ConsumeBatch').length > before);
  assert.equal((await raw('ListTopics', frame(encode('ListTopics', {}))).answer).status, 0);
});

test('errors are trailers-only answers with the broker error code; other content types stay with grpc-js', async () => {
  const a = await raw(
    'ProduceBatch',
    frame(
      encode('ProduceBatch', {
        topic: 'no-such-topic',
        partition: 0,
        records: [{ value: Buffer.from('v') }],
      }),
    ),
  ).answer;
  assert.equal(a.status, grpc.status.NOT_FOUND);
  assert.equal(a.headers['broker-error-code'], 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(a.data.length, 0);
  // A message that needs percent-encoding arrives whole.
  const named = await raw('DescribeTopic', frame(encode('DescribeTopic', { name: 'ü 100%' }))).answer;
  assert.match(named.message, /ü 100%/);
  const json = await raw('ListTopics', Buffer.from('{}'), { 'content-type': 'application/json' }).answer;
  assert.equal(json.headers[':status'], 415);
});

/** The messages of a server stream's DATA, each decoded; `rest` is an incomplete last frame. */
function messagesOf(method: string, data: Buffer): { messages: Record<string, unknown>[]; rest: Buffer } {
  const messages: Record<string, unknown>[] = [];
  let at = 0;
  while (at + 5 <= data.length) {
    assert.equal(data[at], 0, 'not compressed');
    const length = data.readUInt32BE(at + 1);
    if (at + 5 + length > data.length) break;
    messages.push(decode(method, data.subarray(at + 5, at + 5 + length)));
    at += 5 + length;
  }
  return { messages, rest: data.subarray(at) };
}

const produce = (topic: string, value: Buffer) =>
  raw('ProduceBatch', frame(encode('ProduceBatch', { topic, partition: 0, records: [{ value }] }))).answer;

test('Subscribe is served directly: messages carry the stored batches; a deadline ends it with trailers after them', async () => {
  for (const value of [Buffer.from('a'), Buffer.alloc(50_000, 'x'), Buffer.from('b')])
    assert.equal((await produce('stream-a', value)).status, 0);
  // What the log holds, as one raw ConsumeBatch answer.
  const stored = messageOf(
    'ConsumeBatch',
    await raw('ConsumeBatch', frame(encode('ConsumeBatch', { topic: 'stream-a', partition: 0, raw: true })))
      .answer,
  ).recordBatches as Buffer;
  const a = await raw(
    'Subscribe',
    frame(encode('Subscribe', { topic: 'stream-a', partition: 0, offset: 0, raw: true })),
    { 'grpc-timeout': '700m' },
  ).answer;
  assert.equal(a.headers[':status'], 200);
  assert.equal(a.headers['grpc-status'], undefined, 'headers, messages, then trailers');
  assert.equal(a.status, grpc.status.DEADLINE_EXCEEDED);
  const { messages, rest } = messagesOf('Subscribe', a.data);
  assert.equal(rest.length, 0);
  assert.ok(messages.length >= 1);
  assert.equal(messages.at(-1)?.nextOffset, 3);
  assert.deepEqual(Buffer.concat(messages.map((m) => m.recordBatches as Buffer)), stored);

  // Decoded records, through grpc-js's client.
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeServerStreamRequest(
    '/tsbroker.v1.Broker/Subscribe',
    (r: object) => encode('Subscribe', r),
    (b: Buffer) => decode('Subscribe', b),
    { topic: 'stream-a', partition: 0, offset: 2 },
  );
  const [first] = (await new Promise((resolve) => call.once('data', (m) => resolve([m])))) as [
    { records: { offset: number; value: Buffer }[] },
  ];
  assert.deepEqual(
    first.records.map((r) => [r.offset, r.value.toString()]),
    [[2, 'b']],
  );
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  call.cancel();
  assert.equal((await status).code, grpc.status.CANCELLED);
  client.close();
});

test('a Subscribe that fails before its first message is a trailers-only answer with the broker error code', async () => {
  const unknown = await raw(
    'Subscribe',
    frame(encode('Subscribe', { topic: 'no-such-topic', partition: 0, raw: true })),
  ).answer;
  assert.equal(unknown.status, grpc.status.NOT_FOUND);
  assert.equal(unknown.headers['broker-error-code'], 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(unknown.data.length, 0);
  const bad = await raw('Subscribe', frame(encode('Subscribe', { topic: 'stream-a', offset: -1 }))).answer;
  assert.equal(bad.status, grpc.status.INVALID_ARGUMENT);
  assert.match(bad.message, /offset must be between/);
  const none = await raw('Subscribe', null).answer;
  assert.equal(none.status, grpc.status.UNIMPLEMENTED);
});

test('a Subscribe whose caller stops reading waits for its window, then delivers every batch in order', async () => {
  const batches = 30;
  for (let i = 0; i < batches; i++)
    assert.equal((await produce('stream-b', Buffer.alloc(100_000, i))).status, 0);
  const total = batches * 100_000;
  const { stream, answer } = raw(
    'Subscribe',
    frame(encode('Subscribe', { topic: 'stream-b', partition: 0, offset: 0, raw: true, maxBytes: 200_000 })),
  );
  stream.pause();
  await new Promise((r) => setTimeout(r, 300));
  // The caller's flow-control window holds the server back: far less than the partition is buffered.
  assert.ok(stream.readableLength < total / 2, `${stream.readableLength} bytes buffered of ${total}`);
  let data: Buffer = Buffer.alloc(0);
  const values: number[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      const { messages, rest } = messagesOf('Subscribe', Buffer.concat([data, chunk]));
      data = rest;
      for (const m of messages) {
        const bytes = m.recordBatches as Buffer;
        // Each record's value is 100,000 bytes of its index, and the record ends with it and its
        // header count (0): the last batch's second-to-last byte is its index.
        values.push(bytes[bytes.length - 2]);
        if (m.nextOffset === batches) resolve();
      }
    });
    stream.resume();
  });
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await answer;
  assert.equal(values.length <= batches, true);
  assert.deepEqual(
    values,
    [...new Set(values)].sort((x, y) => x - y),
    'in order, none twice',
  );
  assert.equal(values.at(-1), batches - 1);
});

test("closing the server ends its open Subscribe streams with OK, after the call's messages", async () => {
  const second = grpcServerFor(broker);
  const secondPort = await second.listen('127.0.0.1', 0);
  const other = http2.connect(`http://127.0.0.1:${secondPort}`);
  const stream = other.request({
    ':method': 'POST',
    ':path': '/tsbroker.v1.Broker/Subscribe',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('trailers', resolve));
  stream.end(frame(encode('Subscribe', { topic: 'stream-a', partition: 0, offset: 0, raw: true })));
  await waitFor(() => chunks.length > 0);
  await second.close();
  assert.equal((await trailers)['grpc-status'], '0');
  assert.equal(messagesOf('Subscribe', Buffer.concat(chunks)).messages.at(-1)?.nextOffset, 3);
  other.close();
});

test('with serveDirectly false, grpc-js serves the unary calls and Subscribe, errors and all', async () => {
  const fallback = grpcServerFor(broker, { serveDirectly: false });
  const fallbackPort = await fallback.listen('127.0.0.1', 0);
  assert.equal(fallback.direct, false);
  const client = await BrokerClient.connect(`127.0.0.1:${fallbackPort}`, { retries: 0 });
  try {
    await client.produce('stream-a', { value: 'through grpc-js' }, { partition: 0 });
    const seen: string[] = [];
    // From the 50,000-byte record: a raw answer over 4 KiB, which grpc-js frames from FramedBatches.
    for await (const m of client.subscribe('stream-a', { partition: 0, offset: 1 })) {
      seen.push(String(m.value));
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ['x'.repeat(50_000), 'b', 'through grpc-js']);
    // A failing Subscribe gets its status and the broker error code from grpc-js too.
    const raw = new grpc.Client(`127.0.0.1:${fallbackPort}`, grpc.credentials.createInsecure());
    const call = raw.makeServerStreamRequest(
      '/tsbroker.v1.Broker/Subscribe',
      (r: object) => encode('Subscribe', r),
      (b: Buffer) => decode('Subscribe', b),
      { topic: 'no-such-topic', partition: 0 },
    );
    const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    raw.close();
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.deepEqual(err.metadata.get('broker-error-code'), ['UNKNOWN_TOPIC_OR_PARTITION']);
  } finally {
    client.close();
    await fallback.close();
  }
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
