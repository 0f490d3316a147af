/**
 * ListGroups (API key 16), versions 0-5. From apache/kafka ListGroupsRequest.json and
 * ListGroupsResponse.json.
 *
 * 1 adds throttle time; 3 is the first flexible version; 4 filters by group state and returns each
 * group's state (KIP-518); 5 filters by group type and returns each group's type (`classic`,
 * `consumer`, `share`, `streams`; KIP-848). Kafka 4 serves 0-5.
 *
 * ListGroups Request (Version: 5) => [states_filter => COMPACT_STRING] [types_filter => COMPACT_STRING]
 *                                    TAGGED_FIELDS
 * ListGroups Response (Version: 5) => throttle_time_ms error_code [groups] TAGGED_FIELDS
 *   groups => group_id protocol_type group_state group_type TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const listGroupsRequest = message({
  name: 'ListGroupsRequest',
  apiKey: 16,
  validVersions: '0-5',
  flexibleVersions: '3+',
  fields: [field('statesFilter', '[]string', '4+'), field('typesFilter', '[]string', '5+')],
});

export const listGroupsResponse = message({
  name: 'ListGroupsResponse',
  apiKey: 16,
  validVersions: '0-5',
  flexibleVersions: '3+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    field('errorCode', 'int16', '0+'),
    structs('groups', '0+', [
      field('groupId', 'string', '0+'),
      field('protocolType', 'string', '0+'),
      field('groupState', 'string', '4+'),
      field('groupType', 'string', '5+'),
    ]),
  ],
});

export type ListGroupsRequest = MessageValue<typeof listGroupsRequest>;
export type ListGroupsResponse = MessageValue<typeof listGroupsResponse>;
