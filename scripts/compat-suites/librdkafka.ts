/**
 * Runs librdkafka's own regression tests (tests/ of a checkout, built with `./configure && make` at the
 * top and `make` in tests/) against a fresh broker per test program. The suite is pointed at a broker
 * the way it supports: a `test.conf` with `bootstrap.servers` (RDKAFKA_TEST_CONF), `TESTS=<number>`,
 * `TEST_KAFKA_VERSION`, and `-s <scenario>` for the tests that need a broker configured otherwise
 * (noautocreate); each scenario's broker settings are given to our broker. Tests flagged TEST_F_LOCAL
 * (the mock cluster, no broker) and TEST_F_MANUAL are not run; neither is anything of its Python trivup
 * tooling (cluster_testing.py, sasl_test.py, ...), which starts Kafka clusters of its own.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runLogged, startSuiteBroker } from './processes.ts';
import { classify, type FileResult, type TestResult } from './results.ts';

export interface LibrdkafkaTest {
  name: string;
  number: string;
  flags: string;
  scenario: string;
}

export interface LibrdkafkaOptions {
  checkout: string;
  only?: RegExp;
  resultsDir: string;
  /** Per test program. @default 300000 */
  fileTimeoutMs: number;
  /** TEST_KAFKA_VERSION, which gates tests by broker version. @default '3.9.0' */
  kafkaVersion: string;
  /**
   * `-Q`: the suite's quick mode. It skips every sub-test declared with SUB_TEST() rather than
   * SUB_TEST_QUICK(), silently, so a test can pass having done nothing: off unless asked for.
   * @default false
   */
  quick: boolean;
}

/**
 * The broker settings of the suite's scenarios (tests/scenarios/*.json, given to trivup): every one
 * makes topics with 4 partitions; noautocreate turns auto-creation off. Replication factor 3 is capped
 * at 1 on one node.
 */
const scenarioEnv: Record<string, Record<string, string>> = {
  default: { BROKER_STORAGE_DEFAULT_PARTITIONS: '4', BROKER_KAFKA_AUTO_CREATE_TOPICS: 'true' },
  noautocreate: { BROKER_STORAGE_DEFAULT_PARTITIONS: '4', BROKER_KAFKA_AUTO_CREATE_TOPICS: 'false' },
};

/** The `tests[]` table of tests/test.c: each `_TEST(name, flags, ...)` with its scenario. */
export async function listTests(checkout: string): Promise<LibrdkafkaTest[]> {
  const source = await readFile(path.join(checkout, 'tests', 'test.c'), 'utf8');
  const start = source.indexOf('struct test tests[] = {');
  if (start < 0) throw new Error(`${checkout}/tests/test.c has no tests[] table`);
  const table = source.slice(start, source.indexOf('\n};', start));
  const tests: LibrdkafkaTest[] = [];
  for (const m of table.matchAll(/_TEST\(\s*(\d{4})_(\w+)\s*,\s*([^,()]*)([^()]*(?:\([^()]*\)[^()]*)*)\)/g)) {
    const rest = m[4] ?? '';
    const scenario = /\.scenario\s*=\s*"([^"]*)"/.exec(rest)?.[1] ?? 'default';
    tests.push({ name: `${m[1]}_${m[2]}`, number: m[1]!, flags: m[3]!.trim(), scenario });
  }
  return tests;
}

/** The tests that need a broker: not the mock cluster's (TEST_F_LOCAL), not the manual ones. */
export function brokerTests(tests: LibrdkafkaTest[]): LibrdkafkaTest[] {
  return tests.filter((t) => !/TEST_F_LOCAL|TEST_F_MANUAL/.test(t.flags));
}

/** One run of test-runner: one test number under one scenario. */
export interface LibrdkafkaProgram {
  file: string;
  number: string;
  scenario: string;
  tests: LibrdkafkaTest[];
}

