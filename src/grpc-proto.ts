/**
 * Loads the broker's .proto files (proto/ at the package root) into gRPC service definitions. Shared by
 * the server and the client: it holds no server code. int64 fields become JS numbers (offsets and
 * timestamps fit in 2^53), bytes become Buffers, and absent optional fields stay undefined.
 *
 * The definitions are built with protobufjs directly, the way @grpc/proto-loader builds them (each
 * message decoded with `toObject(decode(bytes), options)` and encoded with `encode(fromObject(value))`),
 * but without the descriptor protos proto-loader computes for every type: only server reflection reads
 * those, so `reflectionPackageDefinition()` loads proto-loader for them on the first reflection call.
 * Loading proto-loader and its descriptors took about 90 ms of a broker's 600 ms start.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));
export const BROKER_PROTO = 'tsbroker/v1/broker.proto';
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
export const CLUSTER_PROTO = 'tsbroker/v1/cluster.proto';
export const BROKER_SERVICE = 'tsbroker.v1.Broker';
const PROTOS = [BROKER_PROTO, HEALTH_PROTO, CLUSTER_PROTO];

export const loaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: false,
  arrays: true,
  objects: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** How a decoded message becomes a plain object: loaderOptions' conversion part. */
const conversion: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Buffer as unknown as protobuf.IConversionOptions['bytes'],
  defaults: false,
  arrays: true,
  objects: false,
  oneofs: true,
};

function serializer(type: protobuf.Type): grpc.serialize<object> {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot serialize an array as ${type.fullName}`);
    return encode(type, value);
  };
}

function encode(type: protobuf.Type, value: object): Buffer {
  const bytes = type.encode(type.fromObject(value)).finish();
  // protobufjs's writer builds a Buffer under Node: taken as it is, never copied (a produce
  // request is a whole batch).
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The field that carries stored batches in a consume answer (ConsumeBatchResponse, SubscribeResponse). */
const BATCHES_FIELD = 'recordBatches';
/** Below this, a response is encoded whole: the copy saved is not worth an object. */
const framedBytesMin = 4096;

/**
 * A response whose `record_batches` is not copied: direct-calls.ts writes a ConsumeBatch answer or a
 * Subscribe message as its `parts()`; grpc-js, when it serves them (a grpc-js without the listeners
 * direct-calls.ts takes), copies it once, into the frame it sends.
 *
 * Encoded whole, a consume answer's batches were copied twice: by protobufjs into its output, then by
 * grpc-js into a buffer five bytes longer, for the gRPC message prefix (1.35 ms of CPU per MiB, where
 * one copy costs 0.6). The server's `serializeMessage` (grpc-js's server-interceptors.js) uses only
 * the `byteLength` and `copy(target, offset)` of what the serializer returns, so this object, which
 * has both, is written straight into that buffer. That is grpc-js's implementation, not its typed
 * API: a grpc-js that used anything else would fail every raw consume and Subscribe it served, which
 * the tests make (test/grpc/direct-calls.test.ts leaves calls to grpc-js). Only the server serializes
 * responses, so a client never sees one.
 *
 * The other fields are encoded first, by protobufjs, and the batches last: `record_batches` has the
 * highest field number in both messages, so the bytes are exactly what protobufjs writes
 * (test/grpc/proto-definitions.test.ts).
 */
class FramedBatches {
  readonly #head: Buffer;
  readonly #key: Buffer;
  readonly #batches: Buffer;
  readonly byteLength: number;

  constructor(head: Buffer, fieldId: number, batches: Buffer) {
    this.#head = head;
    const key = protobuf.Writer.create();
    key.uint32(((fieldId << 3) | 2) >>> 0).uint32(batches.length);
    this.#key = Buffer.from(key.finish());
    this.#batches = batches;
    this.byteLength = head.length + this.#key.length + batches.length;
  }

  /** Writes the whole message at `offset` of `target`, as Buffer.copy does; returns its length. */
  copy(target: Uint8Array, offset = 0): number {
    let at = offset + this.#head.copy(target, offset);
    at += this.#key.copy(target, at);
    this.#batches.copy(target, at);
    return this.byteLength;
  }

  /** The message as the buffers it is made of, in order: none copied. */
  parts(): Buffer[] {
    return [this.#head, this.#key, this.#batches];
  }
}

/** The message as one Buffer, whatever a serializer returned (a FramedBatches or a Buffer). */
export function serializedBytes(message: Buffer): Buffer {
  if (Buffer.isBuffer(message)) return message;
  const framed = message as unknown as FramedBatches;
  const out = Buffer.allocUnsafe(framed.byteLength);
  framed.copy(out, 0);
  return out;
}

/** The message as the buffers it is made of, whatever a serializer returned; nothing is copied. */
export function serializedParts(message: Buffer): Buffer[] {
  return Buffer.isBuffer(message) ? [message] : (message as unknown as FramedBatches).parts();
}

function responseSerializer(type: protobuf.Type): grpc.serialize<object> {
  const field = type.fields[BATCHES_FIELD];
  if (
    field === undefined ||
    field.type !== 'bytes' ||
    field.repeated ||
    type.fieldsArray.some((f) => f.id > field.id)
  )
    return serializer(type);
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot serialize an array as ${type.fullName}`);
    const batches = (value as Record<string, unknown>)[BATCHES_FIELD];
    if (!Buffer.isBuffer(batches) || batches.length < framedBytesMin) return encode(type, value);
    const head = encode(type, { ...value, [BATCHES_FIELD]: undefined });
    return new FramedBatches(head, field.id, batches) as unknown as Buffer;
  };
}

