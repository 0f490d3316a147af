/**
 * The codecs of ElectLeaders (43), AlterPartitionReassignments (45) and ListPartitionReassignments
 * (46), beyond the table-driven round-trip and truncation tests that cover every API: each version's
 * bytes written out by hand from Kafka's grammar (apis/*.ts header comments) and decoded, each
 * response version encoded to the bytes the grammar gives, unknown tagged fields skipped in the
 * flexible versions, truncations refused, counts that claim more than the frame holds refused before
 * anything is allocated for them, and kafkajs 2.2.4's own encoders and decoders for the two of them it
 * speaks (AlterPartitionReassignments v0, ListPartitionReassignments v0).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { API_KEYS, APIS, type ApiName } from '../../src/protocol/kafka/apis/index.ts';
import { decodeMessage, encodeMessage, type Message } from '../../src/protocol/kafka/codec.ts';
import { readRequestHeaderPrefix, readRequestHeaderRest } from '../../src/protocol/kafka/header.ts';
import { Reader } from '../../src/protocol/kafka/reader.ts';
import { Writer } from '../../src/protocol/kafka/writer.ts';

const api = (name: ApiName) => {
  const a = APIS.get(API_KEYS[name]);
  assert.ok(a, `${name} is served`);
  return a;
};

const encodeRequest = (name: ApiName, v: number, o: Message) => {
  const w = new Writer(16);
  encodeMessage(w, api(name).request.plan(v), o);
  return w.toBuffer();
};
const encodeResponse = (name: ApiName, v: number, o: Message) => {
  const w = new Writer(16);
  encodeMessage(w, api(name).response.plan(v), o);
  return w.toBuffer();
};
const decodeRequest = (name: ApiName, v: number, b: Buffer) => {
  const r = new Reader(b);
  const o = decodeMessage(r, api(name).request.plan(v));
  assert.equal(r.remaining(), 0, `${name} v${v}: every byte is read`);
  return o;
};
const decodeResponse = (name: ApiName, v: number, b: Buffer) => {
  const r = new Reader(b);
  const o = decodeMessage(r, api(name).response.plan(v));
  assert.equal(r.remaining(), 0, `${name} v${v}: every byte is read`);
  return o;
};

// ---- wire primitives, written out independently of the codec ------------------------------------

const i8 = (n: number) => Buffer.from([n & 0xff]);
const i16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
/** A classic string: int16 length, then UTF-8. */
const str = (s: string) => Buffer.concat([i16(Buffer.byteLength(s)), Buffer.from(s)]);
/** A compact string: uvarint length + 1, then UTF-8. */
const cstr = (s: string) => Buffer.concat([uvarint(Buffer.byteLength(s) + 1), Buffer.from(s)]);
const NULL_CSTR = uvarint(0);
/** An empty tag section. */
const TAGS = uvarint(0);
const int32s = (xs: number[]) => Buffer.concat([i32(xs.length), ...xs.map(i32)]);
const cint32s = (xs: number[]) => Buffer.concat([uvarint(xs.length + 1), ...xs.map(i32)]);
const cat = (...parts: Buffer[]) => Buffer.concat(parts);

/** Every proper prefix of `bytes` is refused with INVALID_REQUEST, never a crash or a partial value. */
function refusesEveryTruncation(name: ApiName, v: number, bytes: Buffer): void {
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(
      () => decodeMessage(new Reader(bytes.subarray(0, cut)), api(name).request.plan(v)),
      { code: 'INVALID_REQUEST' },
      `${name} v${v} cut at ${cut}/${bytes.length}`,
    );
  }
}

// ---- ElectLeaders ---------------------------------------------------------------------------------

