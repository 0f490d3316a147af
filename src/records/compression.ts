/**
 * The compression codecs of RecordBatch v2 (attributes bits 0-2): the records section of a batch is
 * compressed as one unit.
 *
 * - gzip: RFC 1952, Node's zlib.
 * - snappy: Kafka's Java clients write snappy-java's "xerial" framing (a magic header, then blocks each
 *   prefixed with a 4-byte big-endian length); librdkafka writes either. We read both framed and raw and
 *   write the framed form, which every Kafka client reads.
 * - lz4: the LZ4 frame format (magic 0x184D2204) with independent blocks, which is what Kafka's
 *   KafkaLZ4BlockOutputStream and librdkafka write for magic 2.
 * - zstd: RFC 8878 frames, Node's zlib.
 *
 * Each codec has a synchronous form for small inputs and tests, and an asynchronous form that runs on
 * libuv's thread pool so that the event loop keeps serving while a large batch is (de)compressed.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import lz4 from 'lz4-napi';
import snappy from 'snappy';
import { BrokerError } from '../errors.ts';

export const COMPRESSION = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionName = keyof typeof COMPRESSION;
export type CompressionCode = (typeof COMPRESSION)[CompressionName];

export const COMPRESSION_NAMES: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export function compressionName(code: number): CompressionName {
  const name = COMPRESSION_NAMES[code];
  if (name === undefined) {
    throw new BrokerError(
      'UNSUPPORTED_COMPRESSION_TYPE',
      `unknown compression codec ${code} in batch attributes`,
    );
  }
  return name;
}

/** snappy-java's stream header: 0x82 "SNAPPY" 0x00, then version 1 and minimum compatible version 1. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
/** snappy-java's default block size; each block is compressed independently. */
const XERIAL_BLOCK_BYTES = 32 * 1024;

function isXerialFramed(data: Buffer): boolean {
  return data.length >= XERIAL_HEADER_BYTES && data.subarray(0, 8).equals(XERIAL_MAGIC);
}

function xerialHeader(): Buffer {
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  return header;
}

/** Splits a xerial-framed buffer into its compressed blocks, checking that every length fits. */
function xerialBlocks(data: Buffer): Buffer[] {
  const blocks: Buffer[] = [];
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (pos + 4 > data.length) throw new BrokerError('CORRUPT_MESSAGE', 'snappy: truncated block length');
    const len = data.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > data.length) {
      throw new BrokerError('CORRUPT_MESSAGE', `snappy: block of ${len} bytes runs past the data`);
    }
    blocks.push(data.subarray(pos, pos + len));
    pos += len;
  }
  return blocks;
}

function framedSnappySync(data: Buffer): Buffer {
  const parts: Buffer[] = [xerialHeader()];
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK_BYTES) {
    const block = snappy.compressSync(data.subarray(pos, pos + XERIAL_BLOCK_BYTES));
    const len = Buffer.alloc(4);
    len.writeInt32BE(block.length, 0);
    parts.push(len, block);
  }
  return Buffer.concat(parts);
}

async function framedSnappy(data: Buffer): Promise<Buffer> {
  const tasks: Promise<Buffer>[] = [];
  for (let pos = 0; pos < data.length; pos += XERIAL_BLOCK_BYTES) {
    tasks.push(snappy.compress(data.subarray(pos, pos + XERIAL_BLOCK_BYTES)));
  }
  const parts: Buffer[] = [xerialHeader()];
  for (const block of await Promise.all(tasks)) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(block.length, 0);
    parts.push(len, block);
  }
  return Buffer.concat(parts);
}

/** Reads the uncompressed length that starts every raw snappy block (an unsigned little-endian varint). */
function snappyLength(block: Buffer): number {
  let result = 0;
  let multiplier = 1;
  for (let i = 0; i < 5 && i < block.length; i++) {
    result += (block[i] & 0x7f) * multiplier;
    if ((block[i] & 0x80) === 0) return result;
    multiplier *= 128;
  }
  throw new BrokerError('CORRUPT_MESSAGE', 'snappy: bad block length');
}

/** The bytes that snappy data will decompress to, read from the block headers before any allocation. */
function snappyOutputBytes(data: Buffer): number {
  if (!isXerialFramed(data)) return snappyLength(data);
  let total = 0;
  for (const block of xerialBlocks(data)) total += snappyLength(block);
  return total;
}

/**
 * An upper bound on what an LZ4 frame decompresses to: its block count times its maximum block size,
 * read from the frame descriptor before decompressing. No block can expand past the maximum.
 */
