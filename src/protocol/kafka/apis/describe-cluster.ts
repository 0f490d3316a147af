/**
 * DescribeCluster (API key 60), versions 0-1. From apache/kafka DescribeClusterRequest.json and
 * DescribeClusterResponse.json (KIP-700).
 *
 * Every version is flexible. 1 adds the endpoint type (KIP-919: 1 brokers, 2 controllers) to both.
 *
 * DescribeCluster Request (Version: 1) => include_cluster_authorized_operations endpoint_type
 *                                         TAGGED_FIELDS
 *
 * DescribeCluster Response (Version: 1) => throttle_time_ms error_code error_message endpoint_type
 *                                          cluster_id controller_id [brokers]
 *                                          cluster_authorized_operations TAGGED_FIELDS
 *   brokers => broker_id host port rack TAGGED_FIELDS
 */
import { field, type MessageValue, message, structs } from '../schema.ts';

export const describeClusterRequest = message({
  name: 'DescribeClusterRequest',
  apiKey: 60,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('includeClusterAuthorizedOperations', 'bool', '0+'),
    field('endpointType', 'int8', '1+', { default: 1 }),
  ],
});

export const describeClusterResponse = message({
  name: 'DescribeClusterResponse',
  apiKey: 60,
  validVersions: '0-1',
  flexibleVersions: '0+',
  fields: [
    field('throttleTimeMs', 'int32', '0+'),
    field('errorCode', 'int16', '0+'),
    field('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    field('endpointType', 'int8', '1+', { default: 1 }),
    field('clusterId', 'string', '0+'),
    field('controllerId', 'int32', '0+', { default: -1 }),
    structs('brokers', '0+', [
      field('brokerId', 'int32', '0+'),
      field('host', 'string', '0+'),
      field('port', 'int32', '0+'),
      field('rack', 'string', '0+', { nullable: '0+', default: null }),
    ]),
    field('clusterAuthorizedOperations', 'int32', '0+', { default: -2147483648 }),
  ],
});

export type DescribeClusterRequest = MessageValue<typeof describeClusterRequest>;
export type DescribeClusterResponse = MessageValue<typeof describeClusterResponse>;
