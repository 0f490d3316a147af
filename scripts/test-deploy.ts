/**
 * `npm run test:deploy` (issue 15, "One command that proves it"): the Docker image and the Compose
 * cluster of docs/deploy.md, exercised end to end on this machine.
 *
 *  1. As root, installs what it needs from Debian (docker.io, docker-compose, debootstrap, kcat);
 *     Prometheus comes from Debian's package too, inside its image (deploy/prometheus/Dockerfile).
 *  2. Uses the Docker daemon that answers, or starts `dockerd` (and stops it at the end).
 *  3. Builds the base (scripts/deploy/base-image.sh: debootstrap, docker import; kept once built), the
 *     broker image on it, Prometheus's and a kcat image; reports the broker image's size over the base.
 *  4. Times `docker run` of one broker to its /ready, three times.
 *  5. Brings up the Compose cluster (brokers and Prometheus; Grafana cannot be pulled here), waits for
 *     "Distributed broker ready" in each broker's log, checks /ready on each (exactly one LEADER),
 *     runs the demo from the host, produces with kcat through a published Kafka port and reads it back
 *     through another, does the same from a container on the Compose network, checks Prometheus's
 *     targets and a query, stops broker-1 and runs the demo again through broker-2, then starts
 *     broker-1 again, which rejoins from its volume.
 *  6. With Debian's docker-compose 1.29 in step 5, brings the same cluster up again from nothing with
 *     the `docker compose` plugin (the installed one, or Compose v2 from Debian trixie's package, see
 *     `composePlugin`), waits for it to be ready, runs the demo, stops broker-1 and runs it again.
 *  7. Tears everything down (containers, networks, volumes), on success, failure, deadline or SIGINT.
 *     The images stay, as a cache for the next run.
 *
 * Exit codes: 0 passed, 1 failed, 77 skipped because this machine cannot run it (not root and no
 * Docker daemon, or dockerd cannot start here); .ci/run reports the skip and goes on.
 *
 * Environment: TEST_DEPLOY_TIMEOUT_S (deadline, default 1800), TSBROKER_BASE_IMAGE (a base to build on
 * instead of the debootstrap one, e.g. node:24-bookworm-slim where Docker Hub is reachable),
 * PROMETHEUS_IMAGE (use that image instead of building one), DOCKERD_ARGS (flags for a dockerd this
 * script starts), COMPOSE ("docker-compose" or "docker compose"; default: docker-compose if installed),
 * DEBIAN_MIRROR (where trixie's docker-compose package is fetched from; default deb.debian.org).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { setUp } from './test-setup.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = 77;
const deadlineMs = Number(process.env.TEST_DEPLOY_TIMEOUT_S ?? 1800) * 1000;
const project = 'tsbroker-deploy-test';
const baseImage = process.env.TSBROKER_BASE_IMAGE ?? 'tsbroker-base:bookworm';
const brokerImage = 'tsbroker:deploy-test';
const prometheusImage = process.env.PROMETHEUS_IMAGE ?? 'tsbroker-prometheus:bookworm';
const kcatImage = 'tsbroker-kcat:bookworm';
const logDir = path.join(os.tmpdir(), 'tsbroker-test-deploy');
const readyContainer = `${project}-ready`;
const debianPackages = ['docker.io', 'docker-compose', 'debootstrap', 'kcat'] as const;

/** The brokers of docker-compose.yml with their ports on the host. */
const brokers = [
  { service: 'broker-1', grpc: 8080, kafka: 9092, metrics: 9090 },
  { service: 'broker-2', grpc: 8081, kafka: 9093, metrics: 9091 },
  { service: 'broker-3', grpc: 8082, kafka: 9094, metrics: 9095 },
] as const;
const prometheusPort = 9096;
/** The host port the start-to-ready measurement publishes the single broker's metrics on. */
const readyPort = 19090;

class Skip extends Error {}

// ------------------------------------------------------------------ output

const started = Date.now();
const results: { step: string; ms: number; ok: boolean }[] = [];
const facts: string[] = [];
let current = 'start';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  current = name;
  const t0 = Date.now();
  say(`\n== ${name}`);
  try {
    const value = await fn();
    results.push({ step: name, ms: Date.now() - t0, ok: true });
    say(`   ok (${seconds(Date.now() - t0)})`);
    return value;
  } catch (err) {
    results.push({ step: name, ms: Date.now() - t0, ok: false });
    throw err;
  }
}

