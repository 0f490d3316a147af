/** The chaos schedule (test/chaos/nemesis.ts) and the harness's arguments, as pure functions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultMenu, planSchedule, quickSchedule } from './nemesis.ts';
import { parseArgs, replayCommand, UsageError } from './run.ts';

test('one seed gives one schedule; another seed another', () => {
  assert.deepEqual(planSchedule(42, 90, 3), planSchedule(42, 90, 3));
  assert.notDeepEqual(planSchedule(42, 90, 3), planSchedule(43, 90, 3));
});

test('a schedule fills its seconds without running past them, with bounded gaps and holds', () => {
  for (let seed = 0; seed < 200; seed++) {
    const plan = planSchedule(seed, 90, 5);
    assert.ok(plan.length >= 1);
    let t = 0;
    for (const f of plan) {
      assert.ok(f.gapMs >= 2000 && f.gapMs < 5000, `gap ${f.gapMs}`);
      assert.ok(f.holdMs >= 3000 && f.holdMs < 9000, `hold ${f.holdMs}`);
      assert.ok(f.pick >= 0 && f.pick < 1);
      t += f.gapMs + (f.kind === 'rolling-restart' ? 5 * 4000 : f.holdMs);
    }
    assert.ok(t <= 90_000 || plan.length === 1, `seed ${seed}: ${t} ms planned for 90 s`);
  }
});

test('over many seeds every fault of the menu is drawn, and only those', () => {
  const menu = faultMenu(3).map(([k, r]) => `${k}/${r}`);
  const drawn = new Set<string>();
  for (let seed = 0; seed < 300; seed++)
    for (const f of planSchedule(seed, 90, 3)) drawn.add(`${f.kind}/${f.role}`);
  assert.deepEqual([...drawn].sort(), [...new Set(menu)].sort());
});

test('a single node gets process faults only; the quick schedule covers a kill, a partition and a pause', () => {
  for (const [kind] of faultMenu(1)) assert.ok(['kill', 'pause', 'terminate'].includes(kind), kind);
  assert.deepEqual(
    quickSchedule(3).map((f) => `${f.kind}/${f.role}`),
    ['kill/leader', 'isolate/controller', 'pause/coordinator'],
  );
  for (const f of quickSchedule(1)) assert.equal(f.kind, 'kill');
});

test('arguments: defaults, ranges, and a replay command that parses back to the same run', () => {
  const o = parseArgs(['--seed', '7', '--nodes', '5', '--seconds', '30', '--fsync', 'interval']);
  assert.equal(o.seed, 7);
  assert.equal(o.nodes, 5);
  assert.equal(o.schedules, 1);
  const replay = replayCommand(o, 9).split(' ').slice(4);
  const back = parseArgs(replay);
  assert.deepEqual({ ...back, out: o.out }, { ...o, seed: 9 });
  // Every flag that takes a value, with every kind of bad value, alone and after valid arguments.
  const bads: string[][] = [['--what'], ['-x'], ['seed'], ['--scenario', 'nope'], ['--fsync', 'never']];
  for (const flag of ['--seed', '--schedules', '--seconds', '--nodes', '--partitions', '--consumers'])
    for (const value of [undefined, '', 'x', '-1', '1.5', '1e3', '99999999999', ' 3'])
      bads.push(value === undefined ? [flag] : [flag, value]);
  bads.push(['--nodes', '0'], ['--nodes', '10'], ['--seconds', '4'], ['--out']);
  for (const bad of bads) {
    assert.throws(() => parseArgs(bad), UsageError, JSON.stringify(bad));
    assert.throws(() => parseArgs(['--quick', '--seed', '3', ...bad]), UsageError, JSON.stringify(bad));
  }
  assert.equal(parseArgs(['--quick', '--seconds', '90']).seconds, 20);
});
