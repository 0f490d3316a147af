/**
 * Runs clients' own integration suites against this broker (issue 16, section 4), so that
 * compatibility is measured the same way each time:
 *
 *   npm run compat:suites -- --platformatic /path/to/platformatic-kafka --librdkafka /path/to/librdkafka
 *     [--only REGEX] [--out DIR] [--file-timeout SECONDS] [--quick]
 *
 * Each checkout is one the user provides (a clone of the client's repository, built as its README
 * says; nothing here builds it). Every test file (platformatic) or test program (librdkafka) gets a
 * fresh broker process with its own data directory on ephemeral ports; the results go to
 * DIR/results.json and DIR/results.md (default `compat-results/`), with each client's output beside
 * them. Not part of `npm test`: the suites take tens of minutes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { listTests, parseProgramOutput, programs, runLibrdkafkaProgram } from './compat-suites/librdkafka.ts';
import { fileUsesBroker, listFiles, runPlatformaticFile } from './compat-suites/platformatic.ts';
import { stopAll } from './compat-suites/processes.ts';
import { counts, type FileResult, markdown, reclassify, type SuiteResult } from './compat-suites/results.ts';

const usage = `Usage: npm run compat:suites -- [--platformatic DIR] [--librdkafka DIR] [options]

  --platformatic DIR     a checkout of github.com/platformatic/kafka with its dependencies installed
  --librdkafka DIR       a checkout of github.com/confluentinc/librdkafka, built, with tests/test-runner
  --only REGEX           only the files / test programs whose name matches
  --out DIR              where results.json, results.md and the logs go (default compat-results)
  --file-timeout SECONDS per file or test program (default 300)
  --test-timeout SECONDS per platformatic test (default 60)
  --platformatic-kafka-version TAG  the suite's KAFKA_VERSION (default 7.9.0, i.e. Kafka 3.9)
  --librdkafka-kafka-version V      TEST_KAFKA_VERSION (default 3.9.0)
  --regroup FILE         read a results.json, group its failures again with the current rules, and
                         rewrite it and its results.md (no suite is run)
  --with FILE            with --regroup: another results.json (a run with --only) whose files take the
                         place of the same files in the first, and whose suites are added
  --quick                librdkafka's -Q, which silently skips most sub-tests (faster, but proves less)`;

function describe(checkout: string): string {
  try {
    return execFileSync('git', ['-C', checkout, 'describe', '--tags', '--always'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown version';
  }
}

function line(suite: string, f: FileResult): void {
  const c = counts([f]);
  const s = `${suite} ${f.file}: ${f.state} (${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, ${(f.durationMs / 1000).toFixed(1)} s)`;
  process.stdout.write(`${s}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      platformatic: { type: 'string' },
      librdkafka: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string', default: 'compat-results' },
      'file-timeout': { type: 'string', default: '300' },
      'test-timeout': { type: 'string', default: '60' },
      'platformatic-kafka-version': { type: 'string', default: '7.9.0' },
      'librdkafka-kafka-version': { type: 'string', default: '3.9.0' },
      quick: { type: 'boolean', default: false },
      regroup: { type: 'string' },
      with: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.regroup) {
    const file = path.resolve(values.regroup);
    const { suites } = JSON.parse(await readFile(file, 'utf8')) as { suites: SuiteResult[] };
    if (values.with) {
      const later = JSON.parse(await readFile(path.resolve(values.with), 'utf8')) as {
        suites: SuiteResult[];
      };
      for (const l of later.suites) {
        const s = suites.find((x) => x.suite === l.suite);
        if (!s) {
          suites.push(l);
          continue;
        }
        for (const f of l.files) {
          const i = s.files.findIndex((x) => x.file === f.file);
          // Logs are relative to their own results directory.
          const moved = {
            ...f,
            log: f.log && path.relative(path.dirname(file), path.resolve(path.dirname(values.with), f.log)),
          };
          if (i >= 0) s.files[i] = moved;
          else s.files.push(moved);
        }
      }
    }
    reclassify(suites);
    // librdkafka's results are read again from the saved output, with the current rules.
    for (const s of suites.filter((x) => x.suite === 'librdkafka')) {
      const byFile = new Map(programs(await listTests(s.checkout)).map((p) => [p.file, p]));
      for (const [i, f] of s.files.entries()) {
        const p = byFile.get(f.file);
        if (!p || !f.log) continue;
        const output = await readFile(path.resolve(path.dirname(file), f.log), 'utf8').catch(() => undefined);
        if (output === undefined) continue;
        const timeoutMs = typeof f.exit === 'string' && f.exit === 'timeout' ? f.durationMs : 0;
        s.files[i] = {
          ...f,
          ...parseProgramOutput(p, output, f.exit, timeoutMs),
          durationMs: f.durationMs,
          log: f.log,
        };
      }
    }
    for (const s of suites) {
      for (const f of s.files) {
        // Results saved before files were told apart by whether they reach a broker.
        if (typeof f.usesBroker !== 'boolean') {
          f.usesBroker = s.suite === 'librdkafka' || (await fileUsesBroker(s.checkout, f.file));
        }
      }
    }
    await writeFile(file, `${JSON.stringify({ suites }, null, 2)}\n`);
    await writeFile(path.join(path.dirname(file), 'results.md'), markdown(suites));
    process.stdout.write(`${path.join(path.dirname(file), 'results.md')}\n`);
    return;
  }
  if (values.help || (!values.platformatic && !values.librdkafka)) {
    process.stdout.write(`${usage}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const fileTimeoutMs = Number(values['file-timeout']) * 1000;
  const testTimeoutMs = Number(values['test-timeout']) * 1000;
  if (!(fileTimeoutMs > 0) || !(testTimeoutMs > 0))
    throw new Error('--file-timeout and --test-timeout must be positive numbers of seconds');
  const only = values.only === undefined ? undefined : new RegExp(values.only);
  const resultsDir = path.resolve(values.out);
  const suites: SuiteResult[] = [];
  const save = async () => {
    await writeFile(path.join(resultsDir, 'results.json'), `${JSON.stringify({ suites }, null, 2)}\n`);
    await writeFile(path.join(resultsDir, 'results.md'), markdown(suites));
  };

  // One suite: its record in the results, its folder, then each unit (a test file or program) run,
  // reported and saved as it finishes, so an interrupted run keeps what it measured.
  const runSuite = async <U>(
    name: SuiteResult['suite'],
    checkout: string,
    units: U[],
    run: (unit: U) => Promise<FileResult>,
  ) => {
    await mkdir(path.join(resultsDir, name), { recursive: true });
    const suite: SuiteResult = {
      suite: name,
      checkout,
      version: describe(checkout),
      startedAt: new Date().toISOString(),
      files: [],
    };
    suites.push(suite);
    for (const unit of units) {
      const result = await run(unit);
      suite.files.push(result);
      line(name, result);
      await save();
    }
  };

  if (values.platformatic) {
    const checkout = path.resolve(values.platformatic);
    if (!existsSync(path.join(checkout, 'node_modules'))) {
      throw new Error(`${checkout} has no node_modules: install its dependencies first (npm install)`);
    }
    const opts = {
      checkout,
      only,
      resultsDir,
      fileTimeoutMs,
      testTimeoutMs,
      kafkaVersion: values['platformatic-kafka-version'],
    };
    const files = (await listFiles(checkout)).filter((file) => !only || only.test(file));
    await runSuite('platformatic', checkout, files, (file) => runPlatformaticFile(file, opts));
  }

  if (values.librdkafka) {
    const checkout = path.resolve(values.librdkafka);
    if (!existsSync(path.join(checkout, 'tests', 'test-runner'))) {
      throw new Error(
        `${checkout}/tests/test-runner is missing: build it first (./configure && make, then make -C tests)`,
      );
    }
    const opts = {
      checkout,
      only,
      resultsDir,
      fileTimeoutMs,
      kafkaVersion: values['librdkafka-kafka-version'],
      quick: values.quick,
    };
    const wanted = programs(await listTests(checkout)).filter(
      (p) => !only || only.test(p.file) || p.tests.some((t) => only.test(t.name)),
    );
    await runSuite('librdkafka', checkout, wanted, (p) => runLibrdkafkaProgram(p, opts));
  }

  await save();
  for (const s of suites) {
    const c = counts(s.files);
    process.stdout.write(
      `${s.suite} ${s.version}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped\n`,
    );
  }
  process.stdout.write(`results: ${path.join(resultsDir, 'results.md')}\n`);
}

try {
  await main();
} catch (err) {
  // A missing checkout or a port the suite needs already taken: say so, without a stack.
  process.stderr.write(`compat:suites: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
} finally {
  await stopAll();
}
