/**
 * The network of a chaos run: every broker in its own network namespace, joined by one bridge, so that
 * iptables can cut the links between them without touching the machine's own network.
 *
 * Layout (prefix `tsbc<pid>` by default, the pid of the process that made it):
 *
 * - `<prefix>-hub`: a bridge `br0` with 10.77.0.254/24. The harness and its clients run here; it
 *   reaches every node whatever the cuts.
 * - `<prefix>-n<id>` (id 1..9): interface `eth0` with 10.77.0.<id>/24, one end of a veth pair whose
 *   other end, `v<id>`, is in the hub namespace, attached to `br0`. The pairs are created directly
 *   between the two namespaces: nothing is ever created in the root namespace.
 * - In each node namespace, an iptables chain `CHAOS`, jumped to from INPUT and OUTPUT, holds the cuts
 *   (`-j DROP`, silent like a real partition); healing flushes it. The rules name node addresses only, so
 *   the hub's own traffic is never dropped.
 *
 * Deleting a namespace removes its interfaces and rules; close() kills what still runs inside first.
 * Namespaces whose name starts with `tsbc<pid>-` where that pid is dead are leftovers of a crashed run
 * (leftoverNamespaces); a custom prefix should keep that form (`tsbc<pid>` or `tsbc<pid>-<tag>`).
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';

export interface ChaosNetOptions {
  /** How many nodes, 1..9 (ids 1..nodes). */
  nodes: number;
  /** Namespace name prefix; default `tsbc${process.pid}`. */
  prefix?: string;
}

export interface ChaosNet {
  readonly prefix: string;
  /** The hub namespace: a bridge `br0` connecting every node, address 10.77.0.254/24; the harness and its clients run in it. */
  readonly hubNs: string;
  readonly hubAddress: string;
  nodeNs(id: number): string;
  nodeAddress(id: number): string;
  /** argv to run `argv` inside namespace `ns`: ['ip','netns','exec',ns,...argv]. */
  exec(ns: string, argv: string[]): string[];
  /**
   * Cut every link between groups (nodes in different groups drop each other's packets, both ways); the
   * hub still reaches every node. Adds to the cuts in force; nodes in no group keep their links.
   */
  partition(groups: number[][]): Promise<void>;
  /** Drop packets from node `from` arriving at node `to` (only that direction). */
  dropOneWay(from: number, to: number): Promise<void>;
  /** Remove every rule added by partition/dropOneWay. */
  heal(): Promise<void>;
  /** The rules now in force, human readable, for the history: e.g. ['1 x 2', '3 -> 1 dropped']. */
  readonly cuts: string[];
  /**
   * SIGKILL every process still inside the run's namespaces (waiting up to 2 s for them to go), delete
   * every namespace. Idempotent (a later call retries what could not be deleted); never throws: returns
   * the errors met (empty when all went well).
   */
  close(): Promise<string[]>;
}

const SUBNET = '10.77.0';
const HUB_ADDRESS = `${SUBNET}.254`;
const CHAIN = 'CHAOS';
const LEFTOVER = /^tsbc(\d+)-/;
const PROBE_PORT = 7;

class CommandError extends Error {}

function describe(argv: string[]): string {
  return argv.join(' ');
}

