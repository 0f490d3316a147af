/**
 * Issue 10 findings 1, 8 and 9 end to end: the real broker process on a real full disk (a tmpfs), on a
 * data directory with a corrupt closed segment read by librdkafka (kcat), and on one written by an
 * older release whose segment overflowed its relative offsets. Each ends with the broker healthy and
 * restartable, and the faulty partition never takes another down.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { BrokerClient, type BrokerClientError } from '../../src/client/index.ts';
import { computeBatchCrc, F, forEachBatch, writeInt64 } from '../../src/records/batch.ts';
import { type BrokerProcess, spawnBroker } from '../helpers/broker-process.ts';
import { requireDebian } from '../helpers/debian.ts';
import { fillDisk, smallDisk } from '../helpers/small-disk.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeBatch } from './helpers.ts';

const run = promisify(execFile);
const kcat = '/usr/bin/kcat';

/** Every value of a partition, in offset order. */
async function valuesOf(client: BrokerClient, topic: string): Promise<string[]> {
  const out: string[] = [];
  let offset = 0;
  for (;;) {
    const r = await client.consumeBatch(topic, offset, { partition: 0, maxRecords: 500 });
    if (r.records.length === 0) return out;
    for (const rec of r.records) out.push(rec.value?.toString() ?? '');
    offset = r.nextOffset;
  }
}

