/**
 * The KIP-848 consumer group state machine, stepped without sockets or timers: epochs, incremental
 * revocation, static members, fencing, errors, metadata changes, and a seeded random schedule of
 * joins, leaves, crashes, lost answers and heartbeats under which no partition is ever owned by two
 * members at once and, once the churn stops, every partition is assigned.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeAssign, uniformAssign } from '../../src/broker/groups/consumer-assignors.ts';
import {
  type ConsumerGroupSnapshot,
  ConsumerGroups,
  type ConsumerHeartbeat,
  type ConsumerHeartbeatResult,
  type TopicPartitions,
  type TopicsByName,
} from '../../src/broker/groups/consumer-group.ts';
import { isBrokerError } from '../../src/errors.ts';
import { prng } from '../helpers/prng.ts';

const topicsOf = (spec: Record<string, number>): TopicsByName =>
  new Map(Object.entries(spec).map(([name, partitions]) => [name, { id: `id-${name}`, partitions }]));

function hb(over: Partial<ConsumerHeartbeat> & { memberId: string; memberEpoch: number }): ConsumerHeartbeat {
  return {
    groupId: 'g',
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: over.memberEpoch === 0 ? 30_000 : -1,
    subscribedTopicNames: over.memberEpoch === 0 ? ['t'] : null,
    subscribedTopicRegex: null,
    serverAssignor: null,
    ownedPartitions: over.memberEpoch === 0 ? [] : null,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    ...over,
  };
}

function count(a: TopicPartitions[] | null): number {
  return (a ?? []).reduce((n, t) => n + t.partitions.length, 0);
}

function setup(persisted?: Map<string, ConsumerGroupSnapshot | null>) {
  let n = 0;
  return new ConsumerGroups(
    {
      newMemberId: () => `server-${++n}`,
      onGroupChange: (id, s) => persisted?.set(id, s),
    },
    { heartbeatIntervalMs: 100, sessionTimeoutMs: 1000 },
  );
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isBrokerError(err)) return err.code;
    throw err;
  }
  return 'NONE';
}

test('two members split the partitions only after the first revokes what the second gets', () => {
  const groups = setup();
  const topics = topicsOf({ t: 4 });
  const a1 = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0 }), topics, 0, true);
  assert.equal(a1.memberEpoch, 1);
  assert.equal(count(a1.assignment), 4);
  assert.equal(a1.heartbeatIntervalMs, 100);
  const b1 = groups.heartbeat(hb({ memberId: 'b', memberEpoch: 0 }), topics, 1, true);
  // b joins at epoch 2 but gets nothing: a still owns every partition.
  assert.equal(b1.memberEpoch, 2);
  assert.equal(count(b1.assignment), 0);
  // a is told to keep two (it revokes the others) and stays at epoch 1 until it has revoked.
  const a2 = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 1 }), topics, 2, true);
  assert.equal(a2.memberEpoch, 1);
  assert.equal(count(a2.assignment), 2);
  const b2 = groups.heartbeat(hb({ memberId: 'b', memberEpoch: 2 }), topics, 3, true);
  assert.equal(b2.assignment, null, 'b is still waiting for the partitions a has not released');
  assert.equal(groups.snapshot('g')!.state, 'Reconciling');
  const a3 = groups.heartbeat(
    hb({ memberId: 'a', memberEpoch: 1, ownedPartitions: a2.assignment }),
    topics,
    4,
    true,
  );
  assert.equal(a3.memberEpoch, 2);
  const b3 = groups.heartbeat(hb({ memberId: 'b', memberEpoch: 2 }), topics, 5, true);
  assert.equal(count(b3.assignment), 2);
  assert.equal(groups.snapshot('g')!.state, 'Stable');
  // b leaves: a takes everything at epoch 3.
  groups.heartbeat(hb({ memberId: 'b', memberEpoch: -1 }), topics, 6, true);
  const a4 = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 2 }), topics, 7, true);
  assert.equal(a4.memberEpoch, 3);
  assert.equal(count(a4.assignment), 4);
});

test('errors of bad heartbeats: epochs, unknown members, first heartbeats, assignors, regexes, size', () => {
  const groups = new ConsumerGroups({ newMemberId: () => 'x' }, { maxGroupSize: 1 });
  const topics = topicsOf({ t: 2 });
  const at = (r: ConsumerHeartbeat, v1 = true) => code(() => groups.heartbeat(r, topics, 0, v1));
  assert.equal(at(hb({ memberId: '', memberEpoch: 0 })), 'INVALID_REQUEST', 'v1 needs a member id');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: 0, rebalanceTimeoutMs: -1 })), 'INVALID_REQUEST');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: 0, subscribedTopicNames: [] })), 'INVALID_REQUEST');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: 0, ownedPartitions: null })), 'INVALID_REQUEST');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: -2 })), 'INVALID_REQUEST', '-2 needs an instance id');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: -3 })), 'INVALID_REQUEST');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: 0, groupId: '' })), 'INVALID_REQUEST');
  assert.equal(at(hb({ memberId: 'a', memberEpoch: 0, serverAssignor: 'sticky' })), 'UNSUPPORTED_ASSIGNOR');
  assert.equal(
    at(hb({ memberId: 'a', memberEpoch: 0, subscribedTopicNames: null, subscribedTopicRegex: '(' })),
    'INVALID_REGULAR_EXPRESSION',
  );
  assert.equal(at(hb({ memberId: 'a', memberEpoch: 3 })), 'UNKNOWN_MEMBER_ID');
  assert.equal(at(hb({ memberId: '', memberEpoch: 0 }), false), 'NONE', 'v0: the broker makes the id');
  assert.equal(at(hb({ memberId: 'x', memberEpoch: 5 })), 'FENCED_MEMBER_EPOCH');
  assert.equal(at(hb({ memberId: 'y', memberEpoch: 0 })), 'GROUP_MAX_SIZE_REACHED');
  assert.equal(at(hb({ memberId: 'zz', memberEpoch: 1 })), 'UNKNOWN_MEMBER_ID');
  assert.equal(at(hb({ memberId: 'x', memberEpoch: 1 })), 'NONE');
});

test('a lost answer: the previous epoch is accepted while the member owns no more than it is assigned', () => {
  const groups = setup();
  const topics = topicsOf({ t: 2 });
  groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0 }), topics, 0, true);
  groups.heartbeat(hb({ memberId: 'b', memberEpoch: 0 }), topics, 0, true);
  const a = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 1 }), topics, 0, true);
  groups.heartbeat(hb({ memberId: 'a', memberEpoch: 1, ownedPartitions: a.assignment }), topics, 0, true);
  // a is at epoch 2 now; a heartbeat still at 1 that owns a subset of its assignment is accepted.
  const again = groups.heartbeat(
    hb({ memberId: 'a', memberEpoch: 1, ownedPartitions: a.assignment }),
    topics,
    0,
    true,
  );
  assert.equal(again.memberEpoch, 2, 'the answer carries the epoch the lost one had');
  assert.equal(
    code(() =>
      groups.heartbeat(
        hb({ memberId: 'a', memberEpoch: 1, ownedPartitions: [{ topicId: 'id-t', partitions: [0, 1] }] }),
        topics,
        0,
        true,
      ),
    ),
    'FENCED_MEMBER_EPOCH',
  );
});

test('static members: -2 keeps the assignment; a new incarnation takes it over without a new epoch', () => {
  const groups = setup();
  const topics = topicsOf({ t: 2 });
  const a = groups.heartbeat(hb({ memberId: 'a1', memberEpoch: 0, instanceId: 'i' }), topics, 0, true);
  assert.equal(
    code(() => groups.heartbeat(hb({ memberId: 'a2', memberEpoch: 0, instanceId: 'i' }), topics, 0, true)),
    'UNRELEASED_INSTANCE_ID',
  );
  groups.heartbeat(hb({ memberId: 'a1', memberEpoch: -2, instanceId: 'i' }), topics, 0, true);
  const epochBefore = groups.snapshot('g')!.groupEpoch;
  const a2 = groups.heartbeat(hb({ memberId: 'a2', memberEpoch: 0, instanceId: 'i' }), topics, 10, true);
  assert.equal(a2.memberEpoch, a.memberEpoch);
  assert.deepEqual(a2.assignment, a.assignment);
  assert.equal(groups.snapshot('g')!.groupEpoch, epochBefore, 'no rebalance');
  // A static member that left with -2 and does not return within the session is removed.
  groups.heartbeat(hb({ memberId: 'a2', memberEpoch: -2, instanceId: 'i' }), topics, 10, true);
  groups.tick(10 + 1000);
  assert.equal(groups.snapshot('g')!.members.length, 0);
  assert.equal(groups.snapshot('g')!.state, 'Empty');
});

test('session and rebalance timeouts fence members; metadata changes start a new epoch', () => {
  const groups = setup();
  let topics = topicsOf({ t: 2 });
  groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0, rebalanceTimeoutMs: 500 }), topics, 0, true);
  groups.heartbeat(hb({ memberId: 'b', memberEpoch: 0 }), topics, 0, true);
  const a = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 1 }), topics, 0, true);
  assert.equal(count(a.assignment), 1, 'a must revoke one');
  assert.equal(groups.nextDeadline(), 500);
  groups.heartbeat(hb({ memberId: 'b', memberEpoch: 2 }), topics, 400, true);
  groups.tick(500);
  assert.deepEqual(
    groups.snapshot('g')!.members.map((m) => m.memberId),
    ['b'],
    'a did not revoke in time',
  );
  const b = groups.heartbeat(hb({ memberId: 'b', memberEpoch: 2 }), topics, 600, true);
  assert.equal(count(b.assignment), 2);
  topics = topicsOf({ t: 5 });
  const b2 = groups.heartbeat(hb({ memberId: 'b', memberEpoch: b.memberEpoch }), topics, 700, true);
  assert.equal(b2.memberEpoch, b.memberEpoch + 1);
  assert.equal(count(b2.assignment), 5);
  groups.tick(700 + 1000);
  assert.equal(groups.snapshot('g')!.members.length, 0, 'the session lapsed');
});

test('regex subscriptions match whole names, skip internal topics, and follow created topics', () => {
  const groups = setup();
  let topics = topicsOf({ 'orders-1': 1, other: 1, __consumer_offsets: 3 });
  const r = groups.heartbeat(
    hb({
      memberId: 'a',
      memberEpoch: 0,
      subscribedTopicNames: null,
      subscribedTopicRegex: 'orders-.*|.*_offsets',
    }),
    topics,
    0,
    true,
  );
  assert.deepEqual(r.assignment, [{ topicId: 'id-orders-1', partitions: [0] }]);
  topics = topicsOf({ 'orders-1': 1, 'orders-2': 2, other: 1, __consumer_offsets: 3 });
  const r2 = groups.heartbeat(hb({ memberId: 'a', memberEpoch: r.memberEpoch }), topics, 1, true);
  assert.equal(count(r2.assignment), 3);
  assert.ok(groups.subscribesTo('g', 'orders-9'));
  assert.ok(!groups.subscribesTo('g', 'other'));
});

test('regexes run as RE2/J runs them: linear time, whole-name alternatives, no backreferences or lookaround', {
  timeout: 10_000,
}, () => {
  const groups = setup();
  // A name that makes a backtracking engine try 2^249 ways before failing: with a linear-time engine
  // the heartbeat answers at once (a backtracking one would never return).
  const hostile = `${'a'.repeat(248)}!`;
  const topics = topicsOf({ [hostile]: 1, ab: 1, abc: 1 });
  const r = groups.heartbeat(
    hb({ memberId: 'a', memberEpoch: 0, subscribedTopicNames: null, subscribedTopicRegex: '(a+)+$' }),
    topics,
    0,
    true,
  );
  assert.deepEqual(r.assignment, []);
  // `a|ab` matches the whole of "ab" (as RE2/J's matches() does), though its first alternative is
  // a prefix of it; it does not match "abc".
  const r2 = groups.heartbeat(
    hb({
      memberId: 'b',
      memberEpoch: 0,
      groupId: 'g2',
      subscribedTopicNames: null,
      subscribedTopicRegex: 'a|ab',
    }),
    topics,
    0,
    true,
  );
  assert.deepEqual(r2.assignment, [{ topicId: 'id-ab', partitions: [0] }]);
  for (const bad of ['(a)\\1', '(?=a)a', 'a)(b'])
    assert.equal(
      code(() =>
        groups.heartbeat(
          hb({
            memberId: 'c',
            memberEpoch: 0,
            groupId: 'g3',
            subscribedTopicNames: null,
            subscribedTopicRegex: bad,
          }),
          topics,
          0,
          true,
        ),
      ),
      'INVALID_REGULAR_EXPRESSION',
      bad,
    );
});

test('commits are checked against the member epoch', () => {
  const groups = setup();
  const topics = topicsOf({ t: 1 });
  const a = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0 }), topics, 0, true);
  assert.equal(
    code(() => groups.validateCommit('g', 'a', a.memberEpoch)),
    'NONE',
  );
  assert.equal(
    code(() => groups.validateCommit('g', 'a', a.memberEpoch - 1)),
    'STALE_MEMBER_EPOCH',
  );
  assert.equal(
    code(() => groups.validateCommit('g', 'nobody', 1)),
    'UNKNOWN_MEMBER_ID',
  );
  assert.equal(
    code(() => groups.validateCommit('g', '', -1)),
    'UNKNOWN_MEMBER_ID',
  );
  assert.equal(
    code(() => groups.deleteGroup('g')),
    'NON_EMPTY_GROUP',
  );
  groups.heartbeat(hb({ memberId: 'a', memberEpoch: -1 }), topics, 0, true);
  assert.equal(
    code(() => groups.validateCommit('g', '', -1)),
    'NONE',
  );
  assert.equal(
    code(() => groups.deleteGroup('g')),
    'NONE',
  );
  assert.equal(groups.has('g'), false);
});

test('a persisted group restores with its epochs and assignments', () => {
  const persisted = new Map<string, ConsumerGroupSnapshot | null>();
  const groups = setup(persisted);
  const topics = topicsOf({ t: 3 });
  const a = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0, serverAssignor: 'range' }), topics, 0, true);
  const stored = JSON.parse(JSON.stringify(persisted.get('g'))) as ConsumerGroupSnapshot;
  assert.equal(stored.assignor, 'range');
  const again = setup();
  again.restore(stored, 100);
  const r = again.heartbeat(hb({ memberId: 'a', memberEpoch: a.memberEpoch }), topics, 100, true);
  assert.equal(r.memberEpoch, a.memberEpoch, 'no new epoch after a restart');
  assert.deepEqual(again.snapshot('g')!.members[0].assigned, a.assignment);
});

test('assignors: uniform balances and is sticky; range gives contiguous ranges', () => {
  const members = ['a', 'b', 'c'].map((memberId) => ({ memberId, topicIds: new Set(['x', 'y']) }));
  const partitionsOf = new Map([
    ['x', 4],
    ['y', 3],
  ]);
  const u = uniformAssign({ members, partitionsOf, previous: new Map() });
  const sizes = [...u.values()].map((a) => [...a.values()].reduce((n, s) => n + s.size, 0)).sort();
  assert.deepEqual(sizes, [2, 2, 3]);
  // Without c, a and b keep what they had.
  const u2 = uniformAssign({ members: members.slice(0, 2), partitionsOf, previous: u });
  for (const id of ['a', 'b'])
    for (const [t, ps] of u.get(id)!)
      for (const p of ps) assert.ok(u2.get(id)!.get(t)?.has(p), `${id} keeps ${t}-${p}`);
  const r = rangeAssign({ members, partitionsOf, previous: new Map() });
  assert.deepEqual([...r.get('a')!.get('x')!], [0, 1]);
  assert.deepEqual([...r.get('c')!.get('y')!], [2]);
});

/**
 * Simulated clients over random schedules. A client owns what the last answer assigned it; it drops
 * revoked partitions as soon as it reads the answer and reports what it owns in its next heartbeat.
 * Some answers are lost, some clients crash (and their sessions lapse), some leave, new ones join.
 */
