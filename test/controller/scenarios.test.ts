/**
 * Controller scenario scripts with recorded output (etcd raft's testdata run by datadriven; the same
 * form as test/raft/testdata): each file under testdata/ is a sequence of commands, each followed by
 * `----` and the records it committed and the answer it gave. Run with UPDATE=1 to rewrite the
 * recorded output after an intended change, then review the diff.
 *
 * Commands (key=value arguments):
 *   register id=N [inc=S] [rack=S]        register a broker (incarnation defaults to inc-N)
 *   heartbeat id=N [lag=K] [shutdown]     heartbeat, reporting the log offset minus K as applied
 *   advance ms=N [alive=1,2]              move the clock, heartbeat the alive brokers, then tick
 *   create name=S (partitions=N rf=N | assign=1,2;2,3) [unclean]
 *   delete name=S
 *   alter-isr topic=S p=N isr=1,2 [leaderEpoch=N] [partitionEpoch=N]   as the partition's leader
 *   config (topic=S | broker=S) key=S [value=S]   set, or delete without value
 *   pids id=N                             allocate a producer-id block
 *   image                                 print brokers and partitions
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Controller, OperationResult } from '../../src/controller/controller.ts';
import { isBrokerError } from '../../src/errors.ts';
import type { MetadataRecord } from '../../src/metadata/records.ts';
import { Harness, listenersOf } from '../helpers/metadata.ts';

const dir = join(import.meta.dirname, 'testdata');

class Script {
  readonly h = new Harness({ sessionTimeoutMs: 9000 });
  readonly names = new Map<string, string>();

  exec(cmd: string, flags: Set<string>, kv: Map<string, string>): string {
    const num = (k: string, dflt?: number): number => {
      const v = kv.get(k);
      if (v === undefined) {
        assert.ok(dflt !== undefined, `${cmd} needs ${k}=`);
        return dflt;
      }
      return Number(v);
    };
    const list = (v: string) => (v === '' ? [] : v.split(',').map(Number));
    const h = this.h;
    switch (cmd) {
      case 'register': {
        const id = num('id');
        return this.#run((c) =>
          c.registerBroker(
            {
              brokerId: id,
              incarnationId: kv.get('inc') ?? `inc-${id}`,
              listeners: listenersOf(id),
              rack: kv.get('rack') ?? null,
              controllerEligible: true,
            },
            h.nowMs,
          ),
        );
      }
      case 'heartbeat': {
        const id = num('id');
        const b = h.image.brokers.get(id);
        return this.#run((c) =>
          c.heartbeat(
            {
              brokerId: id,
              brokerEpoch: b?.epoch ?? 0,
              metadataOffset: h.offset - num('lag', 0),
              wantShutDown: flags.has('shutdown'),
            },
            h.nowMs,
          ),
        );
      }
      case 'advance': {
        h.nowMs += num('ms');
        const out: string[] = [];
        for (const id of list(kv.get('alive') ?? '')) {
          const text = this.exec('heartbeat', new Set(), new Map([['id', String(id)]]));
          // Routine heartbeats are only shown when they change something.
          if (text.includes('+ ')) out.push(`heartbeat ${id}:`, text);
        }
        out.push(
          `t=${h.nowMs}`,
          this.#run((c) => c.tick(h.nowMs)),
        );
        return out.join('\n');
      }
      case 'create': {
        const assign = kv.get('assign');
        return this.#run((c) =>
          c.createTopics([
            {
              name: kv.get('name')!,
              ...(assign
                ? { assignments: assign.split(';').map(list) }
                : { partitions: num('partitions', 1), replicationFactor: num('rf', 1) }),
              configs: flags.has('unclean') ? { 'unclean.leader.election.enable': 'true' } : {},
            },
          ]),
        );
      }
      case 'delete':
        return this.#run((c) => c.deleteTopics([kv.get('name')!]));
      case 'alter-isr': {
        const t = h.image.topic(kv.get('topic')!);
        assert.ok(t, `no topic ${kv.get('topic')}`);
        const p = t.partitions[num('p')];
        const leader = h.image.brokers.get(p.leader);
        return this.#run((c) =>
          c.alterPartition({
            brokerId: p.leader,
            brokerEpoch: leader?.epoch ?? 0,
            topicId: t.id,
            partition: num('p'),
            leaderEpoch: num('leaderEpoch', p.leaderEpoch),
            partitionEpoch: num('partitionEpoch', p.partitionEpoch),
            newIsr: list(kv.get('isr')!),
          }),
        );
      }
      case 'config': {
        const topic = kv.get('topic');
        return this.#run((c) =>
          c.alterConfigs([
            {
              resourceType: topic !== undefined ? 'topic' : 'broker',
              resourceName: topic ?? kv.get('broker') ?? '',
              changes: { [kv.get('key')!]: kv.get('value') ?? null },
            },
          ]),
        );
      }
      case 'pids': {
        const id = num('id');
        return this.#run((c) => c.allocateProducerIds(id, h.image.brokers.get(id)?.epoch ?? 0));
      }
      case 'image': {
        const out: string[] = [];
        for (const b of [...h.image.brokers.values()].sort((x, y) => x.id - y.id)) {
          const state = b.fenced ? 'fenced' : b.inControlledShutdown ? 'shutting-down' : 'active';
          out.push(`broker ${b.id} epoch=${b.epoch} ${state}${b.rack ? ` rack=${b.rack}` : ''}`);
        }
        for (const t of [...h.image.topicsById.values()].sort((x, y) => (x.name < y.name ? -1 : 1))) {
          t.partitions.forEach((p, i) => {
            out.push(
              `${t.name}-${i} replicas=[${p.replicas}] isr=[${p.isr}] leader=${p.leader} leaderEpoch=${p.leaderEpoch} partitionEpoch=${p.partitionEpoch}`,
            );
          });
        }
        return out.join('\n');
      }
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  #run(op: (c: Controller) => OperationResult<unknown>): string {
    let answer: unknown;
    const before = this.h.log.length;
    try {
      answer = this.h.run(op);
    } catch (err) {
      if (isBrokerError(err)) return `error ${err.code}: ${err.message}`;
      throw err;
    }
    const lines =
      this.h.log.length > before ? this.h.log[this.h.log.length - 1].map((r) => `+ ${this.#format(r)}`) : [];
    lines.push(`= ${formatAnswer(answer)}`);
    return lines.join('\n');
  }

  #format(r: MetadataRecord): string {
    const name = (id: string) => this.names.get(id) ?? id;
    switch (r.type) {
      case 'RegisterBroker':
        return `RegisterBroker ${r.brokerId} epoch=${r.brokerEpoch} inc=${r.incarnationId}${r.fenced ? ' fenced' : ''}${r.rack ? ` rack=${r.rack}` : ''}`;
      case 'UnregisterBroker':
        return `UnregisterBroker ${r.brokerId} epoch=${r.brokerEpoch}`;
      case 'BrokerRegistrationChange':
        return `BrokerRegistrationChange ${r.brokerId}${r.fenced === undefined ? '' : ` fenced=${r.fenced}`}${r.inControlledShutdown === undefined ? '' : ` inControlledShutdown=${r.inControlledShutdown}`}`;
      case 'Topic':
        this.names.set(r.topicId, r.name);
        return `Topic ${r.name}`;
      case 'Partition':
        return `Partition ${name(r.topicId)}-${r.partition} replicas=[${r.replicas}] isr=[${r.isr}] leader=${r.leader}`;
      case 'PartitionChange': {
        const p = this.h.image.partition(r.topicId, r.partition);
        const parts = [`PartitionChange ${name(r.topicId)}-${r.partition}`];
        if (r.leader !== undefined) parts.push(`leader=${r.leader}`);
        if (r.isr !== undefined) parts.push(`isr=[${r.isr}]`);
        if (r.replicas !== undefined) parts.push(`replicas=[${r.replicas}]`);
        // The epochs after the batch, for reading the bumps.
        if (p) parts.push(`(now leaderEpoch=${p.leaderEpoch} partitionEpoch=${p.partitionEpoch})`);
        return parts.join(' ');
      }
      case 'RemoveTopic':
        return `RemoveTopic ${name(r.topicId)}`;
      case 'Config':
        return `Config ${r.resourceType}:${r.resourceName || '<default>'} ${r.key}=${r.value ?? '<deleted>'}`;
      case 'ProducerIds':
        return `ProducerIds broker=${r.brokerId} next=${r.nextProducerId}`;
    }
  }
}

function formatAnswer(answer: unknown): string {
  return JSON.stringify(answer, (_k, v) => {
    if (v instanceof Error) return `${(v as { code?: string }).code}: ${v.message}`;
    if (typeof v === 'string' && /^[0-9a-f]{8}-/.test(v)) return undefined; // topic ids vary
    return v;
  });
}

function runScript(text: string): string {
  const script = new Script();
  const lines = text.split('\n');
  const out: string[] = [];
  let k = 0;
  while (k < lines.length) {
    const line = lines[k];
    out.push(line);
    k++;
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (lines[k] !== '----') throw new Error(`expected ---- after "${line}" at line ${k + 1}`);
    out.push('----');
    k++;
    while (k < lines.length && lines[k] !== '') k++;
    const [cmd, ...rest] = line.trim().split(/\s+/);
    const flags = new Set<string>();
    const kv = new Map<string, string>();
    for (const r of rest) {
      const eq = r.indexOf('=');
      if (eq > 0) kv.set(r.slice(0, eq), r.slice(eq + 1));
      else flags.add(r);
    }
    out.push(script.exec(cmd, flags, kv));
  }
  return out.join('\n');
}

for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort()) {
  test(`controller scenario ${file}`, () => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const actual = runScript(text);
    if (process.env.UPDATE === '1') {
      writeFileSync(path, actual);
      return;
    }
    assert.equal(actual, text);
  });
}