/** Runs argv; rejects with an error naming the command and its stderr. */
function run(argv: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) {
        const why = stderr.trim() || err.message;
        reject(new CommandError(`\`${describe(argv)}\` failed: ${why}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

function runSync(argv: string[]): { ok: boolean; stdout: string; error: string } {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, stdout: '', error: `\`${describe(argv)}\` failed: ${r.error.message}` };
  if (r.status !== 0) {
    const why = r.stderr.trim() || `exit ${r.status ?? r.signal}`;
    return { ok: false, stdout: r.stdout, error: `\`${describe(argv)}\` failed: ${why}` };
  }
  return { ok: true, stdout: r.stdout, error: '' };
}

/** The network namespaces that exist now (`ip netns list`). */
export function listNamespaces(): string[] {
  const r = runSync(['ip', 'netns', 'list']);
  if (!r.ok) throw new Error(r.error);
  return r.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name) => name !== '');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parsePids(out: string): number[] {
  return out
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

function killAll(pids: number[], errors: string[], ns: string): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        errors.push(`cannot kill ${pid} in ${ns}: ${(err as Error).message}`);
      }
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Kills the processes inside `ns` (waiting up to 2 s for them to go) and deletes it, synchronously. */
function removeNamespaceSync(ns: string, errors: string[]): void {
  const deadline = Date.now() + 2000;
  for (;;) {
    const r = runSync(['ip', 'netns', 'pids', ns]);
    if (!r.ok) {
      errors.push(r.error);
      break;
    }
    const pids = parsePids(r.stdout);
    if (pids.length === 0) break;
    if (Date.now() >= deadline) {
      errors.push(`processes ${pids.join(', ')} in ${ns} survived SIGKILL for 2 s; deleting it anyway`);
      break;
    }
    killAll(pids, errors, ns);
    sleepSync(50);
  }
  const del = runSync(['ip', 'netns', 'del', ns]);
  if (!del.ok) errors.push(del.error);
}

async function removeNamespace(ns: string, errors: string[]): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    let pids: number[];
    try {
      pids = parsePids(await run(['ip', 'netns', 'pids', ns]));
    } catch (err) {
      errors.push((err as Error).message);
      break;
    }
    if (pids.length === 0) break;
    if (Date.now() >= deadline) {
      errors.push(`processes ${pids.join(', ')} in ${ns} survived SIGKILL for 2 s; deleting it anyway`);
      break;
    }
    killAll(pids, errors, ns);
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    await run(['ip', 'netns', 'del', ns]);
  } catch (err) {
    errors.push((err as Error).message);
  }
}

/** Namespaces left from earlier runs: names matching /^tsbc(\d+)-/ whose pid is not alive. */
export function leftoverNamespaces(): { name: string; pid: number }[] {
  const found: { name: string; pid: number }[] = [];
  for (const name of listNamespaces()) {
    const m = LEFTOVER.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (!pidAlive(pid)) found.push({ name, pid });
  }
  return found;
}

/** Removes the namespaces `names` (killing the processes inside first). Returns the names removed. */
export function removeNamespaces(names: string[]): string[] {
  const removed: string[] = [];
  for (const name of names) {
    const errors: string[] = [];
    removeNamespaceSync(name, errors);
    if (!listNamespaces().includes(name)) removed.push(name);
  }
  return removed;
}

/**
 * What the harness needs and lacks: root, and the commands `ip` and `iptables` (Debian packages
 * iproute2, iptables). A message saying what is missing and how to get it, or null when all is there.
 */
export function networkPrerequisites(): string | null {
  const problems: string[] = [];
  const packages: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (it creates network namespaces)');
  for (const [command, pkg] of [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
  ] as const) {
    const r = spawnSync(command, ['-V'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      problems.push(`the command \`${command}\` is missing (Debian package ${pkg})`);
      packages.push(pkg);
    }
  }
  if (problems.length === 0) return null;
  let message = `The chaos harness's network cannot be set up: ${problems.join('; ')}.`;
  if (packages.length > 0)
    message += ` As root: apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  return message;
}

const ECHO_SERVER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); })
  .listen(Number(port), host, () => process.stdout.write('ready\\n'));
`;

const PROBE_CLIENT = `
const net = require('node:net');
const [port, timeoutMs, ...hosts] = process.argv.slice(1);
function once(host) {
  return new Promise((resolve) => {
    const s = net.connect(Number(port), host);
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 500);
    s.on('connect', () => s.write('x'));
    s.on('data', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.on('error', () => { clearTimeout(t); s.destroy(); setTimeout(() => resolve(false), 50); });
  });
}
async function probe(host) {
  const deadline = Date.now() + Number(timeoutMs);
  while (Date.now() < deadline) if (await once(host)) return true;
  return false;
}
Promise.all(hosts.map(probe)).then((ok) => {
  const failed = hosts.filter((_, i) => !ok[i]);
  if (failed.length > 0) { process.stderr.write('no TCP echo from ' + failed.join(', ')); process.exit(1); }
});
`;

/** Starts an echo server in `ns` on host:port; resolves once it listens. */
function startEcho(argv: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CommandError(`\`${describe(argv)}\` did not listen within 5 s: ${stderr.trim()}`));
    }, 5000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CommandError(`\`${describe(argv)}\` failed: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new CommandError(`\`${describe(argv)}\` exited (${code ?? signal}): ${stderr.trim()}`));
    });
  });
}

