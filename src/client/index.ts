/**
 * The TypeScript client of the broker's gRPC API. It imports no server code: only the .proto files, the
 * record format (src/records, shared with Kafka clients' format) and gRPC.
 *
 *   const client = await BrokerClient.connect(['localhost:8080']);
 *   await client.createTopic('events', { partitions: 3 });
 *   const { offset } = await client.produce('events', 'Hello, Broker!');
 *   for await (const m of client.subscribe('events', { partition: 0 })) console.log(m.offset, m.value?.toString());
 *
 * Batches are encoded here, as Kafka clients do: ProduceBatch sends RecordBatch v2 bytes (compressed if
 * asked) that the broker stores without decoding, and consumers receive stored batches and decode them
 * here. Retriable errors are retried with exponential backoff; every call takes an AbortSignal.
 *
 * In a cluster (issue 11) the client learns every node from GetServers after connecting to any of
 * them, and keeps a view of each topic's partition leaders (src/client/cluster-view.ts): produce,
 * consume, subscribe and delete-records go to the partition's leader, group calls to the group's
 * coordinator, topic admin to any node. A node that answers NOT_LEADER_OR_FOLLOWER or NOT_COORDINATOR
 * did nothing, so the client refreshes its view and sends the call again, within the retry policy.
 */
import * as grpc from '@grpc/grpc-js';
import { batchBytesMax } from '../limits.ts';
import { encodeBatchAsync, forEachBatch, type RecordHeader, readBatchHeader } from '../records/batch.ts';
import { COMPRESSION, type CompressionName } from '../records/compression.ts';
import { partitionForKey } from '../records/partitioner.ts';
import { materialize, STOP, walkBatch } from '../records/record-walk.ts';
import { ANY, ClusterView, type Route } from './cluster-view.ts';
import { Consumer, type ConsumerOptions } from './consumer.ts';
import { abortError, BrokerClientError } from './errors.ts';
import {
  backoffMs,
  groupByPartition,
  isMessage,
  type Message,
  sleep,
  toBuffer,
  toHeaders,
  type Value,
} from './messages.ts';
import { ProduceStreamMux } from './produce-stream.ts';
import { Producer, type ProducerOptions } from './producer.ts';

export type {
  ConsumerOptions,
  EachBatchPayload,
  EachMessagePayload,
  GroupAssignmentEvent,
  RunOptions,
} from './consumer.ts';
export { Consumer, DLQ_HEADERS } from './consumer.ts';
export { BrokerClientError } from './errors.ts';
export type { Message, Value } from './messages.ts';
export type { ProducerOptions, SendOptions, SendResult } from './producer.ts';
export { Producer } from './producer.ts';

export interface ClientOptions {
  /** Attempts after the first for a retriable error. @default 5 */
  retries?: number;
  /** First backoff; doubles each retry, with jitter. @default 100 */
  retryBackoffMs?: number;
  /** Longest backoff. @default 2000 */
  retryBackoffMaxMs?: number;
  /** Deadline of each call unless the call says otherwise. @default 30000 */
  requestTimeoutMs?: number;
  /** How long connect() waits for a server to answer. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Send produce requests as messages of one ProduceStream call per broker instead of a ProduceBatch
   * call each: several times cheaper per batch, for both ends. A broker without ProduceStream gets
   * unary calls. @default true
   */
  produceStream?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface ProduceOptions extends CallOptions {
  partition?: number;
  /** 0, 1 or -1 (all). @default -1 */
  acks?: 0 | 1 | -1;
  /** Compress batches with this codec. @default 'none' */
  compression?: CompressionName;
}

export interface TopicInfo {
  name: string;
  id: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, { value: string; isDefault: boolean }>;
  partitionInfo: {
    partition: number;
    /** The leader's node name; empty when the partition has none. */
    leader: string;
    replicas: string[];
    isr: string[];
    /** The same roles by numeric node id (-1: no leader), and the leader epoch. */
    leaderId: number;
    replicaIds: number[];
    isrIds: number[];
    leaderEpoch: number;
    /** Offsets from the partition's leader; -1 when the leader could not be asked. */
    logStartOffset: number;
    logEndOffset: number;
    highWatermark: number;
    sizeBytes: number;
    segments: number;
    /** Offsets the slowest follower is behind the leader (0: all caught up); -1 when not known. */
    maxFollowerLag: number;
  }[];
}

export interface GroupAssignment {
  memberId: string;
  generationId: number;
  leaderId: string;
  strategy: string;
  heartbeatIntervalMs: number;
  assignments: { topic: string; partitions: number[] }[];
}

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  strategy: string;
  generationId: number;
  leaderId: string;
  members: {
    memberId: string;
    clientId: string;
    clientHost: string;
    assignments: { topic: string; partitions: number[] }[];
  }[];
  offsets: { topic: string; partition: number; committedOffset: number; logEndOffset: number; lag: number }[];
}

export interface ServerInfo {
  /** node.id as the node was configured: `node-1`, `broker-3` or `7`. */
  id: string;
  /** The numeric node id, the number `id` ends with: the broker id that Kafka clients see. */
  nodeId: number;
  address: string;
  /** Whether the node is the active controller (the metadata quorum's leader). */
  isLeader: boolean;
  kafkaPort: number;
  /** Registered, but its session lapsed or it has not caught up: it leads nothing. */
  fenced: boolean;
  /** A voter of the metadata quorum; else an observer that follows the metadata log. */
  voter: boolean;
  /** May become a voter (cluster.controller). */
  controllerEligible: boolean;
  /** Being decommissioned (`removeServer`): its replicas are moving to other nodes. */
  decommissioning: boolean;
  /** Partition replicas it holds, and partitions it leads, as the node asked knows them. */
  replicas: number;
  leaders: number;
}

/** One partition's outcome of a reassignment or an election: `error` is '' on success, else the broker's error name. */
export interface PartitionOutcome {
  topic: string;
  partition: number;
  error: string;
  /** What went wrong, for people; '' on success. */
  message: string;
}

/** A partition being moved (ListPartitionReassignments). */
export interface OngoingReassignment {
  topic: string;
  partition: number;
  /** Every replica now: the target ones first, then those leaving. */
  replicas: number[];
  addingReplicas: number[];
  removingReplicas: number[];
}

/** Moving a partition's replicas from one list to another, the preferred leader first in each. */
export interface PartitionMove {
  topic: string;
  partition: number;
  from: number[];
  to: number[];
}

/** One node's share: replicas held, partitions it is the preferred leader of, bytes held. */
export interface BrokerLoad {
  nodeId: number;
  replicas: number;
  leaders: number;
  bytes: number;
}

export interface BalancePlan {
  moves: PartitionMove[];
  before: BrokerLoad[];
  after: BrokerLoad[];
}

