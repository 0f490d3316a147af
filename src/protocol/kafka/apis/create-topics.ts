/**
 * CreateTopics (API key 19), versions 0-7. From apache/kafka CreateTopicsRequest.json and
 * CreateTopicsResponse.json.
 *
 * 1 adds validateOnly and a per-topic error message; 2 throttle time; 4 lets partitions and
 * replication factor be -1 for the broker's defaults (KIP-464); 5 is the first flexible version and
 * returns the created topic's configs (KIP-525); 6 may return THROTTLING_QUOTA_EXCEEDED; 7 returns
 * the topic id.
 *
 * CreateTopics Request (Version: 7) => [topics] timeout_ms validate_only TAGGED_FIELDS
 *   topics => name num_partitions replication_factor [assignments] [configs] TAGGED_FIELDS
 *     assignments => partition_index [broker_ids => INT32] TAGGED_FIELDS
 *     configs => name value TAGGED_FIELDS                 (value => COMPACT_NULLABLE_STRING)
 *
 * CreateTopics Response (Version: 7) => throttle_time_ms [topics] TAGGED_FIELDS
 *   topics => name topic_id error_code error_message num_partitions replication_factor [configs]
 *             TAGGED_FIELDS                               (configs: COMPACT_NULLABLE_ARRAY)
 *     configs => name value read_only config_source is_sensitive TAGGED_FIELDS
 *     tagged: 0 topic_config_error_code INT16
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const createTopicsRequest = message({
  name: 'CreateTopicsRequest',
  apiKey: 19,
  validVersions: '0-7',
  flexibleVersions: '5+',
  fields: [
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      field('numPartitions', 'int32', '0+'),
      field('replicationFactor', 'int16', '0+'),
      structs('assignments', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('brokerIds', '[]int32', '0+'),
      ]),
      structs('configs', '0+', [
        field('name', 'string', '0+'),
        field('value', 'string', '0+', { nullable: '0+' }),
      ]),
    ]),
    field('timeoutMs', 'int32', '0+', { default: 60000 }),
    field('validateOnly', 'bool', '1+'),
  ],
});

export const createTopicsResponse = message({
  name: 'CreateTopicsResponse',
  apiKey: 19,
  validVersions: '0-7',
  flexibleVersions: '5+',
  fields: [
    field('throttleTimeMs', 'int32', '2+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      field('topicId', 'uuid', '7+'),
      field('errorCode', 'int16', '0+'),
      field('errorMessage', 'string', '1+', { nullable: '0+', default: null }),
      field('topicConfigErrorCode', 'int16', '5+', { tag: 0, tagged: '5+' }),
      field('numPartitions', 'int32', '5+', { default: -1 }),
      field('replicationFactor', 'int16', '5+', { default: -1 }),
      structs(
        'configs',
        '5+',
        [
          field('name', 'string', '5+'),
          field('value', 'string', '5+', { nullable: '5+' }),
          field('readOnly', 'bool', '5+'),
          field('configSource', 'int8', '5+', { default: -1 }),
          field('isSensitive', 'bool', '5+'),
        ],
        { nullable: '5+' },
      ),
    ]),
  ],
});

export type CreateTopicsRequest = MessageValue<typeof createTopicsRequest>;
export type CreateTopicsResponse = MessageValue<typeof createTopicsResponse>;
