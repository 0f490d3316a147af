/**
 * IncrementalAlterConfigs (API key 44): the grammar is in ../apis/incremental-alter-configs.ts, and
 * what it shares with AlterConfigs (resources, the broker resource, errors) is in alter-configs.ts.
 * Each config names its operation (KIP-339): SET a value, DELETE back to the default, APPEND to or
 * SUBTRACT from a list config (cleanup.policy, the throttled-replicas lists), starting from the
 * topic's own value or else this broker's default, as Kafka's ConfigAdminManager does. A key named
 * twice in one resource is INVALID_REQUEST; APPEND or SUBTRACT on a config that is not a list, or an
 * unknown operation, INVALID_CONFIG naming the key.
 */

import { brokerTopicDefaults, checkTopicConfigName, TOPIC_CONFIGS } from '../../../broker/topic-config.ts';
import { BrokerError } from '../../../errors.ts';
import type { IncrementalAlterConfigsRequest } from '../../../protocol/kafka/apis/incremental-alter-configs.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { alterConfigResources, type TopicChange } from './alter-configs.ts';
import type { HandlerDeps } from './shared.ts';

const OP_SET = 0;
const OP_DELETE = 1;
const OP_APPEND = 2;
const OP_SUBTRACT = 3;

export function handleIncrementalAlterConfigs(
  deps: HandlerDeps,
  req: IncrementalAlterConfigsRequest,
): Promise<Message> {
  const defaults = brokerTopicDefaults(deps.core.defaults);
  return alterConfigResources(deps, req.resources, req.validateOnly, (configs, current) => {
    const change: TopicChange = { set: {}, remove: [], replace: false };
    const named = new Set<string>();
    for (const c of configs) {
      if (named.has(c.name))
        throw new BrokerError('INVALID_REQUEST', `config ${c.name} is named more than once`);
      named.add(c.name);
      if (c.configOperation === OP_SET) {
        if (c.value === null) throw new BrokerError('INVALID_CONFIG', `SET of ${c.name} needs a value`);
        change.set[c.name] = c.value;
      } else if (c.configOperation === OP_DELETE) {
        change.remove.push(c.name);
      } else if (c.configOperation === OP_APPEND || c.configOperation === OP_SUBTRACT) {
        const key = checkTopicConfigName(c.name);
        if (TOPIC_CONFIGS[key].type !== 'list')
          throw new BrokerError(
            'INVALID_CONFIG',
            `config ${key} is not a list: APPEND and SUBTRACT do not apply`,
          );
        const list = (current[key] ?? defaults[key])
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== '');
        const values = (c.value ?? '')
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== '');
        const next =
          c.configOperation === OP_APPEND
            ? [...list, ...values.filter((v) => !list.includes(v))]
            : list.filter((v) => !values.includes(v));
        change.set[key] = next.join(',');
      } else {
        throw new BrokerError(
          'INVALID_CONFIG',
          `unknown operation ${c.configOperation} for config ${c.name}`,
        );
      }
    }
    return change;
  });
}
