/**
 * Issue 10's group attack on the real broker process, with raw JoinGroup and SyncGroup frames: 120
 * members with 100 KB of metadata each join one group (each on its own connection), and a member
 * brings more than the per-member bound. The group stops at `groupStateBytesMax`, the refused members
 * get MESSAGE_TOO_LARGE at once, the leader's JoinGroup response stays within the bound, the group's
 * record is stored (it is back after a restart), and the broker restarts with the same topics,
 * directories and about as many descriptors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupMemberMetadataBytesMax, groupStateBytesMax } from '../../src/limits.ts';
import { spawnBroker } from '../helpers/broker-process.ts';
import {
  expectedDirs,
  fdCount,
  type KafkaCaller,
  kafkaCaller,
  partitionDirs,
  strayEntries,
} from '../helpers/node-state.ts';
import { tempDir } from '../helpers/tmp.ts';

const NONE = 0;
const MESSAGE_TOO_LARGE = 10;
const GROUP_MAX_SIZE_REACHED = 81;

const joinBody = (groupId: string, memberId: string, metadata: Buffer) => ({
  groupId,
  sessionTimeoutMs: 60_000,
  rebalanceTimeoutMs: 120_000,
  memberId,
  protocolType: 'consumer',
  protocols: [{ name: 'range', metadata }],
});

async function describe(k: KafkaCaller, groupId: string) {
  const r = await k.call('DescribeGroups', 1, { groups: [groupId] });
  return r.groups[0] as { groupState: string; members: { memberId: string; memberMetadata: Buffer }[] };
}

test('120 members with 100 KB of metadata each: the group stops at its byte bound and is stored', async (t) => {
  const dataDir = await tempDir(t);
  const env = { BROKER_CONSUMER_GROUPS_OFFSETS_PARTITIONS: '2' };
  let broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  const admin = await kafkaCaller(broker.kafkaPort!);
  const members = 120;
  const metadataOf = (i: number) => Buffer.alloc(100 * 1024, i);

  // One member alone in the group is its first generation at once.
  const first = await kafkaCaller(broker.kafkaPort!);
  const a = await first.call('JoinGroup', 3, joinBody('big', '', metadataOf(0)));
  assert.equal(a.errorCode, NONE);

  // The rest join together; each join waits for the rebalance, unless refused.
  const conns = await Promise.all(Array.from({ length: members - 1 }, () => kafkaCaller(broker.kafkaPort!)));
  let refused = 0;
  const joins = conns.map(async (k, i) => {
    const r = await k.call('JoinGroup', 3, joinBody('big', '', metadataOf(i + 1)));
    if (r.errorCode === MESSAGE_TOO_LARGE) refused++;
    return r;
  });
  // Wait (on events: each answer, each DescribeGroups) until every join is refused or in the group.
  for (let polls = 0; ; polls++) {
    const g = await describe(admin, 'big');
    if (g.members.length + refused === members) break;
    assert.ok(polls < 100_000, 'every join was answered or admitted');
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(refused > 0, 'some members were refused');
  // The first member rejoins: the join phase ends and every admitted member gets its answer.
  const again = await first.call('JoinGroup', 3, joinBody('big', a.memberId, metadataOf(0)));
  const answers = await Promise.all(joins);
  const admitted = [again, ...answers.filter((r) => r.errorCode !== MESSAGE_TOO_LARGE)];
  for (const r of admitted) assert.equal(r.errorCode, NONE);
  const leader = admitted.find((r) => r.members.length > 0)!;
  const sent = leader.members.reduce((n: number, m: { metadata: Buffer }) => n + m.metadata.length, 0);
  assert.equal(leader.members.length, admitted.length);
  assert.ok(sent <= groupStateBytesMax, `the leader received ${sent} bytes of metadata`);
  assert.ok(sent + 100 * 1024 > groupStateBytesMax - 64 * 1024, 'the group filled up to its bound');

  // Sync: the leader assigns, everyone gets theirs, the group is Stable and its record stored.
  const byMember = new Map<string, KafkaCaller>([[again.memberId, first]]);
  answers.forEach((r, i) => {
    if (r.errorCode === NONE) byMember.set(r.memberId, conns[i]);
  });
  const syncs = [...byMember].map(([memberId, k]) =>
    k.call('SyncGroup', 3, {
      groupId: 'big',
      generationId: leader.generationId,
      memberId,
      groupInstanceId: null,
      assignments:
        memberId === leader.leader
          ? [...byMember.keys()].map((m) => ({ memberId: m, assignment: Buffer.from(m) }))
          : [],
    }),
  );
  for (const s of await Promise.all(syncs)) assert.equal(s.errorCode, NONE);
  assert.equal((await describe(admin, 'big')).groupState, 'Stable');

  // A member bringing more than one member may: refused at once, nothing changes.
  const huge = await first.call(
    'JoinGroup',
    3,
    joinBody('other', '', Buffer.alloc(groupMemberMetadataBytesMax + 1)),
  );
  assert.equal(huge.errorCode, MESSAGE_TOO_LARGE);
  assert.equal((await describe(admin, 'other')).members.length, 0);

  for (const k of [first, admin, ...conns]) k.close();
  const md = await (async () => {
    const k = await kafkaCaller(broker.kafkaPort!);
    const r = await k.call('Metadata', 9, { topics: null, allowAutoTopicCreation: false });
    k.close();
    return r;
  })();
  const topics = md.topics.map((x: { name: string; partitions: unknown[] }) => ({
    name: x.name,
    partitions: x.partitions.length,
  }));
  const fdsBefore = fdCount(broker.proc.pid!);
  assert.equal(await broker.stop(), 0);
  assert.ok(
    !broker.logs.some((l) => l.msg === 'cannot persist group metadata'),
    'every group record was stored',
  );

  broker = await spawnBroker(dataDir, [], env);
  const k = await kafkaCaller(broker.kafkaPort!);
  t.after(() => k.close());
  const restored = await describe(k, 'big');
  assert.equal(restored.members.length, admitted.length, 'the group record came back whole');
  assert.deepEqual(partitionDirs(dataDir), expectedDirs(topics));
  assert.deepEqual(strayEntries(dataDir), []);
  const fds = fdCount(broker.proc.pid!);
  assert.ok(Math.abs(fds - fdsBefore) <= 16, `${fds} descriptors after the restart, ${fdsBefore} before`);
});

test('consumer_groups.max_size: members past it get GROUP_MAX_SIZE_REACHED, the rest form the group', async (t) => {
  const dataDir = await tempDir(t);
  const maxSize = 5;
  const env = {
    BROKER_CONSUMER_GROUPS_OFFSETS_PARTITIONS: '1',
    BROKER_CONSUMER_GROUPS_MAX_SIZE: String(maxSize),
  };
  const broker = await spawnBroker(dataDir, [], env);
  t.after(() => broker.stop('SIGKILL'));
  const admin = await kafkaCaller(broker.kafkaPort!);
  const first = await kafkaCaller(broker.kafkaPort!);
  const a = await first.call('JoinGroup', 3, joinBody('capped', '', Buffer.from('m')));
  assert.equal(a.errorCode, NONE);
  const conns = await Promise.all(Array.from({ length: 3 * maxSize }, () => kafkaCaller(broker.kafkaPort!)));
  t.after(() => {
    for (const k of [admin, first, ...conns]) k.close();
  });
  let full = 0;
  const joins = conns.map(async (k) => {
    const r = await k.call('JoinGroup', 3, joinBody('capped', '', Buffer.from('m')));
    if (r.errorCode === GROUP_MAX_SIZE_REACHED) full++;
    return r;
  });
  for (let polls = 0; ; polls++) {
    const g = await describe(admin, 'capped');
    if (g.members.length + full === conns.length + 1) break;
    assert.ok(polls < 100_000, 'every join was answered or admitted');
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(full, conns.length + 1 - maxSize);
  const again = await first.call('JoinGroup', 3, joinBody('capped', a.memberId, Buffer.from('m')));
  const admitted = [
    again,
    ...(await Promise.all(joins)).filter((r) => r.errorCode !== GROUP_MAX_SIZE_REACHED),
  ];
  assert.equal(admitted.length, maxSize);
  for (const r of admitted) assert.equal(r.errorCode, NONE);
  assert.equal((await describe(admin, 'capped')).members.length, maxSize);
});
