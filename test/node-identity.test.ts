/**
 * Node identity against the real `broker` process (issue 11, DESIGN.md decision 4): the numeric node
 * id that Kafka clients see comes from node.id's trailing number, and `meta/meta.properties` records
 * the node id and a generated cluster id on first start, is checked on every later one, and is never
 * written over. Embedded `startBroker()` takes the same path.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BrokerClient } from '../src/client/index.ts';
import { ConfigError } from '../src/config/config-error.ts';
import { loadConfig } from '../src/config/load.ts';
import { startBroker } from '../src/index.ts';
import { generateClusterId, isClusterId, parseMetaProperties } from '../src/meta-properties.ts';
import { claimDataDir } from '../src/start-up.ts';
import { brokerBin, spawnBroker } from './helpers/broker-process.ts';
import { requireDebian } from './helpers/debian.ts';
import { tempDir } from './helpers/tmp.ts';
import { kafka } from './kafka-door/raw.ts';

const kcat = '/usr/bin/kcat';

/** Runs the real broker to its exit; it must not get as far as serving. */
async function brokerExit(
  args: string[],
): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const proc = spawn(
    process.execPath,
    [
      brokerBin,
      '--grpc-port',
      '0',
      '--kafka-port',
      '0',
      '--metrics-port',
      '0',
      '--raft-port',
      '0',
      '--data-port',
      '0',
      '--bind-addr',
      '127.0.0.1',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let stdout = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const [status] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { status, stderr, stdout };
}

/** Metadata v12 over a raw connection: the broker ids, the controller id and the cluster id. */
async function metadata(port: number) {
  const k = await kafka(port);
  try {
    const md = await k.call('Metadata', 12, {
      topics: null,
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    return {
      brokerIds: md.brokers.map((b: { nodeId: number }) => b.nodeId) as number[],
      controllerId: md.controllerId as number,
      clusterId: md.clusterId as string,
      topicIds: Object.fromEntries(
        md.topics.map((t: { name: string; topicId: string }) => [t.name, t.topicId]),
      ) as Record<string, string>,
    };
  } finally {
    k.close();
  }
}

const metaFile = (dataDir: string) => path.join(dataDir, 'meta', 'meta.properties');
// Exit codes of stop() are not checked: a SIGTERM right after "broker ready" can arrive before the CLI
// has installed its handler (src/cli/broker-main.ts), which is not what these tests are about.
const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('--id without a trailing number, or with 0, exits 2 naming node.id, and writes nothing', async () => {
  for (const [id, problem] of [
    ['broker', /must end in a decimal number from 1 to 2147483647/],
    ['node-0', /its number 0 is out of range: .*0 is Raft's "no node"/],
    ['node-2147483648', /its number 2147483648 is out of range/],
  ] as const) {
    const dataDir = path.join(await tempDir(), 'data');
    const r = await brokerExit(['--id', id, '--data-dir', dataDir]);
    assert.equal(r.status, 2, `--id ${id}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`node\\.id="${id}" \\(from --id\\) is invalid: `), id);
    assert.match(r.stderr, problem, id);
    assert.ok(!existsSync(dataDir), `--id ${id}: no data directory is made for a refused id`);
  }
});

test('--id 7 and --id node-7 are both broker 7 to Kafka clients and in GetServers', async (t) => {
  for (const id of ['7', 'node-7']) {
    const broker = await spawnBroker(await tempDir(), ['--id', id]);
    t.after(() => broker.stop());
    const md = await metadata(broker.kafkaPort!);
    assert.deepEqual(md.brokerIds, [7], `--id ${id}`);
    assert.equal(md.controllerId, 7, `--id ${id}`);
    const ready = broker.logs.find((l) => l.msg === 'broker ready')!;
    assert.equal(ready.nodeId, 7, 'the ready line carries the numeric id');
    assert.equal(ready.clusterId, md.clusterId, 'and the cluster id');
    const client = await BrokerClient.connect(broker.grpcAddress);
    const cluster = await client.describeCluster();
    client.close();
    assert.deepEqual(
      cluster.servers.map((s) => [s.id, s.nodeId]),
      [[id, 7]],
    );
    assert.equal(cluster.clusterId, md.clusterId, 'one cluster id through both doors');
    await broker.stop();
  }
});

test('kcat -L sees broker id 7 for --id broker-7', async (t) => {
  requireDebian(t, existsSync(kcat), 'kcat');
  const broker = await spawnBroker(await tempDir(), ['--id', 'broker-7']);
  t.after(() => broker.stop());
  const r = spawnSync(kcat, ['-b', broker.kafkaAddress!, '-L', '-J', '-m', '10'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const listing = JSON.parse(r.stdout) as { controllerid: number; brokers: { id: number; name: string }[] };
  assert.deepEqual(
    listing.brokers.map((b) => b.id),
    [7],
  );
  assert.equal(listing.controllerid, 7);
});

test('meta.properties is written on first start with a 22-character cluster id that Metadata reports and restarts keep', async (t) => {
  const dataDir = await tempDir();
  let broker = await spawnBroker(dataDir, ['--id', 'node-2']);
  t.after(() => broker.stop());
  const text = readFileSync(metaFile(dataDir), 'utf8');
  assert.match(
    text,
    /^#tsbroker node node-2, written \d{4}-\d\d-\d\dT[\d:.]+Z\nversion=1\ncluster\.id=[\w-]{22}\nnode\.id=2\n$/,
  );
  const props = parseMetaProperties(text);
  assert.ok(!('problem' in props), text);
  assert.equal(props.nodeId, 2);
  assert.ok(isClusterId(props.clusterId) && props.clusterId.length === 22, props.clusterId);
  assert.equal((await metadata(broker.kafkaPort!)).clusterId, props.clusterId);
  assert.ok(
    broker.logs.some((l) => l.msg === 'first start: new cluster id, wrote meta/meta.properties'),
    'the first start says it wrote the file',
  );
  await broker.stop();

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    broker = await spawnBroker(dataDir, ['--id', 'node-2']);
    assert.equal(readFileSync(metaFile(dataDir), 'utf8'), text, 'a restart leaves the file as it was');
    assert.equal((await metadata(broker.kafkaPort!)).clusterId, props.clusterId, 'and the same cluster id');
    assert.ok(!broker.logs.some((l) => String(l.msg).includes('meta.properties')), 'nothing is written');
    await broker.stop(signal);
  }
});

test("another node's id on the data directory exits 2 naming both ids, and the file stays as it was", async (t) => {
  const dataDir = await tempDir();
  const first = await spawnBroker(dataDir, ['--id', 'node-3']);
  t.after(() => first.stop());
  const { clusterId } = await metadata(first.kafkaPort!);
  await first.stop();
  const before = readFileSync(metaFile(dataDir));

  const r = await brokerExit(['--id', 'node-2', '--data-dir', dataDir]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `node\\.id="node-2" \\(from --id\\) cannot use node\\.data_dir="${reEscape(dataDir)}" \\(from --data-dir\\): ` +
        `data directory ${reEscape(dataDir)} belongs to node 3 of cluster ${clusterId}; this node is 2`,
    ),
  );
  assert.doesNotMatch(r.stdout, /broker ready/);
  assert.deepEqual(readFileSync(metaFile(dataDir)), before);
  // The same number under another name is the same node.
  const renamed = await spawnBroker(dataDir, ['--id', 'broker-3']);
  t.after(() => renamed.stop());
  assert.equal((await metadata(renamed.kafkaPort!)).clusterId, clusterId);
});

test('a garbled or unreadable meta.properties exits 2 naming node.data_dir and is left untouched', async (t) => {
  const dataDir = await tempDir();
  const first = await spawnBroker(dataDir, []);
  t.after(() => first.stop());
  await first.stop();
  const good = readFileSync(metaFile(dataDir));
  const cases: [Buffer, RegExp][] = [
    [
      Buffer.from(good.toString('utf8').replace(/cluster\.id=.*/, 'cluster.id=')),
      /cluster\.id= is not a cluster id/,
    ],
    [Buffer.from(good.toString('utf8').replace('node.id=1', 'node.id=one')), /node\.id=one is not a node id/],
    [
      Buffer.concat([
        good.subarray(0, good.indexOf('cluster.id') + 2),
        Buffer.from([0, 0xff, 0x13, 0x37]),
        good.subarray(good.indexOf('cluster.id') + 6),
      ]),
      /line 3 holds bytes that are not printable text/,
    ],
    [Buffer.alloc(0), /it has no version/],
    [Buffer.alloc(70_000, 'a'), /it holds 70000 bytes, more than the 65536 it may/],
  ];
  for (const [bytes, problem] of cases) {
    writeFileSync(metaFile(dataDir), bytes);
    const r = await brokerExit(['--data-dir', dataDir]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`node\\.data_dir="${reEscape(dataDir)}" \\(from --data-dir\\) cannot be used: `),
    );
    assert.match(r.stderr, new RegExp(`${reEscape(metaFile(dataDir))} is malformed: `));
    assert.match(r.stderr, problem);
    assert.match(r.stderr, /the broker leaves it as it is/);
    assert.deepEqual(readFileSync(metaFile(dataDir)), bytes, 'the file is not written over');
  }
  // A directory where the file belongs cannot be read as one.
  rmSync(metaFile(dataDir));
  spawnSync('mkdir', [metaFile(dataDir)]);
  const r = await brokerExit(['--data-dir', dataDir]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /meta\.properties cannot be read: .*EISDIR/);
});

test('a data directory of the release before meta.properties is migrated once: same topics and data, a new file', async (t) => {
  const dataDir = await tempDir();
  let broker = await spawnBroker(dataDir, []);
  t.after(() => broker.stop());
  let client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('kept', { partitions: 2 });
  await client.produceBatch('kept', ['a', 'b', 'c'], { partition: 1 });
  client.close();
  const old = parseMetaProperties(readFileSync(metaFile(dataDir), 'utf8'));
  assert.ok(!('problem' in old));
  const topicId = (await metadata(broker.kafkaPort!)).topicIds.kept;
  await broker.stop();
  // What the release before the metadata log left: meta/topics.json, partition directories without
  // partition.metadata, and neither meta.properties nor raft/.
  rmSync(metaFile(dataDir));
  rmSync(path.join(dataDir, 'raft'), { recursive: true });
  for (const p of [0, 1]) rmSync(path.join(dataDir, `kept-${p}`, 'partition.metadata'));
  writeFileSync(
    path.join(dataDir, 'meta', 'topics.json'),
    JSON.stringify({
      version: 1,
      topics: [{ name: 'kept', id: topicId, partitions: 2, replicationFactor: 1, configs: {}, createdMs: 1 }],
    }),
  );

  broker = await spawnBroker(dataDir, []);
  const migrated = broker.logs.filter(
    (l) =>
      l.msg === 'data directory of an earlier release: generated a cluster id and wrote meta/meta.properties',
  );
  assert.equal(migrated.length, 1, 'one info line says so');
  assert.equal(migrated[0].level, 30, 'at info');
  const props = parseMetaProperties(readFileSync(metaFile(dataDir), 'utf8'));
  assert.ok(!('problem' in props));
  assert.equal(props.nodeId, 1);
  assert.ok(isClusterId(props.clusterId));
  assert.notEqual(props.clusterId, old.clusterId, 'a new cluster id');
  assert.equal(migrated[0].clusterId, props.clusterId);
  assert.equal((await metadata(broker.kafkaPort!)).clusterId, props.clusterId);
  client = await BrokerClient.connect(broker.grpcAddress);
  assert.deepEqual(
    (await client.listTopics()).map((x) => [x.name, x.partitions]),
    [['kept', 2]],
  );
  const { records } = await client.consumeBatch('kept', 0, { partition: 1 });
  assert.deepEqual(
    records.map((r) => r.value?.toString()),
    ['a', 'b', 'c'],
  );
  client.close();
  await broker.stop();
  assert.ok(existsSync(path.join(dataDir, 'meta', 'topics.json.migrated')), 'the legacy file is kept aside');
  assert.ok(!existsSync(path.join(dataDir, 'meta', 'topics.json')));

  // Once: the next start reads the metadata log and says nothing of a migration.
  broker = await spawnBroker(dataDir, []);
  assert.ok(!broker.logs.some((l) => String(l.msg).includes('meta.properties')));
  assert.equal((await metadata(broker.kafkaPort!)).clusterId, props.clusterId);
});

test('embedded startBroker(): its temporary data directory gets a meta.properties of its own', async (t) => {
  const a = await startBroker({ nodeId: 'node-5' });
  t.after(() => a.close());
  const b = await startBroker();
  t.after(() => b.close());
  assert.equal(a.config.numericNodeId, 5);
  assert.equal(b.config.numericNodeId, 1);
  const pa = parseMetaProperties(readFileSync(metaFile(a.dataDir), 'utf8'));
  const pb = parseMetaProperties(readFileSync(metaFile(b.dataDir), 'utf8'));
  assert.ok(!('problem' in pa) && !('problem' in pb));
  assert.equal(pa.nodeId, 5);
  assert.notEqual(pa.clusterId, pb.clusterId, 'each embedded broker is a cluster of its own');
  const md = await metadata(a.kafkaPort);
  assert.deepEqual([md.brokerIds, md.clusterId], [[5], pa.clusterId]);
  assert.equal(a.clusterId, pa.clusterId, 'RunningBroker.clusterId');

  // A given data directory of another node is refused with a ConfigError, as the CLI exits 2.
  const err = await startBroker({ nodeId: 'node-6', dataDir: a.dataDir }).then(
    (x) => x.close().then(() => assert.fail('started on node 5 of another cluster')),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.key, 'node.id');
  assert.match(err.message, /belongs to node 5 of cluster .*; this node is 6/);
  const noNumber = await startBroker({ nodeId: 'broker' }).then(
    (x) => x.close().then(() => assert.fail('started as "broker"')),
    (e: unknown) => e,
  );
  assert.ok(noNumber instanceof ConfigError && noNumber.key === 'node.id', String(noNumber));
});

test('a node joining another cluster is refused a data directory of its own cluster, naming node.data_dir', async () => {
  const dataDir = await tempDir();
  const { config } = loadConfig(['--id', 'node-4', '--data-dir', dataDir], {});
  const lines: string[] = [];
  const logger = { info: (_o: object, msg: string) => void lines.push(msg) };
  const joined = generateClusterId();
  // A fresh directory records the cluster it joins, not a new one.
  const first = await claimDataDir(config, logger, { clusterId: joined });
  assert.deepEqual(first, { clusterId: joined, nodeId: 4 });
  assert.deepEqual(lines, ['first start: wrote meta/meta.properties for the cluster joined']);
  assert.deepEqual(await claimDataDir(config, logger, { clusterId: joined }), first);
  assert.deepEqual(await claimDataDir(config, logger), first, 'without a cluster to join, the recorded one');
  const other = generateClusterId();
  await assert.rejects(claimDataDir(config, logger, { clusterId: other }), {
    name: 'ConfigError',
    key: 'node.data_dir',
    message: new RegExp(`belongs to node 4 of cluster ${joined}; this node is joining cluster ${other}`),
  });
  assert.equal(lines.length, 1, 'only the first call wrote');
});
