/**
 * Valid requests that used to close the connection, and the codec's allocation bounds, with raw
 * frames over real sockets against a real listener (issue 10 item 10, issue 16):
 *
 * - for every API key and version we serve, a valid request followed by 1..N arbitrary bytes gets the
 *   same answer as without them, decodes to the same request, and the connection stays open
 *   (librdkafka >= 2.1 sends Metadata v12 with 3 trailing bytes, librdkafka issue #5049);
 * - for every int64 field of every request, a value beyond 2^53 is served, saturated or exact as
 *   the field declares, never a closed connection;
 * - an array of 1,000,000 elements and a tag section of 10,000 fields are served; one more of either
 *   is refused (Kafka 4.4's bounds) before anything is allocated for it.
 *
 * fast-check prints the seed of any failure; `FUZZ_RUNS` raises the run count.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type {
  KafkaListenerObserver,
  KafkaRequestHandler,
  RequestContext,
} from '../../src/api/kafka/handler.ts';
import { KafkaServer } from '../../src/api/kafka/server.ts';
import { APIS } from '../../src/protocol/kafka/apis/index.ts';
import type { Message } from '../../src/protocol/kafka/codec.ts';
import { requestElementsMax, taggedFieldsMax } from '../../src/protocol/kafka/limits.ts';
import type { Plan } from '../../src/protocol/kafka/schema.ts';
import { beyondSafeInt64, structArb } from './arbitrary.ts';
import { RawClient, recordingLogger, requestFrame } from './helpers.ts';

const runs = Number(process.env.FUZZ_RUNS ?? 8);
const followUpId = 0x7abcdef0;

/** Records each decoded request by correlation id and answers with the schema's defaults. */
class RecordingHandler implements KafkaRequestHandler {
  readonly requests = new Map<number, Message>();
  async handle(ctx: RequestContext, request: Message): Promise<Message | null> {
    this.requests.set(ctx.correlationId, request);
    if (ctx.apiName === 'Produce' && request.acks === 0) return null;
    return {};
  }
}

const trailing: { api: string; version: number; bytes: number }[] = [];
const observer: KafkaListenerObserver = {
  trailingBytes: (api, version, bytes) => trailing.push({ api, version, bytes }),
  connectionClosed: () => {},
};
const handler = new RecordingHandler();
const logger = recordingLogger();
let server: KafkaServer;
let port: number;

before(async () => {
  server = new KafkaServer({ host: '127.0.0.1', port: 0, handler, logger, observer });
  port = (await server.listen()).port;
});

after(async () => {
  await server.close();
});

/**
 * Sends `frame` then an ApiVersions request on one connection; returns the payload answering the
 * frame (null for none), and whether the follow-up was answered (the connection stayed open).
 */
async function exchange(frame: Buffer): Promise<{ answer: Buffer | null; open: boolean }> {
  const c = await RawClient.open(port);
  c.write(frame, requestFrame('ApiVersions', 0, followUpId, {}));
  let answer: Buffer | null = null;
  let open = false;
  for (;;) {
    const p = await c.next();
    if (p === null) break;
    if (p.readInt32BE(0) === followUpId) {
      open = true;
      break;
    }
    answer = p;
  }
  c.close();
  return { answer, open };
}

/** A frame with `extra` appended to its payload, its size field adjusted. */
function withTrailing(frame: Buffer, extra: Uint8Array): Buffer {
  const out = Buffer.concat([frame, extra]);
  out.writeInt32BE(out.length - 4, 0);
  return out;
}

const acksZero = (name: string, body: Message) => name === 'Produce' && body.acks === 0;

