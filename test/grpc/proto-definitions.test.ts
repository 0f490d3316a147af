/**
 * The gRPC definitions src/grpc-proto.ts builds with protobufjs behave as @grpc/proto-loader's, which
 * the broker used before and which server reflection still uses: the same methods, paths, streaming
 * flags and client method names, and for every message of every method the same bytes and the same
 * decoded objects, for a value with every field of its type set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import {
  BROKER_PROTO,
  brokerServiceDefinition,
  CLUSTER_PROTO,
  clusterServiceDefinition,
  HEALTH_PROTO,
  healthServiceDefinition,
  loaderOptions,
  PROTO_DIR,
  serializedBytes,
} from '../../src/grpc-proto.ts';

const theirs = protoLoader.loadSync([BROKER_PROTO, HEALTH_PROTO, CLUSTER_PROTO], loaderOptions);

const root = new protobuf.Root();
root.resolvePath = (_o, target) => (target.startsWith('/') ? target : PROTO_DIR + target);
root.loadSync([BROKER_PROTO, HEALTH_PROTO, CLUSTER_PROTO], { keepCase: false });
root.resolveAll();

/** A value of `type` with every field set (messages nested to `depth`), two of each repeated. */
function filled(type: protobuf.Type, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const seenOneof = new Set<string>();
  for (const field of type.fieldsArray) {
    // Only one member of a oneof can be set; the first, so that each oneof is exercised.
    if (field.partOf && !field.partOf.name.startsWith('_')) {
      if (seenOneof.has(field.partOf.name)) continue;
      seenOneof.add(field.partOf.name);
    }
    field.resolve();
    const one = (): unknown => {
      if (field.resolvedType instanceof protobuf.Enum) {
        const names = Object.keys(field.resolvedType.values);
        return names[names.length - 1];
      }
      if (field.resolvedType instanceof protobuf.Type)
        return depth > 0 ? filled(field.resolvedType, depth - 1) : {};
      switch (field.type) {
        case 'string':
          return `v-${field.name}`;
        case 'bytes':
          return Buffer.from([1, 2, 3, field.id & 0xff]);
        case 'bool':
          return true;
        case 'double':
        case 'float':
          return 1.5;
        case 'int64':
        case 'sint64':
        case 'sfixed64':
          return -1_234_567_890_123;
        case 'uint64':
        case 'fixed64':
          return 1_234_567_890_123;
        default:
          return field.type.startsWith('u') || field.type.startsWith('fixed') ? 7 : -7;
      }
    };
    if (field.map) out[field.name] = { k1: one(), k2: one() };
    else out[field.name] = field.repeated ? [one(), one()] : one();
  }
  return out;
}

const ours: [string, grpc.ServiceDefinition][] = [
  ['tsbroker.v1.Broker', brokerServiceDefinition()],
  ['tsbroker.v1.Cluster', clusterServiceDefinition()],
  ['grpc.health.v1.Health', healthServiceDefinition()],
];

test('each service: the methods, paths, streaming flags and client names of proto-loader', () => {
  for (const [name, def] of ours) {
    const other = theirs[name] as protoLoader.ServiceDefinition;
    assert.deepEqual(Object.keys(def).sort(), Object.keys(other).sort(), name);
    for (const [method, m] of Object.entries(def)) {
      const o = other[method];
      assert.ok(o);
      assert.equal(m.path, o.path);
      assert.equal(m.requestStream, o.requestStream, m.path);
      assert.equal(m.responseStream, o.responseStream, m.path);
      assert.equal(m.originalName, o.originalName, m.path);
    }
  }
});

test('every request and response message: the same bytes and the same decoded object', () => {
  let checked = 0;
  for (const [name, def] of ours) {
    const other = theirs[name] as protoLoader.ServiceDefinition;
    const service = root.lookupService(name);
    for (const m of service.methodsArray) {
      const mine = def[m.name];
      const o = other[m.name];
      assert.ok(mine && o);
      for (const [type, ser, oser, de, ode] of [
        [
          m.resolvedRequestType,
          mine.requestSerialize,
          o.requestSerialize,
          mine.requestDeserialize,
          o.requestDeserialize,
        ],
        [
          m.resolvedResponseType,
          mine.responseSerialize,
          o.responseSerialize,
          mine.responseDeserialize,
          o.responseDeserialize,
        ],
      ] as const) {
        assert.ok(type);
        for (const value of [{}, filled(type, 3)]) {
          const bytes = serializedBytes(ser(value));
          assert.deepEqual(bytes, oser(value), `${m.name} ${type.name}: bytes`);
          assert.deepEqual(de(bytes), ode(bytes), `${m.name} ${type.name}: decoded`);
          checked++;
        }
        assert.throws(() => ser([] as unknown as object), /array/);
      }
    }
  }
  assert.ok(checked > 50, `${checked} messages checked`);
});

test('a consume answer with large record_batches: copied once into the gRPC frame, the same bytes', () => {
  const mine = brokerServiceDefinition();
  const other = theirs['tsbroker.v1.Broker'] as protoLoader.ServiceDefinition;
  const batches = Buffer.alloc(100_000);
  for (let i = 0; i < batches.length; i++) batches[i] = (i * 31) & 0xff;
  for (const method of ['ConsumeBatch', 'Subscribe']) {
    for (const value of [
      { recordBatches: batches, nextOffset: 2 ** 40 + 3, highWatermark: 2 ** 41, logStartOffset: 7 },
      { recordBatches: batches },
    ]) {
      const out = mine[method].responseSerialize(value);
      // Not a Buffer: grpc-js's server copies it into its frame, after the 5-byte message prefix.
      assert.equal(Buffer.isBuffer(out), false, method);
      const frame = Buffer.alloc(out.byteLength + 5, 0xee);
      assert.equal(out.copy(frame, 5), out.byteLength);
      const expected = other[method].responseSerialize(value);
      assert.deepEqual(frame.subarray(5), expected, `${method}: bytes`);
      assert.deepEqual(frame.subarray(0, 5), Buffer.alloc(5, 0xee), `${method}: nothing written before`);
      assert.deepEqual(serializedBytes(out), expected);
      assert.deepEqual(
        mine[method].responseDeserialize(serializedBytes(out)),
        other[method].responseDeserialize(expected),
      );
    }
    // Small batches are encoded whole, as any other message.
    const small = { recordBatches: Buffer.from('tiny'), nextOffset: 1 };
    assert.deepEqual(mine[method].responseSerialize(small), other[method].responseSerialize(small));
  }
});
