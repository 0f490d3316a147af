/**
 * A gRPC server that is not ready (starting or stopping) answers UNAVAILABLE, retriable, and the health
 * service says NOT_SERVING; once ready it serves. Real sockets, the real server class and core.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerClient, type BrokerClientError } from '../../src/client/index.ts';
import { startBroker } from '../../src/server.ts';
import { grpcServerFor } from '../helpers/grpc-server.ts';

test('UNAVAILABLE while not ready, then served', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.close());
  let ready = false;
  const server = grpcServerFor(broker, {
    clusterId: 'not-ready-test',
    isControllerLeader: () => ready,
    isReady: () => ready,
  });
  const port = await server.listen('127.0.0.1', 0);
  t.after(() => server.close());
  const client = await BrokerClient.connect(`127.0.0.1:${port}`, { retries: 0 });
  t.after(() => client.close());
  const err = (await client.listTopics().catch((e) => e)) as BrokerClientError;
  assert.equal(err.code, 'BROKER_NOT_AVAILABLE');
  assert.equal(err.grpcCode, 14); // UNAVAILABLE
  assert.equal(err.retriable, true);
  // A client with retries rides over the start-up window.
  const patient = await BrokerClient.connect(`127.0.0.1:${port}`, { retries: 10, retryBackoffMs: 20 });
  t.after(() => patient.close());
  setTimeout(() => {
    ready = true;
    server.notifyHealth();
  }, 100);
  assert.deepEqual(await patient.listTopics(), []);
});