type Unary = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

/**
 * How long after this client created a topic an UNKNOWN_TOPIC_OR_PARTITION from a partition's call is
 * taken for metadata still spreading through the cluster (a node learns the topic when it applies the
 * controller's record) and retried, rather than final.
 */
const createdTopicGraceMs = 10_000;

/** What an error says about where the call should have gone. */
type Reroute = 'now' | 'backoff' | 'no';

export class BrokerClient {
  readonly addresses: string[];
  readonly options: Required<ClientOptions>;
  #view: ClusterView;
  /** When this client created each topic, for `createdTopicGraceMs`. */
  #createdAt = new Map<string, number>();
  #stickyPartition = new Map<string, number>();
  #roundRobin = new Map<string, number>();
  /** Set when an answer suggests the server list changed; the next routed call asks GetServers. */
  #serversStale = false;
  #closed = false;
  /** One ProduceStream call per broker address that produce requests went to. */
  #produceStreams = new Map<string, ProduceStreamMux>();

  private constructor(addresses: string[], options: ClientOptions) {
    this.addresses = addresses;
    this.options = {
      retries: options.retries ?? 5,
      retryBackoffMs: options.retryBackoffMs ?? 100,
      retryBackoffMaxMs: options.retryBackoffMaxMs ?? 2000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      produceStream: options.produceStream ?? true,
    };
    this.#view = new ClusterView(addresses);
  }

  /**
   * Connects to the first of `addresses` (host:port) that answers, then learns the cluster's other
   * nodes from it (GetServers); calls that may go to any node fail over to the others when one
   * becomes unavailable.
   */
  static async connect(addresses: string | string[], options: ClientOptions = {}): Promise<BrokerClient> {
    const list = (Array.isArray(addresses) ? addresses : addresses.split(','))
      .map((a) => a.trim())
      .filter(Boolean);
    if (list.length === 0)
      throw new BrokerClientError(
        'connect needs at least one address',
        'INVALID_REQUEST',
        grpc.status.INVALID_ARGUMENT,
        false,
      );
    const client = new BrokerClient(list, options);
    const deadline = Date.now() + client.options.connectTimeoutMs;
    const errors: string[] = [];
    for (const address of list) {
      try {
        await new Promise<void>((resolve, reject) =>
          client.#view
            .channel(address)
            .waitForReady(Math.max(deadline, Date.now() + 100), (err) => (err ? reject(err) : resolve())),
        );
        client.#view.useAddress(address);
        // Best effort: a node that is not ready yet cannot list its peers, and the client then talks
        // to it alone until an answer (NOT_LEADER_OR_FOLLOWER, say) shows that it is one of several.
        await client
          .#fetchServers({ timeoutMs: Math.max(1000, deadline - Date.now()) }, false)
          .catch(() => {});
        return client;
      } catch (err) {
        errors.push(`${address}: ${(err as Error).message}`);
      }
    }
    client.close();
    throw new BrokerClientError(
      `no broker answered: ${errors.join('; ')}`,
      'UNAVAILABLE',
      grpc.status.UNAVAILABLE,
      true,
    );
  }

  close(): void {
    this.#closed = true;
    for (const mux of this.#produceStreams.values()) mux.close();
    this.#produceStreams.clear();
    this.#view.close();
  }

  /** The ProduceStream call to `address` (produce-stream.ts), opened on first use. */
  #produceStream(address: string): ProduceStreamMux {
    let mux = this.#produceStreams.get(address);
    if (mux === undefined) {
      const channel = this.#view.channel(address) as unknown as Record<
        string,
        (metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, never>
      >;
      mux = new ProduceStreamMux((metadata, options) =>
        channel.ProduceStream.call(channel, metadata, options),
      );
      this.#produceStreams.set(address, mux);
    }
    return mux;
  }

  /**
   * One unary call with retries, routing, failover and abort. `route` says which node must answer: a
   * partition's leader, a group's coordinator, one address, or any node. A node that refuses because
   * it is not that node (NOT_LEADER_OR_FOLLOWER, NOT_COORDINATOR, or a topic this client just created
   * that it has not learned yet) did nothing, so the call is routed again even when `retry` is false.
   */
  async #call<T>(
    method: string,
    request: unknown,
    opts: CallOptions = {},
    retry = true,
    route: Route = ANY,
  ): Promise<T> {
    const { signal } = opts;
    // Nodes that answered NOT_COORDINATOR in this round of looking for the group's coordinator.
    const tried = new Set<string>();
    for (let attempt = 0; ; ) {
      if (this.#closed)
        throw new BrokerClientError('client is closed', 'CANCELLED', grpc.status.CANCELLED, false);
      if (signal?.aborted) throw abortError(signal);
      let address: string | undefined;
      try {
        address = await this.#target(route, opts);
        const res = await this.#unary<T>(address, method, request, opts);
        if (route.kind === 'group') this.#view.coordinatorFound(route.groupId, address);
        return res;
      } catch (err) {
        const e = err as BrokerClientError;
        if (!(e instanceof BrokerClientError)) throw e;
        const reroute = this.#reroute(route, address, e, tried);
        if (reroute === 'now') continue;
        if ((reroute === 'no' && !(retry && e.retriable)) || attempt >= this.options.retries) throw e;
        await sleep(backoffMs(attempt, this.options.retryBackoffMs, this.options.retryBackoffMaxMs), signal);
        attempt++;
      }
    }
  }

  /**
   * One call to `address`, without retries: ProduceBatch as a ProduceStream message when the option
   * and the broker allow, anything else as a unary call.
   */
  async #unary<T>(address: string, method: string, request: unknown, opts: CallOptions): Promise<T> {
    if (method === 'ProduceBatch' && this.options.produceStream) {
      const mux = this.#produceStream(address);
      if (mux.supported) {
        try {
          return await mux.send<T>(request, opts.timeoutMs ?? this.options.requestTimeoutMs, opts.signal);
        } catch (err) {
          // An older broker: this request and the next go as unary calls.
          if (!(err instanceof BrokerClientError && err.grpcCode === grpc.status.UNIMPLEMENTED)) throw err;
        }
      }
    }
    return this.#unaryCall<T>(address, method, request, opts);
  }

