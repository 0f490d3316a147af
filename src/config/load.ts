/**
 * Builds the broker's configuration from defaults, a YAML file, `BROKER_*` environment variables and
 * command-line flags, in that order of increasing precedence, and validates every value with a message
 * that names the key, the value and what is allowed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerError } from '../errors.ts';
import { ConfigError, configError, configUnusable } from './config-error.ts';
import { numericNodeId } from './node-id.ts';
import { envName, type KeySpec, SCHEMA } from './schema.ts';

export { ConfigError, configError, configUnusable } from './config-error.ts';
export { numericNodeId } from './node-id.ts';

export type RawValues = Record<string, string | number | boolean>;

export interface BrokerConfig {
  /** The node's name, as `node.id` gives it (`node-1`, `broker-3`, `7`). */
  nodeId: string;
  /**
   * The node's int32 id, the number its name ends with (`numericNodeId`): what Kafka clients see as
   * the broker id and what Raft and the metadata log call the node. Derived from nodeId, never set.
   */
  numericNodeId: number;
  dataDir: string;
  /** The node's rack, or '' for none. */
  rack: string;
  grpcPort: number;
  kafkaPort: number;
  raftPort: number;
  dataPort: number;
  metricsPort: number;
  bindAddr: string;
  advertiseAddr: string;
  bootstrap: boolean;
  joinAddr: string;
  controller: boolean;
  controllerQuorumSize: number;
  clusterHeartbeatIntervalMs: number;
  clusterSessionTimeoutMs: number;
  clusterSnapshotEntries: number;
  clusterLeaderRebalanceIntervalMs: number;
  clusterAutoRebalance: boolean;
  clusterRebalanceMaxMoves: number;
  replicationReassignmentBytesPerSec: number;
  segmentBytes: number;
  fsync: 'always' | 'interval' | 'never';
  fsyncIntervalMs: number;
  defaultPartitions: number;
  maxPartitions: number;
  maxMessageBytes: number;
  retentionMs: number;
  retentionBytes: number;
  cleanupIntervalMs: number;
  defaultReplicationFactor: number;
  replicationFetchBatchSize: number;
  replicationFetchIntervalMs: number;
  replicationLagTimeMaxMs: number;
  controlledShutdownTimeoutMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  consumerSessionTimeoutMs: number;
  consumerHeartbeatIntervalMs: number;
  offsetsPartitions: number;
  groupMaxSize: number;
  logLevel: string;
  logFormat: 'json' | 'text';
  compressionDefault: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  producerCompression: boolean;
  autoCreateTopics: boolean;
  kafkaConnectionsMaxIdleMs: number;
  kafkaRequestReceiveTimeoutMs: number;
  kafkaQueuedMaxRequestBytes: number;
  /** Where each value came from, for the start-up log line and for error messages. */
  sources: Record<string, ConfigSource>;
}

/** `option`: an option of `startBroker()`, for a broker embedded as a library. */
export type ConfigSource = 'default' | 'file' | 'env' | 'flag' | 'option';

/**
 * The config key behind each field of BrokerConfig, so that a value set directly (an option of
 * `startBroker()`) is validated by the same schema as one from a file, the environment or a flag, and
 * so that an error at start-up (a port in use) names the key. `fsync` is derived from
 * storage.sync_writes and storage.fsync and is named by the latter.
 */
