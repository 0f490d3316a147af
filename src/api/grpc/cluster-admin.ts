/**
 * The gRPC door's cluster RPCs (broker.proto): GetServers, RemoveServer (a decommission since issue
 * 14), TransferController, and the partition placement RPCs of issue 14: AlterPartitionReassignments,
 * ListPartitionReassignments, ElectLeaders, PlanRebalance and AlterReplicationFactor. Each request is
 * checked whole before the core is called, so that a malformed one starts nothing; what the
 * controller says of each partition comes back as that partition's PartitionOutcome.
 */
import type { BalancePlan, BrokerLoad, Move } from '../../controller/balancer.ts';
import type { ElectionType, PartitionResult, ReassignmentRequest } from '../../controller/controller.ts';
import { BrokerError } from '../../errors.ts';
import type { MetadataImage } from '../../metadata/image.ts';
import { replicasPerPartitionMax } from '../../metadata/limits.ts';
import { adminPartitionsPerRequestMax } from './limits.ts';
import { int, replicaList, requireString, type UnaryRpcs } from './rpc.ts';
import type { GrpcServerOptions } from './server.ts';

const partitionMax = 2 ** 31 - 1;

interface WireTopicPartitions {
  topic?: string;
  partitions?: number[];
}

interface WireReassignment {
  topic?: string;
  partition?: number;
  replicas?: number[];
  cancel?: boolean;
}

