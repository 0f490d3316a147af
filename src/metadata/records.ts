/**
 * The metadata records of the cluster (issue 11) and their one codec. Every change to the cluster's
 * metadata is one of these records, committed through the Raft log by the active controller and folded
 * by every node into its `MetadataImage` (DESIGN.md decision 3). The set follows Kafka's
 * `metadata/src/main/resources/common/metadata/*Record.json` (RegisterBrokerRecord,
 * UnregisterBrokerRecord, BrokerRegistrationChangeRecord, TopicRecord, PartitionRecord,
 * PartitionChangeRecord, RemoveTopicRecord, ConfigRecord, ProducerIdsRecord), trimmed to what this
 * broker uses: no directories, features, ELR or reassignment fields.
 *
 * The codec is JSON lines: one record per line, each `{"v":1,"type":...}`, a batch being the lines of
 * one operation in one Raft entry. Why not binary: metadata records are few and small (a heartbeat
 * makes none, a topic creation one per partition), so size and speed do not matter next to the Raft
 * round trip; the Raft WAL already frames and CRC-checks every entry, so the codec needs no checksum;
 * and a text log can be read with `jq` when a cluster misbehaves. What JSON does not give for free is
 * strictness, so `decodeRecord` checks every field's type, range and the absence of unknown fields, and
 * refuses anything else with CORRUPT_MESSAGE naming the field, after checking the byte bound before it
 * parses (src/metadata/limits.ts). The version `v` is per record: a new field means a new version that
 * an older node refuses loudly rather than misreads.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../errors.ts';
import {
  batchBytesMax,
  listenersPerBrokerMax,
  recordBytesMax,
  recordsPerBatchMax,
  replicasPerPartitionMax,
  stringLengthMax,
} from './limits.ts';

/** A partition without a leader (Kafka's `LeaderConstants.NO_LEADER`). */
export const NO_LEADER = -1;

/** The listeners a broker registers, one per port in DESIGN.md's table. */
export const LISTENER_NAMES = ['grpc', 'kafka', 'inter-broker', 'raft'] as const;
export type ListenerName = (typeof LISTENER_NAMES)[number];

export interface Listener {
  name: ListenerName;
  host: string;
  port: number;
}

/** A broker (re-)registers: a new incarnation gets a new epoch; the same one amends its listeners. */
export interface RegisterBrokerRecord {
  type: 'RegisterBroker';
  brokerId: number;
  /** Random per process start, chosen by the broker: tells a restart from a duplicate. */
  incarnationId: string;
  brokerEpoch: number;
  listeners: Listener[];
  rack: string | null;
  controllerEligible: boolean;
  fenced: boolean;
  inControlledShutdown: boolean;
  /** The node's name (`node.id`, e.g. node-2), which admin tools show; absent: `node-<brokerId>`. */
  nodeName?: string;
  /** Being decommissioned (issue 14; record version 2): kept across re-registrations. */
  decommissioning?: boolean;
}

export interface UnregisterBrokerRecord {
  type: 'UnregisterBroker';
  brokerId: number;
  brokerEpoch: number;
}

/** Fences or unfences a broker, or marks it in controlled shutdown; an absent field is unchanged. */
export interface BrokerRegistrationChangeRecord {
  type: 'BrokerRegistrationChange';
  brokerId: number;
  brokerEpoch: number;
  fenced?: boolean;
  inControlledShutdown?: boolean;
  /** Marks the broker for decommissioning (issue 14; record version 2). */
  decommissioning?: boolean;
}

export interface TopicRecord {
  type: 'Topic';
  name: string;
  topicId: string;
}

/** A partition in full: created with its topic, or replaced. */
export interface PartitionRecord {
  type: 'Partition';
  topicId: string;
  partition: number;
  replicas: number[];
  isr: number[];
  leader: number;
  leaderEpoch: number;
  partitionEpoch: number;
  /** A reassignment in progress (KIP-455; record version 2): replicas being added, and to be removed. */
  addingReplicas?: number[];
  removingReplicas?: number[];
}

