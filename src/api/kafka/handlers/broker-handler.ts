/**
 * The Kafka front door's handler: what each Kafka request means, in terms of the broker core (topics,
 * produce, fetch) and the group service (groups, offsets) — the same core the gRPC door uses, so that
 * whatever one door creates the other sees (DESIGN.md decision 2). Errors reach clients as Kafka
 * error codes inside responses; only bugs reject.
 */
import { type BrokerCore, highWatermarkOf } from '../../../broker/core.ts';
import type { GroupService } from '../../../broker/groups/service.ts';
import { OFFSETS_TOPIC } from '../../../broker/groups/service.ts';
import { isInternalTopic, validateTopicName } from '../../../broker/metadata.ts';
import { type TopicConfigs, validateTopicConfigs } from '../../../broker/topic-config.ts';
import { BrokerError } from '../../../errors.ts';
import type { CreateTopicsRequest } from '../apis/create-topics.ts';
import type { DeleteTopicsRequest } from '../apis/delete-topics.ts';
import type { DescribeConfigsRequest } from '../apis/describe-configs.ts';
import type { DescribeGroupsRequest } from '../apis/describe-groups.ts';
import type { FetchRequest } from '../apis/fetch.ts';
import type { FindCoordinatorRequest } from '../apis/find-coordinator.ts';
import type { HeartbeatRequest } from '../apis/heartbeat.ts';
import type { InitProducerIdRequest } from '../apis/init-producer-id.ts';
import type { JoinGroupRequest } from '../apis/join-group.ts';
import type { LeaveGroupRequest } from '../apis/leave-group.ts';
import type { ListGroupsRequest } from '../apis/list-groups.ts';
import type { ListOffsetsRequest } from '../apis/list-offsets.ts';
import type { MetadataRequest } from '../apis/metadata.ts';
import type { OffsetCommitRequest } from '../apis/offset-commit.ts';
import type { OffsetFetchRequest } from '../apis/offset-fetch.ts';
import type { ProduceRequest } from '../apis/produce.ts';
import type { SyncGroupRequest } from '../apis/sync-group.ts';
import type { Message } from '../codec.ts';
import { errorCode, kafkaErrorCode } from '../error-codes.ts';
import type { KafkaLogger, KafkaRequestHandler, RequestContext } from '../handler.ts';
import { requestFrameBytesMax } from '../limits.ts';
import { describeConfigs, topicConfigEntries } from './describe-configs.ts';

export interface BrokerHandlerOptions {
  core: BrokerCore;
  groups: GroupService;
  logger: KafkaLogger;
  /** This node's int32 id: the number node.id ends with (`numericNodeId` in src/config/node-id.ts). */
  nodeId: number;
  /** Host and port that Kafka clients are told to connect to. */
  advertised: () => { host: string; port: number };
  autoCreateTopics: boolean;
  clusterId: string;
  /** Broker-level settings DescribeConfigs reports for the broker resource. */
  brokerConfigs: Record<string, string>;
}

const NONE = 0;
const TRANSACTIONS_UNSUPPORTED =
  'transactions are not supported by this broker; use an idempotent producer without a transactional id';
const code = (err: unknown) => kafkaErrorCode(err);

export class BrokerKafkaHandler implements KafkaRequestHandler {
  readonly #o: BrokerHandlerOptions;
  readonly #nodeId: number;

  constructor(opts: BrokerHandlerOptions) {
    this.#o = opts;
    this.#nodeId = opts.nodeId;
  }