function checkId(id: number, nodes: number): void {
  if (!Number.isInteger(id) || id < 1 || id > nodes) throw new Error(`no node ${id} (nodes are 1..${nodes})`);
}

/**
 * Creates the hub and `nodes` node namespaces and checks a TCP round trip from the hub to each node.
 * Refuses when namespaces with the prefix exist already; on any failure, removes what it made and throws
 * an error naming the failed command and its stderr.
 */
export async function createChaosNet(options: ChaosNetOptions): Promise<ChaosNet> {
  const { nodes } = options;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error(`nodes must be 1..9, not ${nodes}`);
  const prefix = options.prefix ?? `tsbc${process.pid}`;
  const existing = listNamespaces().filter((n) => n.startsWith(`${prefix}-`));
  if (existing.length > 0) {
    throw new Error(
      `network namespaces with the prefix ${prefix} exist already: ${existing.join(', ')}. ` +
        `Remove them with ${existing.map((n) => `\`ip netns del ${n}\``).join(', ')} ` +
        '(or removeNamespaces() from test/chaos/net.ts, which kills the processes inside first)',
    );
  }
  const hubNs = `${prefix}-hub`;
  const nodeNs = (id: number): string => `${prefix}-n${id}`;
  const nodeAddress = (id: number): string => `${SUBNET}.${id}`;
  const exec = (ns: string, argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];
  const ids = Array.from({ length: nodes }, (_, i) => i + 1);
  let created: string[] = [];

  const close = async (): Promise<string[]> => {
    const errors: string[] = [];
    if (created.length === 0) return errors;
    // Nodes first: the hub end of each veth goes with the node namespace.
    for (const ns of created.toReversed()) await removeNamespace(ns, errors);
    try {
      const left = new Set(listNamespaces());
      created = created.filter((ns) => left.has(ns));
    } catch (err) {
      errors.push((err as Error).message);
    }
    return errors;
  };

  const iptables = (id: number, args: string[]): Promise<string> =>
    run(exec(nodeNs(id), ['iptables', '-w', ...args]));

  try {
    await run(['ip', 'netns', 'add', hubNs]);
    created.push(hubNs);
    await run(['ip', '-n', hubNs, 'link', 'set', 'lo', 'up']);
    await run(['ip', '-n', hubNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await run(['ip', '-n', hubNs, 'addr', 'add', `${HUB_ADDRESS}/24`, 'dev', 'br0']);
    await run(['ip', '-n', hubNs, 'link', 'set', 'br0', 'up']);
    for (const id of ids) {
      const ns = nodeNs(id);
      await run(['ip', 'netns', 'add', ns]);
      created.push(ns);
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      await run([
        'ip',
        '-n',
        ns,
        'link',
        'add',
        'eth0',
        'type',
        'veth',
        'peer',
        'name',
        `v${id}`,
        'netns',
        hubNs,
      ]);
      await run(['ip', '-n', hubNs, 'link', 'set', `v${id}`, 'master', 'br0']);
      await run(['ip', '-n', hubNs, 'link', 'set', `v${id}`, 'up']);
      await run(['ip', '-n', ns, 'addr', 'add', `${nodeAddress(id)}/24`, 'dev', 'eth0']);
      await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      await iptables(id, ['-N', CHAIN]);
      await iptables(id, ['-I', 'INPUT', '-j', CHAIN]);
      await iptables(id, ['-I', 'OUTPUT', '-j', CHAIN]);
    }
    const servers: ChildProcess[] = [];
    try {
      for (const id of ids) {
        servers.push(
          await startEcho(
            exec(nodeNs(id), [process.execPath, '-e', ECHO_SERVER, nodeAddress(id), String(PROBE_PORT)]),
          ),
        );
      }
      await run(
        exec(hubNs, [
          process.execPath,
          '-e',
          PROBE_CLIENT,
          String(PROBE_PORT),
          '5000',
          ...ids.map(nodeAddress),
        ]),
        15_000,
      );
    } finally {
      for (const s of servers) s.kill('SIGKILL');
    }
  } catch (err) {
    const errors = await close();
    const message = err instanceof Error ? err.message : String(err);
    const cleanup = errors.length > 0 ? ` (and cleaning up: ${errors.join('; ')})` : '';
    throw new Error(`cannot create the chaos network: ${message}${cleanup}`);
  }

  return handle(prefix, nodes, close);
}

/**
 * The run's network as another process made it (the supervisor creates it, the run inside the hub
 * attaches): partitions and heals work the same; close() removes every namespace with the prefix.
 */
export function attachChaosNet(options: { prefix: string; nodes: number }): ChaosNet {
  const { prefix, nodes } = options;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error(`nodes must be 1..9, not ${nodes}`);
  const missing = [`${prefix}-hub`, ...Array.from({ length: nodes }, (_, i) => `${prefix}-n${i + 1}`)].filter(
    (ns) => !listNamespaces().includes(ns),
  );
  if (missing.length > 0) throw new Error(`no chaos network ${prefix}: ${missing.join(', ')} missing`);
  return handle(prefix, nodes, async () => {
    const errors: string[] = [];
    for (const ns of listNamespaces()
      .filter((n) => n.startsWith(`${prefix}-`))
      .toReversed())
      await removeNamespace(ns, errors);
    return errors;
  });
}

function handle(prefix: string, nodes: number, close: () => Promise<string[]>): ChaosNet {
  const nodeNs = (id: number): string => `${prefix}-n${id}`;
  const nodeAddress = (id: number): string => `${SUBNET}.${id}`;
  const exec = (ns: string, argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];
  const ids = Array.from({ length: nodes }, (_, i) => i + 1);
  const cuts: string[] = [];
  const iptables = (id: number, args: string[]): Promise<string> =>
    run(exec(nodeNs(id), ['iptables', '-w', ...args]));
  const addCut = async (label: string, rules: [number, string[]][]): Promise<void> => {
    if (cuts.includes(label)) return;
    for (const [id, rule] of rules) await iptables(id, ['-A', CHAIN, ...rule, '-j', 'DROP']);
    cuts.push(label);
  };

  return {
    prefix,
    hubNs: `${prefix}-hub`,
    hubAddress: HUB_ADDRESS,
    nodeNs,
    nodeAddress,
    exec,
    get cuts() {
      return [...cuts];
    },
    async partition(groups) {
      const group = new Map<number, number>();
      groups.forEach((g, i) => {
        for (const id of g) {
          checkId(id, nodes);
          if (group.has(id)) throw new Error(`node ${id} is in two groups of ${JSON.stringify(groups)}`);
          group.set(id, i);
        }
      });
      for (const [a, ga] of group) {
        for (const [b, gb] of group) {
          if (a >= b || ga === gb) continue;
          await addCut(`${a} x ${b}`, [
            [a, ['-s', nodeAddress(b)]],
            [a, ['-d', nodeAddress(b)]],
            [b, ['-s', nodeAddress(a)]],
            [b, ['-d', nodeAddress(a)]],
          ]);
        }
      }
    },
    async dropOneWay(from, to) {
      checkId(from, nodes);
      checkId(to, nodes);
      if (from === to) throw new Error(`dropOneWay(${from}, ${to}): a node cannot be cut from itself`);
      await addCut(`${from} -> ${to} dropped`, [[to, ['-s', nodeAddress(from)]]]);
    },
    async heal() {
      for (const id of ids) await iptables(id, ['-F', CHAIN]);
      cuts.length = 0;
    },
    close,
  };
}
