/**
 * The checker of a chaos run's history (issue 13): a pure function of the history, no I/O. Its
 * properties take the vocabulary of Jepsen's Kafka workload (jepsen.tests.kafka, `kafka.clj`), fitted
 * to what the harness records: one topic of several partitions, each written value unique in the run.
 *
 * "The final log" of a partition is its FinalReadOp (the last one, when there are several), read
 * through the leader after healing and quiescence: the authoritative log. A value is "read" when a
 * PollOp delivered it or it is in a final log.
 *
 * - lost-write: an acknowledged send whose value is not in its partition's final log (in no final log,
 *   when the client did not tell the partition).
 * - duplicate: a value of an idempotent producer stored at more than one (partition, offset). The
 *   duplicates of non-idempotent producers are expected (retries) and only counted.
 * - inconsistent-offsets: an acknowledged offset whose final record is another value, or the value
 *   stored at another offset; two values seen at one (partition, offset) in polls, final reads or
 *   replica logs; a poll delivering an offset the final log has no record at.
 * - unknown-at-most-once: an idempotent send that failed or was not answered stored more than once.
 * - failed-not-written: a send refused for certain whose value was stored anyway.
 * - unseen: an acknowledged write in the final log that no poll of the consumer group delivered.
 * - poll-skip / nonmonotonic-poll: per consumer and partition, with no assignment change in between, the
 *   next delivered offset jumps over records of the final log, or does not advance.
 * - commit-backwards: acknowledged commits of a partition, or OffsetFetch answers, going lower.
 * - replica-agreement: each replica's log equals the final log on their common prefix (below the lower
 *   of the two high watermarks), and replicas agree on the leader epoch of each offset.
 * - raft-one-leader-per-term / raft-commit-monotonic: Raft's election safety, and each process's commit
 *   index and term never going back.
 */
import type {
  AssignOp,
  CommitOp,
  FinalReadOp,
  HistoryOp,
  NemesisOp,
  OffsetFetchOp,
  PollOp,
  RaftSampleOp,
  ReplicaLogOp,
  SendOp,
} from './history.ts';

export interface Verdict {
  name: string;
  ok: boolean;
  /** How many anomalies (the examples show at most 10 of them). */
  count: number;
  examples: string[];
  note?: string;
}

export interface CheckResult {
  /** Every verdict ok. */
  ok: boolean;
  /** In a fixed order: see VERDICTS. */
  verdicts: Verdict[];
  counts: {
    operations: number;
    sends: number;
    acknowledged: number;
    failed: number;
    unknown: number;
    unknownPresent: number;
    lost: number;
    duplicated: number;
    duplicatedNonIdempotent: number;
    unseen: number;
    polls: number;
    commits: number;
    faults: number;
  };
}

/** The verdicts' names, in the order check() returns them. */
export const VERDICTS = [
  'lost-write',
  'duplicate',
  'inconsistent-offsets',
  'unknown-at-most-once',
  'failed-not-written',
  'unseen',
  'poll-skip',
  'nonmonotonic-poll',
  'commit-backwards',
  'replica-agreement',
  'raft-one-leader-per-term',
  'raft-commit-monotonic',
] as const;

const MAX_EXAMPLES = 10;

/** Collects one verdict's anomalies: all are counted, the first few kept as examples. */
class Anomalies {
  count = 0;
  readonly examples: string[] = [];
  note: string | undefined;

  add(example: string): void {
    this.count++;
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(example);
  }
}

interface FinalLog {
  op: FinalReadOp;
  byOffset: Map<number, string>;
  /** The offsets of its records, ascending. */
  offsets: number[];
}

const at = (partition: number, offset: number): string => `p${partition}@${offset}`;

/** The first index of a sorted array whose element is greater than x. */
function upperBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index of a sorted array whose element is at least x. */
function lowerBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = create();
    map.set(key, v);
  }
  return v;
}

