/**
 * The immutable metadata image (issue 11): what a node knows of the cluster after folding the
 * committed metadata records up to one offset of the Raft log. Follows Kafka's
 * `metadata/src/main/java/org/apache/kafka/image/MetadataImage.java` (with ClusterImage, TopicsImage,
 * ConfigurationsImage, ProducerIdsImage and MetadataProvenance folded into one class): an image never
 * changes; a `MetadataDelta` (delta.ts) builds the next one, sharing every topic, partition and broker
 * object that did not change, so a broker can compare old and new by identity and hold an old image
 * without copying it.
 *
 * Invariants, asserted whenever a partition enters an image (programmer errors: the controller must
 * never commit a record that breaks them): replicas are non-empty and distinct; the ISR is non-empty,
 * distinct and within the replicas (Kafka without eligible leader replicas keeps the last ISR member
 * when it goes offline, so that it can lead again when it returns); the leader is NO_LEADER or in the
 * ISR; topic names and ids are unique. Epochs never go backwards: delta.ts checks that on replay.
 */
import assert from 'node:assert/strict';
import { type ConfigResourceType, type Listener, NO_LEADER } from './records.ts';

export interface BrokerRegistration {
  readonly id: number;
  readonly incarnationId: string;
  readonly epoch: number;
  readonly listeners: readonly Listener[];
  readonly rack: string | null;
  readonly controllerEligible: boolean;
  readonly fenced: boolean;
  readonly inControlledShutdown: boolean;
  /** The node's name (`node.id`), or undefined when it registered none. */
  readonly nodeName?: string;
  /** Being decommissioned (`remove-node`): its replicas move away, then it is unregistered. Absent: false. */
  readonly decommissioning?: boolean;
}

export interface PartitionRegistration {
  /** The first replica is the preferred leader. */
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** A broker id, or NO_LEADER (-1) when the partition is offline. */
  readonly leader: number;
  /** Bumped on every leader change; followers and clients fence stale leaders with it. */
  readonly leaderEpoch: number;
  /** Bumped on every change of the partition; guards ISR changes (AlterPartition). */
  readonly partitionEpoch: number;
  /**
   * While the partition is reassigned (KIP-455): the replicas being added and those to drop once the
   * added ones are in the ISR. Both within `replicas`, disjoint; absent or empty when no move is on.
   */
  readonly addingReplicas?: readonly number[];
  readonly removingReplicas?: readonly number[];
}

export interface TopicImage {
  readonly id: string;
  readonly name: string;
  /** Indexed by partition number, 0 to count - 1. */
  readonly partitions: readonly PartitionRegistration[];
}

/** Where the next block of producer ids starts, and who took the last one. */
export interface ProducerIdsImage {
  readonly nextProducerId: number;
  /** -1 before any block was handed out. */
  readonly lastBrokerId: number;
  readonly lastBrokerEpoch: number;
}

/** The last committed record the image reflects: its Raft offset (index) and epoch (term). */
export interface Provenance {
  readonly offset: number;
  readonly epoch: number;
}

export type ConfigMap = ReadonlyMap<string, string>;

export interface ImageParts {
  provenance: Provenance;
  brokers: ReadonlyMap<number, BrokerRegistration>;
  topicsById: ReadonlyMap<string, TopicImage>;
  topicsByName: ReadonlyMap<string, TopicImage>;
  /** Per resource type, the resource name and its set keys. */
  configs: Readonly<Record<ConfigResourceType, ReadonlyMap<string, ConfigMap>>>;
  producerIds: ProducerIdsImage;
}

const noConfigs: ConfigMap = new Map();

export class MetadataImage {
  /** The image before the first record: offset -1, as Kafka's `MetadataProvenance.EMPTY`. */
  static readonly EMPTY: MetadataImage = new MetadataImage({
    provenance: { offset: -1, epoch: -1 },
    brokers: new Map(),
    topicsById: new Map(),
    topicsByName: new Map(),
    configs: { topic: new Map(), broker: new Map() },
    producerIds: { nextProducerId: 0, lastBrokerId: -1, lastBrokerEpoch: -1 },
  });