export function programs(tests: LibrdkafkaTest[]): LibrdkafkaProgram[] {
  const byKey = new Map<string, LibrdkafkaProgram>();
  for (const t of brokerTests(tests)) {
    const scenario = t.scenario.split(',')[0]!;
    const key = `${t.number}/${scenario}`;
    let p = byKey.get(key);
    if (!p) {
      p = {
        file: scenario === 'default' ? t.number : `${t.number} (${scenario})`,
        number: t.number,
        scenario,
        tests: [],
      };
      byKey.set(key, p);
    }
    p.tests.push(t);
  }
  return [...byKey.values()];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes in the summary.
const ansi = /\x1b\[[0-9;]*m/g;
const summaryRow = /^\|\s*(\S+)\s*\|\s*(PASSED|FAILED|SKIPPED|RUNNING|DNS)\s*\|\s*[\d.]+s\s*\|\s?(.*)$/;

export async function runLibrdkafkaProgram(
  p: LibrdkafkaProgram,
  opts: LibrdkafkaOptions,
): Promise<FileResult> {
  const env = scenarioEnv[p.scenario];
  if (!env) {
    return {
      file: p.file,
      state: 'skipped',
      reason: `scenario ${p.scenario} has no broker settings here`,
      durationMs: 0,
      usesBroker: true,
      tests: p.tests.map((t) => ({ name: t.name, state: 'skipped', message: `scenario ${p.scenario}` })),
    };
  }
  const safe = p.file.replace(/[^\w.-]+/g, '_');
  const logRel = path.join('librdkafka', `${safe}.log`);
  const confFile = path.join(opts.resultsDir, 'librdkafka', `${safe}.test.conf`);
  const broker = await startSuiteBroker(env);
  try {
    await writeFile(confFile, `bootstrap.servers=127.0.0.1:${broker.port}\n`);
    const testsDir = path.join(opts.checkout, 'tests');
    const lib = [
      path.join(opts.checkout, 'src'),
      path.join(opts.checkout, 'src-cpp'),
      process.env.LD_LIBRARY_PATH,
    ]
      .filter(Boolean)
      .join(':');
    // -L: not the tests of the mock cluster that share a number; -K: not those with known issues.
    const args = ['-p1', '-L', '-K', ...(opts.quick ? ['-Q'] : []), '-s', p.scenario];
    const run = await runLogged(path.join(testsDir, 'test-runner'), args, {
      cwd: testsDir,
      env: {
        ...process.env,
        TESTS: p.number,
        RDKAFKA_TEST_CONF: confFile,
        TEST_KAFKA_VERSION: opts.kafkaVersion,
        TEST_MODE: 'bare',
        LD_LIBRARY_PATH: lib,
      },
      timeoutMs: opts.fileTimeoutMs,
      logFile: path.join(opts.resultsDir, logRel),
    });
    const output = await readFile(path.join(opts.resultsDir, logRel), 'utf8');
    return {
      ...parseProgramOutput(p, output, run.exit, opts.fileTimeoutMs),
      durationMs: Math.round(run.durationMs),
      log: logRel,
    };
  } finally {
    await broker.close();
  }
}

/**
 * The results of one test-runner run, from its output: also used to read saved logs again when the
 * rules that read them change (`--regroup`).
 */
export function parseProgramOutput(
  p: LibrdkafkaProgram,
  raw: string,
  exit: number | string | undefined,
  timeoutMs: number,
): Omit<FileResult, 'durationMs'> {
  const output = raw.replace(ansi, '');
  const rows = new Map<string, { state: string; text: string }>();
  for (const line of output.split('\n')) {
    const m = summaryRow.exec(line.trim());
    if (m && m[1] !== '<MAIN>') rows.set(m[1]!, { state: m[2]!, text: m[3]!.trim() });
  }
  const failures = failureReasons(output);
  const tests: TestResult[] = [];
  for (const t of p.tests) {
    const row = rows.get(t.name);
    const failure = failures.get(t.name);
    // Without a summary row (the runner aborts when a failed test leaves client threads behind, or
    // it timed out), the test's own banner or failure block tells.
    const state =
      row?.state ?? (failure ? 'FAILED' : output.includes(`Test ${t.name} PASSED`) ? 'PASSED' : undefined);
    if (state === 'PASSED') tests.push({ name: t.name, state: 'passed' });
    else if (state === 'SKIPPED') tests.push({ name: t.name, state: 'skipped', message: row?.text ?? '' });
    else if (state === undefined && exit === 0)
      tests.push({ name: t.name, state: 'skipped', message: 'not run by test-runner' });
    else {
      const message =
        failure ??
        (row?.text ||
          (exit === 'timeout'
            ? `test program timed out after ${timeoutMs} ms`
            : `test-runner exited ${exit} before the test finished`));
      tests.push({
        name: t.name,
        state: 'failed',
        message,
        cause: classify(`${p.file} ${t.name}`, message),
      });
    }
  }
  return {
    file: p.file,
    state: tests.some((t) => t.state === 'failed')
      ? 'failed'
      : tests.every((t) => t.state === 'skipped')
        ? 'skipped'
        : 'passed',
    reason: tests.every((t) => t.state === 'skipped') ? tests[0]?.message : undefined,
    exit: exit,
    tests,
    usesBroker: true,
  };
}

/**
 * The first failure of each test, from the block the runner prints:
 * `### Test "NAME (function:line)" failed at FILE:LINE:function() at DATE: ###` and then the reason.
 */
function failureReasons(output: string): Map<string, string> {
  const reasons = new Map<string, string>();
  for (const m of output.matchAll(
    /### Test "([^" ]+)([^"]*)" failed at ([^\n]*?) at [^\n]*: ###\n([^\n]*)/g,
  )) {
    const name = m[1]!;
    if (name === '<MAIN>' || reasons.has(name)) continue;
    reasons.set(name, `${m[3]}${m[2]}: ${m[4]}`.trim().slice(0, 500));
  }
  // A test that carries on after a request the broker does not serve fails later, with a message that
  // does not say so: the client's warning about that request is the cause.
  for (const m of output.matchAll(/^\[(\S+)\s*\/[^\]]*\] WARN: ([^\n]*not supported by broker[^\n]*)$/gm)) {
    const reason = reasons.get(m[1]!);
    if (reason && !reason.includes('(after:'))
      reasons.set(m[1]!, `${reason} (after: ${m[2]!.trim().slice(0, 200)})`);
  }
  return reasons;
}
