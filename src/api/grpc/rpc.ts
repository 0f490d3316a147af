/**
 * What the gRPC door's RPC files share (one file per group of RPCs: topics.ts, produce.ts, consume.ts,
 * groups.ts): the shape of a unary RPC that server.ts wraps, the wire records and their conversions,
 * and the argument checks. Like the Kafka door, each RPC reaches partitions only through the core
 * (whose produce and fetch pass its partition view, src/broker/partition-view.ts), never the log.
 */
import type * as grpc from '@grpc/grpc-js';
import type { TopicDescription } from '../../broker/core.ts';
import type { TopicMetadata } from '../../broker/metadata.ts';
import { BrokerError } from '../../errors.ts';
import { replicasPerPartitionMax } from '../../metadata/limits.ts';
import type { DecodedRecord, RecordInput } from '../../records/batch.ts';

/**
 * A unary RPC: the decoded request (and its call, for the peer and cancellation) to the answer.
 * server.ts wraps each one with the request bounds, readiness, error mapping and latency metric.
 */
export type UnaryRpc = (req: never, call: grpc.ServerUnaryCall<never, unknown>) => unknown;
export type UnaryRpcs = Record<string, UnaryRpc>;

export interface WireHeader {
  key?: string;
  value?: Buffer;
}
export interface WireRecord {
  key?: Buffer;
  value?: Buffer;
  headers?: WireHeader[];
  timestampMs?: number;
}

export function toRecordInput(r: WireRecord | undefined): RecordInput {
  if (!r) throw new BrokerError('INVALID_REQUEST', 'record is missing');
  return {
    key: r.key ?? null,
    value: r.value ?? null,
    headers: (r.headers ?? []).map((h) => ({ key: h.key ?? '', value: h.value ?? null })),
    timestamp: r.timestampMs ? Number(r.timestampMs) : undefined,
  };
}

export function toWireRecord(r: DecodedRecord, partition: number) {
  return {
    offset: r.offset,
    partition,
    key: r.key ?? undefined,
    value: r.value ?? undefined,
    headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? undefined })),
    timestampMs: r.timestamp,
  };
}

export function topicInfo(t: TopicMetadata, d?: TopicDescription) {
  return {
    name: t.name,
    id: t.id,
    partitions: t.partitions,
    replicationFactor: t.replicationFactor,
    configs: d
      ? Object.fromEntries(
          Object.entries(d.configs).map(([k, v]) => [k, { value: v.value, isDefault: v.isDefault }]),
        )
      : {},
    partitionInfo: (d?.partitions ?? []).map((p) => ({ ...p })),
  };
}

export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new BrokerError('INVALID_REQUEST', `${what} must not be empty`);
  return value;
}

export function int(value: unknown, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new BrokerError('INVALID_REQUEST', `${what} must be between ${min} and ${max}, got ${value}`);
  return n;
}

export function acksOf(value: unknown): 0 | 1 | -1 {
  if (value === undefined || value === null) return -1;
  const n = Number(value);
  if (n !== 0 && n !== 1 && n !== -1)
    throw new BrokerError('INVALID_REQUIRED_ACKS', `acks must be 0, 1 or -1, got ${value}`);
  return n;
}

/**
 * A replica list as a request names it (broker ids, the preferred leader first), checked as far as
 * the door can without the metadata: not empty, at most `replicasPerPartitionMax` ids, none negative
 * or repeated. Whether the brokers are registered is the controller's to say. `where` names the
 * partition in the message.
 */
export function replicaList(value: unknown, where: string): number[] {
  const ids = Array.isArray(value) ? value.map(Number) : [];
  const refuse = (why: string) => new BrokerError('INVALID_REPLICA_ASSIGNMENT', `${where}: ${why}`);
  if (ids.length === 0) throw refuse('the replica list is empty');
  if (ids.length > replicasPerPartitionMax)
    throw refuse(
      `a replica list may name at most ${replicasPerPartitionMax} brokers (replicasPerPartitionMax), got ${ids.length}`,
    );
  const seen = new Set<number>();
  for (const id of ids) {
    if (!Number.isSafeInteger(id) || id < 0 || id > 2 ** 31 - 1)
      throw refuse(`broker id ${id} is not an id (0 to 2147483647)`);
    if (seen.has(id)) throw refuse(`broker ${id} is named twice in ${ids.join(',')}`);
    seen.add(id);
  }
  return ids;
}
