/**
 * Per-topic configs, by Kafka's names, and their translation into a partition log's settings. Values
 * are strings on the wire (as in Kafka's CreateTopics and DescribeConfigs); each is parsed and checked
 * here with a message naming the key, the value and what is allowed.
 *
 * Every topic config Kafka defines (apache/kafka TopicConfig.java and the LogConfig definitions) is
 * known, with Kafka's type, default and broker-level synonyms (ServerTopicConfigSynonyms). Each has one
 * of three kinds of support here:
 * - `honoured`: the log applies it (retention, segments, cleanup, compression, sizes, the CreateTime
 *   window of message.timestamp.before/after/difference.max.ms).
 * - `stored`: accepted, validated as Kafka validates it and kept, with no effect here, because ignoring
 *   it breaks nothing a client relies on (flush hints, index sizes, compression levels, throttled
 *   replica lists, tiered-storage settings while tiered storage is off, ...).
 * - `defaultOnly`: honouring it matters and this broker does not, so only a value with the default's
 *   meaning is accepted; any other is refused with INVALID_CONFIG naming the key and the reason.
 * Unknown keys are refused so that typos do not pass silently.
 */
import { BrokerError } from '../errors.ts';
import { COMPRESSION_NAMES } from '../records/compression.ts';
import { type LogConfig, resolveLogConfig } from '../storage/log-config.ts';

/** Kafka's ConfigDef types (DescribeConfigsResponse config_type: their index + 1, see configTypeId). */
export type ConfigType =
  | 'boolean'
  | 'string'
  | 'int'
  | 'short'
  | 'long'
  | 'double'
  | 'list'
  | 'class'
  | 'password';

export interface BrokerSynonym {
  name: string;
  /** Kafka's broker default, or null when the broker config has none (another synonym supplies it). */
  kafkaDefault: string | null;
  /** The synonym's unit when it is not the topic config's (Kafka converts hours and minutes to ms). */
  unit?: 'hours' | 'minutes';
}

export interface TopicConfigDef {
  type: ConfigType;
  /** Kafka's default, written as Kafka writes it (ConfigDef.convertToString). */
  kafkaDefault: string;
  support: 'honoured' | 'stored' | 'defaultOnly';
  /** Why a non-default value is refused (for `defaultOnly`). */
  refusal?: string;
  /** Broker configs that give this config its default, highest priority first. */
  synonyms: BrokerSynonym[];
  /** Returns what is allowed when `value` is not, else null. */
  check: (value: string) => string | null;
}

const LONG_MAX = '9223372036854775807';
const INT_MAX = 2147483647;

function integerCheck(min: bigint, max: bigint): (v: string) => string | null {
  return (v) => {
    const allowed = `must be an integer between ${min} and ${max}`;
    if (!/^\s*[-+]?\d+\s*$/.test(v)) return allowed;
    const n = BigInt(v.trim());
    return n < min || n > max ? allowed : null;
  };
}
const long = (min: number) => integerCheck(BigInt(min), BigInt(LONG_MAX));
const int = (min: number, max = INT_MAX) => integerCheck(BigInt(min), BigInt(max));
const bool = (v: string) => (/^\s*(true|false)\s*$/i.test(v) ? null : "must be 'true' or 'false'");
const oneOf =
  (...values: string[]) =>
  (v: string) =>
    values.includes(v.trim()) ? null : `must be one of ${values.join(', ')}`;
/** Kafka's ThrottledReplicaListValidator: `*`, or `partition:broker` pairs separated by commas. */
const throttledReplicas = (v: string) =>
  v.trim() === '*' || v.trim() === '' || v.split(',').every((p) => /^\s*\d+:\d+\s*$/.test(p))
    ? null
    : "must be '*' or a list of partition:broker pairs";

const compressionTypes = ['producer', 'uncompressed', ...COMPRESSION_NAMES];

function def(
  type: ConfigType,
  kafkaDefault: string,
  support: TopicConfigDef['support'],
  check: TopicConfigDef['check'],
  synonyms: BrokerSynonym[],
  refusal?: string,
): TopicConfigDef {
  return { type, kafkaDefault, support, check, synonyms, refusal };
}
const syn = (name: string, kafkaDefault: string | null, unit?: BrokerSynonym['unit']): BrokerSynonym =>
  unit ? { name, kafkaDefault, unit } : { name, kafkaDefault };

