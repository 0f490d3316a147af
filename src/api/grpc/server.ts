/**
 * The gRPC front door: decodes a request, calls the core, encodes the answer. Also serves the standard
 * health service (grpc.health.v1) and server reflection, so that generic gRPC tools work.
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { BrokerCore, TopicDescription } from '../../broker/core.ts';
import {
  assignedPartitions,
  decodeServerAssignment,
  encodeSubscription,
  SERVER_ASSIGNED,
} from '../../broker/groups/coordinator.ts';
import type { GroupService } from '../../broker/groups/service.ts';
import type { TopicMetadata } from '../../broker/metadata.ts';
import { BrokerError } from '../../errors.ts';
import {
  BROKER_SERVICE,
  brokerServiceDefinition,
  healthServiceDefinition,
  loadProtos,
} from '../../grpc-proto.ts';
import type { DecodedRecord, RecordInput } from '../../records/batch.ts';
import { toGrpcError } from './errors.ts';
import { grpcRequestBytesMax, grpcResponseBytesMax } from './limits.ts';
import { RefusedRequest, withRequestBounds } from './request-bounds.ts';

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
  logger: {
    warn(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
    debug(obj: object, msg: string): void;
  };
}

interface WireHeader {
  key?: string;
  value?: Buffer;
}
interface WireRecord {
  key?: Buffer;
  value?: Buffer;
  headers?: WireHeader[];
  timestampMs?: number;
}

function toRecordInput(r: WireRecord | undefined): RecordInput {
  if (!r) throw new BrokerError('INVALID_REQUEST', 'record is missing');
  return {
    key: r.key ?? null,
    value: r.value ?? null,
    headers: (r.headers ?? []).map((h) => ({ key: h.key ?? '', value: h.value ?? null })),
    timestamp: r.timestampMs ? Number(r.timestampMs) : undefined,
  };
}

function toWireRecord(r: DecodedRecord, partition: number) {
  return {
    offset: r.offset,
    partition,
    key: r.key ?? undefined,
    value: r.value ?? undefined,
    headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? undefined })),
    timestampMs: r.timestamp,
  };
}

function topicInfo(t: TopicMetadata, d?: TopicDescription) {
  return {
    name: t.name,
    id: t.id,
    partitions: t.partitions,
    replicationFactor: t.replicationFactor,
    configs: d
      ? Object.fromEntries(
          Object.entries(d.configs).map(([k, v]) => [k, { value: v.value, isDefault: v.isDefault }]),
        )
      : {},
    partitionInfo: (d?.partitions ?? []).map((p) => ({ ...p })),
  };
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new BrokerError('INVALID_REQUEST', `${what} must not be empty`);
  return value;
}

function int(value: unknown, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new BrokerError('INVALID_REQUEST', `${what} must be between ${min} and ${max}, got ${value}`);
  return n;
}

function acksOf(value: unknown): 0 | 1 | -1 {
  if (value === undefined || value === null) return -1;
  const n = Number(value);
  if (n !== 0 && n !== 1 && n !== -1)
    throw new BrokerError('INVALID_REQUIRED_ACKS', `acks must be 0, 1 or -1, got ${value}`);
  return n;
}

export class GrpcServer {
  readonly server: grpc.Server;
  readonly #opts: GrpcServerOptions;
  /** Open Subscribe streams and the abort that stops their long polls. */
  #streams = new Map<grpc.ServerWritableStream<unknown, unknown>, AbortController>();
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
    });
    this.server.addService(
      withRequestBounds(brokerServiceDefinition()),
      this.#handlers() as unknown as grpc.UntypedServiceImplementation,
    );
    this.server.addService(healthServiceDefinition(), this.#healthHandlers());
    new ReflectionService(loadProtos().definition).addToServer(this.server);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(
        `${host.includes(':') ? `[${host}]` : host}:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (err, bound) => (err ? reject(err) : resolve(bound)),
      );
    });
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

  #unary<Req>(
    method: string,
    fn: (req: Req, call: grpc.ServerUnaryCall<Req, unknown>) => Promise<unknown> | unknown,
  ) {
    return (call: grpc.ServerUnaryCall<Req, unknown>, cb: grpc.sendUnaryData<unknown>) => {
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
        .then(() => fn(call.request, call))
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
    const core = this.#opts.core;
    const signalOf = (call: { on(event: 'cancelled', fn: () => void): unknown }) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      return ac.signal;
    };
    return {
      CreateTopic: this.#unary(
        'CreateTopic',
        async (req: {
          name?: string;
          partitions?: number;
          replicationFactor?: number;
          configs?: Record<string, string>;
        }) => {
          const t = await core.createTopic({
            name: requireString(req.name, 'name'),
            partitions: req.partitions ? int(req.partitions, 'partitions', 1, 1_000_000, 1) : undefined,
            replicationFactor: req.replicationFactor ? req.replicationFactor : undefined,
            configs: req.configs ?? {},
          });
          return { topic: topicInfo(t, core.describeTopic(t.name)) };
        },
      ),
      DeleteTopic: this.#unary('DeleteTopic', async (req: { name?: string }) => {
        await core.deleteTopic(requireString(req.name, 'name'));
        return {};
      }),
      ListTopics: this.#unary('ListTopics', () => ({ topics: core.listTopics().map((t) => topicInfo(t)) })),
      DescribeTopic: this.#unary('DescribeTopic', (req: { name?: string }) => {
        const name = requireString(req.name, 'name');
        const d = core.describeTopic(name);
        return { topic: topicInfo(core.metadata.getTopic(name)!, d) };
      }),
      Produce: this.#unary(
        'Produce',
        async (req: {
          topic?: string;
          partition?: number;
          record?: WireRecord;
          acks?: number;
          timeoutMs?: number;
        }) => {
          const [r] = await core.produceRecords(
            requireString(req.topic, 'topic'),
            [toRecordInput(req.record)],
            {
              partition: req.partition,
              acks: acksOf(req.acks),
              timeoutMs: req.timeoutMs || undefined,
            },
          );
          return { partition: r.partition, offset: r.baseOffset };
        },
      ),
      ProduceBatch: this.#unary(
        'ProduceBatch',
        async (req: {
          topic?: string;
          partition?: number;
          records?: WireRecord[];
          recordBatch?: Buffer;
          acks?: number;
          timeoutMs?: number;
        }) => {
          const topic = requireString(req.topic, 'topic');
          const opts = { acks: acksOf(req.acks), timeoutMs: req.timeoutMs || undefined };
          if (req.recordBatch && req.recordBatch.length > 0) {
            if ((req.records ?? []).length > 0)
              throw new BrokerError('INVALID_REQUEST', 'send records or record_batch, not both');
            if (req.partition === undefined)
              throw new BrokerError('INVALID_REQUEST', 'record_batch needs a partition');
            const r = await core.produce(topic, req.partition, req.recordBatch, opts);
            const count = r.baseOffset < 0 ? 0 : r.lastOffset - r.baseOffset + 1;
            return {
              partition: r.partition,
              baseOffset: r.baseOffset,
              count,
              results: [{ partition: r.partition, baseOffset: r.baseOffset, count }],
            };
          }
          const results = await core.produceRecords(topic, (req.records ?? []).map(toRecordInput), {
            ...opts,
            partition: req.partition,
          });
          const single = results.length === 1 ? results[0] : undefined;
          return {
            partition: single?.partition ?? -1,
            baseOffset: single?.baseOffset ?? -1,
            count: results.reduce((n, r) => n + r.count, 0),
            results: results.map((r) => ({
              partition: r.partition,
              baseOffset: r.baseOffset,
              count: r.count,
            })),
          };
        },
      ),
      Consume: this.#unary(
        'Consume',
        async (req: { topic?: string; partition?: number; offset?: number }) => {
          const topic = requireString(req.topic, 'topic');
          const partition = req.partition ?? 0;
          const offset = int(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
          const r = await core.fetchRecords(topic, partition, offset, { maxRecords: 1 });
          if (r.records.length === 0) {
            throw new BrokerError(
              'OFFSET_OUT_OF_RANGE',
              `no record at or after offset ${offset} yet (high watermark ${r.highWatermark})`,
            );
          }
          return { record: toWireRecord(r.records[0], partition), highWatermark: r.highWatermark };
        },
      ),
      ConsumeBatch: this.#unary(
        'ConsumeBatch',
        async (
          req: {
            topic?: string;
            partition?: number;
            offset?: number;
            maxRecords?: number;
            maxBytes?: number;
            maxWaitMs?: number;
            raw?: boolean;
          },
          call,
        ) => {
          const topic = requireString(req.topic, 'topic');
          const partition = req.partition ?? 0;
          const offset = int(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
          const opts = {
            maxBytes: int(req.maxBytes || undefined, 'max_bytes', 1, 64 * 1024 * 1024, 1024 * 1024),
            maxWaitMs: int(req.maxWaitMs, 'max_wait_ms', 0, 300_000, 0),
            signal: signalOf(call),
          };
          if (req.raw) {
            const r = await core.fetch(topic, partition, offset, opts);
            return {
              recordBatches: r.bytes,
              nextOffset: r.nextOffset,
              highWatermark: r.highWatermark,
              logStartOffset: r.logStartOffset,
            };
          }
          const r = await core.fetchRecords(topic, partition, offset, {
            ...opts,
            maxRecords: req.maxRecords || undefined,
          });
          return {
            records: r.records.map((rec) => toWireRecord(rec, partition)),
            nextOffset: r.nextOffset,
            highWatermark: r.highWatermark,
            logStartOffset: r.logStartOffset,
          };
        },
      ),
      Subscribe: (
        call: grpc.ServerWritableStream<
          { topic?: string; partition?: number; offset?: number; maxBytes?: number; raw?: boolean },
          unknown
        >,
      ) => {
        void this.#subscribe(call);
      },
      AlterTopicConfigs: this.#unary(
        'AlterTopicConfigs',
        async (req: { name?: string; configs?: Record<string, string> }) => {
          const name = requireString(req.name, 'name');
          const t = await core.alterTopicConfigs(name, req.configs ?? {});
          return { topic: topicInfo(t, core.describeTopic(name)) };
        },
      ),
      JoinConsumerGroup: this.#unary(
        'JoinConsumerGroup',
        async (
          req: {
            groupId?: string;
            memberId?: string;
            topics?: string[];
            strategies?: string[];
            sessionTimeoutMs?: number;
            rebalanceTimeoutMs?: number;
            clientId?: string;
            groupInstanceId?: string;
          },
          call,
        ) => {
          const topics = req.topics ?? [];
          if (topics.length === 0)
            throw new BrokerError('INVALID_REQUEST', 'a member must subscribe to at least one topic');
          for (const t of topics) core.partitionCount(t);
          const strategies = req.strategies?.length ? req.strategies : ['range'];
          const d = this.#opts.groupDefaults;
          const r = await this.#opts.groups.join({
            groupId: req.groupId ?? '',
            memberId: req.memberId ?? '',
            groupInstanceId: req.groupInstanceId || null,
            clientId: req.clientId ?? '',
            clientHost: call.getPeer(),
            protocolType: SERVER_ASSIGNED,
            protocols: strategies.map((name) => ({ name, metadata: encodeSubscription(topics) })),
            sessionTimeoutMs: req.sessionTimeoutMs || d.sessionTimeoutMs,
            rebalanceTimeoutMs: req.rebalanceTimeoutMs || d.rebalanceTimeoutMs,
            requireKnownMemberId: false,
          });
          return {
            memberId: r.memberId,
            generationId: r.generationId,
            leaderId: r.leaderId,
            strategy: r.protocolName,
            assignments: decodeServerAssignment(r.assignment ?? Buffer.alloc(0)),
            // A third of the member's session, at most, so that two lost heartbeats do not end it.
            heartbeatIntervalMs: Math.min(
              d.heartbeatIntervalMs,
              Math.floor((req.sessionTimeoutMs || d.sessionTimeoutMs) / 3),
            ),
          };
        },
      ),
      Heartbeat: this.#unary(
        'Heartbeat',
        (req: { groupId?: string; memberId?: string; generationId?: number }) => {
          try {
            this.#opts.groups.heartbeat(req.groupId ?? '', req.memberId ?? '', req.generationId ?? 0);
            return { rebalanceNeeded: false };
          } catch (err) {
            const code = (err as BrokerError).code;
            if (code === 'REBALANCE_IN_PROGRESS' || code === 'ILLEGAL_GENERATION')
              return { rebalanceNeeded: true };
            throw err;
          }
        },
      ),
      LeaveGroup: this.#unary('LeaveGroup', (req: { groupId?: string; memberId?: string }) => {
        const [err] = this.#opts.groups.leave(requireString(req.groupId, 'group_id'), [
          { memberId: requireString(req.memberId, 'member_id') },
        ]);
        if (err) throw err;
        return {};
      }),
      CommitOffset: this.#unary(
        'CommitOffset',
        async (req: {
          groupId?: string;
          memberId?: string;
          generationId?: number;
          offsets?: { topic?: string; partition?: number; offset?: number; metadata?: string }[];
        }) => {
          const offsets = (req.offsets ?? []).map((o) => ({
            topic: o.topic ?? '',
            partition: o.partition ?? 0,
            offset: o.offset ?? 0,
            metadata: o.metadata ?? '',
          }));
          const results = await this.#opts.groups.commit(
            requireString(req.groupId, 'group_id'),
            req.memberId ?? '',
            req.generationId ?? -1,
            offsets,
          );
          return { results: offsets.map((o, i) => ({ ...o, error: results[i]?.code ?? '' })) };
        },
      ),
      FetchOffset: this.#unary(
        'FetchOffset',
        (req: { groupId?: string; partitions?: { topic?: string; partitions?: number[] }[] }) => {
          const groupId = requireString(req.groupId, 'group_id');
          const wanted = (req.partitions ?? []).flatMap((t) =>
            (t.partitions ?? []).map((partition) => ({ topic: t.topic ?? '', partition })),
          );
          const found = this.#opts.groups.fetchOffsets(groupId, wanted.length ? wanted : undefined);
          return {
            offsets: found.map((o) => ({
              topic: o.topic,
              partition: o.partition,
              offset: o.value?.offset ?? -1,
              metadata: o.value?.metadata ?? '',
            })),
          };
        },
      ),
      ListGroups: this.#unary('ListGroups', () => ({
        groups: this.#opts.groups.coordinator
          .groupIds()
          .map((id) => this.#opts.groups.coordinator.snapshot(id)!)
          .map((g) => ({
            groupId: g.groupId,
            state: g.state,
            protocolType: g.protocolType ?? '',
            members: g.members.length,
          })),
      })),
      DescribeGroup: this.#unary('DescribeGroup', (req: { groupId?: string }) => {
        const groupId = requireString(req.groupId, 'group_id');
        const g = this.#opts.groups.coordinator.snapshot(groupId);
        if (!g) throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
        return {
          groupId,
          state: g.state,
          protocolType: g.protocolType ?? '',
          strategy: g.protocolName ?? '',
          generationId: g.generationId,
          leaderId: g.leaderId ?? '',
          members: g.members.map((m) => ({
            memberId: m.memberId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            assignments: assignedPartitions(g.protocolType, m.assignment),
          })),
          offsets: this.#opts.groups.lag(groupId).map((l) => ({
            topic: l.topic,
            partition: l.partition,
            committedOffset: l.committed,
            logEndOffset: l.logEndOffset,
            lag: l.lag,
          })),
        };
      }),
      InitProducerId: this.#unary(
        'InitProducerId',
        async (req: { transactionalId?: string; producerId?: number; producerEpoch?: number }) => {
          if (req.transactionalId)
            throw new BrokerError(
              'INVALID_REQUEST',
              'transactions are not supported; leave transactional_id empty',
            );
          const hasExisting = req.producerId !== undefined && req.producerId >= 0;
          return core.initProducerId(
            hasExisting ? { producerId: req.producerId!, producerEpoch: req.producerEpoch ?? -1 } : undefined,
          );
        },
      ),
      GetServers: this.#unary('GetServers', () => ({
        servers: [{ ...this.#opts.self(), isLeader: this.#opts.isControllerLeader() }],
        clusterId: this.#opts.clusterId,
      })),
    };
  }

  /** Streams a partition from an offset: answers with what is there, then long-polls for more. */
  async #subscribe(
    call: grpc.ServerWritableStream<
      { topic?: string; partition?: number; offset?: number; maxBytes?: number; raw?: boolean },
      unknown
    >,
  ) {
    const core = this.#opts.core;
    const stream = call as grpc.ServerWritableStream<unknown, unknown>;
    const ac = new AbortController();
    this.#streams.set(stream, ac);
    call.on('cancelled', () => ac.abort());
    try {
      if ((call.request as unknown) instanceof RefusedRequest)
        throw (call.request as unknown as RefusedRequest).error;
      if (!this.#opts.isReady()) throw new BrokerError('BROKER_NOT_AVAILABLE', 'the broker is not ready');
      const req = call.request;
      const topic = requireString(req.topic, 'topic');
      const partition = req.partition ?? 0;
      let offset = int(req.offset, 'offset', 0, Number.MAX_SAFE_INTEGER, 0);
      const maxBytes = int(req.maxBytes || undefined, 'max_bytes', 1, 64 * 1024 * 1024, 1024 * 1024);
      while (!ac.signal.aborted && !call.writableEnded) {
        let message: unknown;
        if (req.raw) {
          const r = await core.fetch(topic, partition, offset, {
            maxBytes,
            maxWaitMs: 5000,
            signal: ac.signal,
          });
          if (r.bytes.length === 0) continue;
          message = { recordBatches: r.bytes, nextOffset: r.nextOffset, highWatermark: r.highWatermark };
          offset = r.nextOffset;
        } else {
          const r = await core.fetchRecords(topic, partition, offset, {
            maxBytes,
            maxWaitMs: 5000,
            signal: ac.signal,
          });
          if (r.records.length === 0) {
            offset = r.nextOffset;
            continue;
          }
          message = {
            records: r.records.map((rec) => toWireRecord(rec, partition)),
            nextOffset: r.nextOffset,
            highWatermark: r.highWatermark,
          };
          offset = r.nextOffset;
        }
        // Respect flow control: wait for the client to drain before reading more.
        if (!call.write(message))
          await new Promise<void>((resolve) => {
            const onDrain = () => {
              ac.signal.removeEventListener('abort', onDrain);
              resolve();
            };
            call.once('drain', onDrain);
            ac.signal.addEventListener('abort', onDrain, { once: true });
          });
      }
      if (!call.writableEnded) call.end();
    } catch (err) {
      if (!ac.signal.aborted) {
        const e = err as BrokerError;
        if (e.code === 'BROKER_NOT_AVAILABLE' || e.code === 'LOG_CLOSED') {
          if (!call.writableEnded) call.end();
        } else {
          // grpc-js sends a server stream's status from its 'error' event; destroy() would tear the
          // stream down without one, and the client would wait for a status that never comes.
          call.emit(
            'error',
            Object.assign(
              new Error(e.message),
              toGrpcError(err, (t) => core.metadata.getTopic(t) !== undefined, call.request.topic),
            ),
          );
        }
      }
    } finally {
      this.#streams.delete(stream);
    }
  }
}
