/**
 * Fetch from a follower (API key 1 with a replica id), on the inter-broker listener
 * (`network.data_port`, DESIGN.md decision 6). The grammar is the client Fetch's (apis/fetch.ts);
 * followers send version 13 (topic ids; the replica id in the body) and 15+ carry it in ReplicaState.
 *
 * For each partition the leader's Partition checks the follower's current leader epoch (an older one is
 * FENCED_LEADER_EPOCH, a newer UNKNOWN_LEADER_EPOCH), answers a diverging epoch when the follower's
 * last fetched epoch does not end where the leader's log says (KIP-595's check, which takes the place
 * of OffsetForLeaderEpoch), and otherwise records the follower's fetch offset (moving the high
 * watermark, and maybe the ISR) and reads from it to the log end: a follower reads past the high
 * watermark. With nothing to send, the request is held until one of its partitions grows, up to
 * max_wait_ms, as Kafka's DelayedFetch does for followers.
 *
 * The listener is for brokers only; it serves nothing but Fetch from a replica. A Fetch without a
 * replica id, or any other API, is refused by closing the connection with a log line.
 */
import type { FetchRequest } from '../../../protocol/kafka/apis/fetch.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { KafkaRequestHandler, RequestContext } from '../handler.ts';
import { fetchResponseBytesMax } from '../limits.ts';
import { emptyFetchPartition, type HandlerDeps, NONE } from './shared.ts';

/** The follower's id: in the body before version 15, in ReplicaState from 15. */
export function replicaIdOf(ctx: RequestContext, req: FetchRequest): number {
  return ctx.apiVersion >= 15 ? req.replicaState.replicaId : req.replicaId;
}

export async function handleReplicaFetch(
  deps: Pick<HandlerDeps, 'core'>,
  ctx: RequestContext,
  req: FetchRequest,
): Promise<Message> {
  const core = deps.core;
  const followerId = replicaIdOf(ctx, req);
  const byId = new Map(core.listTopics().map((t) => [t.id, t.name]));
  const deadline = Date.now() + Math.max(0, Math.min(req.maxWaitMs, 60_000));
  const wanted = req.topics.flatMap((t) => t.partitions.map((p) => ({ topicId: t.topicId, p })));
  const read = async () => {
    let budget = Math.min(Math.max(0, req.maxBytes), fetchResponseBytesMax);
    let total = 0;
    const out = new Map<string, Message[]>();
    for (const { topicId, p } of wanted) {
      const base = emptyFetchPartition(p.partition);
      let result: Message;
      const topic = byId.get(topicId);
      if (topic === undefined) result = { ...base, errorCode: errorCode('UNKNOWN_TOPIC_ID') };
      else {
        try {
          const part = core.replica(topic, p.partition);
          const r = await part.readForFollower(
            followerId,
            Number(p.fetchOffset),
            p.currentLeaderEpoch,
            p.lastFetchedEpoch,
            Math.max(0, Math.min(p.partitionMaxBytes, total === 0 ? Math.max(budget, 1) : budget)),
          );
          total += r.bytes.length;
          budget -= r.bytes.length;
          result = {
            ...base,
            errorCode: NONE,
            highWatermark: r.highWatermark,
            lastStableOffset: r.highWatermark,
            logStartOffset: r.logStartOffset,
            records: r.bytes,
            ...(r.divergingEpoch ? { divergingEpoch: r.divergingEpoch } : {}),
          };
        } catch (err) {
          let hw = -1;
          let start = -1;
          try {
            const part = core.replica(topic, p.partition);
            hw = part.highWatermark;
            start = part.logStartOffset;
          } catch {
            // Not held here: no offsets to report.
          }
          result = {
            ...base,
            errorCode: kafkaErrorCode(err),
            highWatermark: hw,
            lastStableOffset: hw,
            logStartOffset: start,
          };
        }
      }
      let list = out.get(topicId);
      if (!list) {
        list = [];
        out.set(topicId, list);
      }
      list.push(result);
    }
    return { out, total };
  };
  let { out, total } = await read();
  const anyAnswer = () =>
    [...out.values()].some((ps) =>
      ps.some(
        (r) =>
          (r as { errorCode: number }).errorCode !== NONE ||
          (r as { divergingEpoch?: unknown }).divergingEpoch,
      ),
    );
  while (total === 0 && Date.now() < deadline && !anyAnswer()) {
    const ac = new AbortController();
    const waits = wanted.flatMap(({ topicId, p }) => {
      const topic = byId.get(topicId);
      if (topic === undefined) return [];
      try {
        return [
          core
            .replica(topic, p.partition)
            .waitForLogEnd(Number(p.fetchOffset), deadline - Date.now(), ac.signal),
        ];
      } catch {
        return [];
      }
    });
    if (waits.length === 0) break;
    await Promise.race(waits);
    ac.abort();
    ({ out, total } = await read());
  }
  return {
    throttleTimeMs: 0,
    errorCode: NONE,
    sessionId: 0,
    responses: [...out].map(([topicId, partitions]) => ({ topicId, partitions })),
    nodeEndpoints: [],
  };
}

/** The inter-broker listener's handler: Fetch from a replica, nothing else. */
export class ReplicationKafkaHandler implements KafkaRequestHandler {
  readonly #deps: Pick<HandlerDeps, 'core'>;

  constructor(deps: Pick<HandlerDeps, 'core'>) {
    this.#deps = deps;
  }

  handle(ctx: RequestContext, request: Message): Promise<Message | null> {
    if (ctx.apiName !== 'Fetch')
      return Promise.reject(
        new Error(`the inter-broker listener serves replica Fetch only, not ${ctx.apiName}`),
      );
    const req = request as FetchRequest;
    if (ctx.apiVersion < 13 || replicaIdOf(ctx, req) < 0)
      return Promise.reject(
        new Error('the inter-broker listener serves Fetch v13+ from a replica (replica id >= 0) only'),
      );
    return handleReplicaFetch(this.#deps, ctx, req);
  }
}