export function check(history: HistoryOp[]): CheckResult {
  const sends: SendOp[] = [];
  const polls: PollOp[] = [];
  const commits: CommitOp[] = [];
  const assigns: AssignOp[] = [];
  const faults: NemesisOp[] = [];
  const samples: RaftSampleOp[] = [];
  const replicas: ReplicaLogOp[] = [];
  const fetches: OffsetFetchOp[] = [];
  const finals = new Map<number, FinalLog>();
  const finalOps: FinalReadOp[] = [];
  /** Claims of leadership: term -> node -> what claimed it first. */
  const leaders = new Map<number, Map<number, string>>();

  for (const op of history) {
    switch (op.op) {
      case 'send':
        sends.push(op);
        break;
      case 'poll':
        polls.push(op);
        break;
      case 'commit':
        commits.push(op);
        break;
      case 'assign':
      case 'revoke':
        assigns.push(op);
        break;
      case 'nemesis':
        faults.push(op);
        break;
      case 'raft':
        samples.push(op);
        if (op.isLeader) {
          const claims = getOrCreate(leaders, op.term, () => new Map<number, string>());
          if (!claims.has(op.node))
            claims.set(op.node, `node ${op.node} (run ${op.run}) leader at ${op.at}ms`);
        }
        break;
      case 'controller': {
        const claims = getOrCreate(leaders, op.term, () => new Map<number, string>());
        if (!claims.has(op.node))
          claims.set(op.node, `node ${op.node} (run ${op.run}) became controller at ${op.at}ms`);
        break;
      }
      case 'final-read': {
        finalOps.push(op);
        const byOffset = new Map<number, string>();
        for (const [offset, value] of op.records) byOffset.set(offset, value);
        const offsets = [...byOffset.keys()].sort((a, b) => a - b);
        finals.set(op.partition, { op, byOffset, offsets });
        break;
      }
      case 'replica':
        replicas.push(op);
        break;
      case 'offset-fetch':
        fetches.push(op);
        break;
    }
  }

  /** Where each value is in the final logs, as (partition, offset) pairs. */
  const stored = new Map<string, [number, number][]>();
  for (const [partition, log] of finals)
    for (const offset of log.offsets)
      getOrCreate(stored, log.byOffset.get(offset)!, () => []).push([partition, offset]);
  const where = (value: string): string =>
    (stored.get(value) ?? []).map(([p, o]) => at(p, o)).join(', ') || 'nowhere';
  const noFinal = finals.size === 0 ? 'no final read' : undefined;

  const lost = new Anomalies();
  const inconsistent = new Anomalies();
  const unknownTwice = new Anomalies();
  const failedWritten = new Anomalies();
  let acknowledged = 0;
  let failed = 0;
  let unknown = 0;
  let unknownPresent = 0;

  for (const s of sends) {
    const positions = stored.get(s.value) ?? [];
    if (s.outcome === 'ok') {
      acknowledged++;
      if (finals.size === 0) continue;
      if (s.partition === undefined) {
        if (positions.length === 0) lost.add(`${s.value} (${s.client}): acknowledged, in no final log`);
        continue;
      }
      const log = finals.get(s.partition);
      const inPartition = positions.filter(([p]) => p === s.partition);
      const place = s.offset === undefined ? `p${s.partition}` : at(s.partition, s.offset);
      if (inPartition.length === 0)
        lost.add(
          `${place}: acknowledged ${s.value} (${s.client}), ` +
            (log === undefined
              ? `no final read of p${s.partition}`
              : `absent from the final log (held ${log.op.records.length} records, hw ${log.op.highWatermark})`) +
            (positions.length > 0 ? `; found at ${where(s.value)}` : ''),
        );
      if (log === undefined || s.offset === undefined) continue;
      const there = log.byOffset.get(s.offset);
      if (there !== undefined && there !== s.value)
        inconsistent.add(
          `${place}: acknowledged ${s.value}, final log holds ${there}` +
            (inPartition.length > 0 ? ` (and ${s.value} at ${where(s.value)})` : ''),
        );
      else if (there === undefined && inPartition.length > 0)
        inconsistent.add(`${place}: acknowledged ${s.value}, final log holds it at ${where(s.value)}`);
    } else {
      if (s.outcome === 'failed') failed++;
      else unknown++;
      if (positions.length > 0) unknownPresent++;
      if (s.idempotent && positions.length > 1)
        unknownTwice.add(
          `${s.value} (${s.client}, ${s.outcome}): stored ${positions.length} times: ${where(s.value)}`,
        );
      if (s.outcome === 'failed' && positions.length > 0)
        failedWritten.add(
          `${s.value} (${s.client}): refused (${s.error ?? 'no error given'}), stored at ${where(s.value)}`,
        );
    }
  }

  // Duplicates, by the sender of each value.
  const senderOf = new Map<string, SendOp>();
  for (const s of sends) if (!senderOf.has(s.value)) senderOf.set(s.value, s);
  const duplicate = new Anomalies();
  let duplicatedNonIdempotent = 0;
  for (const [value, positions] of stored) {
    if (positions.length < 2) continue;
    const s = senderOf.get(value);
    if (s === undefined) continue;
    if (!s.idempotent) {
      duplicatedNonIdempotent++;
      continue;
    }
    duplicate.add(`${value} (${s.client}, ${s.outcome}): stored ${positions.length} times: ${where(value)}`);
  }
  duplicate.note = `${duplicatedNonIdempotent} values of non-idempotent producers stored more than once (not an anomaly)`;

  // (b): every (partition, offset) is seen with one value only.
  const seen = new Map<number, Map<number, { value: string; source: string }>>();
  const conflicting = new Set<string>();
  const observe = (partition: number, offset: number, value: string, source: string): void => {
    const byOffset = getOrCreate(seen, partition, () => new Map());
    const first = byOffset.get(offset);
    if (first === undefined) byOffset.set(offset, { value, source });
    else if (first.value !== value && !conflicting.has(at(partition, offset))) {
      conflicting.add(at(partition, offset));
      inconsistent.add(
        `${at(partition, offset)}: ${first.source} holds ${first.value}, ${source} holds ${value}`,
      );
    }
  };
  for (const f of finalOps)
    for (const [offset, value] of f.records)
      observe(f.partition, offset, value, `final read (leader ${f.leader})`);
  for (const r of replicas)
    for (const [offset, value] of r.records) observe(r.partition, offset, value, `replica on node ${r.node}`);
  const delivered = new Set<string>();
  for (const p of polls)
    for (const [partition, offset, value] of p.records) {
      delivered.add(value);
      observe(partition, offset, value, `poll by ${p.consumer} at ${p.start}ms`);
      // (c): a delivered offset the final log has no record at (a differing one is reported above).
      const log = finals.get(partition);
      if (log !== undefined && !log.byOffset.has(offset))
        inconsistent.add(
          `${at(partition, offset)}: poll by ${p.consumer} at ${p.start}ms delivered ${value}, ` +
            (offset < log.op.highWatermark
              ? 'final log holds nothing there'
              : `beyond the final log's high watermark ${log.op.highWatermark}`),
        );
    }

  const unseen = new Anomalies();
  if (polls.length === 0) unseen.note = 'no consumer';
  else
    for (const s of sends)
      if (s.outcome === 'ok' && stored.has(s.value) && !delivered.has(s.value))
        unseen.add(`${s.value} (${s.client}) at ${where(s.value)}: stored, never delivered to the group`);

  const { skip, nonmonotonic } = checkPolls(polls, assigns, finals);
  const commitBackwards = checkCommits(commits, fetches);
  const replicaAgreement = checkReplicas(replicas, finals);

  const oneLeader = new Anomalies();
  for (const [term, claims] of [...leaders].sort((a, b) => a[0] - b[0]))
    if (claims.size > 1) oneLeader.add(`term ${term}: ${[...claims.values()].join('; ')}`);

  const commitMonotonic = new Anomalies();
  const runs = new Map<string, RaftSampleOp[]>();
  for (const s of samples) getOrCreate(runs, `${s.node}/${s.run}`, () => []).push(s);
  for (const list of runs.values()) {
    list.sort((a, b) => a.at - b.at);
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1]!;
      const b = list[i]!;
      const who = `node ${b.node} (run ${b.run})`;
      if (b.commitIndex < a.commitIndex)
        commitMonotonic.add(
          `${who}: commit index ${a.commitIndex} at ${a.at}ms, ${b.commitIndex} at ${b.at}ms`,
        );
      if (b.term < a.term) commitMonotonic.add(`${who}: term ${a.term} at ${a.at}ms, ${b.term} at ${b.at}ms`);
    }
  }

  for (const a of [lost, inconsistent, unknownTwice, failedWritten]) a.note ??= noFinal;
  if (finals.size === 0) {
    duplicate.note = noFinal;
    replicaAgreement.note ??= noFinal;
  }

  const byName: Record<(typeof VERDICTS)[number], Anomalies> = {
    'lost-write': lost,
    duplicate,
    'inconsistent-offsets': inconsistent,
    'unknown-at-most-once': unknownTwice,
    'failed-not-written': failedWritten,
    unseen,
    'poll-skip': skip,
    'nonmonotonic-poll': nonmonotonic,
    'commit-backwards': commitBackwards,
    'replica-agreement': replicaAgreement,
    'raft-one-leader-per-term': oneLeader,
    'raft-commit-monotonic': commitMonotonic,
  };
  const verdicts: Verdict[] = VERDICTS.map((name) => {
    const a = byName[name];
    const v: Verdict = { name, ok: a.count === 0, count: a.count, examples: a.examples };
    if (a.note !== undefined) v.note = a.note;
    return v;
  });

  return {
    ok: verdicts.every((v) => v.ok),
    verdicts,
    counts: {
      operations: sends.length + polls.length + commits.length,
      sends: sends.length,
      acknowledged,
      failed,
      unknown,
      unknownPresent,
      lost: lost.count,
      duplicated: duplicate.count,
      duplicatedNonIdempotent,
      unseen: unseen.count,
      polls: polls.length,
      commits: commits.length,
      faults: faults.length,
    },
  };
}