/**
 * A change to a partition; absent fields are unchanged. Replaying it bumps the partition epoch by one,
 * and the leader epoch by one when `leader` is present, even if it names the same leader: the
 * controller sets it to force a bump (Kafka's `PartitionRegistration.merge`).
 */
export interface PartitionChangeRecord {
  type: 'PartitionChange';
  topicId: string;
  partition: number;
  isr?: number[];
  leader?: number;
  replicas?: number[];
  /** Replaces the reassignment's lists (record version 2); [] for both ends it. */
  addingReplicas?: number[];
  removingReplicas?: number[];
}

/** Deletes a topic, its partitions and its configs. */
export interface RemoveTopicRecord {
  type: 'RemoveTopic';
  topicId: string;
}

export const CONFIG_RESOURCE_TYPES = ['topic', 'broker'] as const;
export type ConfigResourceType = (typeof CONFIG_RESOURCE_TYPES)[number];

/** Sets a config key of a topic (by name) or a broker (by id, or "" for the cluster default). */
export interface ConfigRecord {
  type: 'Config';
  resourceType: ConfigResourceType;
  resourceName: string;
  key: string;
  /** null deletes the key. */
  value: string | null;
}

/** A block of producer ids went to a broker; the next block starts at `nextProducerId`. */
export interface ProducerIdsRecord {
  type: 'ProducerIds';
  brokerId: number;
  brokerEpoch: number;
  nextProducerId: number;
}

export type MetadataRecord =
  | RegisterBrokerRecord
  | UnregisterBrokerRecord
  | BrokerRegistrationChangeRecord
  | TopicRecord
  | PartitionRecord
  | PartitionChangeRecord
  | RemoveTopicRecord
  | ConfigRecord
  | ProducerIdsRecord;

export type MetadataRecordType = MetadataRecord['type'];

/**
 * The newest record format version, which this code reads along with the older one. Version 2 (issue
 * 14) adds reassignment lists to Partition and PartitionChange and `decommissioning` to RegisterBroker
 * and BrokerRegistrationChange; a record is written at version 2 only when it uses one of them, so a
 * cluster that never reassigns writes the log an older node reads, and an older node refuses a
 * version 2 record loudly rather than dropping a field.
 */
export const RECORD_VERSION = 2;

/** The fields of version 2. */
const V2_FIELDS = ['addingReplicas', 'removingReplicas', 'decommissioning'] as const;

/** The version a record is written at: the oldest that holds its fields. */
export function recordVersion(record: MetadataRecord): number {
  return V2_FIELDS.some((f) => f in record && (record as unknown as Record<string, unknown>)[f] !== undefined)
    ? 2
    : 1;
}

/**
 * What is wrong with a topic name by Kafka's rule (1 to 249 characters from [a-zA-Z0-9._-], not "."
 * or ".."), or null. The same rule as src/broker/metadata.ts `validateTopicName`, which this layer
 * cannot import (it sits below broker/).
 */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'topic name must not be empty';
  if (name.length > 249) return `topic name is ${name.length} characters; the most is 249`;
  if (name === '.' || name === '..') return `topic name cannot be "${name}"`;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    return `topic name ${JSON.stringify(name)} may only use ASCII letters, digits, '.', '_' and '-'`;
  }
  return null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** One record as one line of JSON, without the newline. */
export function encodeRecord(record: MetadataRecord): string {
  // Validating before writing keeps a bad record out of the log, where every node would refuse it.
  let checked: MetadataRecord;
  const v = recordVersion(record);
  try {
    checked = validateRecord({ v, ...record });
  } catch (err) {
    assert.fail(`refusing to encode an invalid ${record.type} record: ${(err as Error).message}`);
  }
  const line = JSON.stringify({ v, ...checked });
  assert.ok(
    Buffer.byteLength(line) <= recordBytesMax,
    `a ${record.type} record is larger than ${recordBytesMax} bytes`,
  );
  return line;
}