export const FIELD_KEYS = {
  nodeId: 'node.id',
  dataDir: 'node.data_dir',
  rack: 'node.rack',
  grpcPort: 'network.grpc_port',
  kafkaPort: 'network.kafka_port',
  raftPort: 'network.raft_port',
  dataPort: 'network.data_port',
  metricsPort: 'network.metrics_port',
  bindAddr: 'network.bind_addr',
  advertiseAddr: 'network.advertise_addr',
  bootstrap: 'cluster.bootstrap',
  joinAddr: 'cluster.join_addr',
  controller: 'cluster.controller',
  controllerQuorumSize: 'cluster.controller_quorum_size',
  clusterHeartbeatIntervalMs: 'cluster.heartbeat_interval',
  clusterSessionTimeoutMs: 'cluster.session_timeout',
  clusterSnapshotEntries: 'cluster.snapshot_entries',
  clusterLeaderRebalanceIntervalMs: 'cluster.leader_rebalance_interval',
  clusterAutoRebalance: 'cluster.auto_rebalance',
  clusterRebalanceMaxMoves: 'cluster.rebalance_max_moves',
  replicationReassignmentBytesPerSec: 'replication.reassignment_bytes_per_sec',
  segmentBytes: 'storage.max_segment_bytes',
  fsync: 'storage.fsync',
  fsyncIntervalMs: 'storage.fsync_interval',
  defaultPartitions: 'storage.default_partitions',
  maxPartitions: 'storage.max_partitions',
  maxMessageBytes: 'storage.max_message_bytes',
  retentionMs: 'retention.default_max_age',
  retentionBytes: 'retention.default_max_bytes',
  cleanupIntervalMs: 'retention.cleanup_interval',
  defaultReplicationFactor: 'replication.default_replication_factor',
  replicationFetchBatchSize: 'replication.fetch_batch_size',
  replicationFetchIntervalMs: 'replication.fetch_interval',
  replicationLagTimeMaxMs: 'replication.lag_time_max',
  controlledShutdownTimeoutMs: 'replication.controlled_shutdown_timeout',
  sessionTimeoutMs: 'consumer_groups.session_timeout',
  heartbeatIntervalMs: 'consumer_groups.heartbeat_interval',
  rebalanceTimeoutMs: 'consumer_groups.rebalance_timeout',
  consumerSessionTimeoutMs: 'consumer_groups.consumer_session_timeout',
  consumerHeartbeatIntervalMs: 'consumer_groups.consumer_heartbeat_interval',
  offsetsPartitions: 'consumer_groups.offsets_partitions',
  groupMaxSize: 'consumer_groups.max_size',
  logLevel: 'logging.level',
  logFormat: 'logging.format',
  compressionDefault: 'compression.default',
  producerCompression: 'compression.producer_compression',
  autoCreateTopics: 'kafka.auto_create_topics',
  kafkaConnectionsMaxIdleMs: 'kafka.connections_max_idle',
  kafkaRequestReceiveTimeoutMs: 'kafka.request_receive_timeout',
  kafkaQueuedMaxRequestBytes: 'kafka.queued_max_request_bytes',
} as const satisfies Record<Exclude<keyof BrokerConfig, 'sources' | 'numericNodeId'>, string>;

export type ConfigField = keyof typeof FIELD_KEYS;

/** Where the value of `key` came from, in words for an error message: `--grpc-port`, `env`. */
export function originOf(config: Pick<BrokerConfig, 'sources'>, key: string): string {
  const spec = SCHEMA.find((s) => s.key === key);
  const source = config.sources[key] ?? 'default';
  if (source === 'flag' && spec?.flag) return `--${spec.flag}`;
  if (source === 'env') return `env ${[...(spec?.env ?? []), envName(key)].join(' or ')}`;
  if (source === 'file') return 'the config file';
  if (source === 'option') {
    const field = Object.entries(FIELD_KEYS).find(([, k]) => k === key)?.[0];
    return `startBroker option ${field ?? key}`;
  }
  return 'the default';
}

const DURATION = /^(-?\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "100ms", "30s", "5m", "168h", "7d", or a bare number of milliseconds. */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const m = DURATION.exec(value.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms'];
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

function coerce(spec: KeySpec, raw: string | number | boolean, origin: string): string | number | boolean {
  const k = spec.kind;
  switch (k.type) {
    case 'string':
      if (typeof raw === 'object') throw configError(spec.key, raw, 'must be a string', origin);
      return String(raw);
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      throw configError(spec.key, raw, 'must be true or false', origin);
    }
    case 'int': {
      const n = typeof raw === 'number' ? raw : String(raw).trim() === '' ? Number.NaN : Number(raw);
      if (!Number.isSafeInteger(n) || n < k.min || n > k.max) {
        throw configError(spec.key, raw, `must be an integer between ${k.min} and ${k.max}`, origin);
      }
      return n;
    }
    case 'duration': {
      const ms = parseDuration(raw as string | number);
      if (ms === null || ms < k.minMs || ms > k.maxMs) {
        throw configError(
          spec.key,
          raw,
          `must be a duration like 100ms, 30s, 5m or 168h, between ${k.minMs} ms and ${k.maxMs} ms`,
          origin,
        );
      }
      return ms;
    }
    case 'enum':
      if (!k.values.includes(String(raw))) {
        throw configError(
          spec.key,
          raw,
          `must be one of ${k.values.filter((v) => v !== '').join(', ')}`,
          origin,
        );
      }
      return String(raw);
  }
}

/** The schema key nearest to `key` in edits, when within a third of its length. */
function nearestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const spec of SCHEMA) {
    const d = editDistance(key, spec.key);
    if (d < bestDistance) [best, bestDistance] = [spec.key, d];
  }
  return best;
}

