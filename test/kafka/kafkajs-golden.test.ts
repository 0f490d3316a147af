/**
 * Golden bytes from an independent implementation: kafkajs 2.2.4's own protocol encoders and decoders
 * (node_modules/kafkajs/src/protocol/requests/*), for every version both it and we speak.
 *
 * - Requests: kafkajs encodes a request frame; our listener-side decoder must read it whole (no
 *   trailing bytes), find the values kafkajs was given, and re-encode exactly kafkajs's bytes.
 * - Responses: we encode random responses (error codes zeroed, as kafkajs's decoders throw on some
 *   errors); kafkajs's decoder must read them, and every value we wrote must appear among the values
 *   kafkajs decoded (a misaligned field would shift every value after it).
 *
 * kafkajs speaks no flexible versions, so these cover the classic encodings; the flexible ones are
 * covered by librdkafka (kcat) and kafka-python in their interop tests and by the round-trip tests.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import fc from 'fast-check';
import { API_KEYS, APIS, type ApiName } from '../../src/protocol/kafka/apis/index.ts';
import { encodeMessage } from '../../src/protocol/kafka/codec.ts';
import { readRequestHeaderPrefix, readRequestHeaderRest } from '../../src/protocol/kafka/header.ts';
import { decodeRequestBody } from '../../src/protocol/kafka/messages.ts';
import { Reader } from '../../src/protocol/kafka/reader.ts';
import type { Plan } from '../../src/protocol/kafka/schema.ts';
import { Writer } from '../../src/protocol/kafka/writer.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { structArb } from './arbitrary.ts';

const require = createRequire(import.meta.url);
const createRequest = require('kafkajs/src/protocol/request.js') as (
  a: unknown,
) => Promise<{ buffer: Buffer }>;

interface KjsProtocol {
  versions: string[];
  protocol: (v: { version: number }) => (args: Record<string, unknown>) => {
    request: unknown;
    response: { decode: (b: Buffer) => Promise<unknown> };
  };
}

const kjs = (dir: string) => require(`kafkajs/src/protocol/requests/${dir}/index.js`) as KjsProtocol;

const batch = encodeBatch({
  records: [{ key: Buffer.from('k'), value: Buffer.from('v'), timestamp: 1_700_000_000_000 }],
});

type Args = (v: number) => Record<string, unknown>;
type Check = (req: Record<string, unknown>, v: number) => void;

const get = (o: unknown, ...path: (string | number)[]) =>
  path.reduce<unknown>((x, k) => (x as Record<string | number, unknown>)[k], o);

const cases: [ApiName, string, Args, Check][] = [
  ['ApiVersions', 'apiVersions', () => ({}), () => {}],
  [
    'Metadata',
    'metadata',
    () => ({ topics: ['a', 'b'], allowAutoTopicCreation: false }),
    (r, v) => {
      // kafkajs speaks versions before 10, which carry no topic id: it decodes as the null UUID.
      const zero = '00000000-0000-0000-0000-000000000000';
      assert.deepEqual(r.topics, [
        { topicId: zero, name: 'a' },
        { topicId: zero, name: 'b' },
      ]);
      assert.equal(r.allowAutoTopicCreation, v < 4);
    },
  ],
  [
    'Produce',
    'produce',
    () => ({
      acks: -1,
      timeout: 30000,
      transactionalId: null,
      topicData: [
        { topic: 't', partitions: [{ partition: 2, messages: [{ key: 'k', value: 'v', timestamp: 5 }] }] },
      ],
    }),
    (r) => {
      assert.equal(r.acks, -1);
      assert.equal(r.timeoutMs, 30000);
      assert.equal(get(r, 'topicData', 0, 'name'), 't');
      assert.equal(get(r, 'topicData', 0, 'partitionData', 0, 'index'), 2);
      assert.ok(Buffer.isBuffer(get(r, 'topicData', 0, 'partitionData', 0, 'records')));
    },
  ],
  [
    'Fetch',
    'fetch',
    () => ({
      maxWaitTime: 100,
      minBytes: 1,
      maxBytes: 10485760,
      rackId: 'rack-1',
      topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: '42', maxBytes: 1048576 }] }],
    }),
    (r, v) => {
      assert.equal(r.replicaId, -1);
      assert.equal(r.maxWaitMs, 100);
      assert.equal(get(r, 'topics', 0, 'topic'), 't');
      assert.equal(get(r, 'topics', 0, 'partitions', 0, 'fetchOffset'), 42);
      assert.equal(get(r, 'topics', 0, 'partitions', 0, 'partitionMaxBytes'), 1048576);
      if (v >= 11) assert.equal(r.rackId, 'rack-1');
    },
  ],
  [
    'ListOffsets',
    'listOffsets',
    () => ({ topics: [{ topic: 't', partitions: [{ partition: 1, timestamp: -2 }] }] }),
    (r) => assert.equal(get(r, 'topics', 0, 'partitions', 0, 'timestamp'), -2),
  ],
  [
    'FindCoordinator',
    'findCoordinator',
    () => ({ groupId: 'g1', coordinatorType: 1 }),
    (r) => assert.equal(r.key, 'g1'),
  ],
  [
    'JoinGroup',
    'joinGroup',
    () => ({
      groupId: 'g',
      sessionTimeout: 30000,
      rebalanceTimeout: 60000,
      memberId: '',
      protocolType: 'consumer',
      groupProtocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.from('meta') }],
    }),
    (r) => {
      assert.equal(r.sessionTimeoutMs, 30000);
      assert.deepEqual(r.protocols, [{ name: 'RoundRobinAssigner', metadata: Buffer.from('meta') }]);
    },
  ],
  [
    'SyncGroup',
    'syncGroup',
    () => ({
      groupId: 'g',
      generationId: 3,
      memberId: 'm',
      groupAssignment: [{ memberId: 'm', memberAssignment: Buffer.from('assign') }],
    }),
    (r) => assert.deepEqual(r.assignments, [{ memberId: 'm', assignment: Buffer.from('assign') }]),
  ],
  [
    'Heartbeat',
    'heartbeat',
    () => ({ groupId: 'g', groupGenerationId: 7, memberId: 'm' }),
    (r) => assert.equal(r.generationId, 7),
  ],
  [
    'LeaveGroup',
    'leaveGroup',
    () => ({ groupId: 'g', memberId: 'm' }),
    (r, v) => (v < 3 ? assert.equal(r.memberId, 'm') : assert.equal(get(r, 'members', 0, 'memberId'), 'm')),
  ],
  [
    'OffsetCommit',
    'offsetCommit',
    () => ({
      groupId: 'g',
      groupGenerationId: 1,
      memberId: 'm',
      topics: [{ topic: 't', partitions: [{ partition: 0, offset: '17' }] }],
    }),
    (r) => assert.equal(get(r, 'topics', 0, 'partitions', 0, 'committedOffset'), 17),
  ],
  [
    'OffsetFetch',
    'offsetFetch',
    () => ({ groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 3 }] }] }),
    (r) => assert.deepEqual(get(r, 'topics', 0, 'partitionIndexes'), [3]),
  ],
  [
    'CreateTopics',
    'createTopics',
    () => ({
      topics: [
        {
          topic: 't',
          numPartitions: 3,
          replicationFactor: 1,
          replicaAssignment: [],
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
      timeout: 5000,
      validateOnly: false,
    }),
    (r) => {
      assert.equal(get(r, 'topics', 0, 'numPartitions'), 3);
      assert.deepEqual(get(r, 'topics', 0, 'configs'), [{ name: 'cleanup.policy', value: 'compact' }]);
    },
  ],
  [
    'DeleteTopics',
    'deleteTopics',
    () => ({ topics: ['t'], timeout: 5000 }),
    (r) => assert.deepEqual(r.topicNames, ['t']),
  ],
  [
    'InitProducerId',
    'initProducerId',
    () => ({ transactionalId: 'tx', transactionTimeout: 5000 }),
    (r) => assert.equal(r.transactionalId, 'tx'),
  ],
  ['ListGroups', 'listGroups', () => ({}), () => {}],
  [
    'DescribeGroups',
    'describeGroups',
    () => ({ groupIds: ['g1', 'g2'] }),
    (r) => assert.deepEqual(r.groups, ['g1', 'g2']),
  ],
  [
    'DescribeConfigs',
    'describeConfigs',
    () => ({ resources: [{ type: 2, name: 't', configNames: ['retention.ms'] }], includeSynonyms: false }),
    (r) => assert.deepEqual(get(r, 'resources', 0, 'configurationKeys'), ['retention.ms']),
  ],
  [
    'AlterConfigs',
    'alterConfigs',
    () => ({ resources: [{ type: 2, name: 't', configEntries: [{ name: 'retention.ms', value: '1000' }] }] }),
    (r) => assert.deepEqual(get(r, 'resources', 0, 'configs'), [{ name: 'retention.ms', value: '1000' }]),
  ],
  [
    'CreatePartitions',
    'createPartitions',
    () => ({ topicPartitions: [{ topic: 't', count: 4, assignments: [[1], [1]] }], timeout: 5000 }),
    (r) => {
      assert.equal(get(r, 'topics', 0, 'count'), 4);
      assert.deepEqual(get(r, 'topics', 0, 'assignments'), [{ brokerIds: [1] }, { brokerIds: [1] }]);
    },
  ],
  [
    'DeleteRecords',
    'deleteRecords',
    () => ({ topics: [{ topic: 't', partitions: [{ partition: 3, offset: '17' }] }], timeout: 5000 }),
    (r) => assert.deepEqual(get(r, 'topics', 0, 'partitions', 0), { partitionIndex: 3, offset: 17 }),
  ],
  [
    'DeleteGroups',
    'deleteGroups',
    () => ['g1', 'g2'] as never,
    (r) => assert.deepEqual(r.groupsNames, ['g1', 'g2']),
  ],
];

function sharedVersions(name: ApiName, dir: string): number[] {
  const api = APIS.get(API_KEYS[name]);
  assert.ok(api);
  const vs = kjs(dir)
    .versions.map(Number)
    .filter((v) => v >= api.minVersion && v <= api.maxVersion);
  assert.ok(vs.length > 0, `kafkajs and we share a version of ${name}`);
  return vs;
}

for (const [name, dir, args, check] of cases) {
  test(`kafkajs ${name} requests decode to what kafkajs was given and re-encode to its bytes`, async () => {
    const api = APIS.get(API_KEYS[name]);
    assert.ok(api);
    for (const v of sharedVersions(name, dir)) {
      const { request } = kjs(dir).protocol({ version: v })(args(v));
      const { buffer } = await createRequest({ correlationId: 99, clientId: 'kafkajs', request });
      assert.equal(buffer.readInt32BE(0), buffer.length - 4);
      const r = new Reader(buffer, 4);
      const prefix = readRequestHeaderPrefix(r);
      assert.deepEqual(prefix, { apiKey: api.key, apiVersion: v, correlationId: 99 });
      assert.equal(readRequestHeaderRest(r, prefix, 1).clientId, 'kafkajs');
      const bodyStart = r.pos;
      const { body: decoded, trailingBytes } = decodeRequestBody(api, v, r);
      assert.equal(trailingBytes, 0, `${name} v${v}: the schema accounts for every byte kafkajs wrote`);
      check(decoded, v);
      const w = new Writer();
      encodeMessage(w, api.request.plan(v), decoded);
      assert.equal(w.toBuffer().toString('hex'), buffer.subarray(bodyStart).toString('hex'), `${name} v${v}`);
    }
  });
}

/** Every scalar in a value, as strings, with how often each appears. */
function leaves(x: unknown, out = new Map<string, number>(), skip = new Set<string>()): Map<string, number> {
  const add = (s: string) => out.set(s, (out.get(s) ?? 0) + 1);
  if (x === null || x === undefined) return out;
  if (Buffer.isBuffer(x)) add(`hex:${x.toString('hex')}`);
  else if (Array.isArray(x)) for (const e of x) leaves(e, out, skip);
  else if (typeof x === 'object') {
    const ctor = (x as object).constructor?.name;
    if (ctor === 'Long') add(String(x));
    else for (const [k, v] of Object.entries(x)) if (!skip.has(k)) leaves(v, out, skip);
  } else add(String(x));
  return out;
}

