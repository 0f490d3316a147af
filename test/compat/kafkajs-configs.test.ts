/**
 * kafkajs's admin client on topic and broker configs (issue 16 section 2): createTopics with Kafka
 * configs this broker used to refuse (message.timestamp.difference.max.ms, stored-only ones), then
 * describeConfigs for every config (no names), with synonyms, for the topic and for the broker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { CompatBroker } from './helpers.ts';

const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;

test('kafkajs admin: createTopics with Kafka configs, describeConfigs of topic and broker with synonyms', async (t) => {
  const broker = await CompatBroker.start();
  const kafka = new Kafka({
    clientId: 'configs',
    brokers: [broker.kafkaAddress],
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  t.after(async () => {
    await admin.disconnect();
    await broker.close();
  });
  await admin.connect();
  const created = await admin.createTopics({
    topics: [
      {
        topic: 'configured',
        numPartitions: 1,
        configEntries: [
          { name: 'message.timestamp.difference.max.ms', value: '3600000' },
          { name: 'segment.jitter.ms', value: '100' },
          { name: 'cleanup.policy', value: 'compact' },
        ],
      },
    ],
  });
  assert.equal(created, true);
  const topic = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured' }],
    includeSynonyms: true,
  });
  const entries = topic.resources[0]!.configEntries;
  const byName = new Map(entries.map((e) => [e.configName, e]));
  assert.ok(entries.length >= 36, `every topic config is described (${entries.length})`);
  assert.equal(byName.get('message.timestamp.difference.max.ms')?.configValue, '3600000');
  assert.equal(byName.get('cleanup.policy')?.configValue, 'compact');
  assert.equal(byName.get('segment.ms')?.configValue, '604800000');
  assert.equal(byName.get('segment.ms')?.isDefault, true);
  assert.equal(byName.get('cleanup.policy')?.isDefault, false);
  assert.deepEqual(
    byName.get('cleanup.policy')?.configSynonyms.map((s) => [s.configName, s.configValue]),
    [
      ['cleanup.policy', 'compact'],
      ['log.cleanup.policy', 'delete'],
    ],
  );
  const brokerConfigs = await admin.describeConfigs({
    resources: [
      { type: ConfigResourceTypes.BROKER, name: '1', configNames: ['log.retention.hours', 'num.partitions'] },
    ],
    includeSynonyms: false,
  });
  assert.deepEqual(
    brokerConfigs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue, e.readOnly]).sort(),
    [
      ['log.retention.hours', '168', true],
      ['num.partitions', '1', true],
    ],
  );
});
