/**
 * DescribeProducers (API key 61), version 0 (KIP-664). From apache/kafka DescribeProducersRequest.json
 * and DescribeProducersResponse.json. Flexible from version 0.
 *
 * DescribeProducers Request (Version: 0) => [topics] TAGGED_FIELDS
 *   topics => name [partition_indexes] TAGGED_FIELDS
 *
 * DescribeProducers Response (Version: 0) => throttle_time_ms [topics] TAGGED_FIELDS
 *   topics => name [partitions] TAGGED_FIELDS
 *     partitions => partition_index error_code error_message [active_producers] TAGGED_FIELDS
 *       active_producers => producer_id producer_epoch last_sequence last_timestamp
 *                           coordinator_epoch current_txn_start_offset TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const describeProducersRequest = message({
  name: 'DescribeProducersRequest',
  apiKey: 61,
  validVersions: '0',
  flexibleVersions: '0+',
  fields: [
    structs('topics', '0+', [field('name', 'string', '0+'), field('partitionIndexes', '[]int32', '0+')]),
  ],
});

export const describeProducersResponse = message({
  name: 'DescribeProducersResponse',
  apiKey: 61,
  validVersions: '0',
  flexibleVersions: '0+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    structs('topics', '0+', [
      field('name', 'string', '0+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
        structs('activeProducers', '0+', [
          field('producerId', 'int64', '0+'),
          field('producerEpoch', 'int32', '0+'),
          field('lastSequence', 'int32', '0+', { default: -1 }),
          field('lastTimestamp', 'int64', '0+', { default: -1 }),
          field('coordinatorEpoch', 'int32', '0+'),
          field('currentTxnStartOffset', 'int64', '0+', { default: -1 }),
        ]),
      ]),
    ]),
  ],
});

export type DescribeProducersRequest = MessageValue<typeof describeProducersRequest>;
export type DescribeProducersResponse = MessageValue<typeof describeProducersResponse>;