for (const api of APIS.values()) {
  test(`${api.name}: every version answers the same with 1..N trailing bytes, and stays open`, async () => {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const plan = api.request.plan(v);
      await fc.assert(
        fc.asyncProperty(
          structArb(plan),
          fc.uint8Array({ minLength: 1, maxLength: 64 }),
          fc.integer({ min: 0, max: 0x3fffffff }),
          async (body, extra, id) => {
            const frame = requestFrame(api.name, v, id * 2, body);
            const plain = await exchange(frame);
            const seen = trailing.length;
            const padded = await exchange(withTrailing(requestFrame(api.name, v, id * 2 + 1, body), extra));
            assert.ok(plain.open && padded.open, `${api.name} v${v}: the connection stays open`);
            assert.deepEqual(trailing.slice(seen), [{ api: api.name, version: v, bytes: extra.length }]);
            if (api.name !== 'ApiVersions') {
              assert.deepEqual(
                handler.requests.get(id * 2 + 1),
                handler.requests.get(id * 2),
                `${api.name} v${v}: the same request is decoded`,
              );
            }
            if (acksZero(api.name, body)) {
              assert.equal(plain.answer, null);
              assert.equal(padded.answer, null);
              return;
            }
            assert.ok(plain.answer && padded.answer);
            // The same answer, but for the correlation id that opens it.
            assert.deepEqual(padded.answer.subarray(4), plain.answer.subarray(4));
            assert.equal(padded.answer.readInt32BE(0), id * 2 + 1);
          },
        ),
        { numRuns: runs, seed: 5049 + api.key * 100 + v },
      );
    }
  });
}

test('librdkafka 2.1+: Metadata v12 "all topics" with exactly 3 trailing bytes is answered (issue #5049)', async () => {
  const frame = requestFrame('Metadata', 12, 77, {
    topics: null,
    allowAutoTopicCreation: true,
    includeTopicAuthorizedOperations: false,
  });
  const { answer, open } = await exchange(withTrailing(frame, Buffer.from([0, 0, 0])));
  assert.ok(open);
  assert.equal(answer?.readInt32BE(0), 77);
  assert.ok(logger.lines.some((l) => l.level === 'debug' && /trailing bytes/.test(l.msg)));
});

// ---- int64 beyond 2^53 ---------------------------------------------------------------------------

/** Paths of every int64 field in a plan (into structs and struct arrays), for reporting. */
function int64Fields(plan: Plan, prefix = ''): string[] {
  const out: string[] = [];
  const fields = plan.flexible ? [...plan.fields, ...plan.tagged] : plan.fields;
  for (const f of fields) {
    if (f.kind === 'int64' || (f.kind === 'array' && f.elem === 'int64')) out.push(prefix + f.name);
    if (f.struct) out.push(...int64Fields(f.struct, `${prefix + f.name}.`));
  }
  return out;
}

/**
 * Replaces every int64 in `o` (shaped by `plan`) with `big`, and returns the value the decoder must
 * give for each: `big` itself for a `beyondSafe: 'bigint'` field, else the saturated number.
 */
function setInt64(plan: Plan, o: Message, big: bigint): Message {
  const expected: Message = { ...o };
  const saturated = big > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
  const fields = plan.flexible ? [...plan.fields, ...plan.tagged] : plan.fields;
  for (const f of fields) {
    const v = o[f.name];
    if (v === null || v === undefined) continue;
    if (f.kind === 'int64') {
      o[f.name] = big;
      expected[f.name] = f.beyondSafe === 'bigint' ? big : saturated;
    } else if (f.kind === 'array' && f.elem === 'int64') {
      o[f.name] = (v as unknown[]).map(() => big);
      expected[f.name] = (v as unknown[]).map(() => (f.beyondSafe === 'bigint' ? big : saturated));
    } else if (f.kind === 'struct') {
      expected[f.name] = setInt64(f.struct as Plan, v as Message, big);
    } else if (f.kind === 'structArray') {
      expected[f.name] = (v as Message[]).map((x) => setInt64(f.struct as Plan, x, big));
    }
  }
  return expected;
}

/** `o` with the fields absent from the plan's version removed, for comparing with a decoded request. */
function present(plan: Plan, o: Message): Message {
  const out: Message = {};
  const fields = plan.flexible ? [...plan.fields, ...plan.tagged] : plan.fields;
  for (const f of fields) {
    const v = o[f.name];
    if (f.kind === 'struct') out[f.name] = present(f.struct as Plan, v as Message);
    else if (f.kind === 'structArray' && Array.isArray(v))
      out[f.name] = v.map((x) => present(f.struct as Plan, x as Message));
    else out[f.name] = v;
  }
  return out;
}

