/**
 * The versions Kafka 4 advertises, on the real broker process over raw frames (issue 16 section 3): Fetch by
 * topic id (13-17), including an id no topic has and the id of a topic deleted and created again; Produce,
 * ListOffsets and Metadata at their new maxima.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { API_KEYS, APIS } from '../../src/protocol/kafka/apis/index.ts';
import { KAFKA_ERRORS } from '../../src/protocol/kafka/error-codes.ts';
import { decodeBatch, encodeBatch, forEachBatch } from '../../src/records/batch.ts';
import { type KafkaCaller, requestFrame } from '../kafka/helpers.ts';
import { brokerProcess, kafka } from './raw.ts';

const maxVersion = (name: keyof typeof API_KEYS) => APIS.get(API_KEYS[name])!.maxVersion;

async function createTopic(k: KafkaCaller, name: string, partitions = 1): Promise<void> {
  const r = await k.call('CreateTopics', 7, {
    topics: [{ name, numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(r.topics[0].errorCode, 0, `create ${name}`);
}

async function topicId(k: KafkaCaller, name: string): Promise<string> {
  const r = await k.call('Metadata', 12, {
    topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name }],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  assert.equal(r.topics[0].errorCode, 0);
  return r.topics[0].topicId;
}

/** Produces one batch to partition 0: of these values, or these encoded records. */
async function produce(k: KafkaCaller, version: number, topic: string, values: string[] | Buffer) {
  const records = Buffer.isBuffer(values)
    ? values
    : encodeBatch({ records: values.map((v) => ({ value: Buffer.from(v) })) });
  const r = await k.call('Produce', version, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
  return r.responses[0].partitionResponses[0];
}

/** Commits offset 10 + p for each partition p of a topic; answers each partition's error code. */
async function commitOffsets(
  k: KafkaCaller,
  version: number,
  group: { groupId: string; generationId: number; memberId: string },
  topic: string | { topicId: string },
  partitions: number[],
): Promise<number[]> {
  const r = await k.call('OffsetCommit', version, {
    ...group,
    groupInstanceId: null,
    topics: [
      {
        ...(typeof topic === 'string' ? { name: topic } : topic),
        partitions: partitions.map((p) => ({
          partitionIndex: p,
          committedOffset: 10 + p,
          committedLeaderEpoch: -1,
          committedMetadata: `v${version}`,
        })),
      },
    ],
  });
  return r.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode);
}

/** A Fetch from offset 0 of the partitions named, each topic by id (`topicId`) or, before v13, by name. */
function fetchFromStart(
  k: KafkaCaller,
  version: number,
  topics: (({ topicId: string } | { topic: string }) & { partitions: number[] })[],
  forgotten: { topicId: string; partitions: number[] }[] = [],
) {
  return k.call('Fetch', version, {
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1 },
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: topics.map((t) => ({
      ...t,
      partitions: t.partitions.map((partition) => ({
        partition,
        currentLeaderEpoch: -1,
        fetchOffset: 0,
        lastFetchedEpoch: -1,
        logStartOffset: -1,
        partitionMaxBytes: 1 << 20,
      })),
    })),
    forgottenTopicsData: forgotten,
    rackId: '',
  });
}

/** The values of the records in a partition's fetched bytes. */
function values(records: Buffer | null): string[] {
  const out: string[] = [];
  if (records)
    forEachBatch(records, (pos) => {
      for (const r of decodeBatch(records, pos).records) out.push(r.value ? r.value.toString() : '');
    });
  return out;
}

