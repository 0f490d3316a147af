/**
 * `<data-dir>/broker.pid`: the pid of the `broker` process that runs on a data directory, for
 * `broker stop` (the seed's command, issue 15: it signals the node of a data directory and waits for
 * its controlled shutdown). The file holds the pid and a newline, as pid files do, so that
 * `kill $(cat data/node-1/broker.pid)` works too.
 *
 * A pid alone is a weak name: after a crash the file stays, and the pid may since belong to another
 * program, or to the broker of another data directory. So the broker keeps the file open while it
 * runs, and a pid counts as this directory's broker only when, on Linux, `/proc/<pid>` shows a
 * process that runs the broker entry point and holds this very file (the same device and inode) open.
 * Anything else is a stale file: `broker stop` will not signal it, and a start writes over it. Without
 * `/proc` nothing can be checked, and `inspectPidFile` says so rather than guess.
 *
 * The parsers are pure; the rest reads `/proc` and the file, and never writes.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/** The file's name in the data directory. */
export const PID_FILE = 'broker.pid';

/** Most bytes read from a pid file: a pid is at most 10 digits, so a longer file holds no pid. */
export const pidFileBytesMax = 64;

/** The pid a pid file's text names, or null when it names none (empty, torn by a crash, not a number). */
export function parsePid(text: string): number | null {
  const m = /^(\d{1,10})\n?$/.exec(text);
  if (!m) return null;
  const pid = Number(m[1]);
  return pid >= 1 && pid <= 2 ** 31 - 1 ? pid : null;
}

/** What this module reads of `/proc/<pid>/stat`. */
export interface ProcStat {
  /** One letter: R running, S sleeping, D disk wait, T stopped, Z zombie, X dead (proc(5)). */
  state: string;
  /** When the process started, in clock ticks after boot: a pid and its start time name one process. */
  startTime: string;
}

/**
 * Parses `/proc/<pid>/stat` (proc(5)). The command name, field 2, is in parentheses and may itself
 * hold spaces and parentheses, so the fields are counted from the last `)`: state is field 3 and the
 * start time field 22.
 */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
  if (fields.length < 20 || !/^[A-Za-z]$/.test(fields[0]) || !/^\d+$/.test(fields[19])) return null;
  return { state: fields[0], startTime: fields[19] };
}

/**
 * Names of the broker's entry point: the script (src/cli/broker.ts and the module it loads), or the
 * Docker image's bundle of it (dist/broker.mjs, scripts/bundle.ts).
 */
const BROKER_SCRIPTS = new Set(['broker.ts', 'broker-main.ts', 'broker.mjs']);

/**
 * Whether a command line (the NUL-separated arguments of `/proc/<pid>/cmdline`) runs the broker: an
 * argument is its script (`node src/cli/broker.ts` or `node dist/broker.mjs`, with any Node flags before it), or the program or
 * its first argument is the `broker` bin (`node /usr/local/bin/broker`, which links to the script).
 */
export function isBrokerCommand(argv: readonly string[]): boolean {
  if (argv.some((a) => BROKER_SCRIPTS.has(path.basename(a)))) return true;
  return argv.slice(0, 2).some((a) => path.basename(a) === 'broker');
}

/** What a data directory's pid file says, checked against the running processes. */
export type PidFileState =
  /** No pid file: no broker runs on the directory (or one older than pid files, or not yet claimed). */
  | { kind: 'absent'; file: string }
  /** The broker of this directory runs as `pid`. */
  | { kind: 'running'; file: string; pid: number; startTime: string }
  /** The file names no running broker of this directory (`pid` is null when it names no pid at all). */
  | { kind: 'stale'; file: string; pid: number | null; reason: string }
  /** It names a live process, but whether it is this directory's broker cannot be checked. */
  | { kind: 'unknown'; file: string; pid: number; reason: string };

/**
 * Reads `<dataDir>/broker.pid` and checks the process it names (see the header). `self` is the
 * calling process's pid, which a start treats as stale: a broker restarted in a container often gets
 * the pid its predecessor had.
 */
export async function inspectPidFile(dataDir: string, self = process.pid): Promise<PidFileState> {
  const file = path.join(dataDir, PID_FILE);
  let text: string;
  let fileId: { dev: bigint; ino: bigint };
  try {
    const fh = await open(file, 'r');
    try {
      const st = await fh.stat({ bigint: true });
      fileId = { dev: st.dev, ino: st.ino };
      const buf = Buffer.alloc(pidFileBytesMax + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('latin1');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent', file };
    throw err;
  }
  const pid = parsePid(text);
  if (pid === null)
    return {
      kind: 'stale',
      file,
      pid: null,
      reason: `it holds no pid: ${JSON.stringify(text.slice(0, 20))}`,
    };
  if (pid === self) return { kind: 'stale', file, pid, reason: `pid ${pid} is this process` };
  const proc = `/proc/${pid}`;
  if (!(await isDirectory('/proc/self')))
    return {
      kind: 'unknown',
      file,
      pid,
      reason: `this system has no /proc, so whether pid ${pid} is the broker of ${dataDir} cannot be checked`,
    };
  const statText = await readFile(`${proc}/stat`, 'utf8').catch(() => null);
  const procStat = statText === null ? null : parseProcStat(statText);
  if (procStat === null) return { kind: 'stale', file, pid, reason: `pid ${pid} is not running` };
  if (procStat.state === 'Z' || procStat.state === 'X')
    return { kind: 'stale', file, pid, reason: `pid ${pid} has exited (its parent has not reaped it yet)` };
  const argv = await readFile(`${proc}/cmdline`, 'utf8').then(
    (s) => s.split('\0').filter((a) => a !== ''),
    () => null,
  );
  if (argv === null) return { kind: 'stale', file, pid, reason: `pid ${pid} is not running` };
  if (!isBrokerCommand(argv))
    return {
      kind: 'stale',
      file,
      pid,
      reason: `pid ${pid} is another program, not a broker: ${JSON.stringify(argv.join(' ').slice(0, 200))}`,
    };
  let fds: string[];
  try {
    fds = await readdir(`${proc}/fd`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'stale', file, pid, reason: `pid ${pid} is not running` };
    return {
      kind: 'unknown',
      file,
      pid,
      reason:
        `pid ${pid} is a broker, but its open files cannot be seen (${code}), so whether it is the one ` +
        `of ${dataDir} cannot be checked; run as its user or as root`,
    };
  }
  for (const fd of fds) {
    const st = await stat(`${proc}/fd/${fd}`, { bigint: true }).catch(() => null);
    if (st !== null && st.dev === fileId.dev && st.ino === fileId.ino)
      return { kind: 'running', file, pid, startTime: procStat.startTime };
  }
  return {
    kind: 'stale',
    file,
    pid,
    reason: `pid ${pid} is a broker, but not the one of ${dataDir}: it does not hold ${file} open`,
  };
}

/**
 * Whether the process `pid` that started at `startTime` has exited: it is gone, a zombie, or the pid
 * now names a process that started at another time.
 */
export async function hasExited(pid: number, startTime: string): Promise<boolean> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  const s = text === null ? null : parseProcStat(text);
  return s === null || s.state === 'Z' || s.state === 'X' || s.startTime !== startTime;
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