export function clusterAdminRpcs(opts: GrpcServerOptions): UnaryRpcs {
  const core = opts.core;
  return {
    GetServers: () => ({ servers: servers(opts), clusterId: opts.clusterId }),
    RemoveServer: async (req: { nodeId?: number }) => {
      await core.removeNode(int(req.nodeId, 'node_id', 1, 2 ** 31 - 1, 0));
      return {};
    },
    TransferController: async (req: { nodeId?: number }) => ({
      controllerId: await core.transferController(int(req.nodeId, 'node_id', 0, 2 ** 31 - 1, 0)),
    }),

    AlterPartitionReassignments: async (req: { partitions?: WireReassignment[] }) => {
      const entries = req.partitions ?? [];
      if (entries.length === 0)
        throw new BrokerError('INVALID_REQUEST', 'partitions must name at least one partition to move');
      checkCount(entries.length, 'AlterPartitionReassignments');
      const seen = new Set<string>();
      const requests: ReassignmentRequest[] = entries.map((e, i) => {
        const topic = requireString(e.topic, `partitions[${i}].topic`);
        const partition = int(e.partition, `partitions[${i}].partition (${topic})`, 0, partitionMax, 0);
        const where = `${topic}-${partition}`;
        if (seen.has(where))
          throw new BrokerError('INVALID_REQUEST', `partition ${where} is named twice in one request`);
        seen.add(where);
        if (e.cancel) {
          if ((e.replicas ?? []).length > 0)
            throw new BrokerError('INVALID_REQUEST', `${where}: a cancel names no replicas`);
          return { topic, partition, replicas: null };
        }
        return { topic, partition, replicas: replicaList(e.replicas, where) };
      });
      return { results: (await core.alterPartitionReassignments(requests)).map(outcome) };
    },

    ListPartitionReassignments: (req: { topics?: WireTopicPartitions[] }) => {
      const entries = req.topics ?? [];
      const filter =
        entries.length === 0
          ? null
          : entries.map((e, i) => {
              const topic = requireString(e.topic, `topics[${i}].topic`);
              if (!core.metadata.getTopic(topic))
                throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
              const partitions = (e.partitions ?? []).map((p) =>
                int(p, `a partition of ${topic}`, 0, partitionMax, 0),
              );
              return { topic, partitions: partitions.length === 0 ? null : partitions };
            });
      return { reassignments: core.listPartitionReassignments(filter) };
    },

    ElectLeaders: async (req: { type?: string | number; partitions?: WireTopicPartitions[] }) => {
      const type = electionType(req.type);
      const entries = req.partitions ?? [];
      let partitions: { topic: string; partition: number }[] | null = null;
      if (entries.length > 0) {
        partitions = [];
        const seen = new Set<string>();
        for (const [i, e] of entries.entries()) {
          const topic = requireString(e.topic, `partitions[${i}].topic`);
          let numbers = e.partitions ?? [];
          if (numbers.length === 0) {
            // A whole topic: every partition it has now, each answered.
            const t = core.metadata.getTopic(topic);
            if (!t) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${topic} does not exist`);
            checkCount(partitions.length + t.partitions, 'ElectLeaders');
            numbers = Array.from({ length: t.partitions }, (_, p) => p);
          }
          for (const p of numbers) {
            const partition = int(p, `a partition of ${topic}`, 0, partitionMax, 0);
            // Electing twice is electing once (Kafka's ElectLeaders takes a set too).
            if (seen.has(`${topic}-${partition}`)) continue;
            seen.add(`${topic}-${partition}`);
            partitions.push({ topic, partition });
            checkCount(partitions.length, 'ElectLeaders');
          }
        }
      }
      return { results: (await core.electLeaders({ type, partitions })).map(outcome) };
    },

    PlanRebalance: async () => wirePlan(await core.planRebalance()),

    AlterReplicationFactor: async (req: {
      topic?: string;
      replicationFactor?: number;
      validateOnly?: boolean;
    }) => {
      const topic = requireString(req.topic, 'topic');
      const rf = Number(req.replicationFactor ?? 0);
      if (!Number.isSafeInteger(rf) || rf < 1 || rf > replicasPerPartitionMax)
        throw new BrokerError(
          'INVALID_REPLICATION_FACTOR',
          `replication_factor must be between 1 and ${replicasPerPartitionMax} (replicasPerPartitionMax), got ${req.replicationFactor ?? 0}`,
        );
      const moves = await core.alterReplicationFactor(topic, rf, { validateOnly: req.validateOnly ?? false });
      return { moves: moves.map(wireMove) };
    },
  };
}

function checkCount(n: number, method: string): void {
  if (n > adminPartitionsPerRequestMax)
    throw new BrokerError(
      'POLICY_VIOLATION',
      `an ${method} request may name at most ${adminPartitionsPerRequestMax} partitions (adminPartitionsPerRequestMax); send several`,
    );
}

/** The wire's ElectionType as proto-loader decodes it (a name, or the number of an unknown value). */
function electionType(value: string | number | undefined): ElectionType {
  if (value === undefined || value === 'ELECTION_TYPE_PREFERRED' || value === 0) return 'preferred';
  if (value === 'ELECTION_TYPE_UNCLEAN' || value === 1) return 'unclean';
  throw new BrokerError(
    'INVALID_REQUEST',
    `type must be ELECTION_TYPE_PREFERRED (0) or ELECTION_TYPE_UNCLEAN (1), got ${value}`,
  );
}

function outcome(r: PartitionResult) {
  return {
    topic: r.topic,
    partition: r.partition,
    error: r.error ? r.error.code : '',
    message: r.error ? r.error.message : '',
  };
}

function wireMove(m: Move) {
  return { topic: m.topic, partition: m.partition, fromReplicas: m.from, toReplicas: m.to };
}

function wireLoad(l: BrokerLoad) {
  return { nodeId: l.id, replicas: l.replicas, leaders: l.leaders, bytes: l.bytes };
}

function wirePlan(p: BalancePlan) {
  return { moves: p.moves.map(wireMove), before: p.before.map(wireLoad), after: p.after.map(wireLoad) };
}

/** Replicas held and partitions led, per node, in one pass over the image's partitions. */
function loads(image: MetadataImage): Map<number, { replicas: number; leaders: number }> {
  const out = new Map<number, { replicas: number; leaders: number }>();
  const of = (id: number) => {
    let l = out.get(id);
    if (!l) out.set(id, (l = { replicas: 0, leaders: 0 }));
    return l;
  };
  for (const t of image.topicsById.values())
    for (const p of t.partitions) {
      for (const r of p.replicas) of(r).replicas++;
      if (p.leader >= 0) of(p.leader).leaders++;
    }
  return out;
}

/**
 * Every registered node, as the metadata image this node has acted on names them (a node without a
 * gRPC listener yet is left out), and this node whatever the image says so far.
 */
function servers(opts: GrpcServerOptions) {
  const core = opts.core;
  const image = core.metadata.image;
  const { voters } = core.cluster.log.raft.status().conf;
  const leader = core.cluster.log.leader;
  const self = opts.self();
  const held = loads(image);
  const roles = (id: number) => {
    const b = image.brokers.get(id);
    return {
      fenced: b?.fenced ?? true,
      voter: voters.includes(id),
      controllerEligible: b?.controllerEligible ?? true,
      decommissioning: b?.decommissioning ?? false,
      replicas: held.get(id)?.replicas ?? 0,
      leaders: held.get(id)?.leaders ?? 0,
    };
  };
  const others = [...image.brokers.values()]
    .filter((b) => b.id !== self.nodeId)
    .flatMap((b) => {
      const grpcL = b.listeners.find((l) => l.name === 'grpc');
      if (!grpcL) return [];
      return [
        {
          id: core.nodeName(b.id),
          nodeId: b.id,
          address: `${grpcL.host}:${grpcL.port}`,
          kafkaPort: b.listeners.find((l) => l.name === 'kafka')?.port ?? 0,
          isLeader: b.id === leader,
          ...roles(b.id),
        },
      ];
    });
  const mine = { ...self, isLeader: opts.isControllerLeader(), ...roles(self.nodeId) };
  return [mine, ...others].sort((a, b) => a.nodeId - b.nodeId);
}
