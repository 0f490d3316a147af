/**
 * ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69) in raw frames against the real broker
 * process: every error a member can be answered (INVALID_REQUEST for bad first heartbeats,
 * UNSUPPORTED_ASSIGNOR, FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNRELEASED_INSTANCE_ID,
 * GROUP_MAX_SIZE_REACHED, GROUP_ID_NOT_FOUND for a classic group with members), the member epoch on
 * OffsetCommit v9 (STALE_MEMBER_EPOCH), the classic APIs' view of a consumer group (ListGroups v5's
 * types filter, DescribeGroups, JoinGroup's INCONSISTENT_GROUP_PROTOCOL) and DeleteGroups.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BrokerClient } from '../../src/client/index.ts';
import { errorCode } from '../../src/protocol/kafka/error-codes.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { kafka } from './raw.ts';

let broker: BrokerProcess;
let dataDir = '';
let k: Awaited<ReturnType<typeof kafka>>;
let topicId = '';
const topic = 'kip848-raw';
const env = { BROKER_CONSUMER_GROUPS_MAX_SIZE: '3' };

before(async () => {
  dataDir = await tempDir();
  broker = await spawnBroker(dataDir, [], env);
  k = await kafka(broker.kafkaPort!);
  const r = await k.call('CreateTopics', 7, {
    topics: [{ name: topic, numPartitions: 3, replicationFactor: 1, assignments: [], configs: [] }],
    timeoutMs: 10_000,
    validateOnly: false,
  });
  assert.equal(r.topics[0].errorCode, 0);
  topicId = r.topics[0].topicId;
});

after(async () => {
  k.close();
  await broker.stop();
});

function join(groupId: string, memberId: string, extra: Record<string, unknown> = {}) {
  return {
    groupId,
    memberId,
    memberEpoch: 0,
    instanceId: null,
    rackId: null,
    rebalanceTimeoutMs: 10_000,
    subscribedTopicNames: [topic],
    subscribedTopicRegex: null,
    serverAssignor: null,
    topicPartitions: [],
    ...extra,
  };
}

function beat(groupId: string, memberId: string, memberEpoch: number, extra: Record<string, unknown> = {}) {
  return {
    ...join(groupId, memberId),
    memberEpoch,
    rebalanceTimeoutMs: -1,
    subscribedTopicNames: null,
    topicPartitions: null,
    ...extra,
  };
}

const hb = (body: Record<string, unknown>, version = 1) => k.call('ConsumerGroupHeartbeat', version, body);

test('a member joins, is assigned every partition by topic id, and is described', async () => {
  const r = await hb(join('g1', 'member-1'));
  assert.equal(r.errorCode, 0, r.errorMessage);
  assert.equal(r.memberId, 'member-1');
  assert.equal(r.memberEpoch, 1);
  assert.equal(r.heartbeatIntervalMs, 5000, "Kafka's group.consumer.heartbeat.interval.ms");
  assert.deepEqual(r.assignment.topicPartitions, [{ topicId, partitions: [0, 1, 2] }]);
  const again = await hb(beat('g1', 'member-1', 1));
  assert.equal(again.errorCode, 0);
  assert.equal(again.assignment, null, 'an unchanged assignment is not sent again');
  // Version 0: the broker makes the member id.
  const v0 = await hb(join('g0', ''), 0);
  assert.equal(v0.errorCode, 0, v0.errorMessage);
  assert.ok(v0.memberId.length > 0);

  const d = await k.call('ConsumerGroupDescribe', 1, {
    groupIds: ['g1', 'nope'],
    includeAuthorizedOperations: false,
  });
  const [g, missing] = d.groups;
  assert.equal(g.errorCode, 0);
  assert.equal(g.groupState, 'Stable');
  assert.equal(g.groupEpoch, 1);
  assert.equal(g.assignmentEpoch, 1);
  assert.equal(g.assignorName, 'uniform');
  assert.equal(g.members[0].memberId, 'member-1');
  assert.equal(g.members[0].memberType, 1);
  assert.deepEqual(g.members[0].subscribedTopicNames, [topic]);
  assert.deepEqual(g.members[0].assignment.topicPartitions, [
    { topicId, topicName: topic, partitions: [0, 1, 2] },
  ]);
  assert.equal(missing.errorCode, errorCode('GROUP_ID_NOT_FOUND'));
});

test('bad first heartbeats, unknown assignors, epochs and members are refused with Kafka’s errors', async () => {
  const cases: [string, Record<string, unknown>, string, number?][] = [
    ['empty member id in v1', join('g2', ''), 'INVALID_REQUEST'],
    ['no subscription', join('g2', 'm', { subscribedTopicNames: [] }), 'INVALID_REQUEST'],
    ['no rebalance timeout', join('g2', 'm', { rebalanceTimeoutMs: -1 }), 'INVALID_REQUEST'],
    [
      'owned partitions on join',
      join('g2', 'm', { topicPartitions: [{ topicId, partitions: [0] }] }),
      'INVALID_REQUEST',
    ],
    ['-2 without an instance id', beat('g1', 'member-1', -2), 'INVALID_REQUEST'],
    ['empty group id', join('', 'm'), 'INVALID_REQUEST'],
    ['an assignor we lack', join('g2', 'm', { serverAssignor: 'sticky' }), 'UNSUPPORTED_ASSIGNOR'],
    [
      'a bad regex',
      join('g2', 'm', { subscribedTopicNames: null, subscribedTopicRegex: '[' }),
      'INVALID_REGULAR_EXPRESSION',
    ],
    ['an epoch ahead', beat('g1', 'member-1', 9), 'FENCED_MEMBER_EPOCH'],
    ['an unknown member', beat('g1', 'ghost', 1), 'UNKNOWN_MEMBER_ID'],
  ];
  for (const [what, body, expected] of cases) {
    const r = await hb(body);
    assert.equal(
      r.errorCode,
      errorCode(expected as Parameters<typeof errorCode>[0]),
      `${what}: ${r.errorMessage}`,
    );
    assert.equal(r.memberEpoch, -1);
  }
});

test('static members: a held instance id is UNRELEASED_INSTANCE_ID; after -2 the new one takes over', async () => {
  const a = await hb(join('g3', 's-1', { instanceId: 'inst' }));
  assert.equal(a.errorCode, 0);
  const b = await hb(join('g3', 's-2', { instanceId: 'inst' }));
  assert.equal(b.errorCode, errorCode('UNRELEASED_INSTANCE_ID'));
  assert.equal((await hb(beat('g3', 's-1', -2, { instanceId: 'inst' }))).errorCode, 0);
  const c = await hb(join('g3', 's-2', { instanceId: 'inst' }));
  assert.equal(c.errorCode, 0);
  assert.equal(c.memberEpoch, a.memberEpoch, 'the new incarnation keeps the epoch');
  assert.deepEqual(c.assignment.topicPartitions, a.assignment.topicPartitions);
});

test('GROUP_MAX_SIZE_REACHED past consumer_groups.max_size', async () => {
  for (const m of ['f-1', 'f-2', 'f-3']) assert.equal((await hb(join('full', m))).errorCode, 0);
  assert.equal((await hb(join('full', 'f-4'))).errorCode, errorCode('GROUP_MAX_SIZE_REACHED'));
});

test('classic and consumer groups do not mix: GROUP_ID_NOT_FOUND and INCONSISTENT_GROUP_PROTOCOL', async () => {
  const classic = await k.call('JoinGroup', 5, {
    groupId: 'classic-g',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 1000,
    memberId: '',
    groupInstanceId: 'classic-static',
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
  });
  assert.equal(classic.errorCode, 0);
  assert.equal((await hb(join('classic-g', 'm'))).errorCode, errorCode('GROUP_ID_NOT_FOUND'));
  const intoConsumer = await k.call('JoinGroup', 5, {
    groupId: 'g1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 1000,
    memberId: '',
    groupInstanceId: 'x',
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
  });
  assert.equal(intoConsumer.errorCode, errorCode('INCONSISTENT_GROUP_PROTOCOL'));
  const listed = await k.call('ListGroups', 5, { statesFilter: [], typesFilter: ['consumer'] });
  const ids = listed.groups.map((g: { groupId: string }) => g.groupId);
  assert.ok(ids.includes('g1') && !ids.includes('classic-g'), String(ids));
  const g1 = listed.groups.find((g: { groupId: string }) => g.groupId === 'g1');
  assert.equal(g1.groupType, 'consumer');
  assert.equal(g1.protocolType, 'consumer');
  const classicOnly = await k.call('ListGroups', 5, { statesFilter: [], typesFilter: ['classic'] });
  assert.deepEqual(
    classicOnly.groups.map((g: { groupId: string }) => g.groupId),
    ['classic-g'],
  );
  const described = await k.call('DescribeGroups', 5, { groups: ['g1'], includeAuthorizedOperations: false });
  assert.equal(described.groups[0].protocolType, 'consumer');
  assert.equal(described.groups[0].members.length, 1);
});

test('OffsetCommit v9 carries the member epoch; DeleteGroups deletes an empty consumer group', async () => {
  const commit = (generationId: number, memberId: string, version = 9) =>
    k.call('OffsetCommit', version, {
      groupId: 'g1',
      generationId,
      memberId,
      groupInstanceId: null,
      topics: [
        { name: topic, partitions: [{ partitionIndex: 0, committedOffset: 0, committedMetadata: null }] },
      ],
    });
  const code = (r: Awaited<ReturnType<typeof commit>>) => r.topics[0].partitions[0].errorCode;
  assert.equal(code(await commit(0, 'member-1')), errorCode('STALE_MEMBER_EPOCH'));
  assert.equal(code(await commit(1, 'ghost')), errorCode('UNKNOWN_MEMBER_ID'));
  assert.equal(code(await commit(1, 'member-1', 8)), errorCode('UNSUPPORTED_VERSION'));
  assert.equal(code(await commit(1, 'member-1')), 0);
  const fetched = await k.call('OffsetFetch', 8, {
    groups: [{ groupId: 'g1', topics: [{ name: topic, partitionIndexes: [0] }] }],
    requireStable: false,
  });
  assert.equal(fetched.groups[0].topics[0].partitions[0].committedOffset, 0);
  const fetchAs = async (memberId: string | null, memberEpoch: number) =>
    (
      await k.call('OffsetFetch', 9, {
        groups: [{ groupId: 'g1', memberId, memberEpoch, topics: [{ name: topic, partitionIndexes: [0] }] }],
        requireStable: false,
      })
    ).groups[0].errorCode;
  assert.equal(await fetchAs('member-1', 1), 0);
  assert.equal(await fetchAs(null, -1), 0, 'an admin client names no member');
  assert.equal(await fetchAs('member-1', 0), errorCode('STALE_MEMBER_EPOCH'));
  assert.equal(await fetchAs('ghost', 1), errorCode('UNKNOWN_MEMBER_ID'));

  const del = () => k.call('DeleteGroups', 2, { groupsNames: ['g1'] });
  assert.equal((await del()).results[0].errorCode, errorCode('NON_EMPTY_GROUP'));
  assert.equal((await hb(beat('g1', 'member-1', -1))).errorCode, 0);
  assert.equal((await del()).results[0].errorCode, 0);
  const d = await k.call('ConsumerGroupDescribe', 0, {
    groupIds: ['g1'],
    includeAuthorizedOperations: false,
  });
  assert.equal(d.groups[0].errorCode, errorCode('GROUP_ID_NOT_FOUND'));
});

test('an empty classic group (offsets only) becomes a consumer group and keeps its offsets', async () => {
  const commit = await k.call('OffsetCommit', 9, {
    groupId: 'converted',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      { name: topic, partitions: [{ partitionIndex: 1, committedOffset: 7, committedMetadata: null }] },
    ],
  });
  assert.equal(commit.topics[0].partitions[0].errorCode, 0);
  const r = await hb(join('converted', 'c-1'));
  assert.equal(r.errorCode, 0, r.errorMessage);
  const fetched = await k.call('OffsetFetch', 9, {
    groups: [
      {
        groupId: 'converted',
        memberId: 'c-1',
        memberEpoch: r.memberEpoch,
        topics: [{ name: topic, partitionIndexes: [1] }],
      },
    ],
    requireStable: false,
  });
  assert.equal(fetched.groups[0].topics[0].partitions[0].committedOffset, 7);
  const listed = await k.call('ListGroups', 5, { statesFilter: [], typesFilter: [] });
  const mine = listed.groups.filter((g: { groupId: string }) => g.groupId === 'converted');
  assert.deepEqual(
    mine.map((g: { groupType: string }) => g.groupType),
    ['consumer'],
    'listed once, as a consumer group',
  );
  // OffsetDelete keeps the offsets of a topic a member subscribes to.
  const deleted = await k.call('OffsetDelete', 0, {
    groupId: 'converted',
    topics: [{ name: topic, partitions: [{ partitionIndex: 1 }] }],
  });
  assert.equal(deleted.errorCode, 0);
  assert.equal(deleted.topics[0].partitions[0].errorCode, errorCode('GROUP_SUBSCRIBED_TO_TOPIC'));
  // The gRPC door sees the same group (DESIGN.md decision 2).
  const grpc = await BrokerClient.connect(broker.grpcAddress);
  try {
    const g = (await grpc.listGroups()).find((x) => x.groupId === 'converted');
    assert.deepEqual(g, { groupId: 'converted', state: 'Stable', protocolType: 'consumer', members: 1 });
    const d = await grpc.describeGroup('converted');
    assert.equal(d.strategy, 'uniform');
    assert.deepEqual(d.members[0].assignments, [{ topic, partitions: [0, 1, 2] }]);
    assert.deepEqual(
      d.offsets.map((o) => [o.partition, o.committedOffset]),
      [
        [0, -1],
        [1, 7],
        [2, -1],
      ],
    );
  } finally {
    grpc.close();
  }
});

test('the members, epochs and assignments of a group survive a broker restart', async () => {
  const before = await hb(join('durable', 'd-1'));
  assert.equal(before.errorCode, 0);
  const two = await hb(join('durable', 'd-2'));
  assert.equal(two.memberEpoch, 2);
  // d-1 is told to revoke one partition for d-2 and has not yet confirmed.
  const revoking = await hb(beat('durable', 'd-1', 1));
  assert.equal(revoking.memberEpoch, 1);
  k.close();
  assert.equal(await broker.stop('SIGTERM'), 0);
  broker = await spawnBroker(dataDir, [], env);
  k = await kafka(broker.kafkaPort!);
  // The restarted coordinator knows both members at their epochs: d-1 confirms its revocation.
  const done = await hb(beat('durable', 'd-1', 1, { topicPartitions: revoking.assignment.topicPartitions }));
  assert.equal(done.errorCode, 0, done.errorMessage);
  assert.equal(done.memberEpoch, 2);
  const d2 = await hb(beat('durable', 'd-2', 2));
  assert.equal(d2.errorCode, 0, d2.errorMessage);
  const owned = [
    ...revoking.assignment.topicPartitions[0].partitions,
    ...d2.assignment.topicPartitions[0].partitions,
  ];
  assert.deepEqual(owned.sort(), [0, 1, 2]);
});
