/**
 * Bounds of the Kafka listener (DESIGN.md decision 8, STYLE.md "Limits and errors"). Each carries its
 * unit last, its default and its reason; `checkKafkaLimits()` asserts the relations between them and
 * runs when the module loads. Kept apart from src/limits.ts so that the front door's bounds live with
 * the front door; the storage bounds they relate to are imported from there.
 */
import assert from 'node:assert/strict';
import { batchBytesMax } from '../../limits.ts';

/**
 * Largest request frame (the size field's value) the listener accepts; a larger frame is answered by
 * a log line and a closed connection, before its body is read. Kafka's `socket.request.max.bytes`
 * defaults to 100 MiB; ours is that value, which also leaves room for a Produce request carrying
 * several batches of the largest size the log accepts.
 * @default 104857600
 */
export const requestFrameBytesMax = 100 * 1024 * 1024;

/** Smallest allowed value for `requestFrameBytesMax`: a request header with a short client id. */
export const requestFrameBytesMin = 64;

/**
 * Requests read from one connection and not yet answered. At the bound the connection stops reading
 * (the socket is paused) until a response goes out, so a client that pipelines without waiting cannot
 * make us queue work without limit. librdkafka keeps up to 1,000,000 in flight by default but waits
 * when the socket does; kafka-python and kafkajs default to 5.
 * @default 100
 */
export const inFlightRequestsMax = 100;

/**
 * Open Kafka connections per listener. At the bound a new connection closes the one that has been
 * idle longest (no request in progress), so that idle or stalled connections cannot lock out new
 * clients and health checks (issue 10); only when every connection has a request in progress is the
 * new one closed on accept, with a log line.
 * @default 10000
 */
export const connectionsMax = 10_000;

/**
 * Most record bytes one Fetch response carries in all, whatever the request's max_bytes says (Kafka's
 * broker setting `fetch.max.bytes`, whose default this is). A request may ask for up to 2 GiB across
 * its partitions, each up to `readBytesMax`; without this bound one response could hold gigabytes.
 * As with the request's own limit, the first partition with data still returns its one first batch
 * whole (even one larger than this, up to `batchBytesMax`), so a consumer always progresses; the
 * others stop at the total.
 * @default 57671680
 */
export const fetchResponseBytesMax = 55 * 1024 * 1024;

/**
 * Bytes of responses one connection may hold (encoded and not yet taken by the kernel: in the
 * socket's write buffer or waiting behind an earlier response) before it stops reading and
 * dispatching requests; writing stops at the same mark, and both resume as the client reads.
 * Together with `fetchInFlightMax` this bounds what a client that pipelines Fetch requests and never
 * reads can make us hold: this many bytes plus the responses of the requests already dispatched
 * (issue 10, where 100 pipelined fetches held 1.7 GB).
 * @default 67108864
 */
export const socketQueuedBytesMax = 64 * 1024 * 1024;

/**
 * Fetch requests of one connection handled at a time; a later Fetch waits, unread, until the earlier
 * one is answered. A fetch response is the one response whose size scales with the data, so this is
 * what keeps the responses of dispatched requests small. No client is slowed: the Java client,
 * librdkafka, kafkajs and kafka-python each keep at most one Fetch in flight per broker, and
 * responses leave in request order anyway.
 * @default 1
 */
export const fetchInFlightMax = 1;

/**
 * Bytes of request frames held across all connections of a listener: frames being received
 * (reserved at their full size when their size field arrives, so a frame that is half-sent holds its
 * place) and frames being handled, until their response is built. Kafka's `queued.max.request.bytes`.
 * When the total is at the bound, a connection whose next frame has not been reserved stops reading
 * until memory is released; as in Kafka's non-strict memory pool, a frame is admitted whenever the
 * total is below the bound, so the total stays under this plus one frame (plus the small-request
 * reserve below). With the default, ten half-sent 100 MiB frames hold at most three of them
 * (300 MiB), and `requestReceiveMsMax` closes them.
 * @default 268435456
 * config: `kafka.queued_max_request_bytes`
 */
export const queuedRequestBytesMax = 256 * 1024 * 1024;

/**
 * Request frames of at most this many bytes may use `queuedRequestReserveBytes` beyond
 * `queuedRequestBytesMax`, so that ApiVersions, Metadata, heartbeats, commits and health checks go on
 * while large frames (produce, mostly) wait for memory. Real requests of that kind are far below it.
 * @default 65536
 */
export const smallRequestBytesMax = 64 * 1024;

/**
 * Request bytes that small frames (`smallRequestBytesMax`) may hold beyond `queuedRequestBytesMax`.
 * When this too is used up, small frames wait like large ones.
 * @default 16777216
 */
export const queuedRequestReserveBytes = 16 * 1024 * 1024;

/**
 * Smallest `kafka.queued_max_request_bytes`. Any value admits a frame of any size (see above), but
 * below a megabyte a few ordinary Produce requests would stall every other connection.
 */
export const queuedRequestBytesMin = 1024 * 1024;

/**
 * A connection with no request in progress and no bytes moving in either direction for this long is
 * closed (Kafka's `connections.max.idle.ms`, whose default this is). Without it, idle connections
 * fill `connectionsMax` and lock out new clients (issue 10). Clients reconnect on demand.
 * @default 600000
 * config: `kafka.connections_max_idle`
 */
export const connectionsMaxIdleMs = 10 * 60 * 1000;

/**
 * Longest a request frame may take to arrive whole, from its first byte, counted only while we are
 * reading (not while the connection waits on one of our bounds). A client gives up on a request long
 * before this (librdkafka's `socket.timeout.ms` is 60 s, the Java client's `request.timeout.ms` 30 s),
 * so a frame still incomplete after it is a slow-send attack holding memory and a connection slot;
 * the connection is closed with a log line.
 * @default 60000
 * config: `kafka.request_receive_timeout`
 */
export const requestReceiveMsMax = 60 * 1000;

export function checkKafkaLimits(): void {
  assert.ok(requestFrameBytesMin <= requestFrameBytesMax);
  assert.ok(requestFrameBytesMax <= 2 ** 31 - 1, 'a frame size must fit the signed int32 size field');
  assert.ok(
    batchBytesMax <= requestFrameBytesMax,
    'a Produce request must be able to carry the largest batch',
  );
  assert.ok(inFlightRequestsMax >= 1);
  assert.ok(connectionsMax >= 1);
  assert.ok(socketQueuedBytesMax >= 1);
  assert.ok(fetchInFlightMax >= 1 && fetchInFlightMax <= inFlightRequestsMax);
  assert.ok(queuedRequestBytesMin <= queuedRequestBytesMax);
  assert.ok(queuedRequestBytesMax <= Number.MAX_SAFE_INTEGER);
  assert.ok(smallRequestBytesMax <= queuedRequestReserveBytes, 'the reserve must hold a small request');
  assert.ok(smallRequestBytesMax <= requestFrameBytesMax);
  assert.ok(connectionsMaxIdleMs > 0 && requestReceiveMsMax > 0);
}

checkKafkaLimits();
