/**
 * Every start-up failure that a setting can fix (issue 10 finding 11): the real `broker` process exits
 * 2 with a message naming the key, the value and what is wrong, and a library caller of
 * `startBroker()` gets a ConfigError instead (a library never exits the process). Covered: each bound
 * port key in use, each bad data directory (a file, under a file, read-only mount, immutable
 * directory, contents the core cannot open), every numeric flag with a negative, non-numeric and out-of-range value, a flag with no
 * value, and unknown BROKER_* environment variables (warned about, by name, with the nearest key).
 * network.raft_port and network.data_port are validated but not yet bound by a single node, so they
 * have no port-in-use case.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { ConfigError } from '../src/config/config-error.ts';
import { SCHEMA } from '../src/config/schema.ts';
import { startBroker } from '../src/index.ts';
import { brokerBin } from './helpers/broker-process.ts';
import { tempDir } from './helpers/tmp.ts';

/** Runs the real broker to its exit; it must not get as far as serving. */
async function brokerExit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const proc = spawn(process.execPath, [brokerBin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  let stdout = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const [status] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { status, stderr, stdout };
}

/** Ephemeral ports for the listeners a case does not test, on loopback. */
const quiet = [
  '--grpc-port',
  '0',
  '--kafka-port',
  '0',
  '--metrics-port',
  '0',
  '--raft-port',
  '0',
  '--data-port',
  '0',
  '--bind-addr',
  '127.0.0.1',
];

async function occupiedPort(t: TestContext): Promise<number> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as { port: number }).port;
}

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const [flag, key] of [
  ['grpc-port', 'network.grpc_port'],
  ['kafka-port', 'network.kafka_port'],
  ['metrics-port', 'network.metrics_port'],
  ['raft-port', 'network.raft_port'],
] as const) {
  test(`${key} in use: exit 2 naming the key and the port; startBroker() rejects with a ConfigError`, async (t) => {
    const port = await occupiedPort(t);
    const dir = await tempDir(t);
    const r = await brokerExit(['--data-dir', dir, ...quiet, `--${flag}`, String(port)]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `${reEscape(key)}=${port} \\(from --${flag}\\) cannot be used: 127\\.0\\.0\\.1:${port} is already in use`,
      ),
    );
    assert.doesNotMatch(r.stdout, /broker ready/);

    const field = {
      'grpc-port': 'grpcPort',
      'kafka-port': 'kafkaPort',
      'metrics-port': 'metricsPort',
      'raft-port': 'raftPort',
    }[flag];
    const err = await startBroker({ [field]: port }).then(
      (b) => b.close().then(() => assert.fail('started on a port in use')),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.equal(err.key, key);
    assert.equal(err.value, port);
    assert.match(err.message, new RegExp(`from startBroker option ${field}\\).*already in use`));
  });
}

test('a bind address this machine does not have names network.bind_addr', async (t) => {
  const r = await brokerExit(['--data-dir', await tempDir(t), ...quiet, '--bind-addr', '192.0.2.1']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /network\.bind_addr="192\.0\.2\.1" \(from --bind-addr\) cannot be used: .*EADDRNOTAVAIL/,
  );
});

/** Runs `cmd` as root; the tests run as root (npm test installs packages as root too). */
function sh(cmd: string, args: string[]) {
  execFileSync(cmd, args, { stdio: 'pipe' });
}

async function dataDirFails(dataDir: string, problem: RegExp) {
  const r = await brokerExit(['--data-dir', dataDir, ...quiet]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`node\\.data_dir="${reEscape(dataDir)}" \\(from --data-dir\\) cannot be used: `),
  );
  assert.match(r.stderr, problem);
  assert.doesNotMatch(r.stderr, /ENOENT/, 'the cause, not a misleading ENOENT');
  const err = await startBroker({ dataDir }).then(
    (b) => b.close().then(() => assert.fail('started on a bad data directory')),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.key, 'node.data_dir');
  assert.equal(err.value, dataDir);
  assert.match(err.message, problem);
}

test('a data directory that is a file, under a file, a dangling link, or holding a file where a directory belongs', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'file');
  writeFileSync(file, 'not a directory');
  await dataDirFails(file, /it is a file, not a directory/);
  await dataDirFails(path.join(file, 'sub'), new RegExp(`its parent ${reEscape(file)} is a file`));
  const dangling = path.join(dir, 'dangling');
  symlinkSync(path.join(dir, 'nowhere'), dangling);
  await dataDirFails(dangling, /is a symbolic link to a path that does not exist/);
  // Writable, but the meta directory, where meta.properties says whose directory it is, is a file.
  const blocked = path.join(dir, 'blocked');
  mkdirSync(blocked);
  writeFileSync(path.join(blocked, 'meta'), 'a file where the meta directory belongs');
  await dataDirFails(
    blocked,
    /meta\/meta\.properties cannot be read: a part of the path is a file, not a directory \(ENOTDIR\)/,
  );
  // Writable, but what the core keeps in it cannot be opened: still named as node.data_dir.
  const unopenable = path.join(dir, 'unopenable');
  mkdirSync(path.join(unopenable, 'meta', 'topics.json'), { recursive: true });
  await dataDirFails(unopenable, /opening it failed: EISDIR/);
});