function lz4OutputBytesBound(data: Buffer): number {
  if (data.length < 7 || data.readUInt32LE(0) !== 0x184d2204) {
    throw new BrokerError('CORRUPT_MESSAGE', 'lz4: not an LZ4 frame');
  }
  const flg = data[4];
  const blockMaxBytes = 1 << (8 + 2 * ((data[5] >> 4) & 0x7));
  const blockChecksum = (flg & 0x10) !== 0;
  let pos = 6 + ((flg & 0x08) !== 0 ? 8 : 0) + ((flg & 0x01) !== 0 ? 4 : 0) + 1;
  let blocks = 0;
  while (pos + 4 <= data.length) {
    const word = data.readUInt32LE(pos);
    pos += 4;
    if (word === 0) return blocks * blockMaxBytes;
    pos += (word & 0x7fffffff) + (blockChecksum ? 4 : 0);
    blocks++;
  }
  throw new BrokerError('CORRUPT_MESSAGE', 'lz4: frame has no end mark');
}

/**
 * Walks the frames of zstd data (RFC 8878 section 3.1) and throws unless every frame is whole. Node's
 * zstd decoder returns what it could decode from a truncated frame without an error, so completeness is
 * checked here, from the block headers, before decoding.
 */
function checkZstdFrames(data: Buffer): void {
  const truncated = () => new BrokerError('CORRUPT_MESSAGE', 'zstd: truncated frame');
  let pos = 0;
  if (data.length === 0) throw truncated();
  while (pos < data.length) {
    if (pos + 4 > data.length) throw truncated();
    const magic = data.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (pos + 8 > data.length) throw truncated();
      pos += 8 + data.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== 0xfd2fb528) throw new BrokerError('CORRUPT_MESSAGE', 'zstd: bad frame magic');
    if (pos + 5 > data.length) throw truncated();
    const fhd = data[pos + 4];
    const singleSegment = (fhd >> 5) & 1;
    const fcsBytes = [singleSegment, 2, 4, 8][fhd >> 6];
    pos += 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + fcsBytes;
    for (;;) {
      if (pos + 3 > data.length) throw truncated();
      const header = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16);
      const type = (header >> 1) & 3;
      if (type === 3) throw new BrokerError('CORRUPT_MESSAGE', 'zstd: reserved block type');
      pos += 3 + (type === 1 ? 1 : header >>> 3);
      if (header & 1) break;
    }
    pos += (fhd >> 2) & 1 ? 4 : 0;
    if (pos > data.length) throw truncated();
  }
}

/**
 * The output chunk size for zlib's gzip and zstd decoders: the size the data says it decompresses to
 * (gzip's ISIZE trailer, zstd's frame content size), so that the output is one buffer rather than
 * 16 KiB chunks joined at the end, which halves the cost of decompressing a typical batch (measured
 * by bench/validate.ts). The claim only sizes the first chunk: it is capped at 64 times the compressed
 * size (far above what real records reach) and at 4 MiB, so a lie costs a bounded allocation, and a
 * claim that is too small only means more chunks.
 */
function chunkBytes(codec: CompressionCode, data: Buffer, maxOutputBytes: number): number | undefined {
  const claimed = claimedOutputBytes(codec, data);
  if (claimed <= 0) return undefined;
  return Math.max(64, Math.min(claimed + 1, maxOutputBytes + 1, data.length * 64, 4 * 1024 * 1024));
}

/**
 * What gzip or zstd data says it decompresses to (gzip's ISIZE trailer, modulo 2^32; the first zstd
 * frame's content size), or 0 when it does not say or for another codec. A claim, never trusted for
 * more than a hint: decompression is bounded on its own.
 */
export function claimedOutputBytes(codec: CompressionCode, data: Buffer): number {
  if (codec === COMPRESSION.gzip) return data.length < 18 ? 0 : data.readUInt32LE(data.length - 4);
  if (codec === COMPRESSION.zstd) return zstdContentBytes(data);
  return 0;
}

/** The frame content size a zstd frame header declares (RFC 8878 section 3.1.1.1.4), or 0 if none. */
function zstdContentBytes(data: Buffer): number {
  if (data.length < 6 || data.readUInt32LE(0) !== 0xfd2fb528) return 0;
  const fhd = data[4];
  const singleSegment = (fhd >> 5) & 1;
  const fcsBytes = [singleSegment, 2, 4, 8][fhd >> 6];
  const pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3];
  if (fcsBytes === 0 || pos + fcsBytes > data.length) return 0;
  switch (fcsBytes) {
    case 1:
      return data[pos];
    case 2:
      return data.readUInt16LE(pos) + 256;
    case 4:
      return data.readUInt32LE(pos);
    default:
      return data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 4294967296;
  }
}

