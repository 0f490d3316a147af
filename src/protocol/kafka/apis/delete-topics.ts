/**
 * DeleteTopics (API key 20), versions 0-6. From apache/kafka DeleteTopicsRequest.json and
 * DeleteTopicsResponse.json.
 *
 * 1 adds throttle time; 3 may return TOPIC_DELETION_DISABLED; 4 is the first flexible version; 5
 * adds an error message; 6 names topics by name or id (KIP-516), replacing TopicNames with Topics.
 *
 * DeleteTopics Request (Version: 6) => [topics] timeout_ms TAGGED_FIELDS
 *   topics => name topic_id TAGGED_FIELDS        (name => COMPACT_NULLABLE_STRING, topic_id => UUID)
 *   (versions 0-5: [topic_names => STRING] timeout_ms)
 *
 * DeleteTopics Response (Version: 6) => throttle_time_ms [responses] TAGGED_FIELDS
 *   responses => name topic_id error_code error_message TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const deleteTopicsRequest = message({
  name: 'DeleteTopicsRequest',
  apiKey: 20,
  validVersions: '0-6',
  flexibleVersions: '4+',
  fields: [
    structs('topics', '6+', [
      field('name', 'string', '6+', { nullable: '6+', default: null }),
      field('topicId', 'uuid', '6+'),
    ]),
    field('topicNames', '[]string', '0-5'),
    field('timeoutMs', 'int32', '0+'),
  ],
});

export const deleteTopicsResponse = message({
  name: 'DeleteTopicsResponse',
  apiKey: 20,
  validVersions: '0-6',
  flexibleVersions: '4+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    structs('responses', '0+', [
      field('name', 'string', '0+', { nullable: '6+' }),
      field('topicId', 'uuid', '6+'),
      field('errorCode', 'int16', '0+'),
      field('errorMessage', 'string', '5+', { nullable: '5+', default: null }),
    ]),
  ],
});

export type DeleteTopicsRequest = MessageValue<typeof deleteTopicsRequest>;
export type DeleteTopicsResponse = MessageValue<typeof deleteTopicsResponse>;
