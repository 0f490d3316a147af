/**
 * FindCoordinator (API key 10), versions 0-6. From apache/kafka FindCoordinatorRequest.json and
 * FindCoordinatorResponse.json.
 *
 * 1 adds the key type (0 group, 1 transaction) and, in the response, throttle time and an error
 * message; 3 is the first flexible version; 4 batches several keys into one request (KIP-699), which
 * moves the answer into the Coordinators array; 5 lets the broker answer TRANSACTION_ABORTABLE
 * (KIP-890); 6 adds key type 2, a share group's share-partition key (KIP-932). Kafka 4 serves 0-6;
 * version 0 is advertised because librdkafka turns consumer groups on only when the group APIs'
 * version 0 is there (issue 5, "Two traps").
 *
 * FindCoordinator Request (Version: 6) => key_type [coordinator_keys] TAGGED_FIELDS
 *   key_type => INT8   coordinator_keys => COMPACT_STRING     (versions 0-3: key => STRING first)
 *
 * FindCoordinator Response (Version: 6) => throttle_time_ms [coordinators] TAGGED_FIELDS
 *   coordinators => key node_id host port error_code error_message TAGGED_FIELDS
 *   (versions 0-3: throttle_time_ms error_code error_message node_id host port)
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const findCoordinatorRequest = message({
  name: 'FindCoordinatorRequest',
  apiKey: 10,
  validVersions: '0-6',
  flexibleVersions: '3+',
  fields: [
    field('key', 'string', '0-3'),
    field('keyType', 'int8', '1+'),
    field('coordinatorKeys', '[]string', '4+'),
  ],
});

export const findCoordinatorResponse = message({
  name: 'FindCoordinatorResponse',
  apiKey: 10,
  validVersions: '0-6',
  flexibleVersions: '3+',
  fields: [
    field('throttleTimeMs', 'int32', '1+'),
    field('errorCode', 'int16', '0-3'),
    field('errorMessage', 'string', '1-3', { nullable: '1-3', default: null }),
    field('nodeId', 'int32', '0-3'),
    field('host', 'string', '0-3'),
    field('port', 'int32', '0-3'),
    structs('coordinators', '4+', [
      field('key', 'string', '4+'),
      field('nodeId', 'int32', '4+'),
      field('host', 'string', '4+'),
      field('port', 'int32', '4+'),
      field('errorCode', 'int16', '4+'),
      field('errorMessage', 'string', '4+', { nullable: '4+', default: null }),
    ]),
  ],
});

export type FindCoordinatorRequest = MessageValue<typeof findCoordinatorRequest>;
export type FindCoordinatorResponse = MessageValue<typeof findCoordinatorResponse>;