/** Kafka's topic configs, by name, in alphabetical order (as kafka-configs.sh lists them). */
export const TOPIC_CONFIGS = {
  'cleanup.policy': def(
    'list',
    'delete',
    'honoured',
    (v) => {
      const parts = v.split(',').map((p) => p.trim());
      return parts.length > 0 && parts.every((p) => p === 'delete' || p === 'compact')
        ? null
        : "must be 'delete', 'compact' or 'delete,compact'";
    },
    [syn('log.cleanup.policy', 'delete')],
  ),
  'compression.gzip.level': def(
    'int',
    '-1',
    'stored',
    (v) => (int(-1, 9)(v) === null && v.trim() !== '0' ? null : 'must be -1 or an integer between 1 and 9'),
    [syn('compression.gzip.level', '-1')],
  ),
  'compression.lz4.level': def('int', '9', 'stored', int(1, 17), [syn('compression.lz4.level', '9')]),
  'compression.type': def('string', 'producer', 'honoured', oneOf(...compressionTypes), [
    syn('compression.type', 'producer'),
  ]),
  'compression.zstd.level': def('int', '3', 'stored', int(-131072, 22), [syn('compression.zstd.level', '3')]),
  'delete.retention.ms': def('long', '86400000', 'honoured', long(0), [
    syn('log.cleaner.delete.retention.ms', '86400000'),
  ]),
  'file.delete.delay.ms': def('long', '60000', 'stored', long(0), [
    syn('log.segment.delete.delay.ms', '60000'),
  ]),
  'flush.messages': def('long', LONG_MAX, 'stored', long(1), [syn('log.flush.interval.messages', LONG_MAX)]),
  'flush.ms': def('long', LONG_MAX, 'stored', long(0), [
    syn('log.flush.interval.ms', null),
    syn('log.flush.scheduler.interval.ms', LONG_MAX),
  ]),
  'follower.replication.throttled.replicas': def('list', '', 'stored', throttledReplicas, []),
  'index.interval.bytes': def('int', '4096', 'honoured', int(0), [syn('log.index.interval.bytes', '4096')]),
  'leader.replication.throttled.replicas': def('list', '', 'stored', throttledReplicas, []),
  'local.retention.bytes': def('long', '-2', 'stored', long(-2), [syn('log.local.retention.bytes', '-2')]),
  'local.retention.ms': def('long', '-2', 'stored', long(-2), [syn('log.local.retention.ms', '-2')]),
  'max.compaction.lag.ms': def(
    'long',
    LONG_MAX,
    'defaultOnly',
    long(1),
    [syn('log.cleaner.max.compaction.lag.ms', LONG_MAX)],
    'the cleaner does not bound how long a record waits for compaction',
  ),
  'max.message.bytes': def('int', '1048588', 'honoured', int(0), [syn('message.max.bytes', '1048588')]),
  'message.downconversion.enable': def('boolean', 'true', 'stored', bool, [
    syn('log.message.downconversion.enable', 'true'),
  ]),
  'message.format.version': def(
    'string',
    '3.0-IV1',
    'stored',
    (v) => (/^\s*\d+\.\d+(\.\d+)?(-IV\d+)?\s*$/.test(v) ? null : "must be a Kafka version such as '3.0-IV1'"),
    [syn('log.message.format.version', '3.0-IV1')],
  ),
  'message.timestamp.after.max.ms': def('long', LONG_MAX, 'honoured', long(0), [
    syn('log.message.timestamp.after.max.ms', LONG_MAX),
  ]),
  'message.timestamp.before.max.ms': def('long', LONG_MAX, 'honoured', long(0), [
    syn('log.message.timestamp.before.max.ms', LONG_MAX),
  ]),
  'message.timestamp.difference.max.ms': def('long', LONG_MAX, 'honoured', long(0), [
    syn('log.message.timestamp.difference.max.ms', LONG_MAX),
  ]),
  'message.timestamp.type': def(
    'string',
    'CreateTime',
    'defaultOnly',
    oneOf('CreateTime', 'LogAppendTime'),
    [syn('log.message.timestamp.type', 'CreateTime')],
    'the broker keeps the producer timestamps (CreateTime); LogAppendTime is not supported',
  ),
  'min.cleanable.dirty.ratio': def(
    'double',
    '0.5',
    'stored',
    (v) => {
      const n = Number(v);
      return v.trim() !== '' && Number.isFinite(n) && n >= 0 && n <= 1
        ? null
        : 'must be a number between 0 and 1';
    },
    [syn('log.cleaner.min.cleanable.ratio', '0.5')],
  ),
  'min.compaction.lag.ms': def(
    'long',
    '0',
    'defaultOnly',
    long(0),
    [syn('log.cleaner.min.compaction.lag.ms', '0')],
    'the cleaner may compact a record as soon as its segment is closed',
  ),
  'min.insync.replicas': def('int', '1', 'honoured', int(1), [syn('min.insync.replicas', '1')]),
  preallocate: def('boolean', 'false', 'stored', bool, [syn('log.preallocate', 'false')]),
  'remote.log.copy.disable': def('boolean', 'false', 'stored', bool, []),
  'remote.log.delete.on.disable': def('boolean', 'false', 'stored', bool, []),
  'remote.storage.enable': def(
    'boolean',
    'false',
    'defaultOnly',
    bool,
    [],
    'this broker has no tiered (remote) storage',
  ),
  'retention.bytes': def('long', '-1', 'honoured', long(-1), [syn('log.retention.bytes', '-1')]),
  'retention.ms': def('long', '604800000', 'honoured', long(-1), [
    syn('log.retention.ms', null),
    syn('log.retention.minutes', null, 'minutes'),
    syn('log.retention.hours', '168', 'hours'),
  ]),
  'segment.bytes': def('int', '1073741824', 'honoured', int(14), [syn('log.segment.bytes', '1073741824')]),
  'segment.index.bytes': def('int', '10485760', 'stored', int(4), [
    syn('log.index.size.max.bytes', '10485760'),
  ]),
  'segment.jitter.ms': def('long', '0', 'stored', long(0), [
    syn('log.roll.jitter.ms', null),
    syn('log.roll.jitter.hours', '0', 'hours'),
  ]),
  'segment.ms': def('long', '604800000', 'honoured', long(1), [
    syn('log.roll.ms', null),
    syn('log.roll.hours', '168', 'hours'),
  ]),
  'unclean.leader.election.enable': def('boolean', 'false', 'honoured', bool, [
    syn('unclean.leader.election.enable', 'false'),
  ]),
} as const satisfies Record<string, TopicConfigDef>;