test('ElectLeaders requests: v0 without an election type, v1 with one, v2 compact; null topics; every truncation refused', () => {
  const named = { topicPartitions: [{ topic: 'orders', partitions: [0, 2] }], timeoutMs: 5000 };
  const v0 = cat(i32(1), str('orders'), int32s([0, 2]), i32(5000));
  const v1 = cat(i8(1), v0);
  const v2 = cat(i8(1), uvarint(2), cstr('orders'), cint32s([0, 2]), TAGS, i32(5000), TAGS);

  // Version 0 has no election type: it decodes as 0, preferred.
  assert.deepEqual(decodeRequest('ElectLeaders', 0, v0), { electionType: 0, ...named });
  assert.deepEqual(decodeRequest('ElectLeaders', 1, v1), { electionType: 1, ...named });
  assert.deepEqual(decodeRequest('ElectLeaders', 2, v2), { electionType: 1, ...named });
  assert.deepEqual(encodeRequest('ElectLeaders', 0, { electionType: 1, ...named }), v0, 'v0 drops the type');
  assert.deepEqual(encodeRequest('ElectLeaders', 1, { electionType: 1, ...named }), v1);
  assert.deepEqual(encodeRequest('ElectLeaders', 2, { electionType: 1, ...named }), v2);

  // Null topic partitions: every partition.
  const all = { electionType: 0, topicPartitions: null, timeoutMs: 60000 };
  assert.deepEqual(decodeRequest('ElectLeaders', 0, cat(i32(-1), i32(60000))), all);
  assert.deepEqual(decodeRequest('ElectLeaders', 1, cat(i8(0), i32(-1), i32(60000))), all);
  assert.deepEqual(decodeRequest('ElectLeaders', 2, cat(i8(0), uvarint(0), i32(60000), TAGS)), all);

  refusesEveryTruncation('ElectLeaders', 0, v0);
  refusesEveryTruncation('ElectLeaders', 1, v1);
  refusesEveryTruncation('ElectLeaders', 2, v2);
});

test('ElectLeaders responses: the top-level error code from v1, compact from v2', () => {
  const results = [
    {
      topic: 'orders',
      partitionResult: [
        { partitionId: 0, errorCode: 84, errorMessage: 'not needed' },
        { partitionId: 2, errorCode: 0, errorMessage: null },
      ],
    },
  ];
  const body = { throttleTimeMs: 0, errorCode: 41, replicaElectionResults: results };
  const parts = [cat(str('orders'), i32(2)), cat(i32(0), i16(84), str('not needed'))];
  const v0 = cat(i32(0), i32(1), ...parts, i32(2), i16(0), i16(-1));
  const v1 = cat(i32(0), i16(41), i32(1), ...parts, i32(2), i16(0), i16(-1));
  const v2 = cat(
    i32(0),
    i16(41),
    uvarint(2),
    cstr('orders'),
    uvarint(3),
    cat(i32(0), i16(84), cstr('not needed'), TAGS),
    cat(i32(2), i16(0), NULL_CSTR, TAGS),
    TAGS,
    TAGS,
  );
  assert.deepEqual(encodeResponse('ElectLeaders', 0, body), v0, 'v0 has no top-level error code');
  assert.deepEqual(encodeResponse('ElectLeaders', 1, body), v1);
  assert.deepEqual(encodeResponse('ElectLeaders', 2, body), v2);
  assert.deepEqual(decodeResponse('ElectLeaders', 0, v0), { ...body, errorCode: 0 });
  assert.deepEqual(decodeResponse('ElectLeaders', 1, v1), body);
  assert.deepEqual(decodeResponse('ElectLeaders', 2, v2), body);
});

// ---- AlterPartitionReassignments -------------------------------------------------------------------

