import { decodeBatch, encodeBatch, forEachBatch } from '../../src/records/batch.ts';
import type { CompressionCode } from '../../src/records/compression.ts';
import type { PartitionLog } from '../../src/storage/partition-log.ts';

/** A batch of `count` records whose values say which batch and record they are. */
export function makeBatch(
  tag: string,
  count: number,
  opts: {
    valueBytes?: number;
    keys?: (i: number) => string | null;
    timestamp?: number;
    compression?: CompressionCode;
  } = {},
): Buffer {
  return encodeBatch({
    compression: opts.compression,
    records: Array.from({ length: count }, (_, i) => ({
      key: opts.keys ? (opts.keys(i) === null ? null : Buffer.from(opts.keys(i)!)) : null,
      value: Buffer.from(`${tag}:${i}:`.padEnd(opts.valueBytes ?? 0, 'x')),
      timestamp: (opts.timestamp ?? 1_700_000_000_000) + i,
    })),
  });
}

/** Decodes concatenated batches into [offset, value] pairs. */
export function recordsOf(bytes: Buffer): { offset: number; key: string | null; value: string | null }[] {
  const out: { offset: number; key: string | null; value: string | null }[] = [];
  forEachBatch(bytes, (pos, size) => {
    for (const r of decodeBatch(bytes.subarray(pos, pos + size)).records) {
      out.push({ offset: r.offset, key: r.key?.toString() ?? null, value: r.value?.toString() ?? null });
    }
  });
  return out;
}

/** Reads a log from `from` to its end, in reads of `maxBytes`. */
export async function readAll(
  log: PartitionLog,
  from = log.logStartOffset,
  maxBytes = 1 << 20,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = from;
  while (offset < log.logEndOffset) {
    const r = await log.read(offset, maxBytes);
    if (r.bytes.length === 0) break;
    parts.push(r.bytes);
    offset = r.nextOffset;
  }
  return Buffer.concat(parts);
}
