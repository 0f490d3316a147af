/**
 * Kafka's RecordBatch v2 ("magic 2"), the unit of data from the producer's socket to disk and back
 * (DESIGN.md decision 1). Layout, from the Kafka protocol documentation and
 * clients/src/main/java/org/apache/kafka/common/record/DefaultRecordBatch.java:
 *
 *   baseOffset: int64            partitionLeaderEpoch: int32   magic: int8 (= 2)
 *   batchLength: int32           crc: uint32 (CRC-32C of attributes .. end)
 *   attributes: int16            lastOffsetDelta: int32
 *   baseTimestamp: int64         maxTimestamp: int64
 *   producerId: int64            producerEpoch: int16          baseSequence: int32
 *   recordsCount: int32          records: [Record] (compressed as a whole when attributes say so)
 *
 *   Record => length: varint, attributes: int8, timestampDelta: varlong, offsetDelta: varint,
 *             keyLength: varint, key, valueLength: varint, value, headers count: varint,
 *             [headerKeyLength: varint, headerKey (UTF-8), headerValueLength: varint, headerValue]
 *
 * A length of -1 stands for null (key, value, header value). batchLength counts the bytes after itself.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../errors.ts';
import { batchBytesMax } from '../limits.ts';
import {
  COMPRESSION,
  type CompressionCode,
  compress,
  compressionName,
  compressSync,
  decompress,
  decompressSync,
} from './compression.ts';
import { crc32c } from './crc32c.ts';
import { type Cursor, readVarint, varintBytes, writeVarint } from './varint.ts';

/** Byte offsets of the header fields. */
export const F = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordsCount: 57,
  records: 61,
} as const;

/** The bytes before batchLength's count begins: baseOffset and batchLength themselves. */
export const LOG_OVERHEAD = 12;
export const BATCH_HEADER_BYTES = F.records;
export const CURRENT_MAGIC = 2;

