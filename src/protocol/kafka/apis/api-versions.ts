/**
 * ApiVersions (API key 18), versions 0-4. From apache/kafka ApiVersionsRequest.json and
 * ApiVersionsResponse.json.
 *
 * Versions 0-2 of the request are empty; 3 is the first flexible version and adds the client's
 * software name and version (KIP-511). The response gains ThrottleTimeMs in 1 and the tagged feature
 * fields in 3 (KIP-584); 4 is the same message, and only says that SupportedFeatures may carry a
 * MinVersion of 0 (KAFKA-17011; we list no features). Kafka 4 serves 0-4. Two rules that are not in
 * the grammar:
 * - the response header is always version 0 (no tagged fields), even for a flexible response, so a
 *   client that does not yet know what we support can still parse the answer (header.ts);
 * - a request with a version above ours is answered with a version 0 response carrying
 *   UNSUPPORTED_VERSION (35) and our ranges, so the client can retry with a version we know (KIP-511).
 *
 * ApiVersions Request (Version: 4) => client_software_name client_software_version TAGGED_FIELDS
 *   client_software_name => COMPACT_STRING
 *   client_software_version => COMPACT_STRING
 *
 * ApiVersions Response (Version: 4) => error_code [api_keys] throttle_time_ms TAGGED_FIELDS
 *   error_code => INT16
 *   api_keys => api_key min_version max_version TAGGED_FIELDS
 *     api_key => INT16
 *     min_version => INT16
 *     max_version => INT16
 *   throttle_time_ms => INT32
 *   tagged: 0 supported_features [name min_version max_version], 1 finalized_features_epoch INT64,
 *           2 finalized_features [name max_version_level min_version_level], 3 zk_migration_ready BOOLEAN
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const apiVersionsRequest = message({
  name: 'ApiVersionsRequest',
  apiKey: 18,
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [field('clientSoftwareName', 'string', '3+'), field('clientSoftwareVersion', 'string', '3+')],
});

export const apiVersionsResponse = message({
  name: 'ApiVersionsResponse',
  apiKey: 18,
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [
    field('errorCode', 'int16', '0+'),
    structs('apiKeys', '0+', [
      field('apiKey', 'int16', '0+'),
      field('minVersion', 'int16', '0+'),
      field('maxVersion', 'int16', '0+'),
    ]),
    field('throttleTimeMs', 'int32', '1+'),
    structs(
      'supportedFeatures',
      '3+',
      [field('name', 'string', '3+'), field('minVersion', 'int16', '3+'), field('maxVersion', 'int16', '3+')],
      { tag: 0, tagged: '3+' },
    ),
    field('finalizedFeaturesEpoch', 'int64', '3+', { tag: 1, tagged: '3+', default: -1 }),
    structs(
      'finalizedFeatures',
      '3+',
      [
        field('name', 'string', '3+'),
        field('maxVersionLevel', 'int16', '3+'),
        field('minVersionLevel', 'int16', '3+'),
      ],
      { tag: 2, tagged: '3+' },
    ),
    field('zkMigrationReady', 'bool', '3+', { tag: 3, tagged: '3+', default: false }),
  ],
});

export type ApiVersionsRequest = MessageValue<typeof apiVersionsRequest>;
export type ApiVersionsResponse = MessageValue<typeof apiVersionsResponse>;
