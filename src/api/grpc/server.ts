/**
 * The gRPC front door: the listener, the health service (grpc.health.v1) and server reflection, so
 * that generic gRPC tools work, and the wrapping every RPC shares (request bounds, readiness, error
 * mapping, latency). The RPCs themselves, which decode a request, call the core and encode the answer,
 * live one file per group: topics.ts, produce.ts, consume.ts, groups.ts and cluster-admin.ts.
 * grpc-js listens and serves ProduceStream and the other services; the Broker service's unary calls
 * and Subscribe are served on the HTTP/2 streams directly (direct-calls.ts), through the same
 * wrapping.
 */
import * as grpc from '@grpc/grpc-js';
import type { BrokerCore } from '../../broker/core.ts';
import type { GroupService } from '../../broker/groups/service.ts';
import { BrokerError } from '../../errors.ts';
import {
  BROKER_SERVICE,
  brokerServiceDefinition,
  clusterServiceDefinition,
  healthServiceDefinition,
} from '../../grpc-proto.ts';
import { clusterHandlers } from './cluster.ts';
import { clusterAdminRpcs } from './cluster-admin.ts';
import {
  consumeRpcs,
  grpcJsSubscribeCall,
  type SubscribeCall,
  type SubscribeRequest,
  subscribe,
} from './consume.ts';
import { type DirectMethod, serveDirectly, type UnaryHandler } from './direct-calls.ts';
import { toGrpcError } from './errors.ts';
import { widenFlowControlWindow } from './flow-control.ts';
import { groupRpcs } from './groups.ts';
import { grpcFlowControlWindowBytes, grpcRequestBytesMax, grpcResponseBytesMax } from './limits.ts';
import { produceRpcs } from './produce.ts';
import { type ProduceStreamCall, type ProduceStreamHandle, produceStream } from './produce-stream.ts';
import { addReflection } from './reflection.ts';
import { RefusedRequest, withRequestBounds } from './request-bounds.ts';
import type { UnaryRpc, UnaryRpcs } from './rpc.ts';
import { topicRpcs } from './topics.ts';

export interface GrpcServerOptions {
  core: BrokerCore;
  groups: GroupService;
  /** Defaults for members that do not say. */
  groupDefaults: { sessionTimeoutMs: number; rebalanceTimeoutMs: number; heartbeatIntervalMs: number };
  /** What GetServers reports for this node: its name, numeric id, gRPC address and Kafka port. */
  self: () => { id: string; nodeId: number; address: string; kafkaPort: number };
  /** The cluster id (meta/meta.properties), which GetServers reports. */
  clusterId: string;
  isControllerLeader: () => boolean;
  isReady: () => boolean;
  /** Observes each call's duration for the request latency histogram. */
  observeRequest?: (method: string, seconds: number, ok: boolean) => void;
  /**
   * Whether the Broker service's unary calls and Subscribe are served on the HTTP/2 streams directly
   * (direct-calls.ts); false leaves every call to grpc-js, the path a grpc-js without the listeners
   * direct-calls.ts takes falls back to. @default true
   */
  serveDirectly?: boolean;
  logger: {
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
    debug(obj: object, msg: string): void;
  };
}

