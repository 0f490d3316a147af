/**
 * Heartbeat (API key 12), versions 0-4. From apache/kafka HeartbeatRequest.json and
 * HeartbeatResponse.json.
 *
 * 1 adds throttle time to the response; 3 static membership; 4 is the first flexible version.
 *
 * Heartbeat Request (Version: 4) => group_id generation_id member_id group_instance_id TAGGED_FIELDS
 * Heartbeat Response (Version: 4) => throttle_time_ms error_code TAGGED_FIELDS
 */
import { field, type MessageValue, message } from '../schema.ts';

export const heartbeatRequest = message({
  name: 'HeartbeatRequest',
  apiKey: 12,
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    field('groupId', 'string', '0+'),
    field('generationId', 'int32', '0+'),
    field('memberId', 'string', '0+'),
    field('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
  ],
});

export const heartbeatResponse = message({
  name: 'HeartbeatResponse',
  apiKey: 12,
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [field('throttleTimeMs', 'int32', '1+'), field('errorCode', 'int16', '0+')],
});

export type HeartbeatRequest = MessageValue<typeof heartbeatRequest>;
export type HeartbeatResponse = MessageValue<typeof heartbeatResponse>;