function checkBound(codec: CompressionName, outputBytes: number, maxOutputBytes: number): void {
  if (outputBytes > maxOutputBytes) {
    throw new BrokerError(
      'MESSAGE_TOO_LARGE',
      `${codec}: records claim to decompress to more than ${maxOutputBytes} bytes`,
    );
  }
}

function unsnappySync(data: Buffer): Buffer {
  if (!isXerialFramed(data)) return snappy.uncompressSync(data) as Buffer;
  return Buffer.concat(xerialBlocks(data).map((b) => snappy.uncompressSync(b) as Buffer));
}

async function unsnappy(data: Buffer): Promise<Buffer> {
  if (!isXerialFramed(data)) return (await snappy.uncompress(data)) as Buffer;
  const blocks = await Promise.all(xerialBlocks(data).map((b) => snappy.uncompress(b)));
  return Buffer.concat(blocks as Buffer[]);
}

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);
const zstdAsync = promisify(zlib.zstdCompress);
const unzstdAsync = promisify(zlib.zstdDecompress);

/**
 * Decompression never produces more than this many bytes, so a small hostile payload cannot expand
 * into an allocation the broker cannot afford (a "zip bomb").
 */
export interface DecompressOptions {
  maxOutputBytes: number;
}

function wrapCodecError(codec: CompressionName, err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
    return new BrokerError('MESSAGE_TOO_LARGE', `${codec}: records decompress past the allowed size`, {
      cause: err,
    });
  }
  return new BrokerError(
    'CORRUPT_MESSAGE',
    `${codec}: cannot decompress records: ${(err as Error).message}`,
    {
      cause: err,
    },
  );
}

export function compressSync(codec: CompressionCode, data: Buffer): Buffer {
  switch (codec) {
    case COMPRESSION.none:
      return data;
    case COMPRESSION.gzip:
      return zlib.gzipSync(data);
    case COMPRESSION.snappy:
      return framedSnappySync(data);
    case COMPRESSION.lz4:
      return lz4.compressFrameSync(data);
    case COMPRESSION.zstd:
      return zlib.zstdCompressSync(data);
  }
}

export async function compress(codec: CompressionCode, data: Buffer): Promise<Buffer> {
  switch (codec) {
    case COMPRESSION.none:
      return data;
    case COMPRESSION.gzip:
      return gzipAsync(data);
    case COMPRESSION.snappy:
      return framedSnappy(data);
    case COMPRESSION.lz4:
      return lz4.compressFrame(data);
    case COMPRESSION.zstd:
      return zstdAsync(data);
  }
}

export function decompressSync(codec: CompressionCode, data: Buffer, opts: DecompressOptions): Buffer {
  const name = compressionName(codec);
  try {
    switch (codec) {
      case COMPRESSION.none:
        return data;
      case COMPRESSION.gzip:
        return zlib.gunzipSync(data, {
          maxOutputLength: opts.maxOutputBytes,
          chunkSize: chunkBytes(codec, data, opts.maxOutputBytes),
        });
      case COMPRESSION.snappy:
        checkBound(name, snappyOutputBytes(data), opts.maxOutputBytes);
        return unsnappySync(data);
      case COMPRESSION.lz4:
        checkBound(name, lz4OutputBytesBound(data), opts.maxOutputBytes);
        return lz4.decompressFrameSync(data);
      case COMPRESSION.zstd:
        checkZstdFrames(data);
        return zlib.zstdDecompressSync(data, {
          maxOutputLength: opts.maxOutputBytes,
          chunkSize: chunkBytes(codec, data, opts.maxOutputBytes),
        });
    }
  } catch (err) {
    throw wrapCodecError(name, err);
  }
}

export async function decompress(
  codec: CompressionCode,
  data: Buffer,
  opts: DecompressOptions,
): Promise<Buffer> {
  const name = compressionName(codec);
  try {
    switch (codec) {
      case COMPRESSION.none:
        return data;
      case COMPRESSION.gzip:
        return await gunzipAsync(data, {
          maxOutputLength: opts.maxOutputBytes,
          chunkSize: chunkBytes(codec, data, opts.maxOutputBytes),
        });
      case COMPRESSION.snappy:
        checkBound(name, snappyOutputBytes(data), opts.maxOutputBytes);
        return await unsnappy(data);
      case COMPRESSION.lz4:
        checkBound(name, lz4OutputBytesBound(data), opts.maxOutputBytes);
        return await lz4.decompressFrame(data);
      case COMPRESSION.zstd:
        checkZstdFrames(data);
        return await unzstdAsync(data, {
          maxOutputLength: opts.maxOutputBytes,
          chunkSize: chunkBytes(codec, data, opts.maxOutputBytes),
        });
    }
  } catch (err) {
    throw wrapCodecError(name, err);
  }
}
