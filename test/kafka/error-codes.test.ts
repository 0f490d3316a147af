import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerError, ERROR_CODES, type ErrorCode } from '../../src/errors.ts';
import { errorName, KAFKA_ERRORS, kafkaErrorCode } from '../../src/protocol/kafka/error-codes.ts';

test('the Kafka error table has unique codes from -1 to 128 without gaps', () => {
  const codes = Object.values(KAFKA_ERRORS).map((e) => e.code);
  assert.equal(new Set(codes).size, codes.length);
  assert.deepEqual(
    [...codes].sort((a, b) => a - b),
    Array.from({ length: 130 }, (_, i) => i - 1),
  );
  assert.equal(errorName(35), 'UNSUPPORTED_VERSION');
  assert.equal(KAFKA_ERRORS.NOT_LEADER_OR_FOLLOWER.retriable, true);
});

test('every broker error code maps to a Kafka code, and only UNKNOWN_SERVER_ERROR to -1', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const k = kafkaErrorCode(new BrokerError(code, 'x'));
    if (code === 'UNKNOWN_SERVER_ERROR') assert.equal(k, -1);
    else assert.notEqual(k, -1, `${code} has no Kafka code`);
  }
  assert.equal(kafkaErrorCode(new Error('not ours')), -1);
});
