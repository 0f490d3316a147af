#!/usr/bin/env node
/**
 * `broker-admin`: topic administration against a running broker over gRPC, printing tables for people
 * or JSON (`--json`) for scripts.
 *
 *   broker-admin [--server host:port[,host:port]] [--json] <command> [args]
 *     create-topic <name> [--partitions N] [--replication-factor N] [--config key=value ...]
 *     list-topics
 *     describe-topic <name>
 *     delete-topic <name>
 */
import { parseArgs } from 'node:util';
import { BrokerClient, BrokerClientError, type TopicInfo } from '../client/index.ts';

const USAGE = `Usage: broker-admin [--server host:port[,host:port...]] [--json] <command> [args]

Commands:
  create-topic <name> [--partitions N] [--replication-factor N] [--config key=value]...
  list-topics
  describe-topic <name>
  delete-topic <name>

--server defaults to $BROKER_SERVER or localhost:8080.`;

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
      ],
      ...t.partitionInfo.map((p) => [
        p.partition,
        p.leader,
        p.replicas.join(','),
        p.isr.join(','),
        p.logStartOffset,
        p.logEndOffset,
        p.highWatermark,
        p.segments,
        p.sizeBytes,
      ]),
    ]),
  );
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      json: { type: 'boolean', default: false },
      partitions: { type: 'string' },
      'replication-factor': { type: 'string' },
      config: { type: 'string', multiple: true },
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
      case 'create-topic': {
        const configs: Record<string, string> = {};
        for (const kv of values.config ?? []) {
          const eq = kv.indexOf('=');
          if (eq <= 0) throw new UsageError(`--config takes key=value, got ${JSON.stringify(kv)}`);
          configs[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
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
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } finally {
    client.close();
  }
}

class UsageError extends Error {}

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
