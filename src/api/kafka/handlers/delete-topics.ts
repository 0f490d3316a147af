/**
 * DeleteTopics (API key 20): the request and response grammar is in ../apis/delete-topics.ts. Deletes
 * topics named by name or (v6) id through the core; an internal topic is refused with INVALID_REQUEST.
 */
import { BrokerError } from '../../../errors.ts';
import type { DeleteTopicsRequest } from '../../../protocol/kafka/apis/delete-topics.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleDeleteTopics(deps: HandlerDeps, req: DeleteTopicsRequest): Promise<Message> {
  const core = deps.core;
  const targets: { name: string | null; topicId: string }[] =
    req.topicNames.length > 0
      ? req.topicNames.map((name) => ({ name, topicId: '00000000-0000-0000-0000-000000000000' }))
      : req.topics;
  const responses = [];
  for (const t of targets) {
    const name = t.name ?? core.listTopics().find((x) => x.id === t.topicId)?.name ?? null;
    try {
      if (name === null) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `no topic with id ${t.topicId}`);
      const id = core.metadata.getTopic(name)?.id ?? t.topicId;
      await core.deleteTopic(name);
      responses.push({ name, topicId: id, errorCode: NONE, errorMessage: null });
    } catch (err) {
      const e = err as BrokerError;
      // Kafka refuses to delete internal topics with INVALID_REQUEST... and reports unknown ones plainly.
      responses.push({
        name,
        topicId: t.topicId,
        errorCode: e.code === 'POLICY_VIOLATION' ? errorCode('INVALID_REQUEST') : kafkaErrorCode(err),
        errorMessage: e.message,
      });
    }
  }
  return { throttleTimeMs: 0, responses };
}