test('a data directory on a read-only file system, existing or to be created', async (t) => {
  const dir = await tempDir(t);
  const mnt = path.join(dir, 'ro');
  mkdirSync(mnt);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  t.after(() => sh('umount', [mnt]));
  mkdirSync(path.join(mnt, 'data'));
  sh('mount', ['-o', 'remount,ro', mnt]);
  await dataDirFails(path.join(mnt, 'data'), /it is not writable: the file system is read-only \(EROFS\)/);
  await dataDirFails(
    path.join(mnt, 'a', 'b'),
    new RegExp(`it cannot be created in ${reEscape(mnt)}: the file system is read-only \\(EROFS\\)`),
  );
});

test('an immutable data directory (chattr +i): refused although root passes permission checks', async (t) => {
  const dir = await tempDir(t);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  sh('chattr', ['+i', data]);
  t.after(() => sh('chattr', ['-i', data]));
  await dataDirFails(data, /it is not writable: the operation is not permitted .*\(EPERM\)/);
});

const numericFlags = SCHEMA.filter((s) => s.flag && s.kind.type === 'int');

test('every numeric flag: negative, non-numeric and out-of-range values exit 2 naming key and value', async () => {
  assert.deepEqual(
    numericFlags.map((s) => s.flag),
    ['grpc-port', 'kafka-port', 'raft-port', 'data-port', 'metrics-port'],
  );
  for (const spec of numericFlags) {
    const k = spec.kind as { min: number; max: number };
    for (const value of ['-1', 'abc', String(k.max + 1), '1.5', '']) {
      const r = await brokerExit([`--${spec.flag}`, value]);
      assert.equal(r.status, 2, `--${spec.flag} ${value}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `${reEscape(spec.key)}=${reEscape(JSON.stringify(value))} \\(from --${spec.flag}\\) is invalid: must be an integer between ${k.min} and ${k.max}`,
        ),
        `--${spec.flag} ${value}`,
      );
    }
  }
});

test('a flag without its value exits 2 naming the key, not "ambiguous"', async () => {
  const last = await brokerExit(['--kafka-port']);
  assert.equal(last.status, 2);
  assert.match(last.stderr, /network\.kafka_port: the flag --kafka-port needs a value/);
  const beforeFlag = await brokerExit(['--data-dir', '--kafka-port', '1']);
  assert.equal(beforeFlag.status, 2);
  assert.match(beforeFlag.stderr, /node\.data_dir: the flag --data-dir needs a value/);
  assert.doesNotMatch(beforeFlag.stderr + last.stderr, /ambiguous/);
});

test('a config file that cannot be read names --config or BROKER_CONFIG and the path', async (t) => {
  const missing = path.join(await tempDir(t), 'missing.yaml');
  const flag = await brokerExit(['--config', missing]);
  assert.equal(flag.status, 2);
  assert.match(
    flag.stderr,
    new RegExp(`config="${reEscape(missing)}" \\(from --config\\) cannot be used: it cannot be read: ENOENT`),
  );
  const env = await brokerExit([], { BROKER_CONFIG: path.dirname(missing) });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /\(from env BROKER_CONFIG\) cannot be used: it cannot be read: EISDIR/);
});

test('unknown BROKER_* environment variables are warned about by name, with the nearest known key', async () => {
  const r = await brokerExit(['--help'], {
    BROKER_GRPC_PROT: '1',
    BROKER_MAX_SEGMENT_BYTES: '2048',
    BROKER_ZZZZZZZZ: 'x',
    BROKER_SERVER: 'localhost:8080',
  });
  assert.equal(r.status, 0, 'a warning does not stop the broker');
  assert.match(
    r.stderr,
    /warning: unknown environment variable BROKER_GRPC_PROT is ignored; did you mean BROKER_GRPC_PORT \(network\.grpc_port\)\?/,
  );
  assert.match(
    r.stderr,
    /BROKER_MAX_SEGMENT_BYTES is ignored; did you mean BROKER_STORAGE_MAX_SEGMENT_BYTES \(storage\.max_segment_bytes\)\?/,
  );
  assert.match(r.stderr, /BROKER_ZZZZZZZZ is ignored; see broker --help/);
  assert.doesNotMatch(r.stderr, /BROKER_SERVER/, "broker-admin's variable is known");
});

test('startBroker() options out of bounds reject with a ConfigError naming key, value and option', async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [
      { kafkaPort: -1 },
      'network.kafka_port',
      /startBroker option kafkaPort\) is invalid: .*between 0 and 65535/,
    ],
    [{ grpcPort: 70_000 }, 'network.grpc_port', /between 0 and 65535/],
    [{ segmentBytes: 12 }, 'storage.max_segment_bytes', /between 1024/],
    [{ fsyncIntervalMs: 0 }, 'storage.fsync_interval', /milliseconds between 1 and/],
    [{ fsync: 'sometimes' }, 'storage.fsync', /one of always, interval, never/],
    [{ nodeId: 'bad id!' }, 'node.id', /1 to 64 characters/],
    [{ heartbeatIntervalMs: 40_000 }, 'consumer_groups.heartbeat_interval', /shorter than/],
  ];
  for (const [options, key, message] of cases) {
    const err = await startBroker(options).then(
      (b) => b.close().then(() => assert.fail(`started with ${JSON.stringify(options)}`)),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError, `${JSON.stringify(options)}: ${err}`);
    assert.equal(err.key, key);
    assert.match(err.message, message);
  }
});
