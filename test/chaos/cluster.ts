/**
 * The brokers of a chaos run: one real `broker` process per node, each inside its own network namespace
 * (test/chaos/net.ts) on its own address, so every node uses the default ports and a partition is a
 * packet filter between addresses. Node 1 starts the cluster and the others join through it, as the
 * README's three-node example does.
 *
 * Each process's log lines go to `<logDir>/node-<id>.log` (every run of the node appended, with a
 * marker line per start); the lines that matter to the checker ("became the active controller") are
 * passed to `onControllerTerm`. `run` numbers a node's processes: 0 for the first, 1 after the first
 * restart, and so on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { brokerNodeFlags } from '../../src/cli/node-flags.ts';

const brokerBin = new URL('../../src/cli/broker.ts', import.meta.url).pathname;

/** What the cluster needs of the run's network. */
export interface NodeNetwork {
  nodeNs(id: number): string;
  nodeAddress(id: number): string;
  exec(ns: string, argv: string[]): string[];
}

export const PORTS = { grpc: 8080, kafka: 9092, metrics: 9090, raft: 9080, data: 9180 } as const;

export interface ChaosNode {
  readonly id: number;
  readonly address: string;
  readonly dataDir: string;
  /** Process runs so far minus one: the current run's number. */
  run: number;
  proc: ChildProcess | null;
  /** Whether the process is alive (stopped by SIGSTOP counts as alive). */
  alive: boolean;
  /** Whether it is stopped by SIGSTOP. */
  paused: boolean;
  readonly kafkaAddress: string;
  readonly grpcAddress: string;
  readonly metricsUrl: string;
}

export interface ChaosClusterOptions {
  nodes: number;
  net: NodeNetwork;
  dataDir: string;
  logDir: string;
  /** Flags every node gets. */
  args: string[];
  env: Record<string, string>;
  /** A node's log line saying it became the active controller. */
  onControllerTerm(node: number, run: number, term: number): void;
  readyTimeoutMs?: number;
}

export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  readonly #o: ChaosClusterOptions;
  readonly #exits = new Map<ChildProcess, Promise<void>>();

  constructor(o: ChaosClusterOptions) {
    this.#o = o;
    mkdirSync(o.logDir, { recursive: true });
    for (let id = 1; id <= o.nodes; id++) {
      const address = o.net.nodeAddress(id);
      this.nodes.push({
        id,
        address,
        dataDir: path.join(o.dataDir, `node-${id}`),
        run: -1,
        proc: null,
        alive: false,
        paused: false,
        kafkaAddress: `${address}:${PORTS.kafka}`,
        grpcAddress: `${address}:${PORTS.grpc}`,
        metricsUrl: `http://${address}:${PORTS.metrics}`,
      });
    }
  }

  node(id: number): ChaosNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new RangeError(`no node ${id}`);
    return n;
  }

  get bootstrap(): string {
    return this.nodes.map((n) => n.kafkaAddress).join(',');
  }

  /** Starts every node, the first alone and the others joining it, each once the one before is ready. */
  async start(): Promise<void> {
    for (const n of this.nodes) await this.startNode(n.id);
  }

  /** Starts node `id` (again); resolves once it logs "Distributed broker ready". */
  async startNode(id: number): Promise<void> {
    const n = this.node(id);
    if (n.alive) throw new Error(`node ${id} is running`);
    const o = this.#o;
    n.run++;
    const run = n.run;
    const first = this.nodes[0]!;
    const join = id === first.id || run > 0 ? [] : ['--join', first.grpcAddress];
    const argv = o.net.exec(o.net.nodeNs(id), [
      process.execPath,
      ...brokerNodeFlags,
      brokerBin,
      '--id',
      `node-${id}`,
      '--data-dir',
      n.dataDir,
      '--bind-addr',
      n.address,
      '--advertise-addr',
      n.address,
      ...join,
      ...o.args,
    ]);
    const logFile = path.join(o.logDir, `node-${id}.log`);
    appendFileSync(
      logFile,
      `${JSON.stringify({ chaos: 'start', node: id, run, at: new Date().toISOString() })}\n`,
    );
    const proc = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...o.env, BROKER_LOGGING_FORMAT: 'json', BROKER_LOGGING_LEVEL: 'info' },
    });
    n.proc = proc;
    n.alive = true;
    n.paused = false;
    const exited = once(proc, 'exit').then(() => {
      if (n.proc === proc) {
        n.alive = false;
        n.paused = false;
      }
    });
    this.#exits.set(proc, exited);
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-4096);
      appendFileSync(logFile, d);
    });
    const ready = new Promise<void>((resolve, reject) => {
      let buf = '';
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        appendFileSync(logFile, d);
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const line of lines) {
          if (!line.includes('"msg":"Distributed broker ready"') && !line.includes('active controller'))
            continue;
          let entry: { msg?: string; term?: number };
          try {
            entry = JSON.parse(line) as typeof entry;
          } catch {
            continue;
          }
          if (entry.msg === 'Distributed broker ready') resolve();
          if (entry.msg === 'became the active controller' && typeof entry.term === 'number')
            o.onControllerTerm(id, run, entry.term);
        }
      });
      void exited.then(() =>
        reject(
          new Error(`node ${id} exited before it was ready: ${stderr.trim().slice(-1500) || '(no output)'}`),
        ),
      );
    });
    const timeoutMs = o.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`node ${id} was not ready within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to node `id` and, unless it is SIGSTOP or SIGCONT, waits for its process to exit. */
  async signal(id: number, signal: NodeJS.Signals): Promise<void> {
    const n = this.node(id);
    if (!n.proc || !n.alive) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      n.proc.kill(signal);
      n.paused = signal === 'SIGSTOP';
      return;
    }
    // A stopped process takes SIGTERM only once it runs again.
    if (n.paused && signal !== 'SIGKILL') await this.signal(id, 'SIGCONT');
    n.proc.kill(signal);
    const exited = this.#exits.get(n.proc)!;
    if (signal === 'SIGKILL') return exited;
    // A controlled shutdown is bounded (replication.controlled_shutdown_timeout); past it, a kill.
    const timer = setTimeout(() => n.proc?.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  /**
   * Continues every paused node and starts every node that is down, all at once: a node is ready only
   * once the metadata quorum commits its registration, so nodes of a lost quorum must start together.
   */
  async healProcesses(): Promise<void> {
    for (const n of this.nodes) if (n.paused) await this.signal(n.id, 'SIGCONT');
    await Promise.all(this.nodes.filter((n) => !n.alive).map((n) => this.startNode(n.id)));
  }

  /** SIGTERM to every node (SIGKILL after 30 s), then waits for them all. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.signal(n.id, 'SIGTERM')));
  }

  /** SIGKILL to every node still running. */
  async kill(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.signal(n.id, 'SIGKILL')));
  }
}
