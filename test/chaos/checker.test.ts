/**
 * The chaos checker on hand-built histories: a clean run passes every verdict, and each property fails
 * on the smallest history breaking it (and passes on its near miss).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availability, type CheckResult, check, VERDICTS, type Verdict } from './checker.ts';
import type { FinalReadOp, HistoryOp, PollOp, ReplicaLogOp, SendOp } from './history.ts';

function send(
  value: string,
  outcome: SendOp['outcome'],
  where?: [number, number],
  over?: Partial<SendOp>,
): SendOp {
  const client = value.replace(/-\d+$/, '');
  const op: SendOp = {
    op: 'send',
    client,
    idempotent: client.endsWith('-idem'),
    value,
    start: 0,
    end: 100,
    outcome,
  };
  if (where !== undefined) [op.partition, op.offset] = where;
  return { ...op, ...over };
}

const poll = (consumer: string, start: number, records: [number, number, string][]): PollOp => ({
  op: 'poll',
  consumer,
  start,
  end: start + 5,
  records,
});

const final = (partition: number, values: string[], highWatermark = values.length): FinalReadOp => ({
  op: 'final-read',
  partition,
  leader: 1,
  highWatermark,
  records: values.map((v, i) => [i, v]),
});

const replica = (
  node: number,
  partition: number,
  values: string[],
  highWatermark = values.length,
): ReplicaLogOp => ({
  op: 'replica',
  node,
  partition,
  highWatermark,
  records: values.map((v, i) => [i, v, 1]),
});

/** A clean run: two partitions, every acknowledged write stored once and consumed in order. */
function clean(): HistoryOp[] {
  return [
    { op: 'nemesis', fault: 'kill', target: 'leader', nodes: [1], start: 50, end: 1500 },
    { op: 'controller', node: 1, run: 0, at: 1, term: 1 },
    { op: 'raft', node: 1, run: 0, at: 10, term: 1, commitIndex: 5, isLeader: true },
    { op: 'raft', node: 2, run: 0, at: 10, term: 1, commitIndex: 4, isLeader: false },
    { op: 'raft', node: 1, run: 0, at: 20, term: 1, commitIndex: 7, isLeader: true },
    send('ts-idem-1', 'ok', [0, 0]),
    send('ts-idem-2', 'ok', [0, 1]),
    send('ts-idem-3', 'ok', [0, 2], { end: 2100 }),
    send('librdkafka-1', 'ok', [1, 0]),
    send('librdkafka-2', 'ok'),
    send('ts-idem-4', 'unknown', undefined, { end: null }),
    send('ts-idem-5', 'failed', undefined, { error: 'NOT_LEADER_OR_FOLLOWER' }),
    { op: 'assign', consumer: 'c1', at: 5, partitions: [0, 1] },
    poll('c1', 10, [
      [0, 0, 'ts-idem-1'],
      [0, 1, 'ts-idem-2'],
    ]),
    {
      op: 'commit',
      consumer: 'c1',
      start: 16,
      end: 18,
      outcome: 'ok',
      offsets: { '0': 2 },
    },
    poll('c1', 20, [
      [0, 2, 'ts-idem-3'],
      [1, 0, 'librdkafka-1'],
      [1, 1, 'librdkafka-2'],
    ]),
    {
      op: 'commit',
      consumer: 'c1',
      start: 26,
      end: 28,
      outcome: 'ok',
      offsets: { '0': 3, '1': 2 },
    },
    { op: 'offset-fetch', at: 19, offsets: { '0': 2 } },
    { op: 'offset-fetch', at: 30, offsets: { '0': 3, '1': 2 } },
    final(0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3']),
    final(1, ['librdkafka-1', 'librdkafka-2']),
    replica(1, 0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3']),
    replica(2, 0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3']),
    replica(2, 1, ['librdkafka-1', 'librdkafka-2']),
  ];
}

const verdict = (r: CheckResult, name: string): Verdict => {
  const v = r.verdicts.find((x) => x.name === name);
  assert.ok(v, `no verdict ${name}`);
  return v;
};
const failing = (r: CheckResult): string[] => r.verdicts.filter((v) => !v.ok).map((v) => v.name);

/** Replaces the first op matching `pick` by `by(op)` (or removes it when `by` returns undefined). */
function edit(
  history: HistoryOp[],
  pick: (op: HistoryOp) => boolean,
  by: (op: HistoryOp) => HistoryOp | undefined,
) {
  const i = history.findIndex(pick);
  assert.ok(i >= 0, 'nothing to edit');
  const next = by(history[i]!);
  if (next === undefined) history.splice(i, 1);
  else history[i] = next;
  return history;
}
const finalOf = (p: number) => (op: HistoryOp) => op.op === 'final-read' && op.partition === p;
const sendOf = (value: string) => (op: HistoryOp) => op.op === 'send' && op.value === value;

test('a clean run passes every verdict, in the fixed order, with its counts', () => {
  const r = check(clean());
  assert.deepEqual(failing(r), []);
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.verdicts.map((v) => v.name),
    [...VERDICTS],
  );
  assert.deepEqual(r.counts, {
    operations: 11,
    sends: 7,
    acknowledged: 5,
    failed: 1,
    unknown: 1,
    unknownPresent: 0,
    lost: 0,
    duplicated: 0,
    duplicatedNonIdempotent: 0,
    unseen: 0,
    polls: 2,
    commits: 2,
    faults: 1,
  });
});

test('lost-write: an acknowledged value missing from its partition, or from every partition', () => {
  const h = edit(clean(), finalOf(0), () => final(0, ['ts-idem-1', 'ts-idem-2'], 3));
  const r = check(h);
  const v = verdict(r, 'lost-write');
  assert.equal(v.ok, false);
  assert.equal(v.count, 1);
  assert.match(v.examples[0]!, /p0@2: acknowledged ts-idem-3 \(ts-idem\)/);
  assert.equal(r.counts.lost, 1);
  assert.equal(r.ok, false);

  // Stored in another partition than the acknowledged one is lost too.
  const moved = edit(clean(), finalOf(1), () => final(1, ['librdkafka-1', 'librdkafka-2', 'ts-idem-3']));
  edit(moved, finalOf(0), () => final(0, ['ts-idem-1', 'ts-idem-2']));
  assert.match(verdict(check(moved), 'lost-write').examples[0]!, /found at p1@2/);

  // A send without a partition is lost only when absent from every final log.
  const anywhere = edit(clean(), finalOf(1), () => final(1, ['librdkafka-1']));
  assert.match(
    verdict(check(anywhere), 'lost-write').examples[0]!,
    /librdkafka-2 \(librdkafka\): acknowledged, in no/,
  );
  const elsewhere = edit(clean(), finalOf(1), () => final(1, ['librdkafka-1']));
  edit(elsewhere, finalOf(0), () => final(0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3', 'librdkafka-2']));
  assert.equal(verdict(check(elsewhere), 'lost-write').ok, true);
});

test('duplicate: an idempotent value stored twice fails, a non-idempotent one is only counted', () => {
  const h = edit(clean(), finalOf(0), () => final(0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3', 'ts-idem-2']));
  const r = check(h);
  const v = verdict(r, 'duplicate');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['ts-idem-2 (ts-idem, ok): stored 2 times: p0@1, p0@3']);
  assert.equal(r.counts.duplicated, 1);

  const n = edit(clean(), finalOf(1), () => final(1, ['librdkafka-1', 'librdkafka-2', 'librdkafka-1']));
  const rn = check(n);
  assert.equal(verdict(rn, 'duplicate').ok, true);
  assert.equal(rn.counts.duplicatedNonIdempotent, 1);
  assert.match(verdict(rn, 'duplicate').note!, /^1 values of non-idempotent/);
  assert.equal(verdict(rn, 'inconsistent-offsets').ok, true);
});

test('inconsistent-offsets: an acknowledged offset holding another value', () => {
  const h = edit(clean(), sendOf('ts-idem-2'), (op) => ({ ...op, offset: 2 }) as SendOp);
  const v = verdict(check(h), 'inconsistent-offsets');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, [
    'p0@2: acknowledged ts-idem-2, final log holds ts-idem-3 (and ts-idem-2 at p0@1)',
  ]);
  // Stored in another order than the polls and replicas saw, but where acknowledged.
  const noPolls = clean().filter((op) => op.op !== 'poll' && op.op !== 'replica');
  const swapped = edit(noPolls, finalOf(0), () => final(0, ['ts-idem-1', 'ts-idem-3', 'ts-idem-2']));
  edit(swapped, sendOf('ts-idem-3'), (op) => ({ ...op, offset: 1 }) as SendOp);
  edit(swapped, sendOf('ts-idem-2'), (op) => ({ ...op, offset: 2 }) as SendOp);
  assert.equal(verdict(check(swapped), 'inconsistent-offsets').ok, true);
  edit(swapped, sendOf('ts-idem-1'), (op) => ({ ...op, partition: 1 }) as SendOp);
  assert.deepEqual(verdict(check(swapped), 'inconsistent-offsets').examples, [
    'p1@0: acknowledged ts-idem-1, final log holds librdkafka-1',
  ]);
});

test('inconsistent-offsets: an acknowledged value stored at another offset', () => {
  const h = edit(clean(), sendOf('ts-idem-3'), (op) => ({ ...op, offset: 7 }) as SendOp);
  const r = check(h);
  assert.deepEqual(verdict(r, 'inconsistent-offsets').examples, [
    'p0@7: acknowledged ts-idem-3, final log holds it at p0@2',
  ]);
  assert.equal(verdict(r, 'lost-write').ok, true);
});

test('inconsistent-offsets: two values at one offset among polls, final reads and replicas', () => {
  const byPoll = edit(
    clean(),
    (op) => op.op === 'poll' && op.start === 20,
    () =>
      poll('c1', 20, [
        [0, 2, 'ts-idem-3'],
        [1, 0, 'librdkafka-2'],
        [1, 1, 'librdkafka-2'],
      ]),
  );
  assert.deepEqual(verdict(check(byPoll), 'inconsistent-offsets').examples, [
    'p1@0: final read (leader 1) holds librdkafka-1, poll by c1 at 20ms holds librdkafka-2',
  ]);

  // Replicas disagreeing with each other above the final log (no final read of p1 here).
  const h = clean().filter((op) => !finalOf(1)(op));
  h.push(replica(3, 1, ['librdkafka-1', 'ts-idem-9']));
  const v = verdict(check(h), 'inconsistent-offsets');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, [
    'p1@1: replica on node 2 holds librdkafka-2, replica on node 3 holds ts-idem-9',
  ]);
});

test('inconsistent-offsets: a poll delivering an offset the final log has no record at', () => {
  const gap: FinalReadOp = { ...final(1, []), highWatermark: 2, records: [[0, 'librdkafka-1']] };
  const h = edit(clean(), finalOf(1), () => gap);
  const v = verdict(check(h), 'inconsistent-offsets');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, [
    'p1@1: poll by c1 at 20ms delivered librdkafka-2, final log holds nothing there',
  ]);

  const beyond = edit(clean(), finalOf(1), () => final(1, ['librdkafka-1']));
  assert.match(
    verdict(check(beyond), 'inconsistent-offsets').examples[0]!,
    /beyond the final log's high watermark 1/,
  );
});

test('unknown-at-most-once: an unanswered idempotent send may be stored once, not twice', () => {
  const once = edit(clean(), finalOf(0), () =>
    final(0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3', 'ts-idem-4']),
  );
  const r1 = check(once);
  assert.equal(verdict(r1, 'unknown-at-most-once').ok, true);
  assert.equal(r1.counts.unknownPresent, 1);

  const twice = edit(clean(), finalOf(0), () =>
    final(0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3', 'ts-idem-4', 'ts-idem-4']),
  );
  const v = verdict(check(twice), 'unknown-at-most-once');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['ts-idem-4 (ts-idem, unknown): stored 2 times: p0@3, p0@4']);
});

test('failed-not-written: a refused send stored anyway', () => {
  const h = edit(clean(), finalOf(0), () => final(0, ['ts-idem-1', 'ts-idem-2', 'ts-idem-3', 'ts-idem-5']));
  const r = check(h);
  const v = verdict(r, 'failed-not-written');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['ts-idem-5 (ts-idem): refused (NOT_LEADER_OR_FOLLOWER), stored at p0@3']);
  assert.equal(r.counts.unknownPresent, 1);
  assert.equal(verdict(r, 'unknown-at-most-once').ok, true);
});

test('unseen: an acknowledged stored write no poll delivered; no consumer, no verdict', () => {
  const h = edit(
    clean(),
    (op) => op.op === 'poll' && op.start === 20,
    () => poll('c1', 20, [[0, 2, 'ts-idem-3']]),
  );
  const r = check(h);
  const v = verdict(r, 'unseen');
  assert.equal(v.ok, false);
  assert.equal(v.count, 2);
  assert.equal(r.counts.unseen, 2);
  assert.equal(v.examples[0], 'librdkafka-1 (librdkafka) at p1@0: stored, never delivered to the group');

  const none = check(clean().filter((op) => op.op !== 'poll'));
  assert.equal(verdict(none, 'unseen').ok, true);
  assert.equal(verdict(none, 'unseen').note, 'no consumer');
});

test('poll-skip: a jump over stored records, unless the assignment changed or nothing was skipped', () => {
  const skipping = (extra: HistoryOp[], values = ['ts-idem-1', 'ts-idem-2', 'ts-idem-3']): HistoryOp[] => {
    const h = edit(
      clean(),
      (op) => op.op === 'poll' && op.start === 10,
      () => poll('c1', 10, [[0, 0, 'ts-idem-1']]),
    );
    edit(h, finalOf(0), () => final(0, values));
    return [...h, ...extra];
  };
  const v = verdict(check(skipping([])), 'poll-skip');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, [
    'c1 p0: offset 0 then 2 (polls at 10ms and 20ms), skipping 1 records of the final log from p0@1 (ts-idem-2)',
  ]);
  const rebalanced = skipping([{ op: 'revoke', consumer: 'c1', at: 17, partitions: [0] }]);
  assert.equal(verdict(check(rebalanced), 'poll-skip').ok, true);
  const otherMember = skipping([{ op: 'revoke', consumer: 'c2', at: 17, partitions: [0] }]);
  assert.equal(verdict(check(otherMember), 'poll-skip').ok, false);
  // The final log has no record at offset 1 (a gap): nothing was skipped.
  const gap: FinalReadOp = {
    ...final(0, []),
    highWatermark: 3,
    records: [
      [0, 'ts-idem-1'],
      [2, 'ts-idem-3'],
    ],
  };
  const h = skipping([]);
  edit(h, finalOf(0), () => gap);
  assert.equal(verdict(check(h), 'poll-skip').ok, true);

  // Within one poll too.
  const inOne = edit(
    clean(),
    (op) => op.op === 'poll' && op.start === 10,
    () =>
      poll('c1', 10, [
        [0, 0, 'ts-idem-1'],
        [0, 2, 'ts-idem-3'],
      ]),
  );
  assert.match(
    verdict(check(inOne), 'poll-skip').examples[0]!,
    /^c1 p0: offset 0 then 2 \(in one poll at 10ms\)/,
  );
});

test('nonmonotonic-poll: a delivery going back or repeating, unless the assignment changed', () => {
  const again = [...clean(), poll('c1', 40, [[0, 1, 'ts-idem-2']])];
  const v = verdict(check(again), 'nonmonotonic-poll');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['c1 p0: offset 2 then 1 (polls at 20ms and 40ms)']);
  assert.equal(verdict(check(again), 'poll-skip').ok, true);

  const afterAssign: HistoryOp[] = [
    ...clean(),
    { op: 'assign', consumer: 'c1', at: 30, partitions: [0] },
    poll('c1', 40, [[0, 1, 'ts-idem-2']]),
  ];
  assert.equal(verdict(check(afterAssign), 'nonmonotonic-poll').ok, true);
  // A new member starting over is not a regression of the old one.
  const otherConsumer = [...clean(), poll('c2', 40, [[0, 0, 'ts-idem-1']])];
  assert.equal(verdict(check(otherConsumer), 'nonmonotonic-poll').ok, true);

  const repeatInOne = [
    ...clean(),
    poll('c1', 40, [
      [1, 1, 'librdkafka-2'],
      [1, 1, 'librdkafka-2'],
    ]),
  ];
  assert.equal(verdict(check(repeatInOne), 'nonmonotonic-poll').count, 2);
});

