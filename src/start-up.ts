/**
 * The start-up checks that need the machine, not just the config: the data directory must be a
 * directory this process can write, and each listener's port must be free. Each failure becomes a
 * ConfigError naming the key, the value, where the value came from and what is wrong (issue 10
 * finding 11), so that the CLI exits 2 with a message that says which setting to change, and a library
 * caller of `startBroker()` gets a typed error.
 */
import { lstat, mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { type BrokerConfig, ConfigError, configUnusable, originOf } from './config/load.ts';
import {
  formatMetaProperties,
  generateClusterId,
  META_PROPERTIES,
  type MetaProperties,
  metaPropertiesBytesMax,
  parseMetaProperties,
} from './meta-properties.ts';
import { inspectPidFile } from './pid-file.ts';
import { replaceFileDurably, syncDir } from './storage/segment.ts';

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

export interface ClaimOptions {
  /**
   * The cluster this node is to be part of. A node that joins an existing cluster passes the
   * cluster's id, so that a fresh directory records it and a used one must match it. Without it, a
   * fresh directory gets a new id (this node bootstraps a cluster) and a used one keeps its own.
   */
  clusterId?: string;
  /** When the file is written, for its comment line. @default new Date() */
  now?: () => Date;
  /** Randomness for a new cluster id. @default crypto.randomBytes */
  random?: (size: number) => Buffer;
}

/**
 * Makes `<data-dir>/meta/meta.properties` say that the data directory belongs to this node (DESIGN.md
 * decision 4) and returns what it records. Run after prepareDataDir and before anything else opens
 * the directory.
 *
 * - No file and no `meta/` directory: the node's first start. A cluster id is generated (or the one
 *   of `options.clusterId` taken) and the file written.
 * - No file but a `meta/` directory (with `topics.json` once a topic was made): a directory of a
 *   release before node identities, since this one writes the file before anything else goes into
 *   `meta/`. It is migrated once: a cluster id is generated and the file written, with an info line
 *   saying so.
 * - A file: it is read and checked. Another node's id is refused with a ConfigError naming node.id
 *   (with both ids), another cluster's with one naming node.data_dir. A file that cannot be read or
 *   parsed is refused too, and left as it is: it is the record of whose directory this is, so the
 *   broker never writes over it.
 *
 * The file is written to a temporary file of its own, fsynced, renamed into place, and the directory
 * fsynced (`replaceFileDurably`), so a crash leaves either no file or the whole of it; a leftover
 * temporary file is removed when the metadata store next opens `meta/`.
 */
export async function claimDataDir(
  config: BrokerConfig,
  logger: { info(obj: object, msg: string): void },
  options: ClaimOptions = {},
): Promise<MetaProperties> {
  const dir = config.dataDir;
  const file = path.join(dir, META_PROPERTIES);
  const unusable = (problem: string, cause?: unknown): ConfigError =>
    configUnusable('node.data_dir', dir, problem, originOf(config, 'node.data_dir'), cause);
  const existing = await readMetaProperties(file).catch((err: unknown) => {
    throw unusable(
      `${file} cannot be read: ${words(err)}; it records which node and cluster the directory belongs to, ` +
        'so the broker will not start without it and never writes over it',
      err,
    );
  });
  if (existing !== null) {
    const parsed =
      'text' in existing
        ? parseMetaProperties(existing.text)
        : { problem: `it holds ${existing.size} bytes, more than the ${metaPropertiesBytesMax} it may` };
    if ('problem' in parsed) {
      throw unusable(
        `${file} is malformed: ${parsed.problem}. It records which node and cluster the directory ` +
          'belongs to, so the broker leaves it as it is: restore it, or remove it to have a new ' +
          'cluster id written (for a node that runs alone)',
      );
    }
    if (parsed.nodeId !== config.numericNodeId) {
      throw new ConfigError(
        'node.id',
        config.nodeId,
        `node.id=${JSON.stringify(config.nodeId)} (from ${originOf(config, 'node.id')}) cannot use ` +
          `node.data_dir=${JSON.stringify(dir)} (from ${originOf(config, 'node.data_dir')}): data directory ` +
          `${dir} belongs to node ${parsed.nodeId} of cluster ${parsed.clusterId}; this node is ` +
          `${config.numericNodeId}. Start node ${parsed.nodeId} on it, or give this node its own data directory`,
      );
    }
    if (options.clusterId !== undefined && parsed.clusterId !== options.clusterId) {
      throw unusable(
        `data directory ${dir} belongs to node ${parsed.nodeId} of cluster ${parsed.clusterId}; ` +
          `this node is joining cluster ${options.clusterId}`,
      );
    }
    return parsed;
  }
  const migrating = await stat(path.join(dir, 'meta')).then(
    (st) => st.isDirectory(),
    () => false,
  );
  const props: MetaProperties = {
    clusterId: options.clusterId ?? generateClusterId(options.random),
    nodeId: config.numericNodeId,
  };
  const text = formatMetaProperties(props, config.nodeId, (options.now ?? (() => new Date()))());
  try {
    const metaDir = path.dirname(file);
    const created = await mkdir(metaDir).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return false;
        throw err;
      },
    );
    if (created) await syncDir(dir);
    await replaceFileDurably(file, Buffer.from(text));
  } catch (err) {
    throw unusable(`${file} cannot be written: ${words(err)}`, err);
  }
  if (migrating)
    logger.info(
      { clusterId: props.clusterId, nodeId: props.nodeId, file },
      'data directory of an earlier release: generated a cluster id and wrote meta/meta.properties',
    );
  else
    logger.info(
      { clusterId: props.clusterId, nodeId: props.nodeId, file },
      options.clusterId === undefined
        ? 'first start: new cluster id, wrote meta/meta.properties'
        : 'first start: wrote meta/meta.properties for the cluster joined',
    );
  return props;
}

