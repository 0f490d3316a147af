/**
 * The chaos harness (issue 13). First its network (test/chaos/net.ts) on real namespaces: a 3-node net
 * with a TCP echo server (and a UDP receiver, for one-way cuts) in each node namespace, probed from the
 * hub and from the nodes. Then the harness itself (test/chaos/run.ts) as `npm run chaos` runs it: bad
 * arguments, a missing command, a namespace left by a dead run, a port in use, a run stopped midway
 * (each a clear message and nothing left behind), and the `--quick` run with every verdict passing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  type ChaosNet,
  createChaosNet,
  leftoverNamespaces,
  listNamespaces,
  networkPrerequisites,
  removeNamespaces,
} from './net.ts';

const PORT = 9000;
const REPORT_PORT = 9001;
const prefix = `tsbc${process.pid}-a`;

/** TCP echo on PORT; UDP datagrams on PORT are remembered and listed to whoever connects to REPORT_PORT. */
const NODE_SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
const host = process.argv[1], seen = [];
dgram.createSocket('udp4').on('message', (m) => seen.push(m.toString())).bind(${PORT}, host);
net.createServer((s) => { s.on('error', () => {}); s.end(JSON.stringify(seen)); }).listen(${REPORT_PORT}, host);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); })
  .listen(${PORT}, host, () => process.stdout.write('ready\\n'));
