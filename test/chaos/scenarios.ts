/**
 * Scripted chaos schedules, one per bug a random schedule found (etcd's robustness habit): each replays
 * the fault that exposed the bug, asks the cluster exactly what went wrong then, and gives its own
 * verdict beside the checker's. `npm run chaos -- --scenario NAME` runs one; test/chaos/chaos.test.ts
 * runs each. docs/reliability.md lists them with the schedule that found them.
 */

import { errorCode } from '../../src/protocol/kafka/error-codes.ts';
import { KafkaOutbound } from '../../src/protocol/kafka/outbound.ts';
import { encodeBatch } from '../../src/records/batch.ts';
import { fetchOnePartition } from '../kafka-door/raw.ts';
import type { Verdict } from './checker.ts';
import { type ChaosCluster, PORTS } from './cluster.ts';
import type { History } from './workload.ts';

export interface ScenarioContext {
  cluster: ChaosCluster;
  net: { partition(groups: number[][]): Promise<void>; heal(): Promise<void> };
  history: History;
  topic: string;
  /** The controller's session timeout the run gives the nodes. */
  sessionMs: number;
  log(line: string): void;
  /** The leader of each partition as the cluster's metadata says. */
  leaders(): Promise<number[]>;
}

export interface Scenario {
  /** What it replays, for the report. */
  about: string;
  run(ctx: ScenarioContext): Promise<{ faults: string[]; verdicts: Verdict[] }>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const NOT_LEADER = errorCode('NOT_LEADER_OR_FOLLOWER');

/**
 * Sends a client's three requests to node `id` about `partition` and returns what is wrong with the
 * answers for a node that must not act as its leader: Metadata naming it leader, a Fetch answered with
 * anything but NOT_LEADER_OR_FOLLOWER (records, or OFFSET_OUT_OF_RANGE past its log end, which makes a
 * consumer reset its position), a Produce answered with anything but NOT_LEADER_OR_FOLLOWER.
 */
async function askZombie(ctx: ScenarioContext, id: number, partition: number): Promise<string[]> {
  const n = ctx.cluster.node(id);
  const connect = () =>
    KafkaOutbound.connect({
      host: n.address,
      port: PORTS.kafka,
      clientId: 'chaos-scenario',
      connectTimeoutMs: 5000,
    });
  const conns = await Promise.all([connect(), connect(), connect(), connect()]);
  try {
    const [metadata, fetchFirst, fetchPastEnd, produce] = [
      conns[0]!.request(
        'Metadata',
        12,
        {
          topics: [{ name: ctx.topic, topicId: '00000000-0000-0000-0000-000000000000' }],
          allowAutoTopicCreation: false,
          includeTopicAuthorizedOperations: false,
        },
        20_000,
      ),
      conns[1]!.request('Fetch', 12, fetchOnePartition(ctx.topic, partition, 0), 20_000),
      conns[2]!.request('Fetch', 12, fetchOnePartition(ctx.topic, partition, 1_000_000_000), 20_000),
      conns[3]!.request(
        'Produce',
        9,
        {
          transactionalId: null,
          acks: 1,
          timeoutMs: 5000,
          topicData: [
            {
              name: ctx.topic,
              partitionData: [
                { index: partition, records: encodeBatch({ records: [{ value: Buffer.from('zombie') }] }) },
              ],
            },
          ],
        },
        20_000,
      ),
    ];
    const wrong: string[] = [];
    // biome-ignore lint/suspicious/noExplicitAny: decoded Kafka responses, read field by field
    const md: any = await metadata;
    const leader = md.topics[0].partitions[partition].leaderId as number;
    if (leader === id) wrong.push(`node ${id}'s Metadata names itself leader of p${partition}`);
    for (const [what, f] of [
      ['a Fetch from offset 0', fetchFirst],
      ['a Fetch past its log end', fetchPastEnd],
    ] as const) {
      // biome-ignore lint/suspicious/noExplicitAny: as above
      const p = ((await f) as any).responses[0].partitions[0];
      if (p.errorCode !== NOT_LEADER)
        wrong.push(
          `node ${id} answered ${what} of p${partition} with error ${p.errorCode}` +
            `${p.records?.length ? ` and ${p.records.length} bytes of records` : ''}, not NOT_LEADER_OR_FOLLOWER`,
        );
    }
    // biome-ignore lint/suspicious/noExplicitAny: as above
    const pr = ((await produce) as any).responses[0].partitionResponses[0];
    if (pr.errorCode !== NOT_LEADER)
      wrong.push(
        `node ${id} answered a Produce to p${partition} with error ${pr.errorCode}` +
          `${pr.errorCode === 0 ? ` (stored at ${pr.baseOffset})` : ''}, not NOT_LEADER_OR_FOLLOWER`,
      );
    return wrong;
  } catch (err) {
    return [`asking node ${id}: ${(err as Error).message}`];
  } finally {
    for (const c of conns) c.close();
  }
}

function verdict(name: string, wrong: string[]): Verdict {
  return { name, ok: wrong.length === 0, count: wrong.length, examples: wrong.slice(0, 10) };
}

export const scenarios: Record<string, Scenario> = {
  /**
   * Schedule 13000: the leader of a partition cut off from the other nodes (and the controller), still
   * reachable by clients, went on answering as leader after the controller had fenced it and elected
   * another: a consumer's fetch past its log end got OFFSET_OUT_OF_RANGE and librdkafka reset the
   * consumer to the earliest offset (nonmonotonic poll, commits going back), and an idempotent producer
   * writing to both leaders in turn lost its sequence (a fatal error). The fix: a leader lease.
   */
  'zombie-leader': {
    about:
      'a partition leader isolated from the other nodes past its session keeps answering clients as leader',
    async run(ctx) {
      const id = (await ctx.leaders())[0]!;
      const others = ctx.cluster.nodes.map((n) => n.id).filter((x) => x !== id);
      const start = ctx.history.now();
      await ctx.net.partition([[id], others]);
      ctx.log(`isolated node ${id}, the leader of p0`);
      // Past the session: the controller has fenced it and another replica leads p0.
      await sleep(ctx.sessionMs + 2000);
      const wrong = await askZombie(ctx, id, 0);
      await ctx.net.heal();
      const detail = `node ${id} (leader of p0) cut off from ${others.join(', ')} for ${ctx.sessionMs + 2000} ms, then asked directly`;
      ctx.history.add({
        op: 'nemesis',
        fault: 'isolate',
        target: 'leader',
        nodes: [id],
        start,
        end: ctx.history.now(),
        detail,
      });
      return { faults: [`isolate leader: ${detail}`], verdicts: [verdict('zombie-refuses', wrong)] };
    },
  },
  /**
   * Schedules 20261203 and 20261214 of a 15-schedule run: the leader of a partition (and the
   * controller) paused past its session. The idempotent producer, then Debian's librdkafka 2.0.2,
   * stopped with a fatal "sequence desynchronization": a request to the paused leader timed out
   * ("possibly persisted"), the new leader rightly answered the next batch OUT_OF_ORDER_SEQUENCE_NUMBER,
   * and that librdkafka took it for a lost sequence (its defect, fixed in 2.3.0 by librdkafka PR #4438;
   * Kafka answers the same). The idempotent producer is now a current librdkafka; this replays the
   * pause, and the checker's verdicts (no fatal client error among them) must all pass.
   */
  'paused-leader': {
    about: 'a partition leader paused past its session, then continued, while a consumer reads',
    async run(ctx) {
      const id = (await ctx.leaders())[0]!;
      const start = ctx.history.now();
      await ctx.cluster.signal(id, 'SIGSTOP');
      ctx.log(`paused node ${id}, the leader of p0`);
      await sleep(ctx.sessionMs * 2 + 500);
      await ctx.cluster.signal(id, 'SIGCONT');
      await sleep(8000);
      const detail = `node ${id} (leader of p0) stopped for ${ctx.sessionMs * 2 + 500} ms`;
      ctx.history.add({
        op: 'nemesis',
        fault: 'pause',
        target: 'leader',
        nodes: [id],
        start,
        end: ctx.history.now(),
        detail,
      });
      return { faults: [`pause leader: ${detail}`], verdicts: [] };
    },
  },
};
