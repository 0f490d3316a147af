/**
 * DescribeLogDirs (API key 35), versions 0-4. From apache/kafka DescribeLogDirsRequest.json and
 * DescribeLogDirsResponse.json.
 *
 * 1 is the same as 0 (throttling before the answer); 2 is the first flexible version; 3 adds the
 * top-level error code; 4 each log dir's total and usable bytes (KIP-827). A null topic list asks
 * for every partition.
 *
 * DescribeLogDirs Request (Version: 4) => [topics] TAGGED_FIELDS
 *   topics => topic [partitions] TAGGED_FIELDS
 *
 * DescribeLogDirs Response (Version: 4) => throttle_time_ms error_code [results] TAGGED_FIELDS
 *   results => error_code log_dir [topics] total_bytes usable_bytes TAGGED_FIELDS
 *     topics => name [partitions] TAGGED_FIELDS
 *       partitions => partition_index partition_size offset_lag is_future_key TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const describeLogDirsRequest = message({
  name: 'DescribeLogDirsRequest',
  apiKey: 35,
  validVersions: '0-4',
  flexibleVersions: '2+',
  fields: [
    structs('topics', '0+', [field('topic', 'string', '0+'), field('partitions', '[]int32', '0+')], {
      nullable: '0+',
    }),
  ],
});

export const describeLogDirsResponse = message({
  name: 'DescribeLogDirsResponse',
  apiKey: 35,
  validVersions: '0-4',
  flexibleVersions: '2+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('errorCode', 'int16', '3+'),
    structs('results', '0+', [
      field('errorCode', 'int16', '0+'),
      field('logDir', 'string', '0+'),
      structs('topics', '0+', [
        field('name', 'string', '0+'),
        structs('partitions', '0+', [
          field('partitionIndex', 'int32', '0+'),
          field('partitionSize', 'int64', '0+'),
          field('offsetLag', 'int64', '0+'),
          field('isFutureKey', 'bool', '0+'),
        ]),
      ]),
      field('totalBytes', 'int64', '4+', { default: -1 }),
      field('usableBytes', 'int64', '4+', { default: -1 }),
    ]),
  ],
});

export type DescribeLogDirsRequest = MessageValue<typeof describeLogDirsRequest>;
export type DescribeLogDirsResponse = MessageValue<typeof describeLogDirsResponse>;