test('AlterPartitionReassignments requests: v0 and v1 (allowReplicationFactorChange), a null replica list cancels; every truncation refused', () => {
  const topics = [
    {
      name: 'orders',
      partitions: [
        { partitionIndex: 0, replicas: [2, 3] },
        { partitionIndex: 1, replicas: null },
      ],
    },
  ];
  const topicBytes = cat(
    uvarint(2),
    cstr('orders'),
    uvarint(3),
    cat(i32(0), cint32s([2, 3]), TAGS),
    cat(i32(1), uvarint(0), TAGS),
    TAGS,
  );
  const v0 = cat(i32(30000), topicBytes, TAGS);
  const v1 = cat(i32(30000), i8(0), topicBytes, TAGS);
  // Version 0 has no allowReplicationFactorChange: it decodes as true, Kafka's default.
  assert.deepEqual(decodeRequest('AlterPartitionReassignments', 0, v0), {
    timeoutMs: 30000,
    allowReplicationFactorChange: true,
    topics,
  });
  assert.deepEqual(decodeRequest('AlterPartitionReassignments', 1, v1), {
    timeoutMs: 30000,
    allowReplicationFactorChange: false,
    topics,
  });
  const body = { timeoutMs: 30000, allowReplicationFactorChange: false, topics };
  assert.deepEqual(encodeRequest('AlterPartitionReassignments', 0, body), v0);
  assert.deepEqual(encodeRequest('AlterPartitionReassignments', 1, body), v1);
  refusesEveryTruncation('AlterPartitionReassignments', 0, v0);
  refusesEveryTruncation('AlterPartitionReassignments', 1, v1);
});

test('AlterPartitionReassignments responses: v1 echoes allowReplicationFactorChange after the throttle time', () => {
  const body = {
    throttleTimeMs: 0,
    allowReplicationFactorChange: false,
    errorCode: 0,
    errorMessage: null,
    responses: [
      {
        name: 'orders',
        partitions: [{ partitionIndex: 1, errorCode: 39, errorMessage: 'no broker 99' }],
      },
    ],
  };
  const rest = cat(
    i16(0),
    NULL_CSTR,
    uvarint(2),
    cstr('orders'),
    uvarint(2),
    cat(i32(1), i16(39), cstr('no broker 99'), TAGS),
    TAGS,
    TAGS,
  );
  const v0 = cat(i32(0), rest);
  const v1 = cat(i32(0), i8(0), rest);
  assert.deepEqual(encodeResponse('AlterPartitionReassignments', 0, body), v0);
  assert.deepEqual(encodeResponse('AlterPartitionReassignments', 1, body), v1);
  assert.deepEqual(decodeResponse('AlterPartitionReassignments', 0, v0), {
    ...body,
    allowReplicationFactorChange: true,
  });
  assert.deepEqual(decodeResponse('AlterPartitionReassignments', 1, v1), body);
});

// ---- ListPartitionReassignments --------------------------------------------------------------------

test('ListPartitionReassignments v0: null topics list everything, named topics their partitions; every truncation refused', () => {
  const all = cat(i32(60000), uvarint(0), TAGS);
  assert.deepEqual(decodeRequest('ListPartitionReassignments', 0, all), { timeoutMs: 60000, topics: null });
  const some = cat(i32(1000), uvarint(2), cstr('orders'), cint32s([0, 1]), TAGS, TAGS);
  const named = { timeoutMs: 1000, topics: [{ name: 'orders', partitionIndexes: [0, 1] }] };
  assert.deepEqual(decodeRequest('ListPartitionReassignments', 0, some), named);
  assert.deepEqual(encodeRequest('ListPartitionReassignments', 0, named), some);
  refusesEveryTruncation('ListPartitionReassignments', 0, all);
  refusesEveryTruncation('ListPartitionReassignments', 0, some);

  const answer = {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    topics: [
      {
        name: 'orders',
        partitions: [{ partitionIndex: 0, replicas: [3, 1, 2], addingReplicas: [3], removingReplicas: [2] }],
      },
    ],
  };
  const bytes = cat(
    i32(0),
    i16(0),
    NULL_CSTR,
    uvarint(2),
    cstr('orders'),
    uvarint(2),
    cat(i32(0), cint32s([3, 1, 2]), cint32s([3]), cint32s([2]), TAGS),
    TAGS,
    TAGS,
  );
  assert.deepEqual(encodeResponse('ListPartitionReassignments', 0, answer), bytes);
  assert.deepEqual(decodeResponse('ListPartitionReassignments', 0, bytes), answer);
});