  handle(ctx: RequestContext, request: Message): Promise<Message | null> {
    switch (ctx.apiName) {
      case 'Produce':
        return this.#produce(request as ProduceRequest);
      case 'Fetch':
        return this.#fetch(ctx, request as FetchRequest);
      case 'ListOffsets':
        return this.#listOffsets(request as ListOffsetsRequest);
      case 'Metadata':
        return this.#metadata(ctx, request as MetadataRequest);
      case 'FindCoordinator':
        return Promise.resolve(this.#findCoordinator(ctx, request as FindCoordinatorRequest));
      case 'JoinGroup':
        return this.#joinGroup(ctx, request as JoinGroupRequest);
      case 'SyncGroup':
        return this.#syncGroup(request as SyncGroupRequest);
      case 'Heartbeat':
        return Promise.resolve(this.#heartbeat(request as HeartbeatRequest));
      case 'LeaveGroup':
        return Promise.resolve(this.#leaveGroup(ctx, request as LeaveGroupRequest));
      case 'OffsetCommit':
        return this.#offsetCommit(request as OffsetCommitRequest);
      case 'OffsetFetch':
        return Promise.resolve(this.#offsetFetch(ctx, request as OffsetFetchRequest));
      case 'CreateTopics':
        return this.#createTopics(ctx, request as CreateTopicsRequest);
      case 'DeleteTopics':
        return this.#deleteTopics(request as DeleteTopicsRequest);
      case 'InitProducerId':
        return this.#initProducerId(request as InitProducerIdRequest);
      case 'ListGroups':
        return Promise.resolve(this.#listGroups(request as ListGroupsRequest));
      case 'DescribeGroups':
        return Promise.resolve(this.#describeGroups(request as DescribeGroupsRequest));
      case 'DescribeConfigs':
        return Promise.resolve(this.#describeConfigs(ctx, request as DescribeConfigsRequest));
      default:
        return Promise.reject(new Error(`no handler for ${ctx.apiName}`));
    }
  }

  /**
   * Makes sure a topic that a client names exists, creating it when auto-creation is on. Returns null
   * when it exists (or now does), else the error to answer for it: UNKNOWN_TOPIC_OR_PARTITION with
   * auto-creation off, the creation's error otherwise (an invalid name, the node's partition limit).
   * `__consumer_offsets` is created by the group service with its own settings, and only through
   * Metadata; Produce never creates an internal topic (clients may not write one).
   */
  async #autoCreate(topic: string, api: 'Produce' | 'Metadata'): Promise<BrokerError | null> {
    const core = this.#o.core;
    if (core.metadata.getTopic(topic)) return null;
    if (!this.#o.autoCreateTopics)
      return new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
    try {
      if (isInternalTopic(topic)) {
        if (topic !== OFFSETS_TOPIC || api === 'Produce')
          throw new BrokerError('INVALID_TOPIC_EXCEPTION', `${topic} is an internal topic`);
        await this.#o.groups.ensureOffsetsTopic();
      } else {
        await core.createTopic({ name: topic });
      }
      this.#o.logger.info({ topic }, 'auto-created topic for a Kafka client');
      return null;
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'TOPIC_ALREADY_EXISTS') return null;
      return err instanceof BrokerError
        ? err
        : new BrokerError('UNKNOWN_SERVER_ERROR', String(err), { cause: err });
    }
  }

  /**
   * Auto-creates every topic named, at once (the partition limit and the partition manager bound the
   * work), and logs one line for those it could not create, however many they are.
   */
  async #autoCreateAll(topics: string[], api: 'Produce' | 'Metadata'): Promise<Map<string, BrokerError>> {
    const refused = new Map<string, BrokerError>();
    const unique = [...new Set(topics)].filter((t) => !this.#o.core.metadata.getTopic(t));
    await Promise.all(
      unique.map(async (t) => {
        const err = await this.#autoCreate(t, api);
        if (err) refused.set(t, err);
      }),
    );
    if (refused.size > 0 && this.#o.autoCreateTopics) {
      const [topic, err] = refused.entries().next().value!;
      this.#o.logger.warn(
        { api, refused: refused.size, topic, code: err.code, err: err.message },
        'topics a client named were not created',
      );
    }
    return refused;
  }

  // ---------------------------------------------------------------- produce and fetch

  async #produce(req: ProduceRequest): Promise<Message | null> {
    const core = this.#o.core;
    const refused = await this.#autoCreateAll(
      req.topicData.map((t) => t.name),
      'Produce',
    );
    const responses = await Promise.all(
      req.topicData.map(async (t) => {
        const missing = refused.get(t.name);
        const partitionResponses = await Promise.all(
          t.partitionData.map(async (p) => {
            const base = { index: p.index, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
            if (missing) return { ...base, errorCode: code(missing), errorMessage: missing.message };
            // As FindCoordinator and InitProducerId answer a transactional id (see there).
            if (req.transactionalId !== null)
              return {
                ...base,
                errorCode: errorCode('TRANSACTIONAL_ID_AUTHORIZATION_FAILED'),
                errorMessage: TRANSACTIONS_UNSUPPORTED,
              };
            if (!p.records || p.records.length === 0)
              return { ...base, errorCode: errorCode('CORRUPT_MESSAGE'), errorMessage: 'no records' };
            try {
              const r = await core.produce(t.name, p.index, p.records, {
                acks: req.acks as 0 | 1 | -1,
                timeoutMs: req.timeoutMs,
              });
              return {
                ...base,
                errorCode: NONE,
                baseOffset: r.baseOffset,
                logAppendTimeMs: r.logAppendTimeMs,
                logStartOffset: r.logStartOffset,
              };
            } catch (err) {
              return { ...base, errorCode: code(err), errorMessage: (err as Error).message };
            }
          }),
        );
        return { name: t.name, partitionResponses };
      }),
    );
    // acks=0: the client expects no response at all.
    return req.acks === 0 ? null : { responses, throttleTimeMs: 0 };
  }

  async #fetch(ctx: RequestContext, req: FetchRequest): Promise<Message> {
    const core = this.#o.core;
    if (req.sessionId !== 0) {
      // We never hand out fetch sessions (a full fetch every time), so no session id can be known.
      return {
        errorCode: errorCode('FETCH_SESSION_ID_NOT_FOUND'),
        sessionId: 0,
        responses: [],
        throttleTimeMs: 0,
      };
    }
    const wanted = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, p })));
    const deadline = Date.now() + Math.max(0, req.maxWaitMs);
    const minBytes = Math.max(0, req.minBytes);
    const read = async () => {
      // Kafka's two limits (ReplicaManager.readFromLog): each partition reads at most
      // min(partition_max_bytes, what is left of max_bytes); only the first partition with data may
      // exceed that, by returning its one first batch whole, so that a consumer always progresses.
      let budget = Math.max(0, req.maxBytes);
      let total = 0;
      const results = [];
      for (const { topic, p } of wanted) {
        const base = {
          partitionIndex: p.partition,
          highWatermark: -1,
          lastStableOffset: -1,
          logStartOffset: -1,
          abortedTransactions: null,
          preferredReadReplica: -1,
          records: Buffer.alloc(0),
        };
        try {
          const log = core.partitions.get(topic, p.partition);
          const hw = highWatermarkOf(log);
          let bytes: Buffer = Buffer.alloc(0);
          const limit = Math.max(0, Math.min(p.partitionMaxBytes, budget));
          if (limit > 0 || total === 0) {
            const r = await core.fetch(topic, p.partition, p.fetchOffset, {
              maxBytes: limit,
              minOneBatch: total === 0,
            });
            bytes = r.bytes;
          }
          total += bytes.length;
          budget -= bytes.length;
          results.push({
            topic,
            result: {
              ...base,
              errorCode: NONE,
              highWatermark: hw,
              lastStableOffset: hw,
              logStartOffset: log.logStartOffset,
              records: bytes,
            },
          });
        } catch (err) {
          let hw = -1;
          let start = -1;
          try {
            const log = core.partitions.get(topic, p.partition);
            hw = highWatermarkOf(log);
            start = log.logStartOffset;
          } catch {
            // Unknown topic or partition: no offsets to report.
          }
          results.push({
            topic,
            result: {
              ...base,
              errorCode: code(err),
              highWatermark: hw,
              lastStableOffset: hw,
              logStartOffset: start,
            },
          });
        }
      }
      return { results, total };
    };
    let { results, total } = await read();
    // Long poll: wait for data on any fetched partition until min_bytes or max_wait_ms; an error on
    // any partition answers at once, as Kafka does, so the client can act on it.
    const anyError = () => results.some((r) => (r.result as { errorCode: number }).errorCode !== NONE);
    while (total < minBytes && Date.now() < deadline && !anyError()) {
      const ac = new AbortController();
      const waits = wanted.flatMap(({ topic, p }) => {
        try {
          const log = core.partitions.get(topic, p.partition);
          return [
            log.waitForData(p.fetchOffset, deadline - Date.now(), ac.signal, () => highWatermarkOf(log)),
          ];
        } catch {
          return [];
        }
      });
      if (waits.length === 0) break;
      await Promise.race(waits);
      ac.abort();
      ({ results, total } = await read());
      if (total === 0 && Date.now() < deadline) continue;
      break;
    }
    void ctx;
    const byTopic = new Map<string, Message[]>();
    for (const { topic, result } of results) {
      if (!byTopic.has(topic)) byTopic.set(topic, []);
      byTopic.get(topic)!.push(result);
    }
    return {
      throttleTimeMs: 0,
      errorCode: NONE,
      sessionId: 0,
      responses: [...byTopic.entries()].map(([topic, partitions]) => ({ topic, partitions })),
    };
  }

  async #listOffsets(req: ListOffsetsRequest): Promise<Message> {
    const core = this.#o.core;
    const topics = await Promise.all(
      req.topics.map(async (t) => ({
        name: t.name,
        partitions: await Promise.all(
          t.partitions.map(async (p) => {
            const base = { partitionIndex: p.partitionIndex, timestamp: -1, offset: -1, leaderEpoch: -1 };
            try {
              const log = core.partitions.get(t.name, p.partitionIndex);
              const hw = highWatermarkOf(log);
              if (p.timestamp === -1) return { ...base, errorCode: NONE, offset: hw, leaderEpoch: 0 };
              if (p.timestamp === -2)
                return { ...base, errorCode: NONE, offset: log.logStartOffset, leaderEpoch: 0 };
              let target = p.timestamp;
              if (target === -3) {
                // MAX_TIMESTAMP (ListOffsets v7): the record with the largest timestamp.
                target = Math.max(-1, ...log.segments.map((s) => s.maxTimestamp));
                if (target < 0) return { ...base, errorCode: NONE };
              } else if (target < 0) {
                return { ...base, errorCode: errorCode('INVALID_REQUEST') };
              }
              const found = await log.offsetForTimestamp(target);
              if (!found || found.offset >= hw) return { ...base, errorCode: NONE };
              return {
                ...base,
                errorCode: NONE,
                offset: found.offset,
                timestamp: found.timestamp,
                leaderEpoch: 0,
              };
            } catch (err) {
              return { ...base, errorCode: code(err) };
            }
          }),
        ),
      })),
    );
    return { throttleTimeMs: 0, topics };
  }

  // ---------------------------------------------------------------- metadata

  async #metadata(ctx: RequestContext, req: MetadataRequest): Promise<Message> {
    const core = this.#o.core;
    const { host, port } = this.#o.advertised();
    const zeroId = '00000000-0000-0000-0000-000000000000';
    let names: (string | { unknownId: string })[];
    let refused = new Map<string, BrokerError>();
    if (req.topics === null || (ctx.apiVersion === 0 && req.topics.length === 0)) {
      names = core.listTopics().map((t) => t.name);
    } else {
      // From version 12 a client may name a topic by id alone.
      names = req.topics.map(
        (t) => t.name ?? core.listTopics().find((x) => x.id === t.topicId)?.name ?? { unknownId: t.topicId },
      );
      if (req.allowAutoTopicCreation)
        refused = await this.#autoCreateAll(
          names.filter((n) => typeof n === 'string'),
          'Metadata',
        );
    }
    const topics = names.map((name) => {
      if (typeof name !== 'string') {
        return {
          errorCode: errorCode('UNKNOWN_TOPIC_ID'),
          name: null,
          topicId: name.unknownId,
          isInternal: false,
          partitions: [],
        };
      }
      const t = core.metadata.getTopic(name);
      if (!t) {
        let err = errorCode('UNKNOWN_TOPIC_OR_PARTITION');
        try {
          validateTopicName(name);
          const why = refused.get(name);
          if (why && why.code !== 'UNKNOWN_TOPIC_OR_PARTITION') err = code(why);
        } catch {
          err = errorCode('INVALID_TOPIC_EXCEPTION');
        }
        return { errorCode: err, name, topicId: zeroId, isInternal: false, partitions: [] };
      }
      return {
        errorCode: NONE,
        name,
        topicId: t.id,
        isInternal: name === OFFSETS_TOPIC,
        partitions: Array.from({ length: t.partitions }, (_, i) => ({
          errorCode: NONE,
          partitionIndex: i,
          leaderId: this.#nodeId,
          leaderEpoch: 0,
          replicaNodes: [this.#nodeId],
          isrNodes: [this.#nodeId],
          offlineReplicas: [],
        })),
      };
    });
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: this.#nodeId, host, port, rack: null }],
      clusterId: this.#o.clusterId,
      controllerId: this.#nodeId,
      topics,
    };
  }

  #findCoordinator(ctx: RequestContext, req: FindCoordinatorRequest): Message {
    const { host, port } = this.#o.advertised();
    // Key type 1 is a transactional id. Until transactions exist the answer is one that every client
    // treats as fatal (kafkajs, @platformatic/kafka and librdkafka mark it non-retriable; Java throws
    // TransactionalIdAuthorizationException), so a transactional producer fails at once with a message
    // instead of retrying a COORDINATOR_NOT_AVAILABLE forever. docs/kafka.md says the same.
    const refused = req.keyType === 1;
    const err = refused ? errorCode('TRANSACTIONAL_ID_AUTHORIZATION_FAILED') : NONE;
    const errorMessage = refused ? TRANSACTIONS_UNSUPPORTED : null;
    if (ctx.apiVersion >= 4) {
      return {
        throttleTimeMs: 0,
        coordinators: req.coordinatorKeys.map((key) => ({
          key,
          nodeId: err ? -1 : this.#nodeId,
          host: err ? '' : host,
          port: err ? -1 : port,
          errorCode: err,
          errorMessage,
        })),
      };
    }
    return {
      throttleTimeMs: 0,
      errorCode: err,
      errorMessage,
      nodeId: err ? -1 : this.#nodeId,
      host: err ? '' : host,
      port: err ? -1 : port,
    };
  }

  // ---------------------------------------------------------------- groups

  async #joinGroup(ctx: RequestContext, req: JoinGroupRequest): Promise<Message> {
    const empty = {
      throttleTimeMs: 0,
      generationId: -1,
      protocolType: null,
      protocolName: ctx.apiVersion >= 7 ? null : '',
      leader: '',
      skipAssignment: false,
      memberId: req.memberId,
      members: [],
    };
    try {
      const r = await this.#o.groups.join({
        groupId: req.groupId,
        memberId: req.memberId,
        groupInstanceId: req.groupInstanceId,
        clientId: ctx.clientId ?? '',
        clientHost: `/${ctx.connection.remoteAddress}`,
        protocolType: req.protocolType,
        protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
        sessionTimeoutMs: req.sessionTimeoutMs,
        // Version 0 has no rebalance timeout: the session timeout serves for both.
        rebalanceTimeoutMs: req.rebalanceTimeoutMs >= 0 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
        requireKnownMemberId: ctx.apiVersion >= 4,
        supportsSkipAssignment: ctx.apiVersion >= 9,
      });
      return {
        ...empty,
        errorCode: NONE,
        generationId: r.generationId,
        protocolType: r.protocolType,
        protocolName: r.protocolName,
        leader: r.leaderId,
        skipAssignment: r.skipAssignment ?? false,
        memberId: r.memberId,
        members: r.members,
      };
    } catch (err) {
      const memberId = (err as { memberId?: string }).memberId ?? req.memberId;
      return { ...empty, errorCode: code(err), memberId };
    }
  }

  async #syncGroup(req: SyncGroupRequest): Promise<Message> {
    try {
      const r = await this.#o.groups.sync({
        groupId: req.groupId,
        memberId: req.memberId,
        generationId: req.generationId,
        groupInstanceId: req.groupInstanceId,
        assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
      });
      if (
        (req.protocolType !== null && req.protocolType !== r.protocolType) ||
        (req.protocolName !== null && req.protocolName !== r.protocolName)
      ) {
        return {
          throttleTimeMs: 0,
          errorCode: errorCode('INCONSISTENT_GROUP_PROTOCOL'),
          protocolType: null,
          protocolName: null,
          assignment: Buffer.alloc(0),
        };
      }
      return {
        throttleTimeMs: 0,
        errorCode: NONE,
        protocolType: r.protocolType,
        protocolName: r.protocolName,
        assignment: r.assignment,
      };
    } catch (err) {
      return {
        throttleTimeMs: 0,
        errorCode: code(err),
        protocolType: null,
        protocolName: null,
        assignment: Buffer.alloc(0),
      };
    }
  }

  #heartbeat(req: HeartbeatRequest): Message {
    try {
      this.#o.groups.heartbeat(req.groupId, req.memberId, req.generationId, req.groupInstanceId);
      return { throttleTimeMs: 0, errorCode: NONE };
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: code(err) };
    }
  }

  #leaveGroup(ctx: RequestContext, req: LeaveGroupRequest): Message {
    const members =
      ctx.apiVersion >= 3
        ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
        : [{ memberId: req.memberId, groupInstanceId: null }];
    try {
      const results = this.#o.groups.leave(req.groupId, members);
      const perMember = members.map((m, i) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        errorCode: results[i] ? code(results[i]) : NONE,
      }));
      const top = ctx.apiVersion < 3 && results[0] ? code(results[0]) : NONE;
      return { throttleTimeMs: 0, errorCode: top, members: perMember };
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: code(err), members: [] };
    }
  }

  async #offsetCommit(req: OffsetCommitRequest): Promise<Message> {
    const flat = req.topics.flatMap((t) =>
      t.partitions.map((p) => ({
        topic: t.name,
        partition: p.partitionIndex,
        // An offset beyond 2^53 arrives exact, as a bigint. No log can reach it; as a number it is not
        // a safe integer, which the group service refuses for that partition alone (INVALID_REQUEST)
        // rather than storing a rounded value.
        offset: typeof p.committedOffset === 'bigint' ? Number(p.committedOffset) : p.committedOffset,
        metadata: p.committedMetadata ?? '',
        leaderEpoch: p.committedLeaderEpoch,
      })),
    );
    let errors: number[];
    try {
      const results = await this.#o.groups.commit(
        req.groupId,
        req.memberId,
        req.generationId,
        flat,
        req.groupInstanceId,
      );
      errors = results.map((e) => (e ? code(e) : NONE));
    } catch (err) {
      errors = flat.map(() => code(err));
    }
    let i = 0;
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: errors[i++] })),
      })),
    };
  }

  #offsetsOf(groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null) {
    const wanted = topics?.flatMap((t) =>
      t.partitionIndexes.map((partition) => ({ topic: t.name, partition })),
    );
    const found = this.#o.groups.fetchOffsets(groupId, wanted);
    const byTopic = new Map<string, Message[]>();
    for (const f of found) {
      if (!byTopic.has(f.topic)) byTopic.set(f.topic, []);
      byTopic.get(f.topic)!.push({
        partitionIndex: f.partition,
        committedOffset: f.value?.offset ?? -1,
        committedLeaderEpoch: f.value?.leaderEpoch ?? -1,
        metadata: f.value?.metadata ?? '',
        errorCode: NONE,
      });
    }
    return [...byTopic.entries()].map(([name, partitions]) => ({ name, partitions }));
  }

  #offsetFetch(ctx: RequestContext, req: OffsetFetchRequest): Message {
    if (ctx.apiVersion >= 8) {
      return {
        throttleTimeMs: 0,
        groups: req.groups.map((g) => {
          try {
            return { groupId: g.groupId, topics: this.#offsetsOf(g.groupId, g.topics), errorCode: NONE };
          } catch (err) {
            return { groupId: g.groupId, topics: [], errorCode: code(err) };
          }
        }),
      };
    }
    try {
      return { throttleTimeMs: 0, errorCode: NONE, topics: this.#offsetsOf(req.groupId, req.topics) };
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: code(err), topics: [] };
    }
  }

  #listGroups(req: ListGroupsRequest): Message {
    const coordinator = this.#o.groups.coordinator;
    const filter = new Set(req.statesFilter.map((s) => s.toLowerCase()));
    const groups = coordinator
      .groupIds()
      .map((id) => coordinator.snapshot(id)!)
      .filter((g) => filter.size === 0 || filter.has(g.state.toLowerCase()))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '', groupState: g.state }));
    return { throttleTimeMs: 0, errorCode: NONE, groups };
  }

  #describeGroups(req: DescribeGroupsRequest): Message {
    const coordinator = this.#o.groups.coordinator;
    return {
      throttleTimeMs: 0,
      groups: req.groups.map((groupId) => {
        const g = coordinator.snapshot(groupId);
        if (!g)
          return {
            errorCode: NONE,
            groupId,
            groupState: 'Dead',
            protocolType: '',
            protocolData: '',
            members: [],
          };
        return {
          errorCode: NONE,
          groupId,
          groupState: g.state,
          protocolType: g.protocolType ?? '',
          protocolData: g.protocolName ?? '',
          members: g.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            memberMetadata: m.metadata,
            memberAssignment: m.assignment,
          })),
        };
      }),
    };
  }

  // ---------------------------------------------------------------- topics

  async #createTopics(ctx: RequestContext, req: CreateTopicsRequest): Promise<Message> {
    const core = this.#o.core;
    const topics = [];
    for (const t of req.topics) {
      const configs: Record<string, string> = {};
      for (const c of t.configs) if (c.value !== null) configs[c.name] = c.value;
      const base = {
        name: t.name,
        topicId: '00000000-0000-0000-0000-000000000000',
        numPartitions: -1,
        replicationFactor: -1,
        configs: null,
        topicConfigErrorCode: 0,
      };
      let numPartitions = t.numPartitions;
      let replicationFactor = t.replicationFactor;
      if (t.assignments.length > 0) {
        const checked = checkReplicaAssignment(t, this.#nodeId);
        if ('errorCode' in checked) {
          topics.push({ ...base, ...checked });
          continue;
        }
        ({ numPartitions, replicationFactor } = checked);
      }
      try {
        // From v5 the answer carries the new topic's configs (KIP-525), as DescribeConfigs shows them.
        const configsOf = (set: TopicConfigs) =>
          ctx.apiVersion >= 5
            ? topicConfigEntries(set, core.defaults).map((c) => ({
                name: c.name,
                value: c.value,
                readOnly: c.readOnly,
                configSource: c.configSource,
                isSensitive: c.isSensitive,
              }))
            : null;
        if (req.validateOnly) {
          validateTopicName(t.name);
          if (isInternalTopic(t.name))
            throw new BrokerError('INVALID_TOPIC_EXCEPTION', `${t.name} is an internal topic`);
          const valid = validateTopicConfigs(configs);
          if (core.metadata.getTopic(t.name))
            throw new BrokerError('TOPIC_ALREADY_EXISTS', `topic ${t.name} already exists`);
          topics.push({
            ...base,
            errorCode: NONE,
            errorMessage: null,
            numPartitions: numPartitions === -1 ? core.defaultPartitions : numPartitions,
            replicationFactor: 1,
            configs: configsOf(valid),
          });
          continue;
        }
        const created = await core.createTopic({
          name: t.name,
          partitions: numPartitions,
          replicationFactor,
          configs,
        });
        topics.push({
          ...base,
          topicId: created.id,
          errorCode: NONE,
          errorMessage: null,
          numPartitions: created.partitions,
          replicationFactor: created.replicationFactor,
          configs: configsOf(created.configs),
        });
      } catch (err) {
        topics.push({ ...base, errorCode: code(err), errorMessage: (err as Error).message });
      }
    }
    return { throttleTimeMs: 0, topics };
  }

  async #deleteTopics(req: DeleteTopicsRequest): Promise<Message> {
    const core = this.#o.core;
    const targets: { name: string | null; topicId: string }[] =
      req.topicNames.length > 0
        ? req.topicNames.map((name) => ({ name, topicId: '00000000-0000-0000-0000-000000000000' }))
        : req.topics;
    const responses = [];
    for (const t of targets) {
      const name = t.name ?? core.listTopics().find((x) => x.id === t.topicId)?.name ?? null;
      try {
        if (name === null)
          throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `no topic with id ${t.topicId}`);
        const id = core.metadata.getTopic(name)?.id ?? t.topicId;
        await core.deleteTopic(name);
        responses.push({ name, topicId: id, errorCode: NONE, errorMessage: null });
      } catch (err) {
        const e = err as BrokerError;
        // Kafka refuses to delete internal topics with INVALID_REQUEST... and reports unknown ones plainly.
        responses.push({
          name,
          topicId: t.topicId,
          errorCode: e.code === 'POLICY_VIOLATION' ? errorCode('INVALID_REQUEST') : code(err),
          errorMessage: e.message,
        });
      }
    }
    return { throttleTimeMs: 0, responses };
  }

  async #initProducerId(req: InitProducerIdRequest): Promise<Message> {
    // A transactional id is refused as FindCoordinator refuses it (fatal in every client).
    if (req.transactionalId !== null) {
      return {
        throttleTimeMs: 0,
        errorCode: errorCode('TRANSACTIONAL_ID_AUTHORIZATION_FAILED'),
        producerId: -1,
        producerEpoch: -1,
      };
    }
    try {
      // Without a transactional id Kafka always hands out a fresh producer id, whatever id and epoch
      // the request carries (TransactionCoordinator.handleInitProducerId): the KIP-360 epoch bump of an
      // existing pair exists only for transactional ids, whose coordinator knows the current pair. An
      // idempotent producer that lost its sequence state asks again and gets a new id.
      const r = await this.#o.core.initProducerId();
      return { throttleTimeMs: 0, errorCode: NONE, producerId: r.producerId, producerEpoch: r.producerEpoch };
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: code(err), producerId: -1, producerEpoch: -1 };
    }
  }

  #describeConfigs(ctx: RequestContext, req: DescribeConfigsRequest): Message {
    const core = this.#o.core;
    return describeConfigs(
      {
        topicConfigs: (name) => {
          validateTopicName(name);
          return core.metadata.getTopic(name)?.configs ?? null;
        },
        defaults: core.defaults,
        nodeId: this.#nodeId,
        brokerSettings: () => this.#brokerSettings(),
      },
      req,
      ctx.apiVersion,
    );
  }

  /** This node's broker settings by Kafka's names (DescribeConfigs for the broker resource). */
  #brokerSettings(): Record<string, string> {
    const { host, port } = this.#o.advertised();
    return {
      'broker.id': String(this.#nodeId),
      'node.id': String(this.#nodeId),
      listeners: `PLAINTEXT://:${port}`,
      'advertised.listeners': `PLAINTEXT://${host}:${port}`,
      'default.replication.factor': '1',
      'offsets.topic.replication.factor': '1',
      'group.initial.rebalance.delay.ms': '0',
      'socket.request.max.bytes': String(requestFrameBytesMax),
      ...this.#o.brokerConfigs,
    };
  }
}

