/**
 * Metadata (API key 3): the request and response grammar is in ../apis/metadata.ts. The live brokers,
 * the active controller and each partition's leader, leader epoch, replicas and ISR, as this node's
 * metadata image says; topics named by name or (v12) id, auto-created when the client allows it and
 * the broker does.
 */
import { OFFSETS_TOPIC } from '../../../broker/groups/service.ts';
import { validateTopicName } from '../../../broker/metadata.ts';
import type { BrokerError } from '../../../errors.ts';
import type { MetadataRequest } from '../../../protocol/kafka/apis/metadata.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { autoCreateAll, controllerId, type HandlerDeps, kafkaBrokers, NONE } from './shared.ts';

export async function handleMetadata(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: MetadataRequest,
): Promise<Message> {
  const core = deps.core;
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
      refused = await autoCreateAll(
        deps,
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
        if (why && why.code !== 'UNKNOWN_TOPIC_OR_PARTITION') err = kafkaErrorCode(why);
      } catch {
        err = errorCode('INVALID_TOPIC_EXCEPTION');
      }
      return { errorCode: err, name, topicId: zeroId, isInternal: false, partitions: [] };
    }
    const image = core.metadata.image;
    const registrations = image.topicsByName.get(name)?.partitions ?? [];
    // A node past its leader lease does not claim its partitions: another may lead them by now.
    const leaderOf = (reg: { leader: number }) => core.leaderToAdvertise(reg);
    return {
      errorCode: NONE,
      name,
      topicId: t.id,
      isInternal: name === OFFSETS_TOPIC,
      partitions: registrations.map((reg, i) => ({
        // A partition whose replicas are all fenced has no leader: LEADER_NOT_AVAILABLE, retriable.
        errorCode: leaderOf(reg) === -1 ? errorCode('LEADER_NOT_AVAILABLE') : NONE,
        partitionIndex: i,
        leaderId: leaderOf(reg),
        leaderEpoch: reg.leaderEpoch,
        replicaNodes: [...reg.replicas],
        isrNodes: [...reg.isr],
        offlineReplicas: reg.replicas.filter((id) => !image.isActive(id)),
      })),
    };
  });
  return {
    throttleTimeMs: 0,
    brokers: kafkaBrokers(deps),
    clusterId: deps.clusterId,
    controllerId: controllerId(deps),
    topics,
    // v13 (KIP-1102): no reason to send the client back to its bootstrap servers.
    errorCode: NONE,
  };
}