/**
 * poll-skip and nonmonotonic-poll. A consumer's deliveries of a partition are compared with the
 * previous one unless an assign or revoke of that consumer happened between the two polls (from the
 * start of the earlier to the end of the later: rebalance callbacks run inside a poll).
 */
function checkPolls(
  polls: PollOp[],
  assigns: AssignOp[],
  finals: Map<number, FinalLog>,
): { skip: Anomalies; nonmonotonic: Anomalies } {
  const skip = new Anomalies();
  const nonmonotonic = new Anomalies();
  const changes = new Map<string, number[]>();
  for (const a of assigns) getOrCreate(changes, a.consumer, () => []).push(a.at);
  for (const list of changes.values()) list.sort((a, b) => a - b);
  const byConsumer = new Map<string, PollOp[]>();
  for (const p of polls) getOrCreate(byConsumer, p.consumer, () => []).push(p);

  for (const [consumer, list] of byConsumer) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    const times = changes.get(consumer) ?? [];
    const changedWithin = (from: number, to: number): boolean => {
      const i = lowerBound(times, from);
      return i < times.length && times[i]! <= to;
    };
    const last = new Map<number, { offset: number; poll: PollOp }>();
    for (const poll of list) {
      for (const [partition, offset] of poll.records) {
        const prev = last.get(partition);
        last.set(partition, { offset, poll });
        if (prev === undefined) continue;
        if (prev.poll !== poll && changedWithin(prev.poll.start, poll.end)) continue;
        const a = prev.offset;
        const when =
          prev.poll === poll
            ? `in one poll at ${poll.start}ms`
            : `polls at ${prev.poll.start}ms and ${poll.start}ms`;
        if (offset <= a) {
          nonmonotonic.add(`${consumer} p${partition}: offset ${a} then ${offset} (${when})`);
          continue;
        }
        if (offset === a + 1) continue;
        const log = finals.get(partition);
        if (log === undefined) continue;
        const i = upperBound(log.offsets, a);
        if (i < log.offsets.length && log.offsets[i]! < offset) {
          const skipped = lowerBound(log.offsets, offset) - i;
          skip.add(
            `${consumer} p${partition}: offset ${a} then ${offset} (${when}), skipping ${skipped} records ` +
              `of the final log from ${at(partition, log.offsets[i]!)} (${log.byOffset.get(log.offsets[i]!)})`,
          );
        }
      }
    }
  }
  return { skip, nonmonotonic };
}

