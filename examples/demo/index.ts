/**
 * The seed's demo: create demo-topic, produce three messages, consume them back with their offsets.
 *   npm run demo                             (against localhost:8080)
 *   npm run demo -- --server localhost:8081  (any node of a cluster)
 *   BROKER_SERVER=host:port npm run demo
 */
import { parseArgs } from 'node:util';
import { BrokerClient, BrokerClientError } from '../../src/client/index.ts';

const { values } = parseArgs({ options: { server: { type: 'string' } } });
const server = values.server ?? process.env.BROKER_SERVER ?? 'localhost:8080';
const client = await BrokerClient.connect(server);
try {
  console.log('Broker Demo');
  console.log('='.repeat(50));
  console.log("1. Creating topic 'demo-topic'...");
  try {
    await client.createTopic('demo-topic', { partitions: 1 });
  } catch (err) {
    if (!(err instanceof BrokerClientError && err.code === 'TOPIC_ALREADY_EXISTS')) throw err;
    console.log('   (it exists already)');
  }
  console.log('2. Producing single messages...');
  const messages = [
    'Hello, World!',
    '{"user": "alice", "action": "login"}',
    '{"user": "bob", "action": "purchase", "amount": 99.99}',
  ];
  const offsets: number[] = [];
  for (const [i, m] of messages.entries()) {
    const { offset } = await client.produce('demo-topic', m, { partition: 0 });
    offsets.push(offset);
    console.log(`   Produced message ${i} at offset ${offset}`);
  }
  console.log('3. Consuming messages...');
  for (const offset of offsets) {
    const record = await client.consume('demo-topic', offset, { partition: 0 });
    console.log(`   Offset ${record.offset}: ${record.value?.toString()}`);
  }
  console.log('Demo complete!');
} finally {
  client.close();
}