/** A pid file this process wrote and holds open (see pid-file.ts). */
export interface HeldPidFile {
  readonly file: string;
  /** Removes the file (only if it is still this process's) and closes it. Run last on a clean exit. */
  release(): Promise<void>;
}

/**
 * Writes `<data-dir>/broker.pid` with this process's pid, fsynced with its directory, and keeps it
 * open for as long as the broker runs: the open file is how `broker stop`, and the next start, tell
 * this process from another that got the same pid after a crash (pid-file.ts). Run after claimDataDir.
 *
 * A stale file (its process gone, or another program, or a broker of another directory) is written
 * over, with an info line saying what it named: it never stops a start. A running broker of this
 * directory does, with a ConfigError naming node.data_dir: two brokers on one directory would write
 * over each other's logs. (Two starting at the same moment can both pass the check; the pid file is a
 * guard against mistakes, not a lock.) A pid that cannot be checked (no /proc) is warned about and
 * written over, as a stale one is.
 */
export async function claimPidFile(
  config: BrokerConfig,
  logger: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void },
): Promise<HeldPidFile> {
  const dir = config.dataDir;
  const unusable = (problem: string, cause?: unknown): ConfigError =>
    configUnusable('node.data_dir', dir, problem, originOf(config, 'node.data_dir'), cause);
  const found = await inspectPidFile(dir).catch((err: unknown) => {
    throw unusable(`its pid file cannot be read: ${words(err)}`, err);
  });
  if (found.kind === 'running')
    throw unusable(
      `broker pid ${found.pid} runs on it (it holds ${found.file} open); stop it first (broker stop --data-dir ${dir}), or give this node another data directory`,
    );
  if (found.kind === 'stale')
    logger.info({ file: found.file, reason: found.reason }, 'replacing a stale pid file');
  if (found.kind === 'unknown')
    logger.warn({ file: found.file, reason: found.reason }, 'replacing a pid file that cannot be checked');
  const file = found.file;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    // Written in place, not renamed into place: a torn write leaves a file naming no running broker,
    // which is stale like any other, and no temporary file is left beside it.
    fh = await open(file, 'w');
  } catch (err) {
    throw unusable(`${file} cannot be written: ${words(err)}`, err);
  }
  try {
    await fh.writeFile(`${process.pid}\n`);
    await fh.sync();
    await syncDir(dir);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(file, { force: true }).catch(() => {});
    throw unusable(`${file} cannot be written: ${words(err)}`, err);
  }
  const mine = await fh.stat();
  let released: Promise<void> | null = null;
  return {
    file,
    release() {
      released ??= (async () => {
        // Removed only while it is still the file this process wrote: if someone replaced it, it is theirs.
        const now = await stat(file).catch(() => null);
        if (now !== null && now.dev === mine.dev && now.ino === mine.ino) await rm(file, { force: true });
        await fh.close();
      })();
      return released;
    },
  };
}

/**
 * The file's text, or null when there is none. A file larger than metaPropertiesBytesMax is not one
 * this broker wrote: its size is returned instead of its bytes.
 */
async function readMetaProperties(file: string): Promise<{ text: string } | { size: number } | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    if (size > metaPropertiesBytesMax) return { size };
    return { text: (await fh.readFile()).toString('utf8') };
  } finally {
    await fh.close();
  }
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
