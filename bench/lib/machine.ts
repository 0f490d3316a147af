/** The machine a run measured (issue 7): recorded beside every result. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

function sh(cmd: string): string {
  try {
    return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  disk: string;
  kernel: string;
  node: string;
  loadAverage1m: number;
  openFilesLimit: string;
  /** The commit measured, and whether src/ had uncommitted changes (others' work in progress). */
  revision: string;
}

export function describeMachine(dataDir: string): Machine {
  return {
    nproc: Number(sh('nproc')) || cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    disk: sh(`df -h --output=source,fstype,size,avail ${dataDir} | tail -1`),
    kernel: sh('uname -sr'),
    node: process.version,
    loadAverage1m: loadavg()[0],
    openFilesLimit: sh('ulimit -n'),
    revision: `${sh('git rev-parse --short HEAD')}${sh('git status --porcelain -- src | head -1') === '' ? '' : ' + uncommitted changes in src/'}`,
  };
}

/**
 * Milliseconds each CPU has lost to the hypervisor since boot (the steal column of /proc/stat: time
 * the host ran something else while this guest's CPU had work), indexed by CPU; null without
 * /proc/stat. A stall of that kind delays everything on the CPU, and no process in the guest can avoid
 * it, so the latency rows report it beside their tails.
 */
export function stealMsByCpu(): number[] | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  return parseSteal(text, 1000 / (Number(sh('getconf CLK_TCK')) || 100));
}

/** Each CPU's steal from /proc/stat's text, in milliseconds at `tickMs` a tick, indexed by CPU. */
export function parseSteal(text: string, tickMs: number): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    // user nice system idle iowait irq softirq steal guest guest_nice; kernels before 2.6.11 lack steal.
    if (m) out[Number(m[1])] = Number(m[2].trim().split(/\s+/)[7] ?? 0) * tickMs;
  }
  return out;
}
