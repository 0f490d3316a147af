/**
 * `broker stop` and `<data-dir>/broker.pid` (issue 15), with real processes: the broker writes its pid
 * once the data directory is claimed and removes it on a clean exit; `broker stop` signals only the
 * broker of the data directory (never a program that got a stale file's pid, nor a broker of another
 * directory), waits for its controlled shutdown, and exits 0, 1, 2 or 3 as its help says; a start
 * writes over a stale file and refuses a directory whose broker runs. Then the seed's backup and
 * restore: stop, tar the data directory, delete it, untar, start, and read back every record; and a
 * node of a three-node cluster restored from a backup rejoins and gets what was written without it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BrokerClient } from '../src/client/index.ts';
import { HELP } from '../src/config/load.ts';
import { isBrokerCommand, PID_FILE, parsePid, parseProcStat } from '../src/pid-file.ts';
import { startCluster } from '../src/start-cluster.ts';
import { until } from './cluster/helpers.ts';
import { brokerBin, spawnBroker } from './helpers/broker-process.ts';
import { tempDir } from './helpers/tmp.ts';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `broker stop ARGS` to its end. */
async function brokerStop(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const proc = spawn(process.execPath, [brokerBin, 'stop', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
  const [status] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { status, stdout, stderr };
}

const alive = (proc: ChildProcess) => proc.exitCode === null && proc.signalCode === null;

test('the pid file parsers: a pid, /proc/<pid>/stat, and what runs the broker', () => {
  assert.equal(parsePid('1234\n'), 1234);
  assert.equal(parsePid('1234'), 1234);
  for (const text of ['', '\n', '12 34\n', '-5\n', '0\n', 'abc\n', '99999999999\n', '12\n13\n'])
    assert.equal(parsePid(text), null, JSON.stringify(text));
  // A command name with spaces and parentheses: the fields count from the last ')'.
  const stat = `4242 (node (x) y) S 1 4242 4242 0 -1 4194560 ${'0 '.repeat(12)}987654 3133440 350`;
  assert.deepEqual(parseProcStat(stat), { state: 'S', startTime: '987654' });
  const own = parseProcStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'));
  assert.ok(own && /^[RS]$/.test(own.state) && Number(own.startTime) > 0, JSON.stringify(own));
  assert.equal(parseProcStat('4242 node S 1'), null);
  assert.equal(parseProcStat('4242 (node) S 1 2 3'), null);
  assert.ok(isBrokerCommand(['/usr/bin/node', '/app/src/cli/broker.ts', '--id', 'node-1']));
  assert.ok(isBrokerCommand(['node', '--enable-source-maps', 'src/cli/broker.ts']));
  assert.ok(isBrokerCommand(['node', '/usr/local/bin/broker', '--data-dir', '/data']));
  assert.ok(isBrokerCommand(['node', 'dist/broker.mjs', 'stop']));
  assert.ok(!isBrokerCommand(['sleep', '1000']));
  assert.ok(!isBrokerCommand(['node', 'src/cli/broker-admin.ts', 'cluster']));
  // A data directory named "broker" is not the broker's entry point.
  assert.ok(!isBrokerCommand(['node', 'server.js', '--data-dir', '/var/lib/broker']));
});

test('broker stop: a clean shutdown, exit 0, the pid file gone; again: exit 1, nothing runs', async () => {
  const dir = await tempDir();
  const broker = await spawnBroker(dir);
  const file = path.join(dir, PID_FILE);
  assert.equal(readFileSync(file, 'utf8'), `${broker.proc.pid}\n`, 'the pid file names the broker');
  const exited = once(broker.proc, 'exit');

  const r = await brokerStop(['--data-dir', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`sent SIGTERM to broker pid ${broker.proc.pid} on ${dir}`));
  assert.match(r.stdout, /stopped after [\d.]+ s: a clean shutdown/);
  const [code] = await exited;
  assert.equal(code, 0, 'the broker exited 0');
  assert.ok(
    broker.logs.some((l) => l.msg === 'shutdown complete; logs flushed and marked clean'),
    'the broker logged a clean shutdown',
  );
  assert.ok(!existsSync(file), 'the pid file is removed');

  const again = await brokerStop(['--data-dir', dir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, new RegExp(`no broker runs on ${dir}: it has no pid file`));
});

test('a stale pid file is never signalled and never stops a start: a dead pid, another program, a broker of another directory', async () => {
  const dir = await tempDir();
  const file = path.join(dir, PID_FILE);

  // A pid that has exited.
  const done = spawn('true');
  await once(done, 'exit');
  writeFileSync(file, `${done.pid}\n`);
  let r = await brokerStop(['--data-dir', dir]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`is stale \\(pid ${done.pid} is not running\\); nothing was signalled`));

  // A live program that is not a broker: refused, and left running.
  const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore' });
  try {
    writeFileSync(file, `${sleeper.pid}\n`);
    r = await brokerStop(['--data-dir', dir]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`pid ${sleeper.pid} is another program, not a broker: "sleep 1000"`));
    assert.ok(alive(sleeper), 'the other program is untouched');

    // A start over it writes over the file, and says what it replaced.
    const broker = await spawnBroker(dir);
    assert.equal(readFileSync(file, 'utf8'), `${broker.proc.pid}\n`);
    const replaced = broker.logs.find((l) => l.msg === 'replacing a stale pid file');
    assert.match(String(replaced?.reason), /another program/);
    assert.ok(alive(sleeper));

    // This broker's pid in another directory's pid file: a broker, but not that directory's.
    const other = await tempDir();
    writeFileSync(path.join(other, PID_FILE), `${broker.proc.pid}\n`);
    r = await brokerStop(['--data-dir', other]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`pid ${broker.proc.pid} is a broker, but not the one of ${other}`));
    assert.ok(alive(broker.proc), 'the broker of the other directory is untouched');

    // A second broker on a directory whose broker runs: refused before it opens anything.
    const second = spawn(
      process.execPath,
      [
        brokerBin,
        '--data-dir',
        dir,
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
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    second.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [status] = await once(second, 'exit');
    assert.equal(status, 2, stderr);
    assert.match(
      stderr,
      new RegExp(`node\\.data_dir=.* cannot be used: broker pid ${broker.proc.pid} runs on it`),
    );
    assert.equal(readFileSync(file, 'utf8'), `${broker.proc.pid}\n`, 'the running broker keeps its pid file');

    assert.equal((await brokerStop(['--data-dir', dir])).status, 0);
    assert.ok(!existsSync(file));
  } finally {
    sleeper.kill('SIGKILL');
  }
});

test('broker stop finds the data directory as the broker does, and refuses bad usage with exit 2', async () => {
  const cwd = await tempDir();
  let r = await brokerStop(['--id', 'node-7'], { cwd });
  assert.equal(r.status, 1, r.stderr);
  assert.ok(r.stderr.includes(`no pid file (${path.join(cwd, 'data', 'node-7', PID_FILE)})`), r.stderr);
  r = await brokerStop([], { cwd, env: { BROKER_DATA_DIR: path.join(cwd, 'elsewhere') } });
  assert.equal(r.status, 1, r.stderr);
  assert.ok(r.stderr.includes(path.join(cwd, 'elsewhere', PID_FILE)), r.stderr);

  for (const [args, message] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--timeout', '0'], /--timeout "0" is invalid/],
    [['--timeout', 'soon'], /--timeout "soon" is invalid/],
    [['--id', 'node-0'], /node\.id/],
    [['extra'], /Unexpected argument 'extra'/],
  ] as const) {
    r = await brokerStop([...args], { cwd });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  r = await brokerStop(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^Usage: broker stop/);
  assert.match(r.stdout, /Exit codes: 0 stopped; 1 no broker runs there/);
  assert.match(HELP, /broker stop \[--data-dir DIR \| --id NODE\]/);
});

test('broker stop exits 3 when the broker is still running at the timeout; the broker then stops cleanly', async () => {
  const dir = await tempDir();
  const broker = await spawnBroker(dir);
  const exited = once(broker.proc, 'exit');
  // Stopped, the broker cannot act on the SIGTERM until it is continued.
  broker.proc.kill('SIGSTOP');
  try {
    const r = await brokerStop(['--data-dir', dir, '--timeout', '1']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`broker pid ${broker.proc.pid} still runs after 1 s`));
    assert.ok(alive(broker.proc));
  } finally {
    broker.proc.kill('SIGCONT');
  }
  const [code] = await exited;
  assert.equal(code, 0, 'the SIGTERM it got while stopped is a clean shutdown');
  assert.ok(!existsSync(path.join(dir, PID_FILE)));
});

test('backup and restore: broker stop, tar the data directory, delete it, untar, start: every record is back', async () => {
  const base = await tempDir();
  const dir = path.join(base, 'node-1');
  let broker = await spawnBroker(dir);
  let client = await BrokerClient.connect(broker.grpcAddress);
  await client.createTopic('orders', { partitions: 3, configs: { 'retention.ms': '-1' } });
  const acked: { partition: number; offset: number; value: string }[] = [];
  for (let i = 0; i < 90; i++) {
    const r = await client.produce('orders', { key: `customer-${i % 9}`, value: `order-${i}` });
    acked.push({ ...r, value: `order-${i}` });
  }
  client.close();

  assert.equal((await brokerStop(['--data-dir', dir])).status, 0);
  const tarball = path.join(base, 'backup.tar.gz');
  execFileSync('tar', ['-czf', tarball, '-C', base, 'node-1']);
  const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const entry of ['node-1/meta/meta.properties', 'node-1/raft/wal', 'node-1/orders-0/clean-shutdown'])
    assert.ok(listed.includes(entry), `the backup holds ${entry}`);
  assert.ok(!listed.includes(`node-1/${PID_FILE}`), 'a clean stop leaves no pid file to back up');
  const clusterId = readFileSync(path.join(dir, 'meta', 'meta.properties'), 'utf8');

  rmSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', base]);
  broker = await spawnBroker(dir);
  assert.equal(
    readFileSync(path.join(dir, 'meta', 'meta.properties'), 'utf8'),
    clusterId,
    'the same node of the same cluster',
  );
  client = await BrokerClient.connect(broker.grpcAddress);
  for (const a of acked) {
    const r = await client.consume('orders', a.offset, { partition: a.partition });
    assert.equal(r.value?.toString(), a.value, `orders-${a.partition}@${a.offset}`);
  }
  const more = await client.produce('orders', { key: 'customer-0', value: 'after the restore' });
  assert.equal(
    more.offset,
    Math.max(...acked.filter((a) => a.partition === more.partition).map((a) => a.offset)) + 1,
  );
  client.close();
  assert.equal((await brokerStop(['--data-dir', dir])).status, 0);
});

