/**
 * Refuses oversized ProduceBatch requests before proto-loader decodes them (issue 10 finding 12).
 *
 * grpc-js calls a method's `requestDeserialize` on the whole message before the handler runs, and
 * decoding a repeated field of a million records allocates a million objects. The deserializer of
 * ProduceBatch is therefore wrapped: it first walks the message's top-level fields (tag, then skip
 * the value, as protobuf's wire format allows without decoding it), counting `records` entries and
 * measuring `record_batch`, and stops at the first bound passed. A request over a bound is not
 * decoded at all: the handler receives a `RefusedRequest` carrying the typed error, and answers it
 * through the same error path as every other failure (status code and broker-error-code trailer).
 */
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { BrokerError } from '../../errors.ts';
import { produceRecordBatchBytesMax, produceRecordsPerRequestMax } from './limits.ts';

/** What the wrapped deserializer hands the handler instead of a decoded request. */
export class RefusedRequest {
  readonly error: BrokerError;
  constructor(error: BrokerError) {
    this.error = error;
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

/**
 * The service definition with ProduceBatch's deserializer guarded by `checkProduceBatchBounds`.
 * The other methods keep proto-loader's deserializers; their messages are bounded by
 * `grpcRequestBytesMax` alone.
 */
export function withRequestBounds(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const method = definition.ProduceBatch;
  assert.ok(method, 'the Broker service has a ProduceBatch method');
  const decode = method.requestDeserialize;
  return {
    ...definition,
    ProduceBatch: {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        const refused = checkProduceBatchBounds(buf);
        return refused ? new RefusedRequest(refused) : decode(buf);
      },
    },
  };
}
