/**
 * The admin APIs of issue 16 section 3 over raw frames against the real broker process: what each
 * answers and each of its errors, and that what it changes is seen through the other APIs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BrokerProcess } from '../helpers/broker-process.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import type { KafkaCaller } from '../kafka/helpers.ts';
import { kafka } from './raw.ts';

let broker: BrokerProcess;
let k: KafkaCaller;

before(async () => {
  broker = await spawnBroker(await tempDir());
  k = await kafka(broker.kafkaPort!);
});

after(async () => {
  k?.close();
  await broker?.stop();
});

test('DescribeCluster names this node as the one broker and the controller, with the cluster id', async () => {
  const meta = await k.call('Metadata', 12, {
    topics: [],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  for (const v of [0, 1]) {
    const r = await k.call('DescribeCluster', v, {
      includeClusterAuthorizedOperations: false,
      endpointType: 1,
    });
    assert.equal(r.errorCode, 0);
    assert.equal(r.clusterId, meta.clusterId);
    assert.equal(r.controllerId, meta.brokers[0].nodeId);
    assert.deepEqual(
      r.brokers.map((b: { brokerId: number; host: string; port: number }) => [b.brokerId, b.host, b.port]),
      [[meta.brokers[0].nodeId, meta.brokers[0].host, broker.kafkaPort]],
    );
  }
  const controllers = await k.call('DescribeCluster', 1, {
    includeClusterAuthorizedOperations: false,
    endpointType: 2,
  });
  assert.equal(controllers.errorCode, 114, 'MISMATCHED_ENDPOINT_TYPE');
  assert.deepEqual(controllers.brokers, []);
  const unknown = await k.call('DescribeCluster', 1, {
    includeClusterAuthorizedOperations: false,
    endpointType: 7,
  });
  assert.equal(unknown.errorCode, 115, 'UNSUPPORTED_ENDPOINT_TYPE');
});
