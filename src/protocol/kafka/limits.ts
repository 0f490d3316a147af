/**
 * Bounds of the Kafka wire codec (STYLE.md "Limits and errors"): what one message may declare before
 * the decoder allocates for it. The listener's bounds are in src/api/kafka/limits.ts; these sit with
 * the codec because the replica fetcher, below the door, decodes with it too.
 */
import assert from 'node:assert/strict';

/**
 * Array elements one request may hold in total, across all its arrays, checked against each count
 * before the array is allocated. Each element becomes a JS value or object many times its wire size,
 * so a frame full of one-byte elements could otherwise turn 100 MiB of input into gigabytes of heap.
 * Kafka 4.4 refuses any one array over 1,000,000 elements; a total of that many is the same bound or a
 * tighter one, and still covers any real Produce, Fetch or Metadata request. A request over it is
 * malformed: the connection is closed with a log line.
 * @default 1000000
 */
export const requestElementsMax = 1_000_000;

/**
 * Tagged fields one struct's tag section may declare (KIP-482), checked before any is read. Kafka 4.4
 * refuses more than 10,000; unknown tags are skipped, but each still costs a loop turn, so the count
 * is bounded rather than left to the frame size. A request over it is malformed: the connection is
 * closed with a log line.
 * @default 10000
 */
export const taggedFieldsMax = 10_000;

/**
 * Largest response frame an outbound connection (the replica fetcher's) accepts. A follower's Fetch
 * asks for at most the inter-broker response bound; this leaves room for its framing, and a peer that
 * claims more is answered by a closed connection before the claim is buffered.
 * @default 104857600
 */
export const outboundFrameBytesMax = 100 * 1024 * 1024;

export function checkCodecLimits(): void {
  assert.ok(requestElementsMax >= 1);
  assert.ok(taggedFieldsMax >= 1);
  assert.ok(outboundFrameBytesMax >= 1024 && outboundFrameBytesMax <= 2 ** 31 - 1);
}

checkCodecLimits();
