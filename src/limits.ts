/**
 * Every bound of the broker, in one place (DESIGN.md decision 8, STYLE.md "Limits and errors").
 *
 * Each bound carries its unit last in its name, its default, and the reason for it. Per-topic and
 * per-node settings (config/) may move a default within the `Min`/`Max` bounds given here; the bounds
 * themselves are fixed because other code relies on them (buffer sizes, integer widths).
 * `checkLimits()` asserts the relations between them and runs when the module loads.
 */
import assert from 'node:assert/strict';

/** Size of the fixed RecordBatch v2 header, from baseOffset to recordsCount. Kafka protocol constant. */
export const batchHeaderBytes = 61;

/**
 * Largest single batch the log accepts by default (Kafka's `max.message.bytes`, 1 MiB plus overhead).
 * @default 1048588
 */
export const batchBytesDefault = 1_048_588;

/**
 * Hard ceiling for `max.message.bytes`: a batch is held in memory whole while validated, and its length
 * must fit a signed 32-bit field with room for the frame around it.
 */
export const batchBytesMax = 64 * 1024 * 1024;

/**
 * Most records one batch may hold. A walk over a batch's records (validation on append, the time lookup,
 * compaction, gRPC consume, the offsets loader) stops after this many and the batch is refused with
 * MESSAGE_TOO_LARGE, so a small compressed batch that expands to millions of empty records (issue 10
 * finding 4) costs bounded time. librdkafka's `batch.num.messages` tops out at the same number, so no
 * configuration of a common client produces more. Not configurable.
 * @default 1000000
 */
export const batchRecordsMax = 1_000_000;

/**
 * Most bytes the records of one compressed batch may decompress to. Decompression stops there and the
 * batch is refused with MESSAGE_TOO_LARGE (never an allocation of what the codec's headers claim): a
 * compressed batch may hold no more record bytes than the largest uncompressed batch the log accepts.
 * Not configurable.
 * @default 67108864 (64 MiB, batchBytesMax)
 */
export const batchDecompressedBytesMax = 64 * 1024 * 1024;

/**
 * Most decompressed bytes a batch's records are decompressed to on the event loop rather than on
 * libuv's thread pool: below it the hop to the pool costs more than the work (bench/validate.ts), and
 * it bounds how long one batch can hold the event loop (about a millisecond). A batch that expands
 * further is decompressed again on the thread pool, up to batchDecompressedBytesMax. Not configurable.
 * @default 262144 (256 KiB)
 */
export const decompressInlineBytesMax = 256 * 1024;

/**
 * The fewest bytes a record can take: a length, attributes, timestamp delta, offset delta, key length,
 * value length and header count of one byte each. A batch claiming more records than its (decompressed)
 * records section could hold at this size is refused with CORRUPT_MESSAGE before any record is read.
 * Kafka protocol constant.
 */
export const recordBytesMin = 7;

/**
 * Most records one decoded fetch (gRPC Consume, ConsumeBatch and Subscribe without `raw`) hands out;
 * a larger `max_records` is cut to this, and the answer's next offset says where to go on. Each record
 * becomes an object and a wire message, so this bounds a response's memory whatever a batch expands to.
 * Not configurable.
 * @default 10000
 */
export const consumeRecordsMax = 10_000;

/** Default size at which the active segment rolls (Kafka `segment.bytes`). @default 1 GiB */
export const segmentBytesDefault = 1024 * 1024 * 1024;

/** Smallest allowed `segment.bytes`; tests use small segments, production should not. */
export const segmentBytesMin = 1024;

/**
 * Largest allowed `segment.bytes`: positions in the sparse index are unsigned 32-bit, as in Kafka, so a
 * segment may not grow past 2 GiB - 1.
 */
export const segmentBytesMax = 2 ** 31 - 1;

/**
 * Largest offset relative to its segment's base that a segment may hold: the `.index` and `.timeindex`
 * store relative offsets as int32, as Kafka's do (`LogSegment.canConvertToRelativeOffset`). Not
 * configurable. When an append's last offset would pass it, the active segment rolls first and the
 * batch starts a new segment at its own base offset; recovery splits a segment written by an older
 * release that passed it (Kafka's `splitOverflowedSegment`).
 * @default 2147483647
 */
export const segmentRelativeOffsetMax = 2 ** 31 - 1;

/**
 * Most corrupt places one partition log remembers, so that each is counted (and logged) once however
 * often readers reach it. Past it, a place is still refused and logged, but counted again on every
 * read that finds it. Not configurable.
 * @default 1024
 */
export const corruptSitesMax = 1024;

/** Default age at which the active segment rolls even if not full (Kafka `segment.ms`). @default 7 days */
export const segmentMsDefault = 7 * 24 * 60 * 60 * 1000;

/** Bytes of log between two entries of the sparse offset and time indexes (Kafka `index.interval.bytes`). */
export const indexIntervalBytesDefault = 4096;

/** How often the `interval` fsync policy flushes a log that has unsynced writes. @default 1000 */
export const fsyncIntervalMsDefault = 1000;

/** Default retention by age (Kafka `retention.ms`, the seed's `retention.default_max_age`). @default 7 days */
export const retentionMsDefault = 7 * 24 * 60 * 60 * 1000;

/** Default retention by size; -1 means unbounded (Kafka `retention.bytes`). @default -1 */
export const retentionBytesDefault = -1;

/** How long tombstones survive compaction (Kafka `delete.retention.ms`). @default 1 day */
export const deleteRetentionMsDefault = 24 * 60 * 60 * 1000;

/**
 * Most distinct keys the cleaner holds in its offset map in one pass (about 100 bytes each). A log with
 * more keys is compacted over several passes, each covering the segments whose keys fit.
 */
export const cleanerKeysMax = 1_000_000;

/** Largest byte count one `read()` may return unless the first batch alone is larger (Kafka `fetch.max.bytes`). */
export const readBytesMax = 64 * 1024 * 1024;

/** Size of the buffer used to walk batch headers during recovery and index rebuilds. */
export const scanChunkBytes = 1024 * 1024;

/** Most appends a log coalesces into one write (and, under `fsync: always`, one fdatasync). */
export const appendsPerWriteMax = 1024;

/** Most bytes a log coalesces into one write. */
export const bytesPerWriteMax = 8 * 1024 * 1024;

export function checkLimits(): void {
  assert.ok(batchBytesDefault <= batchBytesMax, 'batchBytesDefault must not exceed batchBytesMax');
  assert.ok(batchBytesMax < segmentBytesMax, 'a batch must fit in a segment');
  assert.ok(
    batchDecompressedBytesMax >= batchBytesMax,
    'a compressed batch must be able to hold what the largest uncompressed batch holds',
  );
  assert.ok(
    batchRecordsMax > 0 && batchRecordsMax <= 0x7fffffff,
    'batchRecordsMax must fit recordsCount (int32)',
  );
  assert.ok(segmentBytesMin <= segmentBytesDefault && segmentBytesDefault <= segmentBytesMax);
  assert.ok(batchHeaderBytes <= segmentBytesMin, 'the smallest segment must hold a batch header');
  assert.ok(indexIntervalBytesDefault > 0);
  assert.ok(scanChunkBytes >= batchHeaderBytes);
  assert.ok(bytesPerWriteMax >= batchBytesMax / 8);
}

checkLimits();
