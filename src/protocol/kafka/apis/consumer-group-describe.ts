/**
 * ConsumerGroupDescribe (API key 69), versions 0-1: KIP-848 consumer groups as the coordinator holds
 * them. From apache/kafka ConsumerGroupDescribeRequest.json and ConsumerGroupDescribeResponse.json.
 *
 * Every version is flexible. 1 adds each member's MemberType (KIP-1099: -1 unknown, 0 classic,
 * 1 consumer); the request is the same in both.
 *
 * ConsumerGroupDescribe Request (Version: 1) => [group_ids] include_authorized_operations TAGGED_FIELDS
 * ConsumerGroupDescribe Response (Version: 1) => throttle_time_ms [groups] TAGGED_FIELDS
 *   groups => error_code error_message group_id group_state group_epoch assignment_epoch assignor_name
 *             [members] authorized_operations TAGGED_FIELDS
 *     members => member_id instance_id rack_id member_epoch client_id client_host
 *                [subscribed_topic_names] subscribed_topic_regex assignment target_assignment
 *                member_type TAGGED_FIELDS
 *       assignment, target_assignment => [topic_partitions] TAGGED_FIELDS
 *         topic_partitions => topic_id topic_name [partitions] TAGGED_FIELDS
 */
import { field, type MessageValue, message, struct, structs } from '../schema.ts';

const assignment = [
  structs('topicPartitions', '0+', [
    field('topicId', 'uuid', '0+'),
    field('topicName', 'string', '0+'),
    field('partitions', '[]int32', '0+'),
  ]),
] as const;

export const consumerGroupDescribeRequest = message({
  name: 'ConsumerGroupDescribeRequest',
  apiKey: 69,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [field('groupIds', '[]string', '0+'), field('includeAuthorizedOperations', 'bool', '0+')],
});

export const consumerGroupDescribeResponse = message({
  name: 'ConsumerGroupDescribeResponse',
  apiKey: 69,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    structs('groups', '0+', [
      field('errorCode', 'int16', '0+'),
      field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      field('groupId', 'string', '0+'),
      field('groupState', 'string', '0+'),
      field('groupEpoch', 'int32', '0+'),
      field('assignmentEpoch', 'int32', '0+'),
      field('assignorName', 'string', '0+'),
      structs('members', '0+', [
        field('memberId', 'string', '0+'),
        field('instanceId', 'string', '0+', { nullable: '0+', default: null }),
        field('rackId', 'string', '0+', { nullable: '0+', default: null }),
        field('memberEpoch', 'int32', '0+'),
        field('clientId', 'string', '0+'),
        field('clientHost', 'string', '0+'),
        field('subscribedTopicNames', '[]string', '0+'),
        field('subscribedTopicRegex', 'string', '0+', { nullable: '0+', default: null }),
        struct('assignment', '0+', assignment),
        struct('targetAssignment', '0+', assignment),
        field('memberType', 'int8', '1+', { default: -1 }),
      ]),
      field('authorizedOperations', 'int32', '0+', { default: -2147483648 }),
    ]),
  ],
});

export type ConsumerGroupDescribeRequest = MessageValue<typeof consumerGroupDescribeRequest>;
export type ConsumerGroupDescribeResponse = MessageValue<typeof consumerGroupDescribeResponse>;
