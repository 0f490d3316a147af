/**
 * The gRPC door's topic RPCs (broker.proto): CreateTopic, DeleteTopic, ListTopics, DescribeTopic,
 * AlterTopicConfigs, CreatePartitions and DeleteRecords, each one call of the core.
 */
import { BrokerError } from '../../errors.ts';
import { adminPartitionsPerRequestMax } from './limits.ts';
import { int, replicaList, requireString, topicInfo, type UnaryRpcs } from './rpc.ts';
import type { GrpcServerOptions } from './server.ts';

export function topicRpcs(opts: GrpcServerOptions): UnaryRpcs {
  const core = opts.core;
  return {
    CreateTopic: async (req: {
      name?: string;
      partitions?: number;
      replicationFactor?: number;
      configs?: Record<string, string>;
    }) => {
      const t = await core.createTopic({
        name: requireString(req.name, 'name'),
        partitions: req.partitions ? int(req.partitions, 'partitions', 1, 1_000_000, 1) : undefined,
        replicationFactor: req.replicationFactor ? req.replicationFactor : undefined,
        configs: req.configs ?? {},
      });
      return { topic: topicInfo(t, core.describeTopic(t.name)) };
    },
    DeleteTopic: async (req: { name?: string }) => {
      await core.deleteTopic(requireString(req.name, 'name'));
      return {};
    },
    ListTopics: () => ({ topics: core.listTopics().map((t) => topicInfo(t)) }),
    DescribeTopic: (req: { name?: string }) => {
      const name = requireString(req.name, 'name');
      const d = core.describeTopic(name);
      return { topic: topicInfo(core.metadata.getTopic(name)!, d) };
    },
    AlterTopicConfigs: async (req: {
      name?: string;
      configs?: Record<string, string>;
      deleteKeys?: string[];
    }) => {
      const name = requireString(req.name, 'name');
      const t = await core.alterTopicConfigs(name, req.configs ?? {}, { remove: req.deleteKeys ?? [] });
      return { topic: topicInfo(t, core.describeTopic(name)) };
    },
    CreatePartitions: async (req: {
      name?: string;
      count?: number;
      assignments?: { replicas?: number[] }[];
    }) => {
      const name = requireString(req.name, 'name');
      const count = int(req.count, 'count', 1, 2 ** 31 - 1, 0);
      const wire = req.assignments ?? [];
      if (wire.length > adminPartitionsPerRequestMax)
        throw new BrokerError(
          'POLICY_VIOLATION',
          `a CreatePartitions request may carry at most ${adminPartitionsPerRequestMax} assignments (adminPartitionsPerRequestMax)`,
        );
      const assignments = wire.map((a, i) => replicaList(a.replicas, `assignments[${i}]`));
      const current = core.metadata.getTopic(name)?.partitions;
      // Not larger: the core's INVALID_PARTITIONS says so.
      if (
        assignments.length > 0 &&
        current !== undefined &&
        count > current &&
        assignments.length !== count - current
      )
        throw new BrokerError(
          'INVALID_REPLICA_ASSIGNMENT',
          `${name} has ${current} partitions: raising it to ${count} takes ${count - current} replica lists, got ${assignments.length}`,
        );
      const t = await core.createPartitions(name, count, assignments.length > 0 ? { assignments } : {});
      return { topic: topicInfo(t, core.describeTopic(name)) };
    },
    DeleteRecords: async (req: { topic?: string; partition?: number; offset?: number }) => {
      const lowWatermark = await core.deleteRecords(
        requireString(req.topic, 'topic'),
        int(req.partition, 'partition', 0, 2 ** 31 - 1, 0),
        int(req.offset, 'offset', -1, Number.MAX_SAFE_INTEGER, 0),
      );
      return { lowWatermark };
    },
  };
}
