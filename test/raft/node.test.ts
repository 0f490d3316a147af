/**
 * The Raft driver (src/raft/node.ts) with I/O it is handed: a manual ticker and an in-memory store
 * whose fsyncs the test completes (or fails) by hand, then the production factory with TCP and files.
 * What it must do (issue 11): report leadership changes, batch what arrives during an fsync, stop on a
 * fatal error without exiting the process and refuse work with a typed error, and let a node join a
 * running cluster with peers added at run time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Done, RaftStore, RaftTransport, Ticker } from '../../src/raft/io.ts';
import { KvStore } from '../../src/raft/kv.ts';
import { proposalBytesMax } from '../../src/raft/limits.ts';
import {
  ProposalTooLargeError,
  RaftNode,
  RaftNodeStoppedError,
  type StateMachine,
} from '../../src/raft/node.ts';
import { Prng } from '../../src/raft/prng.ts';
import {
  bootstrapSnapshot,
  ConfChangeType,
  type Entry,
  EntryType,
  emptySnapshot,
  type NodeId,
  type Ready,
  Role,
} from '../../src/raft/types.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

class ManualTicker implements Ticker {
  onTick: (() => void) | null = null;
  stopped = false;
  start(onTick: () => void): void {
    this.onTick = onTick;
  }
  stop(): void {
    this.stopped = true;
  }
  defer(run: () => void): void {
    run();
  }
  tick(n = 1): void {
    for (let k = 0; k < n; k++) if (!this.stopped) this.onTick?.();
  }
}

/** Holds each persist until the test completes it. */
class ManualStore implements RaftStore {
  readonly initial;
  pending: { rd: Ready; done: Done }[] = [];
  persisted: Ready[] = [];
  closed = false;
  constructor(voters: NodeId[]) {
    this.initial = {
      hardState: { term: 0, vote: 0, commit: 0 },
      snapshot: bootstrapSnapshot(voters),
      entries: [],
    };
  }
  persist(rd: Ready, done: Done): void {
    this.pending.push({ rd, done });
  }
  compact(_s: unknown, _d: unknown, done: Done): void {
    done(null);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  /** Completes every pending fsync, including those the completions start. */
  flush(): void {
    while (this.pending.length > 0) {
      const p = this.pending.shift()!;
      this.persisted.push(p.rd);
      p.done(null);
    }
  }
}

const noTransport: RaftTransport = {
  attach: () => {},
  send: () => assert.fail('a single voter sends nothing'),
  setPeer: () => {},
  removePeer: () => {},
  close: async () => {},
};

/** Entry data as text, for the kv-free tests: apply returns what it applied. */
function echoMachine(applied: string[] = []): StateMachine {
  return {
    apply: (e: Entry) => {
      if (e.type !== EntryType.normal || e.data.length === 0) return null;
      const s = dec.decode(e.data);
      applied.push(s);
      return `applied ${s}`;
    },
    snapshot: () => new Uint8Array(0),
    restore: () => {},
  };
}

function singleVoter(opts: { sm?: StateMachine; onFatal?: (err: Error) => void } = {}) {
  const ticker = new ManualTicker();
  const store = new ManualStore([1]);
  const leaders: [NodeId, number][] = [];
  const node = new RaftNode({
    id: 1,
    stateMachine: opts.sm ?? echoMachine(),
    transport: noTransport,
    ticker,
    store,
    random: new Prng(7),
    raft: { electionTicks: 3 },
    onLeaderChange: (leader, term) => leaders.push([leader, term]),
    onFatal: opts.onFatal,
  });
  /** Ticks and completes fsyncs until the node leads. */
  const elect = () => {
    for (let k = 0; k < 20 && node.metrics().role !== Role.leader; k++) {
      ticker.tick();
      store.flush();
    }
    assert.equal(node.metrics().role, Role.leader);
  };
  return { node, ticker, store, leaders, elect };
}

test('driver: reports the leader it learns of, and role, term, commit and applied for metrics', async () => {
  const { node, store, leaders, elect } = singleVoter();
  assert.deepEqual(leaders, [], 'no leader known before an election');
  elect();
  const term = node.metrics().term;
  assert.ok(term >= 1);
  assert.deepEqual(leaders, [[1, term]]);
  const p = node.propose(enc.encode('x'));
  store.flush();
  assert.equal(await p, 'applied x');
  const m = node.metrics();
  assert.equal(m.state, 'running');
  assert.equal(m.commitIndex, m.lastIndex);
  assert.equal(m.appliedIndex, m.commitIndex);
  assert.ok(m.commitIndex >= 2, 'the no-op and the command');
  assert.deepEqual(leaders, [[1, term]], 'no change reported while the leadership holds');
  await node.close();
});

test('driver: a proposal over proposalBytesMax is refused before it reaches the log', async () => {
  const { node, store, elect } = singleVoter();
  elect();
  const last = node.metrics().lastIndex;
  await assert.rejects(node.propose(new Uint8Array(proposalBytesMax + 1)), (err: unknown) => {
    assert.ok(err instanceof ProposalTooLargeError);
    assert.equal(err.bytes, proposalBytesMax + 1);
    return true;
  });
  assert.equal(node.metrics().lastIndex, last);
  assert.equal(store.pending.length, 0);
  const ok = node.propose(new Uint8Array(proposalBytesMax));
  store.flush();
  await ok;
  assert.equal(node.metrics().lastIndex, last + 1);
  await node.close();
});

test('driver: proposals that arrive during an fsync go into the next Ready together', async () => {
  const { node, store, elect } = singleVoter();
  elect();
  const first = node.propose(enc.encode('a'));
  assert.equal(store.pending.length, 1, 'the first proposal is being persisted');
  const rest = ['b', 'c', 'd', 'e'].map((s) => node.propose(enc.encode(s)));
  assert.equal(store.pending.length, 1, 'nothing else is stepped while an fsync is in flight');
  store.pending[0].done(null);
  store.pending.shift();
  assert.equal(store.pending.length, 1);
  assert.deepEqual(
    store.pending[0].rd.entries.map((e) => dec.decode(e.data)),
    ['b', 'c', 'd', 'e'],
    'one Ready, one fsync, for the four that waited',
  );
  store.flush();
  assert.deepEqual(
    await Promise.all([first, ...rest]),
    ['a', 'b', 'c', 'd', 'e'].map((s) => `applied ${s}`),
  );
  await node.close();
});

test('driver: a failed fsync stops the node, reports once, and refuses work with a typed error', async () => {
  const fatals: Error[] = [];
  const { node, ticker, store, elect } = singleVoter({ onFatal: (e) => fatals.push(e) });
  elect();
  const pending = node.propose(enc.encode('lost'));
  const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  store.pending.shift()!.done(eio);
  assert.deepEqual(fatals, [eio]);
  await assert.rejects(pending, (err: unknown) => {
    assert.ok(err instanceof RaftNodeStoppedError);
    assert.equal(err.code, 'RAFT_NODE_FAILED');
    assert.equal(err.cause, eio);
    assert.equal(err.maybeCommitted, true, 'it was in the log: other nodes may still commit it');
    return true;
  });
  await assert.rejects(node.propose(enc.encode('later')), {
    code: 'RAFT_NODE_FAILED',
    maybeCommitted: false,
  });
  await assert.rejects(node.readBarrier(), { code: 'RAFT_NODE_FAILED' });
  assert.equal(node.metrics().state, 'failed');
  assert.equal(node.failure, eio);
  assert.ok(ticker.stopped, 'the ticker is stopped');
  const before = node.metrics();
  ticker.onTick!();
  assert.deepEqual(node.metrics(), before, 'nothing is stepped after the failure');
  assert.equal(store.pending.length, 0, 'and nothing more is written');
  assert.equal(fatals.length, 1);
  await node.close();
  assert.ok(store.closed);
});

test('driver: a state machine that throws (a broken invariant) is fatal too, not an exit', async () => {
  const fatals: Error[] = [];
  const sm = echoMachine();
  const { node, store, elect } = singleVoter({
    sm: {
      ...sm,
      apply: (e) => (dec.decode(e.data) === 'bad' ? assert.fail('invariant broken') : sm.apply(e)),
    },
    onFatal: (e) => fatals.push(e),
  });
  elect();
  const p = node.propose(enc.encode('bad'));
  store.flush();
  await assert.rejects(p, { code: 'RAFT_NODE_FAILED' });
  assert.equal(fatals.length, 1);
  assert.match(fatals[0].message, /invariant broken/);
  await node.close();
});

test('driver: close refuses pending work and waits for the fsync in flight before closing the store', async () => {
  const { node, store, elect } = singleVoter();
  elect();
  const inFlight = node.propose(enc.encode('a'));
  const queued = node.propose(enc.encode('b'));
  let closed = false;
  const closing = node.close().then(() => {
    closed = true;
  });
  await assert.rejects(queued, { code: 'RAFT_NODE_CLOSED', maybeCommitted: false });
  await assert.rejects(inFlight, { code: 'RAFT_NODE_CLOSED', maybeCommitted: true });
  await new Promise((r) => setImmediate(r));
  assert.equal(closed, false, 'close waits for the store operation in flight');
  assert.equal(store.closed, false);
  store.pending.shift()!.done(null);
  await closing;
  assert.ok(store.closed);
  await assert.rejects(node.propose(enc.encode('c')), { code: 'RAFT_NODE_CLOSED' });
});

test('driver: no library file of src/raft calls process.exit', () => {
  // The CLI entries (kv-node.ts, sim/cli.ts) may exit; everything else reports (DESIGN.md decision 9).
  const root = join(import.meta.dirname, '../../src/raft');
  const files = [
    ...readdirSync(root).map((f) => join(root, f)),
    ...readdirSync(join(root, 'sim')).map((f) => join(root, 'sim', f)),
  ].filter((f) => f.endsWith('.ts') && !f.endsWith('kv-node.ts') && !f.endsWith('cli.ts'));
  assert.ok(files.length > 10);
  const offenders = files.filter((f) => /process\.exit\s*\(/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});

// ---------------------------------------------------------------- production: TCP, files, real time

const root = mkdtempSync(join(tmpdir(), 'raft-node-'));
const open: RaftNode[] = [];
after(async () => {
  for (const n of open) await n.close();
  rmSync(root, { recursive: true, force: true });
});

function kvMachine(kv: KvStore): StateMachine {
  return {
    apply: (e) => {
      if (e.type === EntryType.conf) {
        kv.skip(e.index);
        return null;
      }
      return kv.apply(e.index, e.data)?.result ?? null;
    },
    snapshot: () => kv.snapshot(),
    restore: (data, index) => kv.restore(data, index),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(get: () => T | undefined | null | false, what: string): Promise<T> {
  // The deadline only stops a stuck test; it asserts no speed.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('RaftNode.open: three nodes over TCP elect one leader, and a fourth joins at run time', async () => {
  const nodes = new Map<NodeId, { node: RaftNode; port: number; kv: KvStore; leaders: [NodeId, number][] }>();
  const start = async (id: NodeId, voters?: NodeId[]) => {
    const kv = new KvStore();
    const leaders: [NodeId, number][] = [];
    const { node, port } = await RaftNode.open({
      id,
      dir: join(root, `n${id}`),
      bootstrapVoters: voters,
      stateMachine: kvMachine(kv),
      tickMs: 10,
      seed: id,
      onLeaderChange: (leader, term) => leaders.push([leader, term]),
      onFatal: (err) => assert.fail(`node ${id} failed: ${err}`),
    });
    open.push(node);
    nodes.set(id, { node, port, kv, leaders });
  };
  for (const id of [1, 2, 3]) await start(id, [1, 2, 3]);
  for (const [a, x] of nodes)
    for (const [b, y] of nodes) if (a !== b) x.node.setPeer(b, { host: '127.0.0.1', port: y.port });

  const leaderId = await until(() => {
    const ls = [...nodes.values()].map((n) => n.leaders.at(-1));
    const first = ls[0];
    return (
      first && first[0] !== 0 && ls.every((l) => l && l[0] === first[0] && l[1] === first[1]) && first[0]
    );
  }, 'all three to report the same leader');
  const leader = nodes.get(leaderId)!;
  assert.equal(leader.node.metrics().role, Role.leader);
  await leader.node.propose(enc.encode(JSON.stringify({ t: 'put', k: 'a', v: '1', id: 'w1' })));

  // Node 4 starts with no membership, as `--join` does, and every member learns its address.
  await start(4);
  const n4 = nodes.get(4)!;
  for (const [id, x] of nodes) {
    if (id !== 4) {
      x.node.setPeer(4, { host: '127.0.0.1', port: n4.port });
      n4.node.setPeer(id, { host: '127.0.0.1', port: x.port });
    }
  }
  await leader.node.proposeConfChange({ type: ConfChangeType.addLearner, node: 4 });
  await until(() => n4.kv.get('a') === '1', 'the learner to catch up');
  // The promotion is refused while the learner trails too far (learnerLagEntriesMax); retry until not.
  for (let attempt = 0; ; attempt++) {
    try {
      await leader.node.proposeConfChange({ type: ConfChangeType.addVoter, node: 4 });
      break;
    } catch (err) {
      if (attempt > 100) throw err;
      await sleep(20);
    }
  }
  await until(() => leader.node.status().conf.voters.includes(4), 'node 4 to be a voter');
  await leader.node.propose(enc.encode(JSON.stringify({ t: 'put', k: 'b', v: '2', id: 'w2' })));
  await until(() => n4.kv.get('b') === '2', 'the new voter to apply');
  assert.equal(n4.leaders.at(-1)?.[0], leaderId, 'the joiner learns the leader');
  assert.equal(n4.node.metrics().appliedIndex, n4.kv.applied);
});

test('RaftNode.open: a fresh node with no membership never campaigns', async () => {
  const kv = new KvStore();
  const { node } = await RaftNode.open({
    id: 9,
    dir: join(root, 'n9'),
    stateMachine: kvMachine(kv),
    tickMs: 5,
  });
  open.push(node);
  assert.equal(kv.applied, emptySnapshot.index);
  await sleep(100);
  assert.equal(node.metrics().role, Role.follower);
  assert.equal(node.metrics().term, 0);
});