export const ATTR = {
  compressionMask: 0x07,
  logAppendTime: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

/** Reads a big-endian int64 as a JS number; the caller checks it is a safe integer where that matters. */
export function readInt64(buf: Uint8Array, pos: number): number {
  const b = buf as Buffer;
  return b.readInt32BE(pos) * 4294967296 + b.readUInt32BE(pos + 4);
}

export function writeInt64(buf: Uint8Array, pos: number, value: number): void {
  assert.ok(Number.isSafeInteger(value), `int64 field must be a safe integer, got ${value}`);
  const b = buf as Buffer;
  const hi = Math.floor(value / 4294967296);
  b.writeInt32BE(hi, pos);
  b.writeUInt32BE(value - hi * 4294967296, pos + 4);
}

export interface BatchHeader {
  baseOffset: number;
  /** Bytes after the batchLength field; the whole batch is `batchLength + LOG_OVERHEAD` bytes. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

export function readBatchHeader(buf: Uint8Array, pos = 0): BatchHeader {
  const b = buf as Buffer;
  return {
    baseOffset: readInt64(b, pos + F.baseOffset),
    batchLength: b.readInt32BE(pos + F.batchLength),
    partitionLeaderEpoch: b.readInt32BE(pos + F.partitionLeaderEpoch),
    magic: b.readInt8(pos + F.magic),
    crc: b.readUInt32BE(pos + F.crc),
    attributes: b.readInt16BE(pos + F.attributes),
    lastOffsetDelta: b.readInt32BE(pos + F.lastOffsetDelta),
    baseTimestamp: readInt64(b, pos + F.baseTimestamp),
    maxTimestamp: readInt64(b, pos + F.maxTimestamp),
    producerId: readInt64(b, pos + F.producerId),
    producerEpoch: b.readInt16BE(pos + F.producerEpoch),
    baseSequence: b.readInt32BE(pos + F.baseSequence),
    recordsCount: b.readInt32BE(pos + F.recordsCount),
  };
}

/** Total size in bytes of the batch that starts at `pos`, from its batchLength field. */
export function batchSizeAt(buf: Uint8Array, pos: number): number {
  return (buf as Buffer).readInt32BE(pos + F.batchLength) + LOG_OVERHEAD;
}

export function lastOffsetOf(buf: Uint8Array, pos: number): number {
  return readInt64(buf, pos + F.baseOffset) + (buf as Buffer).readInt32BE(pos + F.lastOffsetDelta);
}

/** The CRC-32C that a batch stores: over attributes to the end of the batch. */
export function computeBatchCrc(buf: Uint8Array, pos: number, size: number): number {
  return crc32c(buf.subarray(pos + F.attributes, pos + size));
}

/**
 * Checks the framing and the checksum of one batch at `pos` of `buf`, without decoding its records:
 * enough bytes for the header and the claimed length, magic 2, a CRC-32C that matches, a positive record
 * count that agrees with lastOffsetDelta, and a known codec. Returns the batch's size in bytes. Each
 * failure is a typed error naming what is wrong.
 *
 * `strictCount` is false for batches that compaction may have thinned (their count can be below
 * lastOffsetDelta + 1); a fresh batch from a producer is always checked strictly.
 */
export function verifyBatch(buf: Uint8Array, pos: number, end: number, strictCount = true): number {
  const available = end - pos;
  if (available < BATCH_HEADER_BYTES) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `batch header needs ${BATCH_HEADER_BYTES} bytes, ${available} left`,
    );
  }
  const b = buf as Buffer;
  const magic = b.readInt8(pos + F.magic);
  if (magic !== CURRENT_MAGIC) {
    if (magic === 0 || magic === 1) {
      throw new BrokerError(
        'UNSUPPORTED_FOR_MESSAGE_FORMAT',
        `message format v${magic} is not supported; produce RecordBatch v2 (magic 2)`,
      );
    }
    throw new BrokerError('CORRUPT_MESSAGE', `batch has magic ${magic}, expected 2`);
  }
  const batchLength = b.readInt32BE(pos + F.batchLength);
  if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD) {
    throw new BrokerError('CORRUPT_MESSAGE', `batch length ${batchLength} is shorter than a batch header`);
  }
  const size = batchLength + LOG_OVERHEAD;
  if (size > available) {
    throw new BrokerError('CORRUPT_MESSAGE', `batch claims ${size} bytes but only ${available} are present`);
  }
  const stored = b.readUInt32BE(pos + F.crc);
  const actual = computeBatchCrc(b, pos, size);
  if (stored !== actual) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `batch CRC-32C mismatch: stored ${stored.toString(16)}, computed ${actual.toString(16)}`,
    );
  }
  const count = b.readInt32BE(pos + F.recordsCount);
  const lastOffsetDelta = b.readInt32BE(pos + F.lastOffsetDelta);
  if (count < 0 || lastOffsetDelta < 0 || (strictCount && (count === 0 || count !== lastOffsetDelta + 1))) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `batch holds ${count} records but its lastOffsetDelta is ${lastOffsetDelta}`,
    );
  }
  compressionName(b.readInt16BE(pos + F.attributes) & ATTR.compressionMask);
  return size;
}

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface RecordInput {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  /** Milliseconds since the epoch. @default the batch's base timestamp */
  timestamp?: number;
  /** Offset relative to the batch's base offset. @default the record's index in the batch */
  offsetDelta?: number;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface BatchInput {
  records: RecordInput[];
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  compression?: CompressionCode;
  /** @default the first record's timestamp, or now */
  baseTimestamp?: number;
  logAppendTime?: boolean;
  transactional?: boolean;
  control?: boolean;
  /** Set to keep a batch's offset span when compaction removed its last records. */
  lastOffsetDelta?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
}

function nullableBytes(b: Buffer | null | undefined): number {
  return b == null ? varintBytes(-1) : varintBytes(b.length) + b.length;
}

function recordBodyBytes(r: RecordInput, timestampDelta: number, offsetDelta: number): number {
  let n = 1 + varintBytes(timestampDelta) + varintBytes(offsetDelta);
  n += nullableBytes(r.key) + nullableBytes(r.value);
  const headers = r.headers ?? [];
  n += varintBytes(headers.length);
  for (const h of headers) {
    const k = Buffer.byteLength(h.key, 'utf8');
    n += varintBytes(k) + k + nullableBytes(h.value);
  }
  return n;
}

function writeNullable(buf: Buffer, pos: number, b: Buffer | null | undefined): number {
  if (b == null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, b.length);
  b.copy(buf, pos);
  return pos + b.length;
}

/**
 * Encodes the records section (uncompressed) of a batch, after `reserve` bytes left unwritten at the
 * front: an uncompressed batch reserves its header there and is written in one buffer, once.
 */
export function encodeRecords(records: RecordInput[], baseTimestamp: number, reserve = 0): Buffer {
  const sizes: number[] = new Array(records.length);
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const body = recordBodyBytes(r, (r.timestamp ?? baseTimestamp) - baseTimestamp, r.offsetDelta ?? i);
    sizes[i] = body;
    total += varintBytes(body) + body;
  }
  const buf = Buffer.allocUnsafe(reserve + total);
  let pos = reserve;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    pos = writeVarint(buf, pos, sizes[i]);
    const start = pos;
    buf[pos++] = 0; // record attributes: unused by Kafka, always 0
    pos = writeVarint(buf, pos, (r.timestamp ?? baseTimestamp) - baseTimestamp);
    pos = writeVarint(buf, pos, r.offsetDelta ?? i);
    pos = writeNullable(buf, pos, r.key);
    pos = writeNullable(buf, pos, r.value);
    const headers = r.headers ?? [];
    pos = writeVarint(buf, pos, headers.length);
    for (const h of headers) {
      const k = Buffer.from(h.key, 'utf8');
      pos = writeNullable(buf, pos, k);
      pos = writeNullable(buf, pos, h.value);
    }
    assert.equal(pos - start, sizes[i], 'record size computed before writing must match what was written');
  }
  assert.equal(pos, reserve + total);
  return buf;
}

