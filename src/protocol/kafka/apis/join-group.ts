/**
 * JoinGroup (API key 11), versions 0-9. From apache/kafka JoinGroupRequest.json and
 * JoinGroupResponse.json.
 *
 * 1 adds the rebalance timeout; 4 requires a second join with the member id the coordinator hands out
 * (MEMBER_ID_REQUIRED, KIP-394); 5 adds static membership (group.instance.id, KIP-345); 6 is the
 * first flexible version; 7 returns the protocol type (KIP-559); 8 adds a join reason (KIP-800); 9
 * adds SkipAssignment to the response. Version 0 is advertised for librdkafka (issue 5).
 *
 * JoinGroup Request (Version: 9) => group_id session_timeout_ms rebalance_timeout_ms member_id
 *                                   group_instance_id protocol_type [protocols] reason TAGGED_FIELDS
 *   protocols => name metadata TAGGED_FIELDS     (metadata => COMPACT_BYTES)
 *   group_instance_id, reason => COMPACT_NULLABLE_STRING
 *
 * JoinGroup Response (Version: 9) => throttle_time_ms error_code generation_id protocol_type
 *                                    protocol_name leader skip_assignment member_id [members] TAGGED_FIELDS
 *   members => member_id group_instance_id metadata TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const joinGroupRequest = message({
  name: 'JoinGroupRequest',
  apiKey: 11,
  validVersions: '0-9',
  flexibleVersions: '6+',
  fields: [
    field('groupId', 'string', '0+'),
    field('sessionTimeoutMs', 'int32', '0+'),
    // Without it (version 0), the session timeout doubles as the rebalance timeout; -1 marks that.
    field('rebalanceTimeoutMs', 'int32', '1+', { default: -1 }),
    field('memberId', 'string', '0+'),
    field('groupInstanceId', 'string', '5+', { nullable: '5+', default: null }),
    field('protocolType', 'string', '0+'),
    structs('protocols', '0+', [field('name', 'string', '0+'), field('metadata', 'bytes', '0+')]),
    field('reason', 'string', '8+', { nullable: '8+', default: null }),
  ],
});

export const joinGroupResponse = message({
  name: 'JoinGroupResponse',
  apiKey: 11,
  validVersions: '0-9',
  flexibleVersions: '6+',
  fields: [
    field('throttleTimeMs', 'int32', '2+'),
    field('errorCode', 'int16', '0+'),
    field('generationId', 'int32', '0+', { default: -1 }),
    field('protocolType', 'string', '7+', { nullable: '7+', default: null }),
    field('protocolName', 'string', '0+', { nullable: '7+' }),
    field('leader', 'string', '0+'),
    field('skipAssignment', 'bool', '9+'),
    field('memberId', 'string', '0+'),
    structs('members', '0+', [
      field('memberId', 'string', '0+'),
      field('groupInstanceId', 'string', '5+', { nullable: '5+', default: null }),
      field('metadata', 'bytes', '0+'),
    ]),
  ],
});

export type JoinGroupRequest = MessageValue<typeof joinGroupRequest>;
export type JoinGroupResponse = MessageValue<typeof joinGroupResponse>;
