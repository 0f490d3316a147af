/**
 * The group coordinator stepped by hand: no sockets, no timers. Time is a number passed in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeAssign, roundRobinAssign } from '../../src/broker/groups/assignors.ts';
import {
  decodeServerAssignment,
  encodeSubscription,
  GroupCoordinator,
  type JoinRequest,
  type JoinResponse,
  SERVER_ASSIGNED,
} from '../../src/broker/groups/coordinator.ts';
import type { BrokerError } from '../../src/errors.ts';

function make() {
  let n = 0;
  const changes: string[] = [];
  const c = new GroupCoordinator(
    {
      partitionsOf: (t) => ({ orders: 6, users: 3 })[t] ?? 0,
      newMemberId: (client) => `${client}-${++n}`,
      onGroupChange: (s) => changes.push(`${s.state}:${s.generationId}`),
    },
    { minSessionTimeoutMs: 100 },
  );
  return { c, changes };
}

function joinReq(memberId: string, over: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId: 'g',
    memberId,
    clientId: 'c',
    clientHost: '127.0.0.1',
    protocolType: SERVER_ASSIGNED,
    protocols: [{ name: 'range', metadata: encodeSubscription(['orders']) }],
    sessionTimeoutMs: 1000,
    rebalanceTimeoutMs: 5000,
    requireKnownMemberId: false,
    ...over,
  };
}

/** Collects what a join or sync callback received. */
function box<T>() {
  const b: { value?: T | BrokerError; fn: (v: T | BrokerError) => void } = { fn: (v) => (b.value = v) };
  return b;
}

test('two members join, the broker assigns all partitions with no overlap, heartbeats keep them', () => {
  const { c, changes } = make();
  const a = box<JoinResponse>();
  c.join(joinReq(''), 0, a.fn);
  const ra = a.value as JoinResponse;
  assert.equal(ra.generationId, 1);
  assert.deepEqual(decodeServerAssignment(ra.assignment!), [
    { topic: 'orders', partitions: [0, 1, 2, 3, 4, 5] },
  ]);

  // A second member triggers a rebalance; the first learns through its heartbeat and rejoins.
  const b = box<JoinResponse>();
  c.join(joinReq(''), 10, b.fn);
  assert.equal(b.value, undefined, 'the new member waits for the others to rejoin');
  assert.throws(() => c.heartbeat('g', ra.memberId, 1, 20), { code: 'REBALANCE_IN_PROGRESS' });
  const a2 = box<JoinResponse>();
  c.join(joinReq(ra.memberId), 30, a2.fn);
  const [x, y] = [a2.value as JoinResponse, b.value as unknown as JoinResponse];
  assert.equal(x.generationId, 2);
  assert.equal(y.generationId, 2);
  const owned = [...decodeServerAssignment(x.assignment!), ...decodeServerAssignment(y.assignment!)]
    .flatMap((t) => t.partitions)
    .sort();
  assert.deepEqual(owned, [0, 1, 2, 3, 4, 5], 'every partition owned once');
  c.heartbeat('g', x.memberId, 2, 500);
  assert.throws(() => c.heartbeat('g', x.memberId, 1, 500), { code: 'ILLEGAL_GENERATION' });
  assert.throws(() => c.heartbeat('g', 'nobody', 2, 500), { code: 'UNKNOWN_MEMBER_ID' });
  assert.deepEqual(changes, ['Stable:1', 'Stable:2']);
});

