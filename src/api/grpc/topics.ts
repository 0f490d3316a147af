/**
 * The gRPC door's topic RPCs (broker.proto): CreateTopic, DeleteTopic, ListTopics, DescribeTopic and
 * AlterTopicConfigs, each one call of the core.
 */
import { int, requireString, topicInfo, type UnaryRpcs } from './rpc.ts';
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
    AlterTopicConfigs: async (req: { name?: string; configs?: Record<string, string> }) => {
      const name = requireString(req.name, 'name');
      const t = await core.alterTopicConfigs(name, req.configs ?? {});
      return { topic: topicInfo(t, core.describeTopic(name)) };
    },
  };
}