const require = createRequire(import.meta.url);

/** The YAML parser, loaded on first use: about 30 ms of start-up that a broker without a file skips. */
function parseYaml(text: string): unknown {
  return (require('yaml') as typeof import('yaml')).parse(text);
}

/**
 * Reads a YAML file into flat `section.key` values, refusing unknown keys and non-scalar values.
 * `origin` says where the file's name came from (`--config`, `env BROKER_CONFIG`), for the message.
 */
export function readConfigFile(file: string, origin?: string): RawValues {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    // `config` is the --config flag and BROKER_CONFIG: the key that names the file.
    throw configUnusable('config', file, `it cannot be read: ${(err as Error).message}`, origin, err);
  }
  const out: RawValues = {};
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError('config', file, `${file}: the top level must be a mapping of sections`);
  for (const [section, body] of Object.entries(doc as Record<string, unknown>)) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ConfigError(section, body, `${file}: section ${section} must be a mapping`);
    }
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      if (!SCHEMA.some((s) => s.key === key)) {
        const near = nearestKey(key);
        throw new ConfigError(
          key,
          value,
          `${file}: unknown key ${key}; ${near ? `did you mean ${near}?` : 'see config.yaml.example for the keys'}`,
        );
      }
      if (value === null) continue;
      if (!['string', 'number', 'boolean'].includes(typeof value))
        throw configError(key, value, 'must be a single value', file);
      out[key] = value as string | number | boolean;
    }
  }
  return out;
}

export const HELP = `Usage: broker [flags]
       broker stop [--data-dir DIR | --id NODE] [--config FILE] [--timeout SECONDS]

Starts a broker node. With no flags it runs a single-node broker on the defaults (gRPC 8080,
Kafka 9092, HTTP metrics/health 9090, data under ./data/<id>). While it runs, <data-dir>/broker.pid
holds its pid. \`broker stop\` stops the broker of a data directory (found as the broker finds it)
with a controlled shutdown and waits for it to exit; see broker stop --help.

Flags (each overrides the matching BROKER_* environment variable and config file key):
${SCHEMA.filter((s) => s.flag)
  .map(
    (s) =>
      `  --${s.flag!.padEnd(16)} ${s.doc} (default ${JSON.stringify(s.default)}; env ${[envName(s.key), ...(s.env ?? [])].join(', ')})`,
  )
  .join('\n')}
  --config FILE      YAML config file (see config.yaml.example)
  --help             Show this help

Every config key can also be set as BROKER_<SECTION>_<KEY>, e.g. BROKER_STORAGE_MAX_SEGMENT_BYTES.`;

export interface LoadResult {
  config: BrokerConfig;
  help: boolean;
  /** What the caller should tell the user but that does not stop the broker (unknown BROKER_* variables). */
  warnings: string[];
}

/** Flags that take a value: every schema flag, and --config. */
const VALUE_FLAGS = new Map<string, string>([
  ['config', 'config'],
  ...SCHEMA.filter((s) => s.flag).map((s) => [s.flag!, s.key] as [string, string]),
]);

/**
 * Single-dash long flags become double-dash (`-id node-1`, as the seed documents), and a flag's value
 * that starts with a dash and a digit is attached to it (`--kafka-port -1` becomes `--kafka-port=-1`),
 * so that a negative number is refused by the key's own bounds instead of parseArgs calling it an
 * ambiguous option. A value flag with no value is refused here, naming its key.
 */
function normalizeArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = /^-[a-z][a-z-]+/.test(argv[i]) ? `-${argv[i]}` : argv[i];
    const name = /^--([a-z][a-z-]*)$/.exec(arg)?.[1];
    const key = name === undefined ? undefined : VALUE_FLAGS.get(name);
    if (key === undefined) {
      out.push(arg);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else if (next === undefined || next.startsWith('-')) {
      throw new ConfigError(
        key,
        '',
        `${key}: the flag --${name} needs a value${next === undefined || next.startsWith('--') ? '' : `; to pass ${JSON.stringify(next)} as its value, write --${name}=${next}`}`,
      );
    } else out.push(arg);
  }
  return out;
}

/**
 * Environment variables that start with BROKER_ and are not the broker's. `BROKER_SERVER` is
 * broker-admin's (the server to talk to), so a shell that sets it for the admin CLI is not warned.
 */
const OTHER_ENV = new Map([
  ['BROKER_CONFIG', '--config'],
  ['BROKER_SERVER', 'broker-admin --server'],
]);

/** Restricted Damerau-Levenshtein distance: edits, with a swap of two neighbours counted as one. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/**
 * One warning per `BROKER_*` environment variable that no key reads (a typo would otherwise be
 * ignored silently, while a typo in the file is refused), naming the nearest known variable when it
 * is within a third of the length of the name after BROKER_ in edits, or ends with the name (a
 * section left out).
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = new Map<string, string>(OTHER_ENV);
  for (const spec of SCHEMA)
    for (const name of [envName(spec.key), ...(spec.env ?? [])]) known.set(name, spec.key);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('BROKER_') || known.has(name)) continue;
    const suffix = name.slice('BROKER_'.length);
    let nearest = '';
    let best = Number.POSITIVE_INFINITY;
    for (const candidate of known.keys()) {
      // BROKER_MAX_SEGMENT_BYTES for BROKER_STORAGE_MAX_SEGMENT_BYTES: the section left out.
      const d = candidate.endsWith(`_${suffix}`) ? 0 : editDistance(name, candidate);
      if (d < best) [nearest, best] = [candidate, d];
    }
    const hint =
      best <= Math.max(1, Math.floor(suffix.length / 3))
        ? `did you mean ${nearest} (${known.get(nearest)})?`
        : 'see broker --help for the BROKER_* variables';
    warnings.push(`unknown environment variable ${name} is ignored; ${hint}`);
  }
  return warnings;
}

/**
 * Merges defaults < file < env < flags. Single-dash long flags (`-id node-1`, as the seed documents)
 * are accepted too. Throws BrokerError INVALID_CONFIG for any bad value.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadResult {
  const normalized = normalizeArgv(argv);
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  };
  for (const s of SCHEMA) if (s.flag) options[s.flag] = { type: 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: normalized, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new BrokerError('INVALID_CONFIG', `${(err as Error).message}; see broker --help`);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const values: RawValues = {};
  const sources: BrokerConfig['sources'] = {};
  const configFile = (flags.config as string | undefined) ?? env.BROKER_CONFIG;
  const fileValues = configFile
    ? readConfigFile(configFile, flags.config !== undefined ? '--config' : 'env BROKER_CONFIG')
    : {};
  for (const spec of SCHEMA) {
    let raw: string | number | boolean = spec.default;
    let origin: ConfigSource = 'default';
    let originName = 'default';
    if (spec.key in fileValues) {
      raw = fileValues[spec.key];
      origin = 'file';
      originName = configFile!;
    }
    for (const name of [...(spec.env ?? []), envName(spec.key)]) {
      if (env[name] !== undefined && env[name] !== '') {
        raw = env[name]!;
        origin = 'env';
        originName = `env ${name}`;
      }
    }
    if (spec.flag && flags[spec.flag] !== undefined) {
      raw = flags[spec.flag] as string;
      origin = 'flag';
      originName = `--${spec.flag}`;
    }
    values[spec.key] = coerce(spec, raw, originName);
    sources[spec.key] = origin;
  }
  const v = values as Record<string, never>;
  const nodeId = v['node.id'] as string;
  const syncWrites = v['storage.sync_writes'] as boolean;
  const fsync = ((v['storage.fsync'] as string) ||
    (syncWrites ? 'always' : 'interval')) as BrokerConfig['fsync'];
  if (
    syncWrites &&
    (v['storage.fsync'] as string) &&
    fsync !== 'always' &&
    sources['storage.sync_writes'] !== 'default'
  ) {
    throw configError(
      'storage.fsync',
      fsync,
      'contradicts storage.sync_writes=true (which means fsync always); set one of them',
    );
  }
  const config: BrokerConfig = {
    nodeId,
    numericNodeId: numericNodeId(nodeId, originOf({ sources }, 'node.id')),
    dataDir: path.resolve((v['node.data_dir'] as string) || path.join('data', nodeId)),
    rack: v['node.rack'],
    grpcPort: v['network.grpc_port'],
    kafkaPort: v['network.kafka_port'],
    raftPort: v['network.raft_port'],
    dataPort: v['network.data_port'],
    metricsPort: v['network.metrics_port'],
    bindAddr: v['network.bind_addr'],
    advertiseAddr: (v['network.advertise_addr'] as string) || 'localhost',
    bootstrap: v['cluster.bootstrap'],
    joinAddr: v['cluster.join_addr'],
    controller: v['cluster.controller'],
    controllerQuorumSize: v['cluster.controller_quorum_size'],
    clusterHeartbeatIntervalMs: v['cluster.heartbeat_interval'],
    clusterSessionTimeoutMs: v['cluster.session_timeout'],
    clusterSnapshotEntries: v['cluster.snapshot_entries'],
    clusterLeaderRebalanceIntervalMs: v['cluster.leader_rebalance_interval'],
    clusterAutoRebalance: v['cluster.auto_rebalance'],
    clusterRebalanceMaxMoves: v['cluster.rebalance_max_moves'],
    replicationReassignmentBytesPerSec: v['replication.reassignment_bytes_per_sec'],
    segmentBytes: v['storage.max_segment_bytes'],
    fsync,
    fsyncIntervalMs: v['storage.fsync_interval'],
    defaultPartitions: v['storage.default_partitions'],
    maxPartitions: v['storage.max_partitions'],
    maxMessageBytes: v['storage.max_message_bytes'],
    retentionMs: v['retention.default_max_age'],
    retentionBytes: v['retention.default_max_bytes'],
    cleanupIntervalMs: v['retention.cleanup_interval'],
    defaultReplicationFactor: v['replication.default_replication_factor'],
    replicationFetchBatchSize: v['replication.fetch_batch_size'],
    replicationFetchIntervalMs: v['replication.fetch_interval'],
    replicationLagTimeMaxMs: v['replication.lag_time_max'],
    controlledShutdownTimeoutMs: v['replication.controlled_shutdown_timeout'],
    sessionTimeoutMs: v['consumer_groups.session_timeout'],
    heartbeatIntervalMs: v['consumer_groups.heartbeat_interval'],
    rebalanceTimeoutMs: v['consumer_groups.rebalance_timeout'],
    consumerSessionTimeoutMs: v['consumer_groups.consumer_session_timeout'],
    consumerHeartbeatIntervalMs: v['consumer_groups.consumer_heartbeat_interval'],
    offsetsPartitions: v['consumer_groups.offsets_partitions'],
    groupMaxSize: v['consumer_groups.max_size'],
    logLevel: v['logging.level'],
    logFormat: v['logging.format'],
    compressionDefault: v['compression.default'],
    producerCompression: v['compression.producer_compression'],
    autoCreateTopics: v['kafka.auto_create_topics'],
    kafkaConnectionsMaxIdleMs: v['kafka.connections_max_idle'],
    kafkaRequestReceiveTimeoutMs: v['kafka.request_receive_timeout'],
    kafkaQueuedMaxRequestBytes: v['kafka.queued_max_request_bytes'],
    sources,
  };
  validateConfig(config);
  return { config, help: Boolean(flags.help), warnings: unknownEnvWarnings(env) };
}

/**
 * Checks every field of a complete config against its key's bounds, and the relations between keys.
 * loadConfig() calls it on what it built; runBroker() calls it again, because `startBroker()` options
 * are set directly, past the schema's parsing. Throws ConfigError naming the key, the value, where it
 * came from and what is allowed.
 */
