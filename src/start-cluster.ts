/**
 * `startCluster({ nodes: 3 })`: a real cluster for users' own tests (issue 11). Each node is a `broker`
 * process of this package on ephemeral loopback ports with a temporary data directory; node 1 starts
 * the cluster and the others join through it with `--join`, exactly as the README's three-node example
 * does by hand. `kill(id)` sends SIGKILL (or another signal), `restart(id)` starts the node again on
 * its data directory and ports, and `close()` stops every node and removes the directories.
 *
 * Resolves once every node has logged "Distributed broker ready". Nodes are processes rather than
 * brokers in this process, so that a kill is a real crash: unsynced writes are lost, sockets reset.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brokerNodeFlags } from './cli/node-flags.ts';

const brokerBin = new URL('./cli/broker.ts', import.meta.url).pathname;

export interface ClusterNodeOptions {
  /** Extra flags for this node (`--controller false`, say). */
  args?: string[];
  env?: Record<string, string>;
}

export interface StartClusterOptions {
  /** @default 3 */
  nodes?: number;
  /** Flags every node gets (e.g. `['--fsync', 'never']`; not `--log-level`: readiness is read from info lines). */
  args?: string[];
  env?: Record<string, string>;
  /** Per node id (1-based): extra flags and environment. */
  node?: Record<number, ClusterNodeOptions>;
  /** How long each node may take to be ready. @default 60000 */
  readyTimeoutMs?: number;
  /** Where the data directories go. @default a new temporary directory, removed by close() */
  dir?: string;
}

export interface ClusterNode {
  readonly id: number;
  readonly name: string;
  readonly dataDir: string;
  grpcPort: number;
  kafkaPort: number;
  metricsPort: number;
  raftPort: number;
  /** `127.0.0.1:<grpcPort>` */
  readonly grpcAddress: string;
  /** `127.0.0.1:<kafkaPort>` */
  readonly kafkaAddress: string;
  readonly metricsUrl: string;
  /** Parsed log lines of the current process. */
  readonly logs: Record<string, unknown>[];
  /** Whether the node's process is running. */
  readonly running: boolean;
  readonly pid: number | undefined;
}

