/**
 * A static group member (group.instance.id) with @platformatic/kafka, for the static-membership test:
 * joins `group` on `topic` and prints one JSON line per completed join (member id, generation, leader
 * or not, assigned partitions). The test kills it with SIGKILL, as a crash or a pod restart would, so
 * that it never sends LeaveGroup; a new process with the same instance id is its restart.
 *
 *   node static-member-child.ts <bootstrap host:port> <group> <topic> <instance id>
 */
import { Consumer, stringDeserializers } from '@platformatic/kafka';

const [bootstrap, groupId, topic, groupInstanceId] = process.argv.slice(2);
const report = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const consumer = new Consumer({
  clientId: `static-${groupInstanceId}`,
  groupId,
  groupInstanceId,
  bootstrapBrokers: [bootstrap],
  deserializers: stringDeserializers,
  // Long enough that a killed member's session outlives its restart: the restart must not rebalance.
  sessionTimeout: 60_000,
  rebalanceTimeout: 60_000,
  heartbeatInterval: 200,
  maxWaitTime: 200,
  retries: 20,
  retryDelay: 200,
});
consumer.on(
  'consumer:group:join',
  (e: {
    memberId: string;
    generationId: number;
    isLeader: boolean;
    assignments: { topic: string; partitions: number[] }[];
  }) =>
    report({
      type: 'joined',
      memberId: e.memberId,
      generationId: e.generationId,
      isLeader: e.isLeader,
      partitions: e.assignments.flatMap((a) => a.partitions).sort((x, y) => x - y),
    }),
);
consumer.on('consumer:group:rebalance', () => report({ type: 'rebalance' }));
consumer.on('error', (err: Error) => report({ type: 'error', message: err.message }));
const stream = await consumer.consume({ topics: [topic], mode: 'latest', autocommit: false });
stream.on('data', () => {});
stream.on('error', (err: Error) => report({ type: 'error', message: err.message }));
