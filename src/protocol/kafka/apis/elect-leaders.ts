/**
 * ElectLeaders (API key 43), versions 0-2 (KIP-183, KIP-460). From apache/kafka ElectLeadersRequest.json
 * and ElectLeadersResponse.json.
 *
 * Version 0 has no election type and always means a preferred election; 1 adds the election type
 * (0 preferred, 1 unclean) to the request and a top-level error code to the response; 2 is the first
 * flexible version.
 *
 * ElectLeaders Request (Version: 2) => election_type [topic_partitions] timeout_ms TAGGED_FIELDS
 *   election_type => INT8 (v1+)
 *   topic_partitions => topic [partitions] TAGGED_FIELDS
 *     (topic_partitions: a nullable array; null asks for every partition of every topic)
 *     partitions => INT32
 *
 * ElectLeaders Response (Version: 2) => throttle_time_ms error_code [replica_election_results] TAGGED_FIELDS
 *   error_code => INT16 (v1+)
 *   replica_election_results => topic [partition_result] TAGGED_FIELDS
 *     partition_result => partition_id error_code error_message TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

/** The request's election types, as Kafka numbers them (org.apache.kafka.common.ElectionType). */
export const ELECTION_TYPES = { preferred: 0, unclean: 1 } as const;

export const electLeadersRequest = message({
  name: 'ElectLeadersRequest',
  apiKey: 43,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    field('electionType', 'int8', '1+'),
    structs('topicPartitions', '0+', [field('topic', 'string', '0+'), field('partitions', '[]int32', '0+')], {
      nullable: '0+',
    }),
    field('timeoutMs', 'int32', '0+', { default: 60000 }),
  ],
});

export const electLeadersResponse = message({
  name: 'ElectLeadersResponse',
  apiKey: 43,
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('errorCode', 'int16', '1+'),
    structs('replicaElectionResults', '0+', [
      field('topic', 'string', '0+'),
      structs('partitionResult', '0+', [
        field('partitionId', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
        field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      ]),
    ]),
  ],
});

export type ElectLeadersRequest = MessageValue<typeof electLeadersRequest>;
export type ElectLeadersResponse = MessageValue<typeof electLeadersResponse>;