function deserializer(
  type: protobuf.Type,
  conversion: protobuf.IConversionOptions,
): grpc.deserialize<object> {
  return (bytes) => type.toObject(type.decode(bytes), conversion);
}

/** lodash.camelCase of a method name, as proto-loader names a client's methods. */
function camelCase(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/**
 * The services of a set of .proto files, parsed on first use (field names in camelCase), each
 * service's definition built once.
 */
export class ProtoServices {
  readonly #files: string[];
  readonly #dir: string;
  readonly #conversion: protobuf.IConversionOptions;
  #root: protobuf.Root | null = null;
  readonly #definitions = new Map<string, grpc.ServiceDefinition>();
  readonly #clients = new Map<string, grpc.ServiceClientConstructor>();

  /** `files` are relative to `dir`, as are the imports in them. */
  constructor(dir: string, files: string[], conversion: protobuf.IConversionOptions) {
    this.#dir = dir;
    this.#files = files;
    this.#conversion = conversion;
  }

  #load(): protobuf.Root {
    if (this.#root === null) {
      const root = new protobuf.Root();
      root.resolvePath = (_origin, target) =>
        path.isAbsolute(target) ? target : path.join(this.#dir, target);
      root.loadSync(this.#files, { keepCase: false });
      root.resolveAll();
      this.#root = root;
    }
    return this.#root;
  }

  /** The gRPC definition of a service named by its full name, e.g. `tsbroker.v1.Broker`. */
  definition(fullName: string): grpc.ServiceDefinition {
    let def = this.#definitions.get(fullName);
    if (def === undefined) {
      const service = this.#load().lookupService(fullName);
      const methods: Record<string, grpc.MethodDefinition<object, object>> = {};
      for (const m of service.methodsArray) {
        const request = m.resolvedRequestType;
        const response = m.resolvedResponseType;
        if (request === null || response === null) throw new Error(`${fullName}.${m.name} is not resolved`);
        methods[m.name] = {
          path: `/${fullName}/${m.name}`,
          requestStream: m.requestStream === true,
          responseStream: m.responseStream === true,
          requestSerialize: serializer(request),
          requestDeserialize: deserializer(request, this.#conversion),
          responseSerialize: responseSerializer(response),
          responseDeserialize: deserializer(response, this.#conversion),
          originalName: camelCase(m.name),
        };
      }
      def = methods as grpc.ServiceDefinition;
      this.#definitions.set(fullName, def);
    }
    return def;
  }

  /** A client constructor for a service named by its full name. */
  client(fullName: string): grpc.ServiceClientConstructor {
    let ctor = this.#clients.get(fullName);
    if (ctor === undefined) {
      ctor = grpc.makeGenericClientConstructor(this.definition(fullName), fullName);
      this.#clients.set(fullName, ctor);
    }
    return ctor;
  }
}

const brokerProtos = new ProtoServices(PROTO_DIR, PROTOS, conversion);

export function brokerServiceDefinition(): grpc.ServiceDefinition {
  return brokerProtos.definition(BROKER_SERVICE);
}

export function brokerClientConstructor(): grpc.ServiceClientConstructor {
  return brokerProtos.client(BROKER_SERVICE);
}

/** The service nodes of one cluster call each other on (proto/tsbroker/v1/cluster.proto). */
export function clusterClientConstructor(): grpc.ServiceClientConstructor {
  return brokerProtos.client('tsbroker.v1.Cluster');
}

export function clusterServiceDefinition(): grpc.ServiceDefinition {
  return brokerProtos.definition('tsbroker.v1.Cluster');
}

export function healthServiceDefinition(): grpc.ServiceDefinition {
  return brokerProtos.definition('grpc.health.v1.Health');
}

export function healthClientConstructor(): grpc.ServiceClientConstructor {
  return brokerProtos.client('grpc.health.v1.Health');
}

const require = createRequire(import.meta.url);
let reflectionDefinition: protoLoader.PackageDefinition | null = null;

/** proto-loader's package definition of every file, descriptors included, for server reflection. */
export function reflectionPackageDefinition(): protoLoader.PackageDefinition {
  if (reflectionDefinition === null) {
    const loader = require('@grpc/proto-loader') as typeof protoLoader;
    reflectionDefinition = loader.loadSync(PROTOS, loaderOptions);
  }
  return reflectionDefinition;
}