test('a node of a three-node cluster restored from its backup rejoins and gets what was written without it', async () => {
  const cluster = await startCluster({
    nodes: 3,
    env: {
      BROKER_REPLICATION_LAG_TIME_MAX: '1500ms',
      BROKER_CLUSTER_HEARTBEAT_INTERVAL: '300ms',
      // cluster.close() stops every node at once, and each then waits this long for peers that are
      // stopping too; node 3's own stop, alone, takes well under it.
      BROKER_REPLICATION_CONTROLLED_SHUTDOWN_TIMEOUT: '5s',
    },
  });
  try {
    const client = await BrokerClient.connect(cluster.node(1).grpcAddress);
    try {
      await client.createTopic('events', { partitions: 3, replicationFactor: 3 });
      const fullIsr = async () => {
        const info = await client.describeTopic('events');
        return info.partitionInfo.every((p) => p.isrIds.length === 3) && info;
      };
      await until('every partition has its 3 replicas in sync', fullIsr);
      const acked: { partition: number; offset: number; value: string }[] = [];
      const produce = async (n: number, tag: string) => {
        for (let i = 0; i < n; i++) {
          const value = `${tag}-${i}`;
          acked.push({ ...(await client.produce('events', { key: `k-${i % 6}`, value })), value });
        }
      };
      await produce(30, 'before');

      const node3 = cluster.node(3);
      const base = path.dirname(node3.dataDir);
      const name = path.basename(node3.dataDir);
      const stop = await brokerStop(['--data-dir', node3.dataDir]);
      assert.equal(stop.status, 0, stop.stderr);
      assert.match(stop.stdout, /a clean shutdown/);
      await until('node 3 is down', async () => !node3.running);
      const said = node3.logs.map((l) => l.msg);
      assert.ok(said.includes('controlled shutdown: leaderships moved to other replicas'), said.join('; '));
      assert.ok(said.includes('shutdown complete; logs flushed and marked clean'));
      const tarball = path.join(base, 'node-3.tar.gz');
      execFileSync('tar', ['-czf', tarball, '-C', base, name]);

      // Written while node 3 is down: it must get these from the leaders when it returns.
      await produce(30, 'during');
      rmSync(node3.dataDir, { recursive: true });
      execFileSync('tar', ['-xzf', tarball, '-C', base]);
      await cluster.restart(3);

      await until('node 3 is back in the ISR of every partition', fullIsr, 60_000);
      // A client made now: the first one's channel to node 3 may still be in gRPC's reconnect backoff
      // from while node 3 was down. Node 3's preferred leaderships come back to it, so that reads from
      // those partitions are served by node 3's own log.
      const reader = await BrokerClient.connect(cluster.node(1).grpcAddress);
      try {
        await reader.electLeaders({ type: 'preferred' });
        const led = await until('node 3 leads a partition again', async () => {
          const now = await reader.describeTopic('events');
          const mine = now.partitionInfo.filter((p) => p.leaderId === 3).map((p) => p.partition);
          return mine.length > 0 && mine;
        });
        const checked = acked.filter((a) => led.includes(a.partition));
        assert.ok(
          checked.some((a) => a.value.startsWith('before')),
          'records of the backup',
        );
        assert.ok(
          checked.some((a) => a.value.startsWith('during')),
          'records written while it was down',
        );
        for (const a of checked) {
          // Retried while the channel to node 3 answers UNAVAILABLE: seen in about one run in five,
          // right after the preferred election (a client matter, not the restore's).
          const r = await until(`events-${a.partition}@${a.offset} read from node 3`, () =>
            reader.consume('events', a.offset, { partition: a.partition }),
          );
          assert.equal(r.value?.toString(), a.value, `events-${a.partition}@${a.offset} from node 3`);
        }
      } finally {
        reader.close();
      }
    } finally {
      client.close();
    }
  } finally {
    // One at a time, as a rolling stop: cluster.close() stops them all at once, and a node whose
    // peers all stop with it may sit out its controlled shutdown timeout before it is killed.
    for (const n of [...cluster.nodes].reverse())
      if (n.running)
        assert.equal((await brokerStop(['--data-dir', n.dataDir])).status, 0, `stop node ${n.id}`);
    await cluster.close();
  }
});
