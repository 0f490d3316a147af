/**
 * The Docker image runs the broker as one bundled file (scripts/bundle.ts, dist/broker.mjs), not as
 * the TypeScript the other tests run. This test builds that bundle into a directory laid out as the
 * image's /app (the bundle in dist/, beside proto/ and node_modules/) and runs it as a real process:
 * a config file (YAML, loaded lazily from node_modules), the gRPC API through our client and through
 * Debian's Python grpcio (health and server reflection included, which load their modules lazily too),
 * every codec (LZ4 and Snappy are native packages left outside the bundle), the Kafka door with kcat,
 * and `stop`, which must recognise the bundle as the broker's command.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { bundleBroker } from '../../scripts/bundle.ts';
import { BrokerClient } from '../../src/client/index.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import { pythonHas, requireDebian } from '../helpers/debian.ts';
import { runPythonGrpcClient } from '../helpers/python-grpc.ts';
import { tempDir } from '../helpers/tmp.ts';

const root = new URL('../../', import.meta.url).pathname;
const execFileAsync = promisify(execFile);

test('the bundled broker (the Docker image’s entry point) serves both doors, every codec, a config file and stop', async (t) => {
  const app = await tempDir(t);
  await symlink(path.join(root, 'proto'), path.join(app, 'proto'));
  await symlink(path.join(root, 'node_modules'), path.join(app, 'node_modules'));
  const bin = await bundleBroker(path.join(app, 'dist'));
  assert.equal(bin, path.join(app, 'dist/broker.mjs'));

  // The broker re-encodes every batch (producer_compression off), so that it decodes each codec the
  // client sends and encodes zstd itself.
  const config = path.join(app, 'broker.yaml');
  await writeFile(
    config,
    'compression:\n  default: "zstd"\n  producer_compression: false\nstorage:\n  fsync: "interval"\n',
  );
  const dataDir = path.join(app, 'data');
  const broker = await spawnBroker(dataDir, ['--config', config], {}, { bin });
  t.after(() => broker.stop('SIGKILL'));
  const ready = broker.logs.find((l) => l.msg === 'broker ready')!;
  assert.equal(ready.fsync, 'interval', 'the YAML file was read');

  const client = await BrokerClient.connect(broker.grpcAddress);
  t.after(() => client.close());
  await client.createTopic('bundled', { partitions: 1 });
  let offset = 0;
  for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
    const values = Array.from({ length: 20 }, (_, i) => `${compression}-${i}-${'x'.repeat(200)}`);
    const r = await client.produceBatch('bundled', values, { compression });
    assert.equal(r.baseOffset, offset);
    const got = await client.consumeBatch('bundled', offset, { maxRecords: 20 });
    assert.deepEqual(
      got.records.map((m) => m.value?.toString()),
      values,
      compression,
    );
    offset += 20;
  }

  if (requireDebian(t, existsSync('/usr/bin/kcat'), 'kcat')) {
    const produced = spawnSync(
      '/usr/bin/kcat',
      ['-P', '-b', broker.kafkaAddress!, '-t', 'bundled', '-p', '0', '-z', 'lz4'],
      { input: 'from-kcat-1\nfrom-kcat-2\n', encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(produced.status, 0, produced.stderr);
    const consumed = spawnSync(
      '/usr/bin/kcat',
      ['-C', '-b', broker.kafkaAddress!, '-t', 'bundled', '-p', '0', '-o', String(offset), '-c', '2', '-e'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(consumed.status, 0, consumed.stderr);
    assert.equal(consumed.stdout, 'from-kcat-1\nfrom-kcat-2\n');
  }

  if (requireDebian(t, pythonHas('grpc', 'grpc_tools'), 'python3-grpcio and python3-grpc-tools')) {
    const res = runPythonGrpcClient(broker.grpcAddress, await tempDir(t)) as {
      health: string;
      services: string[];
    };
    assert.equal(res.health, 'SERVING');
    assert.ok(res.services.includes('tsbroker.v1.Broker'), JSON.stringify(res.services));
  }

  // `stop` through the bundle: it finds the broker by its pid file and waits for the clean shutdown.
  // Run without blocking this process, which reads the broker's output and reaps it.
  const stop = await execFileAsync(process.execPath, [bin, 'stop', '--data-dir', dataDir], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.match(stop.stdout, /stopped after .* s: a clean shutdown/);
  assert.equal(await broker.stop(), 0);
  assert.ok(broker.logs.some((l) => l.msg === 'shutdown complete; logs flushed and marked clean'));
});
