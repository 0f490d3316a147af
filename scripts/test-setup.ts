/**
 * The test command's own set-up (issue 16, section 1): `npm test` on a fresh Debian machine must not
 * fail or skip a test for lack of a package. Run as root, this installs the Debian packages the tests
 * use that are missing; run as another user without them, it stops at once and prints the exact
 * `apt-get install` line. It exits 0 when everything is present, so a second run costs one `dpkg-query`.
 *
 * The packages: kafka-python and its codecs (independent RecordBatch fixtures, the partitioner, a Kafka
 * client in test/compat), grpcio with grpc_tools (a gRPC client that is not ours), and the librdkafka
 * clients of the compatibility tests: kcat and confluent-kafka.
 */
import { spawnSync } from 'node:child_process';

export const testDebianPackages = [
  'python3-kafka',
  'python3-snappy',
  'python3-lz4',
  'python3-zstandard',
  'python3-grpcio',
  'python3-grpc-tools',
  'kcat',
  'python3-confluent-kafka',
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

if (import.meta.main) process.exitCode = setUp();