export function validateConfig(config: BrokerConfig): void {
  for (const [field, key] of Object.entries(FIELD_KEYS) as [ConfigField, string][]) {
    const spec = SCHEMA.find((s) => s.key === key);
    assert.ok(spec, `FIELD_KEYS names ${key}, which is in the schema`);
    const value: unknown = config[field];
    const bad = (allowed: string) => configError(key, value, allowed, originOf(config, key));
    const k = spec.kind;
    switch (k.type) {
      case 'string':
        if (typeof value !== 'string') throw bad('must be a string');
        break;
      case 'bool':
        if (typeof value !== 'boolean') throw bad('must be true or false');
        break;
      case 'int':
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < k.min || value > k.max)
          throw bad(`must be an integer between ${k.min} and ${k.max}`);
        break;
      case 'duration':
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < k.minMs || value > k.maxMs)
          throw bad(`must be a whole number of milliseconds between ${k.minMs} and ${k.maxMs}`);
        break;
      case 'enum':
        if (typeof value !== 'string' || value === '' || !k.values.includes(value))
          throw bad(`must be one of ${k.values.filter((x) => x !== '').join(', ')}`);
        break;
    }
  }
  const number = numericNodeId(config.nodeId, originOf(config, 'node.id'));
  // A derived field left stale (a config copied with another nodeId) is the caller's bug, not a setting.
  assert.equal(
    config.numericNodeId,
    number,
    `numericNodeId ${config.numericNodeId} is not the number node.id ${config.nodeId} ends with; ` +
      'build the config with loadConfig() or startBroker()',
  );
  if (config.dataDir === '')
    throw configError(
      'node.data_dir',
      config.dataDir,
      'must name a directory',
      originOf(config, 'node.data_dir'),
    );
  // Two listeners of this node on one port: the second would fail with EADDRINUSE, which reads as if
  // another process held it. 0 (an ephemeral port each) may repeat.
  const ports: ConfigField[] = ['grpcPort', 'kafkaPort', 'raftPort', 'dataPort', 'metricsPort'];
  for (const [i, field] of ports.entries()) {
    const other = ports.slice(0, i).find((f) => config[f] !== 0 && config[f] === config[field]);
    if (other !== undefined)
      throw configError(
        FIELD_KEYS[field],
        config[field],
        `it is ${FIELD_KEYS[other]} too; each listener needs its own port`,
        originOf(config, FIELD_KEYS[field]),
      );
  }
  if (config.heartbeatIntervalMs >= config.sessionTimeoutMs) {
    throw configError(
      'consumer_groups.heartbeat_interval',
      `${config.heartbeatIntervalMs}ms`,
      `must be shorter than consumer_groups.session_timeout (${config.sessionTimeoutMs}ms)`,
    );
  }
  if (config.consumerHeartbeatIntervalMs >= config.consumerSessionTimeoutMs) {
    throw configError(
      'consumer_groups.consumer_heartbeat_interval',
      `${config.consumerHeartbeatIntervalMs}ms`,
      `must be shorter than consumer_groups.consumer_session_timeout (${config.consumerSessionTimeoutMs}ms)`,
    );
  }
  if (config.clusterHeartbeatIntervalMs >= config.clusterSessionTimeoutMs) {
    throw configError(
      'cluster.heartbeat_interval',
      `${config.clusterHeartbeatIntervalMs}ms`,
      `must be shorter than cluster.session_timeout (${config.clusterSessionTimeoutMs}ms)`,
    );
  }
  if (!config.controller && config.joinAddr === '' && !existsSync(path.join(config.dataDir, 'raft'))) {
    throw configError(
      'cluster.controller',
      'false',
      'a node that starts a new cluster (no cluster.join_addr, an empty data directory) must be controller-eligible: it is the first voter of the metadata quorum. Give --join ADDR of a running node, or leave cluster.controller at true',
      originOf(config, 'cluster.controller'),
    );
  }
}
