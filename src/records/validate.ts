/**
 * Validation of the batches a producer sends, before they reach the log, in the manner of Kafka's
 * LogValidator (storage/src/main/java/org/apache/kafka/storage/internals/log/LogValidator.java): the
 * batch's framing and CRC-32C (`verifyBatch`), then the flags, then every record's framing through the
 * one record walk, decompressing a compressed batch once under `batchDecompressedBytesMax`. What a
 * client may not send is refused with a typed error: CORRUPT_MESSAGE for a batch whose bytes contradict
 * themselves (records not framed, a count that differs from the records held, data not in the declared
 * codec, a control bit on a non-transactional batch), INVALID_RECORD for a well-formed batch that only
 * the broker may write (a control batch), MESSAGE_TOO_LARGE past the record and byte bounds.
 */
import { BrokerError } from '../errors.ts';
import { ATTR, type BatchHeader, F, LOG_OVERHEAD, readBatchHeader, verifyBatch } from './batch.ts';
import type { CompressionCode } from './compression.ts';
import { recordsSection, walkRecords } from './record-walk.ts';

export interface ValidatedBatch {
  header: BatchHeader;
  /** Size in bytes of the whole batch. */
  size: number;
  codec: CompressionCode;
  /** The records section, decompressed (for an uncompressed batch, a view into the input). */
  records: Buffer;
}

/**
 * Validates the batch at `pos` of `buf` (ending at or before `end`) as sent by a client and returns it
 * with its records decompressed, so a caller that recompresses need not decompress again. A batch
 * larger than `batchBytesMax` (the log's max.message.bytes) is refused before its CRC is computed or
 * anything is decompressed. Throws the first problem found; nothing is allocated from what a field
 * merely claims.
 */
export async function validateClientBatch(
  buf: Buffer,
  pos: number,
  end: number,
  batchBytesMax = Number.POSITIVE_INFINITY,
): Promise<ValidatedBatch> {
  if (end - pos >= LOG_OVERHEAD) {
    const claimed = buf.readInt32BE(pos + F.batchLength) + LOG_OVERHEAD;
    if (claimed > batchBytesMax && claimed <= end - pos) {
      throw new BrokerError(
        'MESSAGE_TOO_LARGE',
        `batch of ${claimed} bytes is larger than max.message.bytes (${batchBytesMax})`,
      );
    }
  }
  const size = verifyBatch(buf, pos, end, true);
  const header = readBatchHeader(buf, pos);
  checkFlags(header.attributes);
  const codec = (header.attributes & ATTR.compressionMask) as CompressionCode;
  const section = buf.subarray(pos + F.records, pos + header.batchLength + LOG_OVERHEAD);
  const records = await recordsSection(codec, section);
  walkRecords(header, records, { strict: true });
  return { header, size, codec, records };
}

function checkFlags(attributes: number): void {
  if (attributes & ATTR.control) {
    if (!(attributes & ATTR.transactional)) {
      throw new BrokerError('CORRUPT_MESSAGE', 'batch has the control bit set but is not transactional');
    }
    // Control batches (transaction markers) are written by the broker's transaction coordinator only.
    throw new BrokerError('INVALID_RECORD', 'clients may not write control batches');
  }
}