/** Decodes and validates one line; anything malformed is CORRUPT_MESSAGE naming what is wrong. */
export function decodeRecord(line: string): MetadataRecord {
  if (line.length > recordBytesMax)
    throw corrupt(`a metadata record of ${line.length} characters is too long`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    throw corrupt(`a metadata record is not JSON: ${(err as Error).message}`);
  }
  return validateRecord(parsed);
}

/** The encoded size of one record in bytes, without its newline. */
export function recordBytes(record: MetadataRecord): number {
  return Buffer.byteLength(encodeRecord(record));
}

/**
 * Splits an operation's records into batches that each fit one Raft entry (recordsPerBatchMax,
 * batchBytesMax), in order. Operations whose records must apply together (a topic creation) are
 * bounded by the controller to one batch; the records of fencing and elections may span several, as
 * Kafka's non-atomic controller results do: each record keeps the image valid on its own.
 */
export function splitIntoBatches(records: readonly MetadataRecord[]): MetadataRecord[][] {
  const out: MetadataRecord[][] = [];
  let cur: MetadataRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const n = recordBytes(r) + 1;
    if (cur.length > 0 && (cur.length === recordsPerBatchMax || bytes + n > batchBytesMax)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** The records of one operation as one Raft entry's bytes. */
export function encodeBatch(records: readonly MetadataRecord[]): Uint8Array {
  assert.ok(records.length > 0, 'an empty batch is never committed');
  assert.ok(records.length <= recordsPerBatchMax, `a batch holds at most ${recordsPerBatchMax} records`);
  const bytes = encoder.encode(records.map(encodeRecord).join('\n'));
  assert.ok(bytes.length <= batchBytesMax, `a batch of ${bytes.length} bytes exceeds ${batchBytesMax}`);
  return bytes;
}

export function decodeBatch(bytes: Uint8Array): MetadataRecord[] {
  return decodeLines(bytes, batchBytesMax, recordsPerBatchMax);
}

/** Decodes newline-separated records within the given bounds (shared with the snapshot codec). */
export function decodeLines(bytes: Uint8Array, bytesMax: number, recordsMax: number): MetadataRecord[] {
  if (bytes.length > bytesMax) throw corrupt(`${bytes.length} bytes of metadata records exceed ${bytesMax}`);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw corrupt('metadata records are not valid UTF-8');
  }
  if (text.length === 0) throw corrupt('an empty batch of metadata records');
  const lines = text.split('\n');
  if (lines.length > recordsMax) throw corrupt(`${lines.length} metadata records exceed ${recordsMax}`);
  return lines.map((line, i) => {
    try {
      return decodeRecord(line);
    } catch (err) {
      if (err instanceof BrokerError) throw corrupt(`record ${i}: ${err.message}`, err);
      throw err;
    }
  });
}

function corrupt(message: string, cause?: unknown): BrokerError {
  return new BrokerError('CORRUPT_MESSAGE', message, cause === undefined ? undefined : { cause });
}

// ---- validation ----

type Obj = Record<string, unknown>;

function field(o: Obj, key: string, what: string): unknown {
  if (!Object.hasOwn(o, key)) throw corrupt(`${what}: ${key} is missing`);
  return o[key];
}

function int(o: Obj, key: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = field(o, key, what);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw corrupt(`${what}: ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function str(o: Obj, key: string, what: string, minLength = 1): string {
  const v = field(o, key, what);
  if (typeof v !== 'string' || v.length < minLength || v.length > stringLengthMax) {
    throw corrupt(
      `${what}: ${key} must be a string of ${minLength} to ${stringLengthMax} characters, got ${typeof v === 'string' ? `${v.length} characters` : JSON.stringify(v)}`,
    );
  }
  return v;
}

function bool(o: Obj, key: string, what: string): boolean {
  const v = field(o, key, what);
  if (typeof v !== 'boolean') throw corrupt(`${what}: ${key} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** A list of distinct broker ids, as replicas and ISRs are. */
function brokerIds(o: Obj, key: string, what: string, minLength: number): number[] {
  const v = field(o, key, what);
  if (!Array.isArray(v) || v.length < minLength || v.length > replicasPerPartitionMax) {
    throw corrupt(`${what}: ${key} must be a list of ${minLength} to ${replicasPerPartitionMax} broker ids`);
  }
  const seen = new Set<number>();
  for (const id of v) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id > 0x7fffffff) {
      throw corrupt(`${what}: ${key} holds ${JSON.stringify(id)}, which is not a broker id`);
    }
    if (seen.has(id)) throw corrupt(`${what}: ${key} names broker ${id} twice`);
    seen.add(id);
  }
  return v as number[];
}

/** The ISR within the replicas (when given) and the leader in the ISR (when given) or none. */
function checkMembers(
  isr: readonly number[],
  replicas: readonly number[] | undefined,
  leader: number | undefined,
  what: string,
): void {
  if (replicas) {
    for (const id of isr)
      if (!replicas.includes(id)) throw corrupt(`${what}: ISR member ${id} is not a replica`);
  }
  if (leader !== undefined && leader !== NO_LEADER && !isr.includes(leader)) {
    throw corrupt(`${what}: leader ${leader} is not in the ISR`);
  }
}

/**
 * The reassignment lists of a Partition or PartitionChange record, when present: both or neither,
 * distinct broker ids, disjoint, and within `replicas` when the record gives them.
 */
function reassignmentLists(
  o: Obj,
  r: { addingReplicas?: number[]; removingReplicas?: number[] },
  replicas: readonly number[] | undefined,
  what: string,
): void {
  const has = [Object.hasOwn(o, 'addingReplicas'), Object.hasOwn(o, 'removingReplicas')];
  if (!has[0] && !has[1]) return;
  if (!has[0] || !has[1]) throw corrupt(`${what}: addingReplicas and removingReplicas come together`);
  r.addingReplicas = brokerIds(o, 'addingReplicas', what, 0);
  r.removingReplicas = brokerIds(o, 'removingReplicas', what, 0);
  for (const id of r.addingReplicas) {
    if (r.removingReplicas.includes(id)) throw corrupt(`${what}: broker ${id} is both added and removed`);
  }
  if (replicas) {
    for (const id of [...r.addingReplicas, ...r.removingReplicas])
      if (!replicas.includes(id)) throw corrupt(`${what}: reassigned broker ${id} is not a replica`);
  }
}

/** Topic ids are UUIDs as Node's randomUUID writes them (Kafka's are base64; ours stay readable). */
const uuidRe = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function topicId(o: Obj, what: string): string {
  const v = str(o, 'topicId', what);
  if (!uuidRe.test(v)) throw corrupt(`${what}: topicId ${JSON.stringify(v)} is not a lowercase UUID`);
  return v;
}

function onlyKeys(o: Obj, keys: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw corrupt(`${what}: unknown field ${JSON.stringify(k)}`);
  }
}

