/**
 * Runs the real `broker` CLI as a child process on ephemeral ports and reads the ports it bound from its
 * "broker ready" log line. Every process started here is killed when the test process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { brokerNodeFlags } from '../../src/cli/node-flags.ts';

const root = new URL('../../', import.meta.url).pathname;
export const brokerBin = path.join(root, 'src/cli/broker.ts');

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface BrokerProcess {
  proc: ChildProcess;
  grpcPort: number;
  metricsPort: number;
  /**
   * The Kafka listener's port: from the "broker ready" line when it carries `kafkaPort`, otherwise the
   * last `--kafka-port` passed when it is not 0; undefined when neither tells.
   */
  kafkaPort: number | undefined;
  grpcAddress: string;
  /** `127.0.0.1:<kafkaPort>`, or undefined when the port is unknown. */
  kafkaAddress: string | undefined;
  metricsUrl: string;
  /** Every log line printed so far, parsed. */
  logs: Record<string, unknown>[];
  /** Sends `signal` and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function spawnBroker(
  dataDir: string,
  args: string[] = [],
  env: Record<string, string> = {},
  /**
   * `openFilesMax`: the process's open files limit (`ulimit -n`), for descriptor-exhaustion tests.
   * `bin`: the entry file to run in place of src/cli/broker.ts (the image's bundle, in its test).
   */
  limits: { openFilesMax?: number; bin?: string } = {},
): Promise<BrokerProcess> {
  // With a limit, a shell sets it and execs node in its place (same pid).
  const wrap =
    limits.openFilesMax === undefined
      ? []
      : ['-c', `ulimit -n ${limits.openFilesMax} && exec "$@"`, 'sh', process.execPath];
  const proc = spawn(
    wrap.length > 0 ? '/bin/sh' : process.execPath,
    [
      ...wrap,
      ...brokerNodeFlags,
      limits.bin ?? brokerBin,
      '--data-dir',
      dataDir,
      '--grpc-port',
      '0',
      '--metrics-port',
      '0',
      '--kafka-port',
      '0',
      '--raft-port',
      '0',
      '--data-port',
      '0',
      '--bind-addr',
      '127.0.0.1',
      '--log-level',
      'info',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  live.add(proc);
  const exited = once(proc, 'exit').then(([code, signal]) => {
    live.delete(proc);
    return (code ?? signal) as number | string;
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'broker ready') resolve(entry);
        } catch {
          // Not a JSON line; ignore.
        }
      }
    });
    exited.then((code) => reject(new Error(`broker exited with ${code} before it was ready: ${stderr}`)));
  });
  const line = await ready;
  const grpcPort = line.grpcPort as number;
  const metricsPort = line.metricsPort as number;
  const kafkaPort = typeof line.kafkaPort === 'number' ? line.kafkaPort : lastKafkaPortFlag(args);
  return {
    proc,
    grpcPort,
    metricsPort,
    kafkaPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    kafkaAddress: kafkaPort === undefined ? undefined : `127.0.0.1:${kafkaPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

function lastKafkaPortFlag(args: string[]): number | undefined {
  const i = args.lastIndexOf('--kafka-port');
  const port = i >= 0 ? Number(args[i + 1]) : 0;
  return Number.isInteger(port) && port > 0 ? port : undefined;
}
