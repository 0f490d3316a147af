/**
 * The benchmark suite (issue 7): how fast the broker is, how steady, how far it scales, and compared
 * with what, in one command.
 *
 *   npm run bench               # the full run; writes bench/RESULTS.md
 *   npm run bench -- --quick    # a short run (a few minutes) with smaller sizes, said so in its report
 *   npm run bench -- --only limits,produce   # some sections (limits, nats, kafka, produce,
 *                                            # produce-go, consume, doors, latency, scale,
 *                                            # compression, cluster, startup, recovery)
 *
 * The broker runs as users run it (as `npm start` does, with src/cli/node-flags.ts's Node flags, flags
 * and BROKER_* environment), and separate load-generator processes (bench/load/) drive it over
 * loopback. Beside it, in the same run: the machine's limits (dd conv=fdatasync, fdatasync latency,
 * loopback TCP) and a peer, NATS JetStream with file storage, driven by a Go load generator built here
 * from bench/nats/. Every figure is reported, with ratios to the peer, the limits and the goals of
 * issue 7; nothing is asserted.
 * Results go to bench/results/<mode>-<time>/ (results.json, report.md, SVG charts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BrokerClient } from '../src/client/index.ts';
import { describeMachine, stealMsByCpu } from './lib/machine.ts';
import {
  type BrokerProcess,
  freePort,
  gcDelta,
  gcTotals,
  nodeBin,
  type ProcSample,
  pinCpus,
  resetPeakRss,
  root,
  run,
  runLoad,
  sampleProc,
  startBroker,
  track,
} from './lib/proc.ts';
import { renderCharts, renderReport } from './lib/report.ts';
import type { BrokerCost, LatencyResults, Results } from './lib/results.ts';
import type { LatencySummary } from './lib/stats.ts';
import { ddBytesPerSec, mbPerSec } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    dir: { type: 'string' },
    out: { type: 'string' },
    /** Free text for the report, e.g. that other work shared the machine. */
    note: { type: 'string', multiple: true },
  },
});
const quick = values.quick === true;
const allSections =
  'limits,nats,kafka,produce,produce-go,consume,doors,latency,scale,compression,cluster,startup,recovery'.split(
    ',',
  );
const sections = new Set(values.only?.split(',') ?? allSections);
const dataRoot = values.dir ?? tmpdir();
const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Sizes of each run; the quick run's are smaller and its report says so. */
const plan = quick
  ? {
      produceMs: 1500,
      concurrency: 8,
      produceConsumeMs: 2000,
      latencyWarmupMs: 500,
      latencyMs: 3000,
      scalePartitions: [1, 100, 1000],
      scaleMs: 1500,
      compressionEvents: 20_000,
      startupRuns: 3,
      recoveryBytes: [64 * MiB, 256 * MiB],
      ddBytes: 256 * MiB,
      fsyncCount: 200,
      appendWrites: 3000,
      tcpMs: 2000,
      natsRecords: 200_000,
      kafkaRecords: 200_000,
    }
  : {
      produceMs: 6000,
      concurrency: 8,
      produceConsumeMs: 8000,
      latencyWarmupMs: 2000,
      latencyMs: 15_000,
      scalePartitions: [1, 100, 1000, 10_000],
      scaleMs: 5000,
      compressionEvents: 100_000,
      startupRuns: 5,
      recoveryBytes: [1 * GiB, 10 * GiB],
      ddBytes: 1 * GiB,
      fsyncCount: 1000,
      appendWrites: 10000,
      tcpMs: 5000,
      natsRecords: 1_000_000,
      kafkaRecords: 1_000_000,
    };

const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const outDir = values.out ?? path.join(root, 'bench/results', `${quick ? 'quick' : 'full'}-${stamp}`);
mkdirSync(outDir, { recursive: true });
const results: Results = {
  mode: quick ? 'quick' : 'full',
  startedAt: startedAt.toISOString(),
  plan,
  machine: describeMachine(dataRoot),
  notes: [...(values.note ?? [])],
};
const stealAtStart = stealMsByCpu();
const save = () => writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const log = (msg: string) => console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(0)}s] ${msg}`);
const t0 = performance.now();

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function tempDir(prefix: string): string {
  return mkdtempSync(path.join(dataRoot, `bench-${prefix}-`));
}

/** Runs `fn` and returns what it cost the broker process. */
async function measure<T>(
  broker: BrokerProcess,
  fn: () => Promise<T>,
): Promise<{ value: T; broker: BrokerCost }> {
  const peakIsPerScenario = resetPeakRss(broker.pid);
  const before = sampleProc(broker.pid);
  const value = await fn();
  const after: ProcSample = sampleProc(broker.pid);
  return {
    value,
    broker: {
      cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      peakRssBytes: after.peakRssBytes,
      rssBytes: after.rssBytes,
      fds: after.fds,
      peakIsPerScenario,
    },
  };
}

async function withBroker<T>(
  name: string,
  fsync: 'interval' | 'always',
  fn: (b: BrokerProcess, admin: BrokerClient) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const dir = tempDir(name);
  const broker = await startBroker({ dataDir: dir, fsync, env });
  const admin = await BrokerClient.connect(broker.grpcAddress, { requestTimeoutMs: 600_000 });
  try {
    return await fn(broker, admin);
  } finally {
    admin.close();
    await broker.stop('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Deletes a row's topic once it is measured, so that every row writes into the same recycled memory.
 * On this machine (a virtual machine) a page-cache write into memory the guest has not touched yet
 * costs several times one into memory it has freed: dd into the page cache ran at 3.2-4.9 GB/s into
 * freed memory and at 377-413 MB/s while earlier files still held theirs, and a 1 KiB produce row
 * after 2.4 GB of earlier rows ran at 0.65x the rate of the same row on a broker whose earlier topic
 * was deleted, all of the difference in the kernel time of the threads that write. A long-running
 * server has touched all its memory long ago; keeping every row's data would instead make a row's
 * rate depend on how much the rows before it wrote.
 */
async function dropTopic(admin: BrokerClient, topic: string): Promise<void> {
  await admin.deleteTopic(topic, { timeoutMs: 60_000 });
}

async function section(name: string, fn: () => Promise<void>): Promise<void> {
  if (!sections.has(name)) return;
  log(`${name}: start`);
  try {
    await fn();
  } catch (err) {
    const msg = `${name}: failed: ${(err as Error).message.slice(0, 500)}`;
    results.notes.push(msg);
    log(msg);
  }
  save();
}

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian packages when a tool is missing (the suite runs as root in the dev container). */
function aptInstall(packages: string[]): string | null {
  try {
    execFileSync('apt-get', ['install', '-y', ...packages], { stdio: 'ignore', timeout: 600_000 });
    return null;
  } catch (err) {
    return `apt-get install ${packages.join(' ')} failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

