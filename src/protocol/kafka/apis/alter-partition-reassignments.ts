/**
 * AlterPartitionReassignments (API key 45), versions 0-1 (KIP-455; v1 KIP-860). From apache/kafka
 * AlterPartitionReassignmentsRequest.json and AlterPartitionReassignmentsResponse.json. Flexible from
 * version 0.
 *
 * Version 1 adds allow_replication_factor_change to the request (false refuses a replica list whose
 * length differs from the partition's, with INVALID_REPLICATION_FACTOR) and echoes it in the response.
 *
 * AlterPartitionReassignments Request (Version: 1) =>
 *     timeout_ms allow_replication_factor_change [topics] TAGGED_FIELDS
 *   allow_replication_factor_change => BOOLEAN (v1+, default true)
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index [replicas] TAGGED_FIELDS
 *       (replicas: a nullable array; null cancels the partition's ongoing reassignment)
 *
 * AlterPartitionReassignments Response (Version: 1) =>
 *     throttle_time_ms allow_replication_factor_change error_code error_message [responses] TAGGED_FIELDS
 *   allow_replication_factor_change => BOOLEAN (v1+, default true)
 *   responses => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index error_code error_message TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const alterPartitionReassignmentsRequest = message({
  name: 'AlterPartitionReassignmentsRequest',
  apiKey: 45,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('timeoutMs', 'int32', '0+', { default: 60000 }),
    field('allowReplicationFactorChange', 'bool', '1+', { default: true }),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('replicas', '[]int32', '0+', { nullable: '0+', default: null }),
      ]),
    ]),
  ],
});

export const alterPartitionReassignmentsResponse = message({
  name: 'AlterPartitionReassignmentsResponse',
  apiKey: 45,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('allowReplicationFactorChange', 'bool', '1+', { default: true }),
    field('errorCode', 'int16', '0+'),
    field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    structs('responses', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      ]),
    ]),
  ],
});

export type AlterPartitionReassignmentsRequest = MessageValue<typeof alterPartitionReassignmentsRequest>;
export type AlterPartitionReassignmentsResponse = MessageValue<typeof alterPartitionReassignmentsResponse>;