// ------------------------------------------------------------------ processes

const children = new Set<ChildProcess>();

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Output goes to this file (in logDir) instead of being kept; the tail is printed on failure. */
  log?: string;
  /** Reject on a non-zero exit (the default). */
  check?: boolean;
  /** The working directory (default: the repository). */
  cwd?: string;
}

/** Runs a command to its end, in its own process group so that a deadline stops its children too. */
function run(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const logFile = opts.log ? path.join(logDir, opts.log) : null;
  const logFd = logFile ? openSync(logFile, 'w') : null;
  const child = spawn(command, args, {
    cwd: opts.cwd ?? root,
    detached: true,
    env: { ...process.env, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', logFd ?? 'pipe', logFd ?? 'pipe'],
  });
  children.add(child);
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => killGroup(child), opts.timeoutMs ?? 120_000);
  return new Promise((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (logFd !== null) closeSync(logFd);
      const result = { code, stdout, stderr };
      if (code === 0 || opts.check === false) return resolve(result);
      const tail = logFile
        ? tailOf(logFile, 40)
        : `${stdout}${stderr}`.trim().split('\n').slice(-40).join('\n');
      reject(
        new Error(
          `${command} ${args.join(' ')} exited ${code ?? 'on a signal (deadline?)'}${logFile ? ` (log: ${logFile})` : ''}\n${indent(tail)}`,
        ),
      );
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `     ${l}`)
    .join('\n');
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > until)
      throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(250);
  }
}

async function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: (await r.text()).trim() };
}

// ------------------------------------------------------------------ docker

let dockerdProcess: ChildProcess | null = null;

function dockerAnswers(): boolean {
  return (
    spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 20_000 })
      .status === 0
  );
}

/** The dockerd flag sets tried in turn: DOCKERD_ARGS alone when given. */
function dockerdAttempts(): string[][] {
  if (process.env.DOCKERD_ARGS !== undefined) return [process.env.DOCKERD_ARGS.split(/\s+/).filter(Boolean)];
  return [[], ['--storage-driver=vfs']];
}

async function ensureDocker(): Promise<void> {
  if (dockerAnswers()) {
    say('   a Docker daemon answers: using it (and leaving it running)');
    return;
  }
  if (!commandExists('dockerd')) throw new Skip('no Docker daemon answers and dockerd is not installed');
  if (process.getuid?.() !== 0) throw new Skip('no Docker daemon answers and starting dockerd needs root');
  for (const args of dockerdAttempts()) {
    const log = path.join(logDir, 'dockerd.log');
    const fd = openSync(log, 'a');
    say(`   starting dockerd ${args.join(' ')} (log: ${log})`);
    const child = spawn('dockerd', args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let exited = false;
    child.on('exit', () => (exited = true));
    const until = Date.now() + 60_000;
    while (!exited && Date.now() < until && !dockerAnswers()) await sleep(300);
    if (!exited && dockerAnswers()) {
      dockerdProcess = child;
      const version = spawnSync('docker', ['info', '--format', '{{.ServerVersion}} {{.Driver}}'], {
        encoding: 'utf8',
      }).stdout.trim();
      say(`   dockerd ${version} answers (started by this run: stopped at the end)`);
      facts.push(`dockerd started by this run: ${version}${args.length ? `, flags ${args.join(' ')}` : ''}`);
      return;
    }
    say(`   dockerd ${args.join(' ')} did not come up:\n${indent(tailOf(log, 8))}`);
    await stopProcess(child, 20_000);
  }
  throw new Skip(`dockerd cannot start on this machine (log: ${path.join(logDir, 'dockerd.log')})`);
}

async function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) return;
  killGroup(child);
  await exited;
}

function imageExists(image: string): boolean {
  return spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0;
}

