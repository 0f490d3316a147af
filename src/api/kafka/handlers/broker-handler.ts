/**
 * The Kafka front door's handler: routes each decoded request to its API's handler, one file per API
 * in this folder (STYLE.md, after Redpanda's kafka/server/handlers/*.cc). The handlers say what each
 * request means in terms of the broker core (topics, produce, fetch, through its partition view) and
 * the group service (groups, offsets), the same core the gRPC door uses, so that whatever one door
 * creates the other sees (DESIGN.md decision 2). Errors reach clients as Kafka error codes inside
 * responses; only bugs reject.
 */
import type { AlterConfigsRequest } from '../../../protocol/kafka/apis/alter-configs.ts';
import type { AlterPartitionReassignmentsRequest } from '../../../protocol/kafka/apis/alter-partition-reassignments.ts';
import type { ConsumerGroupDescribeRequest } from '../../../protocol/kafka/apis/consumer-group-describe.ts';
import type { ConsumerGroupHeartbeatRequest } from '../../../protocol/kafka/apis/consumer-group-heartbeat.ts';
import type { CreatePartitionsRequest } from '../../../protocol/kafka/apis/create-partitions.ts';
import type { CreateTopicsRequest } from '../../../protocol/kafka/apis/create-topics.ts';
import type { DeleteGroupsRequest } from '../../../protocol/kafka/apis/delete-groups.ts';
import type { DeleteRecordsRequest } from '../../../protocol/kafka/apis/delete-records.ts';
import type { DeleteTopicsRequest } from '../../../protocol/kafka/apis/delete-topics.ts';
import type { DescribeClusterRequest } from '../../../protocol/kafka/apis/describe-cluster.ts';
import type { DescribeConfigsRequest } from '../../../protocol/kafka/apis/describe-configs.ts';
import type { DescribeGroupsRequest } from '../../../protocol/kafka/apis/describe-groups.ts';
import type { DescribeLogDirsRequest } from '../../../protocol/kafka/apis/describe-log-dirs.ts';
import type { DescribeProducersRequest } from '../../../protocol/kafka/apis/describe-producers.ts';
import type { ElectLeadersRequest } from '../../../protocol/kafka/apis/elect-leaders.ts';
import type { FetchRequest } from '../../../protocol/kafka/apis/fetch.ts';
import type { FindCoordinatorRequest } from '../../../protocol/kafka/apis/find-coordinator.ts';
import type { HeartbeatRequest } from '../../../protocol/kafka/apis/heartbeat.ts';
import type { IncrementalAlterConfigsRequest } from '../../../protocol/kafka/apis/incremental-alter-configs.ts';
import type { InitProducerIdRequest } from '../../../protocol/kafka/apis/init-producer-id.ts';
import type { JoinGroupRequest } from '../../../protocol/kafka/apis/join-group.ts';
import type { LeaveGroupRequest } from '../../../protocol/kafka/apis/leave-group.ts';
import type { ListGroupsRequest } from '../../../protocol/kafka/apis/list-groups.ts';
import type { ListOffsetsRequest } from '../../../protocol/kafka/apis/list-offsets.ts';
import type { ListPartitionReassignmentsRequest } from '../../../protocol/kafka/apis/list-partition-reassignments.ts';
import type { MetadataRequest } from '../../../protocol/kafka/apis/metadata.ts';
import type { OffsetCommitRequest } from '../../../protocol/kafka/apis/offset-commit.ts';
import type { OffsetDeleteRequest } from '../../../protocol/kafka/apis/offset-delete.ts';
import type { OffsetFetchRequest } from '../../../protocol/kafka/apis/offset-fetch.ts';
import type { ProduceRequest } from '../../../protocol/kafka/apis/produce.ts';
import type { SyncGroupRequest } from '../../../protocol/kafka/apis/sync-group.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import type { KafkaRequestHandler, RequestContext } from '../handler.ts';
import { handleAlterConfigs } from './alter-configs.ts';
import { handleAlterPartitionReassignments } from './alter-partition-reassignments.ts';
import { handleConsumerGroupDescribe } from './consumer-group-describe.ts';
import { handleConsumerGroupHeartbeat } from './consumer-group-heartbeat.ts';
import { handleCreatePartitions } from './create-partitions.ts';
import { handleCreateTopics } from './create-topics.ts';
import { handleDeleteGroups } from './delete-groups.ts';
import { handleDeleteRecords } from './delete-records.ts';
import { handleDeleteTopics } from './delete-topics.ts';
import { handleDescribeCluster } from './describe-cluster.ts';
import { handleDescribeConfigs } from './describe-configs.ts';
import { handleDescribeGroups } from './describe-groups.ts';
import { handleDescribeLogDirs } from './describe-log-dirs.ts';
import { handleDescribeProducers } from './describe-producers.ts';
import { handleElectLeaders } from './elect-leaders.ts';
import { handleFetch } from './fetch.ts';
import { handleFindCoordinator } from './find-coordinator.ts';
import { handleHeartbeat } from './heartbeat.ts';
import { handleIncrementalAlterConfigs } from './incremental-alter-configs.ts';
import { handleInitProducerId } from './init-producer-id.ts';
import { handleJoinGroup } from './join-group.ts';
import { handleLeaveGroup } from './leave-group.ts';
import { handleListGroups } from './list-groups.ts';
import { handleListOffsets } from './list-offsets.ts';
import { handleListPartitionReassignments } from './list-partition-reassignments.ts';
import { handleMetadata } from './metadata.ts';
import { handleOffsetCommit } from './offset-commit.ts';
import { handleOffsetDelete } from './offset-delete.ts';
import { handleOffsetFetch } from './offset-fetch.ts';
import { handleProduce } from './produce.ts';
import type { BrokerHandlerOptions, HandlerDeps } from './shared.ts';
import { handleSyncGroup } from './sync-group.ts';

