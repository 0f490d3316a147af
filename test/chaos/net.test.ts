/**
 * The chaos run's network (test/chaos/net.ts) on real namespaces: a 3-node net with a TCP echo server
 * (and a UDP receiver, for one-way cuts) in each node namespace, probed from the hub and from the nodes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import {
  type ChaosNet,
  createChaosNet,
  leftoverNamespaces,
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

function namespacesNow(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n !== '');
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
  removeNamespaces(namespacesNow().filter((n) => n.startsWith(`tsbc${process.pid}-`)));
});

test('layout: names and addresses', () => {
  assert.equal(net!.hubNs, `${prefix}-hub`);
  assert.equal(net!.hubAddress, '10.77.0.254');
  assert.equal(net!.nodeNs(2), `${prefix}-n2`);
  assert.equal(net!.nodeAddress(3), '10.77.0.3');
  assert.deepEqual(net!.exec('x', ['a', 'b']), ['ip', 'netns', 'exec', 'x', 'a', 'b']);
  const ours = namespacesNow().filter((n) => n.startsWith(`${prefix}-`));
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
    namespacesNow().filter((n) => n.startsWith(`${prefix}-`)),
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
    assert.ok(!namespacesNow().includes(name));
    assert.ok(await exited(sleeper, 2000), 'the process inside was killed');
  } finally {
    sleeper?.kill('SIGKILL');
    if (namespacesNow().includes(name)) spawnSync('ip', ['netns', 'del', name]);
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
    namespacesNow().filter((n) => n.startsWith(`${failPrefix}-`)),
    [],
  );
});
