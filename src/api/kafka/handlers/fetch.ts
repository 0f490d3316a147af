/**
 * Fetch (API key 1): the request and response grammar is in ../apis/fetch.ts. Reads each partition up to
 * its high watermark within Kafka's two byte limits, and long-polls the partition views until min_bytes or
 * max_wait_ms.
 *
 * From version 13 topics are named by topic id (KIP-516): an id is resolved to the topic that has it now,
 * and an id no topic has (never created, or deleted, even when a topic of the same name was created again
 * with a new id) answers UNKNOWN_TOPIC_ID for each of its partitions, as Kafka's FetchSession does. The
 * check is repeated at every read of a long poll, so a topic deleted and recreated during the wait is not
 * read under its old id. The forgotten topics (by name, or by id from 13) concern fetch sessions only; every
 * fetch here is a full, sessionless one (session id 0), which lists all it wants, so there is nothing to
 * forget. NodeEndpoints (16+) stay empty: they accompany a CurrentLeader for NOT_LEADER_OR_FOLLOWER, and this
 * node leads every partition it serves.
 */
import type { FetchRequest } from '../../../protocol/kafka/apis/fetch.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { errorCode, kafkaErrorCode } from '../../../protocol/kafka/error-codes.ts';
import type { RequestContext } from '../handler.ts';
import { fetchResponseBytesMax } from '../limits.ts';
import { emptyFetchPartition, type HandlerDeps, NONE } from './shared.ts';
import { topicIds } from './topic-ids.ts';

/** The first Fetch version that names topics by id rather than by name (KIP-516). */
const topicIdsVersion = 13;

export async function handleFetch(
  deps: HandlerDeps,
  ctx: RequestContext,
  req: FetchRequest,
): Promise<Message> {
  const core = deps.core;
  const byId = ctx.apiVersion >= topicIdsVersion;
  if (req.sessionId !== 0) {
    // We never hand out fetch sessions (a full fetch every time), so no session id can be known.
    return {
      errorCode: errorCode('FETCH_SESSION_ID_NOT_FOUND'),
      sessionId: 0,
      responses: [],
      throttleTimeMs: 0,
    };
  }
  // Each requested topic with its name: the one it has now for a topic id, or null for an unknown id.
  const ids = byId ? topicIds(deps) : null;
  const requested = req.topics.map((t) => ({
    topicId: t.topicId,
    topic: ids ? ids.nameOf(t.topicId) : t.topic,
  }));
  const wanted = req.topics.flatMap((t, i) => t.partitions.map((p) => ({ at: i, ...requested[i], p })));
  // Whether a topic asked for by id still has that id (it may have been deleted, or deleted and made again).
  const known = (topic: string | null, topicId: string): topic is string =>
    topic !== null && (!byId || core.metadata.getTopic(topic)?.id === topicId);
  const deadline = Date.now() + Math.max(0, req.maxWaitMs);
  const minBytes = Math.max(0, req.minBytes);
  const read = async () => {
    // Kafka's two limits (ReplicaManager.readFromLog): each partition reads at most
    // min(partition_max_bytes, what is left of max_bytes); only the first partition with data may
    // exceed that, by returning its one first batch whole, so that a consumer always progresses. The
    // broker's own bound caps the total whatever the request asks (Kafka's fetch.max.bytes).
    let budget = Math.min(Math.max(0, req.maxBytes), fetchResponseBytesMax);
    let total = 0;
    const results = [];
    for (const { at, topic, topicId, p } of wanted) {
      const base = emptyFetchPartition(p.partition);
      if (!known(topic, topicId)) {
        results.push({ at, result: { ...base, errorCode: errorCode('UNKNOWN_TOPIC_ID') } });
        continue;
      }
      try {
        const view = core.partition(topic, p.partition);
        const hw = view.highWatermark;
        let bytes: Buffer = Buffer.alloc(0);
        const limit = Math.max(0, Math.min(p.partitionMaxBytes, budget));
        if (limit > 0 || total === 0) {
          const r = await core.fetch(topic, p.partition, p.fetchOffset, {
            maxBytes: limit,
            minOneBatch: total === 0,
          });
          bytes = r.bytes;
        }
        total += bytes.length;
        budget -= bytes.length;
        results.push({
          at,
          result: {
            ...base,
            errorCode: NONE,
            highWatermark: hw,
            lastStableOffset: hw,
            logStartOffset: view.logStartOffset,
            records: bytes,
          },
        });
      } catch (err) {
        let hw = -1;
        let start = -1;
        try {
          const view = core.partition(topic, p.partition);
          hw = view.highWatermark;
          start = view.logStartOffset;
        } catch {
          // Unknown topic or partition: no offsets to report.
        }
        results.push({
          at,
          result: {
            ...base,
            errorCode: kafkaErrorCode(err),
            highWatermark: hw,
            lastStableOffset: hw,
            logStartOffset: start,
          },
        });
      }
    }
    return { results, total };
  };
  let { results, total } = await read();
  // Long poll: wait for data on any fetched partition until min_bytes or max_wait_ms; an error on
  // any partition answers at once, as Kafka does, so the client can act on it.
  const anyError = () => results.some((r) => (r.result as { errorCode: number }).errorCode !== NONE);
  while (total < minBytes && Date.now() < deadline && !anyError()) {
    const ac = new AbortController();
    const waits = wanted.flatMap(({ topic, topicId, p }) => {
      if (!known(topic, topicId)) return [];
      try {
        return [
          core.partition(topic, p.partition).waitForData(p.fetchOffset, deadline - Date.now(), ac.signal),
        ];
      } catch {
        return [];
      }
    });
    if (waits.length === 0) break;
    await Promise.race(waits);
    ac.abort();
    ({ results, total } = await read());
    if (total === 0 && Date.now() < deadline) continue;
    break;
  }
  // One response topic per requested topic, in the request's order, named as the request named it.
  const byTopic = new Map<number, Message[]>();
  for (const { at, result } of results) {
    if (!byTopic.has(at)) byTopic.set(at, []);
    byTopic.get(at)!.push(result);
  }
  return {
    throttleTimeMs: 0,
    errorCode: NONE,
    sessionId: 0,
    responses: [...byTopic.entries()].map(([at, partitions]) => ({
      topic: req.topics[at].topic,
      topicId: req.topics[at].topicId,
      partitions,
    })),
    nodeEndpoints: [],
  };
}
