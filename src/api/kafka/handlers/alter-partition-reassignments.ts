/**
 * AlterPartitionReassignments (API key 45): the grammar is in ../apis/alter-partition-reassignments.ts.
 * Every partition named goes to the core's `alterPartitionReassignments` in one call: a replica list
 * starts a move (the controller checks the brokers and answers each partition; a list equal to the
 * current one is no move and succeeds), null cancels one (NO_REASSIGNMENT_IN_PROGRESS when none is
 * going on). The answer is grouped by topic as the response has it.
 *
 * Checked here before the core sees them: a partition named twice (in one topic entry or two) is
 * INVALID_REQUEST and is not moved; with version 1's allow_replication_factor_change false, a replica
 * list whose length differs from the partition's replica count (the replicas it keeps, those being
 * added not counted) is INVALID_REPLICATION_FACTOR (KIP-860). When the core call itself fails, each
 * partition sent carries its error, and so does the top-level code.
 *
 * `timeout_ms` is not applied here: the core's own deadline bounds the wait, as for CreateTopics.
 */
import assert from 'node:assert/strict';
import type { ReassignmentRequest } from '../../../controller/controller.ts';
import { BrokerError } from '../../../errors.ts';
import type { AlterPartitionReassignmentsRequest } from '../../../protocol/kafka/apis/alter-partition-reassignments.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import { groupByTopic, type HandlerDeps, NONE, partitionError } from './shared.ts';

interface Outcome {
  topic: string;
  partition: number;
  error?: unknown;
}

const key = (topic: string, partition: number) => JSON.stringify([topic, partition]);

/** How many replicas a partition keeps (its replicas less those being added), or null if unknown. */
function replicaCount(deps: HandlerDeps, topic: string, partition: number): number | null {
  const p = deps.core.metadata.image.topicsByName.get(topic)?.partitions[partition];
  if (!p) return null;
  const adding = new Set(p.addingReplicas ?? []);
  return p.replicas.filter((r) => !adding.has(r)).length;
}

export async function handleAlterPartitionReassignments(
  deps: HandlerDeps,
  req: AlterPartitionReassignmentsRequest,
): Promise<Message> {
  const asked: ReassignmentRequest[] = [];
  const times = new Map<string, number>();
  for (const t of req.topics) {
    for (const p of t.partitions) {
      const k = key(t.name, p.partitionIndex);
      const n = times.get(k) ?? 0;
      times.set(k, n + 1);
      if (n === 0) asked.push({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas });
    }
  }

  const results = new Map<string, Outcome>();
  const send: ReassignmentRequest[] = [];
  for (const r of asked) {
    const k = key(r.topic, r.partition);
    const current = replicaCount(deps, r.topic, r.partition);
    if ((times.get(k) ?? 0) > 1) {
      const error = new BrokerError(
        'INVALID_REQUEST',
        `partition ${r.topic}-${r.partition} is named more than once`,
      );
      results.set(k, { ...r, error });
    } else if (
      !req.allowReplicationFactorChange &&
      r.replicas !== null &&
      current !== null &&
      r.replicas.length !== current
    ) {
      const error = new BrokerError(
        'INVALID_REPLICATION_FACTOR',
        `partition ${r.topic}-${r.partition} has ${current} replicas and the reassignment names ${r.replicas.length}, but allowReplicationFactorChange is false`,
      );
      results.set(k, { ...r, error });
    } else {
      send.push(r);
    }
  }

  let topError: unknown;
  if (send.length > 0) {
    try {
      for (const r of await deps.core.alterPartitionReassignments(send))
        results.set(key(r.topic, r.partition), r);
    } catch (err) {
      topError = err;
      for (const r of send) results.set(key(r.topic, r.partition), { ...r, error: err });
    }
  }

  const outcomes = asked.map((r) => {
    const o = results.get(key(r.topic, r.partition));
    assert.ok(o, `the controller answered no reassignment result for ${r.topic}-${r.partition}`);
    return o;
  });
  return {
    throttleTimeMs: 0,
    allowReplicationFactorChange: req.allowReplicationFactorChange,
    ...(topError === undefined
      ? { errorCode: NONE, errorMessage: null }
      : { errorCode: kafkaErrorCode(topError), errorMessage: partitionError(topError).errorMessage }),
    responses: [...groupByTopic(outcomes)].map(([name, partitions]) => ({
      name,
      partitions: partitions.map((p) => ({ partitionIndex: p.partition, ...partitionError(p.error) })),
    })),
  };
}