`;

/** Prints {host: reached} for a TCP echo round trip to each host within 1 s. */
const TCP_PROBE = `
const net = require('node:net');
const hosts = process.argv.slice(1);
Promise.all(hosts.map((h) => new Promise((resolve) => {
  const s = net.connect(${PORT}, h);
  const t = setTimeout(() => { s.destroy(); resolve(false); }, 1000);
  s.on('connect', () => s.write('x'));
  s.on('data', () => { clearTimeout(t); s.destroy(); resolve(true); });
  s.on('error', () => { clearTimeout(t); resolve(false); });
}))).then((ok) => process.stdout.write(JSON.stringify(Object.fromEntries(hosts.map((h, i) => [h, ok[i]])))));
`;

const UDP_SEND = `
const s = require('node:dgram').createSocket('udp4');
const [host, token] = process.argv.slice(1);
let n = 0;
const send = () => s.send(token, ${PORT}, host, () => (++n < 5 ? setTimeout(send, 20) : s.close()));
send();
`;

const REPORT = `
const s = require('node:net').connect(${REPORT_PORT}, process.argv[1]);
let out = '';
s.on('data', (d) => (out += d)).on('end', () => process.stdout.write(out));
`;

let net: ChaosNet | undefined;
const servers: ChildProcess[] = [];

function node(ns: string, script: string, args: string[]): string {
  const argv = net!.exec(ns, [process.execPath, '-e', script, ...args]);
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `${argv.slice(0, 4).join(' ')} ...: ${r.stderr}`);
  return r.stdout;
}

/** Which of the nodes `ids` a TCP client in `ns` reaches, as {id: boolean}. */
function reach(ns: string, ids: number[]): Record<number, boolean> {
  const byHost = JSON.parse(
    node(
      ns,
      TCP_PROBE,
      ids.map((id) => net!.nodeAddress(id)),
    ),
  ) as Record<string, boolean>;
  return Object.fromEntries(ids.map((id) => [id, byHost[net!.nodeAddress(id)]]));
}

function udpSeen(id: number): string[] {
  return JSON.parse(node(net!.hubNs, REPORT, [net!.nodeAddress(id)])) as string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function startServer(id: number): Promise<ChildProcess> {
  const argv = net!.exec(net!.nodeNs(id), [process.execPath, '-e', NODE_SERVER, net!.nodeAddress(id)]);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`server in node ${id} exited (${code})`)));
  });
}

before(async () => {
  assert.equal(networkPrerequisites(), null);
  net = await createChaosNet({ nodes: 3, prefix });
  for (const id of [1, 2, 3]) await startServer(id);
});

after(async () => {
  await net?.close();
  for (const s of servers) s.kill('SIGKILL');
  removeNamespaces(listNamespaces().filter((n) => n.startsWith(`tsbc${process.pid}-`)));
});

test('layout: names and addresses', () => {
  assert.equal(net!.hubNs, `${prefix}-hub`);
  assert.equal(net!.hubAddress, '10.77.0.254');
  assert.equal(net!.nodeNs(2), `${prefix}-n2`);
  assert.equal(net!.nodeAddress(3), '10.77.0.3');
  assert.deepEqual(net!.exec('x', ['a', 'b']), ['ip', 'netns', 'exec', 'x', 'a', 'b']);
  const ours = listNamespaces().filter((n) => n.startsWith(`${prefix}-`));
  assert.deepEqual(ours.sort(), [`${prefix}-hub`, `${prefix}-n1`, `${prefix}-n2`, `${prefix}-n3`]);
  const root = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(root, /\bv[1-3]@|\bbr0\b/, 'nothing of the net is in the root namespace');
});

test('the hub reaches every node, node 1 reaches node 2', () => {
  assert.deepEqual(reach(net!.hubNs, [1, 2, 3]), { 1: true, 2: true, 3: true });
  assert.deepEqual(reach(net!.nodeNs(1), [2]), { 2: true });
});

test('partition([[1],[2,3]]) isolates node 1 from the others but not from the hub; heal restores', async () => {
  await net!.partition([[1], [2, 3]]);
  assert.deepEqual(net!.cuts, ['1 x 2', '1 x 3']);
  assert.deepEqual(reach(net!.nodeNs(1), [2, 3]), { 2: false, 3: false });
  assert.deepEqual(reach(net!.nodeNs(2), [1, 3]), { 1: false, 3: true });
  assert.deepEqual(reach(net!.nodeNs(3), [1]), { 1: false });
  assert.deepEqual(reach(net!.hubNs, [1, 2, 3]), { 1: true, 2: true, 3: true });
  await net!.heal();
  assert.deepEqual(net!.cuts, []);
  assert.deepEqual(reach(net!.nodeNs(1), [2, 3]), { 2: true, 3: true });
  assert.deepEqual(reach(net!.nodeNs(3), [1]), { 1: true });
});

test('dropOneWay(1, 2) drops 1 -> 2 only; heal restores', async () => {
  await net!.dropOneWay(1, 2);
  assert.deepEqual(net!.cuts, ['1 -> 2 dropped']);
  assert.deepEqual(reach(net!.nodeNs(1), [2, 3]), { 2: false, 3: true });
  node(net!.nodeNs(1), UDP_SEND, [net!.nodeAddress(2), 'from1']);
  node(net!.nodeNs(2), UDP_SEND, [net!.nodeAddress(1), 'from2']);
  node(net!.nodeNs(3), UDP_SEND, [net!.nodeAddress(2), 'from3']);
  assert.deepEqual(new Set(udpSeen(2)), new Set(['from3']));
  assert.deepEqual(new Set(udpSeen(1)), new Set(['from2']));
  await net!.heal();
  assert.deepEqual(net!.cuts, []);
  assert.deepEqual(reach(net!.nodeNs(1), [2]), { 2: true });
  node(net!.nodeNs(1), UDP_SEND, [net!.nodeAddress(2), 'healed']);
  assert.ok(udpSeen(2).includes('healed'));
});

test('createChaosNet refuses while namespaces with its prefix exist, and leaves them alone', async () => {
  await assert.rejects(
    createChaosNet({ nodes: 1, prefix }),
    (err: Error) => err.message.includes(`${prefix}-hub`) && err.message.includes('ip netns del'),
  );
  assert.deepEqual(reach(net!.hubNs, [1]), { 1: true });
  assert.ok(
    !leftoverNamespaces().some((l) => l.name.startsWith(`${prefix}-`)),
    'a live run is not a leftover',
  );
});

test('close() kills what runs inside and removes every namespace; a second close is a no-op', async () => {
  const pids = servers.map((s) => s.pid!);
  assert.ok(pids.every(alive));
  const errors = await net!.close();
  assert.deepEqual(errors, []);
  assert.deepEqual(
    listNamespaces().filter((n) => n.startsWith(`${prefix}-`)),
    [],
  );
  for (const s of servers) assert.ok(await exited(s, 2000), `server ${s.pid} still running`);
  assert.ok(!pids.some(alive));
  assert.deepEqual(await net!.close(), []);
});

test('leftoverNamespaces finds a namespace of a dead pid; removeNamespaces kills its processes and removes it', async () => {
  const gone = spawn(process.execPath, ['-e', '0']);
  await exited(gone, 5000);
  const deadPid = gone.pid!;
  assert.ok(!alive(deadPid));
  const name = `tsbc${deadPid}-hub`;
  assert.equal(spawnSync('ip', ['netns', 'add', name]).status, 0);
  let sleeper: ChildProcess | undefined;
  try {
    sleeper = spawn('ip', ['netns', 'exec', name, 'sleep', '60'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(sleeper.pid!));
    assert.deepEqual(
      leftoverNamespaces().filter((l) => l.name === name),
      [{ name, pid: deadPid }],
    );
    assert.deepEqual(removeNamespaces([name]), [name]);
    assert.ok(!listNamespaces().includes(name));
    assert.ok(await exited(sleeper, 2000), 'the process inside was killed');
  } finally {
    sleeper?.kill('SIGKILL');
    if (listNamespaces().includes(name)) spawnSync('ip', ['netns', 'del', name]);
  }
});

test('a failing step fails createChaosNet cleanly: the error names the command, nothing is left', async () => {
  const failPrefix = `tsbc${process.pid}-b`;
  const path = process.env.PATH;
  process.env.PATH = '/usr/bin'; // `ip` is there, `iptables` (in /usr/sbin) is not
  try {
    assert.match(networkPrerequisites() ?? '', /`iptables` is missing \(Debian package iptables\)/);
    await assert.rejects(createChaosNet({ nodes: 2, prefix: failPrefix }), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`\`ip netns exec ${failPrefix}-n1 iptables -w -N CHAOS\` failed: .+`),
      );
      return true;
    });
  } finally {
    process.env.PATH = path;
  }
  assert.deepEqual(
    listNamespaces().filter((n) => n.startsWith(`${failPrefix}-`)),
    [],
  );
});