export class GrpcServer {
  readonly server: grpc.Server;
  readonly #opts: GrpcServerOptions;
  /** The Broker service's unary methods and Subscribe by path, served by direct-calls.ts. */
  readonly #direct = new Map<string, DirectMethod>();
  #directServed = false;
  /** Open Subscribe streams and the abort that stops their long polls. */
  #streams = new Map<SubscribeCall, AbortController>();
  /** Open ProduceStream calls, which close() ends once the requests they read are answered. */
  #produceStreams = new Set<ProduceStreamHandle>();
  #healthWatchers = new Set<{
    service: string;
    call: grpc.ServerWritableStream<unknown, unknown>;
    last: string;
  }>();

  constructor(opts: GrpcServerOptions) {
    this.#opts = opts;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': grpcRequestBytesMax,
      'grpc.max_send_message_length': grpcResponseBytesMax,
      // grpc-js's channelz bookkeeping (call counters, a tracker object with four closures and a
      // Date.now() per message, for every call) feeds only a channelz service, which this server does
      // not offer. Without it, at 1,725 ProduceBatch calls a second with a Subscribe tailing (broker
      // pinned, 8 s, three runs each): 749-764 against 774-798 CPU ticks, and about 0.7 KB less
      // allocated a call (V8's sampling heap profiler).
      'grpc.enable_channelz': 0,
    });
    const definition = withRequestBounds(brokerServiceDefinition());
    const handlers = this.#handlers();
    this.server.addService(definition, handlers as unknown as grpc.UntypedServiceImplementation);
    for (const [name, m] of Object.entries(definition)) {
      const codec = {
        deserialize: m.requestDeserialize,
        serialize: m.responseSerialize as (value: unknown) => Buffer,
      };
      if (!m.requestStream && !m.responseStream)
        this.#direct.set(m.path, { ...codec, kind: 'unary', handler: handlers[name] as UnaryHandler });
      else if (name === 'Subscribe')
        this.#direct.set(m.path, {
          ...codec,
          kind: 'serverStream',
          handler: (call) => void this.#subscribe(call as SubscribeCall),
        });
    }
    this.server.addService(healthServiceDefinition(), this.#healthHandlers());
    this.server.addService(
      clusterServiceDefinition(),
      clusterHandlers({ cluster: () => opts.core.cluster, clusterId: opts.clusterId }),
    );
    addReflection(this.server);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(
        `${host.includes(':') ? `[${host}]` : host}:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (err, bound) => {
          if (err) return reject(err);
          if (this.#opts.serveDirectly !== false) {
            this.#directServed = serveDirectly(this.server, this.#direct, {
              receiveBytesMax: grpcRequestBytesMax,
              sendBytesMax: grpcResponseBytesMax,
            });
            if (!this.#directServed)
              this.#opts.logger.warn(
                {},
                "grpc-js keeps its listeners elsewhere: the Broker service's unary calls and Subscribe go through grpc-js",
              );
          }
          if (!widenFlowControlWindow(this.server, grpcFlowControlWindowBytes))
            this.#opts.logger.warn(
              {},
              'grpc-js keeps its listeners elsewhere: the gRPC door runs with HTTP/2 64 KiB flow-control windows',
            );
          resolve(bound);
        },
      );
    });
  }

  /** Whether listen() handed the unary calls and Subscribe to direct-calls.ts (otherwise grpc-js serves them). */
  get direct(): boolean {
    return this.#directServed;
  }

  /** Tells health watchers the serving status changed. */
  notifyHealth(): void {
    for (const w of this.#healthWatchers) {
      const status = this.#healthStatus(w.service);
      if (status !== w.last) {
        w.last = status;
        w.call.write({ status });
      }
    }
  }

  /** Stops accepting calls, ends open streams, and waits (up to `graceMs`) for unary calls in flight. */
  async close(graceMs = 10_000): Promise<void> {
    for (const [s, ac] of this.#streams) {
      ac.abort();
      if (!s.writableEnded) s.end();
    }
    for (const w of this.#healthWatchers) w.call.end();
    for (const p of this.#produceStreams) p.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #healthStatus(service: string): string {
    if (service !== '' && service !== BROKER_SERVICE) return 'SERVICE_UNKNOWN';
    return this.#opts.isReady() ? 'SERVING' : 'NOT_SERVING';
  }

  #healthHandlers(): grpc.UntypedServiceImplementation {
    return {
      Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const status = this.#healthStatus(call.request.service ?? '');
        if (status === 'SERVICE_UNKNOWN')
          cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        else cb(null, { status });
      },
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, unknown>) => {
        const service = call.request.service ?? '';
        const w = {
          service,
          call: call as grpc.ServerWritableStream<unknown, unknown>,
          last: this.#healthStatus(service),
        };
        this.#healthWatchers.add(w);
        call.write({ status: w.last });
        call.on('cancelled', () => this.#healthWatchers.delete(w));
        call.on('close', () => this.#healthWatchers.delete(w));
      },
    };
  }

  #unary(method: string, fn: UnaryRpc) {
    return (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const started = process.hrtime.bigint();
      const done = (ok: boolean) =>
        this.#opts.observeRequest?.(method, Number(process.hrtime.bigint() - started) / 1e9, ok);
      // Over a bound of request-bounds.ts: refused before it was decoded.
      if (call.request instanceof RefusedRequest) {
        cb(toGrpcError(call.request.error));
        done(false);
        return;
      }
      if (!this.#opts.isReady()) {
        cb(toGrpcError(new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is not ready')));
        done(false);
        return;
      }
      Promise.resolve()
        .then(() => fn(call.request as never, call as never))
        .then(
          (res) => {
            cb(null, res);
            done(true);
          },
          (err) => {
            const topic =
              (call.request as { topic?: string; name?: string }).topic ??
              (call.request as { name?: string }).name;
            if (!(err instanceof BrokerError))
              this.#opts.logger.error(
                { method, err: (err as Error)?.stack ?? String(err) },
                'unexpected error in a gRPC call',
              );
            cb(toGrpcError(err, (t) => this.#opts.core.metadata.getTopic(t) !== undefined, topic));
            done(false);
          },
        );
    };
  }

  #handlers() {
    const opts = this.#opts;
    const rpcs: UnaryRpcs = {
      ...topicRpcs(opts),
      ...produceRpcs(opts),
      ...consumeRpcs(opts),
      ...groupRpcs(opts),
      ...clusterAdminRpcs(opts),
    };
    const handlers: Record<string, unknown> = {};
    for (const [method, fn] of Object.entries(rpcs)) handlers[method] = this.#unary(method, fn);
    handlers.Subscribe = (call: grpc.ServerWritableStream<SubscribeRequest, unknown>) => {
      void this.#subscribe(grpcJsSubscribeCall(call));
    };
    handlers.ProduceStream = (call: ProduceStreamCall) => {
      const handle = produceStream(opts, call, rpcs.ProduceBatch);
      this.#produceStreams.add(handle);
      call.on('close', () => this.#produceStreams.delete(handle));
      call.on('cancelled', () => this.#produceStreams.delete(handle));
    };
    return handlers;
  }

  /** A Subscribe stream (consume.ts), registered so that close() can end it. */
  async #subscribe(call: SubscribeCall) {
    const ac = new AbortController();
    this.#streams.set(call, ac);
    call.on('cancelled', () => ac.abort());
    try {
      await subscribe(this.#opts, call, ac.signal);
    } finally {
      this.#streams.delete(call);
    }
  }
}
