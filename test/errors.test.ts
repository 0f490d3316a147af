import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { grpcStatusOf } from '../src/api/grpc/errors.ts';
import { BrokerError, ERROR_CODES, type ErrorCode } from '../src/errors.ts';

test('every error code is documented, says whether it is retriable, and maps to a gRPC status', () => {
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^[A-Z][A-Z_]+$/, `${code} is named like Kafka's errors`);
    assert.equal(typeof spec.retriable, 'boolean', code);
    assert.ok(spec.doc.length > 20 && spec.doc.endsWith('.'), `${code} has a sentence of documentation`);
    const status = grpcStatusOf(code as ErrorCode);
    assert.ok(status !== undefined && status !== grpc.status.OK, `${code} maps to a gRPC error status`);
  }
  const e = new BrokerError('OFFSET_OUT_OF_RANGE', 'x', { cause: new Error('y') });
  assert.equal(e.retriable, false);
  assert.equal((e.cause as Error).message, 'y');
});
