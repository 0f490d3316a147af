/**
 * LeaveGroup (API key 13), versions 0-5. From apache/kafka LeaveGroupRequest.json and
 * LeaveGroupResponse.json.
 *
 * 1 adds throttle time; 3 turns the request into a batch of member identities (KIP-345), so the
 * single MemberId of 0-2 is replaced by the Members array; 4 is the first flexible version; 5 adds a
 * per-member reason (KIP-800).
 *
 * LeaveGroup Request (Version: 5) => group_id [members] TAGGED_FIELDS
 *   members => member_id group_instance_id reason TAGGED_FIELDS
 *   (versions 0-2: group_id member_id)
 *
 * LeaveGroup Response (Version: 5) => throttle_time_ms error_code [members] TAGGED_FIELDS
 *   members => member_id group_instance_id error_code TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const leaveGroupRequest = message({
  name: 'LeaveGroupRequest',
  apiKey: 13,
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    field('groupId', 'string', '0+'),
    field('memberId', 'string', '0-2'),
    structs('members', '3+', [
      field('memberId', 'string', '3+'),
      field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
      field('reason', 'string', '5+', { nullable: '5+', default: null }),
    ]),
  ],
});

export const leaveGroupResponse = message({
  name: 'LeaveGroupResponse',
  apiKey: 13,
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    field('errorCode', 'int16', '0+'),
    structs('members', '3+', [
      field('memberId', 'string', '3+'),
      field('groupInstanceId', 'string', '3+', { nullable: '3+' }),
      field('errorCode', 'int16', '3+'),
    ]),
  ],
});

export type LeaveGroupRequest = MessageValue<typeof leaveGroupRequest>;
export type LeaveGroupResponse = MessageValue<typeof leaveGroupResponse>;
