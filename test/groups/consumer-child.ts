/**
 * A consumer process for the group tests: joins `group` on `topic` through the high-level consumer and
 * reports, one JSON line each on stdout, every assignment (with its generation), every record it
 * processed, and its exit. A line "close" on stdin closes it gracefully (commit, leave) and ends the
 * process.
 *
 *   node consumer-child.ts <server> <group> <topic> [processing-delay-ms]
 */
import { createInterface } from 'node:readline';
import { BrokerClient } from '../../src/client/index.ts';

const [server, groupId, topic, delay = '0'] = process.argv.slice(2);
const processingDelayMs = Number(delay);
const report = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const client = await BrokerClient.connect(server, { retryBackoffMs: 50, retryBackoffMaxMs: 500 });
const consumer = client.consumer({
  groupId,
  topics: topic,
  fromBeginning: true,
  sessionTimeoutMs: Number(process.env.SESSION_TIMEOUT_MS ?? 2000),
  rebalanceTimeoutMs: 10_000,
  autoCommitIntervalMs: 100,
  maxWaitMs: 300,
  clientId: `child-${process.pid}`,
  onPartitionsAssigned: (e) =>
    report({
      type: 'assigned',
      pid: process.pid,
      memberId: e.memberId,
      generation: e.generationId,
      partitions: e.assignments.flatMap((a) => a.partitions),
    }),
  onPartitionsRevoked: (e) => report({ type: 'revoked', pid: process.pid, generation: e.generationId }),
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'close') void consumer.close();
});

await consumer.run({
  eachMessage: async ({ partition, message }) => {
    if (processingDelayMs > 0) await new Promise((r) => setTimeout(r, processingDelayMs));
    report({
      type: 'record',
      pid: process.pid,
      generation: consumer.membership.generationId,
      partition,
      offset: message.offset,
      value: message.value?.toString(),
    });
  },
});
report({ type: 'closed', pid: process.pid });
client.close();
process.exit(0);
