/**
 * min.insync.replicas that a topic sets none of: the broker applies 2 at replication factor 3 or more
 * and 1 below, and every describe (Kafka's DescribeConfigs, CreateTopics v5, gRPC describe-topic)
 * reports that value as the default, from the one rule in topic-config.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeConfigs } from '../../src/api/kafka/handlers/describe-configs.ts';
import { effectiveConfigs, minInsyncReplicasFor, topicDefaultsFor } from '../../src/broker/topic-config.ts';
import { startBroker } from '../../src/server.ts';

const defaults = { log: {}, compressionType: 'producer', minInsyncReplicas: 1 };

test('the rule: the topic setting, else 2 at RF >= 3 and 1 below', () => {
  assert.deepEqual(
    [1, 2, 3, 5].map((rf) => minInsyncReplicasFor(undefined, rf)),
    [1, 1, 2, 2],
  );
  assert.equal(minInsyncReplicasFor('1', 3), 1);
  assert.equal(minInsyncReplicasFor(' 3 ', 1), 3);
  assert.equal(topicDefaultsFor(defaults, 3)['min.insync.replicas'], '2');
  assert.equal(topicDefaultsFor(defaults, 1)['min.insync.replicas'], '1');
  // What gRPC describe-topic shows (core.describeTopic's configs).
  assert.deepEqual(effectiveConfigs({}, defaults, 3)['min.insync.replicas'], { value: '2', isDefault: true });
  assert.deepEqual(effectiveConfigs({ 'min.insync.replicas': '1' }, defaults, 3)['min.insync.replicas'], {
    value: '1',
    isDefault: false,
  });
});

/** DescribeConfigs v4 of one topic through the Kafka door's handler, with the deps it is given. */
function describeMinIsr(replicationFactor: number, configs: Record<string, string> = {}) {
  const r = describeConfigs(
    {
      topic: (name) => (name === 't' ? { configs, replicationFactor } : null),
      defaults,
      nodeId: 1,
      brokerSettings: () => ({}),
    },
    {
      resources: [{ resourceType: 2, resourceName: 't', configurationKeys: ['min.insync.replicas'] }],
      includeSynonyms: true,
      includeDocumentation: false,
    },
    4,
  ) as { results: { errorCode: number; configs: Record<string, unknown>[] }[] };
  assert.equal(r.results[0].errorCode, 0);
  assert.equal(r.results[0].configs.length, 1);
  return r.results[0].configs[0];
}

test('DescribeConfigs reports the applied default at RF 3 as the default (source DEFAULT_CONFIG)', () => {
  const rf3 = describeMinIsr(3);
  assert.equal(rf3.value, '2');
  assert.equal(rf3.isDefault, true);
  assert.equal(rf3.configSource, 5);
  assert.deepEqual(rf3.synonyms, [{ name: 'min.insync.replicas', value: '2', source: 5 }]);
  const rf1 = describeMinIsr(1);
  assert.deepEqual([rf1.value, rf1.isDefault, rf1.configSource], ['1', true, 5]);
  const set = describeMinIsr(3, { 'min.insync.replicas': '3' });
  assert.deepEqual([set.value, set.isDefault, set.configSource], ['3', false, 1]);
});

test('describeTopic on a single node reports what the partition applies', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  await broker.core.createTopic({ name: 'one', replicationFactor: 1 });
  const c = broker.core.describeTopic('one').configs['min.insync.replicas'];
  assert.deepEqual(c, { value: '1', isDefault: true });
  assert.equal(broker.core.replica('one', 0).minInsyncReplicas, 1);
});