function imageBytes(image: string): number {
  const r = spawnSync('docker', ['image', 'inspect', '--format', '{{.Size}}', image], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** `docker build`, its output in a log file (the legacy builder when buildx is missing, as here). */
async function build(tag: string, context: string, args: Record<string, string>, log: string): Promise<void> {
  const buildArgs = Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  const env: Record<string, string> = {};
  if (
    process.env.DOCKER_BUILDKIT === undefined &&
    spawnSync('docker', ['buildx', 'version'], { stdio: 'ignore' }).status !== 0
  )
    env.DOCKER_BUILDKIT = '0';
  say(`   docker build -t ${tag} ${buildArgs.join(' ')} ${context}   (log: ${path.join(logDir, log)})`);
  await run('docker', ['build', '--force-rm', '-t', tag, ...buildArgs, context], {
    log,
    env,
    timeoutMs: 20 * 60_000,
  });
}

// ------------------------------------------------------------------ compose

let composeUp = false;

/**
 * The Compose command of the main run: Debian's docker-compose 1.29 if installed, else the `docker
 * compose` plugin. `composeNow` is the one in use; the plugin's round at the end of `main` switches it.
 */
function composeCommand(): string[] {
  if (process.env.COMPOSE) return process.env.COMPOSE.split(/\s+/);
  if (commandExists('docker-compose')) return ['docker-compose'];
  return ['docker', 'compose'];
}
let composeNow: { command: string[]; env: Record<string, string> } = { command: [], env: {} };

function pluginAnswers(env: Record<string, string> = {}): boolean {
  return (
    spawnSync('docker', ['compose', 'version'], { stdio: 'ignore', env: { ...process.env, ...env } })
      .status === 0
  );
}

/**
 * The `docker compose` plugin: the installed one, or else, as root, Compose v2 from Debian's own
 * packages. Bookworm has no plugin package (its docker-compose is 1.29), but trixie's docker-compose
 * package is Compose v2, a Go binary that needs nothing but libc 2.34 or later (bookworm's is 2.36). It is fetched with apt-get under
 * a private configuration (trixie's index, verified against the Debian archive keyring as apt always
 * does; the machine's own sources and packages untouched), unpacked, and made a plugin of a private
 * DOCKER_CONFIG, which the plugin's commands get in their environment. Kept for the next run.
 */
async function composePlugin(): Promise<
  { env: Record<string, string>; source: string } | { reason: string }
> {
  if (pluginAnswers()) return { env: {}, source: 'installed' };
  const cache = path.join(os.tmpdir(), 'tsbroker-compose-plugin');
  const env = { DOCKER_CONFIG: path.join(cache, 'docker-config') };
  const plugin = path.join(env.DOCKER_CONFIG, 'cli-plugins', 'docker-compose');
  if (existsSync(plugin) && pluginAnswers(env))
    return { env, source: `Debian trixie's docker-compose, ${cache}` };
  if (process.getuid?.() !== 0 || !commandExists('apt-get') || !commandExists('dpkg-deb'))
    return { reason: 'not installed, and fetching it from Debian needs root with apt-get and dpkg-deb' };
  const mirror = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  for (const d of [
    'lists/partial',
    'cache/archives/partial',
    'parts',
    'debs',
    'root',
    'docker-config/cli-plugins',
  ])
    mkdirSync(path.join(cache, d), { recursive: true });
  writeFileSync(
    path.join(cache, 'sources.list'),
    `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} trixie main\n`,
  );
  const apt = [
    '-q',
    '-o',
    `Dir::Etc::SourceList=${path.join(cache, 'sources.list')}`,
    '-o',
    `Dir::Etc::SourceParts=${path.join(cache, 'parts')}`,
    '-o',
    `Dir::State::Lists=${path.join(cache, 'lists')}`,
    '-o',
    `Dir::Cache=${path.join(cache, 'cache')}`,
  ];
  const update = await run('apt-get', [...apt, 'update'], {
    check: false,
    log: 'compose-plugin-apt.log',
    timeoutMs: 600_000,
  });
  if (update.code !== 0)
    return {
      reason: `apt-get update of Debian trixie's index failed (${path.join(logDir, 'compose-plugin-apt.log')})`,
    };
  const debs = path.join(cache, 'debs');
  const download = await run('apt-get', [...apt, 'download', 'docker-compose'], {
    check: false,
    cwd: debs,
    timeoutMs: 600_000,
  });
  const deb = readdirSync(debs).find((f) => f.startsWith('docker-compose_') && f.endsWith('.deb'));
  if (download.code !== 0 || !deb)
    return { reason: `apt-get download docker-compose failed: ${download.stderr.trim()}` };
  await run('dpkg-deb', ['-x', path.join(debs, deb), path.join(cache, 'root')]);
  const binary = path.join(cache, 'root/usr/libexec/docker/cli-plugins/docker-compose');
  if (!existsSync(binary)) return { reason: `${deb} holds no usr/libexec/docker/cli-plugins/docker-compose` };
  rmSync(plugin, { force: true });
  symlinkSync(binary, plugin);
  if (!pluginAnswers(env))
    return { reason: `the plugin of ${deb} does not answer \`docker compose version\`` };
  return { env, source: `Debian trixie's ${deb}, ${cache}` };
}

const composeEnv = { TSBROKER_IMAGE: brokerImage, PROMETHEUS_IMAGE: prometheusImage };

function compose(args: string[], opts: RunOptions = {}, using = composeNow): Promise<RunResult> {
  const [cmd, ...pre] = using.command;
  return run(cmd, [...pre, '-p', project, '-f', 'docker-compose.yml', '--profile', 'monitoring', ...args], {
    ...opts,
    env: { ...composeEnv, ...using.env, ...opts.env },
  });
}

async function logsOf(service: string): Promise<string> {
  return (await compose(['logs', '--no-color', service], { check: false })).stdout;
}

/** Each broker's /ready answer (status and body). */
async function roles(which: readonly (typeof brokers)[number][]): Promise<string[]> {
  return Promise.all(
    which.map(async (b) => {
      const r = await httpGet(`http://127.0.0.1:${b.metrics}/ready`).catch((err: Error) => ({
        status: 0,
        body: err.message,
      }));
      return r.status === 200 ? r.body : `${r.status} ${r.body}`;
    }),
  );
}

async function waitOneLeader(which: readonly (typeof brokers)[number][]): Promise<void> {
  let seen: string[] = [];
  await waitFor('one LEADER and the others FOLLOWER on /ready', 60_000, async () => {
    seen = await roles(which);
    const leaders = seen.filter((r) => r === 'LEADER').length;
    const followers = seen.filter((r) => r === 'FOLLOWER').length;
    if (leaders === 1 && followers === which.length - 1) return true;
    throw new Error(seen.map((r, i) => `${which[i].service}: ${r}`).join(', '));
  });
  for (const [i, b] of which.entries()) say(`   ${b.service} localhost:${b.metrics}/ready: ${seen[i]}`);
}

async function demo(server: string): Promise<void> {
  say(`   node examples/demo/index.ts --server ${server}`);
  const r = await run(process.execPath, ['examples/demo/index.ts', '--server', server], {
    timeoutMs: 90_000,
  });
  say(indent(r.stdout.trimEnd()));
  if (!r.stdout.includes('Demo complete!')) throw new Error('the demo did not print "Demo complete!"');
}

function freePort(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function projectNetwork(): Promise<string> {
  const r = await run('docker', [
    'network',
    'ls',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--format',
    '{{.Name}}',
  ]);
  const name = r.stdout.trim().split('\n')[0];
  if (!name) throw new Error(`no network of Compose project ${project}`);
  return name;
}

async function prometheusQuery(
  query: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await httpGet(
    `http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent(query)}`,
  );
  if (r.status !== 200) throw new Error(`query ${query}: HTTP ${r.status} ${r.body}`);
  return (
    JSON.parse(r.body) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }
  ).data.result;
}

async function prometheusTargets(): Promise<{ instance: string; health: string; lastError: string }[]> {
  const r = await httpGet(`http://127.0.0.1:${prometheusPort}/api/v1/targets?state=active`);
  if (r.status !== 200) throw new Error(`targets: HTTP ${r.status}`);
  const body = JSON.parse(r.body) as {
    data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
  };
  return body.data.activeTargets
    .map((t) => ({ instance: t.labels.instance, health: t.health, lastError: t.lastError }))
    .sort((a, b) => a.instance.localeCompare(b.instance));
}

// ------------------------------------------------------------------ clean-up

let cleaning: Promise<void> | null = null;

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    current = 'clean-up';
    for (const c of children) killGroup(c);
    if (dockerAnswers()) {
      say('\n== tear down (containers, networks, volumes)');
      if (composeUp) {
        const r = await compose(['down', '--volumes', '--remove-orphans', '--timeout', '30'], {
          check: false,
          timeoutMs: 180_000,
        }).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
        say(
          `   ${composeNow.command.join(' ')} down --volumes: ${r.code === 0 ? 'done' : `failed: ${r.stderr.trim()}`}`,
        );
      }
      spawnSync('docker', ['rm', '-f', '-v', readyContainer], { stdio: 'ignore' });
      const left = spawnSync(
        'sh',
        [
          '-c',
          `docker ps -aq --filter label=com.docker.compose.project=${project}; docker volume ls -q --filter label=com.docker.compose.project=${project}; docker network ls -q --filter label=com.docker.compose.project=${project}; docker ps -aq --filter name=${readyContainer}`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
      say(
        left
          ? `   LEFT BEHIND: ${left.split('\n').join(' ')}`
          : '   nothing of this run is left (the images stay as a cache)',
      );
    }
    if (dockerdProcess) {
      say('   stopping the dockerd this run started');
      await stopProcess(dockerdProcess, 30_000);
      dockerdProcess = null;
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    say(`\n${signal} during "${current}": cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ compose steps

/** Brings up the three brokers and Prometheus (Grafana cannot be pulled here: no Docker Hub). */
async function composeUpBrokers(): Promise<void> {
  const ports = [...brokers.flatMap((b) => [b.grpc, b.kafka, b.metrics]), prometheusPort];
  const busy = [];
  for (const p of ports) if (!(await freePort(p))) busy.push(p);
  if (busy.length) throw new Error(`host ports in use (another broker running?): ${busy.join(', ')}`);
  composeUp = true;
  await compose(['up', '-d', '--no-build', 'broker-1', 'broker-2', 'broker-3', 'prometheus'], {
    log: 'compose-up.log',
    timeoutMs: 180_000,
  });
  say(indent(tailOf(path.join(logDir, 'compose-up.log'), 10)));
}

async function readyInLogs(): Promise<void> {
  for (const b of brokers) {
    const line = await waitFor(`"Distributed broker ready" in ${b.service}'s log`, 120_000, async () =>
      (await logsOf(b.service)).split('\n').find((l) => l.includes('Distributed broker ready')),
    );
    const entry = JSON.parse(line.slice(line.indexOf('{'))) as { role?: string; voters?: unknown };
    say(`   ${b.service}: Distributed broker ready (role ${entry.role ?? '?'})`);
  }
}

async function stopBroker1(): Promise<void> {
  const t0 = Date.now();
  await compose(['stop', 'broker-1'], { timeoutMs: 90_000 });
  say(`   stopped in ${Date.now() - t0} ms`);
  const logs = await logsOf('broker-1');
  if (!logs.includes('signal received')) throw new Error('broker-1 did not log the SIGTERM');
  await waitOneLeader(brokers.slice(1));
}

// ------------------------------------------------------------------ the run

async function main(): Promise<void> {
  mkdirSync(logDir, { recursive: true });
  say(`test:deploy: the Docker image and the Compose cluster, end to end (deadline ${seconds(deadlineMs)})`);

  await step('Debian packages', async () => {
    if (process.getuid?.() === 0) {
      if (setUp(debianPackages) !== 0) throw new Error('installing the Debian packages failed');
      say(`   installed: ${debianPackages.join(', ')}`);
    } else if (!dockerAnswers()) {
      throw new Skip('not root (cannot install docker.io and start dockerd) and no Docker daemon answers');
    }
    for (const tool of ['docker', 'kcat'])
      if (!commandExists(tool)) throw new Error(`${tool} is not installed`);
  });

  await step('Docker daemon', ensureDocker);

  composeNow = { command: composeCommand(), env: {} };
  // Set by the Compose file step (a closure, so the type is given as the whole union).
  let plugin = { reason: 'not looked for' } as Awaited<ReturnType<typeof composePlugin>>;
  await step('Compose file', async () => {
    const [cmd, ...pre] = composeNow.command;
    const v = await run(cmd, [...pre, 'version', '--short'], { check: false });
    await compose(['config', '--quiet']);
    say(`   ${composeNow.command.join(' ')} ${v.stdout.trim()}: config ok`);
    facts.push(`compose: ${composeNow.command.join(' ')} ${v.stdout.trim()}`);
    if (composeNow.command[0] === 'docker') return;
    plugin = await composePlugin();
    if ('reason' in plugin) {
      say(`   the docker compose plugin: ${plugin.reason}; the file is checked with docker-compose only`);
      facts.push(`docker compose plugin: not run (${plugin.reason})`);
      return;
    }
    const version = await run('docker', ['compose', 'version', '--short'], { env: plugin.env });
    await compose(['config', '--quiet'], {}, { command: ['docker', 'compose'], env: plugin.env });
    say(`   docker compose (plugin) ${version.stdout.trim()}, ${plugin.source}: config ok`);
    facts.push(`docker compose plugin: ${version.stdout.trim()} (${plugin.source})`);
  });

  await step('Images', async () => {
    if (process.env.TSBROKER_BASE_IMAGE === undefined) {
      if (imageExists(baseImage)) say(`   base ${baseImage} exists: kept`);
      else {
        say(`   scripts/deploy/base-image.sh ${baseImage}   (log: ${path.join(logDir, 'base-image.log')})`);
        await run('scripts/deploy/base-image.sh', [baseImage], {
          log: 'base-image.log',
          timeoutMs: 20 * 60_000,
        });
      }
    }
    await build(brokerImage, '.', { BASE_IMAGE: baseImage }, 'build-broker.log');
    if (process.env.PROMETHEUS_IMAGE === undefined)
      await build(prometheusImage, 'deploy/prometheus', { BASE_IMAGE: baseImage }, 'build-prometheus.log');
    await build(kcatImage, 'scripts/deploy/kcat', { BASE_IMAGE: baseImage }, 'build-kcat.log');
    const base = imageBytes(baseImage);
    const image = imageBytes(brokerImage);
    const line = `broker image ${mb(image)}, base ${baseImage} ${mb(base)}: ${mb(image - base)} over the base`;
    say(`   ${line}`);
    facts.push(line);
    const node = await run('docker', ['run', '--rm', '--entrypoint', 'node', brokerImage, '--version']);
    const user = await run('docker', ['run', '--rm', '--entrypoint', 'id', brokerImage]);
    say(`   node ${node.stdout.trim()} in the image, running as ${user.stdout.trim()}`);
    if (!node.stdout.startsWith('v24.')) throw new Error(`the image's node is ${node.stdout.trim()}, not 24`);
    if (!user.stdout.startsWith('uid=10001')) throw new Error(`the image runs as ${user.stdout.trim()}`);
    // Only what runs: no dev dependencies, no tests or benchmarks, no compiler.
    const listing = await run('docker', [
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      brokerImage,
      '-c',
      'ls -A /app; cd /app/node_modules && ls -d * @*/*; command -v gcc cc g++ make || true',
    ]);
    const entries = new Set(listing.stdout.split('\n').map((l) => l.trim()));
    // A package the lock file marks dev is one that no production dependency needs (@types/node is a
    // devDependency, and a dependency of protobufjs too).
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([p, v]) => v.dev && p.split('node_modules/').length === 2)
      .map(([p]) => p.slice('node_modules/'.length));
    const unwanted = [...devOnly, 'test', 'bench', 'examples', 'scripts'].filter((x) => entries.has(x));
    unwanted.push(...[...entries].filter((e) => /\/(gcc|cc|g\+\+|make)$/.test(e)));
    if (unwanted.length) throw new Error(`the image holds what does not run: ${unwanted.join(', ')}`);
    say(`   no dev dependency, test, benchmark or compiler in the image (${entries.size} entries checked)`);
  });

  await step('docker run to /ready, one broker', async () => {
    if (!(await freePort(readyPort))) throw new Error(`port ${readyPort} is in use on this machine`);
    const times: number[] = [];
    for (let i = 1; i <= 3; i++) {
      spawnSync('docker', ['rm', '-f', '-v', readyContainer], { stdio: 'ignore' });
      const t0 = Date.now();
      await run('docker', [
        'run',
        '-d',
        '--name',
        readyContainer,
        '-p',
        `127.0.0.1:${readyPort}:9090`,
        brokerImage,
      ]);
      // Polled every 10 ms (waitFor's 250 ms would blur the measurement).
      let body = '';
      while (!body) {
        if (Date.now() - t0 > 30_000) throw new Error('/ready did not answer 200 within 30 s');
        const r = await httpGet(`http://127.0.0.1:${readyPort}/ready`, 1000).catch(() => null);
        if (r?.status === 200) body = r.body;
        else await sleep(10);
      }
      const ms = Date.now() - t0;
      times.push(ms);
      // The broker's own share: from the container's start to its "Distributed broker ready" line.
      const startedAt = Date.parse(
        (await run('docker', ['inspect', '--format', '{{.State.StartedAt}}', readyContainer])).stdout.trim(),
      );
      const logs = (await run('docker', ['logs', readyContainer])).stdout;
      const ready = logs
        .split('\n')
        .filter((l) => l.includes('Distributed broker ready'))
        .map((l) => (JSON.parse(l) as { time: number }).time)[0];
      say(
        `   run ${i}: docker run to /ready ${body} in ${ms} ms (container start to "Distributed broker ready": ${ready ? `${ready - startedAt} ms` : '?'})`,
      );
      await run('docker', ['stop', '-t', '30', readyContainer]);
      const stopLogs = (await run('docker', ['logs', readyContainer])).stdout;
      if (!stopLogs.includes('signal received'))
        throw new Error('the broker did not log the SIGTERM of docker stop');
      spawnSync('docker', ['rm', '-f', '-v', readyContainer], { stdio: 'ignore' });
    }
    const sorted = [...times].sort((a, b) => a - b);
    facts.push(`docker run to /ready: ${times.join(', ')} ms (median ${sorted[1]} ms)`);
  });

  await step(`${composeNow.command.join(' ')} up: brokers and Prometheus`, composeUpBrokers);
  await step('"Distributed broker ready" in each broker\'s log', readyInLogs);
  await step('/ready on each broker: exactly one LEADER', () => waitOneLeader(brokers));

  await step('the demo from the host, through broker-1', () => demo('localhost:8080'));

  const message = `hello from kcat ${Date.now()}`;
  await step(
    'kcat from the host: produce through localhost:9093, read back through localhost:9094',
    async () => {
      await run('kcat', ['-b', '127.0.0.1:9093', '-P', '-t', 'deploy-check', '-z', 'lz4'], {
        input: `${message}\n`,
        timeoutMs: 60_000,
      });
      const r = await run(
        'kcat',
        ['-b', '127.0.0.1:9094', '-C', '-t', 'deploy-check', '-o', 'beginning', '-e', '-q'],
        {
          timeoutMs: 60_000,
        },
      );
      if (!r.stdout.includes(message))
        throw new Error(`read back ${JSON.stringify(r.stdout)}, not the message`);
      say(`   produced and read back: ${message}`);
    },
  );

  await step('kcat from a container on the Compose network: broker-3:9094 and broker-2:9093', async () => {
    const network = await projectNetwork();
    const inContainer = `hello from a container ${Date.now()}`;
    const kcat = ['run', '--rm', '-i', '--network', network, kcatImage, 'kcat'];
    await run('docker', [...kcat, '-b', 'broker-3:9094', '-P', '-t', 'deploy-check'], {
      input: `${inContainer}\n`,
      timeoutMs: 60_000,
    });
    const r = await run(
      'docker',
      [...kcat, '-b', 'broker-2:9093', '-C', '-t', 'deploy-check', '-o', 'beginning', '-e', '-q'],
      {
        timeoutMs: 60_000,
      },
    );
    if (!r.stdout.includes(inContainer) || !r.stdout.includes(message))
      throw new Error(`read back ${JSON.stringify(r.stdout)}, not both messages`);
    say(`   read back both messages (the host's and the container's) on ${network}`);
  });

  await step('Prometheus: every broker target up, queries return data', async () => {
    const targets = await waitFor('three targets up', 90_000, async () => {
      const t = await prometheusTargets();
      if (t.length === 3 && t.every((x) => x.health === 'up')) return t;
      throw new Error(t.map((x) => `${x.instance} ${x.health} ${x.lastError}`).join('; '));
    });
    for (const t of targets) say(`   target ${t.instance}: ${t.health}`);
    const leaders = await waitFor('sum(controller_is_leader) = 1', 60_000, async () => {
      const r = await prometheusQuery('sum(controller_is_leader)');
      return r.length === 1 && r[0].value[1] === '1' ? r[0].value[1] : undefined;
    });
    say(`   sum(controller_is_leader) = ${leaders}`);
    const produced = await waitFor('broker_messages_produced_total for the nodes', 60_000, async () => {
      const r = await prometheusQuery('sum by (node) (broker_messages_produced_total)');
      return r.length > 0 ? r : undefined;
    });
    say(
      `   sum by (node) (broker_messages_produced_total): ${produced.map((s) => `${s.metric.node}=${s.value[1]}`).join(', ')}`,
    );
  });

  await step(`${composeNow.command.join(' ')} stop broker-1`, stopBroker1);

  await step('the demo again, through broker-2, with broker-1 stopped', () => demo('localhost:8081'));

  await step('Prometheus sees broker-1 down, broker-2 and broker-3 up', async () => {
    await waitFor('broker-1 down in Prometheus', 60_000, async () => {
      const t = await prometheusTargets();
      const ok =
        t.find((x) => x.instance.startsWith('broker-1'))?.health === 'down' &&
        t.filter((x) => !x.instance.startsWith('broker-1')).every((x) => x.health === 'up');
      if (ok) return true;
      throw new Error(t.map((x) => `${x.instance} ${x.health}`).join('; '));
    });
  });

  await step(`${composeNow.command.join(' ')} start broker-1: it rejoins from its volume`, async () => {
    await compose(['start', 'broker-1'], { timeoutMs: 90_000 });
    await waitOneLeader(brokers);
    const readyLines = (await logsOf('broker-1'))
      .split('\n')
      .filter((l) => l.includes('Distributed broker ready')).length;
    if (readyLines !== 2)
      throw new Error(`broker-1 logged "Distributed broker ready" ${readyLines} times, not 2`);
  });

  await step(
    'the dashboards: each panel query Prometheus can run, at least one of each with data',
    async () => {
      const dir = path.join(root, 'deploy/grafana/dashboards');
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
        const dashboard = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {
          title: string;
          panels?: { title?: string; targets?: { expr?: string }[]; panels?: unknown[] }[];
        };
        // Grafana's variables as Grafana would fill them for every instance.
        const exprs = (dashboard.panels ?? [])
          .flatMap((p) => p.targets ?? [])
          .map((t) => t.expr)
          .filter((e): e is string => typeof e === 'string')
          .map((e) =>
            e
              .replaceAll('$__rate_interval', '1m')
              .replaceAll('$__interval', '1m')
              .replace(/=~?\s*"\$\w+"/g, '=~".*"')
              .replace(/\$\w+/g, '.*'),
          );
        let withData = 0;
        for (const e of exprs) if ((await prometheusQuery(e)).length > 0) withData++;
        say(`   ${dashboard.title}: ${withData} of ${exprs.length} queries return data`);
        if (withData === 0) throw new Error(`no query of ${dashboard.title} returned data`);
      }
    },
  );
  if (!('reason' in plugin)) {
    // The same cluster again with the plugin, from nothing: the file's syntax as Compose v2 reads it.
    const v2 = plugin;
    await step(`${composeNow.command.join(' ')} down --volumes, for the plugin's round`, async () => {
      await compose(['down', '--volumes', '--remove-orphans', '--timeout', '30'], { timeoutMs: 180_000 });
      composeUp = false;
    });
    composeNow = { command: ['docker', 'compose'], env: v2.env };
    await step('docker compose (plugin) up: brokers and Prometheus', composeUpBrokers);
    await step('"Distributed broker ready" in each broker\'s log (plugin)', readyInLogs);
    await step('/ready on each broker: exactly one LEADER (plugin)', () => waitOneLeader(brokers));
    await step('the demo from the host, through broker-1 (plugin)', () => demo('localhost:8080'));
    await step('docker compose stop broker-1 (plugin)', stopBroker1);
    await step('the demo again, through broker-2, with broker-1 stopped (plugin)', () =>
      demo('localhost:8081'),
    );
  }
  await step('the Kubernetes manifests and the dashboards, validated (test/deploy)', async () => {
    const r = await run(
      process.execPath,
      ['--test', 'test/deploy/kubernetes.test.ts', 'test/deploy/dashboards.test.ts'],
      { timeoutMs: 300_000 },
    );
    say(
      indent(
        r.stdout
          .split('\n')
          .filter((l) => /^ℹ (tests|pass|fail)/.test(l))
          .join('\n'),
      ),
    );
  });
}

const deadline = setTimeout(() => {
  say(`\nDEADLINE: ${seconds(deadlineMs)} passed during "${current}"`);
  void cleanUp().finally(() => process.exit(1));
}, deadlineMs);

let exitCode = 0;
try {
  await main();
} catch (err) {
  if (err instanceof Skip) {
    say(`\ntest:deploy SKIPPED: ${err.message}`);
    exitCode = SKIP;
  } else {
    say(`\nFAILED in "${current}": ${(err as Error).message}`);
    exitCode = 1;
  }
}
await cleanUp();
clearTimeout(deadline);
say('\n== summary');
for (const r of results) say(`   ${r.ok ? 'ok  ' : 'FAIL'} ${r.step} (${seconds(r.ms)})`);
for (const f of facts) say(`   ${f}`);
say(
  `test:deploy ${exitCode === 0 ? 'passed' : exitCode === SKIP ? 'skipped' : 'FAILED'} in ${seconds(Date.now() - started)}`,
);
process.exit(exitCode);