export { checkReplicaAssignment } from './create-topics.ts';
export type { BrokerHandlerOptions } from './shared.ts';

export class BrokerKafkaHandler implements KafkaRequestHandler {
  readonly #deps: HandlerDeps;

  constructor(opts: BrokerHandlerOptions) {
    this.#deps = { ...opts, kafkaNodeId: opts.nodeId };
  }

  handle(ctx: RequestContext, request: Message): Promise<Message | null> {
    const deps = this.#deps;
    switch (ctx.apiName) {
      case 'Produce':
        return handleProduce(deps, request as ProduceRequest);
      case 'Fetch':
        return handleFetch(deps, ctx, request as FetchRequest);
      case 'ListOffsets':
        return handleListOffsets(deps, request as ListOffsetsRequest);
      case 'Metadata':
        return handleMetadata(deps, ctx, request as MetadataRequest);
      case 'FindCoordinator':
        return handleFindCoordinator(deps, ctx, request as FindCoordinatorRequest);
      case 'JoinGroup':
        return handleJoinGroup(deps, ctx, request as JoinGroupRequest);
      case 'SyncGroup':
        return handleSyncGroup(deps, request as SyncGroupRequest);
      case 'Heartbeat':
        return Promise.resolve(handleHeartbeat(deps, request as HeartbeatRequest));
      case 'LeaveGroup':
        return Promise.resolve(handleLeaveGroup(deps, ctx, request as LeaveGroupRequest));
      case 'OffsetCommit':
        return handleOffsetCommit(deps, ctx, request as OffsetCommitRequest);
      case 'OffsetFetch':
        return Promise.resolve(handleOffsetFetch(deps, ctx, request as OffsetFetchRequest));
      case 'CreateTopics':
        return handleCreateTopics(deps, ctx, request as CreateTopicsRequest);
      case 'DeleteTopics':
        return handleDeleteTopics(deps, request as DeleteTopicsRequest);
      case 'InitProducerId':
        return handleInitProducerId(deps, request as InitProducerIdRequest);
      case 'ListGroups':
        return Promise.resolve(handleListGroups(deps, request as ListGroupsRequest));
      case 'DescribeGroups':
        return Promise.resolve(handleDescribeGroups(deps, ctx, request as DescribeGroupsRequest));
      case 'DescribeConfigs':
        return Promise.resolve(handleDescribeConfigs(deps, ctx, request as DescribeConfigsRequest));
      case 'DescribeCluster':
        return Promise.resolve(handleDescribeCluster(deps, ctx, request as DescribeClusterRequest));
      case 'AlterConfigs':
        return handleAlterConfigs(deps, request as AlterConfigsRequest);
      case 'IncrementalAlterConfigs':
        return handleIncrementalAlterConfigs(deps, request as IncrementalAlterConfigsRequest);
      case 'DeleteRecords':
        return handleDeleteRecords(deps, request as DeleteRecordsRequest);
      case 'DeleteGroups':
        return handleDeleteGroups(deps, request as DeleteGroupsRequest);
      case 'OffsetDelete':
        return handleOffsetDelete(deps, request as OffsetDeleteRequest);
      case 'CreatePartitions':
        return handleCreatePartitions(deps, request as CreatePartitionsRequest);
      case 'DescribeLogDirs':
        return handleDescribeLogDirs(deps, request as DescribeLogDirsRequest);
      case 'DescribeProducers':
        return handleDescribeProducers(deps, request as DescribeProducersRequest);
      case 'ElectLeaders':
        return handleElectLeaders(deps, request as ElectLeadersRequest);
      case 'AlterPartitionReassignments':
        return handleAlterPartitionReassignments(deps, request as AlterPartitionReassignmentsRequest);
      case 'ListPartitionReassignments':
        return Promise.resolve(
          handleListPartitionReassignments(deps, request as ListPartitionReassignmentsRequest),
        );
      case 'ConsumerGroupHeartbeat':
        return handleConsumerGroupHeartbeat(deps, ctx, request as ConsumerGroupHeartbeatRequest);
      case 'ConsumerGroupDescribe':
        return Promise.resolve(
          handleConsumerGroupDescribe(deps, ctx, request as ConsumerGroupDescribeRequest),
        );
      default:
        return Promise.reject(new Error(`no handler for ${ctx.apiName}`));
    }
  }
}
