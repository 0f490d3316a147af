import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KafkaRequestHandler, RequestContext } from '../../src/api/kafka/handler.ts';
import { KafkaServer } from '../../src/api/kafka/server.ts';
import { APIS } from '../../src/protocol/kafka/apis/index.ts';
import type { Message } from '../../src/protocol/kafka/codec.ts';
import { decodeResponse, RawClient, recordingLogger, requestFrame, until } from './helpers.ts';

/** A handler whose answers the test releases by hand, in any order. */
class ControlledHandler implements KafkaRequestHandler {
  calls: { ctx: RequestContext; request: Message; resolve: (m: Message | null) => void }[] = [];
  handle(ctx: RequestContext, request: Message): Promise<Message | null> {
    return new Promise((resolve) => this.calls.push({ ctx, request, resolve }));
  }
}

const metadataAnswer = (nodeId: number): Message => ({
  brokers: [{ nodeId, host: 'localhost', port: 9092, rack: null }],
  clusterId: 'c1',
  controllerId: nodeId,
  topics: [],
});

let handler: ControlledHandler;
let server: KafkaServer;
let port: number;
const logger = recordingLogger();

before(async () => {
  handler = new ControlledHandler();
  server = new KafkaServer({
    host: '127.0.0.1',
    port: 0,
    handler,
    logger,
    inFlightMax: 3,
    frameBytesMax: 4096,
  });
  port = (await server.listen()).port;
});

after(async () => {
  await server.close();
});

test('ApiVersions v3 is answered with a v0 response header and every advertised range', async () => {
  const c = await RawClient.open(port);
  c.write(requestFrame('ApiVersions', 3, 7, { clientSoftwareName: 'test', clientSoftwareVersion: '1' }));
  const payload = await c.next();
  assert.ok(payload);
  // Header v0: the correlation id and then, at once, the body's int16 error code (no tag byte).
  assert.equal(payload.readInt32BE(0), 7);
  assert.equal(payload.readInt16BE(4), 0);
  const { body } = decodeResponse('ApiVersions', 3, payload);
  const ranges = body.apiKeys as { apiKey: number; minVersion: number; maxVersion: number }[];
  assert.deepEqual(
    ranges.map((r) => [r.apiKey, r.minVersion, r.maxVersion]),
    [...APIS.values()].sort((a, b) => a.key - b.key).map((a) => [a.key, a.minVersion, a.maxVersion]),
  );
  // librdkafka's traps: Produce and the group APIs must start at version 0.
  for (const key of [0, 8, 9, 10, 11, 12, 13, 14]) {
    assert.equal(ranges.find((r) => r.apiKey === key)?.minVersion, 0, `api ${key} starts at 0`);
  }
  c.close();
});

test('ApiVersions above our version gets a v0 answer with UNSUPPORTED_VERSION and our ranges (KIP-511)', async () => {
  const c = await RawClient.open(port);
  // Version 9 of a request we cannot parse: header v2 then a body we must not try to read.
  const frame = Buffer.from('0000000f' + '0012' + '0009' + '0000002a' + '0003616263' + '00' + 'ffff', 'hex');
  c.write(frame);
  const payload = await c.next();
  assert.ok(payload);
  const { correlationId, body } = decodeResponse('ApiVersions', 0, payload);
  assert.equal(correlationId, 42);
  assert.equal(body.errorCode, 35);
  assert.equal((body.apiKeys as unknown[]).length, APIS.size);
  c.close();
});

test('pipelined requests are answered in request order even when handlers finish out of order', async () => {
  const c = await RawClient.open(port);
  handler.calls = [];
  c.write(
    requestFrame('Metadata', 1, 1, { topics: null }),
    requestFrame('ApiVersions', 0, 2, {}),
    requestFrame('Metadata', 9, 3, { topics: [{ name: 't' }], allowAutoTopicCreation: true }),
  );
  await until(() => handler.calls.length === 2, 'both Metadata requests reach the handler');
  assert.equal(handler.calls[0].ctx.correlationId, 1);
  assert.equal(handler.calls[0].ctx.clientId, 'test');
  assert.deepEqual(handler.calls[1].request.topics, [
    { topicId: '00000000-0000-0000-0000-000000000000', name: 't' },
  ]);
  // The third request finishes first; nothing may be written until the first is answered.
  handler.calls[1].resolve(metadataAnswer(2));
  await until(() => handler.calls.length === 2 && c.framesWaiting === 0, 'settled');
  assert.equal(c.framesWaiting, 0, 'no response overtakes the first request');
  handler.calls[0].resolve(metadataAnswer(1));
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await c.next())?.readInt32BE(0));
  assert.deepEqual(ids, [1, 2, 3]);
  c.close();
});