export type TopicConfigKey = keyof typeof TOPIC_CONFIGS;
export const TOPIC_CONFIG_KEYS = Object.keys(TOPIC_CONFIGS) as TopicConfigKey[];
export type TopicConfigs = Partial<Record<TopicConfigKey, string>>;

export function isTopicConfigKey(key: string): key is TopicConfigKey {
  return Object.hasOwn(TOPIC_CONFIGS, key);
}

/** Broker-wide defaults that per-topic configs override. */
export interface TopicDefaults {
  log: Partial<LogConfig>;
  /** 'producer' keeps what producers send; a codec name makes the broker recompress. */
  compressionType: string;
  /**
   * The codec for batches the broker encodes itself (gRPC records, internal topics) when the topic's
   * compression.type is 'producer' (the seed's compression.default). @default 'none'
   */
  encodeCodec?: (typeof COMPRESSION_NAMES)[number];
  minInsyncReplicas: number;
}

function invalid(key: string, value: string, allowed: string): BrokerError {
  return new BrokerError(
    'INVALID_CONFIG',
    `topic config ${key}=${JSON.stringify(value)} is invalid: ${allowed}`,
  );
}

/** Whether a value means the same as Kafka's default (numbers compared as numbers, booleans by case). */
function meansDefault(d: TopicConfigDef, value: string): boolean {
  const v = value.trim();
  if (d.type === 'long' || d.type === 'int') return BigInt(v) === BigInt(d.kafkaDefault);
  if (d.type === 'boolean') return v.toLowerCase() === d.kafkaDefault;
  return v === d.kafkaDefault;
}

/** Refuses a name that is not a topic config, with INVALID_CONFIG listing the known ones. */
export function checkTopicConfigName(key: string): TopicConfigKey {
  if (!isTopicConfigKey(key)) {
    throw new BrokerError(
      'INVALID_CONFIG',
      `unknown topic config ${JSON.stringify(key)}; known: ${TOPIC_CONFIG_KEYS.join(', ')}`,
    );
  }
  return key;
}

/** Checks every key and value (see the module comment for which are refused and why). */
export function validateTopicConfigs(configs: Record<string, string>): TopicConfigs {
  const out: TopicConfigs = {};
  for (const [name, value] of Object.entries(configs)) {
    const key = checkTopicConfigName(name);
    if (typeof value !== 'string') throw invalid(key, String(value), 'must be a string');
    const d: TopicConfigDef = TOPIC_CONFIGS[key];
    const problem = d.check(value);
    if (problem) throw invalid(key, value, problem);
    if (d.support === 'defaultOnly' && !meansDefault(d, value))
      throw invalid(key, value, `only ${d.kafkaDefault} is supported: ${d.refusal}`);
    out[key] = value;
  }
  // Check the combination through the log's own validation, which knows the bounds.
  logConfigFor(out, { log: {}, compressionType: 'producer', minInsyncReplicas: 1 });
  return out;
}

