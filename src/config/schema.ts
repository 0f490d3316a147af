/**
 * The broker's configuration: every key, its type, default, bounds, environment variable and flag, in
 * one table. Precedence: flags over environment over file over defaults (DESIGN.md). Keys follow the
 * seed's config.yaml sections; config.yaml.example documents each of them.
 */
import {
  connectionsMaxIdleMs,
  queuedRequestBytesMax,
  queuedRequestBytesMin,
  requestReceiveMsMax,
} from '../api/kafka/limits.ts';
import { groupMembersMax } from '../limits.ts';

export type Kind =
  | { type: 'string' }
  | { type: 'int'; min: number; max: number }
  | { type: 'bool' }
  | { type: 'duration'; minMs: number; maxMs: number }
  | { type: 'enum'; values: readonly string[] };

export interface KeySpec {
  /** `section.key`, as in the YAML file. */
  key: string;
  kind: Kind;
  default: string | number | boolean;
  doc: string;
  /** Extra environment names besides the derived `BROKER_<SECTION>_<KEY>` (the seed's short forms). */
  env?: string[];
  /** Command-line flag, without the dashes. */
  flag?: string;
}

const port = { type: 'int', min: 0, max: 65535 } as const;

export const SCHEMA: readonly KeySpec[] = [
  {
    key: 'node.id',
    kind: { type: 'string' },
    default: 'node-1',
    doc: 'Unique node name ending in its numeric id, 1 to 2147483647: node-1, broker-3 or 7.',
    env: ['BROKER_NODE_ID'],
    flag: 'id',
  },
  {
    key: 'node.data_dir',
    kind: { type: 'string' },
    default: '',
    doc: 'Data directory; empty means ./data/<node.id>.',
    env: ['BROKER_DATA_DIR'],
    flag: 'data-dir',
  },
  {
    key: 'node.rack',
    kind: { type: 'string' },
    default: '',
    doc: "The node's rack (failure domain), registered with the controller: replica placement spreads each partition across racks. Empty: none.",
    flag: 'rack',
  },
  {
    key: 'network.grpc_port',
    kind: port,
    default: 8080,
    doc: 'Client gRPC API port (0 picks a free port).',
    env: ['BROKER_GRPC_PORT'],
    flag: 'grpc-port',
  },
  {
    key: 'network.kafka_port',
    kind: port,
    default: 9092,
    doc: 'Kafka wire protocol port.',
    env: ['BROKER_KAFKA_PORT'],
    flag: 'kafka-port',
  },
  {
    key: 'network.raft_port',
    kind: port,
    default: 9080,
    doc: 'Raft (controller) port.',
    env: ['BROKER_RAFT_PORT'],
    flag: 'raft-port',
  },
  {
    key: 'network.data_port',
    kind: port,
    default: 9180,
    doc: 'Inter-broker replication port.',
    env: ['BROKER_DATA_PORT'],
    flag: 'data-port',
  },
  {
    key: 'network.metrics_port',
    kind: port,
    default: 9090,
    doc: 'HTTP health, readiness and Prometheus metrics port.',
    env: ['BROKER_METRICS_PORT'],
    flag: 'metrics-port',
  },
  {
    key: 'network.bind_addr',
    kind: { type: 'string' },
    default: '0.0.0.0',
    doc: 'Address every listener binds.',
    env: ['BROKER_BIND_ADDR'],
    flag: 'bind-addr',
  },
  {
    key: 'network.advertise_addr',
    kind: { type: 'string' },
    default: '',
    doc: 'Host that clients and other brokers are told to reach this node at; empty means localhost.',
    env: ['BROKER_ADVERTISE_ADDR'],
    flag: 'advertise-addr',
  },
  {
    key: 'cluster.bootstrap',
    kind: { type: 'bool' },
    default: false,
    doc: "Kept for the seed's configs; no effect: a node with no join address and an empty data directory starts a new cluster.",
    env: ['BROKER_BOOTSTRAP'],
  },
  {
    key: 'cluster.join_addr',
    kind: { type: 'string' },
    default: '',
    doc: "A member's gRPC address to join the cluster through; empty starts a new cluster (or rejoins from the data directory).",
    env: ['BROKER_JOIN_ADDR'],
    flag: 'join',
  },
  {
    key: 'cluster.controller',
    kind: { type: 'bool' },
    default: true,
    doc: 'Whether this node may be a voter of the metadata quorum; false makes it a broker only.',
    env: ['BROKER_CONTROLLER'],
    flag: 'controller',
  },
  {
    key: 'cluster.controller_quorum_size',
    kind: { type: 'int', min: 1, max: 9 },
    default: 3,
    doc: 'Voters of the metadata quorum: controller-eligible nodes are promoted one at a time up to this many; the rest are observers. Every node of a cluster must have the same.',
    env: ['BROKER_CONTROLLER_QUORUM_SIZE'],
  },
  {
    key: 'cluster.heartbeat_interval',
    kind: { type: 'duration', minMs: 50, maxMs: 60_000 },
    default: '2s',
    doc: 'How often a broker heartbeats to the active controller.',
  },
  {
    key: 'cluster.session_timeout',
    kind: { type: 'duration', minMs: 500, maxMs: 600_000 },
    default: '9s',
    doc: "How long the active controller waits for a broker's heartbeat before fencing it (its leaderships move).",
  },
  {
    key: 'cluster.snapshot_entries',
    kind: { type: 'int', min: 16, max: 10_000_000 },
    default: 10_000,
    doc: 'Snapshot the metadata image, and drop the log before it, after this many entries; a node that is far behind catches up from the snapshot.',
  },
  {
    key: 'cluster.leader_rebalance_interval',
    kind: { type: 'duration', minMs: 0, maxMs: 86_400_000 },
    default: '5s',
    doc: "How often the active controller moves leaderships back to each partition's preferred (first) replica, once that replica is active and back in the ISR (it rejoins the ISR only after catching up); 0 disables it, as does the cluster config auto.leader.rebalance.enable=false. Kafka's KRaft controller checks every 300 s (leader.imbalance.check.interval.seconds); 5 s gives a restarted node its leaderships back soon after it has caught up.",
  },
  {
    key: 'cluster.auto_rebalance',
    kind: { type: 'bool' },
    default: true,
    doc: 'The active controller balances the cluster by itself: while every node is up, it moves replicas (a few partitions at a time) so that each node holds as many replicas and is the preferred leader of as many partitions as any other, within one, and evens out bytes when partition sizes differ a lot; a node that joins gets its share this way. Moving replicas off a node being removed (broker-admin remove-node) happens whatever this says.',
  },
  {
    key: 'cluster.rebalance_max_moves',
    kind: { type: 'int', min: 1, max: 1000 },
    default: 4,
    doc: 'Most partition moves (reassignments) the balancer keeps under way at once; each copies under replication.reassignment_bytes_per_sec on the node it moves to.',
  },
  {
    key: 'storage.max_segment_bytes',
    kind: { type: 'int', min: 1024, max: 2 ** 31 - 1 },
    default: 16 * 1024 * 1024,
    doc: 'Default segment size (topic config segment.bytes overrides it).',
  },
  {
    key: 'storage.sync_writes',
    kind: { type: 'bool' },
    default: true,
    doc: 'true: fsync before acknowledging (fsync always). false: storage.fsync decides (default interval).',
  },
  {
    key: 'storage.fsync',
    kind: { type: 'enum', values: ['', 'always', 'interval', 'never'] },
    default: '',
    doc: 'Explicit fsync policy: always, interval or never; empty follows storage.sync_writes.',
  },
  {
    key: 'storage.fsync_interval',
    kind: { type: 'duration', minMs: 1, maxMs: 86_400_000 },
    default: '1s',
    doc: 'Flush period of the interval policy; under every policy, how often a log whose write failed retries the disk.',
  },
  {
    key: 'storage.default_partitions',
    kind: { type: 'int', min: 1, max: 10_000 },
    default: 1,
    doc: 'Partitions of a topic created without a count, and of auto-created topics.',
  },
  {
    key: 'storage.max_partitions',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 10_000,
    doc: 'Most partitions this node holds (lowered at start to fit the open files limit).',
  },
  {
    key: 'storage.max_message_bytes',
    kind: { type: 'int', min: 1024, max: 64 * 1024 * 1024 },
    default: 1_048_588,
    doc: 'Default largest batch (topic config max.message.bytes overrides it).',
  },
  {
    key: 'retention.default_max_age',
    kind: { type: 'duration', minMs: -1, maxMs: Number.MAX_SAFE_INTEGER },
    default: '168h',
    doc: 'Default retention.ms; "-1" keeps data forever.',
  },
  {
    key: 'retention.default_max_bytes',
    kind: { type: 'int', min: -1, max: Number.MAX_SAFE_INTEGER },
    default: 1024 * 1024 * 1024,
    doc: 'Default retention.bytes per partition; -1 for no bound.',
  },
  {
    key: 'retention.cleanup_interval',
    kind: { type: 'duration', minMs: 0, maxMs: 86_400_000 },
    default: '5m',
    doc: 'How often retention and compaction run; 0 disables them.',
  },
  {
    key: 'replication.default_replication_factor',
    kind: { type: 'int', min: 1, max: 16 },
    default: 3,
    doc: 'Replication factor of new topics, capped at the number of brokers.',
  },
  {
    key: 'replication.fetch_batch_size',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 100,
    doc: 'Batches of 16 KiB a follower asks for per partition per fetch (100: 1.6 MiB); a response holds at most ten times that, within 55 MiB.',
  },
  {
    key: 'replication.fetch_interval',
    kind: { type: 'duration', minMs: 1, maxMs: 60_000 },
    default: '100ms',
    doc: "Longest a leader holds a follower's fetch that finds nothing new (Kafka's replica.fetch.wait.max.ms); a follower fetches again at once after an answer.",
  },
  {
    key: 'replication.lag_time_max',
    kind: { type: 'duration', minMs: 100, maxMs: 3_600_000 },
    default: '30s',
    doc: "A follower that has not caught up with the leader for this long leaves the ISR (Kafka's replica.lag.time.max.ms).",
  },
  {
    key: 'replication.reassignment_bytes_per_sec',
    kind: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER },
    default: 50 * 1024 * 1024,
    doc: "Bytes per second the replicas a reassignment adds on this node may copy from their leaders, all together (Kafka's follower.replication.throttled.rate), so that clients keep their throughput while partitions move; replicas already in sync are never throttled. 0: no throttle.",
  },
  {
    key: 'replication.controlled_shutdown_timeout',
    kind: { type: 'duration', minMs: 0, maxMs: 600_000 },
    default: '15s',
    doc: 'On SIGTERM, how long a node waits for its leaderships to move to other in-sync replicas before it stops anyway; 0 skips the controlled shutdown.',
  },
  {
    key: 'consumer_groups.session_timeout',
    kind: { type: 'duration', minMs: 1000, maxMs: 3_600_000 },
    default: '30s',
    doc: 'Default group session timeout.',
  },
  {
    key: 'consumer_groups.heartbeat_interval',
    kind: { type: 'duration', minMs: 100, maxMs: 600_000 },
    default: '3s',
    doc: 'Heartbeat interval clients are told to use.',
  },
  {
    key: 'consumer_groups.rebalance_timeout',
    kind: { type: 'duration', minMs: 1000, maxMs: 3_600_000 },
    default: '60s',
    doc: 'Longest a rebalance may take.',
  },
  {
    key: 'consumer_groups.consumer_session_timeout',
    kind: { type: 'duration', minMs: 1000, maxMs: 3_600_000 },
    default: '45s',
    doc: "Session timeout of KIP-848 consumer-protocol members (Kafka's group.consumer.session.timeout.ms).",
  },
  {
    key: 'consumer_groups.consumer_heartbeat_interval',
    kind: { type: 'duration', minMs: 100, maxMs: 600_000 },
    default: '5s',
    doc: "Heartbeat interval KIP-848 consumer-protocol members are told to use (Kafka's group.consumer.heartbeat.interval.ms).",
  },
  {
    key: 'consumer_groups.offsets_partitions',
    kind: { type: 'int', min: 1, max: 1000 },
    default: 50,
    doc: 'Partitions of the internal __consumer_offsets topic (fixed once the topic exists).',
  },
  {
    key: 'consumer_groups.max_size',
    kind: { type: 'int', min: 1, max: groupMembersMax },
    default: groupMembersMax,
    doc: "Most members of one group (Kafka's group.max.size); a new member past it gets GROUP_MAX_SIZE_REACHED.",
  },
  {
    key: 'logging.level',
    kind: { type: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    default: 'info',
    doc: 'Log level.',
    env: ['BROKER_LOG_LEVEL'],
    flag: 'log-level',
  },
  {
    key: 'logging.format',
    kind: { type: 'enum', values: ['json', 'text'] },
    default: 'json',
    doc: 'json lines, or text for terminals.',
    env: ['BROKER_LOG_FORMAT'],
  },
  {
    key: 'compression.default',
    kind: { type: 'enum', values: ['none', 'gzip', 'snappy', 'lz4', 'zstd'] },
    default: 'none',
    doc: 'Codec the broker uses for records it encodes itself when a topic names none.',
  },
  {
    key: 'compression.producer_compression',
    kind: { type: 'bool' },
    default: true,
    doc: "true: keep producers' codecs (compression.type=producer). false: store with compression.default.",
  },
  {
    key: 'kafka.auto_create_topics',
    kind: { type: 'bool' },
    default: true,
    doc: 'Create unknown topics named by Kafka Metadata or Produce requests.',
  },
  {
    key: 'kafka.connections_max_idle',
    kind: { type: 'duration', minMs: 1000, maxMs: 7 * 24 * 3_600_000 },
    default: `${connectionsMaxIdleMs}ms`,
    doc: "Close a Kafka connection with no request in progress and no traffic for this long (Kafka's connections.max.idle.ms).",
  },
  {
    key: 'kafka.request_receive_timeout',
    kind: { type: 'duration', minMs: 1000, maxMs: 3_600_000 },
    default: `${requestReceiveMsMax}ms`,
    doc: 'Close a Kafka connection whose request frame has not arrived whole this long after its first byte.',
  },
  {
    key: 'kafka.queued_max_request_bytes',
    kind: { type: 'int', min: queuedRequestBytesMin, max: 2 ** 40 },
    default: queuedRequestBytesMax,
    doc: "Request bytes held across all Kafka connections before they stop reading (Kafka's queued.max.request.bytes).",
  },
];

/** `storage.max_segment_bytes` -> `BROKER_STORAGE_MAX_SEGMENT_BYTES`. */
export function envName(key: string): string {
  return `BROKER_${key.replace('.', '_').toUpperCase()}`;
}
