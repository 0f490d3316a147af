/**
 * What a compat-suite run records: per file (a test file of @platformatic/kafka, a test program of
 * librdkafka) its tests and their states, each failure put in one cause group by the rules below, so
 * that every run groups the same failures the same way and progress is comparable between runs.
 */

export type TestState = 'passed' | 'failed' | 'skipped';

export interface TestResult {
  name: string;
  state: TestState;
  /** The client's own words for a failure or a skip. */
  message?: string;
  /** The cause group of a failure (see `causes`). */
  cause?: string;
}

export interface FileResult {
  file: string;
  /** passed: every test passed or was skipped; failed: one failed; skipped: not run, with `reason`. */
  state: TestState;
  reason?: string;
  /** Exit code of the client's process, or 'timeout'. */
  exit?: number | string;
  durationMs: number;
  tests: TestResult[];
  /**
   * Whether the file talks to a broker at all: many of @platformatic/kafka's files test its encoders
   * and decoders alone, and pass whatever the broker does.
   */
  usesBroker: boolean;
  /** The client's output, relative to the results directory. */
  log?: string;
}

export interface SuiteResult {
  suite: 'platformatic' | 'librdkafka';
  checkout: string;
  /** `git describe` of the checkout. */
  version: string;
  startedAt: string;
  files: FileResult[];
}

interface CauseRule {
  cause: string;
  /** Matched against the file's name. */
  file?: RegExp;
  /** Matched against the failure's message. */
  message?: RegExp;
}

/**
 * Ordered: the first rule that matches names the cause. File rules come first where a whole file is
 * about a feature this broker does not serve (docs/kafka.md, "Not supported").
 */
export const causes: readonly CauseRule[] = [
  { cause: 'SASL/TLS', file: /sasl|ssl|tls|security|kerberos|oauth|scram|gssapi/i },
  { cause: 'SASL/TLS', message: /SASL|SSL|TLS|authenticat/i },
  {
    // Its suite's docker-compose runs a Confluent Schema Registry too, on ports 8004-8006.
    cause: 'needs a Schema Registry',
    message: /(localhost|127\.0\.0\.1):800[4-6]\b/,
  },
  { cause: 'needs a Schema Registry', file: /schema-registry/ },
  { cause: 'transactions', file: /transaction|txn|0103|0098|0129/i },
  { cause: 'transactions', message: /transaction|TRANSACTIONAL_ID|txn/i },
  {
    cause: 'several brokers',
    message: /multi-broker|Broker with id [2-9]\d* not found|localhost:901[23]|replication factor:? [2-9]/i,
  },
  { cause: 'several brokers', file: /retarget controller|fall back to discovered brokers/i },
  {
    // librdkafka's tests that create partitions, delete topics or change configs run Kafka's own
    // scripts (kafka-topics.sh) when KAFKA_PATH is set, which trivup does; no Kafka is installed here.
    cause: "needs Kafka's CLI tools",
    message: /KAFKA_PATH (and (BROKERS|ZK_ADDRESS) )?must be set/,
  },
  { cause: 'missing API', message: /CreatePartitions_result_topics returned NULL/ },
  {
    // @platformatic/kafka keys Fetch by topic id (v13+, KIP-516); at v12, the highest served here, it
    // writes the id where the topic's name belongs, and gets UNKNOWN_TOPIC_OR_PARTITION.
    cause: 'Fetch v13+ (topic ids) not served',
    message: /API Fetch\(v12\)|'fetch failed \d+ times\.'/,
  },
  {
    // The checkout was installed with --ignore-scripts: its kerberos addon (SASL/GSSAPI) is not built,
    // and a file that imports it fails to load.
    cause: 'kerberos addon not built in the checkout',
    message: /kerberos\.node/,
  },
  // Valid calls that reach the broker in a test of the client's option checks.
  { cause: 'missing API: DescribeAcls', file: /describeAcls should validate options in strict mode/ },
  { cause: 'missing API: DeleteAcls', file: /deleteAcls should validate options in strict mode/ },
  // DescribeConfigs documentation (KIP-569) here says how this broker treats the config, not Kafka's text.
  { cause: "Kafka's config documentation text", file: /describeConfigs should include documentation/ },
  // A test without TEST_F_LOCAL that only talks to librdkafka's mock cluster (0150_telemetry_mock).
  { cause: "librdkafka's mock cluster, not this broker", file: /_mock$/ },
  {
    cause: 'missing API',
    message:
      /not supported by broker|UNSUPPORTED_VERSION|Unsupported API|UnsupportedApiError|not supported by the broker|Broker: Unsupported version|api .* not supported|NOT_IMPLEMENTED|does not support the API|Local: Unsupported feature|ERR__UNSUPPORTED_FEATURE/i,
  },
  {
    cause: 'consumer group protocol (KIP-848)',
    message: /KIP-848|ConsumerGroupHeartbeat|group\.protocol|groupProtocol/i,
  },
  {
    // The client structured-clones an object that holds one of its event handlers (DataCloneError,
    // code 25), in the test process itself.
    cause: 'DataCloneError in the client',
    message: /could not be cloned/,
  },
  { cause: 'timeout', message: /timed? ?out|timeout|Timed out|TIMED_OUT/i },
  {
    cause: 'connection closed by the broker',
    message: /ECONNRESET|socket hang up|Connection closed|Disconnected|Broker transport failure/i,
  },
];

