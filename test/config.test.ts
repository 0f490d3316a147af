import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ConfigError,
  editDistance,
  FIELD_KEYS,
  loadConfig,
  parseDuration,
  readConfigFile,
  unknownEnvWarnings,
  validateConfig,
} from '../src/config/load.ts';
import { envName, SCHEMA } from '../src/config/schema.ts';
import { tempDir } from './helpers/tmp.ts';

const root = new URL('../', import.meta.url).pathname;

test('defaults match the seed: node-1, ports 8080/9092/9080/9180/9090, fsync always, data under ./data/<id>', () => {
  const { config } = loadConfig([], {});
  assert.equal(config.nodeId, 'node-1');
  assert.equal(config.numericNodeId, 1);
  assert.deepEqual(
    [config.grpcPort, config.kafkaPort, config.raftPort, config.dataPort, config.metricsPort],
    [8080, 9092, 9080, 9180, 9090],
  );
  assert.equal(config.fsync, 'always');
  assert.equal(config.dataDir, path.resolve('data/node-1'));
  assert.equal(config.retentionMs, 168 * 3600 * 1000);
  assert.equal(config.sessionTimeoutMs, 30_000);
});

test('precedence: flags over environment over file over defaults', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'c.yaml');
  writeFileSync(
    file,
    'node:\n  id: from-file-3\nnetwork:\n  grpc_port: 1111\n  metrics_port: 2222\nstorage:\n  sync_writes: false\n',
  );
  const env = { BROKER_GRPC_PORT: '3333', BROKER_NETWORK_METRICS_PORT: '4444' };
  const { config } = loadConfig(['--config', file, '--metrics-port', '5555'], env);
  assert.equal(config.nodeId, 'from-file-3');
  assert.equal(config.numericNodeId, 3, 'the number the name ends with');
  assert.equal(config.grpcPort, 3333);
  assert.equal(config.metricsPort, 5555);
  assert.equal(config.fsync, 'interval', 'sync_writes: false means the interval policy');
  assert.deepEqual(
    [config.sources['node.id'], config.sources['network.grpc_port'], config.sources['network.metrics_port']],
    ['file', 'env', 'flag'],
  );
  // The seed's single-dash flags work too.
  assert.equal(loadConfig(['-id', 'node-7'], {}).config.nodeId, 'node-7');
});

test('every invalid value names the key, the value and what is allowed', () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--grpc-port', '70000'], {}, /network\.grpc_port="70000".*between 0 and 65535/],
    [['--log-level', 'loud'], {}, /logging\.level="loud".*one of trace, debug/],
    [
      [],
      { BROKER_STORAGE_MAX_SEGMENT_BYTES: '12' },
      /storage\.max_segment_bytes="12" \(from env BROKER_STORAGE_MAX_SEGMENT_BYTES\).*between 1024/,
    ],
    [
      [],
      { BROKER_CONSUMER_GROUPS_SESSION_TIMEOUT: 'soon' },
      /consumer_groups\.session_timeout="soon".*duration/,
    ],
    [[], { BROKER_BOOTSTRAP: 'maybe' }, /cluster\.bootstrap="maybe".*true or false/],
    [['--id', 'bad id!'], {}, /node\.id="bad id!"/],
    [['--nope'], {}, /Unknown option '--nope'/],
    [
      [],
      { BROKER_CONSUMER_GROUPS_HEARTBEAT_INTERVAL: '40s' },
      /heartbeat_interval.*shorter than consumer_groups\.session_timeout/,
    ],
  ];
  for (const [argv, env, re] of cases)
    assert.throws(
      () => loadConfig(argv, env),
      { code: 'INVALID_CONFIG', message: re },
      `${argv} ${JSON.stringify(env)}`,
    );
});

test('the config file refuses unknown keys and bad shapes', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'storage:\n  max_segmnet_bytes: 10\n');
  assert.throws(() => readConfigFile(file), {
    key: 'storage.max_segmnet_bytes',
    message: /unknown key storage\.max_segmnet_bytes; did you mean storage\.max_segment_bytes\?/,
  });
  writeFileSync(file, 'storage: 5\n');
  assert.throws(() => readConfigFile(file), { message: /section storage must be a mapping/ });
  writeFileSync(file, 'storage:\n  max_segment_bytes: [1, 2]\n');
  assert.throws(() => readConfigFile(file), { message: /must be a single value/ });
});