// ---------------------------------------------------------------- the harness (test/chaos/run.ts)
// In this file rather than their own: a test here leaves a namespace of a dead pid on purpose, which a
// harness started concurrently by another test file would refuse to run beside.

const runTs = new URL('./run.ts', import.meta.url).pathname;

interface HarnessRun {
  code: number | null;
  stderr: string;
  /** The supervisor's network prefix, from its first line. */
  prefix: string | null;
}

/** Runs the harness as `npm run chaos` would, bounded by `ms`; `onLine` sees each stderr line. */
function harness(
  args: string[],
  opts: { env?: Record<string, string>; ms?: number; onLine?: (line: string, pid: number) => void } = {},
): Promise<HarnessRun> {
  const child = spawn(process.execPath, [runTs, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let stderr = '';
  let buf = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) opts.onLine?.(l, child.pid!);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.ms ?? 120_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /in namespace (tsbc\d+)-hub/.exec(stderr);
      resolve({ code, stderr, prefix: m ? m[1]! : null });
    });
  });
}

/** Processes whose command line mentions `text` (not this test's own). */
function processesWith(text: string): string[] {
  const r = spawnSync('pgrep', ['-af', text], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.includes('pgrep'));
}

function tmpOut(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'chaos-test-'));
}

test('the harness refuses bad arguments with its usage, exit 2', async () => {
  for (const args of [['--nodes', '0'], ['--bogus'], ['--fsync', 'sometimes'], ['--seconds']]) {
    const r = await harness(args, { ms: 20_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: npm run chaos/);
  }
});

test('a missing command: a clear message naming the package, exit 2, no namespace made', async () => {
  const before = listNamespaces();
  // ip and iptables live in /usr/sbin.
  const r = await harness(['--quick'], { env: { PATH: '/usr/bin:/bin' }, ms: 20_000 });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /iptables/);
  assert.match(r.stderr, /apt-get install/);
  assert.deepEqual(listNamespaces(), before);
});