test('property: no partition is ever owned by two members, and eventually all are assigned', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = prng(seed);
    const groups = setup();
    let topics = topicsOf({ t: 1 + Math.floor(rand() * 8), u: 1 + Math.floor(rand() * 4) });
    interface Client {
      id: string;
      epoch: number;
      owned: TopicPartitions[];
      alive: boolean;
    }
    const clients: Client[] = [];
    let now = 0;
    let next = 0;
    const check = (when: string) => {
      // The broker's view: what members own and are still revoking never overlaps.
      const held = new Map<string, string>();
      const members = groups.snapshot('g')?.members ?? [];
      for (const m of members)
        for (const t of [...m.assigned, ...m.revoking])
          for (const p of t.partitions) {
            const k = `${t.topicId}-${p}`;
            assert.ok(
              !held.has(k),
              `seed ${seed} ${when}: the broker gives ${k} to ${held.get(k)} and ${m.memberId}`,
            );
            held.set(k, m.memberId);
          }
      // The clients' view. A client the broker fenced (its session lapsed between two of its
      // heartbeats) is a zombie until its next heartbeat tells it so; Kafka fences zombies' commits by
      // epoch, and so are they left out here.
      const current = new Set(members.map((m) => m.memberId));
      const owners = new Map<string, string>();
      for (const c of clients) {
        if (!c.alive || !current.has(c.id)) continue;
        for (const t of c.owned)
          for (const p of t.partitions) {
            const k = `${t.topicId}-${p}`;
            assert.ok(!owners.has(k), `seed ${seed} ${when}: ${k} owned by ${owners.get(k)} and ${c.id}`);
            owners.set(k, c.id);
          }
      }
      return owners;
    };
    const beat = (c: Client, lose: boolean) => {
      let r: ConsumerHeartbeatResult;
      try {
        r = groups.heartbeat(
          hb(
            c.epoch === 0
              ? { memberId: c.id, memberEpoch: 0, subscribedTopicNames: ['t', 'u'] }
              : { memberId: c.id, memberEpoch: c.epoch, ownedPartitions: c.owned },
          ),
          topics,
          now,
          true,
        );
      } catch (err) {
        if (!isBrokerError(err, 'FENCED_MEMBER_EPOCH') && !isBrokerError(err, 'UNKNOWN_MEMBER_ID')) throw err;
        // Fenced: the client gives up everything and joins again.
        c.owned = [];
        c.epoch = 0;
        return;
      }
      if (lose) return;
      c.epoch = r.memberEpoch;
      if (r.assignment !== null) c.owned = r.assignment;
    };
    for (let step = 0; step < 400; step++) {
      now += Math.floor(rand() * 50);
      const roll = rand();
      const live = clients.filter((c) => c.alive);
      if (roll < 0.08 && live.length < 6) {
        clients.push({ id: `m${next++}`, epoch: 0, owned: [], alive: true });
        beat(clients[clients.length - 1], false);
      } else if (roll < 0.11 && live.length > 0) {
        const c = live[Math.floor(rand() * live.length)];
        if (c.epoch > 0) groups.heartbeat(hb({ memberId: c.id, memberEpoch: -1 }), topics, now, true);
        c.alive = false;
      } else if (roll < 0.13 && live.length > 0) {
        live[Math.floor(rand() * live.length)].alive = false; // crashes; its session lapses
      } else if (roll < 0.15) {
        topics = topicsOf({ t: topics.get('t')!.partitions + 1, u: topics.get('u')!.partitions });
      } else if (live.length > 0) {
        beat(live[Math.floor(rand() * live.length)], rand() < 0.05);
      }
      groups.tick(now);
      check(`step ${step}`);
    }
    // Liveness: the live clients heartbeat until the group is stable and every partition is owned.
    const live = clients.filter((c) => c.alive);
    if (live.length === 0) continue;
    // Rounds 200 ms apart, within the session of live clients, past the session of crashed ones.
    for (let round = 0; round < 10; round++) {
      now += 200;
      for (const c of live) beat(c, false);
      groups.tick(now);
      check(`round ${round}`);
    }
    const owners = check('the end');
    const total = topics.get('t')!.partitions + topics.get('u')!.partitions;
    assert.equal(owners.size, total, `seed ${seed}: every partition is owned`);
    assert.equal(groups.snapshot('g')!.state, 'Stable', `seed ${seed}`);
  }
});