test('a member that misses its session is removed and the rest rebalance', () => {
  const { c } = make();
  const a = box<JoinResponse>();
  c.join(joinReq(''), 0, a.fn);
  const b = box<JoinResponse>();
  c.join(joinReq(''), 0, b.fn);
  const a2 = box<JoinResponse>();
  c.join(joinReq((a.value as JoinResponse).memberId), 0, a2.fn);
  const ida = (a2.value as JoinResponse).memberId;
  const idb = (b.value as JoinResponse).memberId;
  assert.equal(c.nextDeadline(), 1000);
  c.heartbeat('g', ida, 2, 900); // a stays alive, b goes silent
  c.tick(1001);
  assert.equal(c.snapshot('g')!.members.length, 1);
  assert.throws(() => c.heartbeat('g', idb, 2, 1002), { code: 'UNKNOWN_MEMBER_ID' });
  assert.throws(() => c.heartbeat('g', ida, 2, 1002), { code: 'REBALANCE_IN_PROGRESS' });
  const a3 = box<JoinResponse>();
  c.join(joinReq(ida), 1003, a3.fn);
  assert.equal((a3.value as JoinResponse).generationId, 3);
  assert.deepEqual(
    decodeServerAssignment((a3.value as JoinResponse).assignment!)[0].partitions,
    [0, 1, 2, 3, 4, 5],
  );
});

test('the rebalance timeout bounds a join phase: members that never rejoin are dropped', () => {
  const { c } = make();
  const a = box<JoinResponse>();
  c.join(joinReq('', { sessionTimeoutMs: 60_000 }), 0, a.fn);
  const b = box<JoinResponse>();
  c.join(joinReq('', { sessionTimeoutMs: 60_000 }), 100, b.fn); // a is now expected to rejoin within 5000 ms
  // a stays alive (its heartbeats say "rejoin") but never rejoins.
  assert.throws(() => c.heartbeat('g', (a.value as JoinResponse).memberId, 1, 400), {
    code: 'REBALANCE_IN_PROGRESS',
  });
  assert.equal(b.value, undefined);
  c.tick(5099);
  assert.equal(b.value, undefined);
  c.tick(5100);
  const rb = b.value as unknown as JoinResponse;
  assert.equal(rb.generationId, 2);
  assert.equal(c.snapshot('g')!.members.length, 1);
});

test('a clean leave triggers a rebalance; the last leave empties the group', () => {
  const { c, changes } = make();
  const a = box<JoinResponse>();
  c.join(joinReq(''), 0, a.fn);
  assert.deepEqual(
    c
      .leave('g', [{ memberId: (a.value as JoinResponse).memberId }, { memberId: 'ghost' }], 1)
      .map((e) => e?.code ?? null),
    [null, 'UNKNOWN_MEMBER_ID'],
  );
  assert.equal(c.snapshot('g')!.state, 'Empty');
  assert.deepEqual(changes, ['Stable:1', 'Empty:2']);
});

test('client-side assignment (Kafka consumers): the leader gets the members and its sync completes everyone', () => {
  const { c } = make();
  const kafka = (memberId: string) =>
    joinReq(memberId, {
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.from('sub') }],
      requireKnownMemberId: true,
    });
  const first = box<JoinResponse>();
  c.join(kafka(''), 0, first.fn);
  const required = first.value as BrokerError & { memberId: string };
  assert.equal(required.code, 'MEMBER_ID_REQUIRED');
  const a = box<JoinResponse>();
  c.join(kafka(required.memberId), 1, a.fn);
  const ja = a.value as JoinResponse;
  assert.equal(ja.leaderId, ja.memberId);
  assert.deepEqual(
    ja.members.map((m) => m.metadata.toString()),
    ['sub'],
  );
  assert.equal(c.snapshot('g')!.state, 'CompletingRebalance');
  assert.throws(() => c.validateCommit('g', ja.memberId, 1), { code: 'REBALANCE_IN_PROGRESS' });
  const s = box<{ assignment: Buffer }>();
  c.sync(
    {
      groupId: 'g',
      memberId: ja.memberId,
      generationId: 1,
      assignments: [{ memberId: ja.memberId, assignment: Buffer.from('p0') }],
    },
    2,
    s.fn,
  );
  assert.equal((s.value as { assignment: Buffer }).assignment.toString(), 'p0');
  assert.equal(c.snapshot('g')!.state, 'Stable');
  c.validateCommit('g', ja.memberId, 1);
  assert.throws(() => c.validateCommit('g', ja.memberId, 0), { code: 'ILLEGAL_GENERATION' });
  assert.throws(() => c.validateCommit('g', '', -1), { code: 'UNKNOWN_MEMBER_ID' });
  const stale = box<{ assignment: Buffer }>();
  c.sync({ groupId: 'g', memberId: ja.memberId, generationId: 0, assignments: [] }, 3, stale.fn);
  assert.equal((stale.value as BrokerError).code, 'ILLEGAL_GENERATION');
});

