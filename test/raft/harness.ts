/**
 * An interactive harness over Raft cores for scenario scripts (after etcd raft's rafttest
 * InteractionEnv and its datadriven testdata). Messages travel only when a script says so, so a script
 * can stage exactly the interleavings of the classic traps (figure 8, a rejoining partitioned node, ...).
 * Persistence is synchronous here: processing a Ready makes it durable at once; `crash` loses whatever
 * the node stepped but has not yet processed.
 */
import { KvStore } from '../../src/raft/kv.ts';
import { Prng } from '../../src/raft/prng.ts';
import { Raft } from '../../src/raft/raft.ts';
import {
  bootstrapSnapshot,
  ConfChangeType,
  decodeConfChange,
  type Entry,
  EntryType,
  emptySnapshot,
  type HardState,
  type Message,
  MessageType,
  messageTypeName,
  type NodeId,
  type Snapshot,
} from '../../src/raft/types.ts';

interface Options {
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxEntries: number;
  learnerLag: number;
}

class HarnessNode {
  raft: Raft | null = null;
  kv = new KvStore();
  snapshot: Snapshot;
  entries: Entry[] = [];
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  readonly opts: Options;
  readonly id: NodeId;
  lastRole = '';
  lastTerm = 0;

  constructor(id: NodeId, snapshot: Snapshot, opts: Options) {
    this.id = id;
    this.snapshot = snapshot;
    this.opts = opts;
  }

  start(): void {
    this.raft = new Raft(
      {
        id: this.id,
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        random: new Prng(this.id),
        preVote: this.opts.preVote,
        checkQuorum: this.opts.checkQuorum,
        entriesPerMessageMax: this.opts.maxEntries,
        learnerLagEntriesMax: this.opts.learnerLag,
      },
      { hardState: this.hardState, snapshot: this.snapshot, entries: this.entries },
    );
    this.kv = new KvStore();
    this.kv.restore(this.snapshot.data, this.snapshot.index);
    this.lastRole = this.raft.role;
    this.lastTerm = this.raft.term;
  }
}

const decoder = new TextDecoder();

