/**
 * Shared pieces of the Kafka compatibility tests (issue 5): the real `broker` process on a fixed Kafka
 * port that survives restarts, bounded waits, child processes that speak JSON lines (the Python and
 * kcat flows), and a reader for the batches the broker stored on disk, so that a test can check what a
 * client really sent (its codec, its producer id and sequences) without trusting that client's reader.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type BatchHeader, forEachBatch, readBatchHeader } from '../../src/records/batch.ts';
import { type CompressionName, compressionName } from '../../src/records/compression.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';

export const CODECS: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
export const compatDir = new URL('./', import.meta.url).pathname;

/** A port that was free a moment ago: bind port 0 on loopback, read it, release it. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The real broker CLI on a fixed Kafka port, so that clients keep their bootstrap address across
 * `restart()` (SIGTERM, then the same data directory and port again). gRPC and metrics stay ephemeral.
 */
export class CompatBroker {
  readonly dataDir: string;
  readonly kafkaPort: number;
  proc: BrokerProcess;
  restarts = 0;

  private constructor(dataDir: string, kafkaPort: number, proc: BrokerProcess) {
    this.dataDir = dataDir;
    this.kafkaPort = kafkaPort;
    this.proc = proc;
  }

  /** Extra `BROKER_*` environment for every start of the process. */
  env: Record<string, string> = {};

  static async start(env: Record<string, string> = {}): Promise<CompatBroker> {
    const dataDir = await tempDir(undefined, 'tsbroker-compat-');
    // A port picked by binding 0 can be taken by someone else before the broker binds it; try again.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        const broker = new CompatBroker(
          dataDir,
          port,
          await spawnBroker(dataDir, CompatBroker.args(port), env),
        );
        broker.env = env;
        return broker;
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
      }
    }
  }

  private static args(port: number): string[] {
    // The advertised host must be the loopback address the clients bootstrap from (the default
    // advertised address is `localhost`, which may resolve to ::1 first).
    return ['--kafka-port', String(port), '--advertise-addr', '127.0.0.1'];
  }

  get kafkaAddress(): string {
    return `127.0.0.1:${this.kafkaPort}`;
  }

  get grpcAddress(): string {
    return this.proc.grpcAddress;
  }

  /** SIGTERM (a clean shutdown that must exit 0), then the same data directory and Kafka port. */
  async restart(): Promise<void> {
    const code = await this.proc.stop('SIGTERM');
    assert.equal(code, 0, 'the broker exits 0 on SIGTERM');
    this.proc = await spawnBroker(this.dataDir, CompatBroker.args(this.kafkaPort), this.env);
    this.restarts++;
    assert.equal(this.proc.kafkaPort, this.kafkaPort);
  }

  async close(): Promise<void> {
    await this.proc.stop('SIGTERM');
  }

  /** Headers of every batch stored for one partition, read from its segment files. */
  storedBatches(topic: string, partition: number): (BatchHeader & { codec: CompressionName })[] {
    const dir = path.join(this.dataDir, `${topic}-${partition}`);
    const out: (BatchHeader & { codec: CompressionName })[] = [];
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()) {
      const buf = readFileSync(path.join(dir, file));
      forEachBatch(buf, (pos) => {
        const header = readBatchHeader(buf, pos);
        out.push({ ...header, codec: compressionName(header.attributes & 0x07) });
      });
    }
    return out;
  }
}

/** Polls `probe` until it returns something other than undefined or false; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rejects after `ms` with a message naming what was stuck; for bounding client calls. */
export function within<T>(what: string, promise: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * A child process that prints one JSON object per line on stdout (the Python flows, or kcat with a
 * JSON-shaped format). Lines are collected; `waitFor` polls them; `send` writes a line to stdin.
 */
export class JsonLinesChild {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<number | string>;

  constructor(command: string, args: string[], t?: TestContext) {
    this.proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this.proc);
    // 'close' rather than 'exit': it comes after stdout has ended, so every line has been read.
    this.exited = once(this.proc, 'close').then(([code, signal]) => {
      children.delete(this.proc);
      return (code ?? signal) as number | string;
    });
    let buf = '';
    const take = (line: string) => {
      if (line.trim() === '') return;
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ unparsed: line });
      }
    };
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) take(line);
    });
    // kcat -L -J ends its one line without a newline.
    this.proc.stdout!.on('end', () => take(buf));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.proc.stdin!.on('error', () => {}); // The child may exit before reading what was sent.
    t?.after(() => this.kill());
  }

  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  /** Waits for a line matching `match` at or after index `from`; returns it. */
  async waitLine(
    what: string,
    match: (l: Record<string, unknown>) => boolean,
    from = 0,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return waitFor(
      `${what} (stderr: ${this.stderr.slice(-2000)})`,
      async () => {
        const found = this.lines.slice(from).find(match);
        if (found) return found;
        if (this.proc.exitCode !== null || this.proc.signalCode !== null)
          throw new Error(`exited with ${this.proc.exitCode ?? this.proc.signalCode}`);
        return undefined;
      },
      timeoutMs,
    );
  }

  /** Resolves with the exit code, or kills the child and fails after `timeoutMs`. */
  async done(timeoutMs = 60_000): Promise<number | string> {
    try {
      return await within('child process', this.exited, timeoutMs);
    } catch (err) {
      this.kill();
      throw new Error(`${String(err)}; stderr: ${this.stderr.slice(-2000)}`);
    }
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/** Runs a JSON-lines child to completion; fails with its stderr unless it exits 0. */
export async function runJsonLines(
  command: string,
  args: string[],
  t?: TestContext,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>[]> {
  const child = new JsonLinesChild(command, args, t);
  child.proc.stdin!.end();
  const code = await child.done(timeoutMs);
  assert.equal(code, 0, `${path.basename(command)} ${args.join(' ')} failed: ${child.stderr.slice(-3000)}`);
  return child.lines;
}

/** The records a flow produces: `value` is `<prefix>-<i>`, `key` is `k<i>`. */
export function expectedValues(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/** Checks that partition assignments are disjoint and together cover `0..partitions-1`. */
export function isSplit(assignments: number[][], partitions: number): boolean {
  const all = assignments.flat();
  return (
    assignments.every((a) => a.length > 0) &&
    all.length === partitions &&
    new Set(all).size === partitions &&
    all.every((p) => p >= 0 && p < partitions)
  );
}
