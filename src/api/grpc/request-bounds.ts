/**
 * Refuses oversized requests before proto-loader decodes them (issue 10 finding 12).
 *
 * grpc-js calls a method's `requestDeserialize` on the whole message before the handler runs, and
 * decoding a repeated field of a million records allocates a million objects. Every method's
 * deserializer is therefore wrapped. ProduceBatch's first walks the message's top-level fields (tag,
 * then skip the value, as protobuf's wire format allows without decoding it), counting `records`
 * entries and measuring `record_batch`, and stops at the first bound passed; ProduceStream's walks each
 * message's `batch` the same way; the methods that carry no records are held to
 * `grpcControlRequestBytesMax`. A request over a bound is not decoded at all:
 * the handler receives a `RefusedRequest` carrying the typed error, and answers it through the same
 * error path as every other failure (status code and broker-error-code trailer).
 */
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { BrokerError } from '../../errors.ts';
import {
  grpcControlRequestBytesMax,
  produceRecordBatchBytesMax,
  produceRecordsPerRequestMax,
} from './limits.ts';

/**
 * What the wrapped deserializer hands the handler instead of a decoded request. `id` is the request's
 * id when it is a ProduceStream message whose id could be read, so that only that request fails.
 */
export class RefusedRequest {
  readonly error: BrokerError;
  readonly id: number | undefined;
  constructor(error: BrokerError, id?: number) {
    this.error = error;
    this.id = id;
  }
}

/** ProduceBatchRequest field numbers (proto/tsbroker/v1/broker.proto). */
const recordsField = 3;
const recordBatchField = 4;

/** Reads a varint at `pos`; returns [value, next position], or null when it runs off the end. */
function varint(buf: Uint8Array, pos: number): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) return null;
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  return null;
}

/**
 * The BrokerError a ProduceBatch message of these bytes must be refused with, or null when it is
 * within bounds. A message that is not well-formed protobuf is left to the real decoder.
 */
export function checkProduceBatchBounds(
  buf: Uint8Array,
  recordsMax = produceRecordsPerRequestMax,
  recordBatchBytesMax = produceRecordBatchBytesMax,
): BrokerError | null {
  let pos = 0;
  let records = 0;
  while (pos < buf.length) {
    const tag = varint(buf, pos);
    if (!tag) return null;
    pos = tag[1];
    const fieldNumber = Math.floor(tag[0] / 8);
    switch (tag[0] & 7) {
      case 0: {
        const v = varint(buf, pos);
        if (!v) return null;
        pos = v[1];
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = varint(buf, pos);
        if (!len) return null;
        pos = len[1] + len[0];
        if (pos > buf.length) return null;
        if (fieldNumber === recordsField && ++records > recordsMax) {
          return new BrokerError(
            'POLICY_VIOLATION',
            `a ProduceBatch request may carry at most ${recordsMax} records (produceRecordsPerRequestMax); send several requests or one record_batch`,
          );
        }
        if (fieldNumber === recordBatchField && len[0] > recordBatchBytesMax) {
          return new BrokerError(
            'MESSAGE_TOO_LARGE',
            `record_batch of ${len[0]} bytes is larger than the largest batch the broker stores (${recordBatchBytesMax} bytes, produceRecordBatchBytesMax)`,
          );
        }
        break;
      }
      default:
        // Groups (wire types 3 and 4) and invalid types: not ours to judge; the decoder refuses them.
        return null;
    }
  }
  return null;
}

/** ProduceStreamRequest field numbers. */
const streamIdField = 1;
const streamBatchField = 2;

/**
 * A ProduceStream message's refusal, or null: its `batch` is held to ProduceBatch's bounds. The id is
 * read too (wherever it sits among the fields), so that the refusal names the request.
 */
export function checkProduceStreamBounds(
  buf: Uint8Array,
  recordsMax = produceRecordsPerRequestMax,
  recordBatchBytesMax = produceRecordBatchBytesMax,
): RefusedRequest | null {
  let pos = 0;
  let id: number | undefined;
  let refused: BrokerError | null = null;
  while (pos < buf.length) {
    const tag = varint(buf, pos);
    if (!tag) break;
    pos = tag[1];
    const wireType = tag[0] & 7;
    const fieldNumber = Math.floor(tag[0] / 8);
    if (wireType === 0) {
      const v = varint(buf, pos);
      if (!v) break;
      pos = v[1];
      if (fieldNumber === streamIdField) id = v[0];
    } else if (wireType === 2) {
      const len = varint(buf, pos);
      if (!len || len[1] + len[0] > buf.length) break;
      if (fieldNumber === streamBatchField)
        refused ??= checkProduceBatchBounds(
          buf.subarray(len[1], len[1] + len[0]),
          recordsMax,
          recordBatchBytesMax,
        );
      pos = len[1] + len[0];
    } else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else break;
  }
  // An absent id is proto3's 0, as the decoder would read it.
  return refused ? new RefusedRequest(refused, id ?? 0) : null;
}

/** Methods that carry records, bounded by `grpcRequestBytesMax` (and ProduceBatch by its scan). */
const RECORD_METHODS = new Set(['Produce', 'ProduceBatch', 'ProduceStream']);

/** The check of one method's raw request bytes: the refusal, or null. */
function boundsOf(method: string): (buf: Buffer) => RefusedRequest | null {
  if (method === 'ProduceBatch')
    return (buf) => {
      const e = checkProduceBatchBounds(buf);
      return e ? new RefusedRequest(e) : null;
    };
  if (method === 'ProduceStream') return checkProduceStreamBounds;
  if (RECORD_METHODS.has(method)) return () => null;
  return (buf) =>
    buf.length > grpcControlRequestBytesMax
      ? new RefusedRequest(
          new BrokerError(
            'POLICY_VIOLATION',
            `a ${method} request may be at most ${grpcControlRequestBytesMax} bytes (grpcControlRequestBytesMax); this one is ${buf.length}`,
          ),
        )
      : null;
}

/**
 * The service definition with every method's deserializer guarded by its bounds. Handlers must
 * answer a `RefusedRequest` with its error (GrpcServer's unary wrapper and Subscribe do).
 */
export function withRequestBounds(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  assert.ok(definition.ProduceBatch, 'the Broker service has a ProduceBatch method');
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => {
      const check = boundsOf(name);
      const decode = method.requestDeserialize;
      const requestDeserialize = (buf: Buffer) => check(buf) ?? decode(buf);
      return [name, { ...method, requestDeserialize }];
    }),
  );
}
