/**
 * The workload of a chaos run and its history (test/chaos/history.ts):
 * - two librdkafka producers, both acks=all: an idempotent one through a current librdkafka
 *   (@confluentinc/kafka-javascript, test/chaos/current-librdkafka-producer.ts) and one that is not
 *   through Debian's (confluent-kafka-python, test/chaos/workload.py);
 * - our TypeScript client's idempotent producer, with a few sends in flight;
 * - a consumer group of librdkafka members (confluent-kafka-python) that commit after every poll;
 * - a poller reading the group's committed offsets back (OffsetFetch through the TypeScript client).
 * Every operation goes to the history as the harness learns of it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { BrokerClient } from '../../src/client/index.ts';
import type { HistoryOp, SendOp } from './history.ts';

export const debianPython = '/usr/bin/python3';
const script = path.join(import.meta.dirname, 'workload.py');
const currentProducer = path.join(import.meta.dirname, 'current-librdkafka-producer.ts');

/** The run's history: kept in memory for the checker and written to a JSON lines file as it grows. */
export class History {
  readonly ops: HistoryOp[] = [];
  readonly #out: WriteStream | null;
  readonly t0 = Date.now();

  constructor(file: string | null) {
    this.#out = file ? createWriteStream(file) : null;
  }

  /** Milliseconds since the run started. */
  now(): number {
    return Date.now() - this.t0;
  }

  add(op: HistoryOp): void {
    this.ops.push(op);
    this.#out?.write(`${JSON.stringify(op)}\n`);
  }

  /** Acknowledged sends so far. */
  get acked(): number {
    let n = 0;
    for (const op of this.ops) if (op.op === 'send' && op.outcome === 'ok') n++;
    return n;
  }

