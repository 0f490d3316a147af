/**
 * Produce (API key 0): the request and response grammar is in ../apis/produce.ts. Appends each partition's
 * batches through the core (which validates them and reaches the log through the partition view), auto-
 * creating topics a client names when that is on; with acks=0 the answer is no response at all. The
 * CurrentLeader and NodeEndpoints of versions 10+ (KIP-951) keep their defaults: they answer
 * NOT_LEADER_OR_FOLLOWER, and this node leads every partition it serves.
 */
import type { ProduceRequest } from '../../../protocol/kafka/apis/produce.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { autoCreateAll, type HandlerDeps, NONE, TRANSACTIONS_UNSUPPORTED } from './shared.ts';

export async function handleProduce(deps: HandlerDeps, req: ProduceRequest): Promise<Message | null> {
  const core = deps.core;
  const refused = await autoCreateAll(
    deps,
    req.topicData.map((t) => t.name),
    'Produce',
  );
  const responses = await Promise.all(
    req.topicData.map(async (t) => {
      const missing = refused.get(t.name);
      const partitionResponses = await Promise.all(
        t.partitionData.map(async (p) => {
          const base = { index: p.index, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
          if (missing) return { ...base, errorCode: kafkaErrorCode(missing), errorMessage: missing.message };
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
            return { ...base, errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message };
          }
        }),
      );
      return { name: t.name, partitionResponses };
    }),
  );
  // acks=0: the client expects no response at all.
  return req.acks === 0 ? null : { responses, throttleTimeMs: 0 };
}
