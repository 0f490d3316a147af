/**
 * The controller's operations as data (issue 11), so that a node that is not the active controller can
 * forward one to the node that is: `runOp` runs one against the controller, and `encodeOp`/`decodeOp`
 * and `encodeAnswer`/`decodeAnswer` carry it and its answer between nodes as JSON. A forwarded
 * operation arrives on a public listener, so `decodeOp` checks its whole shape (types, list lengths,
 * string lengths) before anything runs; the controller's own checks then apply as for a local call.
 * BrokerErrors inside answers (one per topic of a CreateTopics, one per partition of an
 * AlterPartitions) travel as `{ "$error": code, message }`.
 */
import { BrokerError, ERROR_CODES, type ErrorCode } from '../errors.ts';
import { recordsPerBatchMax, replicasPerPartitionMax, stringLengthMax } from '../metadata/limits.ts';
import { CONFIG_RESOURCE_TYPES, type ConfigResourceType, LISTENER_NAMES } from '../metadata/records.ts';
import type {
  AlterConfigsRequest,
  AlterPartitionItem,
  AlterPartitionRequest,
  AlterPartitionsRequest,
  Controller,
  CreatePartitionsRequest,
  CreateTopicRequest,
  ElectLeadersRequest,
  HeartbeatRequest,
  OperationResult,
  ReassignmentRequest,
  RegisterBrokerRequest,
  ReplicationFactorRequest,
} from './controller.ts';

export type ControllerOp =
  | { op: 'registerBroker'; request: RegisterBrokerRequest }
  | { op: 'heartbeat'; request: HeartbeatRequest }
  | { op: 'unregisterBroker'; brokerId: number }
  | { op: 'createTopics'; requests: CreateTopicRequest[]; validateOnly: boolean }
  | { op: 'createPartitions'; requests: CreatePartitionsRequest[]; validateOnly: boolean }
  | { op: 'deleteTopics'; names: string[] }
  | { op: 'alterConfigs'; requests: AlterConfigsRequest[]; validateOnly: boolean }
  | { op: 'allocateProducerIds'; brokerId: number; brokerEpoch: number }
  | { op: 'alterPartition'; request: AlterPartitionRequest }
  | { op: 'alterPartitions'; request: AlterPartitionsRequest }
  | { op: 'alterPartitionReassignments'; requests: ReassignmentRequest[] }
  | { op: 'electLeaders'; request: ElectLeadersRequest }
  /** The balancer's plan for the cluster as it is, without carrying it out (`rebalance --dry-run`). */
  | { op: 'planRebalance' }
  | { op: 'alterReplicationFactor'; request: ReplicationFactorRequest; validateOnly: boolean }
  /** Moves every replica off the broker, then removes it from the cluster (`remove-node`). */
  | { op: 'decommissionBroker'; brokerId: number }
  /** Hand the active controller's role to voter `to` (0: the voter most caught up); the host's, not the state machine's. */
  | { op: 'transferController'; to: number };

export type OpName = ControllerOp['op'];

/** Runs `op` against the controller; a validate-only operation answers without records. */
export function runOp(c: Controller, op: ControllerOp, nowMs: number): OperationResult<unknown> {
  const dry = <T>(r: OperationResult<T>, validateOnly: boolean): OperationResult<T> =>
    validateOnly ? { records: [], answer: r.answer } : r;
  switch (op.op) {
    case 'registerBroker':
      return c.registerBroker(op.request, nowMs);
    case 'heartbeat':
      return c.heartbeat(op.request, nowMs);
    case 'unregisterBroker':
      return c.unregisterBroker(op.brokerId);
    case 'createTopics':
      return dry(c.createTopics(op.requests), op.validateOnly);
    case 'createPartitions':
      return dry(c.createPartitions(op.requests), op.validateOnly);
    case 'deleteTopics':
      return c.deleteTopics(op.names);
    case 'alterConfigs':
      return dry(c.alterConfigs(op.requests), op.validateOnly);
    case 'allocateProducerIds':
      return c.allocateProducerIds(op.brokerId, op.brokerEpoch);
    case 'transferController':
      // ControllerHost.run carries it out: it is a Raft leadership transfer, not a metadata change.
      throw new BrokerError('INVALID_REQUEST', 'transferController is not a metadata operation');
    case 'alterPartition':
      return c.alterPartition(op.request);
    case 'alterPartitions':
      return c.alterPartitions(op.request);
    case 'alterPartitionReassignments':
      return c.alterPartitionReassignments(op.requests);
    case 'electLeaders':
      return c.electLeaders(op.request);
    case 'planRebalance':
      return { records: [], answer: c.planRebalance() };
    case 'alterReplicationFactor':
      return dry(c.alterReplicationFactor(op.request), op.validateOnly);
    case 'decommissionBroker':
      return c.decommissionBroker(op.brokerId);
  }
}