test('Produce with acks=0 gets no response, and the next request is still answered', async () => {
  const c = await RawClient.open(port);
  handler.calls = [];
  const records = Buffer.from('not decoded by the listener');
  c.write(
    requestFrame('Produce', 3, 10, {
      transactionalId: null,
      acks: 0,
      timeoutMs: 1000,
      topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
    }),
    requestFrame('Metadata', 4, 11, { topics: [], allowAutoTopicCreation: false }),
  );
  await until(() => handler.calls.length === 2, 'both requests reach the handler');
  const produced = handler.calls[0].request as { topicData: { partitionData: { records: Buffer }[] }[] };
  assert.deepEqual(produced.topicData[0].partitionData[0].records, records);
  handler.calls[0].resolve(null);
  handler.calls[1].resolve(metadataAnswer(1));
  const payload = await c.next();
  assert.equal(payload?.readInt32BE(0), 11);
  c.close();
});

test('at the in-flight bound the connection stops reading, and resumes as answers go out', async () => {
  const c = await RawClient.open(port);
  handler.calls = [];
  const frames = [1, 2, 3, 4, 5].map((id) =>
    requestFrame('Heartbeat', 4, id, { groupId: 'g', generationId: 1, memberId: 'm' }),
  );
  c.write(...frames);
  const conn = () => server.openConnections().at(-1);
  await until(
    () => handler.calls.length === 3 && conn()?.readingPaused === true,
    'three dispatched, reading paused',
  );
  assert.equal(conn()?.inFlight, 3);
  handler.calls[0].resolve({ errorCode: 0 });
  await until(() => handler.calls.length === 4, 'a fourth request is dispatched after one answer');
  for (const call of handler.calls.slice(1)) call.resolve({ errorCode: 0 });
  await until(() => handler.calls.length === 5, 'the fifth follows');
  handler.calls[4].resolve({ errorCode: 0 });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await c.next())?.readInt32BE(0));
  assert.deepEqual(ids, [1, 2, 3, 4, 5]);
  await until(() => conn()?.readingPaused === false, 'reading resumed');
  c.close();
});

test('a frame over the size limit closes the connection with a log line, before its body arrives', async () => {
  const c = await RawClient.open(port);
  const warnings = logger.lines.length;
  c.write(Buffer.from('7fffffff', 'hex')); // claims 2 GiB; only the size field is ever sent
  assert.equal(await c.next(), null);
  assert.ok(
    logger.lines.slice(warnings).some((l) => l.level === 'warn' && /over the size limit/.test(l.msg)),
  );
});

test('an unknown API key, an unsupported version and a malformed body each close the connection', async () => {
  const cases: [string, Buffer][] = [
    ['unknown key', Buffer.from('0000000a' + '03e7' + '0000' + '00000001' + '0000', 'hex')],
    ['unsupported version', requestFrame('Fetch', 4, 1, {}).fill(0, 6, 8)], // Fetch v0
    ['truncated body', Buffer.from('0000000c' + '000c' + '0000' + '00000001' + 'ffff' + '0003', 'hex')],
  ];
  for (const [what, frame] of cases) {
    const c = await RawClient.open(port);
    const before = logger.lines.length;
    c.write(frame);
    assert.equal(await c.next(), null, `${what}: no response`);
    assert.ok(
      logger.lines.slice(before).some((l) => l.level === 'warn'),
      `${what}: a warning is logged`,
    );
  }
});

test('a handler that rejects closes the connection with an error log line', async () => {
  const c = await RawClient.open(port);
  handler.calls = [];
  c.write(requestFrame('Heartbeat', 0, 5, { groupId: 'g', generationId: 1, memberId: 'm' }));
  await until(() => handler.calls.length === 1, 'dispatched');
  const before = logger.lines.length;
  // Resolving with a value that cannot encode is the same bug class as rejecting.
  handler.calls[0].resolve({ errorCode: 'not a number' as unknown as number, throttleTimeMs: Number.NaN });
  assert.equal(await c.next(), null);
  assert.ok(logger.lines.slice(before).some((l) => l.level === 'error'));
});

test('option bounds are validated with specific messages', () => {
  assert.throws(
    () => new KafkaServer({ port: 0, handler, logger, inFlightMax: 0 }),
    /inFlightMax must be an integer between 1 and 1000000, got 0/,
  );
  assert.throws(
    () => new KafkaServer({ port: 70000, handler, logger }),
    /port must be an integer between 0 and 65535/,
  );
  assert.throws(
    () => new KafkaServer({ port: 0, handler, logger, inFlightMax: 3, fetchInFlightMax: 4 }),
    /fetchInFlightMax must be an integer between 1 and 3, got 4/,
  );
  assert.throws(
    () => new KafkaServer({ port: 0, handler, logger, idleMs: 2 ** 31 }),
    /idleMs must be an integer between 1 and 2147483647/,
  );
  assert.throws(
    () => new KafkaServer({ port: 0, handler, logger, queuedRequestBytesMax: 0 }),
    /queuedRequestBytesMax must be an integer between 1 and/,
  );
});