// ------------------------------------------------------------------------------------------ limits

await section('limits', async () => {
  const errors: string[] = [];
  const limits: NonNullable<Results['limits']> = { errors };
  results.limits = limits;
  const ddBytes = Math.min(plan.ddBytes, Math.floor(freeBytes(dataRoot) / 4 / MiB) * MiB);
  const dir = tempDir('dd');
  try {
    const out = await run(
      'sh',
      [
        '-c',
        `dd if=/dev/zero of=${path.join(dir, 'dd.bin')} bs=1M count=${ddBytes / MiB} conv=fdatasync 2>&1`,
      ],
      { timeoutMs: 600_000 },
    );
    limits.ddBytesPerSec = ddBytesPerSec(out);
    limits.ddBytes = ddBytes;
  } catch (err) {
    errors.push(`dd: ${(err as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    limits.fdatasync = await runLoad(
      'fsync-latency',
      { dir: dataRoot, count: plan.fsyncCount, bytes: 4096 },
      600_000,
    );
  } catch (err) {
    errors.push(`fdatasync: ${(err as Error).message}`);
  }
  try {
    // A batch of 100 records of 100 B is about 10 KiB; 1,000 rounds a second is about the latency
    // section's load at 50%.
    const w = await runLoad<LatencySummary & { bytes: number }>(
      'fsync-latency',
      { dir: dataRoot, count: plan.appendWrites, bytes: 10_240, sync: false, ratePerSec: 1000 },
      600_000,
    );
    limits.appendWrite = {
      count: w.count,
      p50Ms: w.p50Ms,
      p99Ms: w.p99Ms,
      p999Ms: w.p999Ms,
      maxMs: w.maxMs,
      meanMs: w.meanMs,
      bytes: w.bytes,
    };
  } catch (err) {
    errors.push(`append write: ${(err as Error).message}`);
  }
  // Loopback TCP: iperf3 (installed from Debian when missing) and a Node socket pump, which is the
  // ceiling a Node broker and a Node client share.
  if (!which('iperf3')) {
    const e = aptInstall(['iperf3']);
    if (e) errors.push(e);
  }
  if (which('iperf3')) {
    const port = await freePort();
    const server = spawn('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    const done = track(server);
    try {
      await waitForPort(port, 5000);
      const out = await run(
        'iperf3',
        ['-c', '127.0.0.1', '-p', String(port), '-t', String(Math.ceil(plan.tcpMs / 1000)), '-J'],
        { timeoutMs: plan.tcpMs + 30_000 },
      );
      const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
      limits.iperf3BytesPerSec = j.end.sum_received.bits_per_second / 8;
    } catch (err) {
      errors.push(`iperf3: ${(err as Error).message}`);
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
      await done;
    }
  }
  const server = spawn(
    nodeBin,
    [path.join(root, 'bench/load/tcp-pump.ts'), JSON.stringify({ role: 'server', durationMs: 0 })],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const serverDone = track(server);
  try {
    let buf = '';
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (buf += d));
    while (!buf.includes('\n')) await sleep(20);
    const port = (JSON.parse(buf.split('\n')[0]) as { port: number }).port;
    await run(
      nodeBin,
      [
        path.join(root, 'bench/load/tcp-pump.ts'),
        JSON.stringify({ role: 'client', port, durationMs: plan.tcpMs }),
      ],
      {
        timeoutMs: plan.tcpMs + 30_000,
      },
    );
    await serverDone;
    limits.nodeTcpBytesPerSec = (
      JSON.parse(buf.trim().split('\n').pop()!) as { bytesPerSec: number }
    ).bytesPerSec;
  } catch (err) {
    errors.push(`node tcp pump: ${(err as Error).message}`);
    if (server.exitCode === null) server.kill('SIGKILL');
  }
});

// -------------------------------------------------------------------------------------------- peer

await section('nats', async () => {
  const nats: NonNullable<Results['nats']> = { client: '', status: 'not run', rows: [] };
  results.nats = nats;
  const missing = ['nats-server', 'go'].filter((c) => !which(c));
  if (missing.length > 0 || !existsSync('/usr/share/gocode/src/github.com/nats-io/nats.go')) {
    const e = aptInstall(['nats-server', 'golang-go', 'golang-github-nats-io-go-nats-dev']);
    if (e) results.notes.push(e);
  }
  if (!which('nats-server')) {
    nats.status = 'not available: nats-server is not installed and apt-get could not install it';
    return;
  }
  if (!which('go') || !existsSync('/usr/share/gocode/src/github.com/nats-io/nats.go')) {
    // The `nats` npm package would be the fallback; it is not a dependency here, so say so plainly.
    nats.status = 'not available: Go or nats.go (golang-github-nats-io-go-nats-dev) is missing';
    return;
  }
  const buildDir = tempDir('nats-build');
  const storeDir = tempDir('nats-store');
  try {
    const bin = path.join(buildDir, 'jetstream-load');
    await run('go', ['build', '-o', bin, path.join(root, 'bench/nats/jetstream-load.go')], {
      timeoutMs: 300_000,
      // Debian's Go packages live in GOPATH form under /usr/share/gocode: build offline from there.
      env: {
        GO111MODULE: 'off',
        GOPATH: '/usr/share/gocode',
        GOCACHE: path.join(buildDir, 'cache'),
        GOFLAGS: '',
      },
    });
    nats.client = `nats.go (Debian golang-github-nats-io-go-nats-dev), Go ${execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim()}, PublishAsync with 8000 awaiting acknowledgement`;
    const version = execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim();
    const port = await freePort();
    const server = spawn('nats-server', ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
    });
    const done = track(server);
    try {
      await waitForPort(port, 10_000);
      for (const size of [100, 1024]) {
        const r = await run(
          bin,
          [
            '-url',
            `nats://127.0.0.1:${port}`,
            '-records',
            String(plan.natsRecords),
            '-size',
            String(size),
            '-stream',
            `B${size}`,
          ],
          { timeoutMs: 900_000 },
        );
        const j = JSON.parse(r.trim().split('\n').pop()!) as {
          produceRecordsPerSec: number;
          consumeRecordsPerSec: number;
        };
        nats.rows.push({ recordBytes: size, records: plan.natsRecords, ...j });
      }
      nats.status = `measured: ${version}, JetStream file storage (its default sync_interval, 2 min, comparable with our fsync interval)`;
    } finally {
      server.kill('SIGTERM');
      const t = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    }
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(storeDir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------- Kafka protocol

await section('kafka', async () => {
  results.kafka = { status: 'not run' };
  if (!which('kcat')) {
    const e = aptInstall(['kcat']);
    if (e) results.notes.push(e);
  }
  if (!which('kcat')) {
    results.kafka.status = 'not available: kcat is not installed';
    return;
  }
  await withBroker('kafka', 'interval', async (broker, admin) => {
    const bootstrap = `127.0.0.1:${broker.kafkaPort}`;
    // Does the broker answer Metadata on its Kafka port? Until the Kafka listener is wired into the
    // broker, nothing listens there (or only ApiVersions answers) and this scenario reports so.
    try {
      await run('kcat', ['-L', '-b', bootstrap, '-m', '5', '-J'], { timeoutMs: 20_000 });
    } catch (err) {
      results.kafka = {
        status: `not available yet: the broker does not answer Metadata on its Kafka port (${(err as Error).message.split('\n')[0].slice(0, 200)})`,
      };
      return;
    }
    await admin.createTopic('kafka-bench', { partitions: 1 });
    const file = path.join(tempDir('kafka-input'), 'records.txt');
    // 1,000,000 lines of 100 bytes each; kcat splits on the newline, which it does not send.
    const line = `${'x'.repeat(100)}\n`;
    writeFileSync(file, line.repeat(plan.kafkaRecords));
    try {
      const produced = await measure(broker, async () => {
        const s = performance.now();
        await run(
          'kcat',
          [
            '-P',
            '-b',
            bootstrap,
            '-t',
            'kafka-bench',
            '-p',
            '0',
            '-X',
            'queue.buffering.max.ms=5',
            '-X',
            'batch.num.messages=10000',
            '-X',
            'acks=1',
            '-l',
            file,
          ],
          { timeoutMs: 900_000 },
        );
        return (performance.now() - s) / 1000;
      });
      const end = (await admin.describeTopic('kafka-bench')).partitionInfo[0].highWatermark;
      if (end < plan.kafkaRecords) throw new Error(`kcat -P finished but the partition holds ${end} records`);
      const s = performance.now();
      await run(
        'kcat',
        [
          '-C',
          '-b',
          bootstrap,
          '-t',
          'kafka-bench',
          '-p',
          '0',
          '-o',
          'beginning',
          '-c',
          String(plan.kafkaRecords),
          '-e',
          '-q',
          '-f',
          '%o\n',
        ],
        { timeoutMs: 900_000 },
      );
      const consumeSeconds = (performance.now() - s) / 1000;
      results.kafka = {
        status: 'measured: kcat (librdkafka) produce and consume, 100-byte records, acks=1, fsync interval',
        records: plan.kafkaRecords,
        produceRecordsPerSec: plan.kafkaRecords / produced.value,
        consumeRecordsPerSec: plan.kafkaRecords / consumeSeconds,
        broker: produced.broker,
      };
    } catch (err) {
      results.kafka = { status: `failed: ${(err as Error).message.slice(0, 300)}` };
    } finally {
      rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});

// ----------------------------------------------------------------------------------------- produce

await section('produce', async () => {
  results.produce = [];
  for (const fsync of ['interval', 'always'] as const) {
    await withBroker(`produce-${fsync}`, fsync, async (broker, admin) => {
      for (const recordBytes of [100, 1024])
        for (const batch of [1, 100, 1000])
          for (const acks of [1, -1] as const) {
            const topic = `p-${recordBytes}-${batch}-${acks === 1 ? 'one' : 'all'}`;
            await admin.createTopic(topic, { partitions: 1 });
            const m = await measure(broker, () =>
              runLoad<{ recordsPerSec: number; clientCpuSeconds: number }>(
                'produce',
                {
                  address: broker.grpcAddress,
                  topic,
                  partitions: 1,
                  recordBytes,
                  batch,
                  acks,
                  concurrency: plan.concurrency,
                  durationMs: plan.produceMs,
                },
                plan.produceMs + 180_000,
              ),
            );
            results.produce!.push({
              recordBytes,
              batch,
              acks,
              fsync,
              recordsPerSec: m.value.recordsPerSec,
              mbPerSec: mbPerSec(m.value.recordsPerSec, recordBytes),
              clientCpuSeconds: m.value.clientCpuSeconds,
              broker: m.broker,
            });
            log(`produce ${topic} fsync=${fsync}: ${Math.round(m.value.recordsPerSec)} records/s`);
            await dropTopic(admin, topic);
          }
    });
  }
});

/** The produce matrix's rate for 100-byte records at this batch size, acks=1, fsync interval. */
function measuredMax(batch: number): number | null {
  return (
    results.produce?.find(
      (r) => r.recordBytes === 100 && r.batch === batch && r.acks === 1 && r.fsync === 'interval',
    )?.recordsPerSec ?? null
  );
}

// --------------------------------------------------------------------------------- consume, both

await section('consume', async () => {
  await withBroker('consume', 'interval', async (broker, admin) => {
    await admin.createTopic('c', { partitions: 1 });
    // Fill the partition first, as the 100-byte, 1000-record produce scenario does.
    await runLoad(
      'produce',
      {
        address: broker.grpcAddress,
        topic: 'c',
        partitions: 1,
        recordBytes: 100,
        batch: 1000,
        acks: 1,
        concurrency: plan.concurrency,
        durationMs: plan.produceMs,
      },
      plan.produceMs + 180_000,
    );
    const m = await measure(broker, () =>
      runLoad<{ records: number; recordsPerSec: number }>(
        'consume',
        {
          address: broker.grpcAddress,
          topic: 'c',
          partition: 0,
          fromOffset: 0,
          mode: 'drain',
          maxBytes: 1 << 20,
          durationMs: 600_000,
        },
        700_000,
      ),
    );
    results.consume = {
      records: m.value.records,
      recordsPerSec: m.value.recordsPerSec,
      mbPerSec: mbPerSec(m.value.recordsPerSec, 100),
      broker: m.broker,
    };
    log(`consume: ${Math.round(m.value.recordsPerSec)} records/s`);

    await admin.createTopic('pc', { partitions: 1 });
    const both = await measure(broker, () =>
      Promise.all([
        runLoad<{ recordsPerSec: number }>(
          'consume',
          {
            address: broker.grpcAddress,
            topic: 'pc',
            partition: 0,
            fromOffset: 0,
            mode: 'tail',
            maxBytes: 1 << 20,
            durationMs: plan.produceConsumeMs + 1000,
          },
          plan.produceConsumeMs + 120_000,
        ),
        runLoad<{ recordsPerSec: number }>(
          'produce',
          {
            address: broker.grpcAddress,
            topic: 'pc',
            partitions: 1,
            recordBytes: 100,
            batch: 1000,
            acks: 1,
            concurrency: plan.concurrency,
            durationMs: plan.produceConsumeMs,
          },
          plan.produceConsumeMs + 120_000,
        ),
      ]),
    );
    results.produceConsume = {
      consumeRecordsPerSec: both.value[0].recordsPerSec,
      produceRecordsPerSec: both.value[1].recordsPerSec,
      broker: both.broker,
    };
  });
});

// ----------------------------------------------------------------------------------------- latency

// ------------------------------------------------------------------------------------------- doors

await section('doors', async () => {
  // What each door costs the broker per MiB, the same records through kcat and the TypeScript client
  // into one broker, as `npm run bench:doors` measures it.
  const dir = tempDir('doors');
  try {
    const out = path.join(dir, 'doors.json');
    await run(
      nodeBin,
      [
        path.join(root, 'bench/door-cost.ts'),
        '--records',
        quick ? '50000' : '250000',
        '--rounds',
        quick ? '1' : '3',
      ].concat(['--json', out]),
      { timeoutMs: 1_800_000 },
    );
    results.doors = JSON.parse(readFileSync(out, 'utf8')) as NonNullable<Results['doors']>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Builds the Go latency generator (bench/grpc-latency) with Debian's Go and grpc-go, offline, as the
 * NATS generator is built; installs them when missing (as root). Returns the binary, or why not.
 */
async function goLatencyGenerator(dir: string): Promise<{ bin: string } | { reason: string }> {
  const grpcGo = '/usr/share/gocode/src/google.golang.org/grpc';
  if (!which('go') || !existsSync(grpcGo)) {
    const e = aptInstall(['golang-go', 'golang-google-grpc-dev', 'golang-google-protobuf-dev']);
    if (e) return { reason: e };
  }
  if (!which('go') || !existsSync(grpcGo))
    return { reason: 'Go or grpc-go (golang-google-grpc-dev) is missing' };
  const bin = path.join(dir, 'grpc-latency');
  try {
    await run('go', ['build', '-o', bin, path.join(root, 'bench/grpc-latency/latency.go')], {
      timeoutMs: 300_000,
      env: { GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: path.join(dir, 'cache'), GOFLAGS: '' },
    });
    return { bin };
  } catch (err) {
    return { reason: `go build failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

interface GoLatencyResult extends LatencySummary {
  ackP50Ms: number;
  ackP99Ms: number;
  sentRecords: number;
  recordsPerSec: number;
  failedBatches: number;
  sendLagP99Ms: number;
  cpuSeconds: number;
}

/**
 * Runs the Go generator (bench/grpc-latency) against a broker with `flags`, pinned to CPU 0 when the
 * broker is pinned to CPU 1, with GOMAXPROCS=1; returns its JSON line.
 */
async function runGoGenerator(
  bin: string,
  pinned: boolean,
  flags: string[],
  timeoutMs: number,
): Promise<GoLatencyResult> {
  const out = await run(pinned ? 'taskset' : bin, [...(pinned ? ['-c', '0', bin] : []), ...flags], {
    timeoutMs,
    env: { GOMAXPROCS: '1' },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as GoLatencyResult;
}

/** The Go generator's flags for one run (rate 0: closed loop). */
function goFlags(o: {
  address: string;
  topic: string;
  recordBytes: number;
  batch: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
  inFlight: number;
  rpc: 'ProduceBatch' | 'ProduceStream';
  consume: boolean;
}): string[] {
  return [
    `-addr=${o.address}`,
    `-topic=${o.topic}`,
    `-size=${o.recordBytes}`,
    `-batch=${o.batch}`,
    `-rate=${o.rate}`,
    `-warmup=${o.warmupMs}ms`,
    `-duration=${o.durationMs}ms`,
    `-inflight=${o.inFlight}`,
    `-consume=${o.consume}`,
    ...(o.rpc === 'ProduceStream' ? ['-stream'] : []),
  ];
}

const goGeneratorNote =
  'bench/grpc-latency (Go, grpc-go from Debian): one process, GOMAXPROCS=1, a fraction of a core';

/** The Go generator, built once for the sections that use it; its directory goes when the run ends. */
let goGenerator: Promise<{ bin: string } | { reason: string }> | null = null;
function goGeneratorOnce(): Promise<{ bin: string } | { reason: string }> {
  if (goGenerator === null) {
    const dir = tempDir('grpc-latency-build');
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    goGenerator = goLatencyGenerator(dir);
  }
  return goGenerator;
}

await section('produce-go', async () => {
  const gen = await goGeneratorOnce();
  if (!('bin' in gen)) {
    results.notes.push(`produce-go: the Go generator is not available (${gen.reason})`);
    return;
  }
  await withBroker('produce-go', 'interval', async (broker, admin) => {
    const pinned = availableParallelism() >= 2 && pinCpus(broker.pid, '1');
    const inFlight = 8;
    const produceGo: NonNullable<Results['produceGo']> = {
      generator: `${goGeneratorNote}; closed loop, ${inFlight} batches in flight, no consumer`,
      pinning: pinned ? 'broker on CPU 1, the generator on CPU 0 (taskset)' : 'none (one CPU, or no taskset)',
      rows: [],
    };
    results.produceGo = produceGo;
    const row = async (recordBytes: number, rpc: 'ProduceBatch' | 'ProduceStream', onOneCpu: boolean) => {
      const topic = `go-${recordBytes}-${rpc}${onOneCpu ? '' : '-free'}`;
      await admin.createTopic(topic, { partitions: 1 });
      const m = await measure(broker, () =>
        runGoGenerator(
          gen.bin,
          onOneCpu,
          goFlags({
            address: broker.grpcAddress,
            topic,
            recordBytes,
            batch: 1000,
            rate: 0,
            warmupMs: 1000,
            durationMs: plan.produceMs,
            inFlight,
            rpc,
            consume: false,
          }),
          plan.produceMs + 120_000,
        ),
      );
      produceGo.rows.push({
        recordBytes,
        batch: 1000,
        rpc,
        inFlight,
        pinned: onOneCpu,
        recordsPerSec: m.value.recordsPerSec,
        mbPerSec: mbPerSec(m.value.recordsPerSec, recordBytes),
        ackP50Ms: m.value.ackP50Ms,
        ackP99Ms: m.value.ackP99Ms,
        generatorCpuSeconds: m.value.cpuSeconds,
        broker: m.broker,
      });
      log(
        `produce-go ${recordBytes} B ${rpc}${onOneCpu ? '' : ', no CPU pinned'}: ${Math.round(m.value.recordsPerSec)} records/s`,
      );
      await dropTopic(admin, topic);
    };
    for (const recordBytes of [100, 1024])
      for (const rpc of ['ProduceBatch', 'ProduceStream'] as const) await row(recordBytes, rpc, pinned);
    // The NATS section runs its server and its Go generator with no CPU pinned; these rows give the
    // broker the same footing for the 1 KiB comparison. Pinned, the kernel's copy of each write into
    // the page cache (about half of the broker's CPU at 1 KiB on the development machine) shares the
    // broker's one CPU with its event loop; NATS's rate is the same either way (210,000-225,000
    // records/s of 1 KiB, server pinned to one CPU or not).
    if (pinned && pinCpus(broker.pid, `0-${availableParallelism() - 1}`))
      for (const rpc of ['ProduceBatch', 'ProduceStream'] as const) await row(1024, rpc, false);
  });
});

await section('latency', async () => {
  const batch = 100;
  const recordBytes = 100;
  const gen = await goGeneratorOnce();
  await withBroker('latency', 'interval', async (broker, admin) => {
    const cpus = availableParallelism();
    const pinned = cpus >= 2 && pinCpus(broker.pid, '1');
    if ('bin' in gen) {
      // One Go process offers the load and tails the partition, pinned to the other CPU with
      // GOMAXPROCS=1: a fraction of a core, where the TypeScript client needs two processes that
      // compete with each other (the fallback below). Both RPCs are measured: ProduceStream, the
      // fast path, and a ProduceBatch call per batch.
      for (const rpc of ['ProduceStream', 'ProduceBatch'] as const) {
        const goRun = (topic: string, ratePerSec: number, durationMs: number) =>
          runGoGenerator(
            gen.bin,
            pinned,
            goFlags({
              address: broker.grpcAddress,
              topic,
              recordBytes,
              batch,
              rate: ratePerSec,
              warmupMs: plan.latencyWarmupMs,
              durationMs,
              inFlight: 64,
              rpc,
              consume: true,
            }),
            plan.latencyWarmupMs + durationMs + 120_000,
          );
        const tag = rpc === 'ProduceStream' ? 'stream' : 'unary';
        await admin.createTopic(`lat-max-${tag}`, { partitions: 1 });
        const max = (await goRun(`lat-max-${tag}`, 0, plan.produceMs)).recordsPerSec;
        await dropTopic(admin, `lat-max-${tag}`);
        const lat: LatencyResults = {
          maxRecordsPerSec: max,
          batch,
          recordBytes,
          rpc,
          generator: `${goGeneratorNote}, producing ${rpc === 'ProduceStream' ? 'on one ProduceStream call' : 'with ProduceBatch calls'} and tailing with Subscribe; the maximum is its closed-loop rate with 64 batches in flight`,
          pinning: pinned
            ? 'broker on CPU 1, the generator on CPU 0 (taskset)'
            : 'none (one CPU, or no taskset)',
          rows: [],
        };
        if (rpc === 'ProduceStream') results.latency = lat;
        else results.latencyUnary = lat;
        for (const loadPercent of [10, 50, 80]) {
          const topic = `lat-${tag}-${loadPercent}`;
          await admin.createTopic(topic, { partitions: 1 });
          const rate = (max * loadPercent) / 100;
          const gcBefore = await gcTotals(broker.metricsPort);
          const stealBefore = stealMsByCpu();
          const m = await measure(broker, () => goRun(topic, rate, plan.latencyMs));
          const stealAfter = stealMsByCpu();
          const { ackP50Ms, ackP99Ms, sentRecords, sendLagP99Ms, cpuSeconds, ...latency } = m.value;
          lat.rows.push({
            loadPercent,
            offeredRecordsPerSec: rate,
            sentRecords,
            sendLagP99Ms,
            latency: {
              count: latency.count,
              p50Ms: latency.p50Ms,
              p99Ms: latency.p99Ms,
              p999Ms: latency.p999Ms,
              maxMs: latency.maxMs,
              meanMs: latency.meanMs,
            },
            ackP50Ms,
            ackP99Ms,
            generatorCpuSeconds: cpuSeconds,
            broker: m.broker,
            gc: gcDelta(gcBefore, await gcTotals(broker.metricsPort)),
            stolenMsByCpu:
              stealBefore && stealAfter
                ? stealAfter.map((ms, cpu) => ms - (stealBefore[cpu] ?? ms))
                : undefined,
          });
          log(`latency ${rpc} ${loadPercent}%: p99 ${latency.p99Ms} ms (acknowledgement p99 ${ackP99Ms} ms)`);
          await dropTopic(admin, topic);
        }
      }
      return;
    }
    results.notes.push(
      `latency: the Go generator is not available (${gen.reason}); the TypeScript one measured`,
    );
    await tsLatency(broker, admin, pinned, batch, recordBytes);
  });
});

/** The latency rows with the suite's TypeScript generators: a producer and a consumer process. */
async function tsLatency(
  broker: BrokerProcess,
  admin: BrokerClient,
  brokerPinned: boolean,
  batch: number,
  recordBytes: number,
): Promise<void> {
  let max = measuredMax(batch);
  if (max === null) {
    // The produce section did not run: measure the maximum here the same way.
    await admin.createTopic('lat-max', { partitions: 1 });
    const r = await runLoad<{ recordsPerSec: number }>(
      'produce',
      {
        address: broker.grpcAddress,
        topic: 'lat-max',
        partitions: 1,
        recordBytes,
        batch,
        acks: 1,
        concurrency: plan.concurrency,
        durationMs: plan.produceMs,
      },
      plan.produceMs + 120_000,
    );
    max = r.recordsPerSec;
    await dropTopic(admin, 'lat-max');
  }
  // This runner, with the load generators it starts, on the CPU the broker is not on.
  const cpus = availableParallelism();
  const runnerPinned = brokerPinned && pinCpus(process.pid, '0');
  results.latency = {
    maxRecordsPerSec: max,
    batch,
    recordBytes,
    generator: 'bench/load/latency.ts (the TypeScript client): a producer and a consumer process',
    pinning: runnerPinned
      ? 'broker on CPU 1, load generators on CPU 0 (taskset)'
      : 'none (one CPU, or no taskset)',
    rows: [],
  };
  try {
    for (const loadPercent of [10, 50, 80]) {
      const topic = `lat-${loadPercent}`;
      await admin.createTopic(topic, { partitions: 1 });
      const rate = (max * loadPercent) / 100;
      const base = {
        address: broker.grpcAddress,
        topic,
        partition: 0,
        recordBytes,
        batch,
        acks: 1,
        ratePerSec: rate,
        warmupMs: plan.latencyWarmupMs,
        durationMs: plan.latencyMs,
        maxInFlight: 64,
        expectedRecords: Math.floor((plan.latencyMs * rate) / 1000 / batch) * batch - batch,
        graceMs: 10_000,
      };
      const gcBefore = await gcTotals(broker.metricsPort);
      const m = await measure(broker, async () => {
        // The consumer first, so that it is following the partition before the first record.
        const consumer = spawn(
          nodeBin,
          [path.join(root, 'bench/load/latency.ts'), JSON.stringify({ ...base, role: 'consumer' })],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        const consumerDone = track(consumer);
        let out = '';
        consumer.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
        try {
          while (!out.includes('"ready":true')) {
            if (consumer.exitCode !== null) throw new Error('latency consumer exited before it was ready');
            await sleep(20);
          }
          const producer = await runLoad<{ sentRecords: number; sendLagP99Ms: number }>(
            'latency',
            { ...base, role: 'producer' },
            plan.latencyWarmupMs + plan.latencyMs + 120_000,
          );
          const t = setTimeout(() => consumer.kill('SIGKILL'), 60_000);
          await consumerDone;
          clearTimeout(t);
          const latency = JSON.parse(out.trim().split('\n').pop()!) as LatencySummary;
          return { producer, latency };
        } finally {
          if (consumer.exitCode === null) consumer.kill('SIGKILL');
        }
      });
      results.latency.rows.push({
        loadPercent,
        offeredRecordsPerSec: rate,
        sentRecords: m.value.producer.sentRecords,
        sendLagP99Ms: m.value.producer.sendLagP99Ms,
        latency: m.value.latency,
        broker: m.broker,
        gc: gcDelta(gcBefore, await gcTotals(broker.metricsPort)),
      });
      log(`latency ${loadPercent}%: p99 ${m.value.latency.p99Ms} ms`);
      await dropTopic(admin, topic);
    }
  } finally {
    if (runnerPinned) pinCpus(process.pid, `0-${cpus - 1}`);
  }
}

// ------------------------------------------------------------------------------------------- scale

await section('scale', async () => {
  results.scale = [];
  for (const partitions of plan.scalePartitions) {
    try {
      await withBroker(`scale-${partitions}`, 'interval', async (broker, admin) => {
        const s = performance.now();
        // The broker's per-topic limit is 10,000 partitions; one topic holds them all here. One
        // controller operation makes at most 5,000 metadata records (recordsPerBatchMax), so a larger
        // topic is created in steps, as a user would: created, then grown with CreatePartitions.
        const step = 4000;
        await admin.createTopic('scale', { partitions: Math.min(partitions, step), timeoutMs: 600_000 });
        for (let n = step; n < partitions; n += step)
          await admin.createPartitions('scale', Math.min(partitions, n + step), { timeoutMs: 600_000 });
        const createSeconds = (performance.now() - s) / 1000;
        await sleep(500);
        const idle = sampleProc(broker.pid);
        const m = await measure(broker, () =>
          runLoad<{ recordsPerSec: number }>(
            'produce',
            {
              address: broker.grpcAddress,
              topic: 'scale',
              partitions,
              recordBytes: 100,
              batch: 100,
              acks: 1,
              concurrency: plan.concurrency,
              durationMs: plan.scaleMs,
            },
            plan.scaleMs + 300_000,
          ),
        );
        results.scale!.push({
          partitions,
          createSeconds,
          recordsPerSec: m.value.recordsPerSec,
          idleRssBytes: idle.rssBytes,
          idleFds: idle.fds,
          broker: { ...m.broker, peakRssBytes: Math.max(m.broker.peakRssBytes, idle.peakRssBytes) },
        });
        log(
          `scale ${partitions}: ${Math.round(m.value.recordsPerSec)} records/s, RSS ${Math.round(m.broker.rssBytes / MiB)} MiB, ${m.broker.fds} fds`,
        );
      });
    } catch (err) {
      results.scale.push({
        partitions,
        createSeconds: Number.NaN,
        recordsPerSec: Number.NaN,
        idleRssBytes: Number.NaN,
        idleFds: Number.NaN,
        broker: {
          cpuSeconds: Number.NaN,
          peakRssBytes: Number.NaN,
          rssBytes: Number.NaN,
          fds: Number.NaN,
          peakIsPerScenario: false,
        },
        error: (err as Error).message.slice(0, 300),
      });
    }
  }
});

// ------------------------------------------------------------------------------------- compression

await section('compression', async () => {
  await withBroker('compression', 'interval', async (broker) => {
    const m = await measure(broker, async () => {
      const out = await run(
        nodeBin,
        [
          path.join(root, 'bench/compression.ts'),
          '--address',
          broker.grpcAddress,
          '--events',
          String(plan.compressionEvents),
          '--json',
        ],
        { timeoutMs: 900_000 },
      );
      return JSON.parse(out.trim().split('\n').pop()!) as Omit<NonNullable<Results['compression']>, 'broker'>;
    });
    results.compression = { ...m.value, broker: m.broker };
  });
});

// ----------------------------------------------------------------------------------------- cluster

/** Runs one of the cluster benchmarks and reads the JSON file it says it wrote. */
async function clusterBench(script: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await run(nodeBin, [path.join(root, 'bench', script), ...args], { timeoutMs: 1_800_000 });
  const wrote = /^wrote (.+\.json)$/m.exec(out)?.[1];
  if (!wrote) throw new Error(`${script} did not say which file it wrote`);
  return JSON.parse(readFileSync(path.resolve(root, wrote), 'utf8')) as Record<string, unknown>;
}

await section('cluster', async () => {
  // Three broker processes on loopback, formed with --join, as `npm run bench:cluster` runs them.
  const c = await clusterBench('cluster.ts', quick ? ['--records', '10000', '--failovers', '2'] : []);
  const r = await clusterBench(
    'replication.ts',
    quick ? ['--seconds', '2', '--rounds', '1', '--skip', 'memory'] : ['--skip', 'memory'],
  );
  results.cluster = {
    status: 'measured: bench/cluster.ts and bench/replication.ts (three broker processes on loopback)',
    joinMs: c.joinMs as number[],
    controllerFailoverMs: c.failoverElectedMs as number[],
    rf3OverRf1One: r.rf3OverRf1One as number[],
    rf3OverRf1Three: r.rf3OverRf1Three as number[],
    lag: r.lag as NonNullable<Results['cluster']>['lag'],
    latency: r.latency as NonNullable<Results['cluster']>['latency'],
    failover: r.failover as NonNullable<Results['cluster']>['failover'],
  };
});

// ------------------------------------------------------------------------------ startup, recovery

/** Spawns a broker on `dir` and times it to its ready line and to the first acknowledged produce. */
async function timeStart(
  dir: string,
  topic: string,
): Promise<{ broker: BrokerProcess; readyMs: number; firstAckMs: number }> {
  const broker = await startBroker({ dataDir: dir, fsync: 'interval' });
  const client = await BrokerClient.connect(broker.grpcAddress, {
    requestTimeoutMs: 600_000,
    retryBackoffMs: 10,
  });
  try {
    await client.produceBatch(topic, [Buffer.alloc(100, 'x')], { partition: 0, acks: 1 });
  } finally {
    client.close();
  }
  return { broker, readyMs: broker.readyMs, firstAckMs: performance.now() - broker.spawnedAt };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await section('startup', async () => {
  const dir = tempDir('startup');
  try {
    // A data directory holding one topic, as a user's would after `create-topic`.
    const first = await startBroker({ dataDir: dir, fsync: 'interval' });
    const admin = await BrokerClient.connect(first.grpcAddress);
    await admin.createTopic('s', { partitions: 1 });
    admin.close();
    await first.stop('SIGTERM');
    const runs: { readyMs: number; firstAckMs: number }[] = [];
    for (let i = 0; i < plan.startupRuns; i++) {
      const r = await timeStart(dir, 's');
      runs.push({ readyMs: r.readyMs, firstAckMs: r.firstAckMs });
      await r.broker.stop('SIGTERM');
    }
    results.startup = {
      runs,
      medianFirstAckMs: median(runs.map((r) => r.firstAckMs)),
      medianReadyMs: median(runs.map((r) => r.readyMs)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

await section('recovery', async () => {
  results.recovery = [];
  for (const dataBytes of plan.recoveryBytes) {
    const free = freeBytes(dataRoot);
    // Room for the data, its indexes and a margin for everything else on the disk.
    if (free < dataBytes * 1.3 + 2 * GiB) {
      results.recovery.push({
        dataBytes,
        status: `skipped: ${Math.round(free / GiB)} GiB free on ${dataRoot}, not enough for ${Math.round(dataBytes / GiB)} GiB`,
      });
      continue;
    }
    const dir = tempDir('recovery');
    try {
      const broker = await startBroker({ dataDir: dir, fsync: 'interval' });
      const admin = await BrokerClient.connect(broker.grpcAddress);
      await admin.createTopic('r', { partitions: 4 });
      admin.close();
      const s = performance.now();
      await runLoad(
        'produce',
        {
          address: broker.grpcAddress,
          topic: 'r',
          partitions: 4,
          recordBytes: 1024,
          batch: 500,
          acks: 1,
          concurrency: plan.concurrency,
          durationMs: 3_600_000,
          maxRecords: Math.ceil(dataBytes / 1024),
        },
        3_700_000,
      );
      const fillSeconds = (performance.now() - s) / 1000;
      await broker.stop('SIGKILL');
      const r = await timeStart(dir, 'r');
      const cost = sampleProc(r.broker.pid);
      await r.broker.stop('SIGTERM');
      results.recovery.push({
        dataBytes,
        status: 'measured',
        fillSeconds,
        readyMs: r.readyMs,
        firstAckMs: r.firstAckMs,
        broker: {
          cpuSeconds: cost.cpuSeconds,
          peakRssBytes: cost.peakRssBytes,
          rssBytes: cost.rssBytes,
          fds: cost.fds,
          peakIsPerScenario: true,
        },
      });
      log(`recovery ${Math.round(dataBytes / MiB)} MiB: first ack after ${Math.round(r.firstAckMs)} ms`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

// ------------------------------------------------------------------------------------------ report

results.finishedAt = new Date().toISOString();
const stealAtEnd = stealMsByCpu();
if (stealAtStart && stealAtEnd)
  results.stolenMsByCpu = stealAtEnd.map((ms, cpu) => ms - (stealAtStart[cpu] ?? ms));
save();
const charts = renderCharts(results);
for (const [name, svg] of Object.entries(charts)) writeFileSync(path.join(outDir, name), svg);
const report = renderReport(results, { chartFiles: Object.keys(charts) });
writeFileSync(path.join(outDir, 'report.md'), report);
if (!quick && allSections.every((s) => sections.has(s)))
  writeFileSync(path.join(root, 'bench/RESULTS.md'), report);
log(`done: ${outDir}`);
// Children are gone; a lingering gRPC channel must not keep the suite alive.
process.exit(0);
