/**
 * DescribeLogDirs (API key 35): the grammar is in ../apis/describe-log-dirs.ts. This node has one log
 * dir, its data directory, holding every partition: each reported with its size on disk and an offset
 * lag of 0 (there is no future replica moving between dirs), and, from v4, the file system's total and
 * usable bytes. As in Kafka, partitions this node does not hold (unknown topics or indexes, and
 * offline ones) are left out rather than answered with an error.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { DescribeLogDirsRequest } from '../../../protocol/kafka/apis/describe-log-dirs.ts';
import type { Message } from '../../../protocol/kafka/codec.ts';
import { type HandlerDeps, NONE } from './shared.ts';

export async function handleDescribeLogDirs(
  deps: HandlerDeps,
  req: DescribeLogDirsRequest,
): Promise<Message> {
  const core = deps.core;
  const wanted =
    req.topics ??
    core
      .listTopics()
      .map((t) => ({ topic: t.name, partitions: Array.from({ length: t.partitions }, (_, i) => i) }));
  const topics = new Map<
    string,
    { partitionIndex: number; partitionSize: number; offsetLag: number; isFutureKey: boolean }[]
  >();
  for (const t of wanted) {
    for (const p of t.partitions) {
      let sizeBytes: number;
      try {
        sizeBytes = core.partition(t.topic, p, { ignoreLease: true }).sizeBytes;
      } catch {
        continue; // not held here
      }
      let list = topics.get(t.topic);
      if (!list) topics.set(t.topic, (list = []));
      if (!list.some((x) => x.partitionIndex === p))
        list.push({ partitionIndex: p, partitionSize: sizeBytes, offsetLag: 0, isFutureKey: false });
    }
  }
  let totalBytes = -1;
  let usableBytes = -1;
  try {
    const fs = await statfs(core.dataDir);
    totalBytes = fs.blocks * fs.bsize;
    usableBytes = fs.bavail * fs.bsize;
  } catch {
    // Unknown (-1), as Kafka answers when it cannot tell.
  }
  return {
    throttleTimeMs: 0,
    errorCode: NONE,
    results: [
      {
        errorCode: NONE,
        logDir: path.resolve(core.dataDir),
        topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
        totalBytes,
        usableBytes,
      },
    ],
  };
}
