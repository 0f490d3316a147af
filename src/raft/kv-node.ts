/**
 * A replicated key-value server as one OS process: the process tests and the benchmark run three of
 * these on loopback. Usage: `node src/raft/kv-node.ts --id 1 --dir DIR [--voters 1,2,3]
 * [--snapshot-entries N] [--retain N]`. It listens on ephemeral ports and prints one JSON line
 * `{"event":"listening","id":1,"raftPort":...,"httpPort":...}`; its parent then sends, on stdin, lines
 * `{"cmd":"peers","peers":{"2":port,...}}` and, for the benchmark, `{"cmd":"bench","count":N,"bytes":B,"window":W}`.
 *
 * HTTP: `PUT /kv/<key>` (body: value) answers 200 once committed and applied; `GET /kv/<key>` reads
 * linearizably (ReadIndex); `GET /local/<key>` reads the local state without a barrier; `GET /status`.
 * A node that is not the leader answers 503 with the leader it knows.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';
import { KvStore } from './kv.ts';
import { NotLeaderError, ProposalRefusedError, RaftNode } from './node.ts';
import { type Entry, EntryType } from './types.ts';

function arg(name: string): string | undefined {
  const k = process.argv.indexOf(name);
  return k >= 0 ? process.argv[k + 1] : undefined;
}

const id = Number(arg('--id'));
const dir = arg('--dir')!;
const voters = arg('--voters')?.split(',').map(Number);
const kv = new KvStore();
const { node, port: raftPort } = await RaftNode.open({
  id,
  dir,
  bootstrapVoters: voters,
  tickMs: Number(arg('--tick-ms') ?? 50),
  snapshotEntries: Number(arg('--snapshot-entries') ?? 10_000),
  retainEntries: Number(arg('--retain') ?? 1000),
  // The library reports; this CLI decides. A node whose disk failed must not go on (exit code 70,
  // EX_SOFTWARE), and its supervisor or the test restarts it on its directory.
  onFatal: (err) => {
    console.error('raft node failed', err);
    process.exit(70);
  },
  stateMachine: {
    apply: (e: Entry) => {
      // Membership changes carry no command: step over them.
      if (e.type === EntryType.conf) {
        kv.skip(e.index);
        return null;
      }
      return kv.apply(e.index, e.data)?.result ?? null;
    },
    snapshot: () => kv.snapshot(),
    restore: (data, index) => kv.restore(data, index),
  },
});

const enc = new TextEncoder();
let seq = 0;

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  try {
    if (url.pathname === '/status') {
      return send(200, {
        ...node.status(),
        snapshotsInstalled: node.snapshotsInstalled,
        kvApplied: kv.applied,
      });
    }
    const key = decodeURIComponent(url.pathname.split('/')[2] ?? '');
    if (url.pathname.startsWith('/local/')) return send(200, { value: kv.get(key) });
    if (url.pathname.startsWith('/kv/') && req.method === 'PUT') {
      let body = '';
      for await (const chunk of req) body += chunk;
      await node.propose(enc.encode(JSON.stringify({ t: 'put', k: key, v: body, id: `${id}-${seq++}` })));
      return send(200, { ok: true });
    }
    if (url.pathname.startsWith('/kv/') && req.method === 'GET') {
      await node.readBarrier();
      return send(200, { value: kv.get(key) });
    }
    send(404, { error: 'no such route' });
  } catch (err) {
    if (err instanceof NotLeaderError) return send(503, { error: err.message, leader: err.leader });
    if (err instanceof ProposalRefusedError)
      return send(409, { error: err.message, reason: err.reason, leader: err.leader });
    send(500, { error: String(err) });
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const httpPort = (server.address() as { port: number }).port;
console.log(JSON.stringify({ event: 'listening', id, raftPort, httpPort }));

async function bench(count: number, bytes: number, window: number): Promise<void> {
  // Keeps `window` proposals outstanding; the driver batches whatever queued during each fsync.
  const payload = new Uint8Array(bytes).fill(120);
  const cmd = enc.encode(
    JSON.stringify({ t: 'put', k: 'bench', v: new TextDecoder().decode(payload), id: 'b' }),
  );
  let sent = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (sent < count && sent - done < window) {
        sent++;
        node.propose(cmd).then(() => {
          done++;
          if (done === count) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  const secs = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ event: 'bench', count, bytes, window, secs, commitsPerSec: count / secs }));
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const m = JSON.parse(line) as {
    cmd: string;
    peers?: Record<string, number>;
    count?: number;
    bytes?: number;
    window?: number;
  };
  if (m.cmd === 'peers') {
    for (const [pid, p] of Object.entries(m.peers!))
      if (Number(pid) !== id) node.setPeer(Number(pid), { host: '127.0.0.1', port: p });
  } else if (m.cmd === 'bench') {
    bench(m.count!, m.bytes!, m.window!).catch((err) =>
      console.log(JSON.stringify({ event: 'bench-error', error: String(err) })),
    );
  }
});
rl.on('close', () => process.exit(0));
