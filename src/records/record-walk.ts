/**
 * The one walk over the records of a RecordBatch v2 (DESIGN.md's `records/` layer): record framing is
 * read in place, varint by varint, with no per-record object, no copy and no Buffer.concat. The same
 * walk validates a producer's batch on append (Kafka's LogValidator, storage/.../log/LogValidator.java:
 * every record framed, offset deltas in order, the count matching what the batch holds, control batches
 * transactional, see validate.ts) and serves every path that looks inside a stored batch: the time
 * lookup, compaction, gRPC consume, the client's decode and the `__consumer_offsets` loader
 * (recompression reuses the records section validation decompressed). Each walk is bounded by
 * `batchRecordsMax` records and, for a compressed batch, by `batchDecompressedBytesMax` bytes of
 * decompressed records, so a small batch that claims or expands to millions of records costs a bounded
 * amount of memory and time before it is refused.
 *
 * Record => length: varint, attributes: int8, timestampDelta: varlong, offsetDelta: varint,
 *           keyLength: varint, key, valueLength: varint, value, headers count: varint,
 *           [headerKeyLength: varint, headerKey, headerValueLength: varint, headerValue]
 */
import { BrokerError, isBrokerError } from '../errors.ts';
import {
  batchDecompressedBytesMax,
  batchRecordsMax,
  decompressInlineBytesMax,
  recordBytesMin,
} from '../limits.ts';
import { ATTR, type DecodedRecord, F, LOG_OVERHEAD, type RecordHeader, readBatchHeader } from './batch.ts';
import { type CompressionCode, claimedOutputBytes, decompress, decompressSync } from './compression.ts';
import { readVarint } from './varint.ts';

/** The header fields a walk needs; read once per batch by the caller. */
export interface WalkHeader {
  baseOffset: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  recordsCount: number;
}

/**
 * One record of a walk, as positions into the records section. The walk reuses a single view: a
 * visitor that keeps anything copies the numbers or takes `subarray`s of the section.
 */
export interface RecordView {
  /** The record's index in its batch. */
  index: number;
  /** First byte of the record (its length varint) and the byte after it. */
  start: number;
  end: number;
  offsetDelta: number;
  /** The record's timestamp: baseTimestamp + delta, or maxTimestamp under LogAppendTime. */
  timestamp: number;
  /** Position and length of the key; length -1 for a null key. */
  keyStart: number;
  keyLength: number;
  valueStart: number;
  valueLength: number;
  /** Position of the first header's key length varint. */
  headersStart: number;
  headerCount: number;
}

export interface WalkOptions {
  /**
   * A batch fresh from a producer: offset deltas must be 0, 1, 2, ... and the count must equal
   * lastOffsetDelta + 1. Otherwise (a batch compaction may have thinned) deltas must only increase and
   * stay within lastOffsetDelta. @default true
   */
  strict?: boolean;
  /** Most records the walk reads before it refuses the batch. @default batchRecordsMax */
  recordsMax?: number;
}

/** Returned by a visitor to stop the walk early (the rest of the batch is neither read nor checked). */
export const STOP = true;

const corrupt = (msg: string) => new BrokerError('CORRUPT_MESSAGE', msg);

/**
 * Walks an uncompressed records section, checking each record's framing, and calls `visit` with each.
 * Returns the number of records read. Throws CORRUPT_MESSAGE when a record is not framed, an offset
 * delta is out of order, or the count in the header differs from the records present; throws
 * MESSAGE_TOO_LARGE past `recordsMax` records.
 */
