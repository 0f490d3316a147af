/**
 * DeleteGroups (API key 42), versions 0-2. From apache/kafka DeleteGroupsRequest.json and
 * DeleteGroupsResponse.json.
 *
 * 1 is the same as 0 (throttling before the answer); 2 is the first flexible version.
 *
 * DeleteGroups Request (Version: 2) => [groups_names] TAGGED_FIELDS
 *
 * DeleteGroups Response (Version: 2) => throttle_time_ms [results] TAGGED_FIELDS
 *   results => group_id error_code TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const deleteGroupsRequest = message({
  name: 'DeleteGroupsRequest',
  apiKey: 42,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [field('groupsNames', '[]string', '0+')],
});

export const deleteGroupsResponse = message({
  name: 'DeleteGroupsResponse',
  apiKey: 42,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    structs('results', '0+', [field('groupId', 'string', '0+'), field('errorCode', 'int16', '0+')]),
  ],
});

export type DeleteGroupsRequest = MessageValue<typeof deleteGroupsRequest>;
export type DeleteGroupsResponse = MessageValue<typeof deleteGroupsResponse>;
