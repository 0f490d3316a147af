/** Raw Kafka requests to a real broker process, decoded by our schemas, for the Kafka-door tests. */
import assert from 'node:assert/strict';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { kafkaCaller } from '../kafka/helpers.ts';

/** A connection that sends one request at a time and returns the decoded response body. */
export const kafka = kafkaCaller;

/** The real broker CLI on ephemeral ports, stopped when the test ends. */
export async function brokerProcess(t: { after(fn: () => unknown): void }): Promise<BrokerProcess> {
  const broker = await spawnBroker(await tempDir());
  t.after(() => broker.stop());
  assert.ok(broker.kafkaPort, 'the broker reports its Kafka port');
  return broker;
}

/** A Fetch v12 body for one partition from `offset`, reading up to 1 MiB. */
export function fetchOnePartition(
  topic: string,
  partition: number,
  offset: number,
  wait: { maxWaitMs: number; minBytes: number } = { maxWaitMs: 0, minBytes: 0 },
) {
  return {
    replicaId: -1,
    ...wait,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        partitions: [
          {
            partition,
            currentLeaderEpoch: -1,
            fetchOffset: offset,
            lastFetchedEpoch: -1,
            logStartOffset: -1,
            partitionMaxBytes: 1 << 20,
          },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
}
