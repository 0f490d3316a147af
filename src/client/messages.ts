/**
 * Helpers shared by the client's modules: turning user values into record bytes and headers, and an
 * abortable sleep for backoffs.
 */
import type { RecordHeader } from '../records/batch.ts';
import { partitionForKey } from '../records/partitioner.ts';
import { abortError } from './errors.ts';

export type Value = string | Buffer | Uint8Array | null;

export interface Message {
  key?: Value;
  value: Value;
  headers?: Record<string, string | Buffer | null> | RecordHeader[];
  /** Milliseconds since the epoch. @default now */
  timestamp?: number;
}

export function toBuffer(v: Value | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function toHeaders(h: Message['headers']): RecordHeader[] {
  if (!h) return [];
  if (Array.isArray(h)) return h;
  return Object.entries(h).map(([key, value]) => ({ key, value: value === null ? null : toBuffer(value) }));
}

export function isMessage(v: Value | Message): v is Message {
  return (
    v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Uint8Array) && 'value' in v
  );
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Exponential backoff with jitter in [backoff/2, backoff), so that clients retrying together spread out. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const b = Math.min(maxMs, baseMs * 2 ** attempt);
  return b / 2 + Math.random() * (b / 2);
}

/**
 * Groups messages by the partition they go to, as Kafka's clients route them: `partition` when given;
 * else keyed messages by murmur2(key) mod `partitions`; unkeyed ones all to one partition per call,
 * which `nextSticky()` picks (Kafka's sticky partitioning), so that they form one batch.
 */
export function groupByPartition(
  messages: (Value | Message)[],
  partitions: number,
  partition: number | undefined,
  nextSticky: () => number,
): Map<number, Message[]> {
  const groups = new Map<number, Message[]>();
  let sticky: number | undefined;
  for (const raw of messages) {
    const m = isMessage(raw) ? raw : { value: raw };
    const key = toBuffer(m.key);
    let p: number;
    if (partition !== undefined) p = partition;
    else if (key) p = partitionForKey(key, partitions);
    else p = sticky ??= nextSticky() % partitions;
    let g = groups.get(p);
    if (!g) groups.set(p, (g = []));
    g.push(m);
  }
  return groups;
}
