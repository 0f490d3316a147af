/**
 * Loads the broker's .proto files (proto/ at the package root) into gRPC service definitions. Shared by
 * the server and the client: it holds no server code. int64 fields become JS numbers (offsets and
 * timestamps fit in 2^53), bytes become Buffers, and absent optional fields stay undefined.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));
export const BROKER_PROTO = 'tsbroker/v1/broker.proto';
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
export const CLUSTER_PROTO = 'tsbroker/v1/cluster.proto';
export const BROKER_SERVICE = 'tsbroker.v1.Broker';

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

let cached: { definition: protoLoader.PackageDefinition; loaded: grpc.GrpcObject } | null = null;

export function loadProtos(): { definition: protoLoader.PackageDefinition; loaded: grpc.GrpcObject } {
  if (!cached) {
    const definition = protoLoader.loadSync([BROKER_PROTO, HEALTH_PROTO, CLUSTER_PROTO], loaderOptions);
    cached = { definition, loaded: grpc.loadPackageDefinition(definition) };
  }
  return cached;
}

export function brokerServiceDefinition(): grpc.ServiceDefinition {
  const { loaded } = loadProtos();
  const pkg = (loaded.tsbroker as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return (pkg.Broker as grpc.ServiceClientConstructor).service;
}

export function brokerClientConstructor(): grpc.ServiceClientConstructor {
  const { loaded } = loadProtos();
  return ((loaded.tsbroker as grpc.GrpcObject).v1 as grpc.GrpcObject).Broker as grpc.ServiceClientConstructor;
}

/** The service nodes of one cluster call each other on (proto/tsbroker/v1/cluster.proto). */
export function clusterClientConstructor(): grpc.ServiceClientConstructor {
  const { loaded } = loadProtos();
  return ((loaded.tsbroker as grpc.GrpcObject).v1 as grpc.GrpcObject)
    .Cluster as grpc.ServiceClientConstructor;
}

export function clusterServiceDefinition(): grpc.ServiceDefinition {
  return clusterClientConstructor().service;
}

export function healthServiceDefinition(): grpc.ServiceDefinition {
  const { loaded } = loadProtos();
  const pkg = ((loaded.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return (pkg.Health as grpc.ServiceClientConstructor).service;
}