test('config.yaml.example documents every key and loads as it is', () => {
  const example = readConfigFile(path.join(root, 'config.yaml.example'));
  for (const spec of SCHEMA) assert.ok(spec.key in example, `config.yaml.example lacks ${spec.key}`);
  const { config } = loadConfig(['--config', path.join(root, 'config.yaml.example')], {});
  assert.equal(config.nodeId, 'node-1');
});

test('durations parse with their units', () => {
  assert.equal(parseDuration('100ms'), 100);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('168h'), 604_800_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('-1'), -1);
  assert.equal(parseDuration('5 minutes'), null);
});

test('the broker CLI exits 2 on a bad value, naming it, and prints --help', () => {
  const bad = spawnSync(process.execPath, [path.join(root, 'src/cli/broker.ts'), '--metrics-port', 'abc'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /network\.metrics_port="abc".*between 0 and 65535/);
  const env = spawnSync(process.execPath, [path.join(root, 'src/cli/broker.ts')], {
    encoding: 'utf8',
    env: { ...process.env, BROKER_LOG_FORMAT: 'xml' },
  });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /logging\.format="xml" \(from env BROKER_LOG_FORMAT\)/);
  const help = spawnSync(process.execPath, [path.join(root, 'src/cli/broker.ts'), '--help'], {
    encoding: 'utf8',
  });
  assert.equal(help.status, 0);
  for (const flag of [
    '--id',
    '--data-dir',
    '--grpc-port',
    '--kafka-port',
    '--raft-port',
    '--data-port',
    '--metrics-port',
    '--join',
    '--bind-addr',
    '--advertise-addr',
    '--controller',
    '--log-level',
    '--config',
  ]) {
    assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
  }
});

test('every numeric key from the environment: negative, non-numeric and out-of-range values name key and value', () => {
  const numeric = SCHEMA.filter((s) => s.kind.type === 'int' || s.kind.type === 'duration');
  assert.ok(numeric.length >= 20);
  for (const spec of numeric) {
    const k = spec.kind as { min?: number; max?: number; minMs?: number; maxMs?: number };
    const [min, max] = k.min !== undefined ? [k.min, k.max!] : [k.minMs!, k.maxMs!];
    for (const value of [String(min - 1), 'abc', String(max + 1), '-']) {
      const name = envName(spec.key);
      assert.throws(
        () => loadConfig([], { [name]: value }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.equal(err.key, spec.key);
          assert.equal(err.value, value);
          assert.ok(
            err.message.startsWith(
              `${spec.key}=${JSON.stringify(value)} (from env ${name}) is invalid: must be`,
            ),
            err.message,
          );
          return true;
        },
        `${name}=${value}`,
      );
    }
  }
});

test('a negative flag value is refused by its bounds, not called an ambiguous option', () => {
  assert.throws(() => loadConfig(['--kafka-port', '-1'], {}), {
    key: 'network.kafka_port',
    message:
      /network\.kafka_port="-1" \(from --kafka-port\) is invalid: must be an integer between 0 and 65535/,
  });
  assert.throws(() => loadConfig(['-grpc-port', '-5'], {}), { key: 'network.grpc_port', value: '-5' });
  assert.throws(() => loadConfig(['--metrics-port'], {}), {
    key: 'network.metrics_port',
    message: /needs a value/,
  });
  assert.equal(loadConfig(['--id=-x1'], {}).config.nodeId, '-x1', 'an explicit = still passes a dash value');
});

test('FIELD_KEYS names every schema key, so that startBroker() options are validated by the schema', () => {
  const named = new Set<string>(Object.values(FIELD_KEYS));
  // storage.sync_writes is folded into the fsync field, which storage.fsync names.
  for (const spec of SCHEMA) if (spec.key !== 'storage.sync_writes') assert.ok(named.has(spec.key), spec.key);
});

