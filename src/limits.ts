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

/**
 * Most bytes of a log's write round written on the event loop (a synchronous writev into the page
 * cache) rather than on libuv's thread pool. Below it the hop to the pool and back costs more than the
 * copy (35-55 µs a write on the pool against 6-27 µs on the event loop for 4-64 KiB on the development
 * machine, `npm run bench:storage`); it bounds how long one round holds the event loop while the disk
 * keeps up. Larger rounds (a 1 KiB producer's batches of 1000) go to the pool, where the copy overlaps
 * the event loop's other work. Not configurable.
 * @default 65536 (64 KiB)
 */
export const writeInlineBytesMax = 64 * 1024;

/**
 * Bytes of just-written batches that all logs together keep in memory for readers waiting at the log
 * end (a tailing consumer, a follower), so that they are answered without reading the file back. Not
 * configurable; a write round that would pass it first drops what the logs least recently read from
 * keep, and is not kept if that is not enough (its readers read the file).
 */
export const tailBytesMax = 64 * 1024 * 1024;

/**
 * Bytes one log may hold of kept write rounds that no reader has taken yet and still add the next
 * round to them: a consumer or follower at the log end under a steady producer is often answering one
 * round when the next lands, and would otherwise read that one back from the file through the thread
 * pool. Measured on the development machine (ProduceStream of 100 B records in batches of 100 at
 * 900,000 records/s, a Subscribe tailing): about one round in twelve was read back. A read drops the
 * kept batches below it; past this bound the rounds kept are dropped, so that a log whose reader went
 * away holds little, and a reader that far behind reads the file. A batch counts the whole buffer it
 * is a slice of (one HTTP/2 read holds several batches): at 1 MiB one read in a hundred still went to
 * the file in the measurement above, at 4 MiB none did. Not configurable.
 * @default 4194304 (4 MiB)
 */
export const followTailBytesMax = 4 * 1024 * 1024;

/**
 * Partition logs opening (and recovering) or closing at once, across start-up, topic creations,
 * reopenings, deletions and shutdown. Opening or closing a log holds a few descriptors for a moment
 * (the directory, the marker, the index files), so without a bound one Produce naming 20,000 unknown
 * topics opened 20,000 logs at once, and a shutdown closing thousands ran out of descriptors (issue
 * 10). Not configurable; at the bound further opens and closes wait their turn.
 * @default 32
 */
export const partitionOpensInFlightMax = 32;

/**
 * Short file operations in flight at once across the node: writing and syncing a whole small file
 * (indexes, markers, snapshots, intents) and syncing a directory. Each holds a descriptor only for
 * its moment, but thousands of partitions doing theirs together (the first write after a restart
 * drops each log's clean-shutdown marker and syncs its directory) passed the descriptors the open
 * files limit leaves beyond the partitions, and a log that met EMFILE refused writes until reopened.
 * Not configurable; at the bound further operations wait their turn.
 * @default 64
 */
export const shortFileOpsInFlightMax = 64;

/**
 * Topic creations doing their work at once (recording the intent, opening the partitions,
 * registering). A creation counts its partitions against `storage.max_partitions` before it waits
 * here, so the bound orders work without letting more in; without it, 10,000 simultaneous
 * auto-creations held 10,000 intent files open at once on top of the logs and ran out of
 * descriptors (issue 10). Not configurable; at the bound further creations wait their turn.
 * @default 16
 */
export const topicCreationsInFlightMax = 16;

/**
 * Members one consumer group may have (Kafka's `group.max.size`). Every member's metadata is held in
 * memory, sent to the group's leader in its JoinGroup response and stored in the group's record, so
 * the count is bounded as well as the bytes. A new member past it is answered GROUP_MAX_SIZE_REACHED,
 * as Kafka answers; the members in the group are not disturbed. `consumer_groups.max_size` may lower
 * it, not raise it: the size of a group's record (`offsetsRecordBytesMax`) is derived from it.
 * @default 1000
 */
export const groupMembersMax = 1000;

/**
 * Topic names one consumer-protocol member may subscribe to (ConsumerGroupHeartbeat's
 * SubscribedTopicNames). Each name is kept with the member and stored in its group's record; a
 * heartbeat past it is answered INVALID_REQUEST and changes nothing.
 * @default 10000
 */
export const consumerSubscribedTopicsMax = 10_000;

/**
 * Bytes of a consumer-protocol member's SubscribedTopicRegex. The regex is a JavaScript RegExp (Kafka
 * uses RE2/J, which cannot backtrack), run over topic names; the bound keeps one heartbeat's matching
 * cheap. A longer one is answered INVALID_REQUEST.
 * @default 1024
 */
export const consumerRegexBytesMax = 1024;

/**
 * Bytes of protocol metadata one member may bring to a join: the names and metadata of every
 * assignment strategy it offers. A Java consumer's subscription is a few hundred bytes per topic it
 * subscribes to; Kafka Streams adds its task map. A join past it is answered MESSAGE_TOO_LARGE and
 * changes nothing (issue 10: members with 100 KB of metadata each made a 100 MB JoinGroup response).
 * @default 1048576
 */
export const groupMemberMetadataBytesMax = 1024 * 1024;

/**
 * Bytes of state one group may hold: for every member its ids, client id and host, protocol metadata
 * and assignment. The leader's JoinGroup response and the group's record in `__consumer_offsets`
 * are bounded by it, so the record always fits `offsetsRecordBytesMax` (issue 10: a group of 1,000
 * members with 100 KB each could not be saved, "batch ... exceeds 67108864"). A join that would pass
 * it is answered MESSAGE_TOO_LARGE; a leader's SyncGroup whose assignments would pass it is answered
 * MESSAGE_TOO_LARGE for every member waiting, and the group rebalances (as Kafka does when it cannot
 * store an assignment).
 * @default 8388608
 */
export const groupStateBytesMax = 8 * 1024 * 1024;

/**
 * `max.message.bytes` of `__consumer_offsets`: one group's record is the group's state with its
 * metadata and assignments in base64 (4/3 of their size) and JSON field names for each member, so
 * it is sized from `groupStateBytesMax` and `groupMembersMax` (`checkLimits` asserts it fits) rather than left at
 * the node's default for user topics, which may be as low as 1 KiB.
 * @default 16777216
 */
export const offsetsRecordBytesMax = 16 * 1024 * 1024;

/** Bytes of JSON field names and punctuation one member's entry adds to its group's record (under). */
const storedMemberOverheadBytes = 512;

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
  assert.ok(partitionOpensInFlightMax >= 1);
  assert.ok(topicCreationsInFlightMax >= 1);
  assert.ok(shortFileOpsInFlightMax >= 1);
  assert.ok(groupMembersMax >= 1);
  assert.ok(groupMemberMetadataBytesMax <= groupStateBytesMax, 'one member must fit in a group');
  assert.ok(
    Math.ceil((groupStateBytesMax * 4) / 3) + groupMembersMax * storedMemberOverheadBytes + 64 * 1024 <=
      offsetsRecordBytesMax,
    "the largest group's record must fit offsetsRecordBytesMax",
  );
  assert.ok(offsetsRecordBytesMax <= batchBytesMax, 'a group record must be a batch the log accepts');
}

checkLimits();
