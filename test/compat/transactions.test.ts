/**
 * Transactional producers fail at once with a clear, fatal error until transactions exist (issue 16
 * section 2): librdkafka (through confluent-kafka-python) raises a fatal TRANSACTIONAL_ID_AUTHORIZATION_FAILED
 * carrying the broker's message from init_transactions, instead of retrying a retriable
 * COORDINATOR_NOT_AVAILABLE until its timeout. (kafkajs is covered in test/kafka-door/semantics.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { CompatBroker, runJsonLines } from './helpers.ts';

const script = `
import json, sys, confluent_kafka as ck
p = ck.Producer({'bootstrap.servers': sys.argv[1], 'transactional.id': 'tx-1', 'log_level': 0})
try:
    p.init_transactions(120)
    print(json.dumps({'error': None}))
except ck.KafkaException as e:
    err = e.args[0]
    print(json.dumps({'error': err.name(), 'fatal': err.fatal(), 'retriable': err.retriable(), 'message': err.str()}))
`;

test('librdkafka: init_transactions fails at once with a fatal error naming the reason', async (t) => {
  if (!requireDebian(t, pythonHas('confluent_kafka'), 'python3-confluent-kafka')) return;
  const broker = await CompatBroker.start();
  t.after(() => broker.close());
  // With a retriable answer librdkafka would retry until the 120 s timeout and then report a
  // retriable _TIMED_OUT, not this fatal error.
  const [line] = await runJsonLines(debianPython, ['-c', script, broker.kafkaAddress], t, 60_000);
  assert.deepEqual(
    { error: line?.error, fatal: line?.fatal, retriable: line?.retriable },
    { error: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', fatal: true, retriable: false },
  );
  assert.match(String(line?.message), /transactions are not supported by this broker/);
});