export function formatEntry(e: Entry): string {
  if (e.type === EntryType.conf) {
    const cc = decodeConfChange(e.data);
    const name =
      cc.type === ConfChangeType.addVoter
        ? 'add-voter'
        : cc.type === ConfChangeType.addLearner
          ? 'add-learner'
          : 'remove';
    return `${e.index}/${e.term} conf:${name} ${cc.node}`;
  }
  return e.data.length === 0
    ? `${e.index}/${e.term} no-op`
    : `${e.index}/${e.term} "${decoder.decode(e.data)}"`;
}

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${messageTypeName[m.type]} term=${m.term}`;
  switch (m.type) {
    case MessageType.app:
      return `${head} prev=${m.index}/${m.logTerm} commit=${m.commit} entries=[${m.entries.map(formatEntry).join(', ')}]`;
    case MessageType.appResp:
      return m.reject
        ? `${head} REJECT index=${m.index} hint=${m.rejectHint}/${m.logTerm}`
        : `${head} index=${m.index}`;
    case MessageType.vote:
    case MessageType.preVote:
      return `${head} last=${m.index}/${m.logTerm}${m.context ? ' (transfer)' : ''}`;
    case MessageType.voteResp:
    case MessageType.preVoteResp:
      return `${head} ${m.reject ? 'REJECT' : 'granted'}`;
    case MessageType.heartbeat:
      return `${head} commit=${m.commit}${m.context ? ` read=${m.context}` : ''}`;
    case MessageType.heartbeatResp:
      return `${head}${m.context ? ` read=${m.context}` : ''}`;
    case MessageType.snap:
      return `${head} snapshot=${m.snapshot!.index}/${m.snapshot!.term} voters=(${m.snapshot!.conf.voters.join(',')})`;
    default:
      return head;
  }
}

export class Harness {
  private readonly nodes = new Map<NodeId, HarnessNode>();
  private queue: Message[] = [];
  private readonly blocked = new Set<string>();
  private out: string[] = [];

  run(cmd: string, args: string[], kv: Map<string, string>): string {
    this.out = [];
    const ids = (): NodeId[] => (args.length > 0 ? args.map(Number) : [...this.nodes.keys()]);
    switch (cmd) {
      case 'add-nodes': {
        const n = Number(args[0]);
        const voters = (kv.get('voters') ?? '')
          .replace(/[()]/g, '')
          .split(',')
          .filter((s) => s !== '')
          .map(Number);
        const opts: Options = {
          electionTicks: Number(kv.get('election') ?? 10),
          heartbeatTicks: Number(kv.get('heartbeat') ?? 1),
          preVote: (kv.get('prevote') ?? 'true') === 'true',
          checkQuorum: (kv.get('checkquorum') ?? 'true') === 'true',
          maxEntries: Number(kv.get('max-msg-entries') ?? 256),
          learnerLag: Number(kv.get('learner-lag') ?? 1000),
        };
        const first = this.nodes.size + 1;
        for (let id = first; id < first + n; id++) {
          const node = new HarnessNode(
            id,
            voters.length > 0 ? bootstrapSnapshot(voters) : emptySnapshot,
            opts,
          );
          this.nodes.set(id, node);
          node.start();
        }
        this.print(
          `added nodes ${first}..${first + n - 1}${voters.length > 0 ? ` voters=(${voters.join(',')})` : ' (joining, no membership)'}`,
        );
        break;
      }
      case 'campaign':
        this.node(Number(args[0])).campaignNow();
        this.observe();
        break;
      case 'tick': {
        const count = Number(kv.get('count') ?? 1);
        for (const id of ids()) for (let k = 0; k < count; k++) this.node(id).tick();
        this.observe();
        break;
      }
      case 'propose': {
        const r = this.node(Number(args[0])).propose(new TextEncoder().encode(args[1]));
        this.print(r.ok ? `proposed at ${r.index}/${r.term}` : `refused: ${r.reason} (leader ${r.leader})`);
        break;
      }
      case 'propose-conf-change': {
        const type =
          args[1] === 'add-voter'
            ? ConfChangeType.addVoter
            : args[1] === 'add-learner'
              ? ConfChangeType.addLearner
              : ConfChangeType.removeNode;
        const r = this.node(Number(args[0])).proposeConfChange({ type, node: Number(args[2]) });
        this.print(r.ok ? `proposed at ${r.index}/${r.term}` : `refused: ${r.reason}`);
        break;
      }
      case 'transfer-leadership':
        this.print(
          `${this.node(Number(args[0])).transferLeadership(Number(args[1])) ? 'transferring' : 'refused'}`,
        );
        this.observe();
        break;
      case 'read-index':
        this.print(this.node(Number(args[0])).readIndex(Number(args[1])) ? 'pending' : 'refused');
        break;
      case 'compact': {
        const n = this.nodes.get(Number(args[0]))!;
        const s = n.raft!.compact(n.kv.snapshot(), Number(kv.get('retain') ?? 0));
        n.snapshot = s;
        n.entries = n.entries.filter((e) => e.index > n.raft!.log.offset);
        this.print(`snapshot at ${s.index}/${s.term}, log now starts at ${n.raft!.log.firstIndex()}`);
        break;
      }
      case 'process-ready':
        for (const id of ids()) this.processReady(this.nodes.get(id)!);
        break;
      case 'deliver-msgs':
        this.deliver(args.length > 0 ? new Set(ids()) : null);
        break;
      case 'stabilize':
        this.stabilize();
        break;
      case 'partition': {
        // partition 1 2 | 3 4 5: links across the bar are cut both ways.
        this.blocked.clear();
        const bar = args.indexOf('|');
        const a = args.slice(0, bar).map(Number);
        const b = args.slice(bar + 1).map(Number);
        for (const x of a) for (const y of b) this.blocked.add(`${x}>${y}`).add(`${y}>${x}`);
        this.print(`partitioned (${a.join(',')}) from (${b.join(',')})`);
        break;
      }
      case 'isolate': {
        const x = Number(args[0]);
        for (const y of this.nodes.keys()) if (y !== x) this.blocked.add(`${x}>${y}`).add(`${y}>${x}`);
        this.print(`isolated ${x}`);
        break;
      }
      case 'heal':
        this.blocked.clear();
        this.print('healed');
        break;
      case 'crash': {
        const n = this.nodes.get(Number(args[0]))!;
        n.raft = null;
        // Messages it sent are in the network already; the ones it had not yet handed out are lost.
        this.print(`crashed ${n.id}`);
        break;
      }
      case 'restart': {
        const n = this.nodes.get(Number(args[0]))!;
        n.start();
        this.print(
          `restarted ${n.id} term=${n.raft!.term} vote=${n.raft!.vote} commit=${n.raft!.log.committed}`,
        );
        break;
      }
      case 'status':
        for (const id of ids()) {
          const n = this.nodes.get(id)!;
          if (!n.raft) {
            this.print(`${id}: down`);
            continue;
          }
          const s = n.raft.status();
          this.print(
            `${id}: ${s.role} term=${s.term} leader=${s.leader} commit=${s.commit} applied=${s.applied} ` +
              `log=${s.firstIndex}..${s.lastIndex} voters=(${s.conf.voters.join(',')})` +
              (s.conf.learners.length > 0 ? ` learners=(${s.conf.learners.join(',')})` : ''),
          );
        }
        break;
      case 'raft-log':
        for (const id of ids()) {
          const r = this.node(id);
          const ents = r.log.slice(r.log.firstIndex(), r.log.lastIndex() + 1) ?? [];
          this.print(
            `${id}: [snapshot ${r.log.offset}/${r.log.offsetTerm}] ${ents.map(formatEntry).join(' | ')}`,
          );
        }
        break;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
    return this.out.length > 0 ? this.out.join('\n') : 'ok';
  }

  private node(id: NodeId): Raft {
    const n = this.nodes.get(id);
    if (!n?.raft) throw new Error(`node ${id} is not running`);
    return n.raft;
  }

  private print(line: string): void {
    this.out.push(line);
  }

  /** Prints role and term changes since the last look. */
  private observe(): void {
    for (const n of this.nodes.values()) {
      if (!n.raft) continue;
      const { role, term } = n.raft;
      if (role !== n.lastRole || term !== n.lastTerm) {
        this.print(`${n.id} is ${role} at term ${term}`);
        n.lastRole = role;
        n.lastTerm = term;
      }
    }
  }

  private processReady(n: HarnessNode): boolean {
    const raft = n.raft;
    if (!raft?.hasReady()) return false;
    const rd = raft.ready();
    if (rd.snapshot) {
      n.snapshot = rd.snapshot;
      n.entries = [];
      n.kv.restore(rd.snapshot.data, rd.snapshot.index);
      this.print(`${n.id} installed snapshot ${rd.snapshot.index}/${rd.snapshot.term}`);
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      n.entries = n.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    if (rd.hardState) n.hardState = rd.hardState;
    // Synchronous persistence: both kinds of message may go now.
    this.queue.push(...rd.messages, ...rd.messagesAfterPersist);
    for (const e of rd.committedEntries) {
      // Scenario commands are plain strings, not key-value commands: only the applied index matters.
      n.kv.skip(e.index);
      if (e.type === EntryType.conf) this.print(`${n.id} applied ${formatEntry(e)}`);
    }
    if (rd.committedEntries.length > 0) {
      const last = rd.committedEntries[rd.committedEntries.length - 1];
      this.print(`${n.id} applied up to ${last.index}`);
    }
    for (const r of rd.readStates) this.print(`${n.id} read-state ctx=${r.context} index=${r.index}`);
    raft.advance();
    this.observe();
    return true;
  }

  private deliver(only: Set<NodeId> | null): void {
    const msgs = this.queue;
    this.queue = [];
    for (const m of msgs) {
      if (only && !only.has(m.to)) {
        this.queue.push(m);
        continue;
      }
      const to = this.nodes.get(m.to);
      if (!to?.raft || this.blocked.has(`${m.from}>${m.to}`)) {
        this.print(`${formatMessage(m)}  DROPPED`);
        continue;
      }
      this.print(formatMessage(m));
      to.raft.step(m);
      this.observe();
    }
  }

  private stabilize(): void {
    for (let round = 0; round < 1000; round++) {
      let busy = false;
      for (const n of this.nodes.values()) while (this.processReady(n)) busy = true;
      if (this.queue.length > 0) {
        this.deliver(null);
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error('stabilize did not settle in 1000 rounds');
  }
}

/** Parses and runs a datadriven file; returns the text with every block's output replaced by the actual one. */
export function runScript(text: string, harness = new Harness()): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let k = 0;
  while (k < lines.length) {
    const line = lines[k];
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      k++;
      continue;
    }
    out.push(line);
    k++;
    if (lines[k] !== '----') throw new Error(`expected ---- after "${line}" at line ${k + 1}`);
    out.push('----');
    k++;
    while (k < lines.length && lines[k] !== '') k++;
    const [cmd, ...rest] = line.trim().split(/\s+/);
    const args: string[] = [];
    const kv = new Map<string, string>();
    for (const r of rest) {
      const eq = r.indexOf('=');
      if (eq > 0) kv.set(r.slice(0, eq), r.slice(eq + 1));
      else args.push(r);
    }
    out.push(harness.run(cmd, args, kv));
  }
  return out.join('\n');
}