async function metric(broker: BrokerProcess, name: string): Promise<string[]> {
  const text = await (await fetch(`${broker.metricsUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

test('a full disk: errors only for what is not stored, reads go on, delete frees space, all survives a crash', async (t) => {
  const disk = await smallDisk(t, 24 * 1024 * 1024);
  let broker = await spawnBroker(disk);
  try {
    let client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    await client.createTopic('big', { partitions: 1, configs: { 'retention.ms': '-1' } });
    await client.createTopic('keep', { partitions: 1, configs: { 'retention.ms': '-1' } });
    await client.createTopic('other', { partitions: 1, configs: { 'retention.ms': '-1' } });
    for (let i = 0; i < 4; i++) {
      await client.produceBatch(
        'big',
        Array.from({ length: 1000 }, (_, j) => `big-${i}-${j}`.padEnd(1000, '.')),
      );
    }
    await client.produce('other', 'other-0', { partition: 0 });
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const v = `keep-${i}`.padEnd(3000, '.');
      await client.produce('keep', v, { partition: 0 });
      acked.push(v);
    }
    const filler = await fillDisk(disk);
    let errors = 0;
    for (let i = 20; i < 2000 && errors < 5; i++) {
      const v = `keep-${i}`.padEnd(3000, '.');
      try {
        await client.produce('keep', v, { partition: 0 });
        acked.push(v);
      } catch (err) {
        assert.equal((err as BrokerClientError).code, 'KAFKA_STORAGE_ERROR', String(err));
        errors++;
      }
    }
    assert.ok(errors > 0, 'the disk filled up');
    // Reads of everything acknowledged go on, on the failed partition and on the others.
    assert.deepEqual(await valuesOf(client, 'keep'), acked);
    assert.deepEqual(await valuesOf(client, 'other'), ['other-0']);
    assert.deepEqual(await metric(broker, 'storage_failed_partitions'), [
      'storage_failed_partitions{node="node-1"} 1',
    ]);
    // Deleting a topic works on the full disk, and frees the space it held.
    await client.deleteTopic('big');
    const after = 'keep-after-delete';
    await client.produce('keep', after, { partition: 0 });
    acked.push(after);
    assert.deepEqual(await metric(broker, 'storage_failed_partitions'), [
      'storage_failed_partitions{node="node-1"} 0',
    ]);
    await filler.release();
    client.close();

    // A crash now: the restart serves exactly what was acknowledged, nothing answered with an error.
    assert.equal(await broker.stop('SIGKILL'), 'SIGKILL');
    broker = await spawnBroker(disk);
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    assert.deepEqual(await valuesOf(client, 'keep'), acked);
    assert.deepEqual(
      (await client.listTopics())
        .map((tp) => tp.name)
        .filter((n) => !n.startsWith('__'))
        .sort(),
      ['keep', 'other'],
    );
    await client.produce('keep', 'last', { partition: 0 });
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
  } finally {
    await broker.stop('SIGKILL');
  }
});

test('a corrupt batch in a closed segment reaches a librdkafka consumer as an error, not a stall', async (t) => {
  if (!requireDebian(t, existsSync(kcat), 'kcat')) return;
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  try {
    let client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    const small = { 'retention.ms': '-1', 'segment.bytes': '4096' };
    await client.createTopic('bad', { partitions: 1, configs: small });
    await client.createTopic('good', { partitions: 1, configs: small });
    for (let i = 0; i < 60; i++) {
      await client.produce('bad', `bad-${i}`.padEnd(200, '.'), { partition: 0 });
      await client.produce('good', `good-${i}`.padEnd(200, '.'), { partition: 0 });
    }
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
    // Flip a byte in the records of the fifth batch of the first (closed) segment.
    const segDir = path.join(dir, 'bad-0');
    const first = (await readdir(segDir)).filter((n) => n.endsWith('.log')).sort()[0];
    const file = path.join(segDir, first);
    const bytes = await readFile(file);
    const starts: number[] = [];
    forEachBatch(bytes, (pos) => starts.push(pos));
    assert.ok(starts.length > 6, 'the first segment is closed and holds several batches');
    bytes[starts[4] + 70] ^= 0x20;
    await writeFile(file, bytes);

    broker = await spawnBroker(dir);
    const args = ['-C', '-b', broker.kafkaAddress!, '-p', '0', '-o', 'beginning', '-e', '-f', '%o\n'];
    // The good topic on the same broker reads whole.
    const good = await run(kcat, [...args, '-t', 'good'], { timeout: 60_000 });
    assert.equal(good.stdout.trim().split('\n').length, 60);
    // The bad one: the records before the corrupt batch, then an error the consumer sees.
    const bad = await run(kcat, [...args, '-t', 'bad'], { timeout: 60_000 }).then(
      (r) => ({ ...r, code: 0 }),
      (e: { stdout: string; stderr: string; code: number; killed: boolean }) => e,
    );
    assert.equal((bad as { killed?: boolean }).killed ?? false, false, 'kcat did not stall');
    assert.notEqual(bad.code, 0, 'kcat reports the error');
    // librdkafka's name for CORRUPT_MESSAGE (2) is "Invalid message".
    assert.match(bad.stderr, /Broker: Invalid message/);
    assert.deepEqual(bad.stdout.trim().split('\n'), ['0', '1', '2', '3']);
    const counted = await metric(broker, 'storage_corrupt_batches_total{');
    assert.ok(
      counted.some((l) => l.includes('topic="bad"') && !l.endsWith(' 0')),
      `the corruption is counted: ${counted.join('; ')}`,
    );
    // The broker stays healthy: it takes writes on the damaged partition and restarts cleanly.
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    const r = await client.produce('bad', 'after', { partition: 0 });
    assert.equal(r.offset, 60);
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
    broker = await spawnBroker(dir);
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    assert.equal(
      (await client.consume('bad', 5, { partition: 0 })).value?.toString(),
      'bad-5'.padEnd(200, '.'),
    );
    client.close();
  } finally {
    await broker.stop('SIGKILL');
  }
});

test('a data directory whose segment overflowed its int32 offsets (an older release) starts and serves', async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  try {
    let client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    await client.createTopic('t', { partitions: 1, configs: { 'retention.ms': '-1' } });
    await client.produce('t', 'first', { partition: 0 });
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
    // What the old release left: a batch claiming 2^31-1 offsets, then batches past int32 of the base,
    // all in segment 0, with no clean-shutdown marker and indexes it never managed to write.
    const segDir = path.join(dir, 't-0');
    const claim = (tag: string, base: number, delta: number) => {
      const b = makeBatch(tag, 1);
      writeInt64(b, F.baseOffset, base);
      b.writeInt32BE(delta, F.lastOffsetDelta);
      b.writeInt32BE(delta + 1, F.recordsCount);
      b.writeUInt32BE(computeBatchCrc(b, 0, b.length), F.crc);
      return b;
    };
    const log = path.join(segDir, '00000000000000000000.log');
    const old = await readFile(log);
    const tail = [claim('huge', 1, 2 ** 31 - 2), claim('next', 2 ** 31, 0), claim('again', 2 ** 31 + 1, 0)];
    await writeFile(log, Buffer.concat([old, ...tail]));
    for (const name of await readdir(segDir)) {
      if (name === 'clean-shutdown' || name.endsWith('index')) await rm(path.join(segDir, name));
    }
    broker = await spawnBroker(dir);
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    const r = await client.produce('t', 'after', { partition: 0 });
    assert.equal(r.offset, 2 ** 31 + 2);
    assert.equal((await client.consume('t', 2 ** 31 + 2, { partition: 0 })).value?.toString(), 'after');
    // One batch only: the old batch after it claims records it does not hold, which no client decodes.
    const head = await client.consumeBatch('t', 0, { partition: 0, maxBytes: 1 });
    assert.deepEqual(
      head.records.map((rec) => rec.value?.toString()),
      ['first'],
    );
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
    broker = await spawnBroker(dir);
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    assert.equal((await client.consume('t', 2 ** 31 + 2, { partition: 0 })).value?.toString(), 'after');
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
  } finally {
    await broker.stop('SIGKILL');
  }
});

test('a partition whose log cannot open goes offline alone: the broker starts and serves the rest', async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  try {
    let client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    await client.createTopic('broken', { partitions: 2, configs: { 'retention.ms': '-1' } });
    await client.createTopic('fine', { partitions: 1, configs: { 'retention.ms': '-1' } });
    await client.produce('broken', 'b0', { partition: 0 });
    await client.produce('broken', 'b1', { partition: 1 });
    await client.produce('fine', 'f0', { partition: 0 });
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
    // A committed compaction swap whose manifest is unreadable: the log refuses to open rather than guess.
    const stem = path.join(dir, 'broken-0', '00000000000000000000');
    await writeFile(`${stem}.log.swap`, await readFile(`${stem}.log`));
    await writeFile(`${stem}.swap-manifest`, '{"replaces":[0,');

    broker = await spawnBroker(dir);
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    await assert.rejects(client.produce('broken', 'x', { partition: 0 }), { code: 'KAFKA_STORAGE_ERROR' });
    await assert.rejects(client.consume('broken', 0, { partition: 0 }), { code: 'KAFKA_STORAGE_ERROR' });
    assert.equal((await client.consume('broken', 0, { partition: 1 })).value?.toString(), 'b1');
    assert.equal((await client.consume('fine', 0, { partition: 0 })).value?.toString(), 'f0');
    await client.produce('fine', 'f1', { partition: 0 });
    assert.deepEqual(await metric(broker, 'storage_offline_partitions'), [
      'storage_offline_partitions{node="node-1"} 1',
    ]);
    // Deleting the topic removes the offline partition too, and the broker restarts healthy.
    await client.deleteTopic('broken');
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
    broker = await spawnBroker(dir);
    client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    assert.deepEqual(await valuesOf(client, 'fine'), ['f0', 'f1']);
    assert.deepEqual(await metric(broker, 'storage_offline_partitions'), [
      'storage_offline_partitions{node="node-1"} 0',
    ]);
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0);
  } finally {
    await broker.stop('SIGKILL');
  }
});

test('one batch claiming 2^31-1 records no longer crash-loops the broker', async (t) => {
  const dir = await tempDir(t);
  let broker = await spawnBroker(dir);
  try {
    let client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
    await client.createTopic('t', { partitions: 1, configs: { 'retention.ms': '-1' } });
    await client.produce('t', 'before', { partition: 0 });
    // One record, a record count and lastOffsetDelta that claim 2^31-1 (the request). Another
    // engineer makes the broker refuse it; accepted or refused, nothing may break.
    const b = makeBatch('huge', 1);
    b.writeInt32BE(2 ** 31 - 2, F.lastOffsetDelta);
    b.writeInt32BE(2 ** 31 - 1, F.recordsCount);
    b.writeUInt32BE(computeBatchCrc(b, 0, b.length), F.crc);
    const accepted = await client.produceRecordBatch('t', 0, b).then(
      () => true,
      (err: BrokerClientError) => {
        assert.ok(['CORRUPT_MESSAGE', 'INVALID_RECORD'].includes(err.code), err.code);
        return false;
      },
    );
    const next = await client.produce('t', 'after', { partition: 0 });
    assert.equal(next.offset, accepted ? 2 ** 31 : 1);
    await client.produce('t', 'after2', { partition: 0 });
    client.close();
    assert.equal(await broker.stop('SIGTERM'), 0, 'a clean shutdown');
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      broker = await spawnBroker(dir);
      client = await BrokerClient.connect(broker.grpcAddress, { retries: 0 });
      const r = await client.consume('t', next.offset, { partition: 0 });
      assert.equal(r.value?.toString(), 'after');
      await client.produce('t', signal, { partition: 0 });
      client.close();
      assert.equal(await broker.stop(signal), signal === 'SIGTERM' ? 0 : 'SIGKILL');
    }
    broker = await spawnBroker(dir);
  } finally {
    await broker.stop('SIGKILL');
  }
});
