#!/usr/bin/env node
/**
 * `broker-admin`: topic administration against a running broker over gRPC, printing tables for people
 * or JSON (`--json`) for scripts.
 *
 *   broker-admin [--server host:port[,host:port]] [--json] <command> [args]
 *     cluster
 *     remove-node <id>
 *     transfer-controller [<id>]
 *     create-topic <name> [--partitions N] [--replication-factor N] [--config key=value ...]
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
import { parseArgs } from 'node:util';
import {
  BrokerClient,
  BrokerClientError,
  type ConsumedMessage,
  DLQ_HEADERS,
  type GroupDescription,
  type ServerInfo,
  type TopicInfo,
} from '../client/index.ts';

const USAGE = `Usage: broker-admin [--server host:port[,host:port...]] [--json] <command> [args]

Commands:
  cluster                             the nodes: addresses, roles (controller, voter, observer),
                                      fenced or not, and the cluster id
  remove-node <id>                    removes a (stopped) node from the cluster: its leaderships
                                      move and it leaves the metadata quorum
  transfer-controller [<id>]          moves the active controller to voter <id> (default: the live
                                      voter most caught up), as before maintenance of its node
  create-topic <name> [--partitions N] [--replication-factor N] [--config key=value]...
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

--server defaults to $BROKER_SERVER or localhost:8080; any node of a cluster will do.`;

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
      ['NODE', 'ID', 'ADDRESS', 'KAFKA-PORT', 'ROLE', 'FENCED'],
      ...servers.map((s) => [
        s.id,
        s.nodeId,
        s.address,
        s.kafkaPort || '-',
        roleOf(s),
        s.fenced ? 'yes' : 'no',
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
        await client.removeServer(id);
        out(`Removed node ${id} from the cluster.`, { removed: id });
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
