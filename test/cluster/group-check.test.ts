/**
 * The group checks of the cluster tests, on made-up histories: what kafkajs may legitimately do passes,
 * and each way a broker can lose or misreport a commit fails with its reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkGroup, type GroupEvent } from './workload.ts';

const log = new Map([[0, Array.from({ length: 8 }, (_, i) => ({ offset: i, value: `v${i}` }))]]);

/**
 * A history from a compact script: `d3` delivers offset 3, `c4` acknowledges a commit of 4, `s` sends
 * the SyncGroup of the next join, `j` joins. Each step happens one millisecond after the one before.
 */
function historyOf(script: string) {
  const events: GroupEvent[] = [];
  const joins: number[] = [];
  const syncs: { seq: number; sentAtMs: number }[] = [];
  let seq = 0;
  for (const step of script.split(' ')) {
    const n = Number(step.slice(1));
    const atMs = seq;
    if (step === 'j') joins.push(seq++);
    else if (step === 's') syncs.push({ seq: seq++, sentAtMs: atMs });
    else if (step[0] === 'd')
      events.push({ seq: seq++, kind: 'delivered', partition: 0, offset: n, value: `v${n}`, atMs });
    else events.push({ seq: seq++, kind: 'committed', partition: 0, offset: n, atMs });
  }
  return {
    events,
    joins,
    syncs,
    answers: [] as { sentAt: number; partition: number; offset: number }[],
    resets: [] as string[],
    fetched: new Map<number, number[]>(),
  };
}

test('a clean history, and re-delivery at the last commit after a rejoin, pass', () => {
  assert.deepEqual(checkGroup('g', historyOf('j d0 d1 d2 c3 d3 d4 c5 j d5 d6 d7 c8'), log), { repeats: 0 });
  // Delivered up to 5 but committed 4: after the rejoin 4 and 5 come again.
  assert.deepEqual(checkGroup('g', historyOf('j d0 d1 d2 d3 c4 d4 d5 j d4 d5 d6 d7 c8'), log).repeats, 0);
});

test('a repeat inside a generation of records it already delivered passes and is counted', () => {
  // kafkajs's second fetcher at a leader move: offsets 2-3 again after their commit, same generation.
  assert.deepEqual(checkGroup('g', historyOf('j d0 d1 d2 d3 c4 d2 d3 c4 d4 d5 d6 d7 c8'), log), {
    repeats: 2,
  });
});

test('a position below the last commit after a join fails: the coordinator lost a commit', () => {
  assert.throws(
    () => checkGroup('g', historyOf('j d0 d1 d2 d3 c4 j d1 d2 d3 d4 d5 d6 d7 c8'), log),
    /no offset delivered again below a commit \(3 were\)/,
  );
});

test('a rewind inside a generation to records it had not delivered in it fails', () => {
  assert.throws(
    () => checkGroup('g', historyOf('j d0 d1 d2 d3 c4 j d4 d5 c6 d3 d4 d5 d6 d7 c8'), log),
    /below a commit/,
  );
});

test("a commit of the old generation acknowledged after the join's SyncGroup was sent does not bind the new one", () => {
  // kafkajs rejoins from one fetcher while another's batch (up to 4) still commits 5: the new positions
  // may be read before that commit is stored, so the new generation starts again at 2.
  const raced = 'j d0 d1 c2 d2 d3 d4 s c5 j d2 d3 d4 c5 d5 d6 d7 c8';
  assert.deepEqual(checkGroup('g', historyOf(raced), log), { repeats: 0 });
  // Acknowledged before the SyncGroup was sent, the same commit binds it.
  assert.throws(
    () => checkGroup('g', historyOf('j d0 d1 c2 d2 d3 d4 c5 s j d2 d3 d4 c5 d5 d6 d7 c8'), log),
    /below a commit \(3 were\)/,
  );
  // The generation's own commits bind it as before: a rewind below them fails.
  assert.throws(
    () => checkGroup('g', historyOf('j d0 d1 c2 d2 d3 d4 s c5 j d2 d3 d4 c5 d5 d6 c7 d1 d7 c8'), log),
    /p0@1 delivered .*not delivered before in this generation.* after the commit of 7/,
  );
});

test('a reset after OFFSET_OUT_OF_RANGE fails, whatever was delivered', () => {
  const h = historyOf('j d0 d1 d2 d3 d4 d5 d6 d7 c8');
  h.resets.push('t-0 at #3: Offset out of range, resetting to default offset');
  assert.throws(() => checkGroup('g', h, log), /OFFSET_OUT_OF_RANGE/);
});

test('an OffsetFetch answer below the last commit acknowledged before it was asked fails', () => {
  // #5 is the commit of 4 and #10 the commit of 8: asked at #6, 4 is right; asked at #11, 4 is stale.
  const h = historyOf('j d0 d1 d2 d3 c4 d4 d5 d6 d7 c8');
  h.answers.push({ sentAt: 6, partition: 0, offset: 4 }, { sentAt: 10, partition: 0, offset: 4 });
  assert.doesNotThrow(() => checkGroup('g', h, log));
  h.answers.push({ sentAt: 11, partition: 0, offset: 4 });
  assert.throws(() => checkGroup('g', h, log), /OffsetFetch answer below an acknowledged commit \(1 were\)/);
});

test("an undelivered record, or a delivery that is not the log's record, fails", () => {
  assert.throws(() => checkGroup('g', historyOf('j d0 d1 d2 d4 d5 d6 d7 c8'), log), /1 unseen/);
  const h = historyOf('j d0 d1 d2 d3 d4 d5 d6 d7 c8');
  (h.events[2] as { value: string }).value = 'other';
  assert.throws(() => checkGroup('g', h, log), /the log's record/);
});
