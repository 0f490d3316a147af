/**
 * What an oversized gRPC ProduceBatch costs the broker before it is refused (issue 10 finding 12):
 * one request of many tiny records (by default 1.5 million records of 46-byte values, about 71 MiB
 * of protobuf), and one request whose `record_batch` bytes are larger than any batch the broker
 * stores. The request bytes are encoded once, by hand, and sent with an identity serializer, so the
 * client's own encoding costs nothing here; the figures are the broker process's peak RSS and the
 * time from sending to the refusal.
 *
 *   node bench/grpc-oversize.ts [-- --records 1500000 --value-bytes 46]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { BrokerClient } from '../src/client/index.ts';
import { resetPeakRss, sampleProc, startBroker } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1500000' },
    'value-bytes': { type: 'string', default: '46' },
    'raw-mib': { type: 'string', default: '70' },
  },
});
const records = Number(values.records);
const valueBytes = Number(values['value-bytes']);

/** A protobuf length-delimited field: tag, varint length, bytes. */
function field(fieldNumber: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([(fieldNumber << 3) | 2, ...len]), body]);
}

function manyRecordsRequest(): Buffer {
  const one = field(3, field(2, Buffer.alloc(valueBytes, 'x')));
  const out = Buffer.allocUnsafe(one.length * records);
  for (let i = 0; i < records; i++) one.copy(out, i * one.length);
  // topic "big", partition 0 (varint field 2), then the records.
  return Buffer.concat([field(1, Buffer.from('big')), Buffer.from([2 << 3, 0]), out]);
}

function rawBatchRequest(): Buffer {
  // topic "big", partition 0 (varint field 2), record_batch of raw-mib MiB.
  return Buffer.concat([
    field(1, Buffer.from('big')),
    Buffer.from([2 << 3, 0]),
    field(4, Buffer.alloc(Number(values['raw-mib']) * 1024 * 1024, 1)),
  ]);
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'bench-oversize-'));
const broker = await startBroker({ dataDir, fsync: 'interval' });
const admin = await BrokerClient.connect(broker.grpcAddress);
await admin.createTopic('big', { partitions: 1 });
admin.close();

const client = new grpc.Client(broker.grpcAddress, grpc.credentials.createInsecure(), {
  'grpc.max_send_message_length': -1,
  'grpc.max_receive_message_length': -1,
});

async function send(name: string, body: Buffer) {
  const before = sampleProc(broker.pid);
  resetPeakRss(broker.pid);
  const started = performance.now();
  const outcome = await new Promise<string>((resolve) => {
    client.makeUnaryRequest(
      '/tsbroker.v1.Broker/ProduceBatch',
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err) => resolve(err ? `${grpc.status[err.code]}: ${err.details}` : 'OK (accepted)'),
    );
  });
  const ms = performance.now() - started;
  const after = sampleProc(broker.pid);
  console.log(
    JSON.stringify({
      case: name,
      requestMiB: +(body.length / 2 ** 20).toFixed(1),
      outcome: outcome.slice(0, 200),
      ms: Math.round(ms),
      rssBeforeMiB: Math.round(before.rssBytes / 2 ** 20),
      peakRssMiB: Math.round(after.peakRssBytes / 2 ** 20),
      brokerCpuSeconds: +(after.cpuSeconds - before.cpuSeconds).toFixed(2),
    }),
  );
}

await send(`${records} records of ${valueBytes} bytes`, manyRecordsRequest());
await send(`record_batch of ${values['raw-mib']} MiB`, rawBatchRequest());
client.close();
await broker.stop();
rmSync(dataDir, { recursive: true, force: true });