  readonly provenance: Provenance;
  readonly brokers: ReadonlyMap<number, BrokerRegistration>;
  readonly topicsById: ReadonlyMap<string, TopicImage>;
  readonly topicsByName: ReadonlyMap<string, TopicImage>;
  readonly configs: Readonly<Record<ConfigResourceType, ReadonlyMap<string, ConfigMap>>>;
  readonly producerIds: ProducerIdsImage;

  constructor(parts: ImageParts) {
    assert.equal(parts.topicsById.size, parts.topicsByName.size, 'topic names and ids correspond one to one');
    this.provenance = Object.freeze({ ...parts.provenance });
    this.brokers = parts.brokers;
    this.topicsById = parts.topicsById;
    this.topicsByName = parts.topicsByName;
    this.configs = Object.freeze({ ...parts.configs });
    this.producerIds = Object.freeze({ ...parts.producerIds });
    Object.freeze(this);
  }

  topic(name: string): TopicImage | undefined {
    return this.topicsByName.get(name);
  }

  partition(topicId: string, partition: number): PartitionRegistration | undefined {
    return this.topicsById.get(topicId)?.partitions[partition];
  }

  /** The keys set on a resource (not the defaults, which the broker's config layer owns). */
  config(resourceType: ConfigResourceType, name: string): ConfigMap {
    return this.configs[resourceType].get(name) ?? noConfigs;
  }

  /** Brokers that may lead and join ISRs: unfenced and not shutting down. */
  isActive(brokerId: number): boolean {
    const b = this.brokers.get(brokerId);
    return b !== undefined && !b.fenced && !b.inControlledShutdown;
  }

  get partitionCount(): number {
    let n = 0;
    for (const t of this.topicsById.values()) n += t.partitions.length;
    return n;
  }
}

/** Whether a reassignment of the partition is under way (either of its lists is non-empty). */
export function isReassigning(p: PartitionRegistration): boolean {
  return (p.addingReplicas?.length ?? 0) > 0 || (p.removingReplicas?.length ?? 0) > 0;
}

/** Asserts a partition's invariants (see the header). `where` names it in the failure. */
export function checkPartition(p: PartitionRegistration, where: string): void {
  assert.ok(p.replicas.length > 0, `${where}: no replicas`);
  assert.equal(
    new Set(p.replicas).size,
    p.replicas.length,
    `${where}: replicas ${p.replicas} repeat a broker`,
  );
  assert.ok(p.isr.length > 0, `${where}: empty ISR`);
  assert.equal(new Set(p.isr).size, p.isr.length, `${where}: ISR ${p.isr} repeats a broker`);
  for (const id of p.isr) assert.ok(p.replicas.includes(id), `${where}: ISR member ${id} is not a replica`);
  assert.ok(
    p.leader === NO_LEADER || p.isr.includes(p.leader),
    `${where}: leader ${p.leader} is not in the ISR`,
  );
  assert.ok(p.leaderEpoch >= 0 && p.partitionEpoch >= 0, `${where}: negative epoch`);
  const adding = p.addingReplicas ?? [];
  const removing = p.removingReplicas ?? [];
  for (const id of [...adding, ...removing])
    assert.ok(p.replicas.includes(id), `${where}: reassigned broker ${id} is not a replica`);
  for (const id of adding) assert.ok(!removing.includes(id), `${where}: broker ${id} is added and removed`);
}

/** Asserts every invariant of a whole image: for tests and after loading a snapshot. */
export function checkImage(image: MetadataImage): void {
  for (const [id, t] of image.topicsById) {
    assert.equal(t.id, id, `topic ${t.name} is filed under another id`);
    assert.equal(image.topicsByName.get(t.name), t, `topic ${t.name} is missing from the name index`);
    assert.ok(t.partitions.length > 0, `topic ${t.name} has no partitions`);
    t.partitions.forEach((p, i) => {
      checkPartition(p, `${t.name}-${i}`);
    });
  }
  for (const [id, b] of image.brokers) assert.equal(b.id, id, `broker ${b.id} is filed under ${id}`);
  for (const name of image.configs.topic.keys()) {
    assert.ok(image.topicsByName.has(name), `configs of topic ${name}, which does not exist`);
  }
}
