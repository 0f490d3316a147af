/**
 * kafka-python 2.0.2 (Debian's python3-kafka) against the real broker process (issue 5), through
 * kafka_python_flows.py: every codec (none, gzip, snappy, lz4, zstd), admin create and delete, and a
 * two-member group resumed after a restart. kafka-python 2.0.2 has no idempotent producer.
 */
import { CODECS } from './helpers.ts';
import { definePythonTests } from './python-flows.ts';

definePythonTests({
  label: 'kafka-python',
  script: 'kafka_python_flows.py',
  modules: ['kafka', 'snappy', 'lz4', 'zstandard'],
  debianPackage: 'python3-kafka (with python3-snappy, python3-lz4, python3-zstandard)',
  codecs: CODECS,
  idempotent: false,
});
