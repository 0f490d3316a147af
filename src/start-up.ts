/**
 * The start-up checks that need the machine, not just the config: the data directory must be a
 * directory this process can write, and each listener's port must be free. Each failure becomes a
 * ConfigError naming the key, the value, where the value came from and what is wrong (issue 10
 * finding 11), so that the CLI exits 2 with a message that says which setting to change, and a library
 * caller of `startBroker()` gets a typed error.
 */
import { lstat, mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type BrokerConfig, type ConfigError, configUnusable, originOf } from './config/load.ts';

/** What a system error code means, in words, for the error message. */
const ERRNO_WORDS: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted (an immutable file or directory?)',
  ENOSPC: 'no space is left on the device',
  EDQUOT: 'the disk quota is exhausted',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ELOOP: 'the path has too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EIO: 'the disk reported an I/O error',
};

function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function words(err: unknown): string {
  const code = errnoOf(err);
  return code && ERRNO_WORDS[code]
    ? `${ERRNO_WORDS[code]} (${code})`
    : String((err as Error)?.message ?? err);
}

/**
 * Makes sure `config.dataDir` is a writable directory, creating it (and its parents) if it is absent.
 * Node's recursive mkdir reports ENOENT when a parent is on a read-only file system, so the missing
 * parts are created one at a time, which reports the real cause; then a probe file is created,
 * synced and removed, because only a write proves that writes work (root passes every permission
 * check, and a read-only mount or an immutable directory refuses all the same).
 */
export async function prepareDataDir(config: BrokerConfig): Promise<void> {
  const dir = config.dataDir;
  const fail = (problem: string, cause?: unknown): ConfigError =>
    configUnusable('node.data_dir', dir, problem, originOf(config, 'node.data_dir'), cause);
  const missing: string[] = [];
  let existing = dir;
  for (;;) {
    const s = await stat(existing).catch((err: unknown) => err as NodeJS.ErrnoException);
    if (!(s instanceof Error)) {
      if (s.isDirectory()) break;
      throw existing === dir
        ? fail('it is a file, not a directory')
        : fail(`its parent ${existing} is a file, not a directory`);
    }
    // ENOTDIR: a part of the path is a file; walking up finds it and names it.
    if (s.code !== 'ENOENT' && s.code !== 'ENOTDIR') {
      if (s.code === undefined) throw s;
      throw fail(`it cannot be examined: ${words(s)}`, s);
    }
    // A dangling symbolic link is there but leads nowhere: say so rather than "cannot create".
    const link = await lstat(existing).then(
      (l) => l.isSymbolicLink(),
      () => false,
    );
    if (link) throw fail(`${existing} is a symbolic link to a path that does not exist`, s);
    missing.unshift(existing);
    const parent = path.dirname(existing);
    if (parent === existing) throw fail('no part of the path exists', s);
    existing = parent;
  }
  for (const part of missing) {
    try {
      await mkdir(part);
    } catch (err) {
      if (errnoOf(err) === 'EEXIST') continue;
      throw fail(`it cannot be created in ${path.dirname(part)}: ${words(err)}`, err);
    }
  }
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    const fh = await open(probe, 'wx');
    try {
      await fh.write(Buffer.from('probe\n'));
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(probe, { force: true }).catch(() => {});
    throw fail(`it is not writable: ${words(err)}`, err);
  }
  await rm(probe, { force: true });
}

/**
 * The ConfigError for a listener that failed to bind `port` of `key`: the address in use, a port that
 * needs privileges, or a bind address this machine does not have. grpc-js reports its bind failures
 * as a plain Error whose message carries the system error's text, so the code is read from either.
 * Anything else is returned as it is.
 */
export function listenFailure(config: BrokerConfig, key: string, port: number, err: unknown): unknown {
  const message = String((err as Error)?.message ?? err);
  const code = errnoOf(err) ?? /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN)\b/.exec(message)?.[1];
  const address = `${config.bindAddr}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return configUnusable(
        key,
        port,
        `${address} is already in use by another process (EADDRINUSE)`,
        originOf(config, key),
        err,
      );
    case 'EACCES':
      return configUnusable(
        key,
        port,
        `binding ${address} is not permitted (EACCES); ports below 1024 need privileges`,
        originOf(config, key),
        err,
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return configUnusable(
        'network.bind_addr',
        config.bindAddr,
        `it is not an address of this machine (${code}), so ${key} cannot listen on it`,
        originOf(config, 'network.bind_addr'),
        err,
      );
    default:
      return err;
  }
}