test('Fetch 13-17 reads by topic id, answers with the id, and refuses an unknown id with UNKNOWN_TOPIC_ID', async (t) => {
  assert.equal(maxVersion('Fetch'), 17);
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'by-id', 2);
  await createTopic(k, 'other');
  const id = await topicId(k, 'by-id');
  const otherId = await topicId(k, 'other');
  assert.notEqual(id, otherId);
  assert.equal((await produce(k, 9, 'by-id', ['a', 'b'])).errorCode, 0);
  assert.equal((await produce(k, 9, 'other', ['x'])).errorCode, 0);
  const unknown = randomUUID();
  for (let v = 13; v <= 17; v++) {
    const r = await fetchFromStart(
      k,
      v,
      [
        { topicId: id, partitions: [0, 1] },
        { topicId: unknown, partitions: [0] },
        { topicId: otherId, partitions: [0] },
      ],
      // Forgotten topics mean nothing to a sessionless full fetch; they must not change its answer.
      [{ topicId: otherId, partitions: [0] }],
    );
    assert.equal(r.errorCode, 0, `v${v}`);
    assert.deepEqual(
      r.responses.map((x: { topicId: string }) => x.topicId),
      [id, unknown, otherId],
      `v${v}: one response per topic, named by id`,
    );
    const [mine, missing, other] = r.responses;
    assert.deepEqual(
      mine.partitions.map((p: { partitionIndex: number; errorCode: number }) => [
        p.partitionIndex,
        p.errorCode,
      ]),
      [
        [0, 0],
        [1, 0],
      ],
    );
    assert.deepEqual(values(mine.partitions[0].records), ['a', 'b'], `v${v}`);
    assert.equal(mine.partitions[0].highWatermark, 2);
    assert.deepEqual(values(mine.partitions[1].records), []);
    assert.equal(missing.partitions[0].errorCode, KAFKA_ERRORS.UNKNOWN_TOPIC_ID.code, `v${v}`);
    assert.equal(missing.partitions[0].highWatermark, -1);
    assert.deepEqual(values(other.partitions[0].records), ['x']);
  }
  // A partition that the topic does not have is still UNKNOWN_TOPIC_OR_PARTITION.
  const r = await fetchFromStart(k, 17, [{ topicId: id, partitions: [5] }]);
  assert.equal(r.responses[0].partitions[0].errorCode, KAFKA_ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code);
  // Version 12 still names topics by name.
  const old = await fetchFromStart(k, 12, [{ topic: 'by-id', partitions: [0] }]);
  assert.equal(old.responses[0].topic, 'by-id');
  assert.deepEqual(values(old.responses[0].partitions[0].records), ['a', 'b']);
});

test('Fetch by topic id: a topic deleted and created again under its name has a new id; the old one is unknown', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'reborn');
  const oldId = await topicId(k, 'reborn');
  assert.equal((await produce(k, 9, 'reborn', ['before'])).errorCode, 0);
  const d = await k.call('DeleteTopics', 6, {
    topics: [{ name: 'reborn', topicId: oldId }],
    timeoutMs: 5000,
  });
  assert.equal(d.responses[0].errorCode, 0);
  // Deleted: the id is unknown.
  let r = await fetchFromStart(k, 17, [{ topicId: oldId, partitions: [0] }]);
  assert.equal(r.responses[0].partitions[0].errorCode, KAFKA_ERRORS.UNKNOWN_TOPIC_ID.code);
  await createTopic(k, 'reborn');
  const newId = await topicId(k, 'reborn');
  assert.notEqual(newId, oldId);
  assert.equal((await produce(k, 9, 'reborn', ['after'])).errorCode, 0);
  r = await fetchFromStart(k, 17, [
    { topicId: oldId, partitions: [0] },
    { topicId: newId, partitions: [0] },
  ]);
  assert.equal(r.responses[0].topicId, oldId);
  assert.equal(
    r.responses[0].partitions[0].errorCode,
    KAFKA_ERRORS.UNKNOWN_TOPIC_ID.code,
    'the old id is gone',
  );
  assert.equal(r.responses[1].topicId, newId);
  assert.equal(r.responses[1].partitions[0].errorCode, 0);
  assert.deepEqual(values(r.responses[1].partitions[0].records), ['after'], 'only the new topic’s records');
});

