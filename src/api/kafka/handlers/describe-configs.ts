/**
 * DescribeConfigs (API key 32) and the config entries CreateTopics v5+ returns, as Kafka's
 * ConfigHelper answers them: every config of the resource when the key list is null or empty (else
 * only the named ones that exist; unknown names are left out), each with its value, its source (the
 * highest-priority synonym that is set), read-only, sensitive, its type (v3+), and from v1 its
 * synonyms when asked for: the topic's own value (TOPIC_CONFIG), this broker's setting when it is not
 * Kafka's default (STATIC_BROKER_CONFIG), then the broker configs' defaults (DEFAULT_CONFIG). v0 has
 * IsDefault instead of the source.
 *
 * Broker resources (type 4) answer for this node's id with Kafka's broker config names: the broker
 * synonyms of every topic config and the broker settings that clients and tools read; an empty name
 * asks for cluster-wide dynamic defaults, of which this broker has none.
 */

import { validateTopicName } from '../../../broker/metadata.ts';
import {
  type BrokerSynonym,
  brokerTopicDefaults,
  type ConfigType,
  TOPIC_CONFIG_KEYS,
  TOPIC_CONFIGS,
  type TopicConfigDef,
  type TopicConfigs,
  type TopicDefaults,
  topicDefaultsFor,
} from '../../../broker/topic-config.ts';
import type { DescribeConfigsRequest } from '../../../protocol/kafka/apis/describe-configs.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { requestFrameBytesMax } from '../limits.ts';
import type { HandlerDeps } from './shared.ts';

/** Kafka's DescribeConfigsResponse ConfigSource values. */
export const CONFIG_SOURCE = {
  UNKNOWN: 0,
  TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;

/** Kafka's DescribeConfigsResponse ConfigType values. */
const CONFIG_TYPE: Record<ConfigType, number> = {
  boolean: 1,
  string: 2,
  int: 3,
  short: 4,
  long: 5,
  double: 6,
  list: 7,
  class: 8,
  password: 9,
};

const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  configSource: number;
  isSensitive: boolean;
  synonyms: { name: string; value: string | null; source: number }[];
  configType: number;
  documentation: string | null;
}

/**
 * The broker synonyms of a topic config with this broker's value first when it differs from Kafka's
 * default (set on the broker: STATIC_BROKER_CONFIG, under the first synonym, whose unit is the
 * config's own), then every synonym's Kafka default.
 */
function brokerSynonymsOf(
  key: (typeof TOPIC_CONFIG_KEYS)[number],
  brokerValue: string,
): ConfigEntry['synonyms'] {
  const d = TOPIC_CONFIGS[key];
  const out: ConfigEntry['synonyms'] = [];
  const synonyms: readonly BrokerSynonym[] = d.synonyms;
  if (brokerValue !== d.kafkaDefault && synonyms.length > 0)
    out.push({ name: synonyms[0].name, value: brokerValue, source: CONFIG_SOURCE.STATIC_BROKER_CONFIG });
  for (const s of synonyms)
    if (s.kafkaDefault !== null)
      out.push({ name: s.name, value: s.kafkaDefault, source: CONFIG_SOURCE.DEFAULT_CONFIG });
  return out;
}

function entry(
  name: string,
  value: string | null,
  type: ConfigType,
  synonyms: ConfigEntry['synonyms'],
  readOnly: boolean,
): ConfigEntry {
  const configSource = synonyms[0]?.source ?? CONFIG_SOURCE.DEFAULT_CONFIG;
  return {
    name,
    value,
    readOnly,
    isDefault: configSource === CONFIG_SOURCE.DEFAULT_CONFIG,
    configSource,
    isSensitive: false,
    synonyms,
    configType: CONFIG_TYPE[type],
    documentation: null,
  };
}

/**
 * Every topic config of a topic of `replicationFactor` replicas with `configs` set on it, as
 * DescribeConfigs and CreateTopics show them. A default that this broker derives from the topic
 * (min.insync.replicas by replication factor) is reported as the default it applies.
 */