test('commit-backwards: acknowledged commits and OffsetFetch answers going lower', () => {
  const lower: HistoryOp = {
    op: 'commit',
    consumer: 'c2',
    start: 30,
    end: 32,
    outcome: 'ok',
    offsets: { '0': 1 },
  };
  const v = verdict(check([...clean(), lower]), 'commit-backwards');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['p0: c2 committed 1 (ended 32ms) after c1 committed 3 (ended 28ms)']);

  assert.equal(verdict(check([...clean(), { ...lower, outcome: 'unknown' }]), 'commit-backwards').ok, true);
  // Ordered by end time, not by place in the history.
  const early = { ...lower, start: 11, end: 12 };
  assert.equal(verdict(check([...clean(), early]), 'commit-backwards').ok, true);

  const fetched: HistoryOp = { op: 'offset-fetch', at: 25, offsets: { '0': 1 } };
  assert.deepEqual(verdict(check([...clean(), fetched]), 'commit-backwards').examples, [
    'p0: OffsetFetch answered 1 at 25ms after 2 at 19ms',
  ]);
});

test('replica-agreement: the common prefix below both high watermarks, and leader epochs', () => {
  // A lagging replica with a divergent uncommitted tail above its high watermark agrees.
  const lagging = [...clean(), replica(3, 0, ['ts-idem-1', 'ts-idem-9'], 1)];
  assert.equal(verdict(check(lagging), 'replica-agreement').ok, true);

  const divergent = [...clean(), replica(3, 0, ['ts-idem-1', 'ts-idem-9'], 2)];
  const v = verdict(check(divergent), 'replica-agreement');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['p0@1: replica on node 3 (hw 2) holds ts-idem-9, final log ts-idem-2']);

  // At the final high watermark a replica lacking a record disagrees.
  const lacking = clean().filter((op) => !(op.op === 'replica' && op.node === 2 && op.partition === 1));
  lacking.push({ ...replica(2, 1, []), highWatermark: 2, records: [[0, 'librdkafka-1', 1]] });
  assert.deepEqual(verdict(check(lacking), 'replica-agreement').examples, [
    'p1@1: replica on node 2 (hw 2) lacks librdkafka-2 of the final log',
  ]);

  const epochs = clean();
  edit(
    epochs,
    (op) => op.op === 'replica' && op.node === 2 && op.partition === 0,
    (op) => ({
      ...(op as ReplicaLogOp),
      records: (op as ReplicaLogOp).records.map(([o, x]) => [o, x, o === 2 ? 2 : 1]),
    }),
  );
  assert.deepEqual(verdict(check(epochs), 'replica-agreement').examples, [
    'p0@2: leader epoch 1 on node 1, 2 on node 2 (ts-idem-3)',
  ]);
});