function batchTimestamps(input: BatchInput): { base: number; max: number } {
  const first = input.records[0]?.timestamp;
  const base = input.baseTimestamp ?? first ?? Date.now();
  let max = base;
  for (const r of input.records) if ((r.timestamp ?? base) > max) max = r.timestamp ?? base;
  return { base, max };
}

/**
 * The batch around a records section: `section` is either the section alone (copied after the header)
 * or, with `inPlace`, a buffer that holds it after BATCH_HEADER_BYTES left for the header.
 */
function assembleBatch(
  input: BatchInput,
  section: Buffer,
  base: number,
  max: number,
  inPlace = false,
): Buffer {
  const codec = input.compression ?? COMPRESSION.none;
  const size = inPlace ? section.length : BATCH_HEADER_BYTES + section.length;
  if (size > batchBytesMax) {
    throw new BrokerError('MESSAGE_TOO_LARGE', `batch of ${size} bytes exceeds ${batchBytesMax}`);
  }
  const buf = inPlace ? section : Buffer.allocUnsafe(size);
  let attributes = codec;
  if (input.logAppendTime) attributes |= ATTR.logAppendTime;
  if (input.transactional) attributes |= ATTR.transactional;
  if (input.control) attributes |= ATTR.control;
  const n = input.records.length;
  let lastOffsetDelta = input.lastOffsetDelta ?? 0;
  if (input.lastOffsetDelta === undefined)
    for (let i = 0; i < n; i++)
      lastOffsetDelta = Math.max(lastOffsetDelta, input.records[i].offsetDelta ?? i);
  writeInt64(buf, F.baseOffset, input.baseOffset ?? 0);
  buf.writeInt32BE(size - LOG_OVERHEAD, F.batchLength);
  buf.writeInt32BE(input.partitionLeaderEpoch ?? -1, F.partitionLeaderEpoch);
  buf.writeInt8(CURRENT_MAGIC, F.magic);
  buf.writeInt16BE(attributes, F.attributes);
  buf.writeInt32BE(lastOffsetDelta, F.lastOffsetDelta);
  writeInt64(buf, F.baseTimestamp, base);
  writeInt64(buf, F.maxTimestamp, max);
  writeInt64(buf, F.producerId, input.producerId ?? -1);
  buf.writeInt16BE(input.producerEpoch ?? -1, F.producerEpoch);
  buf.writeInt32BE(input.baseSequence ?? -1, F.baseSequence);
  buf.writeInt32BE(n, F.recordsCount);
  if (!inPlace) section.copy(buf, F.records);
  buf.writeUInt32BE(computeBatchCrc(buf, 0, size), F.crc);
  return buf;
}

/** Encodes one batch, compressing on the calling thread. */
export function encodeBatch(input: BatchInput): Buffer {
  const { base, max } = batchTimestamps(input);
  const codec = input.compression ?? COMPRESSION.none;
  if (codec === COMPRESSION.none)
    return assembleBatch(input, encodeRecords(input.records, base, BATCH_HEADER_BYTES), base, max, true);
  return assembleBatch(input, compressSync(codec, encodeRecords(input.records, base)), base, max);
}

/** Encodes one batch, compressing on libuv's thread pool. */
export async function encodeBatchAsync(input: BatchInput): Promise<Buffer> {
  const { base, max } = batchTimestamps(input);
  const codec = input.compression ?? COMPRESSION.none;
  if (codec === COMPRESSION.none)
    return assembleBatch(input, encodeRecords(input.records, base, BATCH_HEADER_BYTES), base, max, true);
  return assembleBatch(input, await compress(codec, encodeRecords(input.records, base)), base, max);
}

