/** The shape of bench/results/<run>/results.json (issue 7). */
import type { Machine } from './machine.ts';
import type { GcTotals } from './proc.ts';
import type { LatencySummary } from './stats.ts';

/** What a scenario cost the broker process: CPU seconds over the scenario, peak RSS within it. */
export interface BrokerCost {
  cpuSeconds: number;
  peakRssBytes: number;
  rssBytes: number;
  fds: number;
  /** False when the kernel refused to reset the peak: the peak then spans the broker's life. */
  peakIsPerScenario: boolean;
}

export interface ProduceRow {
  recordBytes: number;
  batch: number;
  acks: 1 | -1;
  fsync: 'interval' | 'always';
  recordsPerSec: number;
  mbPerSec: number;
  clientCpuSeconds: number;
  broker: BrokerCost;
}

export interface Results {
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt?: string;
  /** The sizes this run used (durations in ms, byte counts). */
  plan: Record<string, unknown>;
  machine: Machine;
  /** Each CPU's time lost to the hypervisor over the whole run (machine.ts stealMsByCpu), by CPU. */
  stolenMsByCpu?: number[];
  notes: string[];
  limits?: {
    ddBytesPerSec?: number;
    ddBytes?: number;
    fdatasync?: LatencySummary & { syncsPerSec: number };
    /** Appending writes without fsync (what an acks=1 produce waits for under fsync interval). */
    appendWrite?: LatencySummary & { bytes: number };
    iperf3BytesPerSec?: number | null;
    nodeTcpBytesPerSec?: number;
    errors: string[];
  };
  nats?: {
    client: string;
    status: string;
    rows: {
      recordBytes: number;
      records: number;
      produceRecordsPerSec: number;
      consumeRecordsPerSec: number;
    }[];
  };
  kafka?: {
    status: string;
    records?: number;
    produceRecordsPerSec?: number;
    consumeRecordsPerSec?: number;
    broker?: BrokerCost;
  };
  produce?: ProduceRow[];
  consume?: { records: number; recordsPerSec: number; mbPerSec: number; broker: BrokerCost };
  produceConsume?: {
    produceRecordsPerSec: number;
    consumeRecordsPerSec: number;
    broker: BrokerCost;
  };
  /** bench/door-cost.ts: broker CPU per MiB through each door, the same records, one broker. */
  doors?: {
    records: number;
    recordBytes: number;
    rounds: number;
    rows: { door: string; recordsPerSec: number; brokerCpuMsPerMiB: number }[];
  };
  /**
   * gRPC produce with the Go generator (bench/grpc-latency), closed loop and pinned off the broker's
   * CPU: the broker's own rate, where the TypeScript load process (produce) runs out of CPU first.
   */
  produceGo?: {
    generator: string;
    pinning: string;
    rows: {
      recordBytes: number;
      batch: number;
      rpc: 'ProduceBatch' | 'ProduceStream';
      inFlight: number;
      /** Broker and generator each on its own CPU (`pinning`); false: neither pinned, as NATS's row. */
      pinned?: boolean;
      recordsPerSec: number;
      mbPerSec: number;
      ackP50Ms: number;
      ackP99Ms: number;
      generatorCpuSeconds: number;
      broker: BrokerCost;
    }[];
  };
  /** End-to-end latency with the batches sent as ProduceStream messages (the Go generator). */
  latency?: LatencyResults;
  /** The same rows with one ProduceBatch call per batch. */
  latencyUnary?: LatencyResults;
  scale?: {
    partitions: number;
    createSeconds: number;
    recordsPerSec: number;
    idleRssBytes: number;
    idleFds: number;
    broker: BrokerCost;
    error?: string;
  }[];
  compression?: {
    events: number;
    rawBytes: number;
    batch: number;
    rows: {
      codec: string;
      diskBytes: number;
      ratio: number;
      eventsPerSec: number;
      inputMBps: number;
      compressMBps: number;
      decompressMBps: number;
    }[];
    broker: BrokerCost;
  };
  startup?: {
    runs: { readyMs: number; firstAckMs: number }[];
    medianFirstAckMs: number;
    medianReadyMs: number;
  };
  /** Three-node figures, from bench/cluster.ts and bench/replication.ts run by the suite. */
  cluster?: {
    status: string;
    joinMs?: number[];
    controllerFailoverMs?: number[];
    /** RF 3 acks=all throughput as a ratio to RF 1 on one node, and to RF 1 over the same three nodes. */
    rf3OverRf1One?: number[];
    rf3OverRf1Three?: number[];
    lag?: { offsetsP50: number; offsetsP99: number; msP50: number; msP99: number };
    latency?: { rateRecordsPerSec: number; ackP50: number; ackP99: number; e2eP50: number; e2eP99: number };
    /** Partition leader failover: by kind, the milliseconds until the next acknowledged produce. */
    failover?: Record<string, { ms: number[]; retriedSends: number; failedSends: number }>;
  };
  recovery?: {
    dataBytes: number;
    status: string;
    fillSeconds?: number;
    readyMs?: number;
    firstAckMs?: number;
    broker?: BrokerCost;
  }[];
}

export interface LatencyResults {
  maxRecordsPerSec: number;
  batch: number;
  recordBytes: number;
  /** The RPC that carried the batches. */
  rpc?: 'ProduceBatch' | 'ProduceStream';
  /** Which generator offered the load and received it, and why it is light enough. */
  generator?: string;
  /** Which CPUs the broker and the load generators ran on. */
  pinning?: string;
  rows: {
    loadPercent: number;
    offeredRecordsPerSec: number;
    sentRecords: number;
    sendLagP99Ms: number;
    latency: LatencySummary;
    broker: BrokerCost;
    /** The broker's collections during the row (its nodejs_gc_duration_seconds). */
    gc?: GcTotals;
    /** From each call's send to its acknowledgement (the Go generator measures it). */
    ackP50Ms?: number;
    ackP99Ms?: number;
    generatorCpuSeconds?: number;
    /** Each CPU's time lost to the hypervisor during the row (machine.ts stealMsByCpu), by CPU. */
    stolenMsByCpu?: number[];
  }[];
}