  #unaryCall<T>(address: string, method: string, request: unknown, opts: CallOptions): Promise<T> {
    const { signal } = opts;
    const client = this.#view.channel(address);
    return new Promise<T>((resolve, reject) => {
      const deadline = new Date(Date.now() + (opts.timeoutMs ?? this.options.requestTimeoutMs));
      const call = (client as unknown as Record<string, Unary>)[method].call(
        client,
        request,
        new grpc.Metadata(),
        { deadline },
        (err, res) => {
          signal?.removeEventListener('abort', onAbort);
          if (err)
            reject(
              err.code === grpc.status.CANCELLED && signal?.aborted
                ? abortError(signal)
                : BrokerClientError.fromGrpc(err),
            );
          else resolve(res as T);
        },
      );
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The address a call on `route` goes to, refreshing the view when it does not know. */
  async #target(route: Route, opts: CallOptions): Promise<string> {
    if (this.#serversStale) {
      this.#serversStale = false;
      await this.#fetchServers({ signal: opts.signal }, true).catch((err) => {
        if (opts.signal?.aborted) throw err;
        // Keep the view as it is; the call itself says whether the node it goes to can answer.
      });
    }
    switch (route.kind) {
      case 'any':
        return this.#view.current;
      case 'address':
        return route.address;
      case 'group':
        return this.#view.coordinator(route.groupId);
      case 'partition': {
        const { topic, partition } = route;
        if (!this.#view.routed) return this.#view.current;
        const known = this.#view.leaderAddress(topic, partition);
        if (known) return known;
        const count = (await this.#refreshTopic(topic, opts)).partitions;
        // A partition that does not exist: any node gives the error.
        if (partition < 0 || partition >= count) return this.#view.current;
        const leader = this.#view.leaderAddress(topic, partition);
        if (leader) return leader;
        // No leader right now, or one the server list does not have yet (a node that just joined).
        this.#serversStale = true;
        this.#view.forgetTopic(topic);
        throw new BrokerClientError(
          `partition ${topic}-${partition} has no leader that this client knows yet`,
          'LEADER_NOT_AVAILABLE',
          grpc.status.UNAVAILABLE,
          true,
        );
      }
    }
  }

  /**
   * What a failed call teaches the view, and whether to send it again: at once to another node
   * ('now'), after a backoff even if the call is not otherwise retried ('backoff'), or as the retry
   * policy says ('no').
   */
  #reroute(route: Route, address: string | undefined, e: BrokerClientError, tried: Set<string>): Reroute {
    if (route.kind === 'partition') {
      const { topic } = route;
      if (e.code === 'NOT_LEADER_OR_FOLLOWER' || e.code === 'LEADER_NOT_AVAILABLE') {
        this.#view.forgetTopic(topic);
        // A node that knows of no peers yet and says another leads: it has peers after all.
        if (!this.#view.routed) this.#serversStale = true;
        return 'backoff';
      }
      const created = this.#createdAt.get(topic);
      if (
        e.code === 'UNKNOWN_TOPIC_OR_PARTITION' &&
        created !== undefined &&
        Date.now() - created < createdTopicGraceMs
      ) {
        this.#view.forgetTopic(topic);
        return 'backoff';
      }
    }
    if (route.kind === 'group' && e.code === 'NOT_COORDINATOR') {
      if (!this.#view.routed) this.#serversStale = true;
      if (address !== undefined && this.#view.nextCoordinator(route.groupId, address, tried)) return 'now';
      tried.clear();
      return 'backoff';
    }
    if (e.grpcCode === grpc.status.UNAVAILABLE || e.grpcCode === grpc.status.DEADLINE_EXCEEDED) {
      // The node did not answer (or is not ready): others may, and the view may be out of date.
      if (address !== undefined) this.#view.failover(address);
      if (route.kind === 'partition' && this.#view.routed) {
        this.#view.forgetTopic(route.topic);
        this.#serversStale = true;
      }
      if (route.kind === 'group') this.#view.forgetCoordinator(route.groupId);
    }
    return 'no';
  }

  /** Asks any node for the servers and updates the view (describeCluster does). */
  async #fetchServers(opts: CallOptions, retry: boolean): Promise<void> {
    await this.#describeCluster(opts, retry);
  }

  /** Asks any node for the topic's partitions and leaders, and caches the leaders. */
  async #refreshTopic(topic: string, opts: CallOptions): Promise<TopicInfo> {
    const res = await this.#call<{ topic: TopicInfo }>('DescribeTopic', { name: topic }, opts);
    return this.#learnTopic(normalizeTopic(res.topic));
  }

  #learnTopic(info: TopicInfo): TopicInfo {
    const leaders = info.partitionInfo.map((p) => (p.leader === '' ? -1 : p.leaderId));
    this.#view.setTopic(info.name, leaders);
    if (this.#view.routed && leaders.some((id) => id >= 0 && this.#view.addressOf(id) === undefined))
      this.#serversStale = true;
    return info;
  }

  // ---------------------------------------------------------------- topics

  async createTopic(
    name: string,
    opts:
      | (CallOptions & { partitions?: number; replicationFactor?: number; configs?: Record<string, string> })
      | number = {},
  ): Promise<TopicInfo> {
    const o = typeof opts === 'number' ? { partitions: opts } : opts;
    const res = await this.#call<{ topic: TopicInfo }>(
      'CreateTopic',
      {
        name,
        partitions: o.partitions ?? 0,
        replicationFactor: o.replicationFactor ?? 0,
        configs: o.configs ?? {},
      },
      o,
      false,
    );
    this.#createdAt.set(name, Date.now());
    return this.#learnTopic(normalizeTopic(res.topic));
  }

  async deleteTopic(name: string, opts: CallOptions = {}): Promise<void> {
    await this.#call('DeleteTopic', { name }, opts, false);
    this.#view.forgetTopic(name);
    this.#createdAt.delete(name);
  }