/** The cause of a failure, from `where` (file and test name) and the client's message. */
export function classify(where: string, message: string): string {
  for (const rule of causes) {
    if (rule.file && !rule.file.test(where)) continue;
    if (rule.message && !rule.message.test(message)) continue;
    if (rule.cause === 'missing API') {
      // Named, so that the table says which API to serve first.
      const api =
        /Unsupported API (\w+)/.exec(message)?.[1] ??
        /(\w+) \(KIP-\d+\) not supported by broker/.exec(message)?.[1] ??
        /(CreatePartitions|DeleteRecords|\w*AlterConfigs|\w+Acls)/.exec(message)?.[1];
      if (api) return `missing API: ${api}`;
    }
    return rule.cause;
  }
  return 'unclassified';
}

export function counts(files: FileResult[]): { passed: number; failed: number; skipped: number } {
  const c = { passed: 0, failed: 0, skipped: 0 };
  for (const f of files) for (const t of f.tests) c[t.state]++;
  return c;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

/** The markdown report: totals, failing tests by cause, and one row per file. */
export function markdown(suites: SuiteResult[]): string {
  const out: string[] = [];
  for (const s of suites) {
    const c = counts(s.files);
    out.push(`### ${s.suite} ${s.version}`, '');
    out.push(
      `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, in ${s.files.length} files (run ${s.startedAt}).`,
      '',
    );
    const broker = s.files.filter((f) => f.usesBroker);
    if (broker.length < s.files.length) {
      const b = counts(broker);
      out.push(
        `In the ${broker.length} files that talk to a broker: ${b.passed} passed, ${b.failed} failed, ${b.skipped} skipped (the other files test the client alone).`,
        '',
      );
    }
    const byCause = new Map<string, number>();
    for (const f of s.files)
      for (const t of f.tests)
        if (t.state === 'failed')
          byCause.set(t.cause ?? 'unclassified', (byCause.get(t.cause ?? 'unclassified') ?? 0) + 1);
    if (byCause.size > 0) {
      out.push('| cause | failing tests |', '|---|---|');
      for (const [cause, n] of [...byCause].sort((a, b) => b[1] - a[1])) out.push(`| ${cause} | ${n} |`);
      out.push('');
    }
    out.push(
      '| file | state | passed | failed | skipped | causes / first failure |',
      '|---|---|---|---|---|---|',
    );
    for (const f of s.files) {
      // Files that never reach a broker and pass say nothing about it: counted above, not listed.
      if (!f.usesBroker && f.state === 'passed') continue;
      const n = { passed: 0, failed: 0, skipped: 0 };
      for (const t of f.tests) n[t.state]++;
      const failedTests = f.tests.filter((t) => t.state === 'failed');
      const byFileCause = new Map<string, number>();
      for (const t of failedTests)
        byFileCause.set(t.cause ?? 'unclassified', (byFileCause.get(t.cause ?? 'unclassified') ?? 0) + 1);
      const ranked = [...byFileCause].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} (${n})`);
      const fileCauses =
        ranked.length > 3
          ? `${ranked.slice(0, 3).join(', ')}, +${ranked.length - 3} more`
          : ranked.join(', ');
      const first = failedTests[0];
      const note =
        f.state === 'skipped'
          ? (f.reason ?? '')
          : first
            ? `${fileCauses}: ${first.name}: ${(first.message ?? '').slice(0, 160)}`
            : f.exit === 'timeout'
              ? 'file timed out'
              : '';
      out.push(`| ${cell(f.file)} | ${f.state} | ${n.passed} | ${n.failed} | ${n.skipped} | ${cell(note)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** Puts every failure of `suites` in its cause group again, with the rules as they are now. */
export function reclassify(suites: SuiteResult[]): void {
  for (const s of suites) {
    for (const f of s.files) {
      for (const t of f.tests)
        if (t.state === 'failed') t.cause = classify(`${f.file} ${t.name}`, t.message ?? '');
    }
  }
}