export function walkRecords(
  header: WalkHeader,
  section: Uint8Array,
  opts: WalkOptions = {},
  visit?: (r: RecordView) => boolean | undefined,
): number {
  const strict = opts.strict ?? true;
  const recordsMax = opts.recordsMax ?? batchRecordsMax;
  const count = header.recordsCount;
  const sectionEnd = section.length;
  // Every record takes at least recordBytesMin bytes: a count beyond that cannot be true, whatever the
  // codec, and is refused before any record is read (issue 10 finding 1).
  if (count < 0 || count > Math.floor(sectionEnd / recordBytesMin)) {
    throw corrupt(`batch claims ${count} records in ${sectionEnd} bytes of records`);
  }
  const logAppendTime = (header.attributes & ATTR.logAppendTime) !== 0;
  const baseTimestamp = header.baseTimestamp;
  const lastOffsetDelta = header.lastOffsetDelta;
  const view: RecordView = {
    index: 0,
    start: 0,
    end: 0,
    offsetDelta: 0,
    timestamp: 0,
    keyStart: 0,
    keyLength: -1,
    valueStart: 0,
    valueLength: -1,
    headersStart: 0,
    headerCount: 0,
  };
  let previousDelta = -1;
  let index = 0;
  at = 0;
  // The hot loop of record validation: positions live in `at` (module state, see `varint32`) and
  // locals, never in an object; this walks about 10 million small records a second (bench/validate.ts).
  while (at < sectionEnd) {
    if (index >= count) {
      throw corrupt(`batch claims ${count} records but holds more (${sectionEnd - at} bytes left over)`);
    }
    if (index >= recordsMax) {
      throw new BrokerError('MESSAGE_TOO_LARGE', `batch holds more than ${recordsMax} records`);
    }
    const start = at;
    const length = varint32(section, sectionEnd);
    const end = at + length;
    if (length < recordBytesMin - 1 || end > sectionEnd) {
      throw corrupt(`record ${index} has length ${length}, which does not fit the batch`);
    }
    at++; // record attributes: unused by Kafka
    const timestampDelta = varlong(section, end);
    const offsetDelta = varint32(section, end);
    if (strict ? offsetDelta !== index : offsetDelta <= previousDelta || offsetDelta > lastOffsetDelta) {
      throw corrupt(`record ${index} has offset delta ${offsetDelta} after ${previousDelta}`);
    }
    previousDelta = offsetDelta;
    const keyLength = varint32(section, end);
    const keyStart = at;
    if (keyLength !== -1) skip(keyLength, end, index, 'key');
    const valueLength = varint32(section, end);
    const valueStart = at;
    if (valueLength !== -1) skip(valueLength, end, index, 'value');
    const headerCount = varint32(section, end);
    const headersStart = at;
    if (headerCount < 0 || headerCount > (end - at) / 2) {
      throw corrupt(`record ${index} claims ${headerCount} headers`);
    }
    for (let h = 0; h < headerCount; h++) {
      const k = varint32(section, end);
      if (k < 0) throw corrupt(`record ${index} has a null header key`);
      skip(k, end, index, 'header key');
      const v = varint32(section, end);
      if (v !== -1) skip(v, end, index, 'header value');
    }
    if (at !== end) throw corrupt(`record ${index} has ${end - at} bytes left over`);
    const timestamp = logAppendTime ? header.maxTimestamp : baseTimestamp + timestampDelta;
    if (!Number.isSafeInteger(timestamp)) {
      throw corrupt(`record ${index} has timestamp delta ${timestampDelta}, past the int64 range kept`);
    }
    if (visit !== undefined) {
      view.index = index;
      view.start = start;
      view.end = end;
      view.offsetDelta = offsetDelta;
      view.timestamp = timestamp;
      view.keyStart = keyStart;
      view.keyLength = keyLength;
      view.valueStart = valueStart;
      view.valueLength = valueLength;
      view.headersStart = headersStart;
      view.headerCount = headerCount;
      if (visit(view) === STOP) return index + 1;
      // A visitor may read with the same cursor (materialize does); the walk goes on after the record.
      at = end;
    }
    index++;
  }
  if (index !== count) throw corrupt(`batch claims ${count} records but holds ${index}`);
  if (strict && count !== lastOffsetDelta + 1) {
    throw corrupt(`batch holds ${count} records but its lastOffsetDelta is ${lastOffsetDelta}`);
  }
  return index;
}

/** The read position of the walk in progress; walks never interleave (each runs to its end synchronously). */
let at = 0;

/**
 * A zigzag varint of at most 32 bits read at `at`, which it advances; `end` is where the record ends.
 * Decoded with int arithmetic, no allocation.
 */
function varint32(buf: Uint8Array, end: number): number {
  let p = at;
  let zz = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= end) throw corrupt('varint runs past the end of the record');
    const b = buf[p++];
    if (shift === 28) {
      if (b > 0x0f) throw corrupt('varint does not fit 32 bits');
      zz |= b << 28;
      break;
    }
    zz |= (b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  at = p;
  return (zz >>> 1) ^ -(zz & 1);
}

/** A zigzag varlong read at `at`: up to four bytes with int arithmetic, longer through `readVarint`. */
function varlong(buf: Uint8Array, end: number): number {
  let p = at;
  let zz = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (p >= end) throw corrupt('varint runs past the end of the record');
    const b = buf[p++];
    zz |= (b & 0x7f) << shift;
    if (b < 0x80) {
      at = p;
      return (zz >>> 1) ^ -(zz & 1);
    }
  }
  const c = { buf, pos: at, end };
  const value = readVarint(c);
  at = c.pos;
  return value;
}