test('edit distance: zero to itself, symmetric, one per insertion and per swap of neighbours', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 12 }),
      fc.string({ maxLength: 12 }),
      fc.nat(),
      fc.string({ minLength: 1, maxLength: 1 }),
      (a, b, i, c) => {
        assert.equal(editDistance(a, a), 0);
        assert.equal(editDistance(a, b), editDistance(b, a));
        assert.ok(editDistance(a, b) <= Math.max(a.length, b.length));
        const at = a.length === 0 ? 0 : i % (a.length + 1);
        assert.equal(editDistance(a, a.slice(0, at) + c + a.slice(at)), 1);
        if (a.length >= 2) {
          const j = i % (a.length - 1);
          if (a[j] !== a[j + 1]) {
            const swapped = a.slice(0, j) + a[j + 1] + a[j] + a.slice(j + 2);
            assert.equal(editDistance(a, swapped), 1);
          }
        }
      },
    ),
  );
});

test('unknown BROKER_* variables are warned about; known ones, aliases and other prefixes are not', () => {
  const known: Record<string, string> = { BROKER_CONFIG: 'c.yaml', BROKER_SERVER: 'x:1', PATH: '/bin' };
  for (const spec of SCHEMA) for (const name of [envName(spec.key), ...(spec.env ?? [])]) known[name] = '1';
  assert.deepEqual(unknownEnvWarnings(known), []);
  // One typo in each variable a key reads: the warning names that variable and its key.
  for (const spec of SCHEMA) {
    const name = envName(spec.key);
    const typo = `${name.slice(0, -2)}${name.at(-1)}${name.at(-2)}`;
    if (typo === name) continue;
    const [warning] = unknownEnvWarnings({ [typo]: '1' });
    assert.equal(
      warning,
      `unknown environment variable ${typo} is ignored; did you mean ${name} (${spec.key})?`,
      typo,
    );
  }
  assert.match(unknownEnvWarnings({ BROKER_QQQQ: '1' })[0], /BROKER_QQQQ is ignored; see broker --help/);
});

test('two listeners on one port are refused, naming both keys; 0 may repeat', () => {
  assert.throws(() => loadConfig(['--grpc-port', '9000', '--kafka-port', '9000'], {}), {
    key: 'network.kafka_port',
    message: /network\.kafka_port=9000 \(from --kafka-port\) is invalid: it is network\.grpc_port too/,
  });
  assert.throws(() => loadConfig([], { BROKER_METRICS_PORT: '9092' }), {
    key: 'network.metrics_port',
    message: /it is network\.kafka_port too/,
  });
  const { config } = loadConfig(['--grpc-port', '0', '--kafka-port', '0', '--metrics-port', '0'], {});
  assert.equal(config.grpcPort + config.kafkaPort + config.metricsPort, 0);
});

test('node.id carries its trailing number from every source, and one without is refused naming where it came from', () => {
  assert.equal(loadConfig([], { BROKER_NODE_ID: 'broker-9' }).config.numericNodeId, 9);
  assert.equal(loadConfig(['--id', '12'], { BROKER_NODE_ID: 'broker-9' }).config.numericNodeId, 12);
  assert.throws(() => loadConfig(['--id', 'broker'], {}), {
    name: 'ConfigError',
    key: 'node.id',
    value: 'broker',
    message:
      /^node\.id="broker" \(from --id\) is invalid: it must end in a decimal number from 1 to 2147483647/,
  });
  assert.throws(() => loadConfig([], { BROKER_NODE_ID: 'node-0' }), {
    key: 'node.id',
    message: /node\.id="node-0" \(from env BROKER_NODE_ID.*\) is invalid: its number 0 is out of range/,
  });
  // A config copied with another name but the old number is a caller's bug: an assertion, not a setting.
  const { config } = loadConfig(['--id', 'node-2'], {});
  assert.throws(() => validateConfig({ ...config, nodeId: 'node-5' }), {
    name: 'AssertionError',
    message: /numericNodeId 2 is not the number node\.id node-5 ends with/,
  });
});
