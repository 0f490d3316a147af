/**
 * ElectLeaders (API key 43): the grammar is in ../apis/elect-leaders.ts. The partitions named go to the
 * core's `electLeaders` in one call (the controller elects and answers each partition), and the answer
 * is grouped by topic as the response has it. Version 0 carries no election type and means a preferred
 * election; from version 1, 0 is preferred and 1 unclean, and any other type is INVALID_REQUEST.
 *
 * Null topic partitions elect for every partition, and the answer lists only those elected, as
 * Kafka's does. A partition named twice is elected once and answered once (Kafka reads the request as
 * a set). A topic this node's metadata does not know is UNKNOWN_TOPIC_OR_PARTITION for each of its
 * partitions without asking the controller. When the core call itself fails (no controller, a deadline
 * passed), each named partition carries its error, as does the top-level code from version 1.
 *
 * `timeout_ms` is not applied here: the core's own deadline bounds the wait, as for CreateTopics.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../../../errors.ts';
import { ELECTION_TYPES, type ElectLeadersRequest } from '../../../protocol/kafka/apis/elect-leaders.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { groupByTopic, type HandlerDeps, NONE, partitionError } from './shared.ts';

/** One partition's outcome; `error` is whatever refused it (a core failure need not be a BrokerError). */
interface Outcome {
  topic: string;
  partition: number;
  error?: unknown;
}

const key = (topic: string, partition: number) => JSON.stringify([topic, partition]);

function answer(results: readonly Outcome[], topError: unknown): Message {
  return {
    throttleTimeMs: 0,
    errorCode: topError === undefined ? NONE : kafkaErrorCode(topError),
    replicaElectionResults: [...groupByTopic(results)].map(([topic, partitions]) => ({
      topic,
      partitionResult: partitions.map((p) => ({ partitionId: p.partition, ...partitionError(p.error) })),
    })),
  };
}

export async function handleElectLeaders(deps: HandlerDeps, req: ElectLeadersRequest): Promise<Message> {
  const asked: { topic: string; partition: number }[] = [];
  const seen = new Set<string>();
  for (const t of req.topicPartitions ?? []) {
    for (const partition of t.partitions) {
      if (seen.has(key(t.topic, partition))) continue;
      seen.add(key(t.topic, partition));
      asked.push({ topic: t.topic, partition });
    }
  }

  const type =
    req.electionType === ELECTION_TYPES.preferred
      ? 'preferred'
      : req.electionType === ELECTION_TYPES.unclean
        ? 'unclean'
        : null;
  if (type === null) {
    const error = new BrokerError('INVALID_REQUEST', `unknown election type ${req.electionType}`);
    return answer(
      asked.map((p) => ({ ...p, error })),
      error,
    );
  }

  if (req.topicPartitions === null) {
    try {
      return answer(await deps.core.electLeaders({ type, partitions: null }), undefined);
    } catch (err) {
      return answer([], err);
    }
  }

  // Whether a topic exists is decided once, before the await, so the answer matches what was asked.
  const results = new Map<string, Outcome>();
  const known: { topic: string; partition: number }[] = [];
  for (const p of asked) {
    if (deps.core.metadata.getTopic(p.topic) !== undefined) known.push(p);
    else {
      const error = new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${p.topic} does not exist`);
      results.set(key(p.topic, p.partition), { ...p, error });
    }
  }
  let topError: unknown;
  if (known.length > 0) {
    try {
      for (const r of await deps.core.electLeaders({ type, partitions: known }))
        results.set(key(r.topic, r.partition), r);
    } catch (err) {
      topError = err;
      for (const p of known) results.set(key(p.topic, p.partition), { ...p, error: err });
    }
  }
  return answer(
    asked.map((p) => {
      const r = results.get(key(p.topic, p.partition));
      assert.ok(r, `the controller answered no election result for ${p.topic}-${p.partition}`);
      return r;
    }),
    topError,
  );
}
