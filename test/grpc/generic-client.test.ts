/**
 * A gRPC client that is not ours (Debian's Python grpcio, stubs compiled from our .proto files at run
 * time) calls the real broker process: the API, the standard health service and server reflection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionForKey } from '../../src/records/partitioner.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { pythonHas, requireDebian } from '../helpers/debian.ts';
import { runPythonGrpcClient } from '../helpers/python-grpc.ts';
import { tempDir } from '../helpers/tmp.ts';

test('Python grpcio calls the broker: topics, produce, consume, errors, health, reflection', async (t) => {
  if (!requireDebian(t, pythonHas('grpc', 'grpc_tools'), 'python3-grpcio and python3-grpc-tools')) return;
  const broker = await spawnBroker(await tempDir(t));
  t.after(() => broker.stop());
  // biome-ignore lint/suspicious/noExplicitAny: the client's JSON, checked field by field.
  const res: any = runPythonGrpcClient(broker.grpcAddress, await tempDir(t));
  assert.equal(res.health, 'SERVING');
  assert.ok(res.services.includes('tsbroker.v1.Broker'), JSON.stringify(res.services));
  assert.ok(res.services.includes('grpc.health.v1.Health'));
  assert.deepEqual(res.created, { partitions: 2, 'cleanup.policy': 'compact' });
  assert.deepEqual(res.produce, { partition: partitionForKey(Buffer.from('user-42'), 2), offset: 0 });
  const base = res.produce.partition === 1 ? 1 : 0;
  assert.deepEqual(res.batch, { partition: 1, base_offset: base, count: 5 });
  assert.deepEqual(
    res.consumed.slice(base),
    Array.from({ length: 5 }, (_, i) => ({ offset: base + i, value: `m${i}`, header: i })),
  );
  assert.equal(res.next_offset, base + 5);
  assert.deepEqual(res.missing, { code: 'NOT_FOUND', broker_code: 'UNKNOWN_TOPIC_OR_PARTITION' });
});
