/**
 * IncrementalAlterConfigs (API key 44), versions 0-1. From apache/kafka
 * IncrementalAlterConfigsRequest.json and IncrementalAlterConfigsResponse.json (KIP-339).
 *
 * 1 is the first flexible version. Each config names an operation: 0 SET, 1 DELETE (back to the
 * default), 2 APPEND and 3 SUBTRACT (for list configs). The response has AlterConfigs' shape.
 *
 * IncrementalAlterConfigs Request (Version: 1) => [resources] validate_only TAGGED_FIELDS
 *   resources => resource_type resource_name [configs] TAGGED_FIELDS
 *     configs => name config_operation value TAGGED_FIELDS
 *
 * IncrementalAlterConfigs Response (Version: 1) => throttle_time_ms [responses] TAGGED_FIELDS
 *   responses => error_code error_message resource_type resource_name TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';
import { alterConfigsResourceResponses } from './alter-configs.ts';

export const incrementalAlterConfigsRequest = message({
  name: 'IncrementalAlterConfigsRequest',
  apiKey: 44,
  validVersions: '0-1',
  flexibleVersions: '1+',
  fields: [
    structs('resources', '0+', [
      field('resourceType', 'int8', '0+'),
      field('resourceName', 'string', '0+'),
      structs('configs', '0+', [
        field('name', 'string', '0+'),
        field('configOperation', 'int8', '0+'),
        field('value', 'string', '0+', { nullable: '0+' }),
      ]),
    ]),
    field('validateOnly', 'bool', '0+'),
  ],
});

export const incrementalAlterConfigsResponse = message({
  name: 'IncrementalAlterConfigsResponse',
  apiKey: 44,
  validVersions: '0-1',
  flexibleVersions: '1+',
  fields: [field('throttleTimeMs', 'int32', '0+'), alterConfigsResourceResponses],
});

export type IncrementalAlterConfigsRequest = MessageValue<typeof incrementalAlterConfigsRequest>;
export type IncrementalAlterConfigsResponse = MessageValue<typeof incrementalAlterConfigsResponse>;
