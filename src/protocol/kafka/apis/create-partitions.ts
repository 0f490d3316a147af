/**
 * CreatePartitions (API key 37), versions 0-3. From apache/kafka CreatePartitionsRequest.json and
 * CreatePartitionsResponse.json.
 *
 * 1 is the same as 0 (throttling before the answer); 2 is the first flexible version; 3 may answer
 * THROTTLING_QUOTA_EXCEEDED (KIP-599), which this broker never does.
 *
 * CreatePartitions Request (Version: 3) => [topics] timeout_ms validate_only TAGGED_FIELDS
 *   topics => name count [assignments] TAGGED_FIELDS
 *     (assignments: COMPACT_NULLABLE_ARRAY; null lets the broker place the new partitions)
 *     assignments => [broker_ids] TAGGED_FIELDS
 *
 * CreatePartitions Response (Version: 3) => throttle_time_ms [results] TAGGED_FIELDS
 *   results => name error_code error_message TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const createPartitionsRequest = message({
  name: 'CreatePartitionsRequest',
  apiKey: 37,
  validVersions: '0-3',
  flexibleVersions: '2+',
  fields: [
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      field('count', 'int32', '0+'),
      structs('assignments', '0+', [field('brokerIds', '[]int32', '0+')], { nullable: '0+' }),
    ]),
    field('timeoutMs', 'int32', '0+'),
    field('validateOnly', 'bool', '0+'),
  ],
});

export const createPartitionsResponse = message({
  name: 'CreatePartitionsResponse',
  apiKey: 37,
  validVersions: '0-3',
  flexibleVersions: '2+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    structs('results', '0+', [
      field('name', 'string', '0+'),
      field('errorCode', 'int16', '0+'),
      field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    ]),
  ],
});

export type CreatePartitionsRequest = MessageValue<typeof createPartitionsRequest>;
export type CreatePartitionsResponse = MessageValue<typeof createPartitionsResponse>;