/**
 * Checks a CreateTopics manual replica assignment by Kafka's rules (ReplicationControlManager
 * .createTopic and validateManualPartitionAssignment): partitions and replication factor left at -1,
 * each partition once, partitions 0..n-1, no empty or repeated replica lists, the same replica count
 * everywhere, and only registered brokers, which on a single node means this node's id alone. A valid
 * assignment gives the partition count and replication factor to create.
 */
export function checkReplicaAssignment(
  t: {
    numPartitions: number;
    replicationFactor: number;
    assignments: { partitionIndex: number; brokerIds: number[] }[];
  },
  nodeId: number,
): { numPartitions: number; replicationFactor: number } | { errorCode: number; errorMessage: string } {
  const fail = (name: 'INVALID_REQUEST' | 'INVALID_REPLICA_ASSIGNMENT', errorMessage: string) => ({
    errorCode: errorCode(name),
    errorMessage,
  });
  if (t.replicationFactor !== -1)
    return fail(
      'INVALID_REQUEST',
      'A manual partition assignment was specified, but replication factor was not set to -1.',
    );
  if (t.numPartitions !== -1)
    return fail(
      'INVALID_REQUEST',
      'A manual partition assignment was specified, but numPartitions was not set to -1.',
    );
  const seen = new Set<number>();
  let replicas: number | null = null;
  for (const a of t.assignments) {
    if (seen.has(a.partitionIndex))
      return fail(
        'INVALID_REPLICA_ASSIGNMENT',
        `Found multiple manual partition assignments for partition ${a.partitionIndex}`,
      );
    seen.add(a.partitionIndex);
    if (a.brokerIds.length === 0)
      return fail(
        'INVALID_REPLICA_ASSIGNMENT',
        'The manual partition assignment includes an empty replica list.',
      );
    const sorted = [...a.brokerIds].sort((x, y) => x - y);
    for (let i = 0; i < sorted.length; i++) {
      if (sorted[i] !== nodeId)
        return fail(
          'INVALID_REPLICA_ASSIGNMENT',
          `The manual partition assignment includes broker ${sorted[i]}, but no such broker is registered (this single node is broker ${nodeId}).`,
        );
      if (i > 0 && sorted[i] === sorted[i - 1])
        return fail(
          'INVALID_REPLICA_ASSIGNMENT',
          `The manual partition assignment includes the broker ${sorted[i]} more than once.`,
        );
    }
    if (replicas !== null && sorted.length !== replicas)
      return fail(
        'INVALID_REPLICA_ASSIGNMENT',
        `The manual partition assignment includes a partition with ${sorted.length} replica(s), but this is not consistent with previous partitions, which have ${replicas} replica(s).`,
      );
    replicas = sorted.length;
  }
  for (let i = 0; i < seen.size; i++)
    if (!seen.has(i))
      return fail(
        'INVALID_REPLICA_ASSIGNMENT',
        'partitions should be a consecutive 0-based integer sequence',
      );
  return { numPartitions: seen.size, replicationFactor: replicas ?? 1 };
}
