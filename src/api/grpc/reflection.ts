/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha), built on the first reflection call rather
 * than at start. `@grpc/reflection` indexes every file descriptor of the package definition when it is
 * constructed, which took about 70 ms of the broker's 600 ms start; almost no broker is ever asked.
 * The two services are registered at start, from the reflection package's own .proto files, so a
 * `grpcurl list` sent the moment the broker is ready is answered like any later one.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ProtoServices, reflectionPackageDefinition } from '../../grpc-proto.ts';

const require = createRequire(import.meta.url);

const VERSIONS = ['v1', 'v1alpha'] as const;

type ReflectionHandler = grpc.handleBidiStreamingCall<unknown, unknown>;

export function addReflection(server: grpc.Server): void {
  let handlers: Map<string, ReflectionHandler> | null = null;
  const handlerFor = (methodPath: string): ReflectionHandler => {
    if (handlers === null) {
      const built = new Map<string, ReflectionHandler>();
      const { ReflectionService } = require('@grpc/reflection') as typeof import('@grpc/reflection');
      // The package registers its handlers through addService: catch them by method path.
      const catcher = {
        addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation) {
          for (const [name, method] of Object.entries(service))
            built.set(method.path, impl[name] as ReflectionHandler);
        },
      };
      new ReflectionService(reflectionPackageDefinition()).addToServer(catcher as unknown as grpc.Server);
      handlers = built;
    }
    const handler = handlers.get(methodPath);
    if (handler === undefined) throw new Error(`@grpc/reflection registered no handler for ${methodPath}`);
    return handler;
  };

  const dir = path.join(path.dirname(require.resolve('@grpc/reflection')), '../proto');
  // The package's own message shape (its PROTO_LOADER_OPTS): its handlers read and write that.
  const protos = new ProtoServices(
    dir,
    VERSIONS.map((v) => `grpc/reflection/${v}/reflection.proto`),
    { longs: String, enums: String, bytes: Array, defaults: true, oneofs: true },
  );
  for (const version of VERSIONS) {
    const service = protos.definition(`grpc.reflection.${version}.ServerReflection`);
    const methodPath = service.ServerReflectionInfo?.path;
    if (methodPath === undefined) throw new Error(`no ServerReflectionInfo method in reflection ${version}`);
    server.addService(service, {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        let handler: ReflectionHandler;
        try {
          handler = handlerFor(methodPath);
        } catch (err) {
          // A reflection package that cannot index the protos fails this call, never the broker.
          call.emit('error', { code: grpcStatus.INTERNAL, details: `reflection: ${(err as Error).message}` });
          return;
        }
        handler(call);
      },
    });
  }
}
