/**
 * The client's produce path (src/client/produce-stream.ts): by default its ProduceBatch requests go as
 * ProduceStream messages, with each request's own deadline and error; `produceStream: false` sends
 * unary calls; and a server without ProduceStream (a broker of an older version, here a gRPC server
 * that serves the Broker service's ProduceBatch and DescribeTopic alone) gets unary calls after its first UNIMPLEMENTED.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BrokerClient, type BrokerClientError } from '../../src/client/index.ts';
import { brokerServiceDefinition } from '../../src/grpc-proto.ts';
import { startBroker } from '../../src/server.ts';

test('produce goes over one ProduceStream call; errors are the unary call’s; produceStream: false is unary', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  const streamed = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
  t.after(() => streamed.close());
  const unary = await BrokerClient.connect(broker.grpcAddress, { retries: 0, produceStream: false });
  t.after(() => unary.close());
  await streamed.createTopic('ps', { partitions: 2 });

  const before = (await broker.metrics.registry.getSingleMetricAsString('broker_request_duration_seconds'))
    .split('\n')
    .filter((l) => l.includes('_count'));
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      streamed.produceBatch('ps', [{ key: `k${i}`, value: `v${i}` }], {
        compression: i % 2 ? 'lz4' : 'none',
      }),
    ),
  );
  assert.equal(results.length, 50);
  const viaUnary = await unary.produceBatch('ps', ['u'], { partition: 1 });
  const after = (await broker.metrics.registry.getSingleMetricAsString('broker_request_duration_seconds'))
    .split('\n')
    .filter((l) => l.includes('_count'));
  const count = (lines: string[], method: string) =>
    lines.filter((l) => l.includes(`method="${method}"`)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  assert.equal(count(after, 'ProduceStream') - count(before, 'ProduceStream'), 50, 'streamed');
  assert.equal(count(after, 'ProduceBatch') - count(before, 'ProduceBatch'), 1, 'one unary call');

  const stored = await streamed.consumeBatch('ps', 0, { partition: 1, maxRecords: 1000 });
  assert.ok(stored.records.some((r) => r.value?.toString() === 'u'));
  assert.equal(viaUnary.results[0].partition, 1);

  // A request's error comes back as the unary call's would, and the stream serves the next one.
  for (const c of [streamed, unary]) {
    const err = await c.produceBatch('missing', ['x'], { partition: 0 }).then(
      () => assert.fail('produced to a missing topic'),
      (e: BrokerClientError) => e,
    );
    assert.equal(err.code, 'UNKNOWN_TOPIC_OR_PARTITION');
    assert.equal(err.grpcCode, grpc.status.NOT_FOUND);
    assert.equal(err.retriable, false);
  }
  assert.equal((await streamed.produceBatch('ps', ['next'], { partition: 0 })).count, 1);
});

test('a server without ProduceStream gets unary ProduceBatch calls', async (t) => {
  // The Broker service's ProduceBatch (and DescribeTopic, which the client asks first), as a broker
  // before ProduceStream serves them.
  const server = new grpc.Server();
  const def = brokerServiceDefinition();
  let calls = 0;
  server.addService(
    { ProduceBatch: def.ProduceBatch, DescribeTopic: def.DescribeTopic } as grpc.ServiceDefinition,
    {
      DescribeTopic: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { topic: { name: 't', partitions: 1, replicationFactor: 1 } }),
      ProduceBatch: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        calls++;
        cb(null, { partition: 0, baseOffset: calls - 1, count: 1, results: [] });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  t.after(() => server.forceShutdown());
  const client = await BrokerClient.connect(`127.0.0.1:${port}`, { retries: 0 });
  t.after(() => client.close());
  const first = await client.produceBatch('t', ['a'], { partition: 0 });
  const second = await client.produceBatch('t', ['b'], { partition: 0 });
  assert.deepEqual([first.baseOffset, second.baseOffset, calls], [0, 1, 2]);
});
