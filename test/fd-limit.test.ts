/**
 * The partition limit follows the process's open files limit: a broker started under `ulimit -n 1100`
 * refuses a topic whose partitions would not fit, with an error that says why, instead of failing to
 * open logs later.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BrokerClient, type BrokerClientError } from '../src/client/index.ts';
import { brokerBin } from './helpers/broker-process.ts';
import { tempDir } from './helpers/tmp.ts';

test('the partition limit is lowered to fit the open files limit', async (t) => {
  const dir = await tempDir(t);
  const cmd = `ulimit -n 1100 && exec "${process.execPath}" "${brokerBin}" --data-dir "${dir}" --grpc-port 0 --metrics-port 0 --kafka-port 0 --raft-port 0 --data-port 0 --bind-addr 127.0.0.1`;
  const proc = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => proc.kill('SIGKILL'));
  const lines: Record<string, unknown>[] = [];
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) {
        const entry = JSON.parse(l) as Record<string, unknown>;
        lines.push(entry);
        if (entry.msg === 'broker ready') resolve(entry);
      }
    });
    proc.on('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  // 1100 descriptors less a reserve of a quarter (275): 825 partitions.
  const lowered = lines.find((l) => String(l.msg).includes('lowered to fit the open files limit'));
  assert.deepEqual([lowered?.openFilesLimit, lowered?.effective], [1100, 825]);
  const client = await BrokerClient.connect(`127.0.0.1:${ready.grpcPort}`, { retries: 0 });
  t.after(() => client.close());
  await client.createTopic('fits', { partitions: 800 });
  const err = (await client.createTopic('too-many', { partitions: 30 }).catch((e) => e)) as BrokerClientError;
  assert.equal(err.code, 'POLICY_VIOLATION');
  assert.match(err.message, /800 partitions; 30 more would pass its limit of 825/);
});
