/**
 * The README's producer, consumer and dead letter examples, run end to end against an embedded broker:
 *   node examples/groups/index.ts
 */
import { BrokerClient } from '../../src/client/index.ts';
import { startBroker } from '../../src/index.ts';

const broker = await startBroker();
const client = await BrokerClient.connect(broker.grpcAddress);
await client.createTopic('orders', { partitions: 3 });

// --- Producer (README "Producing idempotently")
const producer = client.producer({ idempotent: true, compression: 'zstd' });
await producer.send('orders', { key: 'customer-7', value: JSON.stringify({ id: 1, total: 42 }) });
await producer.sendBatch('orders', [
  { key: 'customer-8', value: JSON.stringify({ id: 2, total: 7 }) },
  { key: 'customer-7', value: JSON.stringify({ id: 3, total: 'oops' }), headers: { source: 'web' } },
]);
await producer.close();

// --- Consumer (README "Consuming in a group")
const consumer = client.consumer({ groupId: 'billing', topics: ['orders'], fromBeginning: true });
let seen = 0;
for await (const m of consumer) {
  console.log(`${m.topic}-${m.partition}@${m.offset}`, m.key?.toString(), m.value?.toString());
  if (++seen === 3) break; // leaving the loop commits and leaves the group
}

// --- Dead letters (README "Dead letters")
const shipping = client.consumer({
  groupId: 'shipping',
  topics: 'orders',
  fromBeginning: true,
  deadLetterQueue: true, // failures go to orders.dlq
  maxRetries: 2,
});
const shipped = new Set<number>();
let failures = 0;
await shipping.run({
  eachMessage: async ({ message }) => {
    const order = JSON.parse(message.value!.toString());
    if (typeof order.total !== 'number') {
      // The third failure (one try, two retries) sends the record to orders.dlq.
      if (++failures === 3 && shipped.size === 2) void shipping.close();
      throw new Error(`order ${order.id} has no total`);
    }
    shipped.add(order.id);
    console.log('shipped order', order.id);
    if (shipped.size === 2 && failures === 3) void shipping.close();
  },
});
const dlq = await client.consumeBatch('orders.dlq', 0);
for (const d of dlq.records)
  console.log('dead letter:', Object.fromEntries(d.headers.map((h) => [h.key, h.value?.toString()])));

client.close();
await broker.close();
