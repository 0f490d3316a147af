/** The machine a run measured (issue 7): recorded beside every result. */
import { execFileSync } from 'node:child_process';
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