/** commit-backwards: acknowledged commits by end time, and OffsetFetch answers by time, per partition. */
function checkCommits(commits: CommitOp[], fetches: OffsetFetchOp[]): Anomalies {
  const out = new Anomalies();
  const highest = new Map<string, { offset: number; by: string }>();
  const ok = commits.filter((c) => c.outcome === 'ok').sort((a, b) => a.end - b.end);
  for (const c of ok)
    for (const [partition, offset] of Object.entries(c.offsets)) {
      const prev = highest.get(partition);
      if (prev !== undefined && offset < prev.offset)
        out.add(`p${partition}: ${c.consumer} committed ${offset} (ended ${c.end}ms) after ${prev.by}`);
      if (prev === undefined || offset > prev.offset)
        highest.set(partition, { offset, by: `${c.consumer} committed ${offset} (ended ${c.end}ms)` });
    }
  const fetched = new Map<string, { offset: number; at: number }>();
  for (const f of [...fetches].sort((a, b) => a.at - b.at))
    for (const [partition, offset] of Object.entries(f.offsets)) {
      const prev = fetched.get(partition);
      if (prev !== undefined && offset < prev.offset)
        out.add(
          `p${partition}: OffsetFetch answered ${offset} at ${f.at}ms after ${prev.offset} at ${prev.at}ms`,
        );
      if (prev === undefined || offset > prev.offset) fetched.set(partition, { offset, at: f.at });
    }
  return out;
}

