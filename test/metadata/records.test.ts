/**
 * The metadata record codec (issue 11): every record type round-trips, and decoding refuses anything
 * malformed with CORRUPT_MESSAGE naming the problem, never a crash or a half-checked record.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isBrokerError } from '../../src/errors.ts';
import { batchBytesMax, recordBytesMax, recordsPerBatchMax } from '../../src/metadata/limits.ts';
import {
  decodeBatch,
  decodeRecord,
  encodeBatch,
  encodeRecord,
  type MetadataRecord,
  splitIntoBatches,
} from '../../src/metadata/records.ts';

const topicId = '6f1c1f36-6b2a-4a57-9f57-1c2d3e4f5a6b';

export const samples: MetadataRecord[] = [
  {
    type: 'RegisterBroker',
    brokerId: 1,
    incarnationId: 'inc-1',
    brokerEpoch: 7,
    listeners: [
      { name: 'grpc', host: '127.0.0.1', port: 8080 },
      { name: 'kafka', host: '127.0.0.1', port: 9092 },
      { name: 'inter-broker', host: '127.0.0.1', port: 9180 },
      { name: 'raft', host: '127.0.0.1', port: 9080 },
    ],
    rack: null,
    controllerEligible: true,
    fenced: true,
    inControlledShutdown: false,
  },
  { type: 'UnregisterBroker', brokerId: 1, brokerEpoch: 7 },
  { type: 'BrokerRegistrationChange', brokerId: 1, brokerEpoch: 7, fenced: false },
  { type: 'BrokerRegistrationChange', brokerId: 1, brokerEpoch: 7, inControlledShutdown: true },
  { type: 'Topic', name: 'orders', topicId },
  {
    type: 'Partition',
    topicId,
    partition: 0,
    replicas: [1, 2, 3],
    isr: [1, 2],
    leader: 1,
    leaderEpoch: 0,
    partitionEpoch: 0,
  },
  { type: 'PartitionChange', topicId, partition: 0, isr: [1] },
  { type: 'PartitionChange', topicId, partition: 0, leader: -1 },
  {
    type: 'PartitionChange',
    topicId,
    partition: 0,
    replicas: [3, 1, 2],
    addingReplicas: [3],
    removingReplicas: [2],
  },
  { type: 'PartitionChange', topicId, partition: 0, addingReplicas: [], removingReplicas: [] },
  { type: 'BrokerRegistrationChange', brokerId: 1, brokerEpoch: 7, decommissioning: true },
  { type: 'RemoveTopic', topicId },
  { type: 'Config', resourceType: 'topic', resourceName: 'orders', key: 'retention.ms', value: '1000' },
  {
    type: 'Config',
    resourceType: 'broker',
    resourceName: '',
    key: 'unclean.leader.election.enable',
    value: null,
  },
  { type: 'ProducerIds', brokerId: 2, brokerEpoch: 9, nextProducerId: 2000 },
];

test('every record type round-trips through its line and through a batch', () => {
  for (const r of samples) assert.deepEqual(decodeRecord(encodeRecord(r)), r);
  // Version 2 only for the records that use its fields: a log without moves stays readable by older nodes.
  const versions = samples.map((r) => JSON.parse(encodeRecord(r)).v);
  assert.deepEqual(
    versions,
    samples.map((r) => ('addingReplicas' in r || 'decommissioning' in r ? 2 : 1)),
  );
  assert.deepEqual(decodeBatch(encodeBatch(samples)), samples);
});

test('decoding refuses malformed records with CORRUPT_MESSAGE naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['not json', /not JSON/],
    ['[]', /not an object/],
    ['{"v":3,"type":"Topic","name":"a","topicId":"x"}', /version 3 is not 1 or 2/],
    [
      `{"v":1,"type":"PartitionChange","topicId":"${topicId}","partition":0,"addingReplicas":[2],"removingReplicas":[]}`,
      /addingReplicas needs record version 2/,
    ],
    [
      `{"v":2,"type":"PartitionChange","topicId":"${topicId}","partition":0,"addingReplicas":[2]}`,
      /come together/,
    ],
    [
      `{"v":2,"type":"PartitionChange","topicId":"${topicId}","partition":0,"replicas":[1,2],"addingReplicas":[2],"removingReplicas":[2]}`,
      /both added and removed/,
    ],
    [
      `{"v":2,"type":"Partition","topicId":"${topicId}","partition":0,"replicas":[1,2],"isr":[1],"leader":1,"leaderEpoch":0,"partitionEpoch":0,"addingReplicas":[3],"removingReplicas":[]}`,
      /reassigned broker 3 is not a replica/,
    ],
    ['{"v":1,"type":"Nope"}', /unknown metadata record type/],
    [`{"v":1,"type":"Topic","name":"a"}`, /topicId is missing/],
    [`{"v":1,"type":"Topic","name":"a","topicId":"${topicId}","extra":1}`, /unknown field "extra"/],
    [`{"v":1,"type":"Topic","name":"a b","topicId":"${topicId}"}`, /may only use/],
    [`{"v":1,"type":"Topic","name":"a","topicId":"NOT-A-UUID"}`, /not a lowercase UUID/],
    [
      `{"v":1,"type":"Partition","topicId":"${topicId}","partition":0,"replicas":[1,1],"isr":[1],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`,
      /names broker 1 twice/,
    ],
    [
      `{"v":1,"type":"Partition","topicId":"${topicId}","partition":-1,"replicas":[1],"isr":[1],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`,
      /partition must be an integer/,
    ],
    [
      `{"v":1,"type":"Partition","topicId":"${topicId}","partition":0,"replicas":[],"isr":[],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`,
      /replicas must be a list of 1/,
    ],
    [
      `{"v":1,"type":"Partition","topicId":"${topicId}","partition":0,"replicas":[1,2],"isr":[1,3],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`,
      /ISR member 3 is not a replica/,
    ],
    [
      `{"v":1,"type":"Partition","topicId":"${topicId}","partition":0,"replicas":[1,2],"isr":[2],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`,
      /leader 1 is not in the ISR/,
    ],
    [
      `{"v":1,"type":"PartitionChange","topicId":"${topicId}","partition":0,"isr":[]}`,
      /isr must be a list of 1/,
    ],
    [
      `{"v":1,"type":"PartitionChange","topicId":"${topicId}","partition":0,"isr":[2],"leader":3}`,
      /leader 3 is not in the ISR/,
    ],
    [`{"v":1,"type":"BrokerRegistrationChange","brokerId":1,"brokerEpoch":1}`, /changes nothing/],
    [
      `{"v":1,"type":"Config","resourceType":"group","resourceName":"g","key":"k","value":"v"}`,
      /not topic or broker/,
    ],
    [
      `{"v":1,"type":"ProducerIds","brokerId":1,"brokerEpoch":1,"nextProducerId":1.5}`,
      /nextProducerId must be an integer/,
    ],
    [
      `{"v":1,"type":"RegisterBroker","brokerId":1,"incarnationId":"i","brokerEpoch":1,"listeners":[{"name":"http","host":"h","port":1}],"rack":null,"controllerEligible":true,"fenced":true,"inControlledShutdown":false}`,
      /listener name "http"/,
    ],
  ];
  for (const [line, message] of cases) {
    assert.throws(
      () => decodeRecord(line),
      (err: unknown) => isBrokerError(err, 'CORRUPT_MESSAGE') && message.test(err.message),
      line,
    );
  }
  assert.throws(() => decodeRecord(' '.repeat(recordBytesMax + 1)), /too long/);
  assert.throws(() => decodeBatch(new Uint8Array([0xff, 0xfe])), /UTF-8/);
  assert.throws(() => decodeBatch(new Uint8Array(0)), /empty batch/);
  // A bad line inside a batch names its position.
  const bytes = new TextEncoder().encode(`${encodeRecord(samples[4])}\n{"v":1}`);
  assert.throws(() => decodeBatch(bytes), /record 1: /);
});

test('encoding an invalid record is a programmer error, not a record in the log', () => {
  assert.throws(
    () => encodeRecord({ type: 'Topic', name: '..', topicId }),
    (err: unknown) => err instanceof assert.AssertionError && /refusing to encode/.test(err.message),
  );
});

test('a one-character change of a valid line is refused with a typed error or decodes to a valid record', () => {
  // Any single-character change of a valid line either is refused with a typed error or decodes to a
  // record that passes validation again: decode never returns a half-checked value.
  const line = encodeRecord(samples[5]);
  fc.assert(
    fc.property(fc.nat(line.length - 1), fc.string({ minLength: 1, maxLength: 1 }), (at, ch) => {
      const mutated = line.slice(0, at) + ch + line.slice(at + 1);
      let decoded: MetadataRecord;
      try {
        decoded = decodeRecord(mutated);
      } catch (err) {
        assert.ok(isBrokerError(err, 'CORRUPT_MESSAGE'), String(err));
        return;
      }
      assert.deepEqual(decodeRecord(encodeRecord(decoded)), decoded);
    }),
    { numRuns: 500 },
  );
});

test('splitIntoBatches keeps order and every batch within the count and byte bounds', () => {
  const many: MetadataRecord[] = Array.from({ length: recordsPerBatchMax * 2 + 7 }, (_, i) => ({
    type: 'Config',
    resourceType: 'broker',
    resourceName: '',
    key: `k${i}`,
    value: 'x'.repeat(i % 3 === 0 ? 300 : 10),
  }));
  const batches = splitIntoBatches(many);
  assert.ok(batches.length >= 3);
  assert.deepEqual(batches.flat(), many);
  for (const b of batches) {
    assert.ok(b.length <= recordsPerBatchMax);
    assert.ok(encodeBatch(b).length <= batchBytesMax);
    assert.deepEqual(decodeBatch(encodeBatch(b)), b);
  }
  assert.deepEqual(splitIntoBatches([]), []);
});
