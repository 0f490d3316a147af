/**
 * Metadata (API key 3): the request and response grammar is in ../apis/metadata.ts. This node as the only
 * broker, the leader of every partition; topics named by name or (v12) id, auto-created when the client
 * allows it and the broker does.
 */
import { OFFSETS_TOPIC } from '../../../broker/groups/service.ts';
import { validateTopicName } from '../../../broker/metadata.ts';
import type { BrokerError } from '../../../errors.ts';
import type { MetadataRequest } from '../apis/metadata.ts';
import type { Message } from '../codec.ts';
import { errorCode, kafkaErrorCode } from '../error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { autoCreateAll, type HandlerDeps, NONE } from './shared.ts';

export async function handleMetadata(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: MetadataRequest,
): Promise<Message> {
  const core = deps.core;
  const { host, port } = deps.advertised();
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
    return {
      errorCode: NONE,
      name,
      topicId: t.id,
      isInternal: name === OFFSETS_TOPIC,
      partitions: Array.from({ length: t.partitions }, (_, i) => ({
        errorCode: NONE,
        partitionIndex: i,
        leaderId: deps.kafkaNodeId,
        leaderEpoch: 0,
        replicaNodes: [deps.kafkaNodeId],
        isrNodes: [deps.kafkaNodeId],
        offlineReplicas: [],
      })),
    };
  });
  return {
    throttleTimeMs: 0,
    brokers: [{ nodeId: deps.kafkaNodeId, host, port, rack: null }],
    clusterId: deps.clusterId,
    controllerId: deps.kafkaNodeId,
    topics,
    // v13 (KIP-1102): no reason to send the client back to its bootstrap servers.
    errorCode: NONE,
  };
}
