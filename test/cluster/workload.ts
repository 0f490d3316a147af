/**
 * The workload the cluster tests share (issues 12 and 14): producers that record what was
 * acknowledged, a kafkajs consumer group that records deliveries and commits, reading a partition back,
 * and Jepsen's checks of the group's history against the logs.
 */
import assert from 'node:assert/strict';
import { type Admin, type Consumer, Kafka, logLevel } from 'kafkajs';
import { BrokerClient } from '../../src/client/index.ts';
import type { RunningCluster } from '../../src/start-cluster.ts';
import { within } from '../compat/helpers.ts';
import { kafkaCaller } from '../kafka/helpers.ts';

export interface PartitionMeta {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
}

/** The partitions of `topic` as the Kafka Metadata of a running node of `cluster` reports them. */
export async function metadataOf(cluster: RunningCluster, topic: string): Promise<PartitionMeta[]> {
  const node = cluster.nodes.find((n) => n.running);
  assert.ok(node, 'a node runs');
  const k = await kafkaCaller(node.kafkaPort);
  try {
    const md = await k.call('Metadata', 12, {
      topics: [{ name: topic, topicId: '00000000-0000-0000-0000-000000000000' }],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
    return md.topics[0].partitions
      .map(
        (p: {
          partitionIndex: number;
          leaderId: number;
          leaderEpoch: number;
          replicaNodes: number[];
          isrNodes: number[];
        }) => ({
          partition: p.partitionIndex,
          leader: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
        }),
      )
      .sort((a: PartitionMeta, b: PartitionMeta) => a.partition - b.partition);
  } finally {
    k.close();
  }
}

/** A kafkajs client of `cluster` with retries for failovers. */
export function kafkaOf(cluster: RunningCluster, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: cluster.nodes.map((n) => n.kafkaAddress),
    logLevel: logLevel.NOTHING,
    retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 },
    requestTimeout: 15_000,
  });
}

export interface Acked {
  partition: number;
  offset: number;
  value: string;
  /** When the acknowledgement arrived (wall clock, ms): for the diagnostic of gaps in availability. */
  atMs: number;
}