const brokerIdMax = 0x7fffffff;
const epochMax = Number.MAX_SAFE_INTEGER;

function listeners(o: Obj, what: string) {
  const v = field(o, 'listeners', what);
  if (!Array.isArray(v) || v.length > listenersPerBrokerMax) {
    throw corrupt(`${what}: listeners must be a list of at most ${listenersPerBrokerMax}`);
  }
  const names = new Set<string>();
  return v.map((l: unknown): Listener => {
    if (typeof l !== 'object' || l === null || Array.isArray(l))
      throw corrupt(`${what}: a listener is not an object`);
    const lo = l as Obj;
    onlyKeys(lo, ['name', 'host', 'port'], `${what} listener`);
    const name = str(lo, 'name', `${what} listener`);
    if (!(LISTENER_NAMES as readonly string[]).includes(name)) {
      throw corrupt(
        `${what}: listener name ${JSON.stringify(name)} is not one of ${LISTENER_NAMES.join(', ')}`,
      );
    }
    if (names.has(name)) throw corrupt(`${what}: listener ${name} appears twice`);
    names.add(name);
    return {
      name: name as ListenerName,
      host: str(lo, 'host', `${what} listener ${name}`),
      port: int(lo, 'port', `${what} listener ${name}`, 0, 65535),
    };
  });
}

