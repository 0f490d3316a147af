/**
 * The processes and sockets that a compat-suite run starts, and the one place that stops them all:
 * brokers (through the test helper, whose exit hook SIGKILLs any left), TCP forwarders, and the
 * clients' test processes, each in its own process group so that a timeout kills its children too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type BrokerProcess, spawnBroker } from '../../test/helpers/broker-process.ts';

const groups = new Set<ChildProcess>();
const closers = new Set<() => Promise<void>>();

/** SIGKILLs the process group that `proc` leads; its members may outlive the leader, so even after exit. */
function killGroup(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

process.on('exit', () => {
  for (const p of groups) killGroup(p);
});

/** Stops everything still running: test processes first, then forwarders and brokers. */
export async function stopAll(): Promise<void> {
  for (const p of groups) killGroup(p);
  for (const close of [...closers].reverse()) await close().catch(() => {});
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

export interface RunBroker {
  broker: BrokerProcess;
  port: number;
  close(): Promise<void>;
}

/**
 * A real broker process with its own temporary data directory, every listener on an ephemeral port of
 * 127.0.0.1, and 127.0.0.1 advertised. No fsync: clients' suites measure behaviour, not durability.
 */
export async function startSuiteBroker(env: Record<string, string> = {}): Promise<RunBroker> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'compat-suite-broker-'));
  let broker: BrokerProcess;
  try {
    broker = await spawnBroker(
      dataDir,
      ['--advertise-addr', '127.0.0.1', '--raft-port', '0', '--data-port', '0'],
      { BROKER_STORAGE_FSYNC: 'never', BROKER_STORAGE_SYNC_WRITES: 'false', ...env },
    );
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  if (broker.kafkaPort === undefined) {
    await broker.stop('SIGKILL');
    throw new Error('the broker did not say which Kafka port it bound');
  }
  const close = async () => {
    closers.delete(close);
    await broker.stop('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  };
  closers.add(close);
  return { broker, port: broker.kafkaPort, close };
}

/**
 * Listens on `host:port` and forwards every connection to `target`: for suites that hard-wire the
 * address of their own Kafka container. Clients then learn the broker's real address from Metadata.
 */
export async function startForwarder(
  host: string,
  port: number,
  target: { host: string; port: number },
): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen({ host, port, exclusive: true, ipv6Only: host.includes(':') });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw new Error(`cannot listen on ${host}:${port} for the suite's fixed broker address: ${err}`);
    }),
  ]);
  const close = async () => {
    closers.delete(close);
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  closers.add(close);
  return close;
}

export interface RunResult {
  /** Exit code, or the signal's name, or 'timeout'. */
  exit: number | string;
  durationMs: number;
}

/** Runs a command in its own process group, its output to `logFile`, killed as a group at `timeoutMs`. */
export async function runLogged(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string | undefined>; timeoutMs: number; logFile: string },
): Promise<RunResult> {
  const start = performance.now();
  const log = createWriteStream(opts.logFile);
  await once(log, 'open');
  const proc = spawn('nice', ['-n', '10', command, ...args], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', log, log],
  });
  groups.add(proc);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(proc);
  }, opts.timeoutMs);
  const [code, signal] = (await once(proc, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  // Children of the test process (clients it forked) die with it.
  killGroup(proc);
  groups.delete(proc);
  log.end();
  await once(log, 'close');
  return {
    exit: timedOut ? 'timeout' : (code ?? signal ?? 'unknown'),
    durationMs: performance.now() - start,
  };
}
