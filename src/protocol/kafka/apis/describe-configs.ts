/**
 * DescribeConfigs (API key 32), versions 0-4. From apache/kafka DescribeConfigsRequest.json and
 * DescribeConfigsResponse.json.
 *
 * 1 adds synonyms and the config source (replacing v0's IsDefault); 3 adds documentation and the
 * config type; 4 is the first flexible version. Resource types: 2 topic, 4 broker, 8 broker logger.
 *
 * DescribeConfigs Request (Version: 4) => [resources] include_synonyms include_documentation
 *                                         TAGGED_FIELDS
 *   resources => resource_type resource_name [configuration_keys] TAGGED_FIELDS
 *     (configuration_keys: COMPACT_NULLABLE_ARRAY of COMPACT_STRING; null lists every key)
 *
 * DescribeConfigs Response (Version: 4) => throttle_time_ms [results] TAGGED_FIELDS
 *   results => error_code error_message resource_type resource_name [configs] TAGGED_FIELDS
 *     configs => name value read_only config_source is_sensitive [synonyms] config_type
 *                documentation TAGGED_FIELDS
 *       synonyms => name value source TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const describeConfigsRequest = message({
  name: 'DescribeConfigsRequest',
  apiKey: 32,
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    structs('resources', '0+', [
      field('resourceType', 'int8', '0+'),
      field('resourceName', 'string', '0+'),
      field('configurationKeys', '[]string', '0+', { nullable: '0+' }),
    ]),
    field('includeSynonyms', 'bool', '1+'),
    field('includeDocumentation', 'bool', '3+'),
  ],
});

export const describeConfigsResponse = message({
  name: 'DescribeConfigsResponse',
  apiKey: 32,
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    structs('results', '0+', [
      field('errorCode', 'int16', '0+'),
      field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      field('resourceType', 'int8', '0+'),
      field('resourceName', 'string', '0+'),
      structs('configs', '0+', [
        field('name', 'string', '0+'),
        field('value', 'string', '0+', { nullable: '0+' }),
        field('readOnly', 'bool', '0+'),
        field('isDefault', 'bool', '0'),
        // Kafka notes the v0 default of the source depends on the resource; -1 is a placeholder.
        field('configSource', 'int8', '1+', { default: -1 }),
        field('isSensitive', 'bool', '0+'),
        structs('synonyms', '1+', [
          field('name', 'string', '1+'),
          field('value', 'string', '1+', { nullable: '0+' }),
          field('source', 'int8', '1+'),
        ]),
        field('configType', 'int8', '3+'),
        field('documentation', 'string', '3+', { nullable: '0+', default: null }),
      ]),
    ]),
  ],
});

export type DescribeConfigsRequest = MessageValue<typeof describeConfigsRequest>;
export type DescribeConfigsResponse = MessageValue<typeof describeConfigsResponse>;
