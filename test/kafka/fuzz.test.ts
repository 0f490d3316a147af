/**
 * Fuzzing the listener with random and mutated frames for every API key and version, against a real
 * listener on port 0 in this process (issue 5, "Hostile input"). An uncaught exception anywhere in
 * the listener would fail the run. For each frame the test checks, from the frame's own header bytes:
 *
 * - an unknown API key or an unsupported version closes the connection with no response, except an
 *   ApiVersions request above our version, which gets a v0 answer with UNSUPPORTED_VERSION (35);
 * - otherwise the frame either gets exactly one response carrying its correlation id and the
 *   connection goes on serving (a following ApiVersions request is answered), or the connection is
 *   closed; a request left unanswered on a live connection must be an acks=0 Produce;
 * - nothing is allocated on a frame's claim: a frame that claims far more than it sends leaves the
 *   connection holding only the bytes that arrived.
 *
 * fast-check prints the seed and the shrunk frame of any failure; `FUZZ_RUNS` raises the run count.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { KafkaRequestHandler, RequestContext } from '../../src/api/kafka/handler.ts';
import { KafkaServer } from '../../src/api/kafka/server.ts';
import { APIS } from '../../src/protocol/kafka/apis/index.ts';
import type { Message } from '../../src/protocol/kafka/codec.ts';
import { structArb } from './arbitrary.ts';
import { decodeResponse, RawClient, recordingLogger, requestFrame, until } from './helpers.ts';

const runs = Number(process.env.FUZZ_RUNS ?? 12);
const followUpId = 0x7abcdef0;
const frameBytesMax = 1024 * 1024;

/** Answers every request with its schema's defaults; an acks=0 Produce gets no response. */
class DefaultsHandler implements KafkaRequestHandler {
  unanswered = new Set<number>();
  async handle(ctx: RequestContext, request: Message): Promise<Message | null> {
    if (ctx.apiName === 'Produce' && request.acks === 0) {
      this.unanswered.add(ctx.correlationId);
      return null;
    }
    return {};
  }
}

let server: KafkaServer;
let port: number;
const handler = new DefaultsHandler();
const logger = recordingLogger();

before(async () => {
  server = new KafkaServer({ host: '127.0.0.1', port: 0, handler, logger, frameBytesMax });
  port = (await server.listen()).port;
});

after(async () => {
  await server.close();
});

const withSize = (payload: Buffer) => {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
};

/** Sends one frame and a valid ApiVersions after it; returns the correlation ids answered and whether it closed. */
async function exchange(frame: Buffer): Promise<{ ids: number[]; payloads: Buffer[]; closed: boolean }> {
  const c = await RawClient.open(port);
  c.write(frame, requestFrame('ApiVersions', 0, followUpId, {}));
  const ids: number[] = [];
  const payloads: Buffer[] = [];
  for (;;) {
    const p = await c.next();
    if (p === null) break;
    ids.push(p.readInt32BE(0));
    payloads.push(p);
    if (p.readInt32BE(0) === followUpId) break;
  }
  const closed = c.closed || !ids.includes(followUpId);
  c.close();
  return { ids, payloads, closed };
}

async function checkFrame(payload: Buffer): Promise<void> {
  const { ids, payloads, closed } = await exchange(withSize(payload));
  if (payload.length < 10) {
    assert.ok(closed && ids.length === 0, 'a frame too short for a header closes the connection unanswered');
    return;
  }
  const key = payload.readInt16BE(0);
  const version = payload.readInt16BE(2);
  const correlationId = payload.readInt32BE(4);
  const api = APIS.get(key);
  if (
    api === undefined ||
    version < api.minVersion ||
    (version > api.maxVersion && api.name !== 'ApiVersions')
  ) {
    assert.ok(closed, `key ${key} v${version} must close the connection`);
    assert.deepEqual(ids, [], 'and get no response');
    return;
  }
  if (api.name === 'ApiVersions' && version > api.maxVersion) {
    assert.equal(ids[0], correlationId);
    assert.equal(decodeResponse('ApiVersions', 0, payloads[0]).body.errorCode, 35);
    return;
  }
  if (closed) {
    // Malformed body: the connection closed, and nothing was answered for it.
    assert.deepEqual(ids, [], `${api.name} v${version}: a closed connection answered nothing`);
    return;
  }
  if (ids.length === 1) {
    assert.ok(
      handler.unanswered.has(correlationId),
      `${api.name} v${version}: only acks=0 Produce goes unanswered`,
    );
  } else {
    assert.deepEqual(ids, [correlationId, followUpId], `${api.name} v${version}: one response, in order`);
    // The response must decode as the version asked for.
    decodeResponse(api.name, version, payloads[0]);
  }
}

