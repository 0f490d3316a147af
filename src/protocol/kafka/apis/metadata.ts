/**
 * Metadata (API key 3), versions 0-13. From apache/kafka MetadataRequest.json and MetadataResponse.json.
 *
 * Request: in version 0 an empty topic array means "all topics"; from 1 on, null means all topics and
 * an empty array means none. 4 adds AllowAutoTopicCreation; 8 adds the authorized-operations flags; 9
 * is the first flexible version; 10 adds topic ids (the name becomes nullable); 11 drops the cluster
 * flag; 12 lets a client ask by topic id alone; 13 is the same request (KIP-1102). Kafka 4 serves 0-13.
 * We advertise at least 12 because @platformatic/kafka
 * negotiates the highest version and only maps topic ids back to names correctly from 10 on: with 9,
 * a consumer of two topics fetched one topic's partitions under both names (test/compat).
 * Response: 1 adds racks, the controller id and IsInternal; 2 the cluster id; 3 throttle time; 5
 * offline replicas; 7 the partition leader epoch; 8 authorized operations; 10 the topic id; 11 drops
 * cluster authorized operations; 12 makes the topic name nullable; 13 adds a top-level error code, with
 * which a broker can tell a client to bootstrap again (REBOOTSTRAP_REQUIRED, KIP-1102).
 *
 * Metadata Request (Version: 9) => [topics] allow_auto_topic_creation include_cluster_authorized_operations
 *                                  include_topic_authorized_operations TAGGED_FIELDS
 *   topics => name TAGGED_FIELDS                       (COMPACT_NULLABLE_ARRAY)
 *     name => COMPACT_STRING
 *   allow_auto_topic_creation => BOOLEAN
 *   include_cluster_authorized_operations => BOOLEAN
 *   include_topic_authorized_operations => BOOLEAN
 *
 * Metadata Response (Version: 9) => throttle_time_ms [brokers] cluster_id controller_id [topics]
 *                                   cluster_authorized_operations TAGGED_FIELDS
 *   brokers => node_id host port rack TAGGED_FIELDS
 *     node_id => INT32  host => COMPACT_STRING  port => INT32  rack => COMPACT_NULLABLE_STRING
 *   cluster_id => COMPACT_NULLABLE_STRING
 *   controller_id => INT32
 *   topics => error_code name is_internal [partitions] topic_authorized_operations TAGGED_FIELDS
 *     partitions => error_code partition_index leader_id leader_epoch [replica_nodes] [isr_nodes]
 *                   [offline_replicas] TAGGED_FIELDS                (node lists: COMPACT_ARRAY of INT32)
 *   cluster_authorized_operations => INT32 (versions 8-10)
 *   error_code => INT16 (versions 13+)
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const metadataRequest = message({
  name: 'MetadataRequest',
  apiKey: 3,
  validVersions: '0-13',
  flexibleVersions: '9+',
  fields: [
    structs(
      'topics',
      '0+',
      [field('topicId', 'uuid', '10+'), field('name', 'string', '0+', { nullable: '10+' })],
      { nullable: '1+' },
    ),
    field('allowAutoTopicCreation', 'bool', '4+', { default: true }),
    field('includeClusterAuthorizedOperations', 'bool', '8-10'),
    field('includeTopicAuthorizedOperations', 'bool', '8+'),
  ],
});

export const metadataResponse = message({
  name: 'MetadataResponse',
  apiKey: 3,
  validVersions: '0-13',
  flexibleVersions: '9+',
  fields: [
    field('throttleTimeMs', 'int32', '3+'),
    structs('brokers', '0+', [
      field('nodeId', 'int32', '0+'),
      field('host', 'string', '0+'),
      field('port', 'int32', '0+'),
      field('rack', 'string', '1+', { nullable: '1+', default: null }),
    ]),
    field('clusterId', 'string', '2+', { nullable: '2+', default: null }),
    field('controllerId', 'int32', '1+', { default: -1 }),
    structs('topics', '0+', [
      field('errorCode', 'int16', '0+'),
      field('name', 'string', '0+', { nullable: '12+' }),
      field('topicId', 'uuid', '10+'),
      field('isInternal', 'bool', '1+'),
      structs('partitions', '0+', [
        field('errorCode', 'int16', '0+'),
        field('partitionIndex', 'int32', '0+'),
        field('leaderId', 'int32', '0+'),
        field('leaderEpoch', 'int32', '7+', { default: -1 }),
        field('replicaNodes', '[]int32', '0+'),
        field('isrNodes', '[]int32', '0+'),
        field('offlineReplicas', '[]int32', '5+'),
      ]),
      field('topicAuthorizedOperations', 'int32', '8+', { default: -2147483648 }),
    ]),
    field('clusterAuthorizedOperations', 'int32', '8-10', { default: -2147483648 }),
    field('errorCode', 'int16', '13+'),
  ],
});

export type MetadataRequest = MessageValue<typeof metadataRequest>;
export type MetadataResponse = MessageValue<typeof metadataResponse>;