// ---- tagged fields and claims ----------------------------------------------------------------------

test('unknown tagged fields in the flexible versions are skipped, in every struct', () => {
  /** A tag section holding one unknown field (tag 9) of three bytes. */
  const unknown = cat(uvarint(1), uvarint(9), uvarint(3), Buffer.from([1, 2, 3]));
  const elect = cat(i8(0), uvarint(2), cstr('t'), cint32s([4]), unknown, i32(10), unknown);
  assert.deepEqual(decodeRequest('ElectLeaders', 2, elect), {
    electionType: 0,
    topicPartitions: [{ topic: 't', partitions: [4] }],
    timeoutMs: 10,
  });
  const alter = cat(
    i32(10),
    uvarint(2),
    cstr('t'),
    uvarint(2),
    cat(i32(0), cint32s([1]), unknown),
    unknown,
    unknown,
  );
  assert.deepEqual(decodeRequest('AlterPartitionReassignments', 0, alter), {
    timeoutMs: 10,
    allowReplicationFactorChange: true,
    topics: [{ name: 't', partitions: [{ partitionIndex: 0, replicas: [1] }] }],
  });
  const list = cat(i32(10), uvarint(2), cstr('t'), cint32s([]), unknown, unknown);
  assert.deepEqual(decodeRequest('ListPartitionReassignments', 0, list), {
    timeoutMs: 10,
    topics: [{ name: 't', partitionIndexes: [] }],
  });
});

test('a count that claims more elements than the frame holds is refused before anything is allocated', () => {
  const claims = /claims \d+ elements/;
  const refuse = (name: ApiName, v: number, bytes: Buffer, what: string) =>
    assert.throws(
      () => decodeMessage(new Reader(bytes), api(name).request.plan(v)),
      (e: Error & { code?: string }) => e.code === 'INVALID_REQUEST' && claims.test(e.message),
      `${name} v${v}: ${what}`,
    );
  // Two billion topics in a few bytes (int32 count), and as many partitions of one topic.
  refuse('ElectLeaders', 0, cat(i32(0x7fffffff), i32(0)), 'topic partitions');
  refuse('ElectLeaders', 1, cat(i8(0), i32(1), str('t'), i32(0x7fffffff), i32(0)), 'partitions');
  refuse('ElectLeaders', 2, cat(i8(0), uvarint(0x7fffffff), i32(0), TAGS), 'compact topic partitions');
  refuse('ElectLeaders', 2, cat(i8(0), uvarint(2), cstr('t'), uvarint(1_000_000), TAGS), 'partitions');
  refuse('AlterPartitionReassignments', 0, cat(i32(0), uvarint(1_000_000_000), TAGS), 'topics');
  refuse(
    'AlterPartitionReassignments',
    1,
    cat(i32(0), i8(1), uvarint(2), cstr('t'), uvarint(2), i32(0), uvarint(500_000), TAGS),
    'replicas',
  );
  refuse('ListPartitionReassignments', 0, cat(i32(0), uvarint(1_000_000_000), TAGS), 'topics');
  refuse('ListPartitionReassignments', 0, cat(i32(0), uvarint(2), cstr('t'), uvarint(999_999)), 'indexes');
});

// ---- kafkajs 2.2.4 ---------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
const kafkajsRequest = require('kafkajs/src/protocol/request.js') as (
  a: unknown,
) => Promise<{ buffer: Buffer }>;
interface KjsProtocol {
  protocol: (v: { version: number }) => (args: Record<string, unknown>) => {
    request: unknown;
    response: { decode: (b: Buffer) => Promise<Record<string, unknown>> };
  };
}
const kjs = (dir: string) => require(`kafkajs/src/protocol/requests/${dir}/index.js`) as KjsProtocol;