export function topicConfigEntries(
  configs: TopicConfigs,
  defaults: TopicDefaults,
  replicationFactor: number,
): ConfigEntry[] {
  const broker = brokerTopicDefaults(defaults);
  const applied = topicDefaultsFor(defaults, replicationFactor);
  return TOPIC_CONFIG_KEYS.map((key) => {
    const own = configs[key];
    const derived = TOPIC_CONFIGS[key].synonyms[0];
    const synonyms: ConfigEntry['synonyms'] =
      applied[key] === broker[key] || derived === undefined
        ? brokerSynonymsOf(key, broker[key])
        : [{ name: derived.name, value: applied[key], source: CONFIG_SOURCE.DEFAULT_CONFIG }];
    if (own !== undefined) synonyms.unshift({ name: key, value: own, source: CONFIG_SOURCE.TOPIC_CONFIG });
    // Topic configs are not read-only: AlterConfigs and IncrementalAlterConfigs (and gRPC) change them.
    return {
      ...entry(key, own ?? applied[key], TOPIC_CONFIGS[key].type, synonyms, false),
      documentation: supportNote(key),
    };
  });
}

/** What this broker does with a topic config: the documentation DescribeConfigs v3+ returns. */
function supportNote(key: (typeof TOPIC_CONFIG_KEYS)[number]): string {
  const d: TopicConfigDef = TOPIC_CONFIGS[key];
  switch (d.support) {
    case 'honoured':
      return `Kafka's ${key}, honoured by this broker.`;
    case 'stored':
      return `Kafka's ${key}, accepted and stored; it has no effect on this broker.`;
    default:
      return `Kafka's ${key}; only its default (${d.kafkaDefault}) is accepted: ${d.refusal}.`;
  }
}

interface BrokerConfigDef {
  type: ConfigType;
  kafkaDefault: string | null;
}

/** Broker settings beyond the topic configs' synonyms, with Kafka's types and defaults (KafkaConfig). */
const BROKER_CONFIGS: Record<string, BrokerConfigDef> = {
  'advertised.listeners': { type: 'string', kafkaDefault: null },
  'auto.create.topics.enable': { type: 'boolean', kafkaDefault: 'true' },
  'broker.id': { type: 'int', kafkaDefault: '-1' },
  'default.replication.factor': { type: 'int', kafkaDefault: '1' },
  'delete.topic.enable': { type: 'boolean', kafkaDefault: 'true' },
  'group.initial.rebalance.delay.ms': { type: 'int', kafkaDefault: '3000' },
  'group.max.session.timeout.ms': { type: 'int', kafkaDefault: '1800000' },
  'group.max.size': { type: 'int', kafkaDefault: '2147483647' },
  'group.min.session.timeout.ms': { type: 'int', kafkaDefault: '6000' },
  listeners: { type: 'string', kafkaDefault: 'PLAINTEXT://:9092' },
  'log.dirs': { type: 'string', kafkaDefault: null },
  'log.retention.check.interval.ms': { type: 'long', kafkaDefault: '300000' },
  'node.id': { type: 'int', kafkaDefault: '-1' },
  'num.partitions': { type: 'int', kafkaDefault: '1' },
  'offsets.topic.num.partitions': { type: 'int', kafkaDefault: '50' },
  'offsets.topic.replication.factor': { type: 'short', kafkaDefault: '3' },
  'producer.id.expiration.ms': { type: 'int', kafkaDefault: '86400000' },
  'replica.lag.time.max.ms': { type: 'long', kafkaDefault: '30000' },
  'socket.request.max.bytes': { type: 'int', kafkaDefault: '104857600' },
};

/**
 * Every broker config of this node: `settings` are the broker's own values by Kafka name (static
 * broker configs); topic configs' synonyms take this broker's topic defaults. A setting equal to
 * Kafka's default is reported as the default.
 */