/**
 * Re-encodes `records` under `header` as it was: same base offset, leader epoch, timestamps (the
 * original maxTimestamp too), flags, lastOffsetDelta and producer fields, each record at its original
 * offset, with `compression`. For the broker's own rewrites: recompression to a topic's codec, and
 * compaction thinning a batch.
 */
export async function rebuildBatch(
  header: BatchHeader,
  records: DecodedRecord[],
  compression: CompressionCode,
): Promise<Buffer> {
  const out = await encodeBatchAsync({
    compression,
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    baseTimestamp: header.baseTimestamp,
    logAppendTime: (header.attributes & ATTR.logAppendTime) !== 0,
    transactional: (header.attributes & ATTR.transactional) !== 0,
    control: (header.attributes & ATTR.control) !== 0,
    lastOffsetDelta: header.lastOffsetDelta,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    records: records.map((r) => ({
      key: r.key,
      value: r.value,
      headers: r.headers,
      timestamp: r.timestamp,
      offsetDelta: r.offset - header.baseOffset,
    })),
  });
  // The batch keeps its maxTimestamp even when the record that held it is gone, so time lookups and
  // retention see the same log as before; the CRC covers that field, so the batch is signed again.
  writeInt64(out, F.maxTimestamp, header.maxTimestamp);
  out.writeUInt32BE(computeBatchCrc(out, 0, out.length), F.crc);
  return out;
}

/**
 * The batch `batch` (whole, verified) with its records section `records` (decompressed) compressed
 * under `compression` instead: header fields, records and offsets stay as they were, only the codec bits,
 * the length and the CRC change. The records are not decoded, since their bytes do not depend on the
 * codec. For recompression to a topic's compression.type.
 */
export async function recompressBatch(
  batch: Buffer,
  records: Buffer,
  compression: CompressionCode,
): Promise<Buffer> {
  const section = await compress(compression, records);
  const size = BATCH_HEADER_BYTES + section.length;
  if (size > batchBytesMax) {
    throw new BrokerError(
      'MESSAGE_TOO_LARGE',
      `recompressed batch of ${size} bytes exceeds ${batchBytesMax}`,
    );
  }
  const out = Buffer.allocUnsafe(size);
  batch.copy(out, 0, 0, F.records);
  out.writeInt32BE(size - LOG_OVERHEAD, F.batchLength);
  out.writeInt16BE((batch.readInt16BE(F.attributes) & ~ATTR.compressionMask) | compression, F.attributes);
  section.copy(out, F.records);
  out.writeUInt32BE(computeBatchCrc(out, 0, size), F.crc);
  return out;
}

/**
 * The batch `batch` (whole, verified) keeping only the `count` records whose bytes in its decompressed
 * records section `records` lie in `spans` (pairs of start and end, in order), compressed again
 * with the batch's own codec. A record's bytes hold only deltas from the batch's base offset and base
 * timestamp, which do not change, so kept records are copied as they are, never decoded. Base offset,
 * lastOffsetDelta, timestamps (maxTimestamp too, so time lookups and retention see the same log),
 * flags and producer fields stay; the count, length and CRC change. For compaction.
 */
export async function thinBatch(
  batch: Buffer,
  records: Buffer,
  spans: number[],
  count: number,
): Promise<Buffer> {
  assert.equal(spans.length % 2, 0, 'spans come in start/end pairs');
  let total = 0;
  for (let i = 0; i < spans.length; i += 2) total += spans[i + 1] - spans[i];
  const kept = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < spans.length; i += 2) at += records.copy(kept, at, spans[i], spans[i + 1]);
  const codec = (batch.readInt16BE(F.attributes) & ATTR.compressionMask) as CompressionCode;
  const section = await compress(codec, kept);
  const size = BATCH_HEADER_BYTES + section.length;
  const out = Buffer.allocUnsafe(size);
  batch.copy(out, 0, 0, F.records);
  out.writeInt32BE(size - LOG_OVERHEAD, F.batchLength);
  out.writeInt32BE(count, F.recordsCount);
  section.copy(out, F.records);
  out.writeUInt32BE(computeBatchCrc(out, 0, size), F.crc);
  return out;
}

