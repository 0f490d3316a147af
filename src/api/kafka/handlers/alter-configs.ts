/**
 * AlterConfigs (API key 33), and what IncrementalAlterConfigs (44) shares with it: the grammar is in
 * ../apis/alter-configs.ts. Topic configs change through the core's `alterTopicConfigs`, which
 * validates the resulting set as CreateTopics does (unknown names and bad values are INVALID_CONFIG
 * naming the key). AlterConfigs replaces a topic's own configs with those given, as Kafka's legacy
 * API does. This broker has no dynamic broker configs: a broker resource (type 4, this node's id or
 * the empty cluster default) that names any key is refused with INVALID_CONFIG naming the keys, and
 * one naming none succeeds. Each resource is answered on its own; a resource named twice in one
 * request gets INVALID_REQUEST, as Kafka answers it.
 */
import { validateTopicName } from '../../../broker/metadata.ts';
import { BrokerError } from '../../../errors.ts';
import type { AlterConfigsRequest } from '../../../protocol/kafka/apis/alter-configs.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { HandlerDeps } from './shared.ts';

export const RESOURCE_TOPIC = 2;
export const RESOURCE_BROKER = 4;

/** What one resource's request asks of a topic: configs to set, keys to remove, and whether it replaces. */
export interface TopicChange {
  set: Record<string, string>;
  remove: string[];
  replace: boolean;
}

interface AlterResource<C> {
  resourceType: number;
  resourceName: string;
  configs: C[];
}

/**
 * Answers each resource of an AlterConfigs or IncrementalAlterConfigs request: `change` turns a topic
 * resource's configs (and its current ones) into the change to make, or throws a BrokerError.
 */
export async function alterConfigResources<C extends { name: string }>(
  deps: HandlerDeps,
  resources: AlterResource<C>[],
  validateOnly: boolean,
  change: (configs: C[], current: Record<string, string>) => TopicChange,
): Promise<Message> {
  const seen = new Map<string, number>();
  for (const r of resources) {
    const id = `${r.resourceType}:${r.resourceName}`;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const responses = await Promise.all(
    resources.map(async (r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      try {
        if ((seen.get(`${r.resourceType}:${r.resourceName}`) ?? 0) > 1)
          throw new BrokerError('INVALID_REQUEST', `resource ${r.resourceName} is named more than once`);
        if (r.resourceType === RESOURCE_TOPIC) {
          const name = validateTopicName(r.resourceName);
          const topic = deps.core.metadata.getTopic(name);
          if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
          const c = change(r.configs, topic.configs as Record<string, string>);
          await deps.core.alterTopicConfigs(name, c.set, { ...c, validateOnly });
        } else if (r.resourceType === RESOURCE_BROKER) {
          checkBrokerResource(deps.kafkaNodeId, r.resourceName, r.configs);
        } else {
          throw new BrokerError(
            'INVALID_REQUEST',
            `resource type ${r.resourceType} is not supported by this broker (topics 2 and brokers 4 are)`,
          );
        }
        return { ...base, errorCode: 0, errorMessage: null };
      } catch (err) {
        return { ...base, errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message };
      }
    }),
  );
  return { throttleTimeMs: 0, responses };
}

/** A broker resource: this node or the cluster default, and no key, since none changes at run time. */
function checkBrokerResource(nodeId: number, name: string, configs: { name: string }[]): void {
  if (name !== '' && (!/^\d+$/.test(name) || Number(name) !== nodeId))
    throw new BrokerError(
      'INVALID_REQUEST',
      `Unexpected broker id, expected ${nodeId} or empty string, but received ${name}`,
    );
  if (configs.length > 0)
    throw new BrokerError(
      'INVALID_CONFIG',
      `cannot update these broker configs at run time: ${configs.map((c) => c.name).join(', ')} (this broker has no dynamic broker configs; set them in its config file and restart)`,
    );
}

export function handleAlterConfigs(deps: HandlerDeps, req: AlterConfigsRequest): Promise<Message> {
  return alterConfigResources(deps, req.resources, req.validateOnly, (configs) => {
    const set: Record<string, string> = {};
    for (const c of configs) {
      if (Object.hasOwn(set, c.name))
        throw new BrokerError('INVALID_REQUEST', `config ${c.name} is named more than once`);
      // A null value leaves the key out of the new set, which is its default.
      if (c.value !== null) set[c.name] = c.value;
    }
    return { set, remove: [], replace: true };
  });
}