/** The body of a request kafkajs frames, after its header (v2: kafkajs writes the header's tag section). */
async function kafkajsBody(name: ApiName, dir: string, args: Record<string, unknown>): Promise<Buffer> {
  const { request } = kjs(dir).protocol({ version: 0 })(args);
  const { buffer } = await kafkajsRequest({ correlationId: 7, clientId: 'kafkajs', request });
  const r = new Reader(buffer, 4);
  const prefix = readRequestHeaderPrefix(r);
  assert.deepEqual(prefix, { apiKey: api(name).key, apiVersion: 0, correlationId: 7 });
  assert.equal(readRequestHeaderRest(r, prefix, 2).clientId, 'kafkajs');
  return buffer.subarray(r.pos);
}

test('kafkajs AlterPartitionReassignments v0 and ListPartitionReassignments v0 requests decode to what kafkajs was given', async () => {
  const alter = await kafkajsBody('AlterPartitionReassignments', 'alterPartitionReassignments', {
    topics: [{ topic: 'orders', partitionAssignment: [{ partition: 3, replicas: [1, 2] }] }],
    timeout: 4000,
  });
  assert.deepEqual(decodeRequest('AlterPartitionReassignments', 0, alter), {
    timeoutMs: 4000,
    allowReplicationFactorChange: true,
    topics: [{ name: 'orders', partitions: [{ partitionIndex: 3, replicas: [1, 2] }] }],
  });
  const some = await kafkajsBody('ListPartitionReassignments', 'listPartitionReassignments', {
    topics: [{ topic: 'orders', partitions: [0, 3] }],
    timeout: 4000,
  });
  assert.deepEqual(decodeRequest('ListPartitionReassignments', 0, some), {
    timeoutMs: 4000,
    topics: [{ name: 'orders', partitionIndexes: [0, 3] }],
  });
  const all = await kafkajsBody('ListPartitionReassignments', 'listPartitionReassignments', {
    topics: null,
    timeout: 4000,
  });
  assert.deepEqual(decodeRequest('ListPartitionReassignments', 0, all), { timeoutMs: 4000, topics: null });
});

test('kafkajs decodes our AlterPartitionReassignments v0 and ListPartitionReassignments v0 responses', async () => {
  // kafkajs's decoders start at the response header's tag section (header v1), so it leads the body.
  const withHeaderTags = (b: Buffer) => cat(TAGS, b);
  const alter = encodeResponse('AlterPartitionReassignments', 0, {
    throttleTimeMs: 5,
    errorCode: 0,
    errorMessage: null,
    responses: [{ name: 'orders', partitions: [{ partitionIndex: 3, errorCode: 39, errorMessage: 'no' }] }],
  });
  const a = await kjs('alterPartitionReassignments')
    .protocol({ version: 0 })({ topics: [] })
    .response.decode(withHeaderTags(alter));
  assert.deepEqual(a, {
    throttleTime: 5,
    errorCode: 0,
    responses: [{ topic: 'orders', partitions: [{ partition: 3, errorCode: 39 }] }],
  });

  const list = encodeResponse('ListPartitionReassignments', 0, {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    topics: [
      {
        name: 'orders',
        partitions: [{ partitionIndex: 0, replicas: [3, 1], addingReplicas: [3], removingReplicas: [1] }],
      },
    ],
  });
  const l = await kjs('listPartitionReassignments')
    .protocol({ version: 0 })({ topics: null })
    .response.decode(withHeaderTags(list));
  assert.deepEqual(l.topics, [
    {
      name: 'orders',
      partitions: [{ partition: 0, replicas: [3, 1], addingReplicas: [3], removingReplicas: [1] }],
    },
  ]);
});