/**
 * Checks one parsed record and returns a clean copy holding only the known fields. `v` must be the
 * version this code reads.
 */
export function validateRecord(raw: unknown): MetadataRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw corrupt('a metadata record is not an object');
  const o = raw as Obj;
  if (o.v !== 1 && o.v !== RECORD_VERSION) {
    throw corrupt(
      `metadata record version ${JSON.stringify(o.v)} is not 1 or ${RECORD_VERSION}, the ones this node reads`,
    );
  }
  if (o.v === 1) {
    for (const f of V2_FIELDS)
      if (Object.hasOwn(o, f)) throw corrupt(`${String(o.type)} record: ${f} needs record version 2`);
  }
  const type = o.type;
  const what = `${typeof type === 'string' ? type : 'metadata'} record`;
  switch (type) {
    case 'RegisterBroker': {
      onlyKeys(
        o,
        [
          'v',
          'type',
          'brokerId',
          'incarnationId',
          'brokerEpoch',
          'listeners',
          'rack',
          'controllerEligible',
          'fenced',
          'inControlledShutdown',
          'nodeName',
          'decommissioning',
        ],
        what,
      );
      const rack = field(o, 'rack', what);
      if (rack !== null) str(o, 'rack', what);
      const nodeName = o.nodeName === undefined ? {} : { nodeName: str(o, 'nodeName', what) };
      const decommissioning = Object.hasOwn(o, 'decommissioning')
        ? { decommissioning: bool(o, 'decommissioning', what) }
        : {};
      return {
        ...nodeName,
        ...decommissioning,
        type,
        brokerId: int(o, 'brokerId', what, 0, brokerIdMax),
        incarnationId: str(o, 'incarnationId', what),
        brokerEpoch: int(o, 'brokerEpoch', what, 0, epochMax),
        listeners: listeners(o, what),
        rack: rack as string | null,
        controllerEligible: bool(o, 'controllerEligible', what),
        fenced: bool(o, 'fenced', what),
        inControlledShutdown: bool(o, 'inControlledShutdown', what),
      };
    }
    case 'UnregisterBroker':
      onlyKeys(o, ['v', 'type', 'brokerId', 'brokerEpoch'], what);
      return {
        type,
        brokerId: int(o, 'brokerId', what, 0, brokerIdMax),
        brokerEpoch: int(o, 'brokerEpoch', what, 0, epochMax),
      };
    case 'BrokerRegistrationChange': {
      onlyKeys(
        o,
        ['v', 'type', 'brokerId', 'brokerEpoch', 'fenced', 'inControlledShutdown', 'decommissioning'],
        what,
      );
      const r: BrokerRegistrationChangeRecord = {
        type,
        brokerId: int(o, 'brokerId', what, 0, brokerIdMax),
        brokerEpoch: int(o, 'brokerEpoch', what, 0, epochMax),
      };
      if (Object.hasOwn(o, 'fenced')) r.fenced = bool(o, 'fenced', what);
      if (Object.hasOwn(o, 'inControlledShutdown'))
        r.inControlledShutdown = bool(o, 'inControlledShutdown', what);
      if (Object.hasOwn(o, 'decommissioning')) r.decommissioning = bool(o, 'decommissioning', what);
      if (r.fenced === undefined && r.inControlledShutdown === undefined && r.decommissioning === undefined)
        throw corrupt(`${what}: changes nothing`);
      return r;
    }
    case 'Topic': {
      onlyKeys(o, ['v', 'type', 'name', 'topicId'], what);
      const name = str(o, 'name', what);
      const problem = topicNameProblem(name);
      if (problem !== null) throw corrupt(`${what}: ${problem}`);
      return { type, name, topicId: topicId(o, what) };
    }
    case 'Partition': {
      onlyKeys(
        o,
        [
          'v',
          'type',
          'topicId',
          'partition',
          'replicas',
          'isr',
          'leader',
          'leaderEpoch',
          'partitionEpoch',
          'addingReplicas',
          'removingReplicas',
        ],
        what,
      );
      const r: PartitionRecord = {
        type,
        topicId: topicId(o, what),
        partition: int(o, 'partition', what, 0, brokerIdMax),
        replicas: brokerIds(o, 'replicas', what, 1),
        isr: brokerIds(o, 'isr', what, 1),
        leader: int(o, 'leader', what, NO_LEADER, brokerIdMax),
        leaderEpoch: int(o, 'leaderEpoch', what, 0, epochMax),
        partitionEpoch: int(o, 'partitionEpoch', what, 0, epochMax),
      };
      checkMembers(r.isr, r.replicas, r.leader, what);
      reassignmentLists(o, r, r.replicas, what);
      return r;
    }
    case 'PartitionChange': {
      onlyKeys(
        o,
        [
          'v',
          'type',
          'topicId',
          'partition',
          'isr',
          'leader',
          'replicas',
          'addingReplicas',
          'removingReplicas',
        ],
        what,
      );
      const r: PartitionChangeRecord = {
        type,
        topicId: topicId(o, what),
        partition: int(o, 'partition', what, 0, brokerIdMax),
      };
      if (Object.hasOwn(o, 'isr')) r.isr = brokerIds(o, 'isr', what, 1);
      if (Object.hasOwn(o, 'leader')) r.leader = int(o, 'leader', what, NO_LEADER, brokerIdMax);
      if (Object.hasOwn(o, 'replicas')) r.replicas = brokerIds(o, 'replicas', what, 1);
      // What the record alone can be checked for; the rest needs the partition (delta.ts asserts it).
      if (r.isr) checkMembers(r.isr, r.replicas, r.leader, what);
      reassignmentLists(o, r, r.replicas, what);
      return r;
    }
    case 'RemoveTopic':
      onlyKeys(o, ['v', 'type', 'topicId'], what);
      return { type, topicId: topicId(o, what) };
    case 'Config': {
      onlyKeys(o, ['v', 'type', 'resourceType', 'resourceName', 'key', 'value'], what);
      const resourceType = str(o, 'resourceType', what);
      if (!(CONFIG_RESOURCE_TYPES as readonly string[]).includes(resourceType)) {
        throw corrupt(`${what}: resourceType ${JSON.stringify(resourceType)} is not topic or broker`);
      }
      const value = field(o, 'value', what);
      return {
        type,
        resourceType: resourceType as ConfigResourceType,
        // A broker resource named "" is the cluster-wide default, as in Kafka.
        resourceName: str(o, 'resourceName', what, resourceType === 'broker' ? 0 : 1),
        key: str(o, 'key', what),
        value: value === null ? null : str(o, 'value', what, 0),
      };
    }
    case 'ProducerIds':
      onlyKeys(o, ['v', 'type', 'brokerId', 'brokerEpoch', 'nextProducerId'], what);
      return {
        type,
        brokerId: int(o, 'brokerId', what, 0, brokerIdMax),
        // -1: the block was written by a migration, not asked for by a registered broker.
        brokerEpoch: int(o, 'brokerEpoch', what, -1, epochMax),
        nextProducerId: int(o, 'nextProducerId', what, 0, epochMax),
      };
    default:
      throw corrupt(`unknown metadata record type ${JSON.stringify(type)}`);
  }
}
