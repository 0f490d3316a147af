/** Raw Kafka requests to a real broker process, decoded by our schemas, for the Kafka-door tests. */
import assert from 'node:assert/strict';
import type { ApiName } from '../../src/api/kafka/apis/index.ts';
import type { Message } from '../../src/api/kafka/codec.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { decodeResponse, RawClient, requestFrame } from '../kafka/helpers.ts';

/** A connection that sends one request at a time and returns the decoded response body. */
export async function kafka(port: number) {
  const c = await RawClient.open(port);
  let correlation = 0;
  const call = async (name: ApiName, version: number, body: Message) => {
    c.write(requestFrame(name, version, ++correlation, body));
    const payload = await c.next();
    assert.ok(payload, `${name} v${version}: connection closed`);
    const r = decodeResponse(name, version, payload);
    assert.equal(r.correlationId, correlation);
    // biome-ignore lint/suspicious/noExplicitAny: decoded responses are checked field by field below
    return r.body as Record<string, any>;
  };
  return { call, close: () => c.close() };
}

/** The real broker CLI on ephemeral ports, stopped when the test ends. */
export async function brokerProcess(t: { after(fn: () => unknown): void }): Promise<BrokerProcess> {
  const broker = await spawnBroker(await tempDir());
  t.after(() => broker.stop());
  assert.ok(broker.kafkaPort, 'the broker reports its Kafka port');
  return broker;
}
