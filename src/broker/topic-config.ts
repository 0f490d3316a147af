/**
 * Per-topic configs, by Kafka's names, and their translation into a partition log's settings. Values
 * are strings on the wire (as in Kafka's CreateTopics and DescribeConfigs); each is parsed and checked
 * here with a message naming the key, the value and what is allowed.
 */
import { BrokerError } from '../errors.ts';
import { COMPRESSION_NAMES } from '../records/compression.ts';
import { type LogConfig, resolveLogConfig } from '../storage/log-config.ts';

export const TOPIC_CONFIG_KEYS = [
  'retention.ms',
  'retention.bytes',
  'cleanup.policy',
  'delete.retention.ms',
  'segment.bytes',
  'segment.ms',
  'compression.type',
  'min.insync.replicas',
  'max.message.bytes',
] as const;
export type TopicConfigKey = (typeof TOPIC_CONFIG_KEYS)[number];
export type TopicConfigs = Partial<Record<TopicConfigKey, string>>;

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

function integer(key: string, value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min)
    throw invalid(key, value, `must be an integer >= ${min}`);
  return n;
}

const compressionTypes = ['producer', 'uncompressed', ...COMPRESSION_NAMES];

/** Checks every key and value; unknown keys are refused so that typos do not pass silently. */
export function validateTopicConfigs(configs: Record<string, string>): TopicConfigs {
  const out: TopicConfigs = {};
  for (const [key, value] of Object.entries(configs)) {
    if (!(TOPIC_CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new BrokerError(
        'INVALID_CONFIG',
        `unknown topic config ${JSON.stringify(key)}; known: ${TOPIC_CONFIG_KEYS.join(', ')}`,
      );
    }
    if (typeof value !== 'string') throw invalid(key, String(value), 'must be a string');
    const k = key as TopicConfigKey;
    switch (k) {
      case 'cleanup.policy': {
        const parts = value.split(',').map((p) => p.trim());
        if (parts.length === 0 || parts.some((p) => p !== 'delete' && p !== 'compact')) {
          throw invalid(key, value, "must be 'delete', 'compact' or 'delete,compact'");
        }
        break;
      }
      case 'compression.type':
        if (!compressionTypes.includes(value))
          throw invalid(key, value, `must be one of ${compressionTypes.join(', ')}`);
        break;
      case 'retention.ms':
      case 'retention.bytes':
        integer(key, value, -1);
        break;
      case 'min.insync.replicas':
        integer(key, value, 1);
        break;
      default:
        integer(key, value, 0);
    }
    out[k] = value;
  }
  // Check the combination through the log's own validation, which knows the bounds.
  logConfigFor(out, { log: {}, compressionType: 'producer', minInsyncReplicas: 1 });
  return out;
}

export function logConfigFor(configs: TopicConfigs, defaults: TopicDefaults): LogConfig {
  const c: Partial<LogConfig> = { ...defaults.log };
  if (configs['retention.ms'] !== undefined) c.retentionMs = Number(configs['retention.ms']);
  if (configs['retention.bytes'] !== undefined) c.retentionBytes = Number(configs['retention.bytes']);
  if (configs['delete.retention.ms'] !== undefined)
    c.deleteRetentionMs = Number(configs['delete.retention.ms']);
  if (configs['segment.bytes'] !== undefined) c.segmentBytes = Number(configs['segment.bytes']);
  if (configs['segment.ms'] !== undefined) c.segmentMs = Number(configs['segment.ms']);
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

/** Every config with its effective value and whether it was set on the topic (for describe). */
export function effectiveConfigs(
  configs: TopicConfigs,
  defaults: TopicDefaults,
): Record<TopicConfigKey, { value: string; isDefault: boolean }> {
  const log = logConfigFor({}, defaults);
  const defaultsByKey: Record<TopicConfigKey, string> = {
    'retention.ms': String(log.retentionMs),
    'retention.bytes': String(log.retentionBytes),
    'cleanup.policy': [log.cleanupPolicy.delete && 'delete', log.cleanupPolicy.compact && 'compact']
      .filter(Boolean)
      .join(','),
    'delete.retention.ms': String(log.deleteRetentionMs),
    'segment.bytes': String(log.segmentBytes),
    'segment.ms': String(log.segmentMs),
    'compression.type': defaults.compressionType,
    'min.insync.replicas': String(defaults.minInsyncReplicas),
    'max.message.bytes': String(log.maxMessageBytes),
  };
  const out = {} as Record<TopicConfigKey, { value: string; isDefault: boolean }>;
  for (const key of TOPIC_CONFIG_KEYS) {
    const set = configs[key];
    out[key] =
      set === undefined ? { value: defaultsByKey[key], isDefault: true } : { value: set, isDefault: false };
  }
  return out;
}
