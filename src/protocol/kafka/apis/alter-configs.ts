/**
 * AlterConfigs (API key 33), versions 0-2. From apache/kafka AlterConfigsRequest.json and
 * AlterConfigsResponse.json.
 *
 * 1 is the same as 0 (throttling before the answer); 2 is the first flexible version. Each resource's
 * configs replace all of its own configs (IncrementalAlterConfigs, key 44, changes some).
 *
 * AlterConfigs Request (Version: 2) => [resources] validate_only TAGGED_FIELDS
 *   resources => resource_type resource_name [configs] TAGGED_FIELDS
 *     configs => name value TAGGED_FIELDS
 *
 * AlterConfigs Response (Version: 2) => throttle_time_ms [responses] TAGGED_FIELDS
 *   responses => error_code error_message resource_type resource_name TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const alterConfigsRequest = message({
  name: 'AlterConfigsRequest',
  apiKey: 33,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    structs('resources', '0+', [
      field('resourceType', 'int8', '0+'),
      field('resourceName', 'string', '0+'),
      structs('configs', '0+', [
        field('name', 'string', '0+'),
        field('value', 'string', '0+', { nullable: '0+' }),
      ]),
    ]),
    field('validateOnly', 'bool', '0+'),
  ],
});

/** Each resource's answer; IncrementalAlterConfigs answers in the same shape. */
export const alterConfigsResourceResponses = structs('responses', '0+', [
  field('errorCode', 'int16', '0+'),
  field('errorMessage', 'string', '0+', { nullable: '0+' }),
  field('resourceType', 'int8', '0+'),
  field('resourceName', 'string', '0+'),
]);

export const alterConfigsResponse = message({
  name: 'AlterConfigsResponse',
  apiKey: 33,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [field('throttleTimeMs', 'int32', '0+'), alterConfigsResourceResponses],
});

export type AlterConfigsRequest = MessageValue<typeof alterConfigsRequest>;
export type AlterConfigsResponse = MessageValue<typeof alterConfigsResponse>;