/**
 * replica-agreement. Below the lower of the replica's and the final log's high watermarks both must
 * hold the same records (a replica with the final high watermark must then equal the final log below
 * it); above it a replica may lag or hold an uncommitted tail. Each offset has one leader epoch on
 * every replica.
 */
function checkReplicas(replicas: ReplicaLogOp[], finals: Map<number, FinalLog>): Anomalies {
  const out = new Anomalies();
  const epochs = new Map<number, Map<number, { epoch: number; node: number }>>();
  const reported = new Set<string>();
  for (const r of replicas) {
    const byOffset = getOrCreate(epochs, r.partition, () => new Map());
    for (const [offset, value, epoch] of r.records) {
      const first = byOffset.get(offset);
      if (first === undefined) byOffset.set(offset, { epoch, node: r.node });
      else if (first.epoch !== epoch && !reported.has(at(r.partition, offset))) {
        reported.add(at(r.partition, offset));
        out.add(
          `${at(r.partition, offset)}: leader epoch ${first.epoch} on node ${first.node}, ` +
            `${epoch} on node ${r.node} (${value})`,
        );
      }
    }
    const log = finals.get(r.partition);
    if (log === undefined) continue;
    const limit = Math.min(r.highWatermark, log.op.highWatermark);
    const mine = new Map<number, string>();
    const who = `replica on node ${r.node} (hw ${r.highWatermark})`;
    for (const [offset, value] of r.records) {
      mine.set(offset, value);
      if (offset >= limit) continue;
      const there = log.byOffset.get(offset);
      if (there === undefined)
        out.add(`${at(r.partition, offset)}: ${who} holds ${value}, final log nothing`);
      else if (there !== value)
        out.add(`${at(r.partition, offset)}: ${who} holds ${value}, final log ${there}`);
    }
    const end = lowerBound(log.offsets, limit);
    for (let i = 0; i < end; i++) {
      const offset = log.offsets[i]!;
      if (!mine.has(offset))
        out.add(`${at(r.partition, offset)}: ${who} lacks ${log.byOffset.get(offset)} of the final log`);
    }
  }
  return out;
}

/** Acknowledged writes per `bucketMs` bucket (by SendOp.end), and the faults' intervals: for a throughput timeline. */
export function availability(
  history: HistoryOp[],
  bucketMs = 1000,
): {
  bucketMs: number;
  acked: number[];
  faults: { fault: string; target: string; nodes: number[]; start: number; end: number | null }[];
} {
  const acked: number[] = [];
  const faults: { fault: string; target: string; nodes: number[]; start: number; end: number | null }[] = [];
  let last = -1;
  for (const op of history) {
    if (op.op === 'send' && op.outcome === 'ok' && op.end !== null) {
      const i = Math.floor(op.end / bucketMs);
      while (acked.length <= i) acked.push(0);
      acked[i]!++;
    } else if (op.op === 'nemesis') {
      faults.push({ fault: op.fault, target: op.target, nodes: op.nodes, start: op.start, end: op.end });
      last = Math.max(last, op.end ?? op.start);
    }
  }
  // The timeline spans the faults too, so that a fault with no write after it still shows.
  while (acked.length <= Math.floor(last / bucketMs)) acked.push(0);
  faults.sort((a, b) => a.start - b.start);
  return { bucketMs, acked, faults };
}