test('every int64 field of every request accepts a value beyond 2^53: saturated or exact, never a closed connection', async () => {
  const covered = new Set<string>();
  for (const api of APIS.values()) {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      const plan = api.request.plan(v);
      const paths = int64Fields(plan);
      if (paths.length === 0) continue;
      for (const p of paths) covered.add(`${api.name}.${p}`);
      await fc.assert(
        fc.asyncProperty(structArb(plan), beyondSafeInt64(), fc.nat(0x3fffffff), async (body, big, id) => {
          const expected = setInt64(plan, body, big);
          const { answer, open } = await exchange(requestFrame(api.name, v, id, body));
          assert.ok(open, `${api.name} v${v} with ${big}: the connection stays open`);
          if (!acksZero(api.name, body)) assert.equal(answer?.readInt32BE(0), id);
          assert.deepEqual(present(plan, handler.requests.get(id) as Message), present(plan, expected));
        }),
        { numRuns: runs, seed: 253 + api.key * 100 + v },
      );
    }
  }
  // The int64 fields of the requests we serve: offsets, timestamps, a retention time, a producer id.
  for (const f of [
    'Fetch.topics.partitions.fetchOffset',
    'ListOffsets.topics.partitions.timestamp',
    'OffsetCommit.topics.partitions.committedOffset',
    'InitProducerId.producerId',
  ]) {
    assert.ok(covered.has(f), `${f} is exercised`);
  }
});

// ---- array and tag-section bounds ----------------------------------------------------------------

/** Request header v2 (flexible APIs) with client id "t". */
function headerV2(apiKey: number, version: number, id: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeInt16BE(apiKey, 0);
  h.writeInt16BE(version, 2);
  h.writeInt32BE(id, 4);
  h.writeInt16BE(1, 8);
  h.write('t', 10);
  h[11] = 0; // no tagged fields in the header
  return h;
}

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function frameOf(...parts: Buffer[]): Buffer {
  const payload = Buffer.concat(parts);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

/** ListGroups v4 with `n` empty strings in `statesFilter` (a compact array: one byte per element). */
const listGroups = (n: number, id: number) =>
  frameOf(headerV2(16, 4, id), uvarint(n + 1), Buffer.alloc(n, 1), Buffer.from([0]));

/** Metadata v1 (not flexible) with `n` topics named "" (two bytes each). */
function metadataV1(n: number, id: number): Buffer {
  const h = Buffer.alloc(15);
  h.writeInt16BE(3, 0);
  h.writeInt16BE(1, 2);
  h.writeInt32BE(id, 4);
  h.writeInt16BE(1, 8);
  h.write('t', 10);
  h.writeInt32BE(n, 11);
  return frameOf(h, Buffer.alloc(2 * n));
}

/** ApiVersions v3 whose body ends with `n` unknown tagged fields, each empty. */
function apiVersionsTags(n: number, id: number): Buffer {
  const tags: Buffer[] = [];
  for (let i = 0; i < n; i++) tags.push(uvarint(1000 + i), Buffer.from([0]));
  return frameOf(headerV2(18, 3, id), Buffer.from([2, 0x78, 2, 0x79]), uvarint(n), ...tags);
}

test('an array of 1,000,000 elements is served; 1,000,001 closes the connection with a log line', async () => {
  assert.equal(requestElementsMax, 1_000_000);
  for (const [what, make] of [
    ['ListGroups v4 (compact array)', listGroups],
    ['Metadata v1 (int32 count)', metadataV1],
  ] as const) {
    const at = await exchange(make(requestElementsMax, 1));
    assert.ok(at.open, `${what}: the limit itself is served`);
    assert.equal(at.answer?.readInt32BE(0), 1);
    const before = logger.lines.length;
    const over = await exchange(make(requestElementsMax + 1, 2));
    assert.ok(!over.open && over.answer === null, `${what}: one more is refused`);
    assert.ok(logger.lines.slice(before).some((l) => l.level === 'warn' && /malformed/.test(l.msg)));
  }
});

test('a tag section of 10,000 fields is served; 10,001 closes the connection', async () => {
  assert.equal(taggedFieldsMax, 10_000);
  const at = await exchange(apiVersionsTags(taggedFieldsMax, 3));
  assert.ok(at.open);
  assert.equal(at.answer?.readInt32BE(0), 3);
  const over = await exchange(apiVersionsTags(taggedFieldsMax + 1, 4));
  assert.ok(!over.open && over.answer === null);
});

test('after all of the above the listener still serves', async () => {
  const { answer, open } = await exchange(requestFrame('ApiVersions', 0, 9, {}));
  assert.ok(open);
  assert.equal(answer?.readInt32BE(0), 9);
});
