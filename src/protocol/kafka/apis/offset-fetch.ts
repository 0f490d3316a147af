/**
 * OffsetFetch (API key 9), versions 0-10. From apache/kafka OffsetFetchRequest.json and
 * OffsetFetchResponse.json.
 *
 * Version 0 read offsets from ZooKeeper in Kafka; for us 0 and 1 are the same (offsets live in
 * __consumer_offsets, DESIGN.md decision 7). 2 allows a null topic list (all topics) and adds a
 * top-level error code; 3 throttle time; 5 the committed leader epoch; 6 is the first flexible
 * version; 7 adds RequireStable (KIP-447); 8 fetches for several groups at once (KIP-709), which
 * moves everything under Groups; 9 adds each group's MemberId and MemberEpoch, which the consumer group
 * protocol (KIP-848) validates and a classic group ignores (Kafka's ClassicGroup.validateOffsetFetch).
 * 10 names each group's topics by id instead of by name, in the request and the response (KIP-848;
 * unstable in Kafka 4.1, stable from 4.2). Kafka 4 serves 1-10 (KIP-896); we keep 0, which
 * kafka-python 2.0.2 and librdkafka 2.0.2 may send.
 *
 * OffsetFetch Request (Version: 10) => [groups] require_stable TAGGED_FIELDS
 *   groups => group_id member_id member_epoch [topics] TAGGED_FIELDS
 *     member_id => COMPACT_NULLABLE_STRING (9+)  member_epoch => INT32 (9+)
 *     (topics: COMPACT_NULLABLE_ARRAY)
 *     topics => topic_id [partition_indexes => INT32] TAGGED_FIELDS   (versions 8-9: name => COMPACT_STRING)
 *   (versions 0-7: group_id [topics] require_stable)
 *
 * OffsetFetch Response (Version: 10) => throttle_time_ms [groups] TAGGED_FIELDS
 *   groups => group_id [topics] error_code TAGGED_FIELDS
 *     topics => topic_id [partitions] TAGGED_FIELDS         (versions 8-9: name => COMPACT_STRING)
 *       partitions => partition_index committed_offset committed_leader_epoch metadata error_code
 *                     TAGGED_FIELDS
 *   (versions 0-7: throttle_time_ms [topics] error_code)
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const offsetFetchRequest = message({
  name: 'OffsetFetchRequest',
  apiKey: 9,
  validVersions: '0-10',
  flexibleVersions: '6+',
  fields: [
    field('groupId', 'string', '0-7'),
    structs('topics', '0-7', [field('name', 'string', '0-7'), field('partitionIndexes', '[]int32', '0-7')], {
      nullable: '2-7',
    }),
    structs('groups', '8+', [
      field('groupId', 'string', '8+'),
      field('memberId', 'string', '9+', { nullable: '9+', default: null }),
      field('memberEpoch', 'int32', '9+', { default: -1 }),
      structs(
        'topics',
        '8+',
        [
          field('name', 'string', '8-9'),
          field('topicId', 'uuid', '10+'),
          field('partitionIndexes', '[]int32', '8+'),
        ],
        {
          nullable: '8+',
        },
      ),
    ]),
    field('requireStable', 'bool', '7+'),
  ],
});

export const offsetFetchResponse = message({
  name: 'OffsetFetchResponse',
  apiKey: 9,
  validVersions: '0-10',
  flexibleVersions: '6+',
  fields: [
    field('throttleTimeMs', 'int32', '3+'),
    structs('topics', '0-7', [
      field('name', 'string', '0-7'),
      structs('partitions', '0-7', [
        field('partitionIndex', 'int32', '0-7'),
        field('committedOffset', 'int64', '0-7'),
        field('committedLeaderEpoch', 'int32', '5-7', { default: -1 }),
        field('metadata', 'string', '0-7', { nullable: '0-7' }),
        field('errorCode', 'int16', '0-7'),
      ]),
    ]),
    field('errorCode', 'int16', '2-7'),
    structs('groups', '8+', [
      field('groupId', 'string', '8+'),
      structs('topics', '8+', [
        field('name', 'string', '8-9'),
        field('topicId', 'uuid', '10+'),
        structs('partitions', '8+', [
          field('partitionIndex', 'int32', '8+'),
          field('committedOffset', 'int64', '8+'),
          field('committedLeaderEpoch', 'int32', '8+', { default: -1 }),
          field('metadata', 'string', '8+', { nullable: '8+' }),
          field('errorCode', 'int16', '8+'),
        ]),
      ]),
      field('errorCode', 'int16', '8+'),
    ]),
  ],
});

export type OffsetFetchRequest = MessageValue<typeof offsetFetchRequest>;
export type OffsetFetchResponse = MessageValue<typeof offsetFetchResponse>;