function readNullable(c: Cursor, what: string): Buffer | null {
  const len = readVarint(c);
  if (len === -1) return null;
  if (len < -1 || c.pos + len > c.end) {
    throw new BrokerError('CORRUPT_MESSAGE', `record ${what} length ${len} runs past the record`);
  }
  const out = (c.buf as Buffer).subarray(c.pos, c.pos + len);
  c.pos += len;
  return out;
}

/**
 * Decodes an uncompressed records section into objects. Keys, values and header values are views into
 * `section`. The broker and the client walk records with the bounded record walk
 * (src/records/record-walk.ts) instead; this separate decoder stays as the reference the tests compare
 * that walk against, and for tools that want every record of one small batch.
 */
export function decodeRecords(header: BatchHeader, section: Buffer): DecodedRecord[] {
  // Each record takes at least 7 bytes, so a count beyond that is a lie that must not size an allocation.
  if (header.recordsCount > section.length / 7 + 1) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `batch claims ${header.recordsCount} records in ${section.length} bytes`,
    );
  }
  const records: DecodedRecord[] = [];
  const c: Cursor = { buf: section, pos: 0, end: section.length };
  for (let i = 0; i < header.recordsCount; i++) {
    const length = readVarint(c);
    const end = c.pos + length;
    if (length < 0 || end > section.length) {
      throw new BrokerError('CORRUPT_MESSAGE', `record ${i} length ${length} runs past the batch`);
    }
    const rc: Cursor = { buf: section, pos: c.pos + 1, end };
    const timestampDelta = readVarint(rc);
    const offsetDelta = readVarint(rc);
    const key = readNullable(rc, 'key');
    const value = readNullable(rc, 'value');
    const headerCount = readVarint(rc);
    if (headerCount < 0 || headerCount > (end - rc.pos) / 2) {
      throw new BrokerError('CORRUPT_MESSAGE', `record ${i} claims ${headerCount} headers`);
    }
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const k = readNullable(rc, 'header key');
      if (k === null) throw new BrokerError('CORRUPT_MESSAGE', `record ${i} has a null header key`);
      headers.push({ key: k.toString('utf8'), value: readNullable(rc, 'header value') });
    }
    if (rc.pos !== end) {
      throw new BrokerError('CORRUPT_MESSAGE', `record ${i} has ${end - rc.pos} bytes left over`);
    }
    records.push({
      offset: header.baseOffset + offsetDelta,
      timestamp:
        header.attributes & ATTR.logAppendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    });
    c.pos = end;
  }
  if (c.pos !== section.length) {
    throw new BrokerError('CORRUPT_MESSAGE', `records section has ${section.length - c.pos} bytes left over`);
  }
  return records;
}

export interface DecodedBatch {
  header: BatchHeader;
  records: DecodedRecord[];
}

/** How far the records of one batch may expand when decompressed. */
const decompressedBytesMax = batchBytesMax * 4;

function sectionOf(buf: Buffer, pos: number, header: BatchHeader): Buffer {
  return buf.subarray(pos + F.records, pos + header.batchLength + LOG_OVERHEAD);
}

/** Decodes the batch at `pos` (verifying it first), decompressing on the calling thread. */
export function decodeBatch(buf: Buffer, pos = 0): DecodedBatch {
  verifyBatch(buf, pos, buf.length, false);
  const header = readBatchHeader(buf, pos);
  const codec = (header.attributes & ATTR.compressionMask) as CompressionCode;
  const section = decompressSync(codec, sectionOf(buf, pos, header), {
    maxOutputBytes: decompressedBytesMax,
  });
  return { header, records: decodeRecords(header, section) };
}

/** Decodes the batch at `pos` (verifying it first), decompressing on libuv's thread pool. */
export async function decodeBatchAsync(buf: Buffer, pos = 0): Promise<DecodedBatch> {
  verifyBatch(buf, pos, buf.length, false);
  const header = readBatchHeader(buf, pos);
  const codec = (header.attributes & ATTR.compressionMask) as CompressionCode;
  const section = await decompress(codec, sectionOf(buf, pos, header), {
    maxOutputBytes: decompressedBytesMax,
  });
  return { header, records: decodeRecords(header, section) };
}

/** Calls `fn` with the position and size of each whole batch in `buf`, stopping at a partial one. */
export function forEachBatch(buf: Buffer, fn: (pos: number, size: number) => void): number {
  let pos = 0;
  while (pos + LOG_OVERHEAD <= buf.length) {
    const size = batchSizeAt(buf, pos);
    if (size < BATCH_HEADER_BYTES || pos + size > buf.length) break;
    fn(pos, size);
    pos += size;
  }
  return pos;
}
