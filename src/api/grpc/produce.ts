/**
 * The gRPC door's produce RPCs (broker.proto): Produce and ProduceBatch (records the core encodes and
 * routes, or a RecordBatch for one partition) and InitProducerId for idempotent producers.
 */
import { BrokerError } from '../../errors.ts';
import { acksOf, requireString, toRecordInput, type UnaryRpcs, type WireRecord } from './rpc.ts';
import type { GrpcServerOptions } from './server.ts';

export function produceRpcs(opts: GrpcServerOptions): UnaryRpcs {
  const core = opts.core;
  return {
    Produce: async (req: {
      topic?: string;
      partition?: number;
      record?: WireRecord;
      acks?: number;
      timeoutMs?: number;
    }) => {
      const [r] = await core.produceRecords(requireString(req.topic, 'topic'), [toRecordInput(req.record)], {
        partition: req.partition,
        acks: acksOf(req.acks),
        timeoutMs: req.timeoutMs || undefined,
      });
      return { partition: r.partition, offset: r.baseOffset };
    },
    ProduceBatch: async (req: {
      topic?: string;
      partition?: number;
      records?: WireRecord[];
      recordBatch?: Buffer;
      acks?: number;
      timeoutMs?: number;
    }) => {
      const topic = requireString(req.topic, 'topic');
      const opts = { acks: acksOf(req.acks), timeoutMs: req.timeoutMs || undefined };
      if (req.recordBatch && req.recordBatch.length > 0) {
        if ((req.records ?? []).length > 0)
          throw new BrokerError('INVALID_REQUEST', 'send records or record_batch, not both');
        if (req.partition === undefined)
          throw new BrokerError('INVALID_REQUEST', 'record_batch needs a partition');
        const r = await core.produce(topic, req.partition, req.recordBatch, opts);
        const count = r.baseOffset < 0 ? 0 : r.lastOffset - r.baseOffset + 1;
        return {
          partition: r.partition,
          baseOffset: r.baseOffset,
          count,
          results: [{ partition: r.partition, baseOffset: r.baseOffset, count }],
        };
      }
      const results = await core.produceRecords(topic, (req.records ?? []).map(toRecordInput), {
        ...opts,
        partition: req.partition,
      });
      const single = results.length === 1 ? results[0] : undefined;
      return {
        partition: single?.partition ?? -1,
        baseOffset: single?.baseOffset ?? -1,
        count: results.reduce((n, r) => n + r.count, 0),
        results: results.map((r) => ({
          partition: r.partition,
          baseOffset: r.baseOffset,
          count: r.count,
        })),
      };
    },
    InitProducerId: async (req: {
      transactionalId?: string;
      producerId?: number;
      producerEpoch?: number;
    }) => {
      if (req.transactionalId)
        throw new BrokerError(
          'INVALID_REQUEST',
          'transactions are not supported; leave transactional_id empty',
        );
      const hasExisting = req.producerId !== undefined && req.producerId >= 0;
      return core.initProducerId(
        hasExisting ? { producerId: req.producerId!, producerEpoch: req.producerEpoch ?? -1 } : undefined,
      );
    },
  };
}
