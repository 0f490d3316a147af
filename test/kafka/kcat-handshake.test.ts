/**
 * librdkafka (Debian's kcat, librdkafka 2.0.2) against the listener with a stub handler that answers
 * Metadata with one broker and no topics: `kcat -L` succeeding proves the ApiVersions handshake
 * (flexible request header v2, response header v0), version negotiation and a flexible Metadata
 * exchange work with a real client. kafka-python 2.0.2 (Debian) is run the same way: it probes the
 * broker's version through ApiVersions and then reads cluster metadata. (Whether it pipelines on this
 * path is not checked here; ordering under pipelining is tested directly in server.test.ts.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { KafkaRequestHandler, RequestContext } from '../../src/api/kafka/handler.ts';
import { KafkaServer } from '../../src/api/kafka/server.ts';
import type { Message } from '../../src/protocol/kafka/codec.ts';
import { debianPython, pythonHas, requireDebian } from '../helpers/debian.ts';
import { recordingLogger } from './helpers.ts';

const run = promisify(execFile);
const kcat = '/usr/bin/kcat';

class MetadataOnly implements KafkaRequestHandler {
  port = 0;
  seen: string[] = [];
  async handle(ctx: RequestContext): Promise<Message | null> {
    this.seen.push(`${ctx.apiName} v${ctx.apiVersion}`);
    if (ctx.apiName !== 'Metadata') throw new Error(`stub handler has no ${ctx.apiName}`);
    return {
      brokers: [{ nodeId: 1, host: '127.0.0.1', port: this.port, rack: null }],
      clusterId: 'stub-cluster',
      controllerId: 1,
      topics: [],
    };
  }
}

const handler = new MetadataOnly();
const logger = recordingLogger();
let server: KafkaServer;

before(async () => {
  server = new KafkaServer({ host: '127.0.0.1', port: 0, handler, logger });
  handler.port = (await server.listen()).port;
});

after(async () => {
  await server.close();
});

test('kcat -L completes the handshake and lists our one broker', async (t) => {
  if (!requireDebian(t, existsSync(kcat), 'kcat')) return;
  handler.seen = [];
  const { stdout } = await run(kcat, ['-b', `127.0.0.1:${handler.port}`, '-L', '-m', '10'], {
    timeout: 30_000,
  });
  assert.match(stdout, /Metadata for all topics \(from broker 1: 127\.0\.0\.1:\d+\/1\)/);
  assert.match(stdout, / 1 brokers:\n\s+broker 1 at 127\.0\.0\.1:\d+ \(controller\)/);
  assert.match(stdout, / 0 topics:/);
  // librdkafka 2.0.2 speaks Metadata up to v4; its ApiVersions request is v3 (flexible, header v2).
  assert.ok(handler.seen.includes('Metadata v4'), `kcat sent ${handler.seen.join(', ')}`);
  const hello = logger.lines.find(
    (l) =>
      l.msg === 'kafka ApiVersions answered' && (l.obj as { software?: string }).software === 'librdkafka',
  );
  assert.equal(
    (hello?.obj as { apiVersion?: number })?.apiVersion,
    3,
    'librdkafka negotiated with ApiVersions v3',
  );
  assert.ok(!logger.lines.some((l) => l.level === 'error'), 'no handler or encoding error was logged');
});

test('kafka-python bootstraps (ApiVersions probing) and reads cluster metadata', async (t) => {
  if (!requireDebian(t, pythonHas('kafka'), 'python3-kafka')) return;
  handler.seen = [];
  const script = [
    'import sys',
    'from kafka import KafkaClient',
    `c = KafkaClient(bootstrap_servers="127.0.0.1:${handler.port}", request_timeout_ms=10000, api_version_auto_timeout_ms=10000)`,
    'print("api_version", c.config["api_version"])',
    'f = c.cluster.request_update()',
    'c.poll(future=f, timeout_ms=10000)',
    'print("brokers", sorted((b.nodeId, b.host, b.port) for b in c.cluster.brokers()))',
    'c.close()',
  ].join('\n');
  const { stdout } = await run(debianPython, ['-c', script], { timeout: 60_000 });
  assert.match(stdout, /api_version \(2, \d+/, 'kafka-python recognised a Kafka 2.x-level broker');
  assert.match(stdout, new RegExp(`brokers \\[\\(1, '127\\.0\\.0\\.1', ${handler.port}\\)\\]`));
  assert.ok(
    handler.seen.some((s) => s.startsWith('Metadata')),
    `kafka-python sent ${handler.seen.join(', ')}`,
  );
});
