/**
 * Fetch (API key 1): the request and response grammar is in ../apis/fetch.ts. Reads each partition up to
 * its high watermark within Kafka's two byte limits, and long-polls the partition views until min_bytes or
 * max_wait_ms.
 */
import type { FetchRequest } from '../apis/fetch.ts';
import type { Message } from '../codec.ts';
import { errorCode, kafkaErrorCode } from '../error-codes.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleFetch(deps: HandlerDeps, req: FetchRequest): Promise<Message> {
  const core = deps.core;
  if (req.sessionId !== 0) {
    // We never hand out fetch sessions (a full fetch every time), so no session id can be known.
    return {
      errorCode: errorCode('FETCH_SESSION_ID_NOT_FOUND'),
      sessionId: 0,
      responses: [],
      throttleTimeMs: 0,
    };
  }
  const wanted = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, p })));
  const deadline = Date.now() + Math.max(0, req.maxWaitMs);
  const minBytes = Math.max(0, req.minBytes);
  const read = async () => {
    // Kafka's two limits (ReplicaManager.readFromLog): each partition reads at most
    // min(partition_max_bytes, what is left of max_bytes); only the first partition with data may
    // exceed that, by returning its one first batch whole, so that a consumer always progresses.
    let budget = Math.max(0, req.maxBytes);
    let total = 0;
    const results = [];
    for (const { topic, p } of wanted) {
      const base = {
        partitionIndex: p.partition,
        highWatermark: -1,
        lastStableOffset: -1,
        logStartOffset: -1,
        abortedTransactions: null,
        preferredReadReplica: -1,
        records: Buffer.alloc(0),
      };
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
          topic,
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
          topic,
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
    const waits = wanted.flatMap(({ topic, p }) => {
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
  const byTopic = new Map<string, Message[]>();
  for (const { topic, result } of results) {
    if (!byTopic.has(topic)) byTopic.set(topic, []);
    byTopic.get(topic)!.push(result);
  }
  return {
    throttleTimeMs: 0,
    errorCode: NONE,
    sessionId: 0,
    responses: [...byTopic.entries()].map(([topic, partitions]) => ({ topic, partitions })),
  };
}
