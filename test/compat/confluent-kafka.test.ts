/**
 * confluent-kafka-python (Debian's python3-confluent-kafka over librdkafka 2.0.2) against the real
 * broker process (issue 5), through confluent_flows.py: every codec (none, gzip, snappy, lz4, zstd),
 * admin create and delete, idempotent produce (`enable.idempotence`), and a two-member group resumed
 * after a restart.
 */
import { CODECS } from './helpers.ts';
import { definePythonTests } from './python-flows.ts';

definePythonTests({
  label: 'confluent-kafka',
  script: 'confluent_flows.py',
  modules: ['confluent_kafka'],
  debianPackage: 'python3-confluent-kafka',
  codecs: CODECS,
  idempotent: true,
});