test('protocol mismatches and bad session timeouts are refused with their errors', () => {
  const { c } = make();
  c.join(joinReq(''), 0, () => {});
  const r = box<JoinResponse>();
  c.join(joinReq('', { protocolType: 'consumer' }), 0, r.fn);
  assert.equal((r.value as BrokerError).code, 'INCONSISTENT_GROUP_PROTOCOL');
  c.join(
    joinReq('', { protocols: [{ name: 'roundrobin', metadata: encodeSubscription(['orders']) }] }),
    0,
    r.fn,
  );
  assert.equal((r.value as BrokerError).code, 'INCONSISTENT_GROUP_PROTOCOL');
  c.join(joinReq('', { sessionTimeoutMs: 10 }), 0, r.fn);
  assert.equal((r.value as BrokerError).code, 'INVALID_SESSION_TIMEOUT');
  c.join(joinReq('', { groupId: '' }), 0, r.fn);
  assert.equal((r.value as BrokerError).code, 'INVALID_GROUP_ID');
});

test('a restored group keeps its generation; live members go on, silent ones expire', () => {
  const { c } = make();
  const a = box<JoinResponse>();
  c.join(joinReq(''), 0, a.fn);
  const snap = c.snapshot('g')!;
  const { c: c2 } = make();
  c2.restore(snap, 10_000);
  c2.heartbeat('g', (a.value as JoinResponse).memberId, 1, 10_500);
  c2.tick(11_400);
  assert.equal(c2.snapshot('g')!.members.length, 1);
  c2.tick(11_600);
  assert.equal(c2.snapshot('g')!.state, 'Empty');
});

test('range and round-robin assign every partition exactly once, deterministically', () => {
  const members = [
    { memberId: 'c', topics: ['orders', 'users'] },
    { memberId: 'a', topics: ['orders'] },
    { memberId: 'b', topics: ['orders', 'users'] },
  ];
  const parts = (t: string) => (t === 'orders' ? 7 : 3);
  for (const assign of [rangeAssign, roundRobinAssign]) {
    const result = assign(members, parts);
    for (const topic of ['orders', 'users']) {
      const owned = [...result.values()]
        .flatMap((ts) => ts.filter((t) => t.topic === topic).flatMap((t) => t.partitions))
        .sort((x, y) => x - y);
      assert.deepEqual(
        owned,
        Array.from({ length: parts(topic) }, (_, i) => i),
        `${assign.name} ${topic}`,
      );
    }
    assert.ok(!(result.get('a') ?? []).some((t) => t.topic === 'users'), 'only subscribers get a topic');
    assert.deepEqual(assign([...members].reverse(), parts), result, 'order of members does not matter');
  }
  assert.deepEqual(rangeAssign(members, parts).get('a'), [{ topic: 'orders', partitions: [0, 1, 2] }]);
});

/** A ConsumerProtocolSubscription v1: version, topics, user data, then owned partitions (any bytes). */
function consumerSubscription(topics: string[], tail: Buffer = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 1]), Buffer.alloc(4)];
  parts[1].writeInt32BE(topics.length);
  for (const t of topics) {
    const len = Buffer.alloc(2);
    len.writeInt16BE(Buffer.byteLength(t));
    parts.push(len, Buffer.from(t));
  }
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff]), tail);
  return Buffer.concat(parts);
}

