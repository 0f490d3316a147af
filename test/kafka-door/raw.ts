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