  /**
   * Raises a topic's partition count to `count`; `assignments` places the new partitions, one replica
   * list (broker ids, the preferred leader first) per new partition.
   */
  async createPartitions(
    name: string,
    count: number,
    opts: CallOptions & { assignments?: number[][] } = {},
  ): Promise<TopicInfo> {
    const assignments = (opts.assignments ?? []).map((replicas) => ({ replicas }));
    const res = await this.#call<{ topic: TopicInfo }>(
      'CreatePartitions',
      { name, count, assignments },
      opts,
      false,
    );
    // The new partitions are being created on their leaders; give them the grace of a new topic.
    this.#createdAt.set(name, Date.now());
    return this.#learnTopic(normalizeTopic(res.topic));
  }

  /**
   * Deletes a partition's records below `offset` (-1: the high watermark) by moving its log start
   * offset there; resolves with the new log start offset.
   */
  async deleteRecords(
    topic: string,
    partition: number,
    offset: number,
    opts: CallOptions = {},
  ): Promise<number> {
    const res = await this.#call<{ lowWatermark?: number }>(
      'DeleteRecords',
      { topic, partition, offset },
      opts,
      false,
      { kind: 'partition', topic, partition },
    );
    return res.lowWatermark ?? 0;
  }

  async listTopics(opts: CallOptions = {}): Promise<TopicInfo[]> {
    const res = await this.#call<{ topics?: TopicInfo[] }>('ListTopics', {}, opts);
    return (res.topics ?? []).map(normalizeTopic);
  }

  /**
   * A topic's configs and partitions, with each partition's offsets as its leader reports them: a node
   * knows the offsets of the partitions it leads only, so in a cluster the partitions led elsewhere
   * are asked of their leaders. A leader that cannot be asked leaves its partitions' offsets at -1.
   */
  async describeTopic(name: string, opts: CallOptions = {}): Promise<TopicInfo> {
    const info = await this.#refreshTopic(name, opts);
    if (!this.#view.routed) return info;
    const elsewhere = new Map<string, Set<number>>();
    for (const p of info.partitionInfo) {
      const leader = this.#view.leaderAddress(name, p.partition);
      if (p.highWatermark >= 0 || leader === undefined) continue;
      let set = elsewhere.get(leader);
      if (!set) elsewhere.set(leader, (set = new Set()));
      set.add(p.partition);
    }
    await Promise.all(
      [...elsewhere].map(async ([address, partitions]) => {
        let theirs: TopicInfo;
        try {
          const res = await this.#call<{ topic: TopicInfo }>('DescribeTopic', { name }, opts, false, {
            kind: 'address',
            address,
          });
          theirs = normalizeTopic(res.topic);
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          return;
        }
        for (const p of theirs.partitionInfo)
          if (partitions.has(p.partition)) info.partitionInfo[p.partition] = p;
      }),
    );
    return info;
  }

  async getServers(opts: CallOptions = {}): Promise<ServerInfo[]> {
    return (await this.describeCluster(opts)).servers;
  }

  /**
   * Moves the active controller to node `nodeId` (a voter of the metadata quorum; 0 or omitted: the
   * live voter most caught up); resolves with the node that controls now.
   */
  async transferController(nodeId = 0, opts: CallOptions = {}): Promise<number> {
    const res = await this.#call<{ controllerId?: number }>('TransferController', { nodeId }, opts, false);
    return res.controllerId ?? 0;
  }

  /**
   * Decommissions node `nodeId`: resolves once it is marked; the controller then moves every replica
   * off it in the background and finally unregisters it, and the metadata quorum drops it.
   * `getServers` shows the progress (`decommissioning`, `replicas`) until the node is gone from it.
   */
  async removeServer(nodeId: number, opts: CallOptions = {}): Promise<void> {
    await this.#call('RemoveServer', { nodeId }, opts, false);
  }

  // ---------------------------------------------------------------- partition placement (issue 14)

  /**
   * Starts moves (Kafka's AlterPartitionReassignments): each partition to `replicas`, the preferred
   * leader first, or `replicas: null` to cancel its move. Resolves once the controller has recorded
   * them, with each partition's outcome; the data moves in the background
   * (`listPartitionReassignments` shows each move until it is done).
   */
  async alterPartitionReassignments(
    moves: { topic: string; partition: number; replicas: number[] | null }[],
    opts: CallOptions = {},
  ): Promise<PartitionOutcome[]> {
    const res = await this.#call<{ results?: Partial<PartitionOutcome>[] }>(
      'AlterPartitionReassignments',
      {
        partitions: moves.map((m) =>
          m.replicas === null
            ? { topic: m.topic, partition: m.partition, cancel: true }
            : { topic: m.topic, partition: m.partition, replicas: m.replicas },
        ),
      },
      opts,
      false,
    );
    return (res.results ?? []).map(normalizeOutcome);
  }

  /**
   * The moves in progress: all, or those of some topics (a topic without `partitions`: all of its
   * partitions).
   */
  async listPartitionReassignments(
    topics?: { topic: string; partitions?: number[] }[],
    opts: CallOptions = {},
  ): Promise<OngoingReassignment[]> {
    const res = await this.#call<{ reassignments?: Partial<OngoingReassignment>[] }>(
      'ListPartitionReassignments',
      { topics: (topics ?? []).map((t) => ({ topic: t.topic, partitions: t.partitions ?? [] })) },
      opts,
    );
    return (res.reassignments ?? []).map((r) => ({
      topic: r.topic ?? '',
      partition: r.partition ?? 0,
      replicas: r.replicas ?? [],
      addingReplicas: r.addingReplicas ?? [],
      removingReplicas: r.removingReplicas ?? [],
    }));
  }

  /**
   * Elects leaders (Kafka's ElectLeaders): `preferred` (the default) moves leadership to each
   * partition's first replica, `unclean` elects any live replica of a partition without a leader (it
   * may lose acknowledged records). Without `partitions`, every partition, and only those elected are
   * answered; a topic without `partitions` means all of its partitions. ELECTION_NOT_NEEDED in a
   * partition's `error` says it had the leader asked for already.
   */
  async electLeaders(
    opts: CallOptions & {
      type?: 'preferred' | 'unclean';
      partitions?: { topic: string; partitions?: number[] }[];
    } = {},
  ): Promise<PartitionOutcome[]> {
    const res = await this.#call<{ results?: Partial<PartitionOutcome>[] }>(
      'ElectLeaders',
      {
        type: opts.type === 'unclean' ? 'ELECTION_TYPE_UNCLEAN' : 'ELECTION_TYPE_PREFERRED',
        partitions: (opts.partitions ?? []).map((t) => ({ topic: t.topic, partitions: t.partitions ?? [] })),
      },
      opts,
      false,
    );
    return (res.results ?? []).map(normalizeOutcome);
  }

  /**
   * The balancer's plan for the cluster as it stands: the moves it would make and each node's load
   * before and after. Nothing changes (the controller carries such moves out itself while
   * `cluster.auto_rebalance` is on).
   */
  async planRebalance(opts: CallOptions = {}): Promise<BalancePlan> {
    const res = await this.#call<{
      moves?: WireMove[];
      before?: Partial<BrokerLoad>[];
      after?: Partial<BrokerLoad>[];
    }>('PlanRebalance', {}, opts);
    return {
      moves: (res.moves ?? []).map(normalizeMove),
      before: (res.before ?? []).map(normalizeLoad),
      after: (res.after ?? []).map(normalizeLoad),
    };
  }

  /**
   * Changes a topic's replication factor by moving its partitions; resolves with the moves started,
   * or with `validateOnly` the moves that would be, starting none.
   */
  async alterReplicationFactor(
    topic: string,
    replicationFactor: number,
    opts: CallOptions & { validateOnly?: boolean } = {},
  ): Promise<PartitionMove[]> {
    const res = await this.#call<{ moves?: WireMove[] }>(
      'AlterReplicationFactor',
      { topic, replicationFactor, validateOnly: opts.validateOnly ?? false },
      opts,
      false,
    );
    return (res.moves ?? []).map(normalizeMove);
  }

  /** The cluster's id (the same as Kafka Metadata's cluster_id) and the servers the node knows. */
  describeCluster(opts: CallOptions = {}): Promise<{ clusterId: string; servers: ServerInfo[] }> {
    return this.#describeCluster(opts, true);
  }

  async #describeCluster(
    opts: CallOptions,
    retry: boolean,
  ): Promise<{ clusterId: string; servers: ServerInfo[] }> {
    const res = await this.#call<{ servers?: Partial<ServerInfo>[]; clusterId?: string }>(
      'GetServers',
      {},
      opts,
      retry,
    );
    const servers = (res.servers ?? []).map((s) => ({
      id: s.id ?? '',
      nodeId: s.nodeId ?? 0,
      address: s.address ?? '',
      isLeader: s.isLeader ?? false,
      kafkaPort: s.kafkaPort ?? 0,
      fenced: s.fenced ?? false,
      voter: s.voter ?? false,
      controllerEligible: s.controllerEligible ?? false,
      decommissioning: s.decommissioning ?? false,
      replicas: s.replicas ?? 0,
      leaders: s.leaders ?? 0,
    }));
    this.#view.setServers(servers);
    return { clusterId: res.clusterId ?? '', servers };
  }

  // ---------------------------------------------------------------- produce

  /** Produces one record; returns its partition and offset (-1 with acks=0). */
  async produce(
    topic: string,
    value: Value | Message,
    opts: ProduceOptions = {},
  ): Promise<{ partition: number; offset: number }> {
    const m: Message = isMessage(value) ? value : { value };
    if (opts.compression && opts.compression !== 'none') {
      const r = await this.produceBatch(topic, [m], opts);
      return { partition: r.results[0].partition, offset: r.results[0].baseOffset };
    }
    // A single broker picks the partition of a record sent without one, as it always did. In a
    // cluster only the leader takes a partition's records, so the client picks it as the broker
    // would: the default partitioner for a keyed record, round-robin for an unkeyed one.
    let partition = opts.partition;
    if (partition === undefined && this.#view.routed) {
      const count = await this.#partitionCount(topic, opts);
      const key = toBuffer(m.key);
      if (key) partition = partitionForKey(key, count);
      else {
        const n = this.#roundRobin.get(topic) ?? Math.floor(Math.random() * count);
        this.#roundRobin.set(topic, n + 1);
        partition = n % count;
      }
    }
    const res = await this.#call<{ partition?: number; offset?: number }>(
      'Produce',
      {
        topic,
        partition,
        record: {
          key: toBuffer(m.key) ?? undefined,
          value: toBuffer(m.value) ?? undefined,
          headers: wireHeaders(m.headers),
          timestampMs: m.timestamp ?? 0,
        },
        acks: opts.acks,
        timeoutMs: opts.timeoutMs ?? 0,
      },
      opts,
      true,
      partition === undefined ? ANY : { kind: 'partition', topic, partition },
    );
    return { partition: res.partition ?? 0, offset: res.offset ?? 0 };
  }

  async #partitionCount(topic: string, opts: CallOptions): Promise<number> {
    return this.#view.partitionCount(topic) ?? (await this.#refreshTopic(topic, opts)).partitions;
  }

  /**
   * Produces many records. Keyed records go to murmur2(key) mod partitions (as Kafka's clients route
   * them); unkeyed ones all go to one partition per call, chosen round-robin across calls (Kafka's
   * sticky partitioning), so that they form one batch. One RecordBatch v2 per partition, compressed
   * with `compression`, sent in parallel.
   */
  async produceBatch(
    topic: string,
    messages: (Value | Message)[],
    opts: ProduceOptions = {},
  ): Promise<{
    baseOffset: number;
    count: number;
    results: { partition: number; baseOffset: number; count: number }[];
  }> {
    if (messages.length === 0)
      throw new BrokerClientError(
        'produceBatch needs at least one message',
        'INVALID_REQUEST',
        grpc.status.INVALID_ARGUMENT,
        false,
      );
    const partitions = await this.#partitionCount(topic, opts);
    const groups = groupByPartition(messages, partitions, opts.partition, () => {
      const n = this.#stickyPartition.get(topic) ?? Math.floor(Math.random() * partitions);
      this.#stickyPartition.set(topic, n + 1);
      return n;
    });
    const codec = COMPRESSION[opts.compression ?? 'none'];
    const now = Date.now();
    const results = await Promise.all(
      [...groups.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(async ([partition, group]) => {
          const batch = await encodeBatchAsync({
            compression: codec,
            baseTimestamp: now,
            records: group.map((m) => ({
              key: toBuffer(m.key),
              value: toBuffer(m.value),
              headers: toHeaders(m.headers),
              timestamp: m.timestamp ?? now,
            })),
          });
          checkBatchSize(batch);
          const res = await this.#call<{ partition?: number; baseOffset?: number; count?: number }>(
            'ProduceBatch',
            { topic, partition, recordBatch: batch, acks: opts.acks, timeoutMs: opts.timeoutMs ?? 0 },
            opts,
            true,
            { kind: 'partition', topic, partition },
          );
          return { partition, baseOffset: res.baseOffset ?? 0, count: res.count ?? 0 };
        }),
    );
    return { baseOffset: results[0].baseOffset, count: results.reduce((n, r) => n + r.count, 0), results };
  }

  /**
   * Sends one encoded RecordBatch v2 (see src/records/batch.ts) to a partition as it is. With
   * `retry: false` a retriable failure is thrown rather than retried, for callers that retry themselves
   * (the idempotent producer).
   */
  async produceRecordBatch(
    topic: string,
    partition: number,
    batch: Buffer,
    opts: Omit<ProduceOptions, 'partition' | 'compression'> & { retry?: boolean } = {},
  ): Promise<{ partition: number; baseOffset: number; count: number }> {
    checkBatchSize(batch);
    const res = await this.#call<{ partition?: number; baseOffset?: number; count?: number }>(
      'ProduceBatch',
      { topic, partition, recordBatch: batch, acks: opts.acks, timeoutMs: opts.timeoutMs ?? 0 },
      opts,
      opts.retry ?? true,
      { kind: 'partition', topic, partition },
    );
    return { partition, baseOffset: res.baseOffset ?? 0, count: res.count ?? 0 };
  }

  /** A producer on this client; `idempotent: true` makes retries safe (see src/client/producer.ts). */
  producer(opts: ProducerOptions = {}): Producer {
    return new Producer(this, opts);
  }

  /** A group consumer on this client (see src/client/consumer.ts). */
  consumer(opts: ConsumerOptions): Consumer {
    return new Consumer(this, opts);
  }

  /** Sets `configs` on a topic and returns the keys in `opts.deleteKeys` to the broker's default. */
  async alterTopicConfigs(
    name: string,
    configs: Record<string, string>,
    opts: CallOptions & { deleteKeys?: string[] } = {},
  ): Promise<TopicInfo> {
    const deleteKeys = opts.deleteKeys ?? [];
    const res = await this.#call<{ topic: TopicInfo }>(
      'AlterTopicConfigs',
      { name, configs, deleteKeys },
      opts,
      false,
    );
    return normalizeTopic(res.topic);
  }

  // ---------------------------------------------------------------- consumer groups (low level)

  /**
   * Joins (or rejoins, with `memberId`) a consumer group subscribed to `topics`; resolves when the
   * group's rebalance completes, with this member's partitions. Most users want `consumer()` instead.
   */
  async joinConsumerGroup(
    groupId: string,
    topics: string | string[],
    opts: CallOptions & {
      memberId?: string;
      strategies?: ('range' | 'roundrobin')[];
      sessionTimeoutMs?: number;
      rebalanceTimeoutMs?: number;
      clientId?: string;
      groupInstanceId?: string;
    } = {},
  ): Promise<GroupAssignment> {
    const rebalanceTimeoutMs = opts.rebalanceTimeoutMs ?? 60_000;
    const res = await this.#call<
      Partial<GroupAssignment> & { assignments?: { topic?: string; partitions?: number[] }[] }
    >(
      'JoinConsumerGroup',
      {
        groupId,
        memberId: opts.memberId ?? '',
        topics: Array.isArray(topics) ? topics : [topics],
        strategies: opts.strategies ?? ['range'],
        sessionTimeoutMs: opts.sessionTimeoutMs ?? 0,
        rebalanceTimeoutMs,
        clientId: opts.clientId ?? '',
        groupInstanceId: opts.groupInstanceId ?? '',
      },
      // A join waits for the whole group to rejoin, which the rebalance timeout bounds.
      { ...opts, timeoutMs: opts.timeoutMs ?? rebalanceTimeoutMs + this.options.requestTimeoutMs },
      false,
      { kind: 'group', groupId },
    );
    return {
      memberId: res.memberId ?? '',
      generationId: res.generationId ?? 0,
      leaderId: res.leaderId ?? '',
      strategy: res.strategy ?? '',
      heartbeatIntervalMs: res.heartbeatIntervalMs ?? 3000,
      assignments: (res.assignments ?? []).map((a) => ({
        topic: a.topic ?? '',
        partitions: a.partitions ?? [],
      })),
    };
  }

  /** Keeps the membership alive; resolves true when the member must rejoin (a rebalance started). */
  async heartbeat(
    groupId: string,
    memberId: string,
    generationId: number,
    opts: CallOptions = {},
  ): Promise<boolean> {
    const res = await this.#call<{ rebalanceNeeded?: boolean }>(
      'Heartbeat',
      { groupId, memberId, generationId },
      opts,
      false,
      { kind: 'group', groupId },
    );
    return res.rebalanceNeeded ?? false;
  }

  async leaveGroup(groupId: string, memberId: string, opts: CallOptions = {}): Promise<void> {
    await this.#call('LeaveGroup', { groupId, memberId }, opts, false, { kind: 'group', groupId });
  }

  /**
   * Commits offsets (each the next offset to consume). `generationId` -1 skips the generation check.
   * Throws the first partition's error, if any.
   */
  async commitOffsets(
    groupId: string,
    offsets: { topic: string; partition: number; offset: number; metadata?: string }[],
    opts: CallOptions & { memberId?: string; generationId?: number } = {},
  ): Promise<void> {
    const res = await this.#call<{ results?: { topic?: string; partition?: number; error?: string }[] }>(
      'CommitOffset',
      { groupId, memberId: opts.memberId ?? '', generationId: opts.generationId ?? -1, offsets },
      opts,
      false,
      { kind: 'group', groupId },
    );
    const failed = (res.results ?? []).find((r) => r.error);
    if (failed) {
      throw new BrokerClientError(
        `commit of ${failed.topic}-${failed.partition} failed: ${failed.error}`,
        failed.error!,
        grpc.status.FAILED_PRECONDITION,
        false,
      );
    }
  }

  /** The seed's CommitOffset(group, consumer, topic, partition, offset). */
  commitOffset(
    groupId: string,
    memberId: string,
    topic: string,
    partition: number,
    offset: number,
    opts: CallOptions & { generationId?: number } = {},
  ): Promise<void> {
    return this.commitOffsets(groupId, [{ topic, partition, offset }], { ...opts, memberId });
  }

  /** Committed offsets of a group (all, or the partitions asked); -1 where none is committed. */
  async fetchOffsets(
    groupId: string,
    partitions?: { topic: string; partitions: number[] }[],
    opts: CallOptions = {},
  ): Promise<{ topic: string; partition: number; offset: number; metadata: string }[]> {
    const res = await this.#call<{
      offsets?: { topic?: string; partition?: number; offset?: number; metadata?: string }[];
    }>('FetchOffset', { groupId, partitions: partitions ?? [] }, opts, true, { kind: 'group', groupId });
    return (res.offsets ?? []).map((o) => ({
      topic: o.topic ?? '',
      partition: o.partition ?? 0,
      offset: o.offset ?? -1,
      metadata: o.metadata ?? '',
    }));
  }

  /** The seed's FetchOffset(group, consumer, topic, partition): -1 when nothing is committed. */
  async fetchOffset(
    groupId: string,
    topic: string,
    partition: number,
    opts: CallOptions = {},
  ): Promise<number> {
    const [o] = await this.fetchOffsets(groupId, [{ topic, partitions: [partition] }], opts);
    return o?.offset ?? -1;
  }

  /** Every group, from every node: a node lists only the groups it coordinates. */
  async listGroups(
    opts: CallOptions = {},
  ): Promise<{ groupId: string; state: string; protocolType: string; members: number }[]> {
    type Groups = {
      groups?: { groupId?: string; state?: string; protocolType?: string; members?: number }[];
    };
    const routes: Route[] = this.#view.routed
      ? this.#view.addresses().map((address) => ({ kind: 'address', address }))
      : [ANY];
    const answers = await Promise.allSettled(
      routes.map((route) => this.#call<Groups>('ListGroups', {}, opts, true, route)),
    );
    const ok = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    if (ok.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    const byId = new Map(ok.flatMap((r) => r.groups ?? []).map((g) => [g.groupId ?? '', g]));
    return [...byId.values()].map((g) => ({
      groupId: g.groupId ?? '',
      state: g.state ?? '',
      protocolType: g.protocolType ?? '',
      members: g.members ?? 0,
    }));
  }

  /** Deletes an empty group and its committed offsets (NON_EMPTY_GROUP while it has members). */
  async deleteGroup(groupId: string, opts: CallOptions = {}): Promise<void> {
    await this.#call('DeleteGroup', { groupId }, opts, false, { kind: 'group', groupId });
  }

  /**
   * Deletes a group's committed offsets of `partitions`; each result's `error` is empty when deleted,
   * else the broker error name (GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes to the topic).
   */
  async deleteOffsets(
    groupId: string,
    partitions: { topic: string; partitions: number[] }[],
    opts: CallOptions = {},
  ): Promise<{ topic: string; partition: number; error: string }[]> {
    const res = await this.#call<{ results?: { topic?: string; partition?: number; error?: string }[] }>(
      'DeleteOffsets',
      { groupId, partitions },
      opts,
      false,
      { kind: 'group', groupId },
    );
    return (res.results ?? []).map((r) => ({
      topic: r.topic ?? '',
      partition: r.partition ?? 0,
      error: r.error ?? '',
    }));
  }

  async describeGroup(groupId: string, opts: CallOptions = {}): Promise<GroupDescription> {
    const r = await this.#describeGroup(groupId, opts);
    return {
      groupId: r.groupId ?? groupId,
      state: r.state ?? '',
      protocolType: r.protocolType ?? '',
      strategy: r.strategy ?? '',
      generationId: r.generationId ?? 0,
      leaderId: r.leaderId ?? '',
      members: (r.members ?? []).map((m) => ({
        memberId: m.memberId ?? '',
        clientId: m.clientId ?? '',
        clientHost: m.clientHost ?? '',
        assignments: (m.assignments ?? []).map((a) => ({
          topic: a.topic ?? '',
          partitions: a.partitions ?? [],
        })),
      })),
      offsets: (r.offsets ?? []).map((o) => ({
        topic: o.topic ?? '',
        partition: o.partition ?? 0,
        committedOffset: o.committedOffset ?? 0,
        logEndOffset: o.logEndOffset ?? 0,
        lag: o.lag ?? 0,
      })),
    };
  }

  /**
   * DescribeGroup from the group's coordinator. A node describes only the groups it coordinates and
   * answers GROUP_ID_NOT_FOUND for the others (not NOT_COORDINATOR), so in a cluster that answer
   * sends the question on to the other nodes before it is believed.
   */
  async #describeGroup(groupId: string, opts: CallOptions): Promise<Partial<GroupDescription>> {
    const route: Route = { kind: 'group', groupId };
    try {
      return await this.#call<Partial<GroupDescription>>('DescribeGroup', { groupId }, opts, true, route);
    } catch (err) {
      if (!(err instanceof BrokerClientError && err.code === 'GROUP_ID_NOT_FOUND' && this.#view.routed))
        throw err;
      const asked = this.#view.coordinator(groupId);
      for (const address of this.#view.addresses()) {
        if (address === asked) continue;
        try {
          const r = await this.#call<Partial<GroupDescription>>('DescribeGroup', { groupId }, opts, true, {
            kind: 'address',
            address,
          });
          this.#view.coordinatorFound(groupId, address);
          return r;
        } catch (e) {
          if (!(e instanceof BrokerClientError && e.code === 'GROUP_ID_NOT_FOUND')) throw e;
        }
      }
      throw err;
    }
  }

  /** A producer id and epoch for idempotent producing (see `producer({ idempotent: true })`). */
  async initProducerId(
    opts: CallOptions & { producerId?: number; producerEpoch?: number } = {},
  ): Promise<{ producerId: number; producerEpoch: number }> {
    const r = await this.#call<{ producerId?: number; producerEpoch?: number }>(
      'InitProducerId',
      { producerId: opts.producerId ?? -1, producerEpoch: opts.producerEpoch ?? -1 },
      opts,
    );
    return { producerId: r.producerId ?? 0, producerEpoch: r.producerEpoch ?? 0 };
  }

  // ---------------------------------------------------------------- consume

  /** The first record at or after `offset` of a partition. */
  async consume(
    topic: string,
    offset: number,
    opts: CallOptions & { partition?: number } = {},
  ): Promise<ConsumedMessage> {
    const res = await this.consumeBatch(topic, offset, { ...opts, maxRecords: 1 });
    if (res.records.length === 0) {
      throw new BrokerClientError(
        `no record at or after offset ${offset} yet`,
        'OFFSET_OUT_OF_RANGE',
        grpc.status.OUT_OF_RANGE,
        false,
      );
    }
    return res.records[0];
  }

  /**
   * Records from `offset`, at most `maxRecords` (and about `maxBytes`), waiting up to `maxWaitMs` for
   * data when there is none yet.
   */
  async consumeBatch(
    topic: string,
    offset: number,
    opts: CallOptions & {
      partition?: number;
      maxRecords?: number;
      maxBytes?: number;
      maxWaitMs?: number;
    } = {},
  ): Promise<{
    records: ConsumedMessage[];
    nextOffset: number;
    highWatermark: number;
    logStartOffset: number;
  }> {
    const partition = opts.partition ?? 0;
    const waitMs = opts.maxWaitMs ?? 0;
    const res = await this.#call<{
      recordBatches?: Buffer;
      nextOffset?: number;
      highWatermark?: number;
      logStartOffset?: number;
    }>(
      'ConsumeBatch',
      { topic, partition, offset, maxBytes: opts.maxBytes ?? 0, maxWaitMs: waitMs, raw: true },
      { ...opts, timeoutMs: opts.timeoutMs ?? this.options.requestTimeoutMs + waitMs },
      true,
      { kind: 'partition', topic, partition },
    );
    const { records, nextOffset } = await decodeRecords(
      topic,
      partition,
      res.recordBatches ?? Buffer.alloc(0),
      offset,
      opts.maxRecords,
    );
    return {
      records,
      nextOffset,
      highWatermark: res.highWatermark ?? 0,
      logStartOffset: res.logStartOffset ?? 0,
    };
  }

  /**
   * Tails a partition from `offset` (default 0) as an async iterator; ends when `signal` aborts or the
   * loop breaks. Reconnects after retriable failures, resuming after the last record delivered.
   */
  async *subscribe(
    topic: string,
    opts: { partition?: number; offset?: number; maxBytes?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<ConsumedMessage> {
    const partition = opts.partition ?? 0;
    let offset = opts.offset ?? 0;
    let failures = 0;
    const route: Route = { kind: 'partition', topic, partition };
    while (!opts.signal?.aborted && !this.#closed) {
      let address: string | undefined;
      let stream: grpc.ClientReadableStream<unknown> | undefined;
      try {
        address = await this.#target(route, { signal: opts.signal });
        const client = this.#view.channel(address) as unknown as Record<
          string,
          (req: unknown) => grpc.ClientReadableStream<unknown>
        >;
        stream = client.Subscribe.call(client, {
          topic,
          partition,
          offset,
          maxBytes: opts.maxBytes ?? 0,
          raw: true,
        });
      } catch (err) {
        if (opts.signal?.aborted) return;
        const e = err as BrokerClientError;
        if (
          (this.#reroute(route, address, e, new Set()) === 'no' && !e.retriable) ||
          ++failures > this.options.retries
        )
          throw e;
        await sleep(
          backoffMs(failures, this.options.retryBackoffMs, this.options.retryBackoffMaxMs),
          opts.signal,
        ).catch(() => {});
        continue;
      }
      const onAbort = () => stream.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const msg of stream as AsyncIterable<{ recordBatches?: Buffer; nextOffset?: number }>) {
          failures = 0;
          const { records, nextOffset } = await decodeRecords(
            topic,
            partition,
            msg.recordBatches ?? Buffer.alloc(0),
            offset,
          );
          for (const r of records) {
            yield r;
            offset = r.offset + 1;
          }
          offset = Math.max(offset, nextOffset);
        }
        // The server ended the stream (shutdown): reconnect after a pause, as for an error.
        if (opts.signal?.aborted) return;
        await sleep(this.options.retryBackoffMs, opts.signal);
      } catch (err) {
        if (opts.signal?.aborted) return;
        const e =
          err instanceof BrokerClientError ? err : BrokerClientError.fromGrpc(err as grpc.ServiceError);
        // A leader that moved, or did not answer: the view learns it and the stream resumes there.
        const reroute = this.#reroute(route, address, e, new Set());
        if ((reroute === 'no' && !e.retriable) || ++failures > this.options.retries) throw e;
        await sleep(
          backoffMs(failures, this.options.retryBackoffMs, this.options.retryBackoffMaxMs),
          opts.signal,
        ).catch(() => {});
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        stream.cancel();
      }
    }
  }
}

