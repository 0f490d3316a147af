/**
 * ListPartitionReassignments (API key 46), version 0 (KIP-455). From apache/kafka
 * ListPartitionReassignmentsRequest.json and ListPartitionReassignmentsResponse.json. Flexible from
 * version 0.
 *
 * ListPartitionReassignments Request (Version: 0) => timeout_ms [topics] TAGGED_FIELDS
 *   topics => name [partition_indexes] TAGGED_FIELDS
 *     (topics: a nullable array; null lists every ongoing reassignment)
 *
 * ListPartitionReassignments Response (Version: 0) =>
 *     throttle_time_ms error_code error_message [topics] TAGGED_FIELDS
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index [replicas] [adding_replicas] [removing_replicas] TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const listPartitionReassignmentsRequest = message({
  name: 'ListPartitionReassignmentsRequest',
  apiKey: 46,
  validVersions: '0',
  flexibleVersions: '0+',
  fields: [
    field('timeoutMs', 'int32', '0+', { default: 60000 }),
    structs('topics', '0+', [field('name', 'string', '0+'), field('partitionIndexes', '[]int32', '0+')], {
      nullable: '0+',
      default: null,
    }),
  ],
});

export const listPartitionReassignmentsResponse = message({
  name: 'ListPartitionReassignmentsResponse',
  apiKey: 46,
  validVersions: '0',
  flexibleVersions: '0+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('errorCode', 'int16', '0+'),
    field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('replicas', '[]int32', '0+'),
        field('addingReplicas', '[]int32', '0+'),
        field('removingReplicas', '[]int32', '0+'),
      ]),
    ]),
  ],
});

export type ListPartitionReassignmentsRequest = MessageValue<typeof listPartitionReassignmentsRequest>;
export type ListPartitionReassignmentsResponse = MessageValue<typeof listPartitionReassignmentsResponse>;
