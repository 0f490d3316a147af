/**
 * A GrpcServer over an embedded broker's core and groups, for tests of the gRPC door itself (a
 * second door on the same broker, one that is not ready, one left to grpc-js): the options a node
 * passes, with a test's own where it says.
 */
import { GrpcServer, type GrpcServerOptions } from '../../src/api/grpc/server.ts';
import type { RunningBroker } from '../../src/server.ts';

export function grpcServerFor(broker: RunningBroker, overrides: Partial<GrpcServerOptions> = {}): GrpcServer {
  return new GrpcServer({
    core: broker.core,
    groups: broker.groups,
    groupDefaults: { sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 60_000, heartbeatIntervalMs: 3000 },
    self: () => ({ id: 'n-1', nodeId: 1, address: 'x', kafkaPort: 0 }),
    clusterId: 'grpc-server-test',
    isControllerLeader: () => true,
    isReady: () => true,
    logger: broker.logger,
    ...overrides,
  });
}
