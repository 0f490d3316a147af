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

/** Open Kafka connections per listener; further connections are closed on accept with a log line. @default 10000 */
export const connectionsMax = 10_000;

/**
 * Array elements one request may hold in total, across all its arrays. Each element becomes a JS
 * value or object many times its wire size, so a frame full of one-byte elements could otherwise turn
 * 100 MiB of input into gigabytes of heap. A million covers any real Produce, Fetch or Metadata
 * request (Kafka itself caps a cluster well below a million partitions per request).
 * @default 1048576
 */
export const requestElementsMax = 1024 * 1024;

/**
 * Bytes of responses queued on one socket (written but not yet flushed) above which the connection
 * stops reading new requests until 'drain'. Fetch responses may be large; this bounds what a slow
 * reader can make us hold in addition to the in-flight bound.
 * @default 67108864
 */
export const socketQueuedBytesMax = 64 * 1024 * 1024;

export function checkKafkaLimits(): void {
  assert.ok(requestFrameBytesMin <= requestFrameBytesMax);
  assert.ok(requestFrameBytesMax <= 2 ** 31 - 1, 'a frame size must fit the signed int32 size field');
  assert.ok(
    batchBytesMax <= requestFrameBytesMax,
    'a Produce request must be able to carry the largest batch',
  );
  assert.ok(inFlightRequestsMax >= 1);
  assert.ok(connectionsMax >= 1);
  assert.ok(requestElementsMax >= 1);
  assert.ok(socketQueuedBytesMax >= 1);
}

checkKafkaLimits();
