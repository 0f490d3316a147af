/**
 * ConsumerGroupHeartbeat (API key 68), versions 0-1: the KIP-848 consumer group protocol. From
 * apache/kafka ConsumerGroupHeartbeatRequest.json and ConsumerGroupHeartbeatResponse.json.
 *
 * Every version is flexible. 1 adds SubscribedTopicRegex and makes the client generate its member id
 * (KIP-1082); the response may then carry INVALID_REGULAR_EXPRESSION.
 *
 * ConsumerGroupHeartbeat Request (Version: 1) => group_id member_id member_epoch instance_id rack_id
 *   rebalance_timeout_ms [subscribed_topic_names] subscribed_topic_regex server_assignor
 *   [topic_partitions] TAGGED_FIELDS
 *   topic_partitions => topic_id [partitions] TAGGED_FIELDS
 * ConsumerGroupHeartbeat Response (Version: 1) => throttle_time_ms error_code error_message member_id
 *   member_epoch heartbeat_interval_ms assignment TAGGED_FIELDS
 *   assignment => [topic_partitions] TAGGED_FIELDS (nullable)
 *     topic_partitions => topic_id [partitions] TAGGED_FIELDS
 */
import { field, type MessageValue, message, struct, structs } from '../schema.ts';

const topicPartitions = [field('topicId', 'uuid', '0+'), field('partitions', '[]int32', '0+')] as const;

export const consumerGroupHeartbeatRequest = message({
  name: 'ConsumerGroupHeartbeatRequest',
  apiKey: 68,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('groupId', 'string', '0+'),
    field('memberId', 'string', '0+'),
    field('memberEpoch', 'int32', '0+'),
    field('instanceId', 'string', '0+', { nullable: '0+', default: null }),
    field('rackId', 'string', '0+', { nullable: '0+', default: null }),
    field('rebalanceTimeoutMs', 'int32', '0+', { default: -1 }),
    field('subscribedTopicNames', '[]string', '0+', { nullable: '0+', default: null }),
    field('subscribedTopicRegex', 'string', '1+', { nullable: '1+', default: null }),
    field('serverAssignor', 'string', '0+', { nullable: '0+', default: null }),
    structs('topicPartitions', '0+', topicPartitions, { nullable: '0+', default: null }),
  ],
});

export const consumerGroupHeartbeatResponse = message({
  name: 'ConsumerGroupHeartbeatResponse',
  apiKey: 68,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('errorCode', 'int16', '0+'),
    field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    field('memberId', 'string', '0+', { nullable: '0+', default: null }),
    field('memberEpoch', 'int32', '0+'),
    field('heartbeatIntervalMs', 'int32', '0+'),
    struct('assignment', '0+', [structs('topicPartitions', '0+', topicPartitions)], {
      nullable: '0+',
      default: null,
    }),
  ],
});

export type ConsumerGroupHeartbeatRequest = MessageValue<typeof consumerGroupHeartbeatRequest>;
export type ConsumerGroupHeartbeatResponse = MessageValue<typeof consumerGroupHeartbeatResponse>;
