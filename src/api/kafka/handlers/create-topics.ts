/**
 * CreateTopics (API key 19): the request and response grammar is in ../apis/create-topics.ts. Creates
 * topics through the core (or only validates them), checking a manual replica assignment by Kafka's rules;
 * from v5 the answer carries the new topic's configs.
 */
import { isInternalTopic, validateTopicName } from '../../../broker/metadata.ts';
import { type TopicConfigs, validateTopicConfigs } from '../../../broker/topic-config.ts';
import { BrokerError } from '../../../errors.ts';
import type { CreateTopicsRequest } from '../../../protocol/kafka/apis/create-topics.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { topicConfigEntries } from './describe-configs.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleCreateTopics(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: CreateTopicsRequest,
): Promise<Message> {
  const core = deps.core;
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
    let assignments: number[][] | undefined;
    if (t.assignments.length > 0) {
      const checked = checkReplicaAssignment(t, (id) => core.metadata.image.brokers.has(id));
      if ('errorCode' in checked) {
        topics.push({ ...base, ...checked });
        continue;
      }
      ({ numPartitions, replicationFactor, assignments } = checked);
    }
    try {
      // From v5 the answer carries the new topic's configs (KIP-525), as DescribeConfigs shows them.
      const configsOf = (set: TopicConfigs, rf: number) =>
        ctx.apiVersion >= 5
          ? topicConfigEntries(set, core.defaults, rf).map((c) => ({
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
          configs: configsOf(valid, replicationFactor === -1 ? 1 : replicationFactor),
        });
        continue;
      }
      const created = await core.createTopic({
        name: t.name,
        partitions: numPartitions,
        replicationFactor,
        assignments,
        configs,
      });
      topics.push({
        ...base,
        topicId: created.id,
        errorCode: NONE,
        errorMessage: null,
        numPartitions: created.partitions,
        replicationFactor: created.replicationFactor,
        configs: configsOf(created.configs, created.replicationFactor),
      });
    } catch (err) {
      topics.push({ ...base, errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message });
    }
  }
  return { throttleTimeMs: 0, topics };
}

/**
 * Checks a CreateTopics manual replica assignment by Kafka's rules (ReplicationControlManager
 * .createTopic and validateManualPartitionAssignment): partitions and replication factor left at -1,
 * each partition once, partitions 0..n-1, no empty or repeated replica lists, the same replica count
 * everywhere, and only registered brokers. A valid assignment gives the partition count, the
 * replication factor and the replica lists by partition (the preferred leader first, as given).
 */
export function checkReplicaAssignment(
  t: {
    numPartitions: number;
    replicationFactor: number;
    assignments: { partitionIndex: number; brokerIds: number[] }[];
  },
  isRegistered: (brokerId: number) => boolean,
):
  | { numPartitions: number; replicationFactor: number; assignments: number[][] }
  | { errorCode: number; errorMessage: string } {
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
      if (!isRegistered(sorted[i]))
        return fail(
          'INVALID_REPLICA_ASSIGNMENT',
          `The manual partition assignment includes broker ${sorted[i]}, but no such broker is registered.`,
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
  const byPartition = [...t.assignments].sort((a, b) => a.partitionIndex - b.partitionIndex);
  return {
    numPartitions: seen.size,
    replicationFactor: replicas ?? 1,
    assignments: byPartition.map((a) => [...a.brokerIds]),
  };
}
