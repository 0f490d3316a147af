/**
 * `broker-admin`'s placement commands of issue 14 against one real `broker` process, as an operator
 * runs them: reassign (--list, --plan, --cancel, --replication-factor, --wait), elect-leaders,
 * rebalance, add-partitions and remove-node (a decommission, which one node refuses). Moves between
 * nodes are tested with clusters elsewhere; here every answer is what a single node must say.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { BrokerClient } from '../../src/client/index.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';

const adminCli = path.join(new URL('../../', import.meta.url).pathname, 'src/cli/broker-admin.ts');

let broker: BrokerProcess;
let client: BrokerClient;
let dir: string;

before(async () => {
  dir = await tempDir();
  broker = await spawnBroker(path.join(dir, 'data'));
  client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('orders', { partitions: 2 });
});

after(async () => {
  client?.close();
  await broker?.stop();
});

/** `broker-admin --server <broker> ...args`: exit code, stdout and stderr (stdout is not a terminal). */
async function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [
      adminCli,
      '--server',
      broker.grpcAddress,
      ...args,
    ]);
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function plan(name: string, doc: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return file;
}

test('reassign --list: no move in progress, as a table and as JSON', async () => {
  const r = await admin('reassign', '--list');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '(no partition is being moved)\n');
  const j = await admin('--json', 'reassign', '--list', 'orders');
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), []);
  const unknown = await admin('reassign', '--list', 'no-such-topic');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /topic no-such-topic does not exist \[UNKNOWN_TOPIC_OR_PARTITION\]/);
});

test('rebalance --dry-run on one node: no moves, and the node with its load', async () => {
  const r = await admin('rebalance', '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Dry run: nothing was started\.\nNo moves: the replicas are balanced\.\n/);
  assert.match(r.stdout, /^NODE\s+REPLICAS\s+LEADERS\s+BYTES$/m);
  assert.match(r.stdout, /^1\s+\d+\s+\d+\s+\d/m, 'node 1 and its load, unchanged by the plan');
  const j = await admin('--json', 'rebalance', '--dry-run');
  const parsed = JSON.parse(j.stdout) as { dryRun: boolean; moves: unknown[]; before: { nodeId: number }[] };
  assert.equal(parsed.dryRun, true);
  assert.deepEqual(parsed.moves, []);
  assert.deepEqual(
    parsed.before.map((l) => l.nodeId),
    [1],
  );
  // Without --dry-run it starts nothing either: the controller balances by itself.
  const auto = await admin('rebalance');
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stdout, /balances replicas by itself while cluster\.auto_rebalance is on/);
  assert.match(auto.stdout, /No moves/);
});

test('elect-leaders: every partition has its preferred leader already', async () => {
  const all = await admin('elect-leaders');
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, 'No partition needed a preferred leader election.\n');
  const some = await admin('elect-leaders', 'orders', 'orders:1');
  assert.equal(some.code, 0, some.stderr);
  assert.match(some.stdout, /^TOPIC\s+PARTITION\s+RESULT$/m);
  assert.match(some.stdout, /^orders\s+0\s+not needed$/m);
  assert.match(some.stdout, /^orders\s+1\s+not needed$/m);
  const j = await admin('--json', 'elect-leaders', 'orders:0');
  assert.deepEqual(JSON.parse(j.stdout), {
    type: 'preferred',
    results: [
      {
        topic: 'orders',
        partition: 0,
        error: 'ELECTION_NOT_NEEDED',
        message: JSON.parse(j.stdout).results[0].message,
        result: 'not needed',
      },
    ],
  });
  const bad = await admin('elect-leaders', '--type', 'dirty');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--type takes preferred or unclean, got "dirty"/);
  const missing = await admin('elect-leaders', 'no-such-topic');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no-such-topic does not exist/);
});

test('add-partitions raises the count, with or without assignments', async () => {
  await client.createTopic('grow', { partitions: 1 });
  const r = await admin('add-partitions', 'grow', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Topic grow has 2 partition(s) now.\n');
  const j = await admin('--json', 'add-partitions', 'grow', '4', '--assignments', '1:1');
  assert.equal(j.code, 0, j.stderr);
  const t = JSON.parse(j.stdout) as { partitions: number; partitionInfo: { replicaIds: number[] }[] };
  assert.equal(t.partitions, 4);
  assert.deepEqual(t.partitionInfo.at(-1)?.replicaIds, [1]);
  const dup = await admin('add-partitions', 'grow', '5', '--assignments', '1,1');
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /broker 1 is named twice in 1,1 \[INVALID_REPLICA_ASSIGNMENT\]/);
  const smaller = await admin('add-partitions', 'grow', '3');
  assert.equal(smaller.code, 1);
  assert.match(smaller.stderr, /\[INVALID_PARTITIONS\]/);
  const usage = await admin('add-partitions', 'grow', '5', '--assignments', '1,x');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--assignments takes broker ids like 1,2:2,3/);
  assert.equal((await client.describeTopic('grow')).partitions, 4, 'refused ones changed nothing');
});

test('reassign --plan to an unknown broker prints its error and exits 1; nothing moves', async () => {
  const file = await plan('unknown-broker.json', {
    version: 1,
    partitions: [{ topic: 'orders', partition: 0, replicas: [9], log_dirs: ['any'] }],
  });
  const r = await admin('reassign', '--plan', file);
  assert.notEqual(r.code, 0);
  assert.match(`${r.stdout}${r.stderr}`, /INVALID_REPLICA_ASSIGNMENT/);
  assert.match(`${r.stdout}${r.stderr}`, /\b9\b/, 'the message names the broker');
  assert.deepEqual((await client.describeTopic('orders')).partitionInfo[0].replicaIds, [1]);
  assert.deepEqual(await client.listPartitionReassignments(), []);
});