export function encodeOp(op: ControllerOp): Buffer {
  return Buffer.from(JSON.stringify(op));
}

/** Most entries in one forwarded list (topics of a CreateTopics, listeners, configs). */
const listMax = recordsPerBatchMax;

/**
 * Most partition sizes one heartbeat carries (about 1.2 MB of JSON): a broker leading more sends its
 * largest ones, which are those the balancer's byte goal weighs.
 */
export const partitionSizesPerHeartbeatMax = 20_000;

function bad(what: string): BrokerError {
  return new BrokerError('INVALID_REQUEST', `forwarded controller operation: ${what}`);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function int(v: unknown, what: string, min = -1, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    throw bad(`${what} must be an integer from ${min} to ${max}`);
  return v;
}

function str(v: unknown, what: string, maxLength = stringLengthMax): string {
  if (typeof v !== 'string' || v.length > maxLength)
    throw bad(`${what} must be a string of at most ${maxLength} characters`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw bad(`${what} must be true or false`);
  return v;
}

function list<T>(v: unknown, what: string, item: (x: unknown, i: number) => T, max = listMax): T[] {
  if (!Array.isArray(v) || v.length > max) throw bad(`${what} must be a list of at most ${max}`);
  return v.map(item);
}

function optional<T>(v: unknown, read: (x: unknown) => T): T | undefined {
  return v === undefined || v === null ? undefined : read(v);
}

function stringMap(v: unknown, what: string, nullable: boolean): Record<string, string | null> {
  const o = obj(v, what);
  const keys = Object.keys(o);
  if (keys.length > listMax) throw bad(`${what} has more than ${listMax} keys`);
  const out: Record<string, string | null> = {};
  for (const k of keys) {
    str(k, `${what} key`, 255);
    out[k] = nullable && o[k] === null ? null : str(o[k], `${what}.${k}`);
  }
  return out;
}

/** A topic id as records.ts's codec accepts one: a lowercase UUID. */
const topicIdRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function topicId(v: unknown, what: string): string {
  const s = str(v, what, 36);
  if (!topicIdRe.test(s)) throw bad(`${what} ${JSON.stringify(s)} is not a lowercase UUID`);
  return s;
}

const brokerIdOf = (v: unknown, what: string) => int(v, what, 0, 0x7fffffff);

/** One partition's ISR change: epochs from 0, an ISR of distinct broker ids no longer than a replica list. */
function alterPartitionItem(v: unknown): AlterPartitionItem {
  const r = obj(v, 'partition');
  const newIsr = list(r.newIsr, 'newIsr', (b) => brokerIdOf(b, 'newIsr member'), replicasPerPartitionMax);
  if (new Set(newIsr).size !== newIsr.length) throw bad(`newIsr ${JSON.stringify(newIsr)} repeats a broker`);
  return {
    topicId: topicId(r.topicId, 'topicId'),
    partition: int(r.partition, 'partition', 0, 0x7fffffff),
    leaderEpoch: int(r.leaderEpoch, 'leaderEpoch', 0, 0x7fffffff),
    partitionEpoch: int(r.partitionEpoch, 'partitionEpoch', 0, 0x7fffffff),
    newIsr,
  };
}

/** The operation a forwarded request carries, every field checked; INVALID_REQUEST otherwise. */
export function decodeOp(bytes: Uint8Array): ControllerOp {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw bad(`not JSON: ${(err as Error).message}`);
  }
  const o = obj(raw, 'the operation');
  const id = (v: unknown, what: string) => int(v, what, 0, 0x7fffffff);
  switch (o.op) {
    case 'registerBroker': {
      const r = obj(o.request, 'request');
      return {
        op: 'registerBroker',
        request: {
          brokerId: id(r.brokerId, 'brokerId'),
          incarnationId: str(r.incarnationId, 'incarnationId', 64),
          listeners: list(
            r.listeners,
            'listeners',
            (l) => {
              const x = obj(l, 'listener');
              const name = str(x.name, 'listener name', 32);
              if (!(LISTENER_NAMES as readonly string[]).includes(name))
                throw bad(`unknown listener ${name}`);
              return {
                name: name as (typeof LISTENER_NAMES)[number],
                host: str(x.host, 'listener host'),
                port: int(x.port, 'listener port', 0, 65535),
              };
            },
            LISTENER_NAMES.length,
          ),
          rack: optional(r.rack, (x) => str(x, 'rack')) ?? null,
          controllerEligible: bool(r.controllerEligible, 'controllerEligible'),
          quorumSize: optional(r.quorumSize, (x) => int(x, 'quorumSize', 1, 9)),
          nodeName: optional(r.nodeName, (x) => str(x, 'nodeName', 64)),
        },
      };
    }
    case 'heartbeat': {
      const r = obj(o.request, 'request');
      return {
        op: 'heartbeat',
        request: {
          brokerId: id(r.brokerId, 'brokerId'),
          brokerEpoch: int(r.brokerEpoch, 'brokerEpoch'),
          metadataOffset: int(r.metadataOffset, 'metadataOffset'),
          wantShutDown: bool(r.wantShutDown, 'wantShutDown'),
          ...(r.partitionSizes === undefined
            ? {}
            : {
                partitionSizes: list(
                  r.partitionSizes,
                  'partitionSizes',
                  (e): [string, number, number] => {
                    if (!Array.isArray(e) || e.length !== 3)
                      throw bad('a partition size is [topicId, partition, bytes]');
                    return [
                      topicId(e[0], 'topicId'),
                      int(e[1], 'partition', 0, 0x7fffffff),
                      int(e[2], 'bytes', 0),
                    ];
                  },
                  partitionSizesPerHeartbeatMax,
                ),
              }),
        },
      };
    }
    case 'unregisterBroker':
      return { op: 'unregisterBroker', brokerId: id(o.brokerId, 'brokerId') };
    case 'transferController':
      return { op: 'transferController', to: id(o.to, 'to') };
    case 'createTopics':
      return {
        op: 'createTopics',
        validateOnly: bool(o.validateOnly, 'validateOnly'),
        requests: list(o.requests, 'requests', (x) => {
          const r = obj(x, 'topic');
          return {
            name: str(r.name, 'name', 249),
            partitions: optional(r.partitions, (v) => int(v, 'partitions', -1, 0x7fffffff)),
            replicationFactor: optional(r.replicationFactor, (v) => int(v, 'replicationFactor', -1, 0x7fff)),
            assignments: optional(r.assignments, (v) =>
              list(v, 'assignments', (a) => list(a, 'replicas', (b) => id(b, 'replica'), 64)),
            ),
            configs: stringMap(r.configs ?? {}, 'configs', false) as Record<string, string>,
          };
        }),
      };
    case 'createPartitions':
      return {
        op: 'createPartitions',
        validateOnly: bool(o.validateOnly, 'validateOnly'),
        requests: list(o.requests, 'requests', (x) => {
          const r = obj(x, 'topic');
          const assignments = optional(r.assignments, (v) =>
            list(v, 'assignments', (a) =>
              list(a, 'replicas', (b) => id(b, 'replica'), replicasPerPartitionMax),
            ),
          );
          return {
            name: str(r.name, 'name', 249),
            count: int(r.count, 'count', -1, 0x7fffffff),
            ...(assignments === undefined ? {} : { assignments }),
          };
        }),
      };
    case 'deleteTopics':
      return { op: 'deleteTopics', names: list(o.names, 'names', (n) => str(n, 'name', 249)) };
    case 'alterConfigs':
      return {
        op: 'alterConfigs',
        validateOnly: bool(o.validateOnly, 'validateOnly'),
        requests: list(o.requests, 'requests', (x) => {
          const r = obj(x, 'resource');
          const type = str(r.resourceType, 'resourceType', 16);
          if (!(CONFIG_RESOURCE_TYPES as readonly string[]).includes(type))
            throw bad(`unknown resource type ${type}`);
          return {
            resourceType: type as ConfigResourceType,
            resourceName: str(r.resourceName, 'resourceName', 249),
            changes: stringMap(r.changes, 'changes', true),
          };
        }),
      };
    case 'allocateProducerIds':
      return {
        op: 'allocateProducerIds',
        brokerId: id(o.brokerId, 'brokerId'),
        brokerEpoch: int(o.brokerEpoch, 'brokerEpoch'),
      };
    case 'alterPartition': {
      const r = obj(o.request, 'request');
      return {
        op: 'alterPartition',
        request: {
          brokerId: id(r.brokerId, 'brokerId'),
          brokerEpoch: int(r.brokerEpoch, 'brokerEpoch'),
          ...alterPartitionItem(r),
        },
      };
    }
    case 'alterPartitions': {
      const r = obj(o.request, 'request');
      return {
        op: 'alterPartitions',
        request: {
          brokerId: id(r.brokerId, 'brokerId'),
          brokerEpoch: int(r.brokerEpoch, 'brokerEpoch'),
          partitions: list(r.partitions, 'partitions', alterPartitionItem),
        },
      };
    }
    case 'alterPartitionReassignments':
      return {
        op: 'alterPartitionReassignments',
        requests: list(o.requests, 'requests', (x) => {
          const r = obj(x, 'partition');
          return {
            topic: str(r.topic, 'topic', 249),
            partition: int(r.partition, 'partition', 0, 0x7fffffff),
            replicas:
              r.replicas === null
                ? null
                : list(r.replicas, 'replicas', (b) => id(b, 'replica'), replicasPerPartitionMax),
          };
        }),
      };
    case 'electLeaders': {
      const r = obj(o.request, 'request');
      const type = str(r.type, 'type', 16);
      if (type !== 'preferred' && type !== 'unclean')
        throw bad(`election type ${JSON.stringify(type)} is not preferred or unclean`);
      return {
        op: 'electLeaders',
        request: {
          type,
          partitions:
            r.partitions === null
              ? null
              : list(r.partitions, 'partitions', (x) => {
                  const p = obj(x, 'partition');
                  return {
                    topic: str(p.topic, 'topic', 249),
                    partition: int(p.partition, 'partition', 0, 0x7fffffff),
                  };
                }),
        },
      };
    }
    case 'planRebalance':
      return { op: 'planRebalance' };
    case 'alterReplicationFactor': {
      const r = obj(o.request, 'request');
      return {
        op: 'alterReplicationFactor',
        validateOnly: bool(o.validateOnly, 'validateOnly'),
        request: {
          topic: str(r.topic, 'topic', 249),
          replicationFactor: int(r.replicationFactor, 'replicationFactor', 1, replicasPerPartitionMax),
        },
      };
    }
    case 'decommissionBroker':
      return { op: 'decommissionBroker', brokerId: id(o.brokerId, 'brokerId') };
    default:
      throw bad(`unknown operation ${JSON.stringify(o.op)}`);
  }
}

export function encodeAnswer(answer: unknown): Buffer {
  return Buffer.from(
    JSON.stringify({ answer: answer ?? null }, (_k, v: unknown) =>
      v instanceof BrokerError ? { $error: v.code, message: v.message } : v,
    ),
  );
}

/** An answer from the controller (a trusted peer, but checked enough not to misread an error). */
export function decodeAnswer<T>(bytes: Uint8Array): T {
  const parsed = JSON.parse(Buffer.from(bytes).toString('utf8'), (_k, v: unknown) => {
    if (typeof v === 'object' && v !== null && '$error' in v) {
      const e = v as { $error: string; message: string };
      const code = (e.$error in ERROR_CODES ? e.$error : 'UNKNOWN_SERVER_ERROR') as ErrorCode;
      return new BrokerError(code, String(e.message));
    }
    return v;
  }) as { answer: T };
  return parsed.answer;
}
