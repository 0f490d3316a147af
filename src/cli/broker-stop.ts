/**
 * `broker stop [--data-dir DIR | --id NODE] [--config FILE] [--timeout SECONDS]`: the seed's command
 * (issue 15). It finds the broker of a data directory by its pid file (src/pid-file.ts), checks that
 * the pid is that broker and not a program that got the pid after a crash, sends it SIGTERM (the
 * controlled shutdown: its leaderships move to other replicas, then it drains requests and flushes
 * its logs), and waits for the process to exit. The data directory is found as the broker finds it:
 * --data-dir, else BROKER_DATA_DIR or the config file's node.data_dir, else ./data/<node.id>.
 *
 * Exit codes: 0 stopped, 1 no broker runs on the directory (no pid file, or a stale one, which is left
 * for the next start to write over), 2 a usage or config error or a pid that cannot be checked or
 * signalled, 3 the broker still runs when the timeout ends.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import { hasExited, inspectPidFile, PID_FILE, parsePid, pidFileBytesMax } from '../pid-file.ts';

/** Slack over replication.controlled_shutdown_timeout for the rest of a shutdown: draining and fsyncs. */
export const stopSlackMs = 45_000;

/** Longest --timeout: beyond an hour, something other than a shutdown is going on. */
export const stopTimeoutMsMax = 3_600_000;

/** How often the wait looks at /proc/<pid>. */
const pollMs = 100;

export const STOP_HELP = `Usage: broker stop [--data-dir DIR | --id NODE] [--config FILE] [--timeout SECONDS]

Stops the broker that runs on a data directory: finds it by <data-dir>/${PID_FILE}, checks that the pid
is that broker (on Linux, /proc/<pid> runs the broker and holds the pid file open), sends it SIGTERM
(a controlled shutdown: leaderships move to other replicas first, then requests drain and the logs
are flushed and marked clean) and waits until the process exits.

  --data-dir DIR     the broker's data directory (default: as the broker's, node.data_dir or ./data/<node.id>)
  --id NODE          the node's name, for the default data directory ./data/<NODE>
  --config FILE      the broker's YAML config file, for node.id and node.data_dir
  --timeout SECONDS  how long to wait for the exit (default replication.controlled_shutdown_timeout
                     plus ${stopSlackMs / 1000} s: 60 s with the defaults)
  --help             show this help

BROKER_DATA_DIR, BROKER_NODE_ID and BROKER_CONFIG are read as the broker reads them.

Exit codes: 0 stopped; 1 no broker runs there (no pid file, or a stale one); 2 a usage or config
error, or a process that cannot be checked or signalled; 3 still running after the timeout (it keeps
shutting down; a second SIGTERM, as a second broker stop sends, makes it exit at once, unclean).`;

export interface StopIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

const processIo: StopIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/** Runs `broker stop` with the arguments after `stop`; resolves with the exit code. */
export async function brokerStop(args: string[], io: StopIo = processIo): Promise<number> {
  const fail = (message: string): number => {
    io.err(`broker stop: ${message}`);
    return 2;
  };
  let flags: { 'data-dir'?: string; id?: string; config?: string; timeout?: string; help?: boolean };
  try {
    flags = parseArgs({
      // `-data-dir`, `-id` as the broker accepts them (the seed's single-dash style).
      args: args.map((a) => (/^-[a-z][a-z-]+/.test(a) ? `-${a}` : a)),
      options: {
        'data-dir': { type: 'string' },
        id: { type: 'string' },
        config: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return fail(`${(err as Error).message}; see broker stop --help`);
  }
  if (flags.help) {
    io.out(STOP_HELP);
    return 0;
  }
  const configArgs = [
    ...(flags.config === undefined ? [] : ['--config', flags.config]),
    ...(flags.id === undefined ? [] : ['--id', flags.id]),
    ...(flags['data-dir'] === undefined ? [] : ['--data-dir', flags['data-dir']]),
  ];
  let config: ReturnType<typeof loadConfig>['config'];
  try {
    const loaded = loadConfig(configArgs, io.env);
    for (const warning of loaded.warnings) io.err(`broker stop: warning: ${warning}`);
    config = loaded.config;
  } catch (err) {
    return fail((err as Error).message.replace('see broker --help', 'see broker stop --help'));
  }
  let timeoutMs = config.controlledShutdownTimeoutMs + stopSlackMs;
  if (flags.timeout !== undefined) {
    const seconds = /^\d+(\.\d+)?$/.test(flags.timeout) ? Number(flags.timeout) : Number.NaN;
    if (!(seconds > 0 && seconds * 1000 <= stopTimeoutMsMax))
      return fail(
        `--timeout ${JSON.stringify(flags.timeout)} is invalid: must be a number of seconds above 0, at most ${stopTimeoutMsMax / 1000}`,
      );
    timeoutMs = Math.round(seconds * 1000);
  }
  const dir = config.dataDir;

  let found: Awaited<ReturnType<typeof inspectPidFile>>;
  try {
    found = await inspectPidFile(dir);
  } catch (err) {
    return fail(`cannot read the pid file of ${dir}: ${(err as Error).message}`);
  }
  switch (found.kind) {
    case 'absent':
      io.err(`broker stop: no broker runs on ${dir}: it has no pid file (${found.file})`);
      return 1;
    case 'stale':
      io.err(
        `broker stop: no broker runs on ${dir}: its pid file ${found.file} is stale (${found.reason}); ` +
          'nothing was signalled, and the next start writes over it',
      );
      return 1;
    case 'unknown':
      return fail(
        `${found.reason}; nothing was signalled. If pid ${found.pid} is the broker, stop it with kill -TERM ${found.pid}`,
      );
  }
  const { pid, startTime } = found;
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') {
      io.err(`broker stop: no broker runs on ${dir}: pid ${pid} exited before it could be signalled`);
      return 1;
    }
    return fail(`cannot signal broker pid ${pid}: ${(err as Error).message}`);
  }
  io.out(
    `broker stop: sent SIGTERM to broker pid ${pid} on ${dir}; waiting up to ${timeoutMs / 1000} s for its controlled shutdown`,
  );
  const started = performance.now();
  for (;;) {
    if (await hasExited(pid, startTime)) break;
    if (performance.now() - started >= timeoutMs) {
      io.err(
        `broker stop: broker pid ${pid} still runs after ${timeoutMs / 1000} s; it keeps shutting down ` +
          '(see its log). Wait, or run broker stop with a longer --timeout; note that a second SIGTERM ' +
          'makes the broker exit at once without a clean shutdown',
      );
      return 3;
    }
    await sleep(pollMs);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  // The broker removes its pid file as the last step of a clean close; a file that still names the pid
  // means it exited another way (a second signal, a failed close, a crash).
  const file = found.file;
  let left: number | null = null;
  try {
    left = parsePid(readFileSync(file, 'latin1').slice(0, pidFileBytesMax));
  } catch {
    // No file: the broker removed it.
  }
  if (left === pid)
    io.out(
      `broker stop: broker pid ${pid} exited after ${seconds} s, but did not remove its pid file: its ` +
        'shutdown was not clean (see its log); the next start recovers its logs',
    );
  else if (left !== null)
    io.out(
      `broker stop: broker pid ${pid} stopped after ${seconds} s; the pid file now names pid ${left}: ` +
        'a broker was started again on the directory (by a supervisor?)',
    );
  else io.out(`broker stop: broker pid ${pid} stopped after ${seconds} s: a clean shutdown`);
  return 0;
}
