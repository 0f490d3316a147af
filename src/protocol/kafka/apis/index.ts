/**
 * The one table of the APIs the Kafka listener serves: key, name, the version range we advertise in
 * ApiVersions, and the compiled request and response schemas. Everything else (the ApiVersions
 * answer, header versions, the fuzz and round-trip tests) reads this table, so a version is added or
 * removed here and nowhere else.
 *
 * Minima: issue 5's; maxima: Kafka 4's. Two traps are settled here: Produce starts at 0 and the group APIs
 * (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch) start at
 * 0, because librdkafka enables compression and consumer groups only when those version-0 ranges are
 * advertised (its feature map in rdkafka_feature.c checks for them).
 */
import assert from 'node:assert/strict';
import { type CompiledMessage, compileMessage, type MessageSpec } from '../schema.ts';
import { alterConfigsRequest, alterConfigsResponse } from './alter-configs.ts';
import {
  alterPartitionReassignmentsRequest,
  alterPartitionReassignmentsResponse,
} from './alter-partition-reassignments.ts';
import { apiVersionsRequest, apiVersionsResponse } from './api-versions.ts';
import { consumerGroupDescribeRequest, consumerGroupDescribeResponse } from './consumer-group-describe.ts';
import { consumerGroupHeartbeatRequest, consumerGroupHeartbeatResponse } from './consumer-group-heartbeat.ts';
import { createPartitionsRequest, createPartitionsResponse } from './create-partitions.ts';
import { createTopicsRequest, createTopicsResponse } from './create-topics.ts';
import { deleteGroupsRequest, deleteGroupsResponse } from './delete-groups.ts';
import { deleteRecordsRequest, deleteRecordsResponse } from './delete-records.ts';
import { deleteTopicsRequest, deleteTopicsResponse } from './delete-topics.ts';
import { describeClusterRequest, describeClusterResponse } from './describe-cluster.ts';
import { describeConfigsRequest, describeConfigsResponse } from './describe-configs.ts';
import { describeGroupsRequest, describeGroupsResponse } from './describe-groups.ts';
import { describeLogDirsRequest, describeLogDirsResponse } from './describe-log-dirs.ts';
import { describeProducersRequest, describeProducersResponse } from './describe-producers.ts';
import { electLeadersRequest, electLeadersResponse } from './elect-leaders.ts';
import { fetchRequest, fetchResponse } from './fetch.ts';
import { findCoordinatorRequest, findCoordinatorResponse } from './find-coordinator.ts';
import { heartbeatRequest, heartbeatResponse } from './heartbeat.ts';
import {
  incrementalAlterConfigsRequest,
  incrementalAlterConfigsResponse,
} from './incremental-alter-configs.ts';
import { initProducerIdRequest, initProducerIdResponse } from './init-producer-id.ts';
import { joinGroupRequest, joinGroupResponse } from './join-group.ts';
import { leaveGroupRequest, leaveGroupResponse } from './leave-group.ts';
import { listGroupsRequest, listGroupsResponse } from './list-groups.ts';
import { listOffsetsRequest, listOffsetsResponse } from './list-offsets.ts';
import {
  listPartitionReassignmentsRequest,
  listPartitionReassignmentsResponse,
} from './list-partition-reassignments.ts';
import { metadataRequest, metadataResponse } from './metadata.ts';
import { offsetCommitRequest, offsetCommitResponse } from './offset-commit.ts';
import { offsetDeleteRequest, offsetDeleteResponse } from './offset-delete.ts';
import { offsetFetchRequest, offsetFetchResponse } from './offset-fetch.ts';
import { produceRequest, produceResponse } from './produce.ts';
import { syncGroupRequest, syncGroupResponse } from './sync-group.ts';

/** API keys by name, as Kafka numbers them (org.apache.kafka.common.protocol.ApiKeys). */
export const API_KEYS = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  DeleteRecords: 21,
  InitProducerId: 22,
  DescribeConfigs: 32,
  AlterConfigs: 33,
  DescribeLogDirs: 35,
  CreatePartitions: 37,
  DeleteGroups: 42,
  ElectLeaders: 43,
  IncrementalAlterConfigs: 44,
  AlterPartitionReassignments: 45,
  ListPartitionReassignments: 46,
  OffsetDelete: 47,
  DescribeCluster: 60,
  DescribeProducers: 61,
  ConsumerGroupHeartbeat: 68,
  ConsumerGroupDescribe: 69,
} as const;

export type ApiName = keyof typeof API_KEYS;

export interface ApiEntry {
  key: number;
  name: ApiName;
  /** The lowest version we advertise and accept. */
  minVersion: number;
  /** The highest version we advertise and accept. */
  maxVersion: number;
  request: CompiledMessage;
  response: CompiledMessage;
}

