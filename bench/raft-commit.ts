/**
 * Raft commits per second: three kv-node processes on loopback, fsync on (every Ready is fdatasync'ed
 * before it is acknowledged), small proposals, batching by the driver (proposals that arrive during an
 * fsync go into the next Ready). The leader keeps `window` proposals outstanding and reports how long
 * `count` of them took to commit and apply. Usage: `node bench/raft-commit.ts [count] [bytes] [window]`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const count = Number(process.argv[2] ?? 200_000);
const bytes = Number(process.argv[3] ?? 16);
const window = Number(process.argv[4] ?? 5000);
const root = mkdtempSync(join(tmpdir(), 'raft-bench-'));
const script = join(import.meta.dirname, '../src/raft/kv-node.ts');
const procs: {
  id: number;
  child: ChildProcess;
  raftPort: number;
  httpPort: number;
  lines: AsyncIterator<string>;
}[] = [];

try {
  for (const id of [1, 2, 3]) {
    const child = spawn(
      process.execPath,
      [script, '--id', String(id), '--dir', join(root, `n${id}`), '--voters', '1,2,3'],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const m = JSON.parse((await lines.next()).value as string);
    procs.push({ id, child, raftPort: m.raftPort, httpPort: m.httpPort, lines });
  }
  const peers = Object.fromEntries(procs.map((p) => [p.id, p.raftPort]));
  for (const p of procs) p.child.stdin!.write(`${JSON.stringify({ cmd: 'peers', peers })}\n`);
  let leader: (typeof procs)[number] | undefined;
  while (!leader) {
    for (const p of procs) {
      const s = (await (await fetch(`http://127.0.0.1:${p.httpPort}/status`)).json()) as { role: string };
      if (s.role === 'leader') leader = p;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  leader.child.stdin!.write(`${JSON.stringify({ cmd: 'bench', count, bytes, window })}\n`);
  const r = JSON.parse((await leader.lines.next()).value as string);
  console.log(
    `raft-commit: ${count} proposals of ${bytes} B (window ${window}), 3 nodes on loopback, fsync on: ` +
      `${r.secs.toFixed(2)} s, ${Math.round(r.commitsPerSec)} commits/s`,
  );
} finally {
  for (const p of procs) p.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