/** A producer that writes until stopped, recording each acknowledged record with its offset. */
export function runProducer(
  name: string,
  send: (value: string) => Promise<{ partition: number; offset: number }>,
) {
  const acked: Acked[] = [];
  let errors = 0;
  let stop = false;
  let i = 0;
  const done = (async () => {
    while (!stop) {
      const value = `${name}-${i++}`;
      try {
        const r = await send(value);
        acked.push({ ...r, value, atMs: Date.now() });
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  return {
    acked,
    get errors() {
      return errors;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

/** Every record of `topic-partition` from offset 0, read through a node that leads it. */
export async function readAllOf(
  cluster: RunningCluster,
  topic: string,
  partition: number,
): Promise<{ offset: number; value: string }[]> {
  const md = await metadataOf(cluster, topic);
  const leader = cluster.node(md[partition].leader);
  const client = await BrokerClient.connect([leader.grpcAddress]);
  try {
    const out: { offset: number; value: string }[] = [];
    let offset = 0;
    for (;;) {
      const r = await client.consumeBatch(topic, offset, { partition, maxRecords: 5000, maxWaitMs: 0 });
      if (r.records.length === 0) break;
      for (const m of r.records) out.push({ offset: m.offset, value: String(m.value) });
      offset = r.nextOffset;
    }
    return out;
  } finally {
    client.close();
  }
}

/** One delivery to the group, or one commit the coordinator acknowledged, in the order they happened. */
export type GroupEvent =
  | { seq: number; kind: 'delivered'; partition: number; offset: number; value: string; atMs: number }
  | { seq: number; kind: 'committed'; partition: number; offset: number; atMs: number };

/**
 * A kafkajs consumer group of one member reading `topic` from the beginning through the faults. After
 * each batch it commits the offset after the last record it processed, one attempt (a failed commit is
 * recorded, and the next batch's commit covers it); a commit is recorded once acknowledged, and none is
 * made below one it had acknowledged. Each join of the group is recorded in the same order, with when
 * its SyncGroup was sent (the member's positions after it are the committed offsets the coordinator
 * answers to OffsetFetch requests sent after that), and so is each reset after OFFSET_OUT_OF_RANGE,
 * from kafkajs's log. Meanwhile an admin client reads the
 * group's committed offsets back every 500 ms, as the coordinator answers them, each answer with the
 * place in the history where its request was sent.
 */
export async function runGroupOf(cluster: RunningCluster, topic: string, groupId: string) {
  // Few retries: kafkajs retries a request to its cached coordinator, and a killed coordinator refuses
  // connections; with the producers' 30 retries the member would spend half a minute on the dead node
  // before it crashes, restarts and asks FindCoordinator again.
  /** The place in the history: deliveries, commits and joins take the next number. */
  let seq = 0;
  const resets: string[] = [];
  const kjs = new Kafka({
    clientId: 'jepsen-group',
    brokers: cluster.nodes.map((n) => n.kafkaAddress),
    logLevel: logLevel.ERROR,
    logCreator:
      () =>
      ({ log }) => {
        if (log.message.startsWith('Offset out of range'))
          resets.push(`${String(log.topic)}-${String(log.partition)} at #${seq}: ${log.message}`);
      },
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    requestTimeout: 15_000,
  });
  const consumer: Consumer = kjs.consumer({
    groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
    metadataMaxAge: 1000,
  });
  // Its own client with few retries: a poll that fails is simply made again 500 ms later, and a poll
  // must not outlive its turn (kafkajs would retry for half a minute).
  const admin: Admin = new Kafka({
    clientId: 'jepsen-offsets-poller',
    brokers: cluster.nodes.map((n) => n.kafkaAddress),
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
    requestTimeout: 3000,
  }).admin();
  let polls = 0;
  let pollsFailed = 0;
  const events: GroupEvent[] = [];
  const commitErrors: string[] = [];
  const crashes: string[] = [];
  /** The group's committed offsets as OffsetFetch answered them, per partition, in order. */
  const fetched = new Map<number, number[]>();
  /** Every OffsetFetch answer, with the `seq` of the history when its request was sent. */
  const answers: { sentAt: number; partition: number; offset: number }[] = [];
  /** The `seq` of the history at each join of the group. */
  const joins: number[] = [];
  /** When the member sent each SyncGroup that was answered, with the `seq` of the history then. */
  const syncs: { seq: number; sentAtMs: number }[] = [];
  consumer.on(consumer.events.CRASH, (e) => crashes.push(String(e.payload.error)));
  /** The highest commit acknowledged, per partition. */
  const committedHere = new Map<number, number>();
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joins.push(seq++);
  });
  consumer.on(consumer.events.REQUEST, (e) => {
    if (e.payload.apiName === 'SyncGroup') syncs.push({ seq, sentAtMs: e.payload.sentAt });
  });
  await within('kafkajs group consumer connect', consumer.connect(), 30_000);
  await within('kafkajs group subscribe', consumer.subscribe({ topic, fromBeginning: true }), 30_000);
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      let last = -1;
      for (const m of batch.messages) {
        if (!isRunning() || isStale()) break;
        const offset = Number(m.offset);
        events.push({
          seq: seq++,
          kind: 'delivered',
          partition: batch.partition,
          offset,
          value: String(m.value),
          atMs: Date.now(),
        });
        resolveOffset(m.offset);
        last = offset;
      }
      // A repeat of records already committed (see checkGroup) commits nothing: its commit would take the
      // group's offset back, as an application tracking its position would not.
      if (last < 0 || last + 1 <= (committedHere.get(batch.partition) ?? -1)) return;
      try {
        await commitOffsetsIfNecessary({
          topics: [{ topic, partitions: [{ partition: batch.partition, offset: String(last + 1) }] }],
        });
        events.push({
          seq: seq++,
          kind: 'committed',
          partition: batch.partition,
          offset: last + 1,
          atMs: Date.now(),
        });
        committedHere.set(batch.partition, Math.max(last + 1, committedHere.get(batch.partition) ?? -1));
      } catch (err) {
        commitErrors.push(`${batch.partition}@${last + 1}: ${String(err)}`);
      }
      await heartbeat();
    },
  });
  let polling = true;
  const poller = (async () => {
    await admin.connect().catch(() => {});
    while (polling) {
      polls++;
      const sentAt = seq;
      try {
        const [r] = await within(
          'kafkajs fetchOffsets',
          admin.fetchOffsets({ groupId, topics: [topic] }),
          5000,
        );
        for (const p of r!.partitions) {
          const list = fetched.get(p.partition) ?? [];
          const o = Number(p.offset);
          answers.push({ sentAt, partition: p.partition, offset: o });
          if (list.at(-1) !== o) list.push(o);
          fetched.set(p.partition, list);
        }
      } catch {
        // The coordinator moves or is down: the next poll asks again.
        pollsFailed++;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    events,
    commitErrors,
    crashes,
    fetched,
    answers,
    joins,
    syncs,
    resets,
    /** OffsetFetch polls made, and how many failed. */
    get polls() {
      return { made: polls, failed: pollsFailed };
    },
    /** The last acknowledged commit of each partition. */
    lastCommits(): Map<number, number> {
      const m = new Map<number, number>();
      for (const e of events) if (e.kind === 'committed') m.set(e.partition, e.offset);
      return m;
    },
    async stop() {
      polling = false;
      await within('the committed-offsets poller', poller, 10_000).catch(() => {});
      await within('kafkajs admin disconnect', admin.disconnect(), 10_000).catch(() => {});
      await within('kafkajs group consumer disconnect', consumer.disconnect(), 20_000).catch(() => {});
    },
  };
}

/**
 * Jepsen's consumer checks over the group's history: every record of the log delivered (nothing unseen)
 * with the value the log holds at its offset; after each join, no record delivered below a commit
 * acknowledged before the join's SyncGroup was sent (the member's positions then come from OffsetFetch
 * requests sent after it, whose answers must hold every such commit), nor below a commit of what it
 * delivered since the join, where it had not been delivered since the join; no reset
 * after OFFSET_OUT_OF_RANGE (nothing here deletes records, so no position the group reached can be out of
 * range); no OffsetFetch answer below the last commit acknowledged before it was asked; and committed
 * offsets, acknowledged or read back, never going backwards. Re-delivery at or above the last commit,
 * after a rebalance or a coordinator move, is Kafka's at-least-once. So is a repeat, inside one
 * generation, of records already delivered in it: kafkajs runs a fetcher per broker, and at a leader
 * move the new leader's fetcher can ask from the position it read before the old leader's batch was
 * processed, and deliver those records again after it was (they are counted as `repeats`). A commit
 * acknowledged after the SyncGroup was sent does not bind the new generation unless it commits what
 * the generation delivered: kafkajs rejoins from inside one fetcher's fetch when it finds the topic's
 * partitions changed, while another fetcher's batch of the old generation is still committing, and
 * the new positions may be read before that commit is stored (a Kafka coordinator answers OffsetFetch
 * with what is committed so far, not with a commit still being replicated).
 */
export function checkGroup(
  label: string,
  group: Pick<
    Awaited<ReturnType<typeof runGroupOf>>,
    'events' | 'joins' | 'syncs' | 'answers' | 'resets' | 'fetched'
  >,
  logs: Map<number, { offset: number; value: string }[]>,
): { repeats: number } {
  const unseen: string[] = [];
  const inconsistent: string[] = [];
  const belowCommit: string[] = [];
  const staleAnswers: string[] = [];
  const backwards: string[] = [];
  let repeats = 0;
  const at = (e: GroupEvent) => `#${e.seq} at ${new Date(e.atMs).toISOString()}`;
  for (const [p, records] of logs) {
    const history = group.events.filter((e) => e.partition === p);
    const seen = new Set<number>();
    type Commit = Extract<GroupEvent, { kind: 'committed' }>;
    const commitsOf = history.filter((e): e is Commit => e.kind === 'committed');
    /** The highest acknowledged commit so far, in the order of the history. */
    let highest: Commit | null = null;
    /** What the generation's deliveries may not go below, and since when it binds. */
    let bound: Commit | null = null;
    /** Offsets delivered since the latest join. */
    let generation = new Set<number>();
    let join = 0;
    for (const e of history) {
      // The joins before this event start a new generation.
      let joined = false;
      while (join < group.joins.length && group.joins[join]! < e.seq) {
        join++;
        joined = true;
      }
      if (joined) {
        generation = new Set();
        const joinSeq = group.joins[join - 1]!;
        const sync = group.syncs.filter((x) => x.seq <= joinSeq).at(-1);
        bound = null;
        for (const c of commitsOf) {
          if (c.seq >= joinSeq) break;
          if (sync && c.atMs >= sync.sentAtMs) continue;
          if (!bound || c.offset >= bound.offset) bound = c;
        }
      }
      if (e.kind === 'committed') {
        if (highest && e.offset < highest.offset)
          backwards.push(
            `p${p}: acknowledged commit ${e.offset} (${at(e)}) after ${highest.offset} (${at(highest)})`,
          );
        if (!highest || e.offset >= highest.offset) highest = e;
        // A commit of what this generation delivered binds it (before any join, every commit does).
        if ((join === 0 || generation.has(e.offset - 1)) && (!bound || e.offset >= bound.offset)) bound = e;
        continue;
      }
      seen.add(e.offset);
      if (records[e.offset]?.value !== e.value)
        inconsistent.push(
          `p${p}@${e.offset}: delivered ${e.value}, the log holds ${records[e.offset]?.value}`,
        );
      if (bound && e.offset < bound.offset) {
        if (generation.has(e.offset)) repeats++;
        else
          belowCommit.push(
            `p${p}@${e.offset} delivered (${at(e)}, ${generation.size === 0 ? 'first after a join' : 'not delivered before in this generation'}${join > 0 ? `, the latest join at #${group.joins[join - 1]}` : ''}) after the commit of ${bound.offset} (${at(bound)})`,
          );
      }
      generation.add(e.offset);
    }
    for (const r of records) if (!seen.has(r.offset)) unseen.push(`p${p}@${r.offset} ${r.value}`);
    const commits = history.filter((e) => e.kind === 'committed');
    for (const a of group.answers.filter((x) => x.partition === p)) {
      const before = commits.filter((c) => c.seq < a.sentAt).at(-1);
      if (before && a.offset < before.offset)
        staleAnswers.push(
          `p${p}: OffsetFetch sent at #${a.sentAt} answered ${a.offset} after the commit of ${before.offset} (${at(before)})`,
        );
    }
    const readBack = group.fetched.get(p) ?? [];
    for (let i = 1; i < readBack.length; i++)
      if (readBack[i] < readBack[i - 1])
        backwards.push(
          `p${p}: OffsetFetch answered ${readBack[i]} after ${readBack[i - 1]} (${readBack.join(',')})`,
        );
  }
  assert.deepEqual(
    unseen.slice(0, 20),
    [],
    `${label}: every record delivered to the group (${unseen.length} unseen)`,
  );
  assert.deepEqual(
    inconsistent.slice(0, 20),
    [],
    `${label}: each delivery holds the log's record at its offset`,
  );
  assert.deepEqual(group.resets, [], `${label}: no position reset after OFFSET_OUT_OF_RANGE`);
  assert.deepEqual(
    belowCommit.slice(0, 20),
    [],
    `${label}: no offset delivered again below a commit (${belowCommit.length} were)`,
  );
  assert.deepEqual(
    staleAnswers.slice(0, 20),
    [],
    `${label}: no OffsetFetch answer below an acknowledged commit (${staleAnswers.length} were)`,
  );
  assert.deepEqual(backwards.slice(0, 20), [], `${label}: committed offsets never go backwards`);
  return { repeats };
}
