/**
 * ListOffsets (API key 2), versions 1-10. From apache/kafka ListOffsetsRequest.json and
 * ListOffsetsResponse.json.
 *
 * Version 0 (a list of offsets per partition) is not served: every client we target speaks 1 or
 * later, and Kafka 4 serves 1-10 too (KIP-896). 2 adds the isolation level; 4 the current leader
 * epoch (fencing, KIP-320); 6 is the first flexible version; 7 allows the max-timestamp query
 * (timestamp -3, KIP-734), 8 the local log start query (-4, KIP-405) and 9 the last tiered offset
 * query (-5, KIP-1005); 10 adds TimeoutMs, the time a broker may spend on a query that reads remote
 * (tiered) storage (KIP-1075). The special timestamps are -1 (latest) and -2 (earliest). The v0-only
 * fields stay in the schema so that the version history reads as Kafka's does.
 *
 * ListOffsets Request (Version: 10) => replica_id isolation_level [topics] timeout_ms TAGGED_FIELDS
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index current_leader_epoch timestamp TAGGED_FIELDS
 *       partition_index => INT32  current_leader_epoch => INT32  timestamp => INT64
 *   timeout_ms => INT32
 *
 * ListOffsets Response (Version: 10) => throttle_time_ms [topics] TAGGED_FIELDS
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index error_code timestamp offset leader_epoch TAGGED_FIELDS
 *       error_code => INT16  timestamp => INT64  offset => INT64  leader_epoch => INT32
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const listOffsetsRequest = message({
  name: 'ListOffsetsRequest',
  apiKey: 2,
  validVersions: '1-10',
  flexibleVersions: '6+',
  fields: [
    field('replicaId', 'int32', '0+'),
    field('isolationLevel', 'int8', '2+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('currentLeaderEpoch', 'int32', '4+', { default: -1 }),
        field('timestamp', 'int64', '0+'),
        field('maxNumOffsets', 'int32', '0', { default: 1 }),
      ]),
    ]),
    field('timeoutMs', 'int32', '10+'),
  ],
});

export const listOffsetsResponse = message({
  name: 'ListOffsetsResponse',
  apiKey: 2,
  validVersions: '1-10',
  flexibleVersions: '6+',
  fields: [
    field('throttleTimeMs', 'int32', '2+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
        field('oldStyleOffsets', '[]int64', '0'),
        field('timestamp', 'int64', '1+', { default: -1 }),
        field('offset', 'int64', '1+', { default: -1 }),
        field('leaderEpoch', 'int32', '4+', { default: -1 }),
      ]),
    ]),
  ],
});

export type ListOffsetsRequest = MessageValue<typeof listOffsetsRequest>;
export type ListOffsetsResponse = MessageValue<typeof listOffsetsResponse>;