test('a namespace left by a dead run: a clear message and exit 2; --clean removes it', async () => {
  let deadPid = 99_999;
  while (spawnSync('kill', ['-0', String(deadPid)]).status === 0) deadPid--;
  const name = `tsbc${deadPid}-hub`;
  assert.equal(spawnSync('ip', ['netns', 'add', name]).status, 0);
  try {
    const r = await harness(['--quick'], { ms: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(name), r.stderr);
    assert.match(r.stderr, /npm run chaos -- --clean/);
    assert.equal(r.prefix, null, 'no run started');
    const c = await harness(['--clean'], { ms: 20_000 });
    assert.equal(c.code, 0, c.stderr);
    assert.ok(c.stderr.includes(`removed ${name}`), c.stderr);
    assert.ok(!listNamespaces().includes(name));
  } finally {
    removeNamespaces([name]);
  }
});

test('a port in use on a node: the run fails naming it, and leaves no namespace or process behind', async () => {
  const out = tmpOut();
  const r = await harness(['--quick', '--seed', '5', '--out', out], {
    env: { CHAOS_TEST_OCCUPY: '1:9092' },
    ms: 120_000,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /EADDRINUSE/);
  assert.ok(r.prefix, r.stderr);
  assert.deepEqual(
    listNamespaces().filter((n) => n.startsWith(`${r.prefix}-`)),
    [],
  );
  assert.deepEqual(processesWith(out), []);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary[0].ok, false);
  assert.ok(summary[0].failed.includes('run'), JSON.stringify(summary));
  rmSync(out, { recursive: true, force: true });
});

test('a run stopped by SIGTERM midway: the supervisor removes its namespaces and every process in them', async () => {
  const out = tmpOut();
  let sent = false;
  const r = await harness(['--seconds', '60', '--seed', '9', '--out', out], {
    ms: 120_000,
    onLine: (line, pid) => {
      // Once the workload runs: the brokers, the clients and the iptables rules all exist.
      if (!sent && line.includes('workload running')) {
        sent = true;
        process.kill(pid, 'SIGTERM');
      }
    },
  });
  assert.ok(sent, `the run got as far as its workload: ${r.stderr}`);
  assert.notEqual(r.code, 0);
  assert.ok(r.prefix);
  assert.deepEqual(
    listNamespaces().filter((n) => n.startsWith(`${r.prefix}-`)),
    [],
  );
  assert.deepEqual(processesWith(out), []);
  assert.deepEqual(processesWith(`${r.prefix}-n`), [], 'no process runs in its node namespaces');
  rmSync(out, { recursive: true, force: true });
});

test('npm run chaos -- --quick: a kill, a partition and a pause lose, duplicate and reorder nothing', {
  timeout: 5 * 60_000,
}, async () => {
  const out = tmpOut();
  const seed = 20261201;
  const r = await harness(['--quick', '--seed', String(seed), '--out', out], { ms: 4 * 60_000 });
  const result = JSON.parse(readFileSync(path.join(out, `seed-${seed}`, 'result.json'), 'utf8'));
  const failed = [...result.check.verdicts, ...result.runVerdicts].filter((v: { ok: boolean }) => !v.ok);
  assert.deepEqual(failed, [], `replay with: ${result.replay}\n${r.stderr.slice(-3000)}`);
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const c = result.check.counts;
  assert.ok(c.acknowledged > 100 && c.polls > 0 && c.commits > 0, JSON.stringify(c));
  assert.equal(c.faults, 3);
  const history = readFileSync(path.join(out, `seed-${seed}`, 'history.jsonl'), 'utf8');
  assert.match(history, /"op":"replica"/);
  assert.match(history, /"op":"final-read"/);
  assert.match(history, /"op":"controller"/);
  assert.ok(readFileSync(path.join(out, `seed-${seed}`, 'timeline.svg'), 'utf8').startsWith('<svg'));
  assert.deepEqual(
    listNamespaces().filter((n) => n.startsWith(`${r.prefix}-`)),
    [],
  );
  rmSync(out, { recursive: true, force: true });
});

test('chaos regressions, one cluster (--scenario zombie-leader,paused-leader): a leader cut off past its session refuses clients instead of answering as leader (schedule 13000); a leader paused past its session and continued loses, duplicates and stops nothing (schedules 20261203 and 20261214)', {
  timeout: 6 * 60_000,
}, async () => {
  const out = tmpOut();
  const r = await harness(['--scenario', 'zombie-leader,paused-leader', '--seed', '20261203', '--out', out], {
    ms: 5 * 60_000,
  });
  const result = JSON.parse(readFileSync(path.join(out, 'seed-20261203', 'result.json'), 'utf8'));
  const failed = [...result.check.verdicts, ...result.runVerdicts].filter((v: { ok: boolean }) => !v.ok);
  assert.deepEqual(failed, [], `replay with: ${result.replay}\n${r.stderr.slice(-3000)}`);
  assert.ok(result.runVerdicts.some((v: { name: string }) => v.name === 'zombie-refuses'));
  assert.equal(result.check.counts.faults, 2, JSON.stringify(result.check.counts));
  assert.ok(result.check.counts.acknowledged > 100, JSON.stringify(result.check.counts));
  assert.equal(r.code, 0);
  rmSync(out, { recursive: true, force: true });
});