export function brokerConfigEntries(
  settings: Record<string, string>,
  defaults: TopicDefaults,
): ConfigEntry[] {
  const out = new Map<string, ConfigEntry>();
  const broker = brokerTopicDefaults(defaults);
  for (const key of TOPIC_CONFIG_KEYS) {
    const d = TOPIC_CONFIGS[key];
    const group: readonly BrokerSynonym[] = d.synonyms;
    const ours = broker[key];
    // Each broker name's synonyms are its whole group (Kafka's brokerConfigSynonyms); as in Kafka,
    // each name shows its own value: this broker's under the first name, defaults under the others.
    const synonyms = brokerSynonymsOf(key, ours);
    for (const s of group) {
      const value = ours !== d.kafkaDefault && s === group[0] ? ours : s.kafkaDefault;
      out.set(s.name, entry(s.name, value, d.type, synonyms, true));
    }
  }
  for (const [name, def] of Object.entries(BROKER_CONFIGS)) {
    const set = settings[name];
    const synonyms: ConfigEntry['synonyms'] = [];
    if (set !== undefined && set !== def.kafkaDefault)
      synonyms.push({ name, value: set, source: CONFIG_SOURCE.STATIC_BROKER_CONFIG });
    if (def.kafkaDefault !== null)
      synonyms.push({ name, value: def.kafkaDefault, source: CONFIG_SOURCE.DEFAULT_CONFIG });
    out.set(name, entry(name, set ?? def.kafkaDefault, def.type, synonyms, true));
  }
  for (const [name, value] of Object.entries(settings)) {
    if (!out.has(name))
      out.set(
        name,
        entry(name, value, 'string', [{ name, value, source: CONFIG_SOURCE.STATIC_BROKER_CONFIG }], true),
      );
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface DescribeConfigsDeps {
  /**
   * A topic's own configs and its replication factor, or null when it does not exist (or its name is
   * invalid: throws).
   */
  topic(name: string): { configs: TopicConfigs; replicationFactor: number } | null;
  defaults: TopicDefaults;
  /** This node's Kafka broker id. */
  nodeId: number;
  /** This node's broker settings by Kafka name. */
  brokerSettings(): Record<string, string>;
}

export function describeConfigs(
  deps: DescribeConfigsDeps,
  req: DescribeConfigsRequest,
  version: number,
): Message {
  const results = req.resources.map((r) => {
    const base = { resourceType: r.resourceType, resourceName: r.resourceName };
    const fail = (code: Parameters<typeof errorCode>[0], errorMessage: string) => ({
      ...base,
      errorCode: errorCode(code),
      errorMessage,
      configs: [],
    });
    const keys = r.configurationKeys;
    const shape = (all: ConfigEntry[]) =>
      (keys === null || keys.length === 0 ? all : all.filter((c) => keys.includes(c.name))).map((c) => ({
        ...c,
        synonyms: version >= 1 && req.includeSynonyms ? c.synonyms : [],
        documentation: version >= 3 && req.includeDocumentation ? c.documentation : null,
      }));
    try {
      if (r.resourceType === RESOURCE_TOPIC) {
        const topic = deps.topic(r.resourceName);
        if (topic === null)
          return fail('UNKNOWN_TOPIC_OR_PARTITION', `topic ${r.resourceName} does not exist`);
        return {
          ...base,
          errorCode: 0,
          errorMessage: null,
          configs: shape(topicConfigEntries(topic.configs, deps.defaults, topic.replicationFactor)),
        };
      }
      if (r.resourceType === RESOURCE_BROKER) {
        // An empty name is the cluster-wide dynamic defaults: none are set on this broker.
        if (r.resourceName === '') return { ...base, errorCode: 0, errorMessage: null, configs: [] };
        if (!/^\d+$/.test(r.resourceName) || Number(r.resourceName) !== deps.nodeId)
          return fail(
            'INVALID_REQUEST',
            `Unexpected broker id, expected ${deps.nodeId} or empty string, but received ${r.resourceName}`,
          );
        return {
          ...base,
          errorCode: 0,
          errorMessage: null,
          configs: shape(brokerConfigEntries(deps.brokerSettings(), deps.defaults)),
        };
      }
      return fail('INVALID_REQUEST', `resource type ${r.resourceType} is not supported by this broker`);
    } catch (err) {
      return { ...base, errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message, configs: [] };
    }
  });
  return { throttleTimeMs: 0, results };
}

/** The DescribeConfigs handler: the pure answer above, for this broker's topics and settings. */
export function handleDescribeConfigs(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: DescribeConfigsRequest,
): Message {
  const core = deps.core;
  return describeConfigs(
    {
      topic: (name) => {
        validateTopicName(name);
        return core.metadata.getTopic(name) ?? null;
      },
      defaults: core.defaults,
      nodeId: deps.kafkaNodeId,
      brokerSettings: () => brokerSettings(deps),
    },
    req,
    ctx.apiVersion,
  );
}

/** This node's broker settings by Kafka's names (DescribeConfigs for the broker resource). */
function brokerSettings(deps: HandlerDeps): Record<string, string> {
  const { host, port } = deps.advertised();
  return {
    'broker.id': String(deps.kafkaNodeId),
    'node.id': String(deps.kafkaNodeId),
    listeners: `PLAINTEXT://:${port}`,
    'advertised.listeners': `PLAINTEXT://${host}:${port}`,
    'default.replication.factor': '1',
    'offsets.topic.replication.factor': '1',
    'group.initial.rebalance.delay.ms': '0',
    'socket.request.max.bytes': String(requestFrameBytesMax),
    ...deps.brokerConfigs,
  };
}
