/**
 * Prometheus metrics with the seed's names (broker_*, storage_*, controller_*, consumer_group_*),
 * request latency histograms and the process metrics of prom-client. Gauges are read from the core at
 * scrape time, so they cost nothing between scrapes.
 */
import client from 'prom-client';
import type { ConnectionCloseReason, KafkaListenerObserver } from '../api/kafka/handler.ts';
import type { BrokerCore, CoreObserver } from '../broker/core.ts';

/** The metadata log's figures the controller_* gauges show. */
export interface RaftGauges {
  term: number;
  commitIndex: number;
  appliedIndex: number;
  voters: number;
  snapshotIndex: number;
  snapshotsInstalled: number;
}

export class Metrics implements CoreObserver {
  readonly registry = new client.Registry();
  readonly messagesProduced: client.Counter<'topic'>;
  readonly messagesConsumed: client.Counter<'topic'>;
  readonly bytesIn: client.Counter<'topic'>;
  readonly bytesOut: client.Counter<'topic'>;
  readonly compactionRuns: client.Counter;
  readonly retentionRuns: client.Counter;
  readonly metadataUpdates: client.Counter;
  readonly offsetsRecordsSkipped: client.Counter<'kind'>;
  readonly corruptBatches: client.Counter<'topic' | 'partition'>;
  readonly requestDuration: client.Histogram<'api' | 'method' | 'outcome'>;
  readonly kafkaTrailingBytesRequests: client.Counter<'api'>;
  readonly kafkaConnectionsClosed: client.Counter<'reason'>;
  /** What the Kafka listener reports, counted here. */
  readonly kafkaListener: KafkaListenerObserver;
  #core: BrokerCore | null = null;
  #isLeader: () => boolean = () => false;
  #clusterSize: () => number = () => 1;
  #raft: () => RaftGauges = () => ({
    term: 0,
    commitIndex: 0,
    appliedIndex: 0,
    voters: 0,
    snapshotIndex: 0,
    snapshotsInstalled: 0,
  });
  /** Consumer-group gauges register themselves here (the group coordinator, when present). */
  groupCollectors: ((
    members: client.Gauge<'group'>,
    lag: client.Gauge<'group' | 'topic' | 'partition'>,
  ) => void)[] = [];

  constructor(nodeId: string) {
    const r = this.registry;
    r.setDefaultLabels({ node: nodeId });
    client.collectDefaultMetrics({ register: r });
    this.messagesProduced = new client.Counter({
      name: 'broker_messages_produced_total',
      help: 'Records appended',
      labelNames: ['topic'],
      registers: [r],
    });
    this.messagesConsumed = new client.Counter({
      name: 'broker_messages_consumed_total',
      help: 'Records served to consumers',
      labelNames: ['topic'],
      registers: [r],
    });
    this.bytesIn = new client.Counter({
      name: 'broker_bytes_in_total',
      help: 'Batch bytes appended',
      labelNames: ['topic'],
      registers: [r],
    });
    this.bytesOut = new client.Counter({
      name: 'broker_bytes_out_total',
      help: 'Batch bytes served',
      labelNames: ['topic'],
      registers: [r],
    });
    this.compactionRuns = new client.Counter({
      name: 'storage_compaction_runs_total',
      help: 'Compaction passes over a partition',
      registers: [r],
    });
    this.retentionRuns = new client.Counter({
      name: 'storage_retention_runs_total',
      help: 'Retention passes over a partition',
      registers: [r],
    });
    this.metadataUpdates = new client.Counter({
      name: 'controller_metadata_updates_total',
      help: 'Batches of metadata records this node applied from the metadata log',
      registers: [r],
    });
    this.offsetsRecordsSkipped = new client.Counter({
      name: 'consumer_offsets_records_skipped_total',
      help: 'Records (kind=record) or whole batches (kind=batch) of __consumer_offsets that the loader could not parse and skipped at start',
      labelNames: ['kind'],
      registers: [r],
    });
    this.corruptBatches = new client.Counter({
      name: 'storage_corrupt_batches_total',
      help: 'Corrupt places found in partition logs (a batch failing its CRC or framing, a damaged segment or index), each counted once',
      labelNames: ['topic', 'partition'],
      registers: [r],
    });
    this.requestDuration = new client.Histogram({
      name: 'broker_request_duration_seconds',
      help: 'Time to serve a request, by front door and method',
      labelNames: ['api', 'method', 'outcome'],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    });
    this.kafkaTrailingBytesRequests = new client.Counter({
      name: 'broker_kafka_trailing_bytes_requests_total',
      help: 'Kafka requests that carried bytes after their body, which were ignored (librdkafka issue #5049)',
      labelNames: ['api'],
      registers: [r],
    });
    this.kafkaConnectionsClosed = new client.Counter({
      name: 'broker_kafka_connections_closed_total',
      help: 'Kafka connections the listener closed on its own: idle, slow_request (a frame late) or evicted (at the connection limit)',
      labelNames: ['reason'],
      registers: [r],
    });
    const trailing = this.kafkaTrailingBytesRequests;
    const closed = this.kafkaConnectionsClosed;
    this.kafkaListener = {
      trailingBytes: (apiName) => trailing.inc({ api: apiName }),
      connectionClosed: (reason: ConnectionCloseReason) => closed.inc({ reason }),
    };
    const self = this;
    let reassignmentBytesReported = 0;
    new client.Gauge({
      name: 'broker_active_partitions',
      help: 'Partitions stored on this node',
      registers: [r],
      collect() {
        this.set(self.#core?.storageStats().partitions ?? 0);
      },
    });
    new client.Gauge({
      name: 'broker_under_replicated_partitions',
      help: 'Partitions whose in-sync replicas are fewer than their replicas',
      registers: [r],
      collect() {
        this.set(self.#core?.replicationStats().underReplicated ?? 0);
      },
    });
    new client.Counter({
      name: 'broker_reassignment_bytes_total',
      help: 'Bytes the replicas that reassignments add on this node have copied from their leaders, under replication.reassignment_bytes_per_sec',
      registers: [r],
      collect() {
        // The core keeps the total; the counter goes up by what was copied since the last scrape.
        const copied = self.#core?.reassignmentBytesCopied ?? 0;
        if (copied > reassignmentBytesReported) {
          this.inc(copied - reassignmentBytesReported);
          reassignmentBytesReported = copied;
        }
      },
    });
    new client.Gauge({
      name: 'broker_offline_partitions',
      help: 'Replicas held here whose partition has no leader (its whole ISR is down): they take no writes and serve no reads',
      registers: [r],
      collect() {
        this.set(self.#core?.replicationStats().offline ?? 0);
      },
    });
    // Per partition led here; one collect fills all four, as the group gauges share theirs.
    const labels = ['topic', 'partition'] as const;
    const isrSize = new client.Gauge({
      name: 'broker_partition_isr_size',
      help: 'In-sync replicas of each partition this node leads',
      labelNames: labels,
      registers: [],
    });
    const leaderEpoch = new client.Gauge({
      name: 'broker_partition_leader_epoch',
      help: 'Leader epoch of each partition this node leads',
      labelNames: labels,
      registers: [],
    });
    const highWatermark = new client.Gauge({
      name: 'broker_partition_high_watermark',
      help: 'High watermark (offsets every in-sync replica holds) of each partition this node leads',
      labelNames: labels,
      registers: [],
    });
    const lagOffsets = new client.Gauge({
      name: 'broker_replica_lag_offsets',
      help: "Offsets each follower is behind this leader's log end",
      labelNames: [...labels, 'follower'],
      registers: [],
    });
    const lagBytes = new client.Gauge({
      name: 'broker_replica_lag_bytes',
      help: "Bytes of this leader's log past each follower's log end offset: an estimate from the sparse offset index, high by at most one index interval (index.interval.bytes) and a batch",
      labelNames: [...labels, 'follower'],
      registers: [],
    });
    const lagMs = new client.Gauge({
      name: 'broker_replica_lag_ms',
      help: 'Milliseconds since each follower was last caught up with this leader (it leaves the ISR past replication.lag_time_max)',
      labelNames: [...labels, 'follower'],
      registers: [],
      collect() {
        for (const g of [isrSize, leaderEpoch, highWatermark, lagOffsets, lagBytes, lagMs]) g.reset();
        for (const p of self.#core?.replicationStats().led ?? []) {
          const l = { topic: p.topic, partition: String(p.partition) };
          isrSize.set(l, p.isrSize);
          leaderEpoch.set(l, p.leaderEpoch);
          highWatermark.set(l, p.highWatermark);
          for (const f of p.followers) {
            lagOffsets.set({ ...l, follower: String(f.id) }, f.lagOffsets);
            lagBytes.set({ ...l, follower: String(f.id) }, f.lagBytes);
            lagMs.set({ ...l, follower: String(f.id) }, f.lagMs);
          }
        }
      },
    });
    // Registered with the lag gauge first, so that its collect has filled the others when they are read.
    r.registerMetric(lagMs);
    for (const g of [isrSize, leaderEpoch, highWatermark, lagOffsets, lagBytes]) r.registerMetric(g);
    new client.Gauge({
      name: 'storage_segment_count',
      help: 'Log segments on this node',
      registers: [r],
      collect() {
        this.set(self.#core?.storageStats().segments ?? 0);
      },
    });
    new client.Gauge({
      name: 'storage_total_bytes',
      help: 'Bytes of log segments on this node',
      registers: [r],
      collect() {
        this.set(self.#core?.storageStats().sizeBytes ?? 0);
      },
    });
    new client.Gauge({
      name: 'storage_failed_partitions',
      help: 'Partitions whose last write failed (a full or failing disk); they still serve reads and retry on the next append',
      registers: [r],
      collect() {
        this.set(self.#core?.storageStats().failed ?? 0);
      },
    });
    new client.Gauge({
      name: 'storage_offline_partitions',
      help: 'Partitions whose log could not open; they answer KAFKA_STORAGE_ERROR until the broker restarts',
      registers: [r],
      collect() {
        this.set(self.#core?.storageStats().offline ?? 0);
      },
    });
    new client.Gauge({
      name: 'storage_damaged_partitions',
      help: 'Partitions with corrupt data found since they opened; reads of it answer CORRUPT_MESSAGE',
      registers: [r],
      collect() {
        this.set(self.#core?.storageStats().damaged ?? 0);
      },
    });
    new client.Gauge({
      name: 'controller_is_leader',
      help: '1 when this node is the controller leader',
      registers: [r],
      collect() {
        this.set(self.#isLeader() ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'controller_cluster_size',
      help: 'Brokers registered in the cluster',
      registers: [r],
      collect() {
        this.set(self.#clusterSize());
      },
    });
    for (const [name, help, key] of [
      ['controller_raft_term', 'The Raft term of the metadata log this node knows', 'term'],
      [
        'controller_raft_commit_index',
        'The highest metadata log index this node knows committed',
        'commitIndex',
      ],
      [
        'controller_raft_applied_index',
        'The highest metadata log index this node has applied',
        'appliedIndex',
      ],
      ['controller_voters', 'Voters of the metadata quorum, as this node knows them', 'voters'],
      [
        'controller_raft_snapshot_index',
        "The metadata log index of this node's latest snapshot",
        'snapshotIndex',
      ],
      [
        'controller_raft_snapshots_installed',
        'Snapshots of the metadata log this node received from the leader since it started',
        'snapshotsInstalled',
      ],
    ] as const) {
      new client.Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(self.#raft()[key]);
        },
      });
    }
    // Both group gauges are filled by the members gauge's collect, which runs first at each scrape.
    const lag = new client.Gauge({
      name: 'consumer_group_lag',
      help: 'Log end offset minus committed offset, per group and partition',
      labelNames: ['group', 'topic', 'partition'],
      registers: [],
    });
    const members: client.Gauge<'group'> = new client.Gauge({
      name: 'consumer_group_members',
      help: 'Members of each consumer group',
      labelNames: ['group'],
      registers: [r],
      collect() {
        members.reset();
        lag.reset();
        for (const c of self.groupCollectors) c(members, lag);
      },
    });
    r.registerMetric(lag);
  }

  attach(
    core: BrokerCore,
    isLeader: () => boolean,
    clusterSize: () => number,
    raft?: () => RaftGauges,
  ): void {
    this.#core = core;
    this.#isLeader = isLeader;
    this.#clusterSize = clusterSize;
    if (raft) this.#raft = raft;
  }

  produced(topic: string, records: number, bytes: number): void {
    this.messagesProduced.inc({ topic }, records);
    this.bytesIn.inc({ topic }, bytes);
  }

  consumed(topic: string, records: number, bytes: number): void {
    this.messagesConsumed.inc({ topic }, records);
    this.bytesOut.inc({ topic }, bytes);
  }

  storageCorruption(topic: string, partition: number): void {
    this.corruptBatches.inc({ topic, partition: String(partition) });
  }

  cleanerRun(kind: 'retention' | 'compaction'): void {
    (kind === 'compaction' ? this.compactionRuns : this.retentionRuns).inc();
  }
}
