/**
 * The test command's own set-up (issue 16, section 1): `npm test` on a fresh Debian machine must not
 * fail or skip a test for lack of a package. Run as root, this installs the Debian packages the tests
 * use that are missing; run as another user without them, it stops at once and prints the exact
 * `apt-get install` line. It exits 0 when everything is present, so a second run costs one `dpkg-query`.
 *
 * The packages: kafka-python and its codecs (independent RecordBatch fixtures, the partitioner, a Kafka
 * client in test/compat), grpcio with grpc_tools (a gRPC client that is not ours), the librdkafka
 * clients of the compatibility tests (kcat and confluent-kafka, librdkafka 2.0.2), iproute2 and
 * iptables (the chaos harness's network namespaces and partitions), and the libraries that a current
 * librdkafka links against.
 *
 * Then it builds `@confluentinc/kafka-javascript` (librdkafka 2.15 inside; issue 16, section 4). Its
 * own install script would download prebuilt binaries or the sources of zlib, OpenSSL, zstd and curl,
 * which this machine cannot reach, so package.json's `allowScripts` turns the script off and this step
 * builds the addon once, against Debian's libraries (`CKJS_LINKING=dynamic`) and the headers of the
 * Node that runs the tests (about 2-3 minutes on two cores; later runs find it built).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const testDebianPackages = [
  'python3-kafka',
  'python3-snappy',
  'python3-lz4',
  'python3-zstandard',
  'python3-grpcio',
  'python3-grpc-tools',
  'kcat',
  'python3-confluent-kafka',
  // The chaos harness's network namespaces and partitions (test/chaos/net.ts).
  'iproute2',
  'iptables',
  // What @confluentinc/kafka-javascript's librdkafka builds against (CKJS_LINKING=dynamic).
  'pkg-config',
  'libssl-dev',
  'zlib1g-dev',
  'libzstd-dev',
  'liblz4-dev',
  'libsasl2-dev',
  'libcurl4-openssl-dev',
] as const;

/** The packages of `wanted` that dpkg does not report as installed. */
export function missingDebianPackages(wanted: readonly string[]): string[] {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not a template.
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\\n', ...wanted], {
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`cannot run dpkg-query (is this a Debian machine?): ${r.error.message}`);
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name),
  );
  return wanted.filter((p) => !installed.has(p));
}

function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

/** Installs what is missing of `wanted` (as root) or prints the apt-get line; the exit code. */
export function setUp(wanted: readonly string[] = testDebianPackages): number {
  const missing = missingDebianPackages(wanted);
  if (missing.length === 0) return 0;
  const line = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `The tests need Debian packages that are not installed. As root, run:\n\n  ${line}\n\n` +
        '(run as root, npm test installs them itself)\n',
    );
    return 1;
  }
  process.stderr.write(`test set-up: installing ${missing.join(' ')}\n`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing]);
  const still = missingDebianPackages(wanted);
  if (still.length > 0) {
    process.stderr.write(`test set-up: still missing after apt-get install: ${still.join(' ')}\n`);
    return 1;
  }
  return 0;
}

const ckjsDir = path.join(root, 'node_modules', '@confluentinc', 'kafka-javascript');
export const ckjsAddon = path.join(ckjsDir, 'build', 'Release', 'confluent-kafka-javascript.node');

/**
 * A directory with the running Node's headers as node-gyp wants them (`include/node/common.gypi`):
 * the `node` package's own platform package when it is still there, else that package fetched from
 * the npm registry into node_modules/.cache (a later `npm install` prunes it as extraneous).
 */
function nodeHeadersDir(): string {
  const require = createRequire(path.join(root, 'node_modules', 'node', 'package.json'));
  const platformPackage = `node-${process.platform}-${process.arch}`;
  try {
    const dir = path.dirname(require.resolve(`${platformPackage}/package.json`));
    if (existsSync(path.join(dir, 'include', 'node', 'common.gypi'))) return dir;
  } catch {
    // Pruned: fetch it below.
  }
  const cache = path.join(
    root,
    'node_modules',
    '.cache',
    'tsbroker',
    `${platformPackage}-${process.version}`,
  );
  if (!existsSync(path.join(cache, 'package', 'include', 'node', 'common.gypi'))) {
    mkdirSync(cache, { recursive: true });
    const tarball = execFileSync(
      npmCommand()[0],
      [...npmCommand().slice(1), 'pack', `${platformPackage}@${process.version}`],
      {
        cwd: cache,
        encoding: 'utf8',
      },
    )
      .trim()
      .split('\n')
      .pop()!;
    run('tar', ['xzf', path.join(cache, tarball), '-C', cache]);
  }
  return path.join(cache, 'package');
}

/** npm, run by the Node that runs the tests (so that node-gyp builds for this Node's ABI). */
function npmCommand(): string[] {
  const cli =
    process.env.npm_execpath ?? realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
  return [process.execPath, cli];
}

/** True when the built addon loads in this Node (a build for another Node's ABI does not). */
function addonLoads(): boolean {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(ckjsAddon)})`], { stdio: 'ignore' });
  return r.status === 0;
}

/** Builds the @confluentinc/kafka-javascript addon unless it is built; the exit code. */
export function buildConfluentJavascript(): number {
  if (existsSync(ckjsAddon) && addonLoads()) return 0;
  if (!existsSync(path.join(ckjsDir, 'package.json'))) {
    process.stderr.write(
      'test set-up: @confluentinc/kafka-javascript is not installed: run npm install first\n',
    );
    return 1;
  }
  const nodeGyp = path.join(
    path.dirname(npmCommand()[1]),
    '..',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  const version = (
    JSON.parse(readFileSync(path.join(ckjsDir, 'package.json'), 'utf8')) as { version: string }
  ).version;
  process.stderr.write(
    `test set-up: building @confluentinc/kafka-javascript ${version} against Debian's libraries (once, 2-3 minutes)\n`,
  );
  // npm's own config (here `nodedir=/usr`, the machine's Node 20) reaches node-gyp through the
  // environment and wins over its flag, so the headers are named in both.
  const nodedir = nodeHeadersDir();
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`], {
    cwd: ckjsDir,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, CKJS_LINKING: 'dynamic', npm_config_nodedir: nodedir },
  });
  if (r.status !== 0 || !existsSync(ckjsAddon)) {
    process.stderr.write(
      `${r.stderr.slice(-4000)}\ntest set-up: building @confluentinc/kafka-javascript failed\n`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) process.exitCode = setUp() || buildConfluentJavascript();