/** A valid request payload (header and body) for an API and version, from the schema. */
function validPayload(apiKey: number, version: number, correlationId: number, body: Message): Buffer {
  const api = APIS.get(apiKey);
  assert.ok(api);
  return requestFrame(api.name, version, correlationId, body).subarray(4);
}

const mutation = (len: number) =>
  fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat({ max: Math.max(0, len - 1) }),
      byte: fc.nat(255),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: len }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat({ max: len }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    // Overwrite four bytes with a huge or negative length, where a length field may sit.
    fc.record({
      kind: fc.constant('length' as const),
      at: fc.nat({ max: Math.max(0, len - 4) }),
      value: fc.constantFrom(0x7fffffff, -2, 0x00ffffff, 0xffff),
    }),
  );

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'length'; at: number; value: number };

function mutate(p: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(p);
  switch (m.kind) {
    case 'flip':
      if (out.length > 0) out[m.at] = m.byte;
      return out;
    case 'truncate':
      return out.subarray(0, m.at);
    case 'insert':
      return Buffer.concat([out.subarray(0, m.at), m.bytes, out.subarray(m.at)]);
    case 'length':
      if (out.length >= m.at + 4) out.writeInt32BE(m.value | 0, m.at);
      return out;
  }
}

for (const api of APIS.values()) {
  test(`fuzz: valid and mutated ${api.name} requests of every version`, async () => {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const plan = api.request.plan(v);
      const cases = fc
        .tuple(structArb(plan), fc.integer({ min: 0, max: 0x7fffffff }))
        .chain(([body, correlationId]) => {
          const payload = validPayload(api.key, v, correlationId, body);
          return fc.tuple(fc.constant(payload), mutation(payload.length));
        });
      await fc.assert(
        fc.asyncProperty(cases, async ([payload, m]) => {
          await checkFrame(payload); // unmutated: must be answered (or be an acks=0 Produce)
          await checkFrame(mutate(payload, m as Mutation));
        }),
        { numRuns: runs, seed: api.key * 100 + v },
      );
    }
  });
}

test('fuzz: random frames with any API key and version', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: -2, max: 40 }),
      fc.integer({ min: -2, max: 20 }),
      fc.integer({ min: 0, max: 0x7fffffff }),
      fc.uint8Array({ maxLength: 64 }),
      async (key, version, correlationId, rest) => {
        const head = Buffer.alloc(8);
        head.writeInt16BE(key, 0);
        head.writeInt16BE(version, 2);
        head.writeInt32BE(correlationId, 4);
        await checkFrame(Buffer.concat([head, rest]));
      },
    ),
    { numRuns: runs * 40, seed: 4242 },
  );
});

test('a frame claiming far more than it sends holds only the bytes that arrived', async () => {
  const c = await RawClient.open(port);
  const claimed = frameBytesMax - 1;
  const sent = Buffer.alloc(1000, 1);
  const size = Buffer.alloc(4);
  size.writeInt32BE(claimed);
  c.write(size, sent);
  await until(
    () => server.openConnections().some((k) => k.bufferedBytesCount === 4 + sent.length),
    'bytes arrive',
  );
  const conn = server.openConnections().find((k) => k.bufferedBytesCount === 4 + sent.length);
  assert.ok(conn, 'the connection holds exactly what was sent, not what was claimed');
  assert.equal(conn.inFlight, 0);
  c.close();
  await c.closedPromise;
});

test('after all of the above the listener still serves', async () => {
  const { ids } = await exchange(
    requestFrame('ApiVersions', 3, 1, { clientSoftwareName: 'x', clientSoftwareVersion: 'y' }),
  );
  assert.deepEqual(ids, [1, followUpId]);
  assert.ok(
    logger.lines.some((l) => l.level === 'warn'),
    'hostile frames were logged',
  );
});