test('raft-one-leader-per-term: two nodes claiming one term', () => {
  const sameNode: HistoryOp = {
    op: 'raft',
    node: 1,
    run: 1,
    at: 30,
    term: 1,
    commitIndex: 8,
    isLeader: true,
  };
  assert.equal(verdict(check([...clean(), sameNode]), 'raft-one-leader-per-term').ok, true);
  const follower: HistoryOp = {
    op: 'raft',
    node: 3,
    run: 0,
    at: 30,
    term: 1,
    commitIndex: 8,
    isLeader: false,
  };
  assert.equal(verdict(check([...clean(), follower]), 'raft-one-leader-per-term').ok, true);

  const v = verdict(check([...clean(), { ...follower, isLeader: true }]), 'raft-one-leader-per-term');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, [
    'term 1: node 1 (run 0) became controller at 1ms; node 3 (run 0) leader at 30ms',
  ]);
  const byLog: HistoryOp = { op: 'controller', node: 2, run: 0, at: 40, term: 1 };
  assert.equal(verdict(check([...clean(), byLog]), 'raft-one-leader-per-term').ok, false);
});

test('raft-commit-monotonic: commit index and term per process run', () => {
  const back: HistoryOp = { op: 'raft', node: 1, run: 0, at: 15, term: 1, commitIndex: 9, isLeader: true };
  const v = verdict(check([...clean(), back]), 'raft-commit-monotonic');
  assert.equal(v.ok, false);
  assert.deepEqual(v.examples, ['node 1 (run 0): commit index 9 at 15ms, 7 at 20ms']);

  // A restarted process starts over.
  const restarted: HistoryOp = {
    op: 'raft',
    node: 1,
    run: 1,
    at: 30,
    term: 0,
    commitIndex: 0,
    isLeader: false,
  };
  assert.equal(verdict(check([...clean(), restarted]), 'raft-commit-monotonic').ok, true);
  const term: HistoryOp = { op: 'raft', node: 2, run: 0, at: 30, term: 0, commitIndex: 4, isLeader: false };
  assert.deepEqual(verdict(check([...clean(), term]), 'raft-commit-monotonic').examples, [
    'node 2 (run 0): term 1 at 10ms, 0 at 30ms',
  ]);
});

