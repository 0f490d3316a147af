/**
 * DescribeGroups (API key 15), versions 0-6. From apache/kafka DescribeGroupsRequest.json and
 * DescribeGroupsResponse.json.
 *
 * 1 adds throttle time; 3 authorized operations; 4 the members' group.instance.id; 5 is the first
 * flexible version; 6 answers GROUP_ID_NOT_FOUND for a group that does not exist, with an error
 * message (KIP-1043), where earlier versions describe it as Dead without an error. Kafka 4 serves 0-6.
 *
 * DescribeGroups Request (Version: 6) => [groups => COMPACT_STRING] include_authorized_operations
 *                                        TAGGED_FIELDS
 * DescribeGroups Response (Version: 6) => throttle_time_ms [groups] TAGGED_FIELDS
 *   groups => error_code error_message group_id group_state protocol_type protocol_data [members]
 *             authorized_operations TAGGED_FIELDS
 *     error_message => COMPACT_NULLABLE_STRING (6+)
 *     members => member_id group_instance_id client_id client_host member_metadata member_assignment
 *                TAGGED_FIELDS                 (metadata and assignment => COMPACT_BYTES)
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const describeGroupsRequest = message({
  name: 'DescribeGroupsRequest',
  apiKey: 15,
  validVersions: '0-6',
  flexibleVersions: '5+',
  fields: [field('groups', '[]string', '0+'), field('includeAuthorizedOperations', 'bool', '3+')],
});

export const describeGroupsResponse = message({
  name: 'DescribeGroupsResponse',
  apiKey: 15,
  validVersions: '0-6',
  flexibleVersions: '5+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    structs('groups', '0+', [
      field('errorCode', 'int16', '0+'),
      field('errorMessage', 'string', '6+', { nullable: '6+', default: null }),
      field('groupId', 'string', '0+'),
      field('groupState', 'string', '0+'),
      field('protocolType', 'string', '0+'),
      field('protocolData', 'string', '0+'),
      structs('members', '0+', [
        field('memberId', 'string', '0+'),
        field('groupInstanceId', 'string', '4+', { nullable: '4+', default: null }),
        field('clientId', 'string', '0+'),
        field('clientHost', 'string', '0+'),
        field('memberMetadata', 'bytes', '0+'),
        field('memberAssignment', 'bytes', '0+'),
      ]),
      field('authorizedOperations', 'int32', '3+', { default: -2147483648 }),
    ]),
  ],
});

export type DescribeGroupsRequest = MessageValue<typeof describeGroupsRequest>;
export type DescribeGroupsResponse = MessageValue<typeof describeGroupsResponse>;
