#!/usr/bin/env node
/**
 * `broker-admin`: topic administration against a running broker over gRPC, printing tables for people
 * or JSON (`--json`) for scripts.
 *
 *   broker-admin [--server host:port[,host:port]] [--json] <command> [args]
 *     cluster
 *     remove-node <id> [--no-wait] [--timeout SECONDS]
 *     transfer-controller [<id>]
 *     reassign --plan FILE [--cancel] [--wait] | --list [TOPIC] | TOPIC --replication-factor N [--dry-run]
 *     elect-leaders [--type preferred|unclean] [TOPIC[:PARTITION]]...
 *     rebalance [--dry-run]
 *     create-topic <name> [--partitions N] [--replication-factor N] [--config key=value ...]
 *     add-partitions <topic> <count> [--assignments 1,2:2,3]
 *     list-topics
 *     describe-topic <name>
 *     delete-topic <name>
 *     delete-records <topic> --partition N --offset N
 *     alter-configs <topic> [--set key=value ...] [--delete key ...]
 *     list-groups
 *     describe-group <group>
 *     delete-group <group>
 *     dlq-list <dlq-topic> [--partition N] [--limit N]
 *     dlq-replay <dlq-topic> [--to-topic T] [--from-beginning]
 *
 * `--server` may name any node of a cluster: the client learns the others from it and asks each
 * partition's leader and each group's coordinator (src/client/cluster-view.ts).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  type BalancePlan,
  BrokerClient,
  BrokerClientError,
  type ConsumedMessage,
  DLQ_HEADERS,
  type GroupDescription,
  type PartitionMove,
  type PartitionOutcome,
  type ServerInfo,
  type TopicInfo,
} from '../client/index.ts';

const USAGE = `Usage: broker-admin [--server host:port[,host:port...]] [--json] <command> [args]

Commands:
  cluster                             the nodes: addresses, roles (controller, voter, observer),
                                      fenced or not, replicas held, partitions led, whether being
                                      decommissioned, and the cluster id
  remove-node <id> [--no-wait] [--timeout SECONDS]
                                      decommissions a node: the controller moves every replica off
                                      it, then it leaves the cluster and the metadata quorum. Shows
                                      the replicas left on it until it is gone, for at most
                                      --timeout (600 s); the move goes on in the background after
                                      that, or at once with --no-wait
  transfer-controller [<id>]          moves the active controller to voter <id> (default: the live
                                      voter most caught up), as before maintenance of its node
  reassign --plan FILE [--wait]       moves partitions to the replicas FILE lists, in the JSON of
                                      Kafka's kafka-reassign-partitions:
                                      {"version":1,"partitions":[{"topic":"t","partition":0,
                                      "replicas":[1,2]}]}
  reassign --cancel --plan FILE       cancels the moves of FILE's partitions
  reassign --list [TOPIC]             the moves in progress, with the replicas being added and removed
  reassign TOPIC --replication-factor N [--dry-run] [--wait]
                                      changes a topic's replication factor (--dry-run: prints the
                                      moves, starts none)
                                      --wait waits until the moves started are done, showing
                                      progress; --timeout SECONDS (default 600) bounds the wait
  elect-leaders [--type preferred|unclean] [TOPIC[:PARTITION]]...
                                      moves leadership to each partition's first replica (unclean:
                                      elects any live replica of a partition without a leader, which
                                      may lose records); no argument: every partition
  rebalance [--dry-run]               the balancer's plan: the moves it would make and each node's
                                      replicas, leaders and bytes before and after; the controller
                                      carries such moves out itself while cluster.auto_rebalance is
                                      on (the default), so this command starts nothing
  create-topic <name> [--partitions N] [--replication-factor N] [--config key=value]...
  add-partitions <topic> <count> [--assignments 1,2:2,3]
                                      raises the topic's partition count to <count>; --assignments
                                      places the new partitions, one replica list each (the
                                      preferred leader first), separated by ':'
  list-topics
  describe-topic <name>               partitions with leader, replicas, ISR and offsets
  delete-topic <name>
  delete-records <topic> --partition N --offset N
                                      deletes the partition's records below the offset (-1: all up
                                      to the high watermark) and prints its new log start offset
  alter-configs <topic> [--set key=value]... [--delete key]...
                                      sets topic configs and returns others to the broker default
  list-groups
  describe-group <group>              members, assignments, committed offsets and lag
  delete-group <group>                deletes an empty group and its committed offsets
  dlq-list <dlq-topic> [--partition N] [--limit N]
                                      dead letters with their headers (default limit 100)
  dlq-replay <dlq-topic> [--to-topic T] [--from-beginning]
                                      produces each dead letter back to its original topic (or T)
                                      with its key, value and non-dlq headers; progress is kept as
                                      the committed offsets of group "dlq-replay.<dlq-topic>", so a
                                      second replay sends only newer dead letters

--server defaults to $BROKER_SERVER or localhost:8080; any node of a cluster will do. Exit codes:
0 done, 1 an error (or a partition's error), 2 a usage error, 3 a wait that timed out.`;

/** How often a wait asks the cluster again. */
const pollIntervalMs = 500;
/** A plain (not a terminal) progress line is written when the progress changes, or this often. */
const plainLineIntervalMs = 10_000;
/** Exit code of a wait that timed out while the moves go on. */
const exitTimedOut = 3;