export interface RunningCluster {
  readonly nodes: readonly ClusterNode[];
  node(id: number): ClusterNode;
  /** Every node's Kafka address, comma-separated: a Kafka client's bootstrap servers. */
  readonly bootstrapServers: string;
  /** Sends `signal` (default SIGKILL) to the node and waits for its process to exit. */
  kill(id: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped node again on its data directory and ports; resolves once it is ready. */
  restart(id: number): Promise<void>;
  /** Starts one more node, joining through a running node; resolves once it is ready. */
  addNode(options?: ClusterNodeOptions): Promise<ClusterNode>;
  /** The id of the node whose /ready answers LEADER, or null. */
  controller(): Promise<number | null>;
  close(): Promise<void>;
}

interface NodeState extends ClusterNode {
  proc: ChildProcess | null;
  exited: Promise<void> | null;
  options: ClusterNodeOptions;
  logs: Record<string, unknown>[];
  running: boolean;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startCluster(options: StartClusterOptions = {}): Promise<RunningCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9)
    throw new RangeError(`nodes must be an integer from 1 to 9, got ${count}`);
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'tsbroker-cluster-'));
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const nodes: NodeState[] = [];

  const start = async (n: NodeState, join: string | null): Promise<void> => {
    const port = (p: number) => String(p);
    const args = [
      ...brokerNodeFlags,
      brokerBin,
      '--id',
      n.name,
      '--data-dir',
      n.dataDir,
      '--bind-addr',
      '127.0.0.1',
      '--advertise-addr',
      '127.0.0.1',
      '--grpc-port',
      port(n.grpcPort),
      '--kafka-port',
      port(n.kafkaPort),
      '--metrics-port',
      port(n.metricsPort),
      '--raft-port',
      port(n.raftPort),
      '--data-port',
      '0',
      ...(join ? ['--join', join] : []),
      ...(options.args ?? []),
      ...(n.options.args ?? []),
    ];
    const proc = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // JSON lines at info, which the readiness wait reads ("broker ready", "Distributed broker
      // ready"), whatever the caller's environment says.
      env: {
        ...process.env,
        ...options.env,
        ...n.options.env,
        BROKER_LOGGING_FORMAT: 'json',
        BROKER_LOGGING_LEVEL: 'info',
      },
    });
    live.add(proc);
    n.proc = proc;
    n.running = true;
    n.logs = [];
    const exited = once(proc, 'exit').then(() => {
      live.delete(proc);
      if (n.proc === proc) n.running = false;
    });
    n.exited = exited;
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-8192);
    });
    const ready = new Promise<void>((resolve, reject) => {
      let buf = '';
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const line of lines) {
          let entry: Record<string, unknown>;
          try {
            entry = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          n.logs.push(entry);
          if (entry.msg === 'broker ready') {
            n.grpcPort = entry.grpcPort as number;
            n.kafkaPort = entry.kafkaPort as number;
            n.metricsPort = entry.metricsPort as number;
            n.raftPort = entry.raftPort as number;
          }
          if (entry.msg === 'Distributed broker ready') resolve();
        }
      });
      void exited.then(() =>
        reject(new Error(`node ${n.name} exited before it was ready: ${stderr.trim() || '(no output)'}`)),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`node ${n.name} was not ready within ${readyTimeoutMs} ms`)),
        readyTimeoutMs,
      );
    });
    try {
      await Promise.race([ready, timeout]);
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };

  const makeNode = (id: number, nodeOptions: ClusterNodeOptions): NodeState => {
    const n: NodeState = {
      id,
      name: `node-${id}`,
      dataDir: path.join(dir, `node-${id}`),
      grpcPort: 0,
      kafkaPort: 0,
      metricsPort: 0,
      raftPort: 0,
      get grpcAddress() {
        return `127.0.0.1:${n.grpcPort}`;
      },
      get kafkaAddress() {
        return `127.0.0.1:${n.kafkaPort}`;
      },
      get metricsUrl() {
        return `http://127.0.0.1:${n.metricsPort}`;
      },
      get pid() {
        return n.proc?.pid;
      },
      logs: [],
      running: false,
      proc: null,
      exited: null,
      options: nodeOptions,
    };
    nodes.push(n);
    return n;
  };

  const find = (id: number): NodeState => {
    const n = nodes.find((x) => x.id === id);
    if (!n) throw new RangeError(`no node ${id} in this cluster`);
    return n;
  };

  const joinAddress = (except: NodeState): string => {
    const other = nodes.find((x) => x !== except && x.running);
    if (!other) throw new Error('no running node to join through');
    return other.grpcAddress;
  };

  const stopAll = async (): Promise<void> => {
    await Promise.all(
      nodes.map(async (n) => {
        if (n.proc && n.running) {
          n.proc.kill('SIGTERM');
          const t = setTimeout(() => n.proc?.kill('SIGKILL'), 15_000);
          await n.exited;
          clearTimeout(t);
        }
      }),
    );
  };

  /** Voters the quorum should reach: the quorum size, or fewer when fewer nodes may vote. */
  const votersWanted = (): number => {
    const size = Number(options.env?.BROKER_CLUSTER_CONTROLLER_QUORUM_SIZE ?? 3);
    const eligible = nodes.filter((n) => {
      const a = [...(options.args ?? []), ...(n.options.args ?? [])];
      const i = a.lastIndexOf('--controller');
      return i < 0 || a[i + 1] !== 'false';
    }).length;
    return Math.min(Number.isInteger(size) && size > 0 ? size : 3, eligible);
  };

  /** Waits until some node reports the quorum at its wanted size (promotions follow readiness). */
  const quorumFormed = async (): Promise<void> => {
    const deadline = Date.now() + readyTimeoutMs;
    const want = votersWanted();
    while (Date.now() < deadline) {
      for (const n of nodes) {
        if (!n.running) continue;
        try {
          const text = await (
            await fetch(`${n.metricsUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
          ).text();
          const m = /^controller_voters\{[^}]*\} (\d+)$/m.exec(text);
          if (m && Number(m[1]) >= want) return;
        } catch {
          // not answering yet
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the metadata quorum did not reach ${want} voters within ${readyTimeoutMs} ms`);
  };

  try {
    const first = makeNode(1, options.node?.[1] ?? {});
    await start(first, null);
    for (let id = 2; id <= count; id++) {
      const n = makeNode(id, options.node?.[id] ?? {});
      await start(n, first.grpcAddress);
    }
    await quorumFormed();
  } catch (err) {
    await stopAll();
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    nodes,
    node: find,
    get bootstrapServers() {
      return nodes.map((n) => n.kafkaAddress).join(',');
    },
    async kill(id, signal = 'SIGKILL') {
      const n = find(id);
      if (!n.proc || !n.running) return;
      n.proc.kill(signal);
      await n.exited;
    },
    async restart(id) {
      const n = find(id);
      if (n.running) throw new Error(`node ${id} is running; kill it first`);
      await start(n, null);
    },
    async addNode(nodeOptions = {}) {
      const id = Math.max(...nodes.map((n) => n.id)) + 1;
      const n = makeNode(id, nodeOptions);
      await start(n, joinAddress(n));
      await quorumFormed();
      return n;
    },
    async controller() {
      for (const n of nodes) {
        if (!n.running) continue;
        try {
          const res = await fetch(`${n.metricsUrl}/ready`, { signal: AbortSignal.timeout(2000) });
          if ((await res.text()).trim() === 'LEADER') return n.id;
        } catch {
          // not answering: not the controller
        }
      }
      return null;
    },
    async close() {
      await stopAll();
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
