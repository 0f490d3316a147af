/**
 * Processes for the benchmark suite (issue 7): the broker started exactly as `npm start` starts it
 * (`node`, the flags of src/cli/node-flags.ts, `src/cli/broker.ts`, with flags and BROKER_*
 * environment), load generators as their own processes, and the /proc figures of a process (CPU
 * seconds, RSS, peak RSS, open descriptors).
 * Every child is killed when the suite exits, also on error or Ctrl-C.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { brokerNodeFlags } from '../../src/cli/node-flags.ts';
import { cpuSecondsFromStat, memoryFromStatus } from './stats.ts';

export const root = new URL('../../', import.meta.url).pathname;
export const nodeBin = process.execPath;
const ticksPerSec = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const live = new Set<ChildProcess>();
function killAll() {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });

/** Registers a child so that it is killed when the suite exits; resolves its exit. */
export function track(proc: ChildProcess): Promise<number | string> {
  live.add(proc);
  return once(proc, 'exit').then(([code, signal]) => {
    live.delete(proc);
    return (code ?? signal) as number | string;
  });
}

export interface ProcSample {
  cpuSeconds: number;
  rssBytes: number;
  peakRssBytes: number;
  fds: number;
}

export function sampleProc(pid: number): ProcSample {
  const cpuSeconds = cpuSecondsFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'), ticksPerSec);
  const mem = memoryFromStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
  let fds = Number.NaN;
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // Not readable (another user's process): leave it unknown.
  }
  return { cpuSeconds, ...mem, fds };
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) of a process so that the next sample's peak belongs
 * to the scenario that follows (Linux 4.0+, `echo 5 > /proc/<pid>/clear_refs`). Returns false where
 * the kernel refuses; the peak then covers the process's life so far.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A free loopback port (bound and released: good enough for a benchmark on a quiet loopback). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

export interface BrokerProcess {
  proc: ChildProcess;
  pid: number;
  grpcPort: number;
  metricsPort: number;
  kafkaPort: number;
  grpcAddress: string;
  /** Milliseconds from spawn until the "broker ready" log line. */
  readyMs: number;
  /** performance.now() at spawn. */
  spawnedAt: number;
  ready: Record<string, unknown>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface BrokerOptions {
  dataDir: string;
  fsync: 'always' | 'interval' | 'never';
  env?: Record<string, string>;
  /** The Kafka listener's port; a free one is chosen when absent. */
  kafkaPort?: number;
  /** @default 120000 (recovery of many GiB may need more) */
  readyTimeoutMs?: number;
}

/** Starts `node src/cli/broker.ts` as users do, on loopback, and waits for its "broker ready" line. */
export async function startBroker(o: BrokerOptions): Promise<BrokerProcess> {
  const kafkaPort = o.kafkaPort ?? (await freePort());
  const spawnedAt = performance.now();
  const proc = spawn(
    nodeBin,
    [
      ...brokerNodeFlags,
      path.join(root, 'src/cli/broker.ts'),
      '--data-dir',
      o.dataDir,
      '--grpc-port',
      '0',
      '--metrics-port',
      '0',
      '--kafka-port',
      String(kafkaPort),
      '--raft-port',
      '0',
      '--data-port',
      '0',
      '--bind-addr',
      '127.0.0.1',
      // info: the "broker ready" line that carries the ports is an info line.
      '--log-level',
      'info',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        BROKER_STORAGE_FSYNC: o.fsync,
        BROKER_STORAGE_SYNC_WRITES: o.fsync === 'always' ? 'true' : 'false',
        BROKER_RETENTION_DEFAULT_MAX_AGE: '-1',
        BROKER_RETENTION_DEFAULT_MAX_BYTES: '-1',
        ...o.env,
      },
    },
  );
  const exited = track(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (!line.includes('broker ready')) continue;
        try {
          resolve(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // Text log format: not what the suite starts; keep waiting.
        }
      }
    });
    const timer = setTimeout(
      () => reject(new Error(`broker not ready after ${o.readyTimeoutMs ?? 120_000} ms`)),
      o.readyTimeoutMs ?? 120_000,
    );
    timer.unref();
    exited.then((code) => reject(new Error(`broker exited with ${code} before it was ready: ${stderr}`)));
  });
  const readyMs = performance.now() - spawnedAt;
  // Keep draining stdout so that the broker never blocks on a full pipe.
  proc.stdout!.resume();
  const grpcPort = ready.grpcPort as number;
  return {
    proc,
    pid: proc.pid!,
    grpcPort,
    metricsPort: ready.metricsPort as number,
    kafkaPort: (ready.kafkaPort as number | undefined) ?? kafkaPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    readyMs,
    spawnedAt,
    ready,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/**
 * Runs a command to completion (killed after `timeoutMs`) and returns its stdout; rejects on a
 * non-zero exit with the tail of its stderr.
 */
export async function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; env?: Record<string, string>; cwd?: string },
): Promise<string> {
  const proc = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
  });
  const exited = track(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-4000);
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited with ${code}: ${err.trim()}`);
  return out;
}

/** Runs one of the suite's load generators (bench/load/<name>.ts) and parses its last JSON line. */
export async function runLoad<T>(name: string, params: unknown, timeoutMs: number): Promise<T> {
  const out = await run(nodeBin, [path.join(root, 'bench/load', `${name}.ts`), JSON.stringify(params)], {
    timeoutMs,
  });
  const last = out.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as T;
}

/** Starts a load generator without waiting; the promise resolves with its parsed JSON line. */
export function startLoad<T>(name: string, params: unknown, timeoutMs: number): Promise<T> {
  return runLoad<T>(name, params, timeoutMs);
}

/**
 * Pins every thread of `pid` to `cpus` (taskset's list, e.g. "1" or "0-1"); processes it starts later
 * inherit the set. False when taskset is missing or refuses, and nothing changed.
 */
export function pinCpus(pid: number, cpus: string): boolean {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  return r.status === 0;
}

/** The broker's garbage collection so far, from its /metrics (nodejs_gc_duration_seconds). */
export interface GcTotals {
  /** Seconds of young-generation collections (scavenges). */
  minorSeconds: number;
  /** Full collections (mark-compacts): how many, and their pauses' sum. */
  majorCount: number;
  majorSeconds: number;
}

/** The broker's GC totals; NaN for what its /metrics does not say. */
export async function gcTotals(metricsPort: number): Promise<GcTotals> {
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  } catch {
    return { minorSeconds: Number.NaN, majorCount: Number.NaN, majorSeconds: Number.NaN };
  }
  // The histogram's series appear with the first collection of their kind.
  const known = text.includes('# TYPE nodejs_gc_duration_seconds histogram');
  const series = (suffix: 'sum' | 'count', kind: string): number => {
    const m = new RegExp(
      `^nodejs_gc_duration_seconds_${suffix}\\{[^}]*kind="${kind}"[^}]*\\} (\\S+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : known ? 0 : Number.NaN;
  };
  return {
    minorSeconds: series('sum', 'minor'),
    majorCount: series('count', 'major'),
    majorSeconds: series('sum', 'major'),
  };
}

/** What the broker collected between two readings. */
export function gcDelta(before: GcTotals, after: GcTotals): GcTotals {
  return {
    minorSeconds: after.minorSeconds - before.minorSeconds,
    majorCount: after.majorCount - before.majorCount,
    majorSeconds: after.majorSeconds - before.majorSeconds,
  };
}