test('Produce 10-12 appends and answers base offsets, with no CurrentLeader for a partition this node leads', async (t) => {
  assert.equal(maxVersion('Produce'), 12);
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'produced');
  let next = 0;
  for (let v = 10; v <= 12; v++) {
    const p = await produce(k, v, 'produced', [`v${v}a`, `v${v}b`]);
    assert.equal(p.errorCode, 0, `v${v}`);
    assert.equal(p.baseOffset, next, `v${v}`);
    assert.equal(p.logStartOffset, 0);
    assert.deepEqual(p.currentLeader, { leaderId: -1, leaderEpoch: -1 });
    next += 2;
  }
  const id = await topicId(k, 'produced');
  const r = await fetchFromStart(k, 17, [{ topicId: id, partitions: [0] }]);
  assert.deepEqual(values(r.responses[0].partitions[0].records), [
    'v10a',
    'v10b',
    'v11a',
    'v11b',
    'v12a',
    'v12b',
  ]);
  // Auto-creation (on by default) works at the new versions too; an internal topic is still refused.
  const created = await produce(k, 12, 'made-by-produce', ['x']);
  assert.deepEqual([created.errorCode, created.baseOffset], [0, 0]);
  const internal = await produce(k, 12, '__consumer_offsets', ['x']);
  assert.equal(internal.errorCode, KAFKA_ERRORS.INVALID_TOPIC_EXCEPTION.code);
});

test('ListOffsets 8-10: latest, earliest, max timestamp, by time, earliest local (-4) and last tiered (-5, none)', async (t) => {
  assert.equal(maxVersion('ListOffsets'), 10);
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'offsets');
  // Three records at known times, the largest in the middle.
  const base = Date.now() - 60_000;
  const records = encodeBatch({
    records: [
      { value: Buffer.from('a'), timestamp: base },
      { value: Buffer.from('b'), timestamp: base + 2000 },
      { value: Buffer.from('c'), timestamp: base + 1000 },
    ],
  });
  assert.equal((await produce(k, 12, 'offsets', records)).errorCode, 0);
  const query = [-1, -2, -3, base + 500, base + 5000, -4, -5];
  for (let v = 8; v <= 10; v++) {
    const r = await k.call('ListOffsets', v, {
      replicaId: -1,
      isolationLevel: 0,
      topics: [
        {
          name: 'offsets',
          partitions: query
            .filter((ts) => ts !== -5 || v >= 9)
            .map((timestamp) => ({ partitionIndex: 0, currentLeaderEpoch: -1, timestamp })),
        },
      ],
      timeoutMs: 1000,
    });
    const got = r.topics[0].partitions.map((x: { errorCode: number; offset: number; timestamp: number }) => [
      x.errorCode,
      x.offset,
      x.timestamp,
    ]);
    const want = [
      [0, 3, -1], // latest: the high watermark
      [0, 0, -1], // earliest
      [0, 1, base + 2000], // the record with the largest timestamp
      [0, 1, base + 2000], // the first record at or after the time
      [0, -1, -1], // after every record: none
      [0, 0, -1], // earliest local: the earliest, with no tiered storage
      [0, -1, -1], // last tiered: none
    ].slice(0, v >= 9 ? 7 : 6);
    assert.deepEqual(got, want, `v${v}`);
  }
});

test('Metadata 13 answers as 12 did, plus a top-level error code of 0 at the end of the body', async (t) => {
  assert.equal(maxVersion('Metadata'), 13);
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'described', 3);
  const id = await topicId(k, 'described');
  const zero = '00000000-0000-0000-0000-000000000000';
  const unknown = randomUUID();
  const body = {
    topics: [
      { topicId: zero, name: 'described' },
      { topicId: id, name: null },
      { topicId: unknown, name: null },
    ],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  };
  const r = await k.call('Metadata', 13, body);
  assert.equal(r.errorCode, 0);
  assert.equal(r.brokers.length, 1);
  assert.deepEqual(
    r.topics.map((x: { errorCode: number; name: string | null; topicId: string; partitions: unknown[] }) => [
      x.errorCode,
      x.name,
      x.topicId,
      x.partitions.length,
    ]),
    [
      [0, 'described', id, 3],
      [0, 'described', id, 3],
      [KAFKA_ERRORS.UNKNOWN_TOPIC_ID.code, null, unknown, 0],
    ],
  );
  // On the wire, v13 is v12's body with the int16 error code before the final (empty) tag section.
  const raw = async (v: number) => {
    k.raw.write(requestFrame('Metadata', v, 1000 + v, body));
    return (await k.raw.next())!;
  };
  const [v12, v13] = [await raw(12), await raw(13)];
  assert.equal(v13.length, v12.length + 2);
  assert.deepEqual([...v13.subarray(v13.length - 3)], [0, 0, 0]);
  assert.deepEqual(v13.subarray(0, v13.length - 3).subarray(4), v12.subarray(0, v12.length - 1).subarray(4));
});

