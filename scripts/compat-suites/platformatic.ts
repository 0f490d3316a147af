/**
 * Runs @platformatic/kafka's own test files (a checkout of its repository; the npm package ships no
 * tests) against a fresh broker per file. Its helpers hard-wire the addresses of its docker-compose
 * brokers (`localhost:9011` for the "cluster", `localhost:9001` for the single broker), with no
 * variable to change them, so the tests stay as they are and those two addresses are forwarded to the
 * broker; Metadata then tells the client the broker's own address. `localhost:9012`/`9013` (the other
 * brokers of its three-broker cluster) and the SASL listeners `9002`/`9003` are not served.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { runLogged, startForwarder, startSuiteBroker } from './processes.ts';
import { classify, type FileResult, type TestResult } from './results.ts';

const reporter = new URL('./node-test-reporter.ts', import.meta.url).href;

export interface PlatformaticOptions {
  checkout: string;
  only?: RegExp;
  resultsDir: string;
  /** Per file. @default 300000 */
  fileTimeoutMs: number;
  /** Per test, passed to node's --test-timeout. @default 60000 */
  testTimeoutMs: number;
  /**
   * The suite's `KAFKA_VERSION` (a Confluent Platform image tag), which it uses to skip tests that the
   * broker version cannot pass; without it the suite asks docker. 7.9.0 is Kafka 3.9: the classic
   * group protocol, as this broker serves (KIP-848 tests are skipped).
   * @default '7.9.0'
   */
  kafkaVersion: string;
}

/** The files its `npm test` runs: 'test/*.test.ts' 'test/* /*.test.ts' 'test/* /* /*.test.ts'. */
export async function listFiles(checkout: string): Promise<string[]> {
  const { glob } = await import('node:fs/promises');
  const files: string[] = [];
  for (const pattern of ['test/*.test.ts', 'test/*/*.test.ts', 'test/*/*/*.test.ts']) {
    for await (const f of glob(pattern, { cwd: checkout })) files.push(f);
  }
  return files.sort();
}

/**
 * Tests that connect to an address outside this machine (192.0.2.1, RFC 5737's TEST-NET-1, to see a
 * connection time out): never run here, where traffic stays on loopback. Node reports them skipped.
 */
const offMachineTests = [
  'Connection.connect should handle connection timeout',
  'metadata should handle connection failures to non-existent broker',
  'operations can be aborted without a retry',
];

/** A file that creates a client with the suite's broker addresses, or names one, talks to a broker. */
const brokerUse =
  /kafka(Single|Sasl\w*)?BootstrapServers|bootstrapBrokers|create(Base|Admin|Producer|Consumer|Topic)\(|localhost:90\d\d/;

export async function fileUsesBroker(checkout: string, file: string): Promise<boolean> {
  return brokerUse.test(await readFile(path.join(checkout, file), 'utf8'));
}

export async function runPlatformaticFile(file: string, opts: PlatformaticOptions): Promise<FileResult> {
  const source = await readFile(path.join(opts.checkout, file), 'utf8');
  const usesBroker = brokerUse.test(source);
  const safe = file.replace(/[/\\]/g, '__');
  const logRel = path.join('platformatic', `${safe}.log`);
  const eventsFile = path.join(opts.resultsDir, 'platformatic', `${safe}.jsonl`);
  const broker = await startSuiteBroker();
  const closers: (() => Promise<void>)[] = [];
  try {
    const target = { host: '127.0.0.1', port: broker.port };
    for (const port of [9011, 9001]) {
      closers.push(await startForwarder('127.0.0.1', port, target));
      closers.push(await startForwarder('::1', port, target));
    }
    const run = await runLogged(
      process.execPath,
      [
        '--test',
        // In this process, so that the reporter sees the errors themselves: across processes node
        // serializes them, losing grouped errors and failing on those that hold a function.
        '--test-isolation=none',
        `--test-timeout=${opts.testTimeoutMs}`,
        `--test-reporter=${reporter}`,
        `--test-reporter-destination=${eventsFile}`,
        ...offMachineTests.map(
          (name) => `--test-skip-pattern=^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
        ),
        // And node's own report, with what the tests print, to the log.
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        file,
      ],
      {
        cwd: opts.checkout,
        env: { ...process.env, KAFKA_VERSION: opts.kafkaVersion, NODE_OPTIONS: '' },
        timeoutMs: opts.fileTimeoutMs,
        logFile: path.join(opts.resultsDir, logRel),
      },
    );
    const tests = await readEvents(eventsFile, file);
    // Node reports nothing of the tests its skip pattern left out: they are listed here.
    for (const name of offMachineTests) {
      if (source.includes(`'${name}'`) && !tests.some((t) => t.name === name)) {
        tests.push({
          name,
          state: 'skipped',
          message: 'connects to 192.0.2.1, off this machine: not run here',
        });
      }
    }
    if (run.exit === 'timeout') {
      tests.push({
        name: '(file)',
        state: 'failed',
        message: `file timed out after ${opts.fileTimeoutMs} ms`,
        cause: 'timeout',
      });
    } else if (run.exit !== 0 && !tests.some((t) => t.state === 'failed')) {
      tests.push({
        name: '(file)',
        state: 'failed',
        message: `exit ${run.exit} with no failing test`,
        cause: 'unclassified',
      });
    }
    return {
      file,
      state: tests.some((t) => t.state === 'failed') ? 'failed' : 'passed',
      exit: run.exit,
      durationMs: Math.round(run.durationMs),
      tests,
      usesBroker,
      log: logRel,
    };
  } finally {
    for (const close of closers.reverse()) await close();
    await broker.close();
  }
}

async function readEvents(eventsFile: string, file: string): Promise<TestResult[]> {
  let text = '';
  try {
    text = await readFile(eventsFile, 'utf8');
  } catch {
    return [];
  }
  const tests: TestResult[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const e = JSON.parse(line) as {
      path: string[];
      state: TestResult['state'];
      error?: string;
      reason?: string;
    };
    // The file itself appears as a test named by its path when it fails outside any test.
    const name = e.path.join(' > ');
    const t: TestResult = { name, state: e.state };
    if (e.state === 'failed') {
      t.message = e.error ?? '';
      t.cause = classify(`${file} ${name}`, t.message);
    } else if (e.reason) t.message = e.reason;
    tests.push(t);
  }
  return tests;
}
