/**
 * InitProducerId (API key 22): the request and response grammar is in ../apis/init-producer-id.ts. A fresh
 * producer id for an idempotent producer; a transactional id is refused.
 */
import type { InitProducerIdRequest } from '../../../protocol/kafka/apis/init-producer-id.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleInitProducerId(deps: HandlerDeps, req: InitProducerIdRequest): Promise<Message> {
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
    const r = await deps.core.initProducerId();
    return { throttleTimeMs: 0, errorCode: NONE, producerId: r.producerId, producerEpoch: r.producerEpoch };
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: kafkaErrorCode(err), producerId: -1, producerEpoch: -1 };
  }
}
