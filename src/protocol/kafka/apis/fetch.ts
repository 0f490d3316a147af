/**
 * Fetch (API key 1), versions 4-17. From apache/kafka FetchRequest.json and FetchResponse.json.
 *
 * We start at 4, the first version whose responses may carry RecordBatch v2 (the only format we
 * store); Kafka 4 serves 4-17 too (KIP-896 removed 0-3). 5 adds log start offsets; 7 incremental
 * fetch sessions (KIP-227); 9 the current leader epoch (KIP-320); 10 permits zstd; 11 rack-aware
 * fetching (KIP-392); 12 is the first flexible version and adds LastFetchedEpoch for follower
 * divergence checks (KIP-595), with the tagged ClusterId in the request and DivergingEpoch,
 * CurrentLeader and SnapshotId in the response. 13 replaces topic names with topic ids, in the
 * request, its forgotten topics and the response (KIP-516); 14 may answer
 * OFFSET_MOVED_TO_TIERED_STORAGE (KIP-405); 15 moves the replica id into the tagged ReplicaState,
 * with the replica's broker epoch (KIP-903); 16 adds the tagged NodeEndpoints to the response, so
 * a client can reach a new leader named in CurrentLeader (KIP-951); 17 adds the follower's tagged
 * ReplicaDirectoryId (KIP-853). @platformatic/kafka fetches by topic id from 13 on.
 *
 * Records are returned as stored batches: the handler hands over Buffers and the writer appends them
 * to the socket without copying (protocol/writer.ts).
 *
 * Fetch Request (Version: 17) => max_wait_ms min_bytes max_bytes isolation_level session_id
 *                                session_epoch [topics] [forgotten_topics_data] rack_id TAGGED_FIELDS
 *   (replica_id INT32 before max_wait_ms in versions 0-14; topic COMPACT_STRING in place of
 *    topic_id in versions 0-12)
 *   topics => topic_id [partitions] TAGGED_FIELDS
 *     topic_id => UUID
 *     partitions => partition current_leader_epoch fetch_offset last_fetched_epoch log_start_offset
 *                   partition_max_bytes TAGGED_FIELDS
 *       tagged: 0 replica_directory_id UUID (17+)
 *   forgotten_topics_data => topic_id [partitions => INT32] TAGGED_FIELDS
 *   rack_id => COMPACT_STRING
 *   tagged: 0 cluster_id COMPACT_NULLABLE_STRING (12+),
 *           1 replica_state (replica_id INT32, replica_epoch INT64) (15+)
 *
 * Fetch Response (Version: 17) => throttle_time_ms error_code session_id [responses] TAGGED_FIELDS
 *   responses => topic_id [partitions] TAGGED_FIELDS   (topic COMPACT_STRING in versions 0-12)
 *     partitions => partition_index error_code high_watermark last_stable_offset log_start_offset
 *                   [aborted_transactions] preferred_read_replica records TAGGED_FIELDS
 *       aborted_transactions => producer_id first_offset TAGGED_FIELDS  (COMPACT_NULLABLE_ARRAY)
 *       records => COMPACT_RECORDS (nullable)
 *       tagged: 0 diverging_epoch (epoch end_offset), 1 current_leader (leader_id leader_epoch),
 *               2 snapshot_id (end_offset epoch)
 *   tagged: 0 node_endpoints => [node_id host port rack] (16+)
 */
import { field, type MessageValue, message, struct, structs } from '../schema.ts';
import { currentLeader, nodeEndpoints } from './common-structs.ts';

export const fetchRequest = message({
  name: 'FetchRequest',
  apiKey: 1,
  validVersions: '4-17',
  flexibleVersions: '12+',
  fields: [
    field('clusterId', 'string', '12+', { nullable: '12+', default: null, tag: 0, tagged: '12+' }),
    field('replicaId', 'int32', '0-14', { default: -1 }),
    struct(
      'replicaState',
      '15+',
      [
        field('replicaId', 'int32', '15+', { default: -1 }),
        field('replicaEpoch', 'int64', '15+', { default: -1 }),
      ],
      { tag: 1, tagged: '15+' },
    ),
    field('maxWaitMs', 'int32', '0+'),
    field('minBytes', 'int32', '0+'),
    field('maxBytes', 'int32', '3+', { default: 0x7fffffff }),
    field('isolationLevel', 'int8', '4+'),
    field('sessionId', 'int32', '7+'),
    field('sessionEpoch', 'int32', '7+', { default: -1 }),
    structs('topics', '0+', [
      field('topic', 'string', '0-12'),
      field('topicId', 'uuid', '13+'),
      structs('partitions', '0+', [
        field('partition', 'int32', '0+'),
        field('currentLeaderEpoch', 'int32', '9+', { default: -1 }),
        field('fetchOffset', 'int64', '0+'),
        field('lastFetchedEpoch', 'int32', '12+', { default: -1 }),
        field('logStartOffset', 'int64', '5+', { default: -1 }),
        field('partitionMaxBytes', 'int32', '0+'),
        field('replicaDirectoryId', 'uuid', '17+', { tag: 0, tagged: '17+' }),
      ]),
    ]),
    structs('forgottenTopicsData', '7+', [
      field('topic', 'string', '7-12'),
      field('topicId', 'uuid', '13+'),
      field('partitions', '[]int32', '7+'),
    ]),
    field('rackId', 'string', '11+'),
  ],
});

export const fetchResponse = message({
  name: 'FetchResponse',
  apiKey: 1,
  validVersions: '4-17',
  flexibleVersions: '12+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    field('errorCode', 'int16', '7+'),
    field('sessionId', 'int32', '7+'),
    structs('responses', '0+', [
      field('topic', 'string', '0-12'),
      field('topicId', 'uuid', '13+'),
      structs('partitions', '0+', [
        field('partitionIndex', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
        field('highWatermark', 'int64', '0+'),
        field('lastStableOffset', 'int64', '4+', { default: -1 }),
        field('logStartOffset', 'int64', '5+', { default: -1 }),
        struct(
          'divergingEpoch',
          '12+',
          [
            field('epoch', 'int32', '12+', { default: -1 }),
            field('endOffset', 'int64', '12+', { default: -1 }),
          ],
          { tag: 0, tagged: '12+' },
        ),
        currentLeader('12+', 1),
        struct(
          'snapshotId',
          '12+',
          [
            field('endOffset', 'int64', '0+', { default: -1 }),
            field('epoch', 'int32', '0+', { default: -1 }),
          ],
          { tag: 2, tagged: '12+' },
        ),
        structs(
          'abortedTransactions',
          '4+',
          [field('producerId', 'int64', '4+'), field('firstOffset', 'int64', '4+')],
          { nullable: '4+' },
        ),
        field('preferredReadReplica', 'int32', '11+', { default: -1 }),
        field('records', 'records', '0+', { nullable: '0+' }),
      ]),
    ]),
    nodeEndpoints('16+', 0),
  ],
});

export type FetchRequest = MessageValue<typeof fetchRequest>;
export type FetchResponse = MessageValue<typeof fetchResponse>;
