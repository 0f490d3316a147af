/**
 * OffsetDelete (API key 47), version 0 (KIP-496). From apache/kafka OffsetDeleteRequest.json and
 * OffsetDeleteResponse.json. Not flexible.
 *
 * OffsetDelete Request (Version: 0) => group_id [topics]
 *   topics => name [partitions]
 *     partitions => partition_index
 *
 * OffsetDelete Response (Version: 0) => error_code throttle_time_ms [topics]
 *   topics => name [partitions]
 *     partitions => partition_index error_code
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const offsetDeleteRequest = message({
  name: 'OffsetDeleteRequest',
  apiKey: 47,
  validVersions: '0',
  flexibleVersions: 'none',
  fields: [
    field('groupId', 'string', '0+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [field('partitionIndex', 'int32', '0+')]),
    ]),
  ],
});

export const offsetDeleteResponse = message({
  name: 'OffsetDeleteResponse',
  apiKey: 47,
  validVersions: '0',
  flexibleVersions: 'none',
  fields: [
    field('errorCode', 'int16', '0+'),
    field('throttleTimeMs', 'int32', '0+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
      ]),
    ]),
  ],
});

export type OffsetDeleteRequest = MessageValue<typeof offsetDeleteRequest>;
export type OffsetDeleteResponse = MessageValue<typeof offsetDeleteResponse>;