test('a deleted topic leaves every member at once; its partitions are not revoked one by one', () => {
  const groups = setup();
  let topics = topicsOf({ t: 2, u: 1 });
  const a = groups.heartbeat(
    hb({ memberId: 'a', memberEpoch: 0, subscribedTopicNames: ['t', 'u'] }),
    topics,
    0,
    true,
  );
  assert.equal(count(a.assignment), 3);
  topics = topicsOf({ t: 2 });
  const a2 = groups.heartbeat(hb({ memberId: 'a', memberEpoch: a.memberEpoch }), topics, 1, true);
  assert.equal(a2.memberEpoch, a.memberEpoch + 1);
  assert.deepEqual(a2.assignment, [{ topicId: 'id-t', partitions: [0, 1] }]);
});

test('members past half of groupStateBytesMax in ids and subscriptions are MESSAGE_TOO_LARGE and change nothing', () => {
  const groups = setup();
  const topics = topicsOf({ t: 1 });
  const names = (tag: string) => Array.from({ length: 9000 }, (_, i) => `${tag}-${i}-`.padEnd(249, 'x'));
  groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0, subscribedTopicNames: names('a') }), topics, 0, true);
  assert.equal(
    code(() =>
      groups.heartbeat(
        hb({ memberId: 'b', memberEpoch: 0, subscribedTopicNames: names('b') }),
        topics,
        0,
        true,
      ),
    ),
    'MESSAGE_TOO_LARGE',
  );
  assert.deepEqual(
    groups.snapshot('g')!.members.map((m) => m.memberId),
    ['a'],
  );
});

test('offset fetches that name a member are checked against its epoch', () => {
  const groups = setup();
  const a = groups.heartbeat(hb({ memberId: 'a', memberEpoch: 0 }), topicsOf({ t: 1 }), 0, true);
  assert.equal(
    code(() => groups.validateFetch('g', null, -1)),
    'NONE',
    'an admin client',
  );
  assert.equal(
    code(() => groups.validateFetch('g', 'a', a.memberEpoch)),
    'NONE',
  );
  assert.equal(
    code(() => groups.validateFetch('g', 'a', a.memberEpoch + 1)),
    'STALE_MEMBER_EPOCH',
  );
  assert.equal(
    code(() => groups.validateFetch('g', 'b', 1)),
    'UNKNOWN_MEMBER_ID',
  );
});
