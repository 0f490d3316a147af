/** Runs test/groups/consumer-child.ts as a process and collects what it reports. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const child = path.join(path.dirname(new URL(import.meta.url).pathname), 'consumer-child.ts');

export interface Report {
  type: 'assigned' | 'revoked' | 'record' | 'closed';
  pid: number;
  generation: number;
  memberId?: string;
  partitions?: number[];
  partition?: number;
  offset?: number;
  value?: string;
}

export interface ConsumerChild {
  proc: ChildProcess;
  pid: number;
  exited: Promise<number | string>;
  /** Graceful close through stdin; resolves with the exit code. */
  close(): Promise<number | string>;
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Starts a consumer child; every line it reports goes to `reports` (shared between children). */
export function startConsumerChild(
  server: string,
  group: string,
  topic: string,
  reports: Report[],
  opts: { processingDelayMs?: number; onReport?: () => void } = {},
): ConsumerChild {
  const proc = spawn(process.execPath, [child, server, group, topic, String(opts.processingDelayMs ?? 0)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  live.add(proc);
  const exited = once(proc, 'exit').then(([code, signal]) => {
    live.delete(proc);
    return (code ?? signal) as number | string;
  });
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines) if (line.trim()) reports.push(JSON.parse(line) as Report);
    opts.onReport?.();
  });
  return {
    proc,
    pid: proc.pid!,
    exited,
    close() {
      proc.stdin!.write('close\n');
      return exited;
    },
    kill(signal) {
      proc.kill(signal);
      return exited;
    },
  };
}

/** Resolves once `check` holds, re-evaluated every 50 ms; the test's own timeout bounds the wait. */
export async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 50));
}