function wireHeaders(h: Message['headers']) {
  return toHeaders(h).map((x) => ({ key: x.key, value: x.value ?? undefined }));
}

interface WireMove {
  topic?: string;
  partition?: number;
  fromReplicas?: number[];
  toReplicas?: number[];
}

function normalizeMove(m: WireMove): PartitionMove {
  return {
    topic: m.topic ?? '',
    partition: m.partition ?? 0,
    from: m.fromReplicas ?? [],
    to: m.toReplicas ?? [],
  };
}

function normalizeLoad(l: Partial<BrokerLoad>): BrokerLoad {
  return {
    nodeId: l.nodeId ?? 0,
    replicas: l.replicas ?? 0,
    leaders: l.leaders ?? 0,
    bytes: Number(l.bytes ?? 0),
  };
}

function normalizeOutcome(r: Partial<PartitionOutcome>): PartitionOutcome {
  return {
    topic: r.topic ?? '',
    partition: r.partition ?? 0,
    error: r.error ?? '',
    message: r.message ?? '',
  };
}

function normalizeTopic(t: Partial<TopicInfo>): TopicInfo {
  return {
    name: t.name ?? '',
    id: t.id ?? '',
    partitions: t.partitions ?? 0,
    replicationFactor: t.replicationFactor ?? 0,
    configs: Object.fromEntries(
      Object.entries(t.configs ?? {}).map(([k, v]) => [
        k,
        { value: v.value ?? '', isDefault: v.isDefault ?? false },
      ]),
    ),
    partitionInfo: (t.partitionInfo ?? []).map((p) => ({
      partition: p.partition ?? 0,
      leader: p.leader ?? '',
      replicas: p.replicas ?? [],
      isr: p.isr ?? [],
      leaderId: p.leaderId ?? 0,
      replicaIds: p.replicaIds ?? [],
      isrIds: p.isrIds ?? [],
      leaderEpoch: p.leaderEpoch ?? 0,
      maxFollowerLag:
        p.maxFollowerLag === undefined || p.maxFollowerLag === null ? -1 : Number(p.maxFollowerLag),
      logStartOffset: p.logStartOffset ?? 0,
      logEndOffset: p.logEndOffset ?? 0,
      highWatermark: p.highWatermark ?? 0,
      sizeBytes: p.sizeBytes ?? 0,
      segments: p.segments ?? 0,
    })),
  };
}