test('reassign --plan to the replicas a partition has: done at once, --wait says so', async () => {
  const file = await plan('same.json', {
    version: 1,
    partitions: [{ topic: 'orders', partition: 1, replicas: [1] }],
  });
  const r = await admin('reassign', '--plan', file, '--wait', '--timeout', '30');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^orders\s+1\s+1\s+moving$/m);
  // Not a terminal: plain progress lines, no bar.
  assert.match(r.stdout, /^1\/1 moves done$/m);
  assert.doesNotMatch(r.stdout, /\r|\[#/);
  assert.match(r.stdout, /Every move is done\.\n$/);
  const cancel = await admin('--json', 'reassign', '--cancel', '--plan', file);
  const parsed = JSON.parse(cancel.stdout) as { results: { error: string; result: string }[] };
  assert.equal(cancel.code, 1, 'no move of it to cancel');
  assert.equal(parsed.results[0].error, 'NO_REASSIGNMENT_IN_PROGRESS');
  assert.equal(parsed.results[0].result, 'error');
});

test('reassign --wait on a terminal draws a progress bar', {
  skip: !existsSync('/usr/bin/script') && 'no script(1) for a pseudo-terminal',
}, async () => {
  const file = await plan('tty.json', {
    version: 1,
    partitions: [{ topic: 'orders', partition: 0, replicas: [1] }],
  });
  // script(1) runs the command on a pseudo-terminal, so that stdout is a TTY.
  const command = [
    process.execPath,
    adminCli,
    '--server',
    broker.grpcAddress,
    'reassign',
    '--plan',
    file,
    '--wait',
  ]
    .map((a) => `'${a}'`)
    .join(' ');
  const { stdout } = await promisify(execFile)('/usr/bin/script', ['-qec', command, '/dev/null']);
  assert.match(stdout, /\r\[#{30}\] 1\/1 moves done/);
  assert.match(stdout, /Every move is done\./);
});

test('reassign --replication-factor --dry-run: nothing to move at the factor a topic has', async () => {
  const r = await admin('reassign', 'orders', '--replication-factor', '1', '--dry-run');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Every partition of orders has 1 replica(s) already: nothing to move.\n');
  const j = await admin('--json', 'reassign', 'orders', '--replication-factor', '1', '--dry-run');
  assert.deepEqual(JSON.parse(j.stdout), { topic: 'orders', replicationFactor: 1, dryRun: true, moves: [] });
  // Two replicas on one node: refused.
  const two = await admin('reassign', 'orders', '--replication-factor', '2', '--dry-run');
  assert.equal(two.code, 1);
  assert.match(two.stderr, /\[INVALID_REPLICATION_FACTOR\]/);
});

test('reassign refuses a plan that is not kafka-reassign-partitions JSON, and bad usage', async () => {
  const cases: [unknown, RegExp][] = [
    ['{not json', /cannot read the plan .*not-json\.json/],
    [{ partitions: 'x' }, /is not \{"version":1,"partitions":\[/],
    [{ version: 2, partitions: [] }, /has version 2; only version 1 is known/],
    [{ version: 1, partitions: [] }, /lists no partitions/],
    [
      { version: 1, partitions: [{ topic: 'orders', partition: -1, replicas: [1] }] },
      /"partition" must be an integer >= 0/,
    ],
    [
      { version: 1, partitions: [{ topic: 'orders', partition: 0 }] },
      /"replicas" must name at least one broker/,
    ],
    [
      { version: 1, partitions: [{ topic: 'orders', partition: 0, replicas: [1], log_dirs: ['/data'] }] },
      /"log_dirs" other than "any" are not supported/,
    ],
  ];
  for (const [i, [doc, message]] of cases.entries()) {
    const file = await plan(i === 0 ? 'not-json.json' : `bad-${i}.json`, doc);
    const r = await admin('reassign', '--plan', file);
    assert.equal(r.code, 1, `${JSON.stringify(doc)}: ${r.stdout}`);
    assert.match(r.stderr, message);
  }
  const none = await admin('reassign');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /reassign needs --plan FILE, --list \[TOPIC\], or TOPIC --replication-factor N/);
  const timeout = await admin('reassign', 'orders', '--replication-factor', '1', '--timeout', 'soon');
  assert.equal(timeout.code, 2);
  assert.match(timeout.stderr, /--timeout takes whole seconds >= 1, got "soon"/);
});

test('remove-node 1 on a single node refuses clearly and changes nothing', async () => {
  const r = await admin('remove-node', '1');
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /^broker-admin: .+ \[[A-Z_]+\]\n$/);
  assert.equal(r.stdout, '');
  const [node] = await client.getServers();
  assert.equal(node.nodeId, 1);
  assert.equal(node.decommissioning, false);
  assert.equal(node.fenced, false);
  const c = await admin('--json', 'cluster');
  const servers = (
    JSON.parse(c.stdout) as { servers: { nodeId: number; replicas: number; leaders: number }[] }
  ).servers;
  assert.equal(servers.length, 1);
  assert.ok(servers[0].replicas >= 2 && servers[0].replicas === servers[0].leaders, c.stdout);
  const table = await admin('cluster');
  assert.match(
    table.stdout,
    /^NODE\s+ID\s+ADDRESS\s+KAFKA-PORT\s+ROLE\s+FENCED\s+REPLICAS\s+LEADERS\s+DECOMMISSIONING$/m,
  );
  assert.match(table.stdout, /\scontroller\s+no\s+\d+\s+\d+\s+no$/m);
});
