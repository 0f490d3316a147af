/**
 * DeleteRecords (API key 21), versions 0-2. From apache/kafka DeleteRecordsRequest.json and
 * DeleteRecordsResponse.json.
 *
 * 1 is the same as 0 (throttling before the answer); 2 is the first flexible version. An offset of -1
 * means the high watermark.
 *
 * DeleteRecords Request (Version: 2) => [topics] timeout_ms TAGGED_FIELDS
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index offset TAGGED_FIELDS
 *
 * DeleteRecords Response (Version: 2) => throttle_time_ms [topics] TAGGED_FIELDS
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index low_watermark error_code TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const deleteRecordsRequest = message({
  name: 'DeleteRecordsRequest',
  apiKey: 21,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [field('partitionIndex', 'int32', '0+'), field('offset', 'int64', '0+')]),
    ]),
    field('timeoutMs', 'int32', '0+'),
  ],
});

export const deleteRecordsResponse = message({
  name: 'DeleteRecordsResponse',
  apiKey: 21,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('lowWatermark', 'int64', '0+'),
        field('errorCode', 'int16', '0+'),
      ]),
    ]),
  ],
});

export type DeleteRecordsRequest = MessageValue<typeof deleteRecordsRequest>;
export type DeleteRecordsResponse = MessageValue<typeof deleteRecordsResponse>;