/** A Kafka long as a number; values past the safe range (Long.MAX_VALUE: "forever") become the largest. */
function longValue(v: string): number {
  const n = BigInt(v.trim());
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

export function logConfigFor(configs: TopicConfigs, defaults: TopicDefaults): LogConfig {
  const c: Partial<LogConfig> = { ...defaults.log };
  if (configs['retention.ms'] !== undefined) c.retentionMs = longValue(configs['retention.ms']);
  if (configs['retention.bytes'] !== undefined) c.retentionBytes = longValue(configs['retention.bytes']);
  if (configs['delete.retention.ms'] !== undefined)
    c.deleteRetentionMs = longValue(configs['delete.retention.ms']);
  if (configs['segment.bytes'] !== undefined) c.segmentBytes = Number(configs['segment.bytes']);
  if (configs['segment.ms'] !== undefined) c.segmentMs = longValue(configs['segment.ms']);
  if (configs['index.interval.bytes'] !== undefined)
    c.indexIntervalBytes = Number(configs['index.interval.bytes']);
  if (configs['max.message.bytes'] !== undefined) c.maxMessageBytes = Number(configs['max.message.bytes']);
  if (configs['cleanup.policy'] !== undefined) {
    const parts = configs['cleanup.policy'].split(',').map((p) => p.trim());
    c.cleanupPolicy = { delete: parts.includes('delete'), compact: parts.includes('compact') };
  }
  try {
    return resolveLogConfig(c);
  } catch (err) {
    throw new BrokerError('INVALID_CONFIG', `topic configs: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The CreateTime window of a topic, or null when it has none: message.timestamp.before.max.ms and
 * after.max.ms, each falling back to the older difference.max.ms when left at Long.MAX_VALUE, as
 * Kafka's LogConfig does. Values past the safe range mean no bound.
 */
export function timestampBounds(configs: TopicConfigs): { beforeMs: number; afterMs: number } | null {
  const bound = (v: string | undefined) =>
    v === undefined || BigInt(v.trim()) >= BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v.trim());
  const difference = bound(configs['message.timestamp.difference.max.ms']);
  const before = bound(configs['message.timestamp.before.max.ms']) ?? difference;
  const after = bound(configs['message.timestamp.after.max.ms']) ?? difference;
  if (before === null && after === null) return null;
  return { beforeMs: before ?? Number.POSITIVE_INFINITY, afterMs: after ?? Number.POSITIVE_INFINITY };
}

/**
 * This broker's default for every topic config: its own settings for the honoured ones (from its
 * config file, flags or built-in defaults), Kafka's default for the rest.
 */
export function brokerTopicDefaults(defaults: TopicDefaults): Record<TopicConfigKey, string> {
  const log = logConfigFor({}, defaults);
  const out = {} as Record<TopicConfigKey, string>;
  for (const key of TOPIC_CONFIG_KEYS) out[key] = TOPIC_CONFIGS[key].kafkaDefault;
  out['retention.ms'] = String(log.retentionMs);
  out['retention.bytes'] = String(log.retentionBytes);
  out['cleanup.policy'] = [log.cleanupPolicy.delete && 'delete', log.cleanupPolicy.compact && 'compact']
    .filter(Boolean)
    .join(',');
  out['delete.retention.ms'] = String(log.deleteRetentionMs);
  out['segment.bytes'] = String(log.segmentBytes);
  out['segment.ms'] = String(log.segmentMs);
  out['index.interval.bytes'] = String(log.indexIntervalBytes);
  out['compression.type'] = defaults.compressionType;
  out['min.insync.replicas'] = String(defaults.minInsyncReplicas);
  out['max.message.bytes'] = String(log.maxMessageBytes);
  return out;
}

/**
 * The min.insync.replicas a topic applies: its own setting, else 2 when its replication factor is 3
 * or more and 1 below it (docs/replication.md: Kafka's default is 1 everywhere; 2 is what its
 * documentation recommends at RF 3). The one rule the replica manager applies and describe reports.
 */
export function minInsyncReplicasFor(setting: string | undefined, replicationFactor: number): number {
  if (setting !== undefined) return Number(setting.trim());
  return replicationFactor >= 3 ? 2 : 1;
}

/**
 * The default of every config of a topic of `replicationFactor` replicas that sets none: the broker's
 * (`brokerTopicDefaults`), but min.insync.replicas by the replication factor (`minInsyncReplicasFor`).
 */
export function topicDefaultsFor(
  defaults: TopicDefaults,
  replicationFactor: number,
): Record<TopicConfigKey, string> {
  const out = brokerTopicDefaults(defaults);
  out['min.insync.replicas'] = String(minInsyncReplicasFor(undefined, replicationFactor));
  return out;
}

/** Every config with its effective value and whether it was set on the topic (for describe). */
export function effectiveConfigs(
  configs: TopicConfigs,
  defaults: TopicDefaults,
  replicationFactor: number,
): Record<TopicConfigKey, { value: string; isDefault: boolean }> {
  const broker = topicDefaultsFor(defaults, replicationFactor);
  const out = {} as Record<TopicConfigKey, { value: string; isDefault: boolean }>;
  for (const key of TOPIC_CONFIG_KEYS) {
    const set = configs[key];
    out[key] = set === undefined ? { value: broker[key], isDefault: true } : { value: set, isDefault: false };
  }
  return out;
}