test('OffsetCommit 9 refuses a generation in a group that does not exist with GROUP_ID_NOT_FOUND; OffsetFetch 9 reads commits', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'committed', 2);
  const commit = (version: number, groupId: string, generationId: number, memberId: string) =>
    commitOffsets(k, version, { groupId, generationId, memberId }, 'committed', [0, 1]);
  const notFound = KAFKA_ERRORS.GROUP_ID_NOT_FOUND.code;
  assert.deepEqual(await commit(9, 'nobody', 3, 'member-1'), [notFound, notFound]);
  // Before 9 the answer is as it was (the member is unknown).
  const unknownMember = KAFKA_ERRORS.UNKNOWN_MEMBER_ID.code;
  assert.deepEqual(await commit(8, 'nobody-8', 3, 'member-1'), [unknownMember, unknownMember]);
  // Without a generation (an admin tool), a commit creates the group at 9 as before.
  assert.deepEqual(await commit(9, 'tool', -1, ''), [0, 0]);
  // Now that the group exists, a stale generation is a member error, not GROUP_ID_NOT_FOUND.
  assert.deepEqual(await commit(9, 'tool', 3, 'member-1'), [unknownMember, unknownMember]);
  // OffsetFetch 9: the member id and epoch (KIP-848) do not matter to a classic group.
  for (const [memberId, memberEpoch] of [
    [null, -1],
    ['member-1', 7],
  ] as const) {
    const f = await k.call('OffsetFetch', 9, {
      groups: [
        { groupId: 'tool', memberId, memberEpoch, topics: [{ name: 'committed', partitionIndexes: [0, 1] }] },
        { groupId: 'nobody', memberId, memberEpoch, topics: null },
      ],
      requireStable: false,
    });
    assert.deepEqual(
      f.groups.map((g: { groupId: string; errorCode: number }) => [g.groupId, g.errorCode]),
      [
        ['tool', 0],
        ['nobody', 0],
      ],
    );
    assert.deepEqual(
      f.groups[0].topics[0].partitions.map((p: { committedOffset: number; metadata: string }) => [
        p.committedOffset,
        p.metadata,
      ]),
      [
        [10, 'v9'],
        [11, 'v9'],
      ],
    );
    assert.deepEqual(
      f.groups[1].topics,
      [],
      'nothing was committed for the group GROUP_ID_NOT_FOUND refused',
    );
  }
});

