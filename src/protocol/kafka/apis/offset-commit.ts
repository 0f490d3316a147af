/**
 * OffsetCommit (API key 8), versions 0-10. From apache/kafka OffsetCommitRequest.json and
 * OffsetCommitResponse.json.
 *
 * 1 adds the generation, member id and a per-partition commit timestamp; 2 replaces that timestamp
 * with a request-wide retention time, which 5 removes again (retention became broker config); 6 adds
 * the committed leader epoch; 7 static membership; 8 is the first flexible version; 9 is the same
 * message, the first usable with the consumer group protocol (KIP-848), where the generation field
 * (Kafka's GenerationIdOrMemberEpoch, `generationId` here) carries the member epoch, and a commit with
 * a generation to a group that does not exist is answered GROUP_ID_NOT_FOUND rather than
 * ILLEGAL_GENERATION; 10 names topics by id instead of by name, in the request and the response
 * (KIP-848; unstable in Kafka 4.1, stable from 4.2), and answers UNKNOWN_TOPIC_ID for an id no topic
 * has. Kafka 4 serves 2-10 (KIP-896); we keep 0 and 1, which librdkafka needs advertised to enable
 * consumer groups and kafka-python 2.0.2 sends.
 *
 * OffsetCommit Request (Version: 10) => group_id generation_id member_id group_instance_id [topics]
 *                                       TAGGED_FIELDS
 *   topics => topic_id [partitions] TAGGED_FIELDS      (versions 0-9: name => STRING in its place)
 *     partitions => partition_index committed_offset committed_leader_epoch committed_metadata
 *                   TAGGED_FIELDS                  (committed_metadata => COMPACT_NULLABLE_STRING)
 *   (version 1: commit_timestamp INT64 after committed_offset; versions 2-4: retention_time_ms INT64
 *    after group_instance_id's position)
 *
 * OffsetCommit Response (Version: 10) => throttle_time_ms [topics] TAGGED_FIELDS
 *   topics => topic_id [partitions => partition_index error_code TAGGED_FIELDS] TAGGED_FIELDS
 *   (versions 0-9: name => STRING in topic_id's place)
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const offsetCommitRequest = message({
  name: 'OffsetCommitRequest',
  apiKey: 8,
  validVersions: '0-10',
  flexibleVersions: '8+',
  fields: [
    field('groupId', 'string', '0+'),
    field('generationId', 'int32', '1+', { default: -1 }),
    field('memberId', 'string', '1+'),
    field('groupInstanceId', 'string', '7+', { nullable: '7+', default: null }),
    field('retentionTimeMs', 'int64', '2-4', { default: -1 }),
    structs('topics', '0+', [
      field('name', 'string', '0-9'),
      field('topicId', 'uuid', '10+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        // Exact beyond 2^53: a commit is stored as sent or refused, never altered (issue 10).
        field('committedOffset', 'int64', '0+', { beyondSafe: 'bigint' }),
        field('committedLeaderEpoch', 'int32', '6+', { default: -1 }),
        field('commitTimestamp', 'int64', '1', { default: -1 }),
        field('committedMetadata', 'string', '0+', { nullable: '0+' }),
      ]),
    ]),
  ],
});

export const offsetCommitResponse = message({
  name: 'OffsetCommitResponse',
  apiKey: 8,
  validVersions: '0-10',
  flexibleVersions: '8+',
  fields: [
    field('throttleTimeMs', 'int32', '3+'),
    structs('topics', '0+', [
      field('name', 'string', '0-9'),
      field('topicId', 'uuid', '10+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
      ]),
    ]),
  ],
});

export type OffsetCommitRequest = MessageValue<typeof offsetCommitRequest>;
export type OffsetCommitResponse = MessageValue<typeof offsetCommitResponse>;
