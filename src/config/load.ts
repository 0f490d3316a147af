/**
 * Builds the broker's configuration from defaults, a YAML file, `BROKER_*` environment variables and
 * command-line flags, in that order of increasing precedence, and validates every value with a message
 * that names the key, the value and what is allowed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { BrokerError } from '../errors.ts';
import { envName, type KeySpec, SCHEMA } from './schema.ts';

export type RawValues = Record<string, string | number | boolean>;

export interface BrokerConfig {
  nodeId: string;
  dataDir: string;
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
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  offsetsPartitions: number;
  logLevel: string;
  logFormat: 'json' | 'text';
  compressionDefault: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  producerCompression: boolean;
  autoCreateTopics: boolean;
  kafkaConnectionsMaxIdleMs: number;
  kafkaRequestReceiveTimeoutMs: number;
  kafkaQueuedMaxRequestBytes: number;
  /** Where each value came from, for the start-up log line. */
  sources: Record<string, 'default' | 'file' | 'env' | 'flag'>;
}

export function configError(key: string, value: unknown, allowed: string, origin?: string): BrokerError {
  const where = origin ? ` (from ${origin})` : '';
  return new BrokerError('INVALID_CONFIG', `${key}=${JSON.stringify(value)}${where} is invalid: ${allowed}`);
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

/** Reads a YAML file into flat `section.key` values, refusing unknown keys and non-scalar values. */
export function readConfigFile(file: string): RawValues {
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BrokerError('INVALID_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  const out: RawValues = {};
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new BrokerError('INVALID_CONFIG', `${file}: the top level must be a mapping of sections`);
  for (const [section, body] of Object.entries(doc as Record<string, unknown>)) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new BrokerError('INVALID_CONFIG', `${file}: section ${section} must be a mapping`);
    }
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      if (!SCHEMA.some((s) => s.key === key)) {
        throw new BrokerError(
          'INVALID_CONFIG',
          `${file}: unknown key ${key}; see config.yaml.example for the keys`,
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

Starts a broker node. With no flags it runs a single-node broker on the defaults (gRPC 8080,
Kafka 9092, HTTP metrics/health 9090, data under ./data/<id>).

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
}

/**
 * Merges defaults < file < env < flags. Single-dash long flags (`-id node-1`, as the seed documents)
 * are accepted too. Throws BrokerError INVALID_CONFIG for any bad value.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadResult {
  const normalized = argv.map((a) => (/^-[a-z][a-z-]+/.test(a) ? `-${a}` : a));
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
  const fileValues = configFile ? readConfigFile(configFile) : {};
  for (const spec of SCHEMA) {
    let raw: string | number | boolean = spec.default;
    let origin: 'default' | 'file' | 'env' | 'flag' = 'default';
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
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    throw configError('node.id', nodeId, '1 to 64 characters from letters, digits, ".", "_" and "-"');
  }
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
    dataDir: path.resolve((v['node.data_dir'] as string) || path.join('data', nodeId)),
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
    sessionTimeoutMs: v['consumer_groups.session_timeout'],
    heartbeatIntervalMs: v['consumer_groups.heartbeat_interval'],
    rebalanceTimeoutMs: v['consumer_groups.rebalance_timeout'],
    offsetsPartitions: v['consumer_groups.offsets_partitions'],
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
  if (config.heartbeatIntervalMs >= config.sessionTimeoutMs) {
    throw configError(
      'consumer_groups.heartbeat_interval',
      `${config.heartbeatIntervalMs}ms`,
      `must be shorter than consumer_groups.session_timeout (${config.sessionTimeoutMs}ms)`,
    );
  }
  return { config, help: Boolean(flags.help) };
}
