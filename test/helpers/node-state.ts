/**
 * What a broker process holds, read from outside: its open descriptors (/proc/PID/fd), the partition
 * directories in its data directory, and a raw Kafka caller over one real socket. The checks that end
 * the attack tests (issues 10 and 16): the node is healthy and restartable, and holds no more than the
 * topics it registered.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { ApiName } from '../../src/api/kafka/apis/index.ts';
import type { Message } from '../../src/api/kafka/codec.ts';
import { decodeResponse, RawClient, requestFrame } from '../kafka/helpers.ts';

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Names of the partition directories (`<topic>-<n>`) in a data directory, sorted. */
export function partitionDirs(dataDir: string): string[] {
  return readdirSync(dataDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^.+-\d+$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** Every other entry of a data directory: anything a failed or interrupted change left aside. */
export function strayEntries(dataDir: string): string[] {
  return readdirSync(dataDir)
    .filter((n) => n !== 'meta' && !/^.+-\d+$/.test(n))
    .sort();
}

/** The directories a set of topics should have: `<topic>-0` .. `<topic>-(n-1)` each. */
export function expectedDirs(topics: { name: string; partitions: number }[]): string[] {
  return topics.flatMap((t) => Array.from({ length: t.partitions }, (_, p) => `${t.name}-${p}`)).sort();
}

export interface KafkaCaller {
  // biome-ignore lint/suspicious/noExplicitAny: decoded responses are checked field by field by callers
  call(name: ApiName, version: number, body: Message): Promise<Record<string, any>>;
  close(): void;
}

/** One Kafka connection whose calls wait for their answers. */
export async function kafkaCaller(port: number): Promise<KafkaCaller> {
  const c = await RawClient.open(port);
  let correlation = 0;
  let chain: Promise<unknown> = Promise.resolve();
  const call = (name: ApiName, version: number, body: Message) => {
    const run = chain.then(async () => {
      c.write(requestFrame(name, version, ++correlation, body));
      const payload = await c.next();
      assert.ok(payload, `${name} v${version}: connection closed`);
      const r = decodeResponse(name, version, payload);
      assert.equal(r.correlationId, correlation);
      // biome-ignore lint/suspicious/noExplicitAny: see KafkaCaller
      return r.body as Record<string, any>;
    });
    chain = run.catch(() => {});
    return run;
  };
  return { call, close: () => c.close() };
}
