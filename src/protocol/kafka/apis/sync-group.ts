/**
 * SyncGroup (API key 14), versions 0-5. From apache/kafka SyncGroupRequest.json and
 * SyncGroupResponse.json.
 *
 * 1 adds throttle time to the response; 3 static membership; 4 is the first flexible version; 5
 * sends the protocol type and name both ways so that a mismatch is caught (KIP-559).
 *
 * SyncGroup Request (Version: 5) => group_id generation_id member_id group_instance_id protocol_type
 *                                   protocol_name [assignments] TAGGED_FIELDS
 *   assignments => member_id assignment TAGGED_FIELDS     (assignment => COMPACT_BYTES)
 *
 * SyncGroup Response (Version: 5) => throttle_time_ms error_code protocol_type protocol_name
 *                                    assignment TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const syncGroupRequest = message({
  name: 'SyncGroupRequest',
  apiKey: 14,
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    field('groupId', 'string', '0+'),
    field('generationId', 'int32', '0+'),
    field('memberId', 'string', '0+'),
    field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
    field('protocolType', 'string', '5+', { nullable: '5+', default: null }),
    field('protocolName', 'string', '5+', { nullable: '5+', default: null }),
    structs('assignments', '0+', [field('memberId', 'string', '0+'), field('assignment', 'bytes', '0+')]),
  ],
});

export const syncGroupResponse = message({
  name: 'SyncGroupResponse',
  apiKey: 14,
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    field('errorCode', 'int16', '0+'),
    field('protocolType', 'string', '5+', { nullable: '5+', default: null }),
    field('protocolName', 'string', '5+', { nullable: '5+', default: null }),
    field('assignment', 'bytes', '0+'),
  ],
});

export type SyncGroupRequest = MessageValue<typeof syncGroupRequest>;
export type SyncGroupResponse = MessageValue<typeof syncGroupResponse>;