  async close(): Promise<void> {
    if (!this.#out) return;
    this.#out.end();
    await once(this.#out, 'finish');
  }
}

/** A client process (workload.py, current-librdkafka-producer.ts): its JSON lines become history operations. */
class ClientChild {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | string>;
  stderr = '';
  /** Its last poll's highest offset per partition (consumers only). */
  readonly polled = new Map<number, number>();

  constructor(argv: string[], history: History, logFile: string | null, onLine?: (op: HistoryOp) => void) {
    this.proc = spawn(argv[0]!, [...argv.slice(1), String(history.t0)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const log = logFile ? createWriteStream(logFile) : null;
    if (log) this.proc.stderr!.pipe(log);
    this.proc.stdin!.on('error', () => {});
    this.exited = once(this.proc, 'close').then(([code, signal]) => (code ?? signal) as number | string);
    let buf = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === '') continue;
        let op: HistoryOp;
        try {
          op = JSON.parse(line) as HistoryOp;
        } catch {
          continue;
        }
        history.add(op);
        if (op.op === 'poll')
          for (const [p, o] of op.records) if (o > (this.polled.get(p) ?? -1)) this.polled.set(p, o);
        onLine?.(op);
      }
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-8192);
    });
  }

  /** Closes its stdin (it then stops: a producer flushes first) and waits, SIGKILL after `ms`. */
  async stop(ms: number): Promise<number | string> {
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export interface WorkloadOptions {
  history: History;
  bootstrap: string;
  grpcAddresses: string[];
  topic: string;
  group: string;
  consumers: number;
  /** Concurrent sends of the TypeScript producer. */
  tsInFlight: number;
  /** Where each client process's stderr is written; null: nowhere. */
  logDir: string | null;
}

export class Workload {
  readonly #o: WorkloadOptions;
  readonly #producers: ClientChild[] = [];
  readonly #consumers: ClientChild[] = [];
  #client: BrokerClient | null = null;
  #tsLoops: Promise<void>[] = [];
  #stopTs = false;
  #stopPoller = false;
  #poller: Promise<void> | null = null;
  /** Errors that the workload's own machinery met (not the cluster's answers). */
  readonly problems: string[] = [];

  constructor(o: WorkloadOptions) {
    this.#o = o;
  }

  /** Where a client's stderr (librdkafka's log lines) goes: `<logDir>/<name>.log`. */
  #logFile(name: string): string | null {
    return this.#o.logDir ? path.join(this.#o.logDir, `${name}.log`) : null;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const h = o.history;
    this.#producers.push(
      new ClientChild(
        [process.execPath, currentProducer, o.bootstrap, o.topic, 'librdkafka-idem'],
        h,
        this.#logFile('librdkafka-idem'),
      ),
      new ClientChild(
        [debianPython, script, 'produce', o.bootstrap, o.topic, 'librdkafka', '0'],
        h,
        this.#logFile('librdkafka'),
      ),
    );
    for (let i = 1; i <= o.consumers; i++)
      this.#consumers.push(
        new ClientChild(
          [debianPython, script, 'consume', o.bootstrap, o.topic, o.group, `consumer-${i}`],
          h,
          this.#logFile(`consumer-${i}`),
        ),
      );
    this.#client = await BrokerClient.connect(o.grpcAddresses);
    const producer = this.#client.producer({ idempotent: true });
    let n = 0;
    for (let loop = 0; loop < o.tsInFlight; loop++)
      this.#tsLoops.push(
        (async () => {
          while (!this.#stopTs) {
            const value = `ts-idem-${n++}`;
            const op: SendOp = {
              op: 'send',
              client: 'ts-idem',
              idempotent: true,
              value,
              start: h.now(),
              end: null,
              outcome: 'unknown',
            };
            try {
              const r = await producer.send(o.topic, { key: value, value });
              h.add({ ...op, end: h.now(), outcome: 'ok', partition: r.partition, offset: r.offset });
            } catch (err) {
              h.add({
                ...op,
                end: h.now(),
                outcome: 'unknown',
                error: String((err as Error).message ?? err),
              });
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        })(),
      );
    this.#poller = (async () => {
      while (!this.#stopPoller) {
        try {
          const offsets = await this.#client!.fetchOffsets(o.group, [], { timeoutMs: 3000 });
          const mine = offsets.filter((x) => x.topic === o.topic && x.offset >= 0);
          if (mine.length > 0)
            h.add({
              op: 'offset-fetch',
              at: h.now(),
              offsets: Object.fromEntries(mine.map((x) => [String(x.partition), x.offset])),
            });
        } catch {
          // The coordinator moves or is cut off: the next poll asks again.
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
  }

  /** The highest offset any consumer has polled, per partition. */
  polledUpTo(): Map<number, number> {
    const m = new Map<number, number>();
    for (const c of this.#consumers) for (const [p, o] of c.polled) if (o > (m.get(p) ?? -1)) m.set(p, o);
    return m;
  }

  /** Consumer members still running. */
  get consumersAlive(): number {
    return this.#consumers.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null).length;
  }

  /** Stops the producers (each flushes what it holds); the consumers go on. */
  async stopProducers(): Promise<void> {
    this.#stopTs = true;
    const codes = await Promise.all(this.#producers.map((p) => p.stop(40_000)));
    await Promise.all(this.#tsLoops);
    codes.forEach((c, i) => {
      if (c !== 0)
        this.problems.push(`producer ${i} exited with ${c}: ${this.#producers[i]!.stderr.slice(-500)}`);
    });
  }

  async stopConsumers(): Promise<void> {
    this.#stopPoller = true;
    await this.#poller;
    const codes = await Promise.all(this.#consumers.map((c) => c.stop(20_000)));
    codes.forEach((c, i) => {
      if (c !== 0)
        this.problems.push(`consumer ${i + 1} exited with ${c}: ${this.#consumers[i]!.stderr.slice(-500)}`);
    });
    this.#client?.close();
  }

  /** Kills every child at once (a failed run). */
  kill(): void {
    this.#stopTs = true;
    this.#stopPoller = true;
    for (const c of [...this.#producers, ...this.#consumers]) c.proc.kill('SIGKILL');
    this.#client?.close();
  }
}
