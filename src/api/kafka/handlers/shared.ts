/**
 * What every Kafka API handler in this folder shares (one file per API, as Redpanda's
 * kafka/server/handlers/*.cc): the broker they answer for, this node's Kafka id, the error-free code,
 * the transactions message, and the auto-creation of topics a client names. Handlers reach
 * partitions only through the core's partition view (src/broker/partition-view.ts), never the log.
 */
import type { BrokerCore } from '../../../broker/core.ts';
import type { GroupService } from '../../../broker/groups/service.ts';
import { OFFSETS_TOPIC } from '../../../broker/groups/service.ts';
import { isInternalTopic } from '../../../broker/metadata.ts';
import { BrokerError } from '../../../errors.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { KafkaLogger } from '../handler.ts';

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

/** What a handler works with: the broker's options and this node's int32 Kafka id. */
export interface HandlerDeps extends BrokerHandlerOptions {
  /** The same as `nodeId`: the name the handlers use for the id Kafka clients see. */
  readonly kafkaNodeId: number;
}

/** Kafka's error code for success. */
export const NONE = 0;

/** One partition of a Fetch response before anything is known of it: no offsets, no records. */
export function emptyFetchPartition(partition: number) {
  return {
    partitionIndex: partition,
    highWatermark: -1,
    lastStableOffset: -1,
    logStartOffset: -1,
    abortedTransactions: null,
    preferredReadReplica: -1,
    records: Buffer.alloc(0),
  };
}

export interface KafkaBroker {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

/**
 * The brokers a Kafka client may talk to: every unfenced node with a Kafka listener, as the metadata
 * image this node acted on names them (Kafka's alive brokers), and always this node at its advertised
 * address.
 */
export function kafkaBrokers(deps: HandlerDeps): KafkaBroker[] {
  const { host, port } = deps.advertised();
  const rack = deps.core.metadata.image.brokers.get(deps.kafkaNodeId)?.rack ?? null;
  const out: KafkaBroker[] = [{ nodeId: deps.kafkaNodeId, host, port, rack }];
  for (const b of deps.core.metadata.image.brokers.values()) {
    if (b.id === deps.kafkaNodeId || b.fenced) continue;
    const l = b.listeners.find((x) => x.name === 'kafka');
    if (l && l.port !== 0) out.push({ nodeId: b.id, host: l.host, port: l.port, rack: b.rack });
  }
  return out.sort((a, b) => a.nodeId - b.nodeId);
}

/** The Kafka address of a node, or null when it has none registered (or is fenced). */
export function kafkaBroker(deps: HandlerDeps, id: number): KafkaBroker | null {
  return kafkaBrokers(deps).find((b) => b.nodeId === id) ?? null;
}

/** The active controller as Kafka's Metadata and DescribeCluster report it; -1 while none is elected. */
export function controllerId(deps: HandlerDeps): number {
  const leader = deps.core.cluster.log.leader;
  return leader === 0 ? -1 : leader;
}
/** What Produce and FindCoordinator tell a transactional producer (InitProducerId answers the code alone). */
export const TRANSACTIONS_UNSUPPORTED =
  'transactions are not supported by this broker; use an idempotent producer without a transactional id';

/**
 * Makes sure a topic that a client names exists, creating it when auto-creation is on. Returns null
 * when it exists (or now does), else the error to answer for it: UNKNOWN_TOPIC_OR_PARTITION with
 * auto-creation off, the creation's error otherwise (an invalid name, the node's partition limit).
 * `__consumer_offsets` is created by the group service with its own settings, and only through
 * Metadata; Produce never creates an internal topic (clients may not write one).
 */
async function autoCreate(
  deps: HandlerDeps,
  topic: string,
  api: 'Produce' | 'Metadata',
): Promise<BrokerError | null> {
  const core = deps.core;
  if (core.metadata.getTopic(topic)) return null;
  if (!deps.autoCreateTopics)
    return new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
  try {
    if (isInternalTopic(topic)) {
      if (topic !== OFFSETS_TOPIC || api === 'Produce')
        throw new BrokerError('INVALID_TOPIC_EXCEPTION', `${topic} is an internal topic`);
      await deps.groups.ensureOffsetsTopic();
    } else {
      await core.createTopic({ name: topic });
    }
    deps.logger.info({ topic }, 'auto-created topic for a Kafka client');
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
export async function autoCreateAll(
  deps: HandlerDeps,
  topics: string[],
  api: 'Produce' | 'Metadata',
): Promise<Map<string, BrokerError>> {
  const refused = new Map<string, BrokerError>();
  const unique = [...new Set(topics)].filter((t) => !deps.core.metadata.getTopic(t));
  await Promise.all(
    unique.map(async (t) => {
      const err = await autoCreate(deps, t, api);
      if (err) refused.set(t, err);
    }),
  );
  if (refused.size > 0 && deps.autoCreateTopics) {
    const [topic, err] = refused.entries().next().value!;
    deps.logger.warn(
      { api, refused: refused.size, topic, code: err.code, err: err.message },
      'topics a client named were not created',
    );
  }
  return refused;
}

/**
 * Items grouped by their topic, topics in the order they first appear: the shape of the per-topic
 * answers of ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments.
 */
export function groupByTopic<T extends { topic: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(item.topic);
    if (list) list.push(item);
    else out.set(item.topic, [item]);
  }
  return out;
}

/** A partition's error code and message for a response: none, or the error's code and its message. */
export function partitionError(err: unknown): { errorCode: number; errorMessage: string | null } {
  if (err === undefined) return { errorCode: NONE, errorMessage: null };
  return { errorCode: kafkaErrorCode(err), errorMessage: err instanceof Error ? err.message : String(err) };
}