function table(rows: (string | number)[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describeText(t: TopicInfo): string {
  const lines = [
    `Topic: ${t.name}  id: ${t.id}  partitions: ${t.partitions}  replication-factor: ${t.replicationFactor}`,
  ];
  const overrides = Object.entries(t.configs).filter(([, v]) => !v.isDefault);
  lines.push(
    `Configs: ${overrides.length ? overrides.map(([k, v]) => `${k}=${v.value}`).join(', ') : '(defaults)'}`,
  );
  lines.push(
    table([
      [
        'PARTITION',
        'LEADER',
        'REPLICAS',
        'ISR',
        'LOG-START',
        'LOG-END',
        'HIGH-WATERMARK',
        'SEGMENTS',
        'BYTES',
        'LAG',
        'STATE',
      ],
      ...t.partitionInfo.map((p) => [
        p.partition,
        p.leader || '-',
        p.replicas.join(','),
        p.isr.join(','),
        p.logStartOffset,
        p.logEndOffset,
        p.highWatermark,
        p.segments,
        p.sizeBytes,
        p.maxFollowerLag >= 0 ? p.maxFollowerLag : '-',
        partitionState(p),
      ]),
    ]),
  );
  return lines.join('\n');
}

/**
 * OFFLINE for a partition with no leader (its whole ISR is down), UNDER-REPLICATED for one whose ISR
 * is smaller than its replicas (a follower is down or behind), else ok. The offsets are the leader's.
 */
function partitionState(p: { leader: string; replicas: string[]; isr: string[] }): string {
  if (!p.leader) return 'OFFLINE';
  return p.isr.length < p.replicas.length ? 'UNDER-REPLICATED' : 'ok';
}

/** A node's role: the active controller, another voter of the metadata quorum, or an observer. */
function roleOf(s: ServerInfo): string {
  if (s.isLeader) return 'controller';
  return s.voter ? 'voter' : 'observer';
}

function clusterText(clusterId: string, servers: ServerInfo[]): string {
  return [
    `Cluster: ${clusterId || '-'}  nodes: ${servers.length}`,
    table([
      ['NODE', 'ID', 'ADDRESS', 'KAFKA-PORT', 'ROLE', 'FENCED', 'REPLICAS', 'LEADERS', 'DECOMMISSIONING'],
      ...servers.map((s) => [
        s.id,
        s.nodeId,
        s.address,
        s.kafkaPort || '-',
        roleOf(s),
        s.fenced ? 'yes' : 'no',
        s.replicas,
        s.leaders,
        s.decommissioning ? 'yes' : 'no',
      ]),
    ]),
  ].join('\n');
}

function describeGroupText(g: GroupDescription): string {
  const lines = [
    `Group: ${g.groupId}  state: ${g.state}  strategy: ${g.strategy || '-'}  generation: ${g.generationId}  leader: ${g.leaderId || '-'}`,
  ];
  lines.push(
    g.members.length === 0
      ? 'Members: (none)'
      : table([
          ['MEMBER', 'CLIENT-ID', 'HOST', 'ASSIGNMENT'],
          ...g.members.map((m) => [
            m.memberId,
            m.clientId || '-',
            m.clientHost || '-',
            m.assignments.map((a) => `${a.topic}:${a.partitions.join(',')}`).join(' ') || '-',
          ]),
        ]),
  );
  lines.push(
    g.offsets.length === 0
      ? 'Offsets: (none committed)'
      : table([
          ['TOPIC', 'PARTITION', 'COMMITTED', 'LOG-END', 'LAG'],
          ...g.offsets.map((o) => [o.topic, o.partition, o.committedOffset, o.logEndOffset, o.lag]),
        ]),
  );
  return lines.join('\n');
}

const text = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

function header(m: ConsumedMessage, key: string): string | undefined {
  return m.headers.find((h) => h.key === key)?.value?.toString('utf8');
}

/** Records of `topic` from `from` (per partition) up to each partition's high watermark at the start. */
async function* readAll(
  client: BrokerClient,
  topic: string,
  partitions: number[],
  from: (partition: number) => number,
): AsyncGenerator<ConsumedMessage> {
  const info = await client.describeTopic(topic);
  for (const partition of partitions) {
    const end = info.partitionInfo.find((p) => p.partition === partition)?.highWatermark ?? 0;
    let offset = Math.max(
      from(partition),
      info.partitionInfo.find((p) => p.partition === partition)?.logStartOffset ?? 0,
    );
    while (offset < end) {
      const r = await client.consumeBatch(topic, offset, { partition });
      for (const m of r.records) if (m.offset < end) yield m;
      if (r.nextOffset <= offset) break;
      offset = r.nextOffset;
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      json: { type: 'boolean', default: false },
      partitions: { type: 'string' },
      partition: { type: 'string' },
      limit: { type: 'string' },
      'to-topic': { type: 'string' },
      'from-beginning': { type: 'boolean', default: false },
      'replication-factor': { type: 'string' },
      plan: { type: 'string' },
      cancel: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      type: { type: 'string' },
      assignments: { type: 'string' },
      config: { type: 'string', multiple: true },
      offset: { type: 'string' },
      set: { type: 'string', multiple: true },
      delete: { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
  });
  const [command, name] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const out = (human: string, data: unknown) =>
    process.stdout.write(`${values.json ? JSON.stringify(data, null, 2) : human}\n`);
  const needName = () => {
    if (!name) throw new UsageError(`${command} needs a topic name`);
    return name;
  };
  const client = await BrokerClient.connect(values.server ?? process.env.BROKER_SERVER ?? 'localhost:8080', {
    retries: 2,
  });
  try {
    switch (command) {
      case 'cluster': {
        const { clusterId, servers } = await client.describeCluster();
        out(clusterText(clusterId, servers), {
          clusterId,
          servers: servers.map((s) => ({ ...s, role: roleOf(s) })),
        });
        return 0;
      }
      case 'remove-node': {
        const id = Number(needName());
        if (!Number.isInteger(id) || id < 1)
          throw new Error(`remove-node takes a numeric node id, got ${name}`);
        const timeoutMs = seconds(values.timeout) * 1000;
        const before = (await client.getServers()).find((s) => s.nodeId === id);
        await client.removeServer(id);
        if (values['no-wait']) {
          out(
            `Node ${id} is being decommissioned: its replicas move to the other nodes, then it leaves the cluster (broker-admin cluster shows it until then).`,
            { decommissioning: id, replicas: before?.replicas ?? 0 },
          );
          return 0;
        }
        const gone = await waitForRemoval(
          client,
          id,
          before?.replicas ?? 0,
          progressOf(values.json),
          timeoutMs,
        );
        if (!gone.done) {
          process.stderr.write(
            `broker-admin: node ${id} still holds ${gone.left} replica(s) after ${seconds(values.timeout)} s; the decommission goes on in the background (broker-admin cluster shows it)\n`,
          );
          if (values.json) out('', { decommissioning: id, replicasLeft: gone.left, timedOut: true });
          return exitTimedOut;
        }
        out(
          `Removed node ${id} from the cluster: ${gone.moved} replica(s) moved to other nodes, and it left the metadata quorum.`,
          { removed: id, replicasMoved: gone.moved },
        );
        return 0;
      }
      case 'reassign':
        return await reassign(client, name, values, out);
      case 'elect-leaders': {
        const type = values.type ?? 'preferred';
        if (type !== 'preferred' && type !== 'unclean')
          throw new UsageError(`--type takes preferred or unclean, got ${JSON.stringify(type)}`);
        const targets = topicPartitions(positionals.slice(1));
        const results = await client.electLeaders({ type, partitions: targets });
        const resultOf = (r: PartitionOutcome) =>
          r.error === '' ? 'elected' : r.error === 'ELECTION_NOT_NEEDED' ? 'not needed' : 'error';
        out(
          results.length === 0
            ? `No partition needed a${type === 'preferred' ? ' preferred' : 'n unclean'} leader election.`
            : table([
                ['TOPIC', 'PARTITION', 'RESULT'],
                ...results.map((r) => [
                  r.topic,
                  r.partition,
                  resultOf(r) === 'error' ? `${r.error}: ${r.message}` : resultOf(r),
                ]),
              ]),
          { type, results: results.map((r) => ({ ...r, result: resultOf(r) })) },
        );
        return results.some((r) => resultOf(r) === 'error') ? 1 : 0;
      }
      case 'rebalance': {
        const plan = await client.planRebalance();
        const note = values['dry-run']
          ? 'Dry run: nothing was started.'
          : 'The controller balances replicas by itself while cluster.auto_rebalance is on (the default); this command starts nothing. Its plan for the cluster as it stands:';
        out(`${note}\n${planText(plan)}`, { dryRun: values['dry-run'], ...plan });
        return 0;
      }
      case 'transfer-controller': {
        const id = name === undefined ? 0 : Number(name);
        if (!Number.isInteger(id) || id < 0)
          throw new Error(`transfer-controller takes a numeric node id, got ${name}`);
        const controller = await client.transferController(id);
        out(`Node ${controller} is the active controller.`, { controller });
        return 0;
      }
      case 'create-topic': {
        const configs = keyValues(values.config, '--config');
        const t = await client.createTopic(needName(), {
          partitions: values.partitions ? Number(values.partitions) : undefined,
          replicationFactor: values['replication-factor'] ? Number(values['replication-factor']) : undefined,
          configs,
        });
        out(`Created topic ${t.name} with ${t.partitions} partition(s).`, t);
        return 0;
      }
      case 'add-partitions': {
        const topic = needName();
        const countArg = positionals[2];
        if (countArg === undefined) throw new UsageError('add-partitions needs the new partition count');
        const count = int(countArg, '<count>');
        const assignments = values.assignments === undefined ? undefined : assignmentsOf(values.assignments);
        const t = await client.createPartitions(topic, count, { assignments });
        out(`Topic ${t.name} has ${t.partitions} partition(s) now.`, t);
        return 0;
      }
      case 'list-topics': {
        const topics = await client.listTopics();
        out(
          topics.length === 0
            ? '(no topics)'
            : table([
                ['TOPIC', 'PARTITIONS', 'REPLICATION-FACTOR', 'ID'],
                ...topics.map((t) => [t.name, t.partitions, t.replicationFactor, t.id]),
              ]),
          topics.map(({ partitionInfo: _p, configs: _c, ...t }) => t),
        );
        return 0;
      }
      case 'describe-topic': {
        const t = await client.describeTopic(needName());
        out(describeText(t), t);
        return 0;
      }
      case 'delete-topic': {
        await client.deleteTopic(needName());
        out(`Deleted topic ${name}.`, { deleted: name });
        return 0;
      }
      case 'delete-records': {
        const topic = needName();
        if (values.partition === undefined || values.offset === undefined)
          throw new UsageError('delete-records needs --partition N and --offset N');
        const partition = int(values.partition, '--partition');
        const offset = values.offset === '-1' ? -1 : int(values.offset, '--offset');
        const lowWatermark = await client.deleteRecords(topic, partition, offset);
        out(`Partition ${topic}-${partition} now starts at offset ${lowWatermark}.`, {
          topic,
          partition,
          lowWatermark,
        });
        return 0;
      }
      case 'alter-configs': {
        const topic = needName();
        const set = keyValues(values.set, '--set');
        const deleteKeys = values.delete ?? [];
        if (Object.keys(set).length === 0 && deleteKeys.length === 0)
          throw new UsageError('alter-configs needs --set key=value or --delete key');
        const t = await client.alterTopicConfigs(topic, set, { deleteKeys });
        out(describeText(t), t);
        return 0;
      }
      case 'list-groups': {
        const groups = await client.listGroups();
        out(
          groups.length === 0
            ? '(no groups)'
            : table([
                ['GROUP', 'STATE', 'MEMBERS', 'PROTOCOL-TYPE'],
                ...groups.map((g) => [g.groupId, g.state, g.members, g.protocolType || '-']),
              ]),
          groups,
        );
        return 0;
      }
      case 'describe-group': {
        if (!name) throw new UsageError('describe-group needs a group id');
        const g = await client.describeGroup(name);
        out(describeGroupText(g), g);
        return 0;
      }
      case 'delete-group': {
        if (!name) throw new UsageError('delete-group needs a group id');
        await client.deleteGroup(name);
        out(`Deleted group ${name}.`, { deleted: name });
        return 0;
      }
      case 'dlq-list': {
        const topic = needName();
        const info = await client.describeTopic(topic);
        const partitions =
          values.partition !== undefined
            ? [int(values.partition, '--partition')]
            : info.partitionInfo.map((p) => p.partition);
        const limit = values.limit !== undefined ? int(values.limit, '--limit') : 100;
        const letters: ConsumedMessage[] = [];
        for await (const m of readAll(client, topic, partitions, () => 0)) {
          if (letters.length >= limit) break;
          letters.push(m);
        }
        out(
          letters.length === 0
            ? '(no dead letters)'
            : table([
                ['PARTITION', 'OFFSET', 'ORIGINAL', 'ATTEMPTS', 'FAILED-AT', 'KEY', 'ERROR'],
                ...letters.map((m) => [
                  m.partition,
                  m.offset,
                  `${header(m, DLQ_HEADERS.topic) ?? '?'}-${header(m, DLQ_HEADERS.partition) ?? '?'}@${header(m, DLQ_HEADERS.offset) ?? '?'}`,
                  header(m, DLQ_HEADERS.attempts) ?? '-',
                  header(m, DLQ_HEADERS.failedAt) ?? '-',
                  text(m.key) ?? '-',
                  (header(m, DLQ_HEADERS.error) ?? '-').replace(/\s+/g, ' '),
                ]),
              ]),
          letters.map((m) => ({
            partition: m.partition,
            offset: m.offset,
            timestamp: m.timestamp,
            key: text(m.key),
            value: text(m.value),
            headers: Object.fromEntries(m.headers.map((h) => [h.key, text(h.value)])),
          })),
        );
        return 0;
      }
      case 'dlq-replay': {
        const topic = needName();
        const group = `dlq-replay.${topic}`;
        const info = await client.describeTopic(topic);
        const partitions = info.partitionInfo.map((p) => p.partition);
        const done = new Map(
          values['from-beginning']
            ? []
            : (await client.fetchOffsets(group)).map((o) => [o.partition, o.offset]),
        );
        const producer = client.producer({ idempotent: true });
        const replayed = new Map<string, number>();
        const progress = new Map<number, number>();
        for await (const m of readAll(client, topic, partitions, (p) => done.get(p) ?? 0)) {
          const target = values['to-topic'] ?? header(m, DLQ_HEADERS.topic);
          if (!target)
            throw new Error(
              `dead letter ${topic}-${m.partition}@${m.offset} has no ${DLQ_HEADERS.topic} header`,
            );
          await producer.send(target, {
            key: m.key,
            value: m.value,
            headers: m.headers.filter((h) => !h.key.startsWith('dlq.')),
          });
          replayed.set(target, (replayed.get(target) ?? 0) + 1);
          progress.set(m.partition, m.offset + 1);
        }
        await producer.close();
        if (progress.size > 0)
          await client.commitOffsets(
            group,
            [...progress].map(([partition, offset]) => ({ topic, partition, offset })),
          );
        const total = [...replayed.values()].reduce((a, b) => a + b, 0);
        out(
          total === 0
            ? 'Nothing to replay.'
            : `Replayed ${total} dead letter(s): ${[...replayed].map(([t, n]) => `${n} to ${t}`).join(', ')}.`,
          { replayed: total, topics: Object.fromEntries(replayed) },
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } finally {
    client.close();
  }
}

class UsageError extends Error {}

type Out = (human: string, data: unknown) => void;

interface ReassignFlags {
  json: boolean;
  plan?: string;
  cancel: boolean;
  list: boolean;
  wait: boolean;
  'dry-run': boolean;
  'replication-factor'?: string;
  timeout?: string;
}

/** `reassign`: a plan file's moves (or their cancellation), the moves in progress, or an RF change. */
async function reassign(
  client: BrokerClient,
  topic: string | undefined,
  values: ReassignFlags,
  out: Out,
): Promise<number> {
  const timeoutMs = seconds(values.timeout) * 1000;
  if (values.list) {
    const ongoing = await client.listPartitionReassignments(topic ? [{ topic }] : undefined);
    out(
      ongoing.length === 0
        ? '(no partition is being moved)'
        : table([
            ['TOPIC', 'PARTITION', 'REPLICAS', 'ADDING', 'REMOVING'],
            ...ongoing.map((r) => [
              r.topic,
              r.partition,
              r.replicas.join(','),
              r.addingReplicas.join(',') || '-',
              r.removingReplicas.join(',') || '-',
            ]),
          ]),
      ongoing,
    );
    return 0;
  }
  if (values.plan !== undefined) {
    if (topic !== undefined) throw new UsageError('reassign --plan takes no topic: the file names them');
    const plan = readPlan(values.plan, values.cancel);
    const results = await client.alterPartitionReassignments(
      plan.map((p) => ({ ...p, replicas: values.cancel ? null : p.replicas })),
    );
    const target = new Map(plan.map((p) => [`${p.topic}-${p.partition}`, p.replicas]));
    const rows = results.map((r) => ({
      ...r,
      replicas: values.cancel ? null : (target.get(`${r.topic}-${r.partition}`) ?? null),
      result: r.error === '' ? (values.cancel ? 'cancelled' : 'moving') : 'error',
    }));
    const human = table([
      ['TOPIC', 'PARTITION', 'REPLICAS', 'RESULT'],
      ...rows.map((r) => [
        r.topic,
        r.partition,
        r.replicas?.join(',') ?? '-',
        r.result === 'error' ? `${r.error}: ${r.message}` : r.result,
      ]),
    ]);
    const failed = rows.some((r) => r.result === 'error');
    const started = rows.filter((r) => r.result === 'moving');
    if (!values.wait || values.cancel || started.length === 0) {
      out(human, { results: rows });
      return failed ? 1 : 0;
    }
    if (!values.json) process.stdout.write(`${human}\n`);
    const waited = await waitForMoves(client, started, progressOf(values.json), timeoutMs);
    return finishWait(waited, values, out, { results: rows }, failed ? 1 : 0);
  }
  if (topic !== undefined && values['replication-factor'] !== undefined) {
    const rf = int(values['replication-factor'], '--replication-factor');
    const dryRun = values['dry-run'];
    const moves = await client.alterReplicationFactor(topic, rf, { validateOnly: dryRun });
    const human = `${
      moves.length === 0
        ? `Every partition of ${topic} has ${rf} replica(s) already: nothing to move.`
        : dryRun
          ? `Would move ${moves.length} partition(s) of ${topic} to ${rf} replica(s) (dry run: nothing was started):`
          : `Moving ${moves.length} partition(s) of ${topic} to ${rf} replica(s):`
    }${moves.length === 0 ? '' : `\n${movesText(moves)}`}`;
    const data = { topic, replicationFactor: rf, dryRun, moves };
    if (!values.wait || dryRun || moves.length === 0) {
      out(human, data);
      return 0;
    }
    if (!values.json) process.stdout.write(`${human}\n`);
    const waited = await waitForMoves(client, moves, progressOf(values.json), timeoutMs);
    return finishWait(waited, values, out, data, 0);
  }
  throw new UsageError(
    'reassign needs --plan FILE, --list [TOPIC], or TOPIC --replication-factor N (see the usage below)',
  );
}

/** After `--wait`: says how it ended; exits `code`, or `exitTimedOut` when the moves are not done. */
function finishWait(
  waited: { done: boolean; left: number },
  values: { json: boolean; timeout?: string },
  out: Out,
  data: object,
  code: number,
): number {
  if (!waited.done) {
    process.stderr.write(
      `broker-admin: ${waited.left} move(s) still in progress after ${seconds(values.timeout)} s; they go on in the background (broker-admin reassign --list shows them)\n`,
    );
    if (values.json) out('', { ...data, completed: false, movesLeft: waited.left });
    return exitTimedOut;
  }
  out('Every move is done.', { ...data, completed: true });
  return code;
}

/**
 * The partitions of a kafka-reassign-partitions JSON file (`--reassignment-json-file`):
 * {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}.
 * A cancellation needs no replicas. log_dirs is accepted when every entry is "any": a node has one
 * log directory.
 */
function readPlan(file: string, cancel: boolean): { topic: string; partition: number; replicas: number[] }[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the plan ${file}: ${(err as Error).message}`);
  }
  const shape =
    '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]} (the format of kafka-reassign-partitions)';
  const d = doc as { version?: unknown; partitions?: unknown };
  if (typeof doc !== 'object' || doc === null || !Array.isArray(d.partitions))
    throw new Error(`the plan ${file} is not ${shape}`);
  if (d.version !== undefined && d.version !== 1)
    throw new Error(`the plan ${file} has version ${JSON.stringify(d.version)}; only version 1 is known`);
  if (d.partitions.length === 0) throw new Error(`the plan ${file} lists no partitions`);
  return d.partitions.map((x: unknown, i: number) => {
    const e = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
    const where = `the plan ${file}, partitions[${i}]`;
    if (typeof e.topic !== 'string' || e.topic === '')
      throw new Error(`${where}: "topic" must be a topic name`);
    if (!Number.isInteger(e.partition) || (e.partition as number) < 0)
      throw new Error(`${where}: "partition" must be an integer >= 0`);
    const replicas = e.replicas ?? [];
    if (!Array.isArray(replicas) || !replicas.every((r) => Number.isInteger(r) && r >= 0))
      throw new Error(`${where}: "replicas" must be a list of broker ids`);
    if (!cancel && replicas.length === 0)
      throw new Error(`${where}: "replicas" must name at least one broker`);
    if (e.log_dirs !== undefined && !(Array.isArray(e.log_dirs) && e.log_dirs.every((l) => l === 'any')))
      throw new Error(
        `${where}: "log_dirs" other than "any" are not supported (a node has one log directory)`,
      );
    return { topic: e.topic, partition: e.partition as number, replicas: replicas as number[] };
  });
}

/** `TOPIC` or `TOPIC:PARTITION` arguments, by topic (a bare topic: all its partitions); none: undefined. */
function topicPartitions(args: string[]): { topic: string; partitions?: number[] }[] | undefined {
  if (args.length === 0) return undefined;
  const byTopic = new Map<string, Set<number> | 'all'>();
  for (const arg of args) {
    const colon = arg.lastIndexOf(':');
    const topic = colon < 0 ? arg : arg.slice(0, colon);
    if (topic === '') throw new UsageError(`expected TOPIC or TOPIC:PARTITION, got ${JSON.stringify(arg)}`);
    if (colon < 0) {
      byTopic.set(topic, 'all');
      continue;
    }
    const partition = int(arg.slice(colon + 1), `the partition of ${arg}`);
    const known = byTopic.get(topic);
    if (known === 'all') continue;
    if (known) known.add(partition);
    else byTopic.set(topic, new Set([partition]));
  }
  return [...byTopic].map(([topic, ps]) => (ps === 'all' ? { topic } : { topic, partitions: [...ps] }));
}

/** `1,2:2,3`: one replica list per new partition. */
function assignmentsOf(v: string): number[][] {
  return v.split(':').map((list) =>
    list.split(',').map((id) => {
      if (!/^\d+$/.test(id.trim()))
        throw new UsageError(`--assignments takes broker ids like 1,2:2,3, got ${JSON.stringify(v)}`);
      return Number(id);
    }),
  );
}

/** `--timeout SECONDS`, 600 by default. */
function seconds(v: string | undefined): number {
  if (v === undefined) return 600;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1)
    throw new UsageError(`--timeout takes whole seconds >= 1, got ${JSON.stringify(v)}`);
  return n;
}

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

function movesText(moves: PartitionMove[]): string {
  return table([
    ['TOPIC', 'PARTITION', 'FROM', 'TO'],
    ...moves.map((m) => [m.topic, m.partition, m.from.join(','), m.to.join(',')]),
  ]);
}

/** A rebalance plan: its moves, and each node's load before -> after them. */
function planText(plan: BalancePlan): string {
  const after = new Map(plan.after.map((l) => [l.nodeId, l]));
  const ids = [...new Set([...plan.before, ...plan.after].map((l) => l.nodeId))].sort((a, b) => a - b);
  const before = new Map(plan.before.map((l) => [l.nodeId, l]));
  const cell = (id: number, f: (l: { replicas: number; leaders: number; bytes: number }) => string) => {
    const b = before.get(id);
    const a = after.get(id);
    const x = b ? f(b) : '-';
    const y = a ? f(a) : '-';
    return x === y ? x : `${x} -> ${y}`;
  };
  return [
    plan.moves.length === 0
      ? 'No moves: the replicas are balanced.'
      : `${plan.moves.length} move(s):\n${movesText(plan.moves)}`,
    table([
      ['NODE', 'REPLICAS', 'LEADERS', 'BYTES'],
      ...ids.map((id) => [
        id,
        cell(id, (l) => String(l.replicas)),
        cell(id, (l) => String(l.leaders)),
        cell(id, (l) => humanBytes(l.bytes)),
      ]),
    ]),
  ].join('\n');
}

/**
 * Progress of a wait: a bar redrawn in place on a terminal; elsewhere a plain line when it changes
 * (or every `plainLineIntervalMs`). On stderr with --json, so that stdout holds the JSON alone.
 */
class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #last = '';
  #lastAtMs = 0;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  update(done: number, total: number, what: string, detail = ''): void {
    const line = `${done}/${total} ${what}${detail ? `, ${detail}` : ''}`;
    if (this.#tty) {
      const width = 30;
      const filled = total === 0 ? width : Math.min(width, Math.round((width * done) / total));
      this.#stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${line}\x1b[K`);
      this.#drawn = true;
      return;
    }
    const now = Date.now();
    if (line === this.#last && now - this.#lastAtMs < plainLineIntervalMs) return;
    this.#last = line;
    this.#lastAtMs = now;
    this.#stream.write(`${line}\n`);
  }

  end(): void {
    if (this.#drawn) this.#stream.write('\n');
    this.#drawn = false;
  }
}

function progressOf(json: boolean): Progress {
  return new Progress(json ? process.stderr : process.stdout);
}

/** A retriable failure (a node or the controller moving): the wait asks again. */
function retriable(err: unknown): boolean {
  return err instanceof BrokerClientError && err.retriable;
}

/**
 * Waits until none of `moves` is listed as in progress, or `timeoutMs` passes. The progress shows
 * the moves done and, of those left, how many of their added replicas have joined the ISR and how far
 * the slowest follower is behind.
 */
async function waitForMoves(
  client: BrokerClient,
  moves: { topic: string; partition: number }[],
  progress: Progress,
  timeoutMs: number,
): Promise<{ done: boolean; left: number }> {
  const wanted = new Set(moves.map((m) => `${m.topic}-${m.partition}`));
  const deadline = Date.now() + timeoutMs;
  let left = wanted.size;
  try {
    for (;;) {
      try {
        const ongoing = (await client.listPartitionReassignments()).filter((r) =>
          wanted.has(`${r.topic}-${r.partition}`),
        );
        left = ongoing.length;
        let adding = 0;
        let inSync = 0;
        let lag = -1;
        for (const t of new Set(ongoing.map((r) => r.topic))) {
          const info = await client.describeTopic(t);
          for (const r of ongoing.filter((o) => o.topic === t)) {
            const p = info.partitionInfo[r.partition];
            adding += r.addingReplicas.length;
            inSync += r.addingReplicas.filter((id) => p?.isrIds.includes(id)).length;
            lag = Math.max(lag, p?.maxFollowerLag ?? -1);
          }
        }
        const detail =
          adding === 0
            ? ''
            : `added replicas in sync ${inSync}/${adding}${lag >= 0 ? `, slowest follower ${lag} offset(s) behind` : ''}`;
        progress.update(wanted.size - left, wanted.size, 'moves done', detail);
        if (left === 0) return { done: true, left };
      } catch (err) {
        if (!retriable(err)) throw err;
      }
      if (Date.now() >= deadline) return { done: false, left };
      await sleep(pollIntervalMs);
    }
  } finally {
    progress.end();
  }
}

/**
 * Waits until node `id` is gone from GetServers (its replicas moved, it unregistered), or `timeoutMs`
 * passes. `replicas` is what it held before; the progress counts the replicas moved off it.
 */
async function waitForRemoval(
  client: BrokerClient,
  id: number,
  replicas: number,
  progress: Progress,
  timeoutMs: number,
): Promise<{ done: boolean; left: number; moved: number }> {
  const deadline = Date.now() + timeoutMs;
  let total = replicas;
  let left = replicas;
  try {
    for (;;) {
      try {
        const node = (await client.getServers()).find((s) => s.nodeId === id);
        if (!node) return { done: true, left: 0, moved: total };
        left = node.replicas;
        total = Math.max(total, left);
        progress.update(total - left, total, `replicas moved off node ${id}`, `${left} left`);
      } catch (err) {
        if (!retriable(err)) throw err;
      }
      if (Date.now() >= deadline) return { done: false, left, moved: total - left };
      await sleep(pollIntervalMs);
    }
  } finally {
    progress.end();
  }
}

/** `key=value` flags as a record; `flag` names them in the usage error. */
function keyValues(pairs: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of pairs ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} takes key=value, got ${JSON.stringify(kv)}`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function int(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`${flag} takes an integer >= 0, got ${JSON.stringify(v)}`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`broker-admin: ${err.message}\n\n${USAGE}\n`);
      process.exit(2);
    }
    const code = err instanceof BrokerClientError ? ` [${err.code}]` : '';
    process.stderr.write(`broker-admin: ${(err as Error).message}${code}\n`);
    process.exit(1);
  },
);
