/**
 * Three Raft nodes as separate OS processes over TCP on loopback, replicating the key-value store.
 * The leader is SIGKILLed in the middle of a stream of writes: a new leader must take over, no
 * acknowledged write may be lost, and the killed node, restarted on its directory, must catch up - by
 * snapshot, because the others compacted past what it holds while it was down.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';

const script = join(import.meta.dirname, '../../src/raft/kv-node.ts');
const root = mkdtempSync(join(tmpdir(), 'raft-proc-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface Proc {
  id: number;
  child: ChildProcess;
  raftPort: number;
  httpPort: number;
}

async function startNode(id: number): Promise<Proc> {
  const child = spawn(
    process.execPath,
    [
      script,
      '--id',
      String(id),
      '--dir',
      join(root, `n${id}`),
      '--voters',
      '1,2,3',
      '--tick-ms',
      '20',
      '--snapshot-entries',
      '40',
      '--retain',
      '5',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  const rl = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`node ${id} exited with ${code} before listening`)));
  });
  const m = JSON.parse(line) as { raftPort: number; httpPort: number };
  return { id, child, raftPort: m.raftPort, httpPort: m.httpPort };
}

function announcePeers(procs: Map<number, Proc>): void {
  const peers = Object.fromEntries([...procs.values()].map((p) => [p.id, p.raftPort]));
  for (const p of procs.values()) p.child.stdin!.write(`${JSON.stringify({ cmd: 'peers', peers })}\n`);
}

async function http(
  p: Proc,
  method: string,
  path: string,
  body?: string,
  // biome-ignore lint/suspicious/noExplicitAny: the kv node's JSON answers differ per endpoint
): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${p.httpPort}${path}`, {
    method,
    body,
    signal: AbortSignal.timeout(2000),
  });
  return { status: res.status, json: await res.json() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function findLeader(procs: Map<number, Proc>, deadline: number): Promise<Proc> {
  while (Date.now() < deadline) {
    for (const p of procs.values()) {
      try {
        const s = await http(p, 'GET', '/status');
        if (s.json.role === 'leader') return p;
      } catch {}
    }
    await sleep(50);
  }
  throw new Error('no leader before the deadline');
}

test('three processes: SIGKILL the leader during writes, lose nothing acknowledged, rejoin by snapshot', async () => {
  // Deadlines here only stop a stuck test; they assert no speed.
  const procs = new Map<number, Proc>();
  for (const id of [1, 2, 3]) procs.set(id, await startNode(id));
  announcePeers(procs);

  const acked = new Map<string, string>();
  let leader = await findLeader(procs, Date.now() + 30_000);
  const write = async (k: string, v: string, deadline: number) => {
    while (Date.now() < deadline) {
      try {
        const r = await http(leader, 'PUT', `/kv/${k}`, v);
        if (r.status === 200) {
          acked.set(k, v);
          return;
        }
      } catch {}
      await sleep(20);
      leader = await findLeader(procs, deadline).catch(() => leader);
    }
    throw new Error(`write ${k} not acknowledged before the deadline`);
  };

  for (let i = 0; i < 30; i++) await write(`k${i}`, `v${i}`, Date.now() + 30_000);

  // Kill the leader while writes are in flight.
  const victim = leader;
  const inflight = [30, 31, 32, 33].map((i) =>
    http(victim, 'PUT', `/kv/k${i}`, `v${i}`)
      .then((r) => {
        if (r.status === 200) acked.set(`k${i}`, `v${i}`);
      })
      .catch(() => {}),
  );
  victim.child.kill('SIGKILL');
  await Promise.all(inflight);
  procs.delete(victim.id);

  const t0 = Date.now();
  leader = await findLeader(procs, Date.now() + 30_000);
  assert.notEqual(leader.id, victim.id);
  // The new leader serves writes; enough of them that the survivors compact past the victim's log.
  for (let i = 100; i < 200; i++) await write(`k${i}`, `v${i}`, Date.now() + 30_000);
  console.log(`# new leader n${leader.id} served writes ${Date.now() - t0} ms after the kill`);

  for (const [k, v] of acked) {
    const r = await http(leader, 'GET', `/kv/${k}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.value, v, `acknowledged write ${k} lost`);
  }

  // Restart the victim on its directory (new ports), and let it catch up.
  const back = await startNode(victim.id);
  procs.set(victim.id, back);
  announcePeers(procs);
  await write('after-restart', 'yes', Date.now() + 30_000);
  const target = (await http(leader, 'GET', '/status')).json.commit as number;
  const deadline = Date.now() + 30_000;
  // biome-ignore lint/suspicious/noExplicitAny: the kv node's /status JSON
  let st: any;
  while (Date.now() < deadline) {
    st = (await http(back, 'GET', '/status')).json;
    if (st.applied >= target) break;
    await sleep(50);
  }
  assert.ok(st.applied >= target, `restarted node applied ${st.applied}, leader committed ${target}`);
  assert.ok(st.snapshotsInstalled >= 1, 'the restarted node caught up by snapshot');
  for (const [k, v] of acked) {
    assert.equal((await http(back, 'GET', `/local/${k}`)).json.value, v, `restarted node lacks ${k}`);
  }

  for (const p of procs.values()) p.child.kill('SIGKILL');
});