test('FindCoordinator 6, ListGroups 5 and DescribeGroups 6: share keys refused, groups typed classic, unknown groups not found', async (t) => {
  assert.equal(maxVersion('FindCoordinator'), 6);
  assert.equal(maxVersion('ListGroups'), 5);
  assert.equal(maxVersion('DescribeGroups'), 6);
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'grouped');
  // A group made by a commit without a generation (as an admin tool makes one).
  assert.deepEqual(
    await commitOffsets(k, 9, { groupId: 'listed', generationId: -1, memberId: '' }, 'grouped', [0]),
    [0],
  );

  for (const v of [4, 5, 6]) {
    const f = await k.call('FindCoordinator', v, { keyType: 0, coordinatorKeys: ['listed'] });
    assert.deepEqual(
      f.coordinators.map((x: { key: string; nodeId: number; port: number; errorCode: number }) => [
        x.key,
        x.port,
        x.errorCode,
      ]),
      [['listed', broker.kafkaPort, 0]],
      `v${v}`,
    );
  }
  // A share group's key (KIP-932): there is no share coordinator, so INVALID_REQUEST, as Kafka answers.
  const share = await k.call('FindCoordinator', 6, { keyType: 2, coordinatorKeys: ['g:topic:0'] });
  assert.equal(share.coordinators[0].errorCode, KAFKA_ERRORS.INVALID_REQUEST.code);
  assert.equal(share.coordinators[0].nodeId, -1);
  assert.match(share.coordinators[0].errorMessage, /share groups/);

  const list = async (typesFilter: string[]) =>
    (await k.call('ListGroups', 5, { statesFilter: [], typesFilter })).groups.map(
      (g: { groupId: string; groupState: string; groupType: string }) => [
        g.groupId,
        g.groupState,
        g.groupType,
      ],
    );
  assert.deepEqual(await list([]), [['listed', 'Empty', 'classic']]);
  assert.deepEqual(await list(['Classic']), [['listed', 'Empty', 'classic']]);
  assert.deepEqual(await list(['consumer', 'share']), []);

  const describe = async (v: number) =>
    (await k.call('DescribeGroups', v, { groups: ['listed', 'absent'], includeAuthorizedOperations: false }))
      .groups as { groupId: string; errorCode: number; errorMessage: string | null; groupState: string }[];
  const d6 = await describe(6);
  assert.deepEqual(
    d6.map((g) => [g.groupId, g.errorCode, g.errorMessage, g.groupState]),
    [
      ['listed', 0, null, 'Empty'],
      ['absent', KAFKA_ERRORS.GROUP_ID_NOT_FOUND.code, 'Group absent not found.', 'Dead'],
    ],
  );
  // Before 6 an unknown group is Dead without an error, as Kafka answers.
  const d5 = await describe(5);
  assert.deepEqual(
    d5.map((g) => [g.groupId, g.errorCode, g.groupState]),
    [
      ['listed', 0, 'Empty'],
      ['absent', 0, 'Dead'],
    ],
  );
});

test('OffsetCommit and OffsetFetch 10 name topics by id: unknown ids refused with UNKNOWN_TOPIC_ID, commits kept by topic', async (t) => {
  assert.equal(maxVersion('OffsetCommit'), 10);
  assert.equal(maxVersion('OffsetFetch'), 10);
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  await createTopic(k, 'by-id-commits', 2);
  await createTopic(k, 'gone');
  const id = await topicId(k, 'by-id-commits');
  const goneId = await topicId(k, 'gone');
  const tool = { groupId: 'id-tool', generationId: -1, memberId: '' };
  // Commit to 'gone' by name, then delete it: its id no longer names a topic.
  assert.deepEqual(await commitOffsets(k, 9, tool, 'gone', [0]), [0]);
  const d = await k.call('DeleteTopics', 6, { topics: [{ name: null, topicId: goneId }], timeoutMs: 5000 });
  assert.equal(d.responses[0].errorCode, 0);
  const unknown = KAFKA_ERRORS.UNKNOWN_TOPIC_ID.code;
  const c = await k.call('OffsetCommit', 10, {
    ...tool,
    groupInstanceId: null,
    topics: [
      {
        topicId: id,
        partitions: [0, 1].map((p) => ({
          partitionIndex: p,
          committedOffset: 20 + p,
          committedLeaderEpoch: -1,
          committedMetadata: 'v10',
        })),
      },
      {
        topicId: goneId,
        partitions: [
          { partitionIndex: 0, committedOffset: 5, committedLeaderEpoch: -1, committedMetadata: '' },
        ],
      },
    ],
  });
  assert.deepEqual(
    c.topics.map((x: { topicId: string; partitions: { errorCode: number }[] }) => [
      x.topicId,
      x.partitions.map((p) => p.errorCode),
    ]),
    [
      [id, [0, 0]],
      [goneId, [unknown]],
    ],
  );
  // Read back by name at v9: the v10 commit is stored under the topic it resolved to.
  const f9 = await k.call('OffsetFetch', 9, {
    groups: [
      {
        groupId: 'id-tool',
        memberId: null,
        memberEpoch: -1,
        topics: [{ name: 'by-id-commits', partitionIndexes: [0, 1] }],
      },
    ],
    requireStable: false,
  });
  assert.deepEqual(
    f9.groups[0].topics[0].partitions.map((p: { committedOffset: number }) => p.committedOffset),
    [20, 21],
  );
  // By id at v10: the known id answers its offsets, the deleted topic's id UNKNOWN_TOPIC_ID.
  const f10 = await k.call('OffsetFetch', 10, {
    groups: [
      {
        groupId: 'id-tool',
        memberId: null,
        memberEpoch: -1,
        topics: [
          { topicId: id, partitionIndexes: [0, 1] },
          { topicId: goneId, partitionIndexes: [0] },
        ],
      },
    ],
    requireStable: false,
  });
  const answer = (
    topics: { topicId: string; partitions: { committedOffset: number; errorCode: number }[] }[],
  ) => topics.map((x) => [x.topicId, x.partitions.map((p) => [p.committedOffset, p.errorCode])]);
  assert.deepEqual(answer(f10.groups[0].topics), [
    [
      id,
      [
        [20, 0],
        [21, 0],
      ],
    ],
    [goneId, [[-1, unknown]]],
  ]);
  // All of the group's topics: only those that exist, by id (the deleted topic's offsets have no id).
  const all = await k.call('OffsetFetch', 10, {
    groups: [{ groupId: 'id-tool', memberId: null, memberEpoch: -1, topics: null }],
    requireStable: false,
  });
  assert.deepEqual(
    all.groups[0].topics.map((x: { topicId: string }) => x.topicId),
    [id],
  );
});

