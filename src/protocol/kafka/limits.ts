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

export function checkCodecLimits(): void {
  assert.ok(requestElementsMax >= 1);
  assert.ok(taggedFieldsMax >= 1);
}

checkCodecLimits();