/** Steps over `length` bytes of the record. */
function skip(length: number, end: number, index: number, what: string): void {
  if (length < 0 || at + length > end) {
    throw corrupt(`record ${index} ${what} length ${length} runs past the record`);
  }
  at += length;
}

/**
 * The records section of a batch, decompressed with its output bounded by `batchDecompressedBytesMax`:
 * a batch whose records expand past it is refused with MESSAGE_TOO_LARGE before anything else holds
 * it. An uncompressed section is returned as is (a view, no copy). A section that decompresses to at
 * most `decompressInlineBytesMax` is decompressed on the calling thread, since a hop to libuv's thread
 * pool costs more than that much decompression (bench/validate.ts); a larger one is tried there first
 * only up to that bound, then decompressed on the thread pool so the event loop keeps serving.
 */
export async function recordsSection(codec: CompressionCode, section: Buffer): Promise<Buffer> {
  if (codec === 0) return section;
  // Data that says it expands further goes to the thread pool at once; a claim too small only costs
  // a bounded attempt here first.
  if (claimedOutputBytes(codec, section) <= decompressInlineBytesMax) {
    try {
      return decompressSync(codec, section, { maxOutputBytes: decompressInlineBytesMax });
    } catch (err) {
      if (!isBrokerError(err) || err.code !== 'MESSAGE_TOO_LARGE') throw err;
    }
  }
  return decompress(codec, section, { maxOutputBytes: batchDecompressedBytesMax });
}

/** `recordsSection` on the calling thread, for small inputs and tests. */
export function recordsSectionSync(codec: CompressionCode, section: Buffer): Buffer {
  return decompressSync(codec, section, { maxOutputBytes: batchDecompressedBytesMax });
}

/**
 * Walks the records of one stored batch (`batch` holds exactly the batch, already CRC-checked):
 * decompresses its records once under `batchDecompressedBytesMax` on the thread pool, then walks them
 * in place, not strictly (compaction may have thinned the batch). `visit` gets each record's view and
 * the records section the view points into.
 */
export async function walkBatch(
  batch: Buffer,
  visit: (r: RecordView, records: Buffer) => boolean | undefined,
  opts: WalkOptions = {},
): Promise<number> {
  const header = readBatchHeader(batch);
  const codec = (header.attributes & ATTR.compressionMask) as CompressionCode;
  const records = await recordsSection(codec, batch.subarray(F.records, header.batchLength + LOG_OVERHEAD));
  return walkRecords(header, records, { strict: false, ...opts }, (r) => visit(r, records));
}

/** `walkBatch` decompressing on the calling thread. */
export function walkBatchSync(
  batch: Buffer,
  visit: (r: RecordView, records: Buffer) => boolean | undefined,
  opts: WalkOptions = {},
): number {
  const header = readBatchHeader(batch);
  const codec = (header.attributes & ATTR.compressionMask) as CompressionCode;
  const records = recordsSectionSync(codec, batch.subarray(F.records, header.batchLength + LOG_OVERHEAD));
  return walkRecords(header, records, { strict: false, ...opts }, (r) => visit(r, records));
}

/** The key of the record a view points at, as a view into `records`, or null. */
export function recordKey(r: RecordView, records: Buffer): Buffer | null {
  return r.keyLength < 0 ? null : records.subarray(r.keyStart, r.keyStart + r.keyLength);
}

/** The value of the record a view points at, as a view into `records`, or null. */
export function recordValue(r: RecordView, records: Buffer): Buffer | null {
  return r.valueLength < 0 ? null : records.subarray(r.valueStart, r.valueStart + r.valueLength);
}

/**
 * One record as an object with its offset, for the few paths that hand records out (gRPC consume):
 * keys, values and header values are views into `records`. The walk already checked the framing.
 */
export function materialize(baseOffset: number, r: RecordView, records: Buffer): DecodedRecord {
  const headers: RecordHeader[] = [];
  at = r.headersStart;
  for (let h = 0; h < r.headerCount; h++) {
    const k = varint32(records, r.end);
    const key = records.toString('utf8', at, at + k);
    at += k;
    const v = varint32(records, r.end);
    headers.push({ key, value: v < 0 ? null : records.subarray(at, at + v) });
    if (v > 0) at += v;
  }
  return {
    offset: baseOffset + r.offsetDelta,
    timestamp: r.timestamp,
    key: recordKey(r, records),
    value: recordValue(r, records),
    headers,
  };
}
