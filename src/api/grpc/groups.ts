/**
 * The gRPC door's consumer-group RPCs (broker.proto): join (with server-side assignment), heartbeat,
 * leave, commit and fetch offsets, list and describe (with each partition's lag), through the group
 * service.
 */
import {
  assignedPartitions,
  decodeServerAssignment,
  encodeSubscription,
  SERVER_ASSIGNED,
} from '../../broker/groups/coordinator.ts';
import { BrokerError } from '../../errors.ts';
import { requireString, type UnaryRpcs } from './rpc.ts';
import type { GrpcServerOptions } from './server.ts';

export function groupRpcs(opts: GrpcServerOptions): UnaryRpcs {
  const core = opts.core;
  return {
    JoinConsumerGroup: async (
      req: {
        groupId?: string;
        memberId?: string;
        topics?: string[];
        strategies?: string[];
        sessionTimeoutMs?: number;
        rebalanceTimeoutMs?: number;
        clientId?: string;
        groupInstanceId?: string;
      },
      call,
    ) => {
      const topics = req.topics ?? [];
      if (topics.length === 0)
        throw new BrokerError('INVALID_REQUEST', 'a member must subscribe to at least one topic');
      for (const t of topics) core.partitionCount(t);
      const strategies = req.strategies?.length ? req.strategies : ['range'];
      const d = opts.groupDefaults;
      const r = await opts.groups.join({
        groupId: req.groupId ?? '',
        memberId: req.memberId ?? '',
        groupInstanceId: req.groupInstanceId || null,
        clientId: req.clientId ?? '',
        clientHost: call.getPeer(),
        protocolType: SERVER_ASSIGNED,
        protocols: strategies.map((name) => ({ name, metadata: encodeSubscription(topics) })),
        sessionTimeoutMs: req.sessionTimeoutMs || d.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs || d.rebalanceTimeoutMs,
        requireKnownMemberId: false,
      });
      return {
        memberId: r.memberId,
        generationId: r.generationId,
        leaderId: r.leaderId,
        strategy: r.protocolName,
        assignments: decodeServerAssignment(r.assignment ?? Buffer.alloc(0)),
        // A third of the member's session, at most, so that two lost heartbeats do not end it.
        heartbeatIntervalMs: Math.min(
          d.heartbeatIntervalMs,
          Math.floor((req.sessionTimeoutMs || d.sessionTimeoutMs) / 3),
        ),
      };
    },
    Heartbeat: (req: { groupId?: string; memberId?: string; generationId?: number }) => {
      try {
        opts.groups.heartbeat(req.groupId ?? '', req.memberId ?? '', req.generationId ?? 0);
        return { rebalanceNeeded: false };
      } catch (err) {
        const code = (err as BrokerError).code;
        if (code === 'REBALANCE_IN_PROGRESS' || code === 'ILLEGAL_GENERATION')
          return { rebalanceNeeded: true };
        throw err;
      }
    },
    LeaveGroup: (req: { groupId?: string; memberId?: string }) => {
      const [err] = opts.groups.leave(requireString(req.groupId, 'group_id'), [
        { memberId: requireString(req.memberId, 'member_id') },
      ]);
      if (err) throw err;
      return {};
    },
    CommitOffset: async (req: {
      groupId?: string;
      memberId?: string;
      generationId?: number;
      offsets?: { topic?: string; partition?: number; offset?: number; metadata?: string }[];
    }) => {
      const offsets = (req.offsets ?? []).map((o) => ({
        topic: o.topic ?? '',
        partition: o.partition ?? 0,
        offset: o.offset ?? 0,
        metadata: o.metadata ?? '',
      }));
      const results = await opts.groups.commit(
        requireString(req.groupId, 'group_id'),
        req.memberId ?? '',
        req.generationId ?? -1,
        offsets,
      );
      return { results: offsets.map((o, i) => ({ ...o, error: results[i]?.code ?? '' })) };
    },
    FetchOffset: (req: { groupId?: string; partitions?: { topic?: string; partitions?: number[] }[] }) => {
      const groupId = requireString(req.groupId, 'group_id');
      const wanted = (req.partitions ?? []).flatMap((t) =>
        (t.partitions ?? []).map((partition) => ({ topic: t.topic ?? '', partition })),
      );
      const found = opts.groups.fetchOffsets(groupId, wanted.length ? wanted : undefined);
      return {
        offsets: found.map((o) => ({
          topic: o.topic,
          partition: o.partition,
          offset: o.value?.offset ?? -1,
          metadata: o.value?.metadata ?? '',
        })),
      };
    },
    ListGroups: () => ({
      // KIP-848 consumer groups too (their offsets sit in a classic entry of the same id, not listed).
      groups: [
        ...opts.groups.coordinator
          .groupIds()
          .filter((id) => !opts.groups.consumerGroups.has(id))
          .map((id) => opts.groups.coordinator.snapshot(id)!)
          .map((g) => ({
            groupId: g.groupId,
            state: g.state as string,
            protocolType: g.protocolType ?? '',
            members: g.members.length,
          })),
        ...opts.groups.consumerGroups.groupIds().map((id) => {
          const g = opts.groups.consumerGroups.snapshot(id)!;
          return {
            groupId: id,
            state: g.state as string,
            protocolType: 'consumer',
            members: g.members.length,
          };
        }),
      ].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0)),
    }),
    DeleteGroup: async (req: { groupId?: string }) => {
      await opts.groups.deleteGroup(requireString(req.groupId, 'group_id'));
      return {};
    },
    DeleteOffsets: async (req: {
      groupId?: string;
      partitions?: { topic?: string; partitions?: number[] }[];
    }) => {
      const groupId = requireString(req.groupId, 'group_id');
      const wanted = (req.partitions ?? []).flatMap((t) =>
        (t.partitions ?? []).map((partition) => ({ topic: t.topic ?? '', partition })),
      );
      const errors = await opts.groups.deleteOffsets(groupId, wanted);
      return { results: wanted.map((w, i) => ({ ...w, error: errors[i]?.code ?? '' })) };
    },
    DescribeGroup: (req: { groupId?: string }) => {
      const groupId = requireString(req.groupId, 'group_id');
      const offsets = () =>
        opts.groups.lag(groupId).map((l) => ({
          topic: l.topic,
          partition: l.partition,
          committedOffset: l.committed,
          logEndOffset: l.logEndOffset,
          lag: l.lag,
        }));
      const consumer = opts.groups.describeConsumerGroup(groupId);
      if (consumer)
        // A KIP-848 group: its group epoch stands for the generation, its server assignor for the strategy.
        return {
          groupId,
          state: consumer.state,
          protocolType: 'consumer',
          strategy: consumer.assignor,
          generationId: consumer.groupEpoch,
          leaderId: '',
          members: consumer.members.map((m) => ({
            memberId: m.memberId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            assignments: m.assigned.flatMap((t) => {
              const topic = opts.groups.topicName(t.topicId);
              return topic === null ? [] : [{ topic, partitions: t.partitions }];
            }),
          })),
          offsets: offsets(),
        };
      const g = opts.groups.describe(groupId);
      if (!g) throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
      return {
        groupId,
        state: g.state,
        protocolType: g.protocolType ?? '',
        strategy: g.protocolName ?? '',
        generationId: g.generationId,
        leaderId: g.leaderId ?? '',
        members: g.members.map((m) => ({
          memberId: m.memberId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          assignments: assignedPartitions(g.protocolType, m.assignment),
        })),
        offsets: opts.groups.lag(groupId).map((l) => ({
          topic: l.topic,
          partition: l.partition,
          committedOffset: l.committed,
          logEndOffset: l.logEndOffset,
          lag: l.lag,
        })),
      };
    },
  };
}