/**
 * Decodes stored batches into messages at or after `from`, at most `max`; returns where to read next.
 * Records are found by the bounded record walk the broker uses (src/records/record-walk.ts), which
 * stops at the last one wanted, so a batch of many records costs only what is handed out.
 */
async function decodeRecords(
  topic: string,
  partition: number,
  bytes: Buffer,
  from: number,
  max = Number.MAX_SAFE_INTEGER,
): Promise<{ records: ConsumedMessage[]; nextOffset: number }> {
  const starts: [number, number][] = [];
  forEachBatch(bytes, (pos, size) => starts.push([pos, size]));
  const records: ConsumedMessage[] = [];
  let nextOffset = from;
  for (const [pos, size] of starts) {
    const header = readBatchHeader(bytes, pos);
    const batchEnd = header.baseOffset + header.lastOffsetDelta + 1;
    let full = false;
    if (!(header.attributes & 0x20)) {
      await walkBatch(bytes.subarray(pos, pos + size), (view, section) => {
        const offset = header.baseOffset + view.offsetDelta;
        if (offset < from) return undefined;
        if (records.length >= max) {
          full = true;
          return STOP;
        }
        const r = materialize(header.baseOffset, view, section);
        records.push({
          topic,
          partition,
          offset: r.offset,
          timestamp: r.timestamp,
          key: r.key,
          value: r.value,
          headers: r.headers,
        });
        nextOffset = offset + 1;
        return undefined;
      });
    }
    if (full) return { records, nextOffset };
    nextOffset = Math.max(nextOffset, batchEnd);
  }
  return { records, nextOffset };
}

/**
 * A batch larger than any broker stores (`batchBytesMax`, the ceiling of max.message.bytes) is refused
 * here, final, without sending it: the broker's gRPC door refuses such a message from its length
 * prefix with a bare RESOURCE_EXHAUSTED, which a client would otherwise take for a retriable
 * transport limit and send again.
 */
function checkBatchSize(batch: Buffer): void {
  if (batch.length > batchBytesMax)
    throw new BrokerClientError(
      `batch of ${batch.length} bytes is larger than the largest batch a broker stores (${batchBytesMax} bytes)`,
      'MESSAGE_TOO_LARGE',
      grpc.status.RESOURCE_EXHAUSTED,
      false,
    );
}
