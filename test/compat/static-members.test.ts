/**
 * Static group membership (KIP-345) with a real client: @platformatic/kafka consumers with a
 * group.instance.id, each in its own process, killed with SIGKILL and started again with the same
 * instance id, many times. A restart must not rebalance: the restarted member gets a new member id and
 * its old partitions in the same generation, and the other members never join again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kafka } from '../kafka-door/raw.ts';
import { CompatBroker, compatDir, JsonLinesChild, waitFor } from './helpers.ts';

interface Joined {
  type: 'joined';
  memberId: string;
  generationId: number;
  isLeader: boolean;
  partitions: number[];
}

test('@platformatic/kafka static members: restarting one (same group.instance.id) never rebalances the others', async (t) => {
  const broker = await CompatBroker.start();
  t.after(() => broker.close());
  const k = await kafka(broker.kafkaPort);
  t.after(() => k.close());
  const partitions = 6;
  const created = await k.call('CreateTopics', 7, {
    topics: [
      { name: 'static', numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(created.topics[0].errorCode, 0);
  const start = (instance: string) =>
    new JsonLinesChild(
      process.execPath,
      [`${compatDir}static-member-child.ts`, broker.kafkaAddress, 'statics', 'static', instance],
      t,
    );
  const joins = (c: JsonLinesChild) => c.lines.filter((l) => l.type === 'joined') as unknown as Joined[];
  const instances = ['a', 'b', 'c'];
  const members = new Map(instances.map((i) => [i, start(i)]));
  const describe = async () => {
    const d = await k.call('DescribeGroups', 5, {
      groups: ['statics'],
      includeAuthorizedOperations: false,
    });
    return d.groups[0] as {
      groupState: string;
      members: { memberId: string; groupInstanceId: string }[];
    };
  };
  // The three settle into one generation that owns every partition.
  const settled = await waitFor('three members in one stable generation', async () => {
    const last = [...members.values()].map((c) => joins(c).at(-1));
    if (last.some((j) => j === undefined)) return undefined;
    const gens = new Set(last.map((j) => j!.generationId));
    const owned = last.flatMap((j) => j!.partitions).sort((x, y) => x - y);
    const g = await describe();
    return gens.size === 1 &&
      owned.length === partitions &&
      g.groupState === 'Stable' &&
      g.members.length === 3
      ? last
      : undefined;
  });
  const generation = settled[0]!.generationId;
  const ownedBy = new Map(instances.map((inst, i) => [inst, settled[i]!.partitions]));
  const joinsBefore = new Map(instances.map((inst) => [inst, joins(members.get(inst)!).length]));

  // Restart members in a fixed, varied order (each one more than once, the leader among them).
  const order = ['b', 'a', 'c', 'a', 'b', 'c', 'c', 'a'];
  for (const [n, inst] of order.entries()) {
    const old = members.get(inst)!;
    const oldId = joins(old).at(-1)!.memberId;
    old.kill();
    await old.exited;
    const fresh = start(inst);
    members.set(inst, fresh);
    joinsBefore.set(inst, 0);
    const j = (await waitFor(`restart ${n} of ${inst} joins`, () => joins(fresh)[0])) as Joined;
    assert.equal(j.generationId, generation, `restart ${n} of ${inst}: same generation, no rebalance`);
    assert.notEqual(j.memberId, oldId, 'a new member id replaces the old one');
    assert.deepEqual(j.partitions, ownedBy.get(inst), `restart ${n} of ${inst} keeps its partitions`);
    const g = await describe();
    assert.equal(g.groupState, 'Stable');
    assert.equal(g.members.length, 3);
    assert.equal(g.members.find((m) => m.groupInstanceId === inst)?.memberId, j.memberId);
  }
  // A last look after every restart: nobody joined again, nobody saw a rebalance.
  for (const inst of instances) {
    const c = members.get(inst)!;
    assert.equal(joins(c).length, joinsBefore.get(inst) === 0 ? 1 : joinsBefore.get(inst));
    assert.ok(!c.lines.some((l) => l.type === 'rebalance'), `${inst} saw no rebalance`);
    assert.ok(!c.lines.some((l) => l.type === 'error'), `${inst}: ${JSON.stringify(c.lines)}`);
  }
});