const table: [ApiName, number, number, MessageSpec, MessageSpec][] = [
  ['Produce', 0, 12, produceRequest, produceResponse],
  ['Fetch', 4, 17, fetchRequest, fetchResponse],
  ['ListOffsets', 1, 10, listOffsetsRequest, listOffsetsResponse],
  ['Metadata', 0, 13, metadataRequest, metadataResponse],
  ['OffsetCommit', 0, 10, offsetCommitRequest, offsetCommitResponse],
  ['OffsetFetch', 0, 10, offsetFetchRequest, offsetFetchResponse],
  ['FindCoordinator', 0, 6, findCoordinatorRequest, findCoordinatorResponse],
  ['JoinGroup', 0, 9, joinGroupRequest, joinGroupResponse],
  ['Heartbeat', 0, 4, heartbeatRequest, heartbeatResponse],
  ['LeaveGroup', 0, 5, leaveGroupRequest, leaveGroupResponse],
  ['SyncGroup', 0, 5, syncGroupRequest, syncGroupResponse],
  ['DescribeGroups', 0, 6, describeGroupsRequest, describeGroupsResponse],
  ['ListGroups', 0, 5, listGroupsRequest, listGroupsResponse],
  ['ApiVersions', 0, 4, apiVersionsRequest, apiVersionsResponse],
  ['CreateTopics', 0, 7, createTopicsRequest, createTopicsResponse],
  ['DeleteTopics', 0, 6, deleteTopicsRequest, deleteTopicsResponse],
  ['InitProducerId', 0, 5, initProducerIdRequest, initProducerIdResponse],
  ['DescribeConfigs', 0, 4, describeConfigsRequest, describeConfigsResponse],
  ['AlterConfigs', 0, 2, alterConfigsRequest, alterConfigsResponse],
  ['IncrementalAlterConfigs', 0, 1, incrementalAlterConfigsRequest, incrementalAlterConfigsResponse],
  ['DeleteRecords', 0, 2, deleteRecordsRequest, deleteRecordsResponse],
  ['DeleteGroups', 0, 2, deleteGroupsRequest, deleteGroupsResponse],
  ['OffsetDelete', 0, 0, offsetDeleteRequest, offsetDeleteResponse],
  ['CreatePartitions', 0, 3, createPartitionsRequest, createPartitionsResponse],
  ['DescribeCluster', 0, 1, describeClusterRequest, describeClusterResponse],
  ['DescribeLogDirs', 0, 4, describeLogDirsRequest, describeLogDirsResponse],
  ['DescribeProducers', 0, 0, describeProducersRequest, describeProducersResponse],
  ['ElectLeaders', 0, 2, electLeadersRequest, electLeadersResponse],
  [
    'AlterPartitionReassignments',
    0,
    1,
    alterPartitionReassignmentsRequest,
    alterPartitionReassignmentsResponse,
  ],
  ['ListPartitionReassignments', 0, 0, listPartitionReassignmentsRequest, listPartitionReassignmentsResponse],
  ['ConsumerGroupHeartbeat', 0, 1, consumerGroupHeartbeatRequest, consumerGroupHeartbeatResponse],
  ['ConsumerGroupDescribe', 0, 1, consumerGroupDescribeRequest, consumerGroupDescribeResponse],
];

/** Every API we serve, by key. */
export const APIS: ReadonlyMap<number, ApiEntry> = new Map(
  table.map(([name, minVersion, maxVersion, req, res]) => {
    const key = API_KEYS[name];
    assert.equal(req.apiKey, key, `${name} request schema has key ${req.apiKey}`);
    assert.equal(res.apiKey, key, `${name} response schema has key ${res.apiKey}`);
    const request = compileMessage(req);
    const response = compileMessage(res);
    // The schemas must cover every version we advertise, for both directions.
    for (const m of [request, response]) {
      assert.ok(
        m.minVersion <= minVersion && m.maxVersion >= maxVersion,
        `${m.spec.name} misses advertised versions`,
      );
    }
    return [key, { key, name, minVersion, maxVersion, request, response }];
  }),
);

/** The entry for an API key, or undefined if we do not serve it. */
export function apiByKey(key: number): ApiEntry | undefined {
  return APIS.get(key);
}

/**
 * Request header version for an API version: 2 (with tagged fields) when the request body is
 * flexible, else 1 (KIP-482). We serve no API whose requests use header version 0.
 */
export function requestHeaderVersion(api: ApiEntry, version: number): 1 | 2 {
  return api.request.isFlexible(version) ? 2 : 1;
}

/**
 * Response header version: 1 (with tagged fields) when the response body is flexible, else 0 —
 * except ApiVersions, whose response header is always 0 so that a client can parse it before it
 * knows which versions we speak (KIP-511; Kafka's ApiKeys.API_VERSIONS.responseHeaderVersion).
 */
export function responseHeaderVersion(api: ApiEntry, version: number): 0 | 1 {
  if (api.key === API_KEYS.ApiVersions) return 0;
  return api.response.isFlexible(version) ? 1 : 0;
}