function zeroErrors(plan: Plan, o: Record<string, unknown>): Record<string, unknown> {
  for (const f of plan.fields) {
    if (f.name === 'errorCode') o[f.name] = 0;
    if (f.kind === 'structArray' && Array.isArray(o[f.name])) {
      for (const e of o[f.name] as Record<string, unknown>[]) zeroErrors(f.struct as Plan, e);
    }
    if (f.kind === 'records' && o[f.name] !== null) o[f.name] = batch;
  }
  return o;
}

for (const [name, dir] of cases) {
  test(`kafkajs decodes our ${name} responses of every shared version`, async () => {
    const api = APIS.get(API_KEYS[name]);
    assert.ok(api);
    for (const v of sharedVersions(name, dir)) {
      const plan = api.response.plan(v);
      const samples = fc.sample(structArb(plan), { numRuns: 20, seed: api.key * 1000 + v });
      for (const sample of samples) {
        const body = zeroErrors(plan, sample);
        const w = new Writer();
        encodeMessage(w, plan, body);
        const { response } = kjs(dir).protocol({ version: v })({ topics: [], groupIds: [], resources: [] });
        const decoded = await response.decode(w.toBuffer());
        const ours = leaves(body, new Map(), new Set(['records']));
        const theirs = leaves(decoded);
        for (const [leaf, n] of ours) {
          assert.ok((theirs.get(leaf) ?? 0) >= n, `${name} v${v}: kafkajs did not decode ${leaf} (x${n})`);
        }
        if (name === 'Fetch') {
          // The stored batch must come out as kafkajs's messages.
          const msgs = JSON.stringify(decoded);
          const hasRecords = (body.responses as { partitions: { records: Buffer | null }[] }[]).some((t) =>
            t.partitions.some((p) => p.records !== null),
          );
          if (hasRecords) assert.match(msgs, /"key":\{"type":"Buffer","data":\[107\]\}/);
        }
      }
    }
  });
}
