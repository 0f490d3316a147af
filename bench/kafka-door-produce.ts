/**
 * The Kafka door's produce rate (issue 10 finding 3 asks that record validation keep it within 10%):
 * an embedded broker (fsync interval), one connection per `--connections` sending Produce v7 frames of
 * one pre-encoded batch each (`--batch` records of `--bytes`-byte values, codec `--codec`), acks=1,
 * `--inflight` requests outstanding per connection, for `--seconds`. Prints records/s and MB/s of batch
 * bytes acknowledged, and records per CPU-second of the process. It uses only APIs that predate record validation, so the same file measures an
 * older tree for comparison.
 *
 *   node bench/kafka-door-produce.ts [--codec none|gzip|snappy|lz4|zstd] [--seconds 3] [--json]
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { API_KEYS, APIS } from '../src/protocol/kafka/apis/index.ts';
import { decodeResponsePayload, encodeRequestFrame } from '../src/protocol/kafka/messages.ts';
import { encodeBatch } from '../src/records/batch.ts';
import { COMPRESSION, type CompressionName } from '../src/records/compression.ts';
import { startBroker } from '../src/server.ts';

const { values } = parseArgs({
  options: {
    codec: { type: 'string', default: 'none' },
    seconds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '500' },
    bytes: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '8' },
    connections: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const codec = COMPRESSION[values.codec as CompressionName];
const batchRecords = Number(values.batch);
const api = APIS.get(API_KEYS.Produce)!;

const broker = await startBroker({ fsync: 'interval', retentionMs: -1, retentionBytes: -1 });
await broker.core.createTopic({ name: 'door', partitions: 1, configs: { 'compression.type': 'producer' } });
const batches = Array.from({ length: 16 }, (_, n) =>
  encodeBatch({
    compression: codec,
    records: Array.from({ length: batchRecords }, (_, i) => ({
      key: null,
      value: Buffer.from(`${n}:${i}:`.padEnd(Number(values.bytes), 'x')),
    })),
  }),
);

let records = 0;
let bytes = 0;
let stop = false;
async function drive(): Promise<void> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(broker.kafkaPort, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  let id = 0;
  let outstanding = 0;
  let buf: Buffer = Buffer.alloc(0);
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const send = () => {
    const batch = batches[id % batches.length];
    const frame = encodeRequestFrame(
      api,
      { apiKey: api.key, apiVersion: 7, correlationId: ++id, clientId: 'bench' },
      {
        transactionalId: null,
        acks: 1,
        timeoutMs: 30_000,
        topicData: [{ name: 'door', partitionData: [{ index: 0, records: batch }] }],
      },
    );
    for (const part of frame) socket.write(part);
    outstanding++;
    sizes.set(id, batch.length);
  };
  const sizes = new Map<number, number>();
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      const payload = buf.subarray(4, 4 + buf.readInt32BE(0));
      buf = buf.subarray(4 + payload.length);
      const { correlationId, body } = decodeResponsePayload(api, 7, payload);
      const p = (body.responses as { partitionResponses: { errorCode: number }[] }[])[0]
        .partitionResponses[0];
      if (p.errorCode !== 0) throw new Error(`produce failed with error ${p.errorCode}`);
      records += batchRecords;
      bytes += sizes.get(correlationId) ?? 0;
      sizes.delete(correlationId);
      outstanding--;
      if (!stop) send();
      else if (outstanding === 0) done();
    }
  });
  for (let i = 0; i < Number(values.inflight); i++) send();
  await finished;
  socket.destroy();
}

const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
const drivers = Array.from({ length: Number(values.connections) }, () => drive());
await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
stop = true;
const measured = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuBefore);
const counted = { records, bytes };
await Promise.all(drivers);
await broker.close();
const row = {
  codec: values.codec,
  recordsPerSec: counted.records / measured,
  MBps: counted.bytes / measured / 1e6,
  // Records per second of this process's CPU time (event loop and thread pool, clients included): on a
  // shared machine this moves far less with other load than the wall-clock rate does.
  recordsPerCpuSec: counted.records / ((cpu.user + cpu.system) / 1e6),
};
console.log(
  values.json
    ? JSON.stringify(row)
    : `${row.codec}: ${Math.round(row.recordsPerSec)} records/s, ${row.MBps.toFixed(1)} MB/s, ${Math.round(row.recordsPerCpuSec)} records per CPU-second`,
);
