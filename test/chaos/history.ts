/**
 * The history of a chaos run (issue 13): one JSON object per line, in the order the harness learnt of
 * each event. Times are milliseconds since the run's start (the harness's monotonic clock), so that the
 * workload's processes and the nemesis share one timeline. The workload's values are unique per run
 * (`<client>-<n>`), which is what lets the checker find every write again.
 */

/** How a send ended: acknowledged, refused for certain (nothing was written), or not known. */
export type Outcome = 'ok' | 'failed' | 'unknown';

/** One produce of one record, from its invocation to its acknowledgement or error. */
export interface SendOp {
  op: 'send';
  /** The producing client instance: `ts-idem`, `librdkafka-idem`, `librdkafka`, ... */
  client: string;
  /** Whether the producer was idempotent: duplicates of its values are then anomalies. */
  idempotent: boolean;
  value: string;
  /** Invocation time. */
  start: number;
  /** Completion time; null when the run ended without an answer (the outcome is then unknown). */
  end: number | null;
  outcome: Outcome;
  /** Where an acknowledged record was stored (always present when outcome is ok, when the client tells). */
  partition?: number;
  offset?: number;
  error?: string;
}

/** One poll of a consumer-group member that returned records: each is [partition, offset, value]. */
export interface PollOp {
  op: 'poll';
  consumer: string;
  start: number;
  end: number;
  records: [number, number, string][];
}

/**
 * A commit by a member, with the offsets it committed (the next offset to read, per partition). Only an
 * ok commit was acknowledged by the coordinator.
 */
export interface CommitOp {
  op: 'commit';
  consumer: string;
  start: number;
  end: number;
  outcome: Outcome;
  offsets: Record<string, number>;
  error?: string;
}

/** A member's assignment changed: its partitions from now on (assign) or no longer (revoke). */
export interface AssignOp {
  op: 'assign' | 'revoke';
  consumer: string;
  at: number;
  partitions: number[];
}

/** A fault, from its start to its heal. */
export interface NemesisOp {
  op: 'nemesis';
  /** kill, pause, isolate, split, bridge, one-way, transfer, rolling-restart, ... */
  fault: string;
  /** The role aimed at: leader, follower, controller, coordinator, random, all. */
  target: string;
  /** The node ids it hit. */
  nodes: number[];
  start: number;
  /** When it was healed; null when it never was (the run failed first). */
  end: number | null;
  detail?: string;
}

/** A sample of one broker process's Raft state (its /metrics), numbered by process run of that node. */
export interface RaftSampleOp {
  op: 'raft';
  node: number;
  /** 0 for the node's first process, 1 after its first restart, ... */
  run: number;
  at: number;
  term: number;
  commitIndex: number;
  isLeader: boolean;
}

/** A node's log line saying it became the active controller in `term`. */
export interface ControllerOp {
  op: 'controller';
  node: number;
  run: number;
  at: number;
  term: number;
}

/** After healing and quiescence: a partition's whole log, read through its leader, as [offset, value]. */
export interface FinalReadOp {
  op: 'final-read';
  partition: number;
  leader: number;
  highWatermark: number;
  records: [number, string][];
}

/**
 * After healing and quiescence: one replica's log of one partition as it is on disk, as
 * [offset, value, leaderEpoch of its batch], and the high watermark that replica reports.
 */
export interface ReplicaLogOp {
  op: 'replica';
  node: number;
  partition: number;
  highWatermark: number;
  records: [number, string, number][];
}

/** The group's committed offsets as OffsetFetch answered them, polled during the run. */
export interface OffsetFetchOp {
  op: 'offset-fetch';
  at: number;
  offsets: Record<string, number>;
}

/**
 * Something a client said that is no operation: a librdkafka fatal error (`fatal`: the producer can no
 * longer keep its guarantees and stops) or a consumer's error event.
 */
export interface InfoOp {
  op: 'info';
  client?: string;
  consumer?: string;
  at?: number;
  fatal?: string;
  error?: string;
}

export type HistoryOp =
  | SendOp
  | PollOp
  | CommitOp
  | AssignOp
  | NemesisOp
  | RaftSampleOp
  | ControllerOp
  | FinalReadOp
  | ReplicaLogOp
  | OffsetFetchOp
  | InfoOp;

/** Parses a history file's text (JSON lines; blank lines ignored), naming the line of any bad one. */
export function parseHistory(text: string): HistoryOp[] {
  const out: HistoryOp[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let op: unknown;
    try {
      op = JSON.parse(line);
    } catch (err) {
      throw new Error(`history line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
    if (typeof op !== 'object' || op === null || typeof (op as { op?: unknown }).op !== 'string')
      throw new Error(`history line ${i + 1} has no "op"`);
    out.push(op as HistoryOp);
  }
  return out;
}