test('no final read: the verdicts needing one pass with a note', () => {
  const r = check(clean().filter((op) => op.op !== 'final-read'));
  assert.equal(verdict(r, 'lost-write').ok, true);
  assert.equal(verdict(r, 'lost-write').note, 'no final read');
  assert.equal(verdict(r, 'replica-agreement').note, 'no final read');
});

test('availability: acknowledged writes per bucket, spanning the faults', () => {
  const a = availability(clean());
  assert.equal(a.bucketMs, 1000);
  assert.deepEqual(a.acked, [4, 0, 1]);
  assert.deepEqual(a.faults, [{ fault: 'kill', target: 'leader', nodes: [1], start: 50, end: 1500 }]);
  assert.deepEqual(availability(clean(), 100).acked.slice(0, 2), [0, 4]);
  const unhealed = availability([
    { op: 'nemesis', fault: 'pause', target: 'all', nodes: [1, 2], start: 3200, end: null },
  ]);
  assert.deepEqual(unhealed.acked, [0, 0, 0, 0]);
});

test('a run of 200,000 sends is checked, and one loss in it found', () => {
  const n = 200_000;
  const history: HistoryOp[] = [];
  const logs: string[][] = [[], [], [], []];
  for (let i = 0; i < n; i++) {
    const p = i % 4;
    const value = `ts-idem-${i}`;
    history.push(send(value, 'ok', [p, logs[p]!.length], { start: i, end: i + 3 }));
    logs[p]!.push(value);
  }
  for (let p = 0; p < 4; p++) {
    const records = logs[p]!;
    for (let i = 0; i < records.length; i += 500)
      history.push(
        poll(
          'c1',
          n + p * 1000 + i,
          records.slice(i, i + 500).map((v, j) => [p, i + j, v]),
        ),
      );
    history.push(final(p, records));
  }
  const started = performance.now();
  assert.deepEqual(failing(check(history)), []);
  assert.ok(performance.now() - started < 10_000);
  const p3 = history.findIndex(finalOf(3));
  history[p3] = final(3, logs[3]!.slice(0, -1), logs[3]!.length);
  const r = check(history);
  assert.deepEqual(failing(r), ['lost-write', 'inconsistent-offsets']);
  assert.equal(r.counts.lost, 1);
  assert.equal(r.counts.operations, n + n / 500);
});
