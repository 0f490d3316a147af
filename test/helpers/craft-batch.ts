/**
 * Hand-made RecordBatch v2 bytes for validation tests: a header around any records section, with any
 * count, lastOffsetDelta, codec bits and flags, signed with a correct CRC-32C so that only the record
 * validation can catch what is wrong.
 */
import { BATCH_HEADER_BYTES, computeBatchCrc, F, LOG_OVERHEAD, writeInt64 } from '../../src/records/batch.ts';
import { writeVarint } from '../../src/records/varint.ts';

export interface CraftOptions {
  /** The records section as stored (already compressed when `attributes` names a codec). */
  section: Buffer;
  count: number;
  /** @default count - 1 */
  lastOffsetDelta?: number;
  /** @default 0 (uncompressed, CreateTime, not transactional) */
  attributes?: number;
  /** @default 1_700_000_000_000 */
  baseTimestamp?: number;
  /** @default baseTimestamp */
  maxTimestamp?: number;
  producerId?: number;
}

export function craftBatch(o: CraftOptions): Buffer {
  const size = BATCH_HEADER_BYTES + o.section.length;
  const buf = Buffer.alloc(size);
  const ts = o.baseTimestamp ?? 1_700_000_000_000;
  writeInt64(buf, F.baseOffset, 0);
  buf.writeInt32BE(size - LOG_OVERHEAD, F.batchLength);
  buf.writeInt32BE(-1, F.partitionLeaderEpoch);
  buf.writeInt8(2, F.magic);
  buf.writeInt16BE(o.attributes ?? 0, F.attributes);
  buf.writeInt32BE(o.lastOffsetDelta ?? o.count - 1, F.lastOffsetDelta);
  writeInt64(buf, F.baseTimestamp, ts);
  writeInt64(buf, F.maxTimestamp, o.maxTimestamp ?? ts);
  writeInt64(buf, F.producerId, o.producerId ?? -1);
  buf.writeInt16BE(-1, F.producerEpoch);
  buf.writeInt32BE(-1, F.baseSequence);
  buf.writeInt32BE(o.count, F.recordsCount);
  o.section.copy(buf, F.records);
  return resign(buf);
}

/** Recomputes the CRC-32C of a batch after its bytes were changed. */
export function resign(batch: Buffer): Buffer {
  batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), F.crc);
  return batch;
}

/**
 * The records section of `n` records with null key, null value and no header, offset deltas 0..n-1,
 * timestamp delta 0 but for the last record's `lastTimestampDelta` (below 64).
 */
export function emptyRecords(n: number, lastTimestampDelta = 0): Buffer {
  const buf = Buffer.allocUnsafe(n * 10);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const start = pos;
    pos++; // the length, written once the body is known (always below 64: one byte)
    buf[pos++] = 0; // attributes
    buf[pos++] = i === n - 1 ? lastTimestampDelta * 2 : 0; // timestamp delta
    pos = writeVarint(buf, pos, i);
    buf[pos++] = 1; // key length -1
    buf[pos++] = 1; // value length -1
    buf[pos++] = 0; // no headers
    buf[start] = (pos - start - 1) * 2; // zigzag of a small positive length
  }
  return buf.subarray(0, pos);
}
