/**
 * Every bound of the gRPC door, in one place (STYLE.md "Limits and errors"). grpc-js decodes a whole
 * protobuf message before a handler runs, so these bounds are enforced before decoding: the message
 * size by grpc-js from the 5-byte length prefix, and the ProduceBatch record count and raw batch size
 * by a scan of the message's top-level fields (`request-bounds.ts`), which costs a pass over the
 * field tags and nothing per record.
 *
 * Measured with `node bench/grpc-oversize.ts` on the 2-core development machine. A ProduceBatch of
 * 1.5 million records of 46-byte values (71.5 MiB): before these bounds the broker decoded it for
 * 4.4 s (5.8 CPU seconds) and its RSS peaked at 1,209 MiB (from 123) before it refused the batch as
 * too large; after, grpc-js refuses it from its length prefix in 75 ms with no RSS growth. The same
 * count of 20-byte values (34 MiB, under the size bound) is refused by the record count scan in
 * 190 ms, the RSS growing by the 69 MiB of the buffered message and nothing per record.
 */
import assert from 'node:assert/strict';
import { batchBytesMax } from '../../limits.ts';
import { recordsPerBatchMax } from '../../metadata/limits.ts';

/**
 * Room in a ProduceBatch request for everything besides the one batch it may carry: topic name,
 * partition, acks, timeout and the protobuf tags and lengths around them. A topic name is at most
 * 249 bytes, so 64 KiB leaves a wide margin.
 * @default 65536
 */
export const grpcRequestOverheadBytes = 64 * 1024;

/**
 * Largest gRPC message the server accepts (grpc-js `grpc.max_receive_message_length`): the largest
 * batch any topic may be configured to store (`batchBytesMax`, the ceiling of `max.message.bytes`
 * and `storage.max_message_bytes`) plus the request's own overhead, because no request can need more.
 * Not configurable. When a message is larger, the server (direct-calls.ts for the Broker service's
 * unary calls and Subscribe, grpc-js for ProduceStream) answers RESOURCE_EXHAUSTED from the
 * message's length prefix, before it buffers or decodes it, and the connection stays open.
 * @default 67174400 (64 MiB + 64 KiB)
 */
export const grpcRequestBytesMax = batchBytesMax + grpcRequestOverheadBytes;

/**
 * Largest gRPC message the server sends: a ConsumeBatch or Subscribe answer of `max_bytes` (at most
 * 64 MiB of batches) decoded into records, with the protobuf framing of each record on top.
 * @default 83886080 (80 MiB)
 */
export const grpcResponseBytesMax = 80 * 1024 * 1024;

/**
 * Most records one ProduceBatch request may carry in its `records` field. Each record decoded by
 * proto-loader costs about 700 bytes of heap (1.5 million cost 1.1 GB), and the broker encodes them
 * into RecordBatch v2 itself; a default batch (`max.message.bytes`, 1 MiB) holds about 100 000 of the
 * smallest records (about 10 bytes each: length, attributes, timestamp delta, offset delta, key and
 * value lengths, header count), so a larger count could not be stored in one default batch anyway.
 * Not configurable. When a request carries more, it is refused with POLICY_VIOLATION
 * (RESOURCE_EXHAUSTED) before its records are decoded; send several requests, or one pre-encoded
 * `record_batch`.
 * @default 100000
 */
export const produceRecordsPerRequestMax = 100_000;

/**
 * Largest `record_batch` (pre-encoded RecordBatch v2 bytes) one ProduceBatch request may carry: the
 * largest batch any topic may be configured to store. The topic's own `max.message.bytes` is checked
 * after, by the log. When larger, the request is refused with MESSAGE_TOO_LARGE (RESOURCE_EXHAUSTED)
 * before it is decoded.
 * @default 67108864 (64 MiB)
 */
export const produceRecordBatchBytesMax = batchBytesMax;

/**
 * Most request bytes (record batches and record keys and values) one ProduceStream call holds between
 * reading them and answering them. Past it the broker stops reading that stream until answers go out,
 * and HTTP/2 flow control holds the client back; so a client that pipelines without bound costs at
 * most this, plus the flow-control window. Also reached when the client does not read its answers.
 * Not configurable.
 * @default 67108864 (64 MiB)
 */
export const produceStreamReadAheadBytesMax = 64 * 1024 * 1024;

/**
 * Largest request of every method but Produce, ProduceBatch and ProduceStream (topic and group administration,
 * consume requests, offset commits and fetches). They carry names, configs and partition lists,
 * never records; 1 MiB holds an offset commit of about 30 000 partitions with short metadata, while
 * a message of `grpcRequestBytesMax` bytes of tiny repeated entries would decode into millions of
 * objects. Not configurable. When larger, the request is refused with POLICY_VIOLATION
 * (RESOURCE_EXHAUSTED) before it is decoded.
 * @default 1048576 (1 MiB)
 */
export const grpcControlRequestBytesMax = 1024 * 1024;

/**
 * Most partitions one AlterPartitionReassignments or ElectLeaders request may name (a whole topic of
 * ElectLeaders counts all its partitions), and most replica lists one CreatePartitions may carry. Each partition becomes at most one metadata record, and one
 * controller operation commits its records in one batch of at most `recordsPerBatchMax`
 * (src/metadata/limits.ts), which a forwarded operation is held to as well. Not configurable. When
 * more, the request is refused with POLICY_VIOLATION (RESOURCE_EXHAUSTED) and nothing is started;
 * send several requests.
 * @default 5000
 */
export const adminPartitionsPerRequestMax = recordsPerBatchMax;

export function checkGrpcLimits(): void {
  assert.ok(produceRecordBatchBytesMax + grpcRequestOverheadBytes <= grpcRequestBytesMax);
  assert.ok(grpcRequestBytesMax < 2 ** 32, 'the gRPC length prefix is 32 bits');
  assert.ok(grpcResponseBytesMax >= batchBytesMax, 'a fetch of the largest batch must fit an answer');
  assert.ok(produceRecordsPerRequestMax > 0);
  assert.ok(grpcControlRequestBytesMax <= grpcRequestBytesMax);
  assert.ok(adminPartitionsPerRequestMax <= recordsPerBatchMax, 'one operation fits one metadata batch');
}

checkGrpcLimits();

/**
 * HTTP/2 flow-control window of each gRPC connection and stream the server accepts, in bytes: how much
 * a client may send before it waits for the server to grant more. grpc-js leaves HTTP/2's 64 KiB, so
 * a 1 MiB ProduceBatch stalled 16 times on a round trip for a WINDOW_UPDATE, and each stall cost a
 * wake-up on both sides. Measured on the 2-core development machine (250,000 records of 1 KiB, batches
 * of 1000, 8 calls in flight, other work on the cores): 46,483 records/s and 14 ms of broker CPU per
 * MiB with 64 KiB; 92,006 records/s and 8 ms per MiB with 8 MiB (the Kafka door, with kcat, 7 ms
 * per MiB in the same run). grpc-go and gRPC C++ grow their windows to about this size by estimating
 * the bandwidth-delay product. It bounds no memory: the server reads each stream as it arrives
 * and `grpcRequestBytesMax` bounds a message. Not configurable.
 * @default 8388608 (8 MiB)
 */
export const grpcFlowControlWindowBytes = 8 * 1024 * 1024;
