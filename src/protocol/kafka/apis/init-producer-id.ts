/**
 * InitProducerId (API key 22), versions 0-5. From apache/kafka InitProducerIdRequest.json and
 * InitProducerIdResponse.json.
 *
 * 2 is the first flexible version; 3 lets a producer pass its current id and epoch to resume after
 * INVALID_PRODUCER_EPOCH (KIP-360); 4 may return PRODUCER_FENCED; 5 may return
 * TRANSACTION_ABORTABLE (KIP-890). The wire format of 3-5 is the same.
 *
 * InitProducerId Request (Version: 5) => transactional_id transaction_timeout_ms producer_id
 *                                        producer_epoch TAGGED_FIELDS
 *   transactional_id => COMPACT_NULLABLE_STRING  transaction_timeout_ms => INT32
 *   producer_id => INT64  producer_epoch => INT16
 *
 * InitProducerId Response (Version: 5) => throttle_time_ms error_code producer_id producer_epoch
 *                                         TAGGED_FIELDS
 */
import { field, type MessageValue, message } from '../schema.ts';

export const initProducerIdRequest = message({
  name: 'InitProducerIdRequest',
  apiKey: 22,
  validVersions: '0-5',
  flexibleVersions: '2+',
  fields: [
    field('transactionalId', 'string', '0+', { nullable: '0+', default: null }),
    field('transactionTimeoutMs', 'int32', '0+'),
    // An identity: exact beyond 2^53, so that it is never mistaken for another producer's id.
    field('producerId', 'int64', '3+', { default: -1, beyondSafe: 'bigint' }),
    field('producerEpoch', 'int16', '3+', { default: -1 }),
  ],
});

export const initProducerIdResponse = message({
  name: 'InitProducerIdResponse',
  apiKey: 22,
  validVersions: '0-5',
  flexibleVersions: '2+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('errorCode', 'int16', '0+'),
    field('producerId', 'int64', '0+', { default: -1 }),
    field('producerEpoch', 'int16', '0+'),
  ],
});

export type InitProducerIdRequest = MessageValue<typeof initProducerIdRequest>;
export type InitProducerIdResponse = MessageValue<typeof initProducerIdResponse>;
