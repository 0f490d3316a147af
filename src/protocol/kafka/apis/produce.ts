/**
 * Produce (API key 0), versions 0-12. From apache/kafka ProduceRequest.json and ProduceResponse.json.
 *
 * Versions 0-2 carry older message formats; 3 adds the transactional id and RecordBatch v2 (magic 2,
 * the only format we store: DESIGN.md decision 1 — a partition whose records are an older format is
 * answered with UNSUPPORTED_FOR_MESSAGE_FORMAT by the handler, not by the codec). 7 permits zstd; 8
 * adds per-record errors to the response; 9 is the first flexible version; 10 adds the tagged
 * CurrentLeader per partition and NodeEndpoints to the response (KIP-951), which a broker fills for
 * NOT_LEADER_OR_FOLLOWER; 11 lets the broker answer TRANSACTION_ABORTABLE (KIP-890); 12 lets a
 * transactional producer skip AddPartitionsToTxn (KIP-890 part 2). The request is the same from 9 to
 * 12. Kafka 4 serves 3-12 (KIP-896); we still advertise version 0: librdkafka enables compression
 * only when the broker's Produce range starts at 0 (issue 5, "Two traps"). The response gains
 * throttle time in 1, LogAppendTime in 2 and LogStartOffset in 5. With acks=0 there is no response at
 * all: the handler returns null.
 *
 * Records stay a raw Buffer view of the request frame; the codec never decodes them.
 *
 * Produce Request (Version: 12) => transactional_id acks timeout_ms [topic_data] TAGGED_FIELDS
 *   transactional_id => COMPACT_NULLABLE_STRING
 *   acks => INT16
 *   timeout_ms => INT32
 *   topic_data => name [partition_data] TAGGED_FIELDS
 *     name => COMPACT_STRING
 *     partition_data => index records TAGGED_FIELDS
 *       index => INT32
 *       records => COMPACT_RECORDS
 *
 * Produce Response (Version: 12) => [responses] throttle_time_ms TAGGED_FIELDS
 *   responses => name [partition_responses] TAGGED_FIELDS
 *     partition_responses => index error_code base_offset log_append_time_ms log_start_offset
 *                            [record_errors] error_message TAGGED_FIELDS
 *       tagged: 0 current_leader (leader_id INT32, leader_epoch INT32) (10+)
 *       index => INT32  error_code => INT16  base_offset => INT64  log_append_time_ms => INT64
 *       log_start_offset => INT64
 *       record_errors => batch_index batch_index_error_message TAGGED_FIELDS
 *         batch_index => INT32  batch_index_error_message => COMPACT_NULLABLE_STRING
 *       error_message => COMPACT_NULLABLE_STRING
 *   throttle_time_ms => INT32
 *   tagged: 0 node_endpoints => [node_id host port rack] (10+)
 */
import { field, type MessageValue, message, structs } from '../schema.ts';
import { currentLeader, nodeEndpoints } from './common-structs.ts';

export const produceRequest = message({
  name: 'ProduceRequest',
  apiKey: 0,
  validVersions: '0-12',
  flexibleVersions: '9+',
  fields: [
    field('transactionalId', 'string', '3+', { nullable: '3+', default: null }),
    field('acks', 'int16', '0+'),
    field('timeoutMs', 'int32', '0+'),
    structs('topicData', '0+', [
      field('name', 'string', '0+'),
      structs('partitionData', '0+', [
        field('index', 'int32', '0+'),
        field('records', 'records', '0+', { nullable: '0+' }),
      ]),
    ]),
  ],
});

export const produceResponse = message({
  name: 'ProduceResponse',
  apiKey: 0,
  validVersions: '0-12',
  flexibleVersions: '9+',
  fields: [
    structs('responses', '0+', [
      field('name', 'string', '0+'),
      structs('partitionResponses', '0+', [
        field('index', 'int32', '0+'),
        field('errorCode', 'int16', '0+'),
        field('baseOffset', 'int64', '0+'),
        field('logAppendTimeMs', 'int64', '2+', { default: -1 }),
        field('logStartOffset', 'int64', '5+', { default: -1 }),
        structs('recordErrors', '8+', [
          field('batchIndex', 'int32', '8+'),
          field('batchIndexErrorMessage', 'string', '8+', { nullable: '8+', default: null }),
        ]),
        field('errorMessage', 'string', '8+', { nullable: '8+', default: null }),
        currentLeader('10+', 0),
      ]),
    ]),
    field('throttleTimeMs', 'int32', '1+'),
    nodeEndpoints('10+', 0),
  ],
});

export type ProduceRequest = MessageValue<typeof produceRequest>;
export type ProduceResponse = MessageValue<typeof produceResponse>;