test('ApiVersions 4 advertises every API at its Kafka 4 maximum, keeping the older versions our clients send', async (t) => {
  const broker = await brokerProcess(t);
  const k = await kafka(broker.kafkaPort!);
  t.after(() => k.close());
  const r = await k.call('ApiVersions', 4, { clientSoftwareName: 'probe', clientSoftwareVersion: '1' });
  assert.equal(r.errorCode, 0);
  const ranges = Object.fromEntries(
    r.apiKeys.map((a: { apiKey: number; minVersion: number; maxVersion: number }) => [
      a.apiKey,
      `${a.minVersion}-${a.maxVersion}`,
    ]),
  );
  // Kafka 4's maxima; the minima below Kafka 4's (KIP-896 removed 0-2 of Produce, 0-1 of OffsetCommit, ...)
  // stay for librdkafka, which enables groups and compression only when version 0 is advertised, and for
  // kafka-python 2.0.2 and librdkafka 2.0.2, which send old versions.
  assert.deepEqual(ranges, {
    0: '0-12', // Produce
    1: '4-17', // Fetch
    2: '1-10', // ListOffsets
    3: '0-13', // Metadata
    8: '0-10', // OffsetCommit
    9: '0-10', // OffsetFetch
    10: '0-6', // FindCoordinator
    11: '0-9', // JoinGroup
    12: '0-4', // Heartbeat
    13: '0-5', // LeaveGroup
    14: '0-5', // SyncGroup
    15: '0-6', // DescribeGroups
    16: '0-5', // ListGroups
    18: '0-4', // ApiVersions
    19: '0-7', // CreateTopics
    20: '0-6', // DeleteTopics
    22: '0-5', // InitProducerId
    32: '0-4', // DescribeConfigs
    21: '0-2', // DeleteRecords
    33: '0-2', // AlterConfigs
    35: '0-4', // DescribeLogDirs
    37: '0-3', // CreatePartitions
    42: '0-2', // DeleteGroups
    43: '0-2', // ElectLeaders
    44: '0-1', // IncrementalAlterConfigs
    45: '0-1', // AlterPartitionReassignments
    46: '0-0', // ListPartitionReassignments
    47: '0-0', // OffsetDelete
    60: '0-1', // DescribeCluster
    61: '0-0', // DescribeProducers
    68: '0-1', // ConsumerGroupHeartbeat
    69: '0-1', // ConsumerGroupDescribe
  });
});