test('static members (KIP-345): restarts keep the generation and assignments; changes and mid-assignment rejoins rebalance', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.array(
        fc.record({
          who: fc.nat(),
          kind: fc.constantFrom('restart', 'restart', 'restart', 'resubscribe'),
          skip: fc.boolean(),
          tail: fc.uint8Array({ maxLength: 6 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      (size, steps) => {
        const { c } = make();
        let now = 0;
        const join = (
          instance: string,
          memberId: string,
          topics: string[],
          tail: Uint8Array,
          skip = false,
        ) => {
          const b = box<JoinResponse>();
          c.join(
            joinReq(memberId, {
              groupInstanceId: instance,
              protocolType: 'consumer',
              protocols: [{ name: 'range', metadata: consumerSubscription(topics, Buffer.from(tail)) }],
              requireKnownMemberId: true,
              supportsSkipAssignment: skip,
            }),
            now,
            b.fn,
          );
          return b;
        };
        const ids = new Map<string, string>();
        const assigned = new Map<string, string>();
        // Every member joins (static members need no MEMBER_ID_REQUIRED round); those answered for an
        // earlier generation rejoin, as their heartbeats would tell them to, until all are in one.
        const boxes = Array.from({ length: size }, (_, i) => join(`i${i}`, '', ['orders'], new Uint8Array()));
        for (let round = 0; c.snapshot('g')!.state === 'PreparingRebalance'; round++) {
          assert.ok(round < size, 'the join phase ends');
          for (const [i, b] of boxes.entries()) {
            const answered = b.value as JoinResponse | undefined;
            if (answered) boxes[i] = join(`i${i}`, answered.memberId, ['orders'], new Uint8Array());
          }
        }
        for (const [i, b] of boxes.entries()) {
          const r = b.value as JoinResponse;
          assert.equal(typeof r.memberId, 'string', `member ${i} joined`);
          ids.set(`i${i}`, r.memberId);
        }
        const leader = (boxes[0].value as JoinResponse).leaderId;
        const gen = (boxes[0].value as JoinResponse).generationId;
        // The leader assigns one label per member; followers sync and get theirs.
        const syncs = [...ids.entries()].map(([instance, memberId]) => {
          const s = box<{ assignment: Buffer }>();
          c.sync(
            {
              groupId: 'g',
              memberId,
              generationId: gen,
              groupInstanceId: instance,
              assignments:
                memberId === leader
                  ? [...ids.entries()].map(([inst, id]) => ({ memberId: id, assignment: Buffer.from(inst) }))
                  : [],
            },
            now,
            s.fn,
          );
          return [instance, s] as const;
        });
        for (const [instance, s] of syncs) {
          assert.equal((s.value as { assignment: Buffer }).assignment.toString(), instance);
          assigned.set(instance, instance);
        }
        assert.equal(c.snapshot('g')!.state, 'Stable');
        for (const step of steps) {
          now += 10;
          const instance = `i${step.who % size}`;
          const oldId = ids.get(instance)!;
          const topics = step.kind === 'resubscribe' ? ['orders', 'users'] : ['orders'];
          const r = join(instance, '', topics, step.tail, step.skip).value as JoinResponse | undefined;
          const changed = step.kind === 'resubscribe';
          if (!changed) {
            // No rebalance: the same generation at once, a new member id, the old one fenced.
            assert.ok(r && !(r instanceof Error), 'answered at once');
            assert.equal(r.generationId, gen);
            assert.notEqual(r.memberId, oldId);
            ids.set(instance, r.memberId);
            const snap = c.snapshot('g')!;
            assert.equal(snap.state, 'Stable');
            assert.equal(snap.generationId, gen);
            assert.equal(snap.members.length, size);
            const isLeader = snap.leaderId === r.memberId;
            if (isLeader && step.skip) {
              assert.equal(r.skipAssignment, true);
              assert.equal(r.members.length, size);
            } else {
              assert.notEqual(r.leaderId, r.memberId, 'an old client is not made to assign');
              assert.equal(r.members.length, 0);
            }
            for (const id of ids.values()) c.heartbeat('g', id, gen, now);
            const s = box<{ assignment: Buffer }>();
            c.sync(
              {
                groupId: 'g',
                memberId: r.memberId,
                generationId: gen,
                groupInstanceId: instance,
                assignments: [],
              },
              now,
              s.fn,
            );
            assert.equal((s.value as { assignment: Buffer }).assignment.toString(), assigned.get(instance));
            const stale = box<{ assignment: Buffer }>();
            c.sync(
              {
                groupId: 'g',
                memberId: oldId,
                generationId: gen,
                groupInstanceId: instance,
                assignments: [],
              },
              now,
              stale.fn,
            );
            assert.equal((stale.value as BrokerError).code, 'FENCED_INSTANCE_ID');
            const staleJoin = join(instance, oldId, topics, step.tail).value as BrokerError;
            assert.equal(staleJoin.code, 'FENCED_INSTANCE_ID');
            assert.throws(() => c.heartbeat('g', oldId, gen, now, instance), { code: 'FENCED_INSTANCE_ID' });
            assert.throws(() => c.validateCommit('g', oldId, gen, instance), { code: 'FENCED_INSTANCE_ID' });
            const [left] = c.leave('g', [{ memberId: oldId, groupInstanceId: instance }], now);
            assert.equal(
              left?.code,
              'FENCED_INSTANCE_ID',
              'an old incarnation cannot remove its replacement',
            );
            assert.equal(c.snapshot('g')!.members.length, size);
            c.validateCommit('g', r.memberId, gen, instance);
          } else {
            // A changed subscription rebalances: the others learn it through their heartbeats.
            assert.equal(c.snapshot('g')!.state, size === 1 ? 'CompletingRebalance' : 'PreparingRebalance');
            if (size > 1) {
              const other = [...ids.entries()].find(([i]) => i !== instance)!;
              assert.throws(() => c.heartbeat('g', other[1], gen, now), { code: 'REBALANCE_IN_PROGRESS' });
            }
            return;
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('a static member rejoining while the leader assigns forces a new round, so the leader sees its new id', () => {
  const { c } = make();
  const kafka = (instance: string) =>
    joinReq('', {
      groupInstanceId: instance,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: consumerSubscription(['orders']) }],
      requireKnownMemberId: true,
    });
  const a = box<JoinResponse>();
  c.join(kafka('a'), 0, a.fn);
  const first = a.value as JoinResponse;
  assert.equal(c.snapshot('g')!.state, 'CompletingRebalance');
  const again = box<JoinResponse>();
  c.join(kafka('a'), 1, again.fn);
  const second = again.value as JoinResponse;
  assert.equal(second.generationId, first.generationId + 1, 'a new generation');
  assert.notEqual(second.memberId, first.memberId);
  assert.equal(second.leaderId, second.memberId);
});

test('unload drops a group whose shard moved and tells members waiting on a join NOT_COORDINATOR', () => {
  const { c } = make();
  const a = box<JoinResponse>();
  c.join(joinReq(''), 0, a.fn);
  const first = a.value as JoinResponse;
  c.applyCommit('g', 'orders', 0, { offset: 7, metadata: '', commitTimestampMs: 0, leaderEpoch: -1 });
  // A second member joins: the first is asked to rejoin, and the join waits for it.
  const b = box<JoinResponse>();
  c.join(joinReq('', { clientId: 'd' }), 10, b.fn);
  const waiting = box<JoinResponse>();
  c.join(joinReq('d-2', { clientId: 'd' }), 11, waiting.fn);
  assert.equal(waiting.value, undefined, 'the join waits for the rebalance');
  c.unload('g');
  assert.equal((waiting.value as unknown as BrokerError).code, 'NOT_COORDINATOR');
  assert.equal(c.has('g'), false);
  assert.equal(c.fetchOffset('g', 'orders', 0), null, 'its offsets are the new coordinator’s to load');
  assert.ok(first.memberId);
});
