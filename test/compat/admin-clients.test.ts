/**
 * Real admin clients on the admin APIs of issue 16 section 3, against the real broker process:
 * kafkajs (describeCluster, alterConfigs, createPartitions, deleteTopicRecords, deleteGroups),
 * @confluentinc/kafka-javascript (deleteTopicRecords, deleteGroups) and confluent-kafka-python's
 * AdminClient (alter_configs, create_partitions; the Debian package has no more of them), each
 * checked through another door or another client.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { KafkaJS as KafkaJSTypes } from '@confluentinc/kafka-javascript';
import kafkajs from 'kafkajs';
import { BrokerClient } from '../../src/client/index.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { CompatBroker, compatDir, runJsonLines } from './helpers.ts';

const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;
const { KafkaJS: Confluent } = createRequire(import.meta.url)('@confluentinc/kafka-javascript') as {
  KafkaJS: typeof KafkaJSTypes;
};

let broker: CompatBroker;
let grpc: BrokerClient;

before(async () => {
  broker = await CompatBroker.start();
  grpc = await BrokerClient.connect(broker.grpcAddress);
});

after(async () => {
  grpc?.close();
  await broker?.close();
});

/** Records 0..n-1 in partition 0 of `topic`, and a group that committed offset `committed` there. */
async function seed(topic: string, n: number, group: string, committed: number): Promise<void> {
  await grpc.createTopic(topic, { partitions: 1 });
  await grpc.produceBatch(
    topic,
    Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`v${i}`) })),
    { partition: 0 },
  );
  await grpc.commitOffsets(group, [{ topic, partition: 0, offset: committed }]);
}

test('kafkajs admin: describeCluster, alterConfigs, createPartitions, deleteTopicRecords, deleteGroups', async (t) => {
  const kafka = new Kafka({
    clientId: 'admin-apis',
    brokers: [broker.kafkaAddress],
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  t.after(() => admin.disconnect());
  await admin.connect();

  const servers = await grpc.describeCluster();
  const cluster = await admin.describeCluster();
  assert.equal(cluster.clusterId, servers.clusterId);
  assert.deepEqual(
    cluster.brokers.map((b) => [b.nodeId, b.host, b.port]),
    [[cluster.controller, '127.0.0.1', broker.kafkaPort]],
  );

  await seed('kjs-admin', 10, 'kjs-group', 4);
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: ConfigResourceTypes.TOPIC,
        name: 'kjs-admin',
        configEntries: [{ name: 'retention.ms', value: '7200000' }],
      },
    ],
  });
  const info = await grpc.describeTopic('kjs-admin');
  assert.equal(info.configs['retention.ms']?.value, '7200000', 'gRPC sees the Kafka door’s change');
  await assert.rejects(
    admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: 'kjs-admin',
          configEntries: [{ name: 'retention.ms', value: 'x' }],
        },
      ],
    }),
    (err: Error & { type?: string }) =>
      err.type === 'INVALID_CONFIG' || /INVALID_CONFIG|config/i.test(err.message),
  );

  await admin.createPartitions({ topicPartitions: [{ topic: 'kjs-admin', count: 3 }] });
  assert.equal((await grpc.describeTopic('kjs-admin')).partitions, 3);
  await assert.rejects(admin.createPartitions({ topicPartitions: [{ topic: 'kjs-admin', count: 2 }] }));

  await admin.deleteTopicRecords({ topic: 'kjs-admin', partitions: [{ partition: 0, offset: '6' }] });
  const offsets = await admin.fetchTopicOffsets('kjs-admin');
  const p0 = offsets.find((o) => o.partition === 0)!;
  assert.deepEqual([p0.low, p0.high], ['6', '10']);
  await assert.rejects(
    admin.deleteTopicRecords({ topic: 'kjs-admin', partitions: [{ partition: 0, offset: '99' }] }),
  );

  const deleted = await admin.deleteGroups(['kjs-group']);
  assert.deepEqual(
    deleted.map((d) => [d.groupId, d.errorCode]),
    [['kjs-group', 0]],
  );
  assert.deepEqual(await grpc.fetchOffsets('kjs-group'), [], 'the group’s offsets are gone');
  await assert.rejects(
    admin.deleteGroups(['kjs-group']),
    (err: Error & { groups?: { errorCode: number }[] }) => {
      assert.equal(err.groups?.[0]?.errorCode, 69, 'GROUP_ID_NOT_FOUND');
      return true;
    },
  );
});

test('@confluentinc/kafka-javascript admin: deleteTopicRecords and deleteGroups', async (t) => {
  const kafka = new Confluent.Kafka({
    kafkaJS: {
      brokers: [broker.kafkaAddress],
      clientId: 'admin-apis-cfl',
      logLevel: Confluent.logLevel.NOTHING,
    },
  });
  const admin = kafka.admin();
  t.after(() => admin.disconnect());
  await admin.connect();
  await seed('cfl-admin', 8, 'cfl-group', 3);

  const r = await admin.deleteTopicRecords({
    topic: 'cfl-admin',
    partitions: [{ partition: 0, offset: '5' }],
  });
  assert.equal(r[0].lowWatermark, 5);
  assert.equal((await grpc.describeTopic('cfl-admin')).partitionInfo[0].logStartOffset, 5);

  const deleted = await admin.deleteGroups(['cfl-group']);
  assert.deepEqual(
    deleted.map((d) => [d.groupId, d.errorCode]),
    [['cfl-group', 0]],
  );
  await assert.rejects(admin.deleteGroups(['cfl-no-such-group']), { name: 'KafkaJSDeleteGroupsError' });
  assert.deepEqual(await grpc.fetchOffsets('cfl-group'), []);
});

const python = pythonHas('confluent_kafka');

test('confluent-kafka-python AdminClient: alter_configs and create_partitions', async (t) => {
  if (!requireDebian(t, python, 'python3-confluent-kafka')) return;
  await grpc.createTopic('py-admin', { partitions: 1, configs: { 'segment.jitter.ms': '5' } });
  const servers = await grpc.getServers();
  const lines = await runJsonLines(
    debianPython,
    [path.join(compatDir, 'confluent_admin.py'), broker.kafkaAddress, 'py-admin', String(servers[0].nodeId)],
    t,
  );
  const by = (event: string) => lines.filter((l) => l.event === event);
  assert.deepEqual(by('configs')[0], {
    event: 'configs',
    'retention.ms': '3600000',
    'max.message.bytes': '65536',
  });
  for (const r of by('refused')) assert.equal(r.refused, true, `${String(r.what)} is refused`);
  assert.match(String(by('refused').find((r) => r.what === 'broker')?.error), /log\.retention\.ms/);
  assert.equal(by('shrink')[0].refused, true);
  assert.deepEqual(by('partitions')[0], { event: 'partitions', count: 3 });
  const info = await grpc.describeTopic('py-admin');
  assert.equal(info.partitions, 3);
  assert.equal(
    info.configs['segment.jitter.ms']?.isDefault,
    true,
    'AlterConfigs replaced the topic’s own configs',
  );
});
