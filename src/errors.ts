/**
 * The one error taxonomy of the broker (DESIGN.md decision 2).
 *
 * Every operating error that crosses a layer is a `BrokerError` whose `code` is one of the closed list
 * below. The names follow Kafka's error names, because the core speaks Kafka semantics and the Kafka
 * front door maps them one to one; the gRPC front door maps them to status codes. Programmer errors
 * are not here: they are `node:assert` failures and crash.
 */

export const ERROR_CODES = {
  CORRUPT_MESSAGE: {
    retriable: true,
    doc: 'A batch failed its CRC-32C or its framing is inconsistent (length, magic, record count).',
  },
  INVALID_RECORD: {
    retriable: false,
    doc: 'A batch is well framed but breaks a rule of the log (e.g. a null key in a compacted topic, offsets that go backwards).',
  },
  INVALID_TIMESTAMP: {
    retriable: false,
    doc: "A record's timestamp is further from the broker clock than the topic's message.timestamp.before.max.ms or after.max.ms allow.",
  },
  MESSAGE_TOO_LARGE: {
    retriable: false,
    doc: 'A batch is larger than max.message.bytes, or larger than a segment may hold.',
  },
  UNSUPPORTED_FOR_MESSAGE_FORMAT: {
    retriable: false,
    doc: 'A batch uses a record format older than magic 2 (RecordBatch v2), which this broker does not store.',
  },
  UNSUPPORTED_COMPRESSION_TYPE: {
    retriable: false,
    doc: 'A batch names a compression codec that does not exist (attribute bits 0-2 above 4).',
  },
  OFFSET_OUT_OF_RANGE: {
    retriable: false,
    doc: 'The requested offset is below the log start offset or above the log end offset.',
  },
  KAFKA_STORAGE_ERROR: {
    retriable: true,
    doc: 'The disk failed an operation (write, fsync, read); the log stops accepting writes until reopened.',
  },
  LOG_CLOSED: {
    retriable: true,
    doc: 'The partition log was closed (shutdown, deletion or leadership change) while the request was in flight.',
  },
  UNKNOWN_TOPIC_OR_PARTITION: {
    retriable: true,
    doc: 'The topic does not exist, or the partition number is outside the topic.',
  },
  TOPIC_ALREADY_EXISTS: {
    retriable: false,
    doc: 'A topic with this name exists already.',
  },
  INVALID_TOPIC_EXCEPTION: {
    retriable: false,
    doc: 'The topic name is empty, too long, "." or "..", or uses characters other than ASCII letters, digits, ".", "_" and "-".',
  },
  INVALID_PARTITIONS: {
    retriable: false,
    doc: 'The partition count is below 1 or above the per-topic limit.',
  },
  INVALID_REPLICATION_FACTOR: {
    retriable: false,
    doc: 'The replication factor is below 1 or larger than the number of brokers.',
  },
  INVALID_REQUIRED_ACKS: {
    retriable: false,
    doc: 'acks is not 0, 1 or -1 (all).',
  },
  INVALID_REQUEST: {
    retriable: false,
    doc: 'The request is malformed or names an impossible combination of fields; the message says which.',
  },
  POLICY_VIOLATION: {
    retriable: false,
    doc: 'The request breaks a broker limit (too many partitions or topics, a request too large); the message names the limit.',
  },
  REQUEST_TIMED_OUT: {
    retriable: true,
    doc: 'The request did not complete within its timeout; it may still take effect.',
  },
  BROKER_NOT_AVAILABLE: {
    retriable: true,
    doc: 'The broker is starting up or shutting down and does not serve requests.',
  },
  UNKNOWN_SERVER_ERROR: {
    retriable: false,
    doc: 'An unexpected failure inside the broker; it is logged with its stack.',
  },
  INVALID_GROUP_ID: {
    retriable: false,
    doc: 'The consumer group id is empty or too long.',
  },
  UNKNOWN_MEMBER_ID: {
    retriable: false,
    doc: 'The group does not know this member (it left, or its session expired); join again with an empty member id.',
  },
  MEMBER_ID_REQUIRED: {
    retriable: false,
    doc: 'A new member must join again with the member id the broker returned (JoinGroup v4 and later).',
  },
  ILLEGAL_GENERATION: {
    retriable: false,
    doc: "The generation is not the group's current one: a rebalance happened; join again.",
  },
  REBALANCE_IN_PROGRESS: {
    retriable: false,
    doc: 'The group is rebalancing: join again to get the new assignment.',
  },
  INCONSISTENT_GROUP_PROTOCOL: {
    retriable: false,
    doc: "The member's protocol type or assignment strategies share nothing with the group's.",
  },
  INVALID_SESSION_TIMEOUT: {
    retriable: false,
    doc: "The session timeout is outside the broker's allowed range.",
  },
  GROUP_MAX_SIZE_REACHED: {
    retriable: false,
    doc: 'The group already has the most members the broker allows.',
  },
  FENCED_INSTANCE_ID: {
    retriable: false,
    doc: 'Another member joined with the same static group.instance.id.',
  },
  FENCED_MEMBER_EPOCH: {
    retriable: false,
    doc: "A consumer-protocol member's epoch is not its current one (or it was fenced): it joins again with epoch 0.",
  },
  STALE_MEMBER_EPOCH: {
    retriable: false,
    doc: "An offset commit or fetch carries a member epoch other than the member's current one (KIP-848).",
  },
  UNRELEASED_INSTANCE_ID: {
    retriable: false,
    doc: 'A static member joined with an instance id that a live member of the group still holds.',
  },
  UNSUPPORTED_ASSIGNOR: {
    retriable: false,
    doc: 'A consumer-protocol member named a server assignor that the broker does not have.',
  },
  INVALID_REGULAR_EXPRESSION: {
    retriable: false,
    doc: 'A consumer-protocol subscription regex does not compile.',
  },
  NON_EMPTY_GROUP: {
    retriable: false,
    doc: 'The group still has members, so it cannot be deleted.',
  },
  GROUP_ID_NOT_FOUND: {
    retriable: false,
    doc: 'No such consumer group.',
  },
  GROUP_SUBSCRIBED_TO_TOPIC: {
    retriable: false,
    doc: "A member of the group subscribes to the topic, so the group's offsets for it cannot be deleted.",
  },
  COORDINATOR_LOAD_IN_PROGRESS: {
    retriable: true,
    doc: 'The group coordinator is still loading group state from __consumer_offsets.',
  },
  INVALID_PRODUCER_EPOCH: {
    retriable: false,
    doc: 'The producer epoch is older than the current one for this producer id: another instance fenced it.',
  },
  UNKNOWN_PRODUCER_ID: {
    retriable: false,
    doc: 'The broker has no state for this producer id (it expired or the log was truncated); re-initialise the producer.',
  },
  OUT_OF_ORDER_SEQUENCE_NUMBER: {
    retriable: false,
    doc: "The batch's sequence number does not follow the last one stored for this producer and partition.",
  },
  DUPLICATE_SEQUENCE_NUMBER: {
    retriable: false,
    doc: 'The batch repeats one stored earlier; Kafka answers it with the original offsets instead of this error where it can.',
  },
  INVALID_CONFIG: {
    retriable: false,
    doc: 'A configuration value is outside what is allowed, or cannot be used on this machine (a port in use, a data directory that is a file or read-only); the message names the key, the value and what is wrong.',
  },
  DUPLICATE_BROKER_REGISTRATION: {
    retriable: false,
    doc: 'Another live broker is registered with this broker id under a different incarnation; stop one of them, or wait for its session to lapse.',
  },
  BROKER_ID_NOT_REGISTERED: {
    retriable: false,
    doc: 'The controller has no registration for this broker id; the broker must register before it heartbeats or asks for anything.',
  },
  STALE_BROKER_EPOCH: {
    retriable: false,
    doc: "The broker epoch in the request is not the broker's current one: a newer incarnation registered, or the broker must register again.",
  },
  INVALID_REPLICA_ASSIGNMENT: {
    retriable: false,
    doc: 'A manual replica assignment names an unknown or fenced broker, repeats a broker, or gives partitions different replica counts.',
  },
  INVALID_UPDATE_VERSION: {
    retriable: false,
    doc: "A partition change was based on an older partition epoch than the controller's: the leader must refresh its metadata first.",
  },
  FENCED_LEADER_EPOCH: {
    retriable: true,
    doc: "The leader epoch in the request is older than the partition's current one: a new leader was elected.",
  },
  REASSIGNMENT_IN_PROGRESS: {
    retriable: false,
    doc: 'The partition is being reassigned already, or a topic being reassigned cannot be deleted or changed that way until the move finishes or is cancelled.',
  },
  NO_REASSIGNMENT_IN_PROGRESS: {
    retriable: false,
    doc: 'A cancellation named a partition that is not being reassigned.',
  },
  ELECTION_NOT_NEEDED: {
    retriable: true,
    doc: 'A leader election was asked for a partition whose leader is already the one it would elect (preferred), or that has a leader (unclean).',
  },
  PREFERRED_LEADER_NOT_AVAILABLE: {
    retriable: true,
    doc: "A preferred-leader election found the partition's first replica fenced, shutting down or out of the ISR.",
  },
  ELIGIBLE_LEADERS_NOT_AVAILABLE: {
    retriable: true,
    doc: 'An unclean leader election found no live replica of the partition to elect.',
  },
  INELIGIBLE_REPLICA: {
    retriable: false,
    doc: 'A replica proposed for the ISR is fenced, shutting down or not a replica of the partition.',
  },
  NOT_LEADER_OR_FOLLOWER: {
    retriable: true,
    doc: 'This node does not lead the partition (another node does, or none does right now); refresh the metadata and retry at the leader.',
  },
  NOT_COORDINATOR: {
    retriable: true,
    doc: "This node is not the coordinator of the group: it does not lead the group's __consumer_offsets partition; find the coordinator again.",
  },
  NOT_CONTROLLER: {
    retriable: true,
    doc: 'This node is not the active controller, or lost that role before the operation committed; retry against the new one.',
  },
  NOT_ENOUGH_REPLICAS: {
    retriable: true,
    doc: "An acks=all write found fewer in-sync replicas than the topic's min.insync.replicas; nothing was appended.",
  },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: {
    retriable: true,
    doc: 'An acks=all write was appended by the leader, but the in-sync replicas fell below min.insync.replicas before it was replicated; a retry may store it twice unless the producer is idempotent.',
  },
  UNKNOWN_LEADER_EPOCH: {
    retriable: true,
    doc: "The leader epoch in the request is newer than this replica's: it has not yet seen the metadata that made it leader.",
  },
  NETWORK_EXCEPTION: {
    retriable: true,
    doc: 'A connection to another node failed or closed before its answer arrived.',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerError';
    this.code = code;
    this.retriable = ERROR_CODES[code].retriable;
  }
}

export function isBrokerError(err: unknown, code?: ErrorCode): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}
