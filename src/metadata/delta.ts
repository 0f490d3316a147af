/**
 * The metadata delta (issue 11): committed records folded onto an image, then applied to make the
 * next image, plus what changed for one node. Follows Kafka's
 * `metadata/src/main/java/org/apache/kafka/image/MetadataDelta.java` (`replay`, `apply`) and
 * `TopicsDelta.localChanges` (which partitions a broker must now lead, follow or delete).
 *
 * Copy on write: the delta copies a map of the base image only when a record changes it, and a topic's
 * partition list only when one of its partitions changes; everything untouched is shared with the
 * base image by reference. A record that breaks an invariant (a partition of an unknown topic, a second
 * topic of one name, an epoch going backwards, a leader outside the ISR) fails an assertion: the
 * controller must never commit one, and a node that folds one must stop rather than guess.
 */
import assert from 'node:assert/strict';
import {
  type BrokerRegistration,
  type ConfigMap,
  checkPartition,
  MetadataImage,
  type PartitionRegistration,
  type ProducerIdsImage,
  type Provenance,
  type TopicImage,
} from './image.ts';
import type {
  ConfigResourceType,
  MetadataRecord,
  PartitionChangeRecord,
  PartitionRecord,
} from './records.ts';

/** A partition this node holds, as `localChanges` reports it. */
export interface LocalPartition {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
  readonly registration: PartitionRegistration;
  /** The node held no replica of it before this delta (open or create the log). */
  readonly isNew: boolean;
}

export interface LocalDelete {
  readonly topicId: string;
  readonly topicName: string;
  readonly partition: number;
}

/** Kafka's `LocalReplicaChanges`: what one node must do after a delta. */
export interface LocalChanges {
  /** Partitions the node now leads (or leads with a new epoch). */
  readonly leaders: LocalPartition[];
  /** Partitions the node now follows: a replica that is not the leader (also when there is none). */
  readonly followers: LocalPartition[];
  /** Replicas the node must delete: its topic was removed, or the node left the replicas. */
  readonly deletes: LocalDelete[];
}

const noConfigs: ConfigMap = new Map();

interface TopicDraft {
  id: string;
  name: string;
  partitions: PartitionRegistration[];
}

export class MetadataDelta {
  readonly base: MetadataImage;
  #brokers: Map<number, BrokerRegistration> | null = null;
  #topicsById: Map<string, TopicImage> | null = null;
  #topicsByName: Map<string, TopicImage> | null = null;
  /** Topics touched by this delta, with their partition list copied once. */
  #drafts = new Map<string, TopicDraft>();
  #configs: Record<ConfigResourceType, Map<string, ConfigMap>> | null = null;
  #producerIds: ProducerIdsImage;
  /** For localChanges: changed partitions per live topic id, and topics removed from the base. */
  #changed = new Map<string, Set<number>>();
  #removed = new Map<string, TopicImage>();
  #records = 0;

  constructor(base: MetadataImage) {
    this.base = base;
    this.#producerIds = base.producerIds;
  }

  /** How many records were replayed into this delta. */
  get recordCount(): number {
    return this.#records;
  }

  // ---- reads of the state so far (base plus the records replayed) ----

  broker(id: number): BrokerRegistration | undefined {
    return (this.#brokers ?? this.base.brokers).get(id);
  }

  topicById(
    id: string,
  ): { id: string; name: string; partitions: readonly PartitionRegistration[] } | undefined {
    return this.#drafts.get(id) ?? (this.#topicsById ?? this.base.topicsById).get(id);
  }

  topicByName(name: string): { id: string; name: string } | undefined {
    return (this.#topicsByName ?? this.base.topicsByName).get(name);
  }

  config(resourceType: ConfigResourceType, name: string): ConfigMap {
    return (this.#configs ?? this.base.configs)[resourceType].get(name) ?? noConfigs;
  }

  // ---- replay ----

  replay(record: MetadataRecord): void {
    this.#records++;
    switch (record.type) {
      case 'RegisterBroker': {
        const old = this.broker(record.brokerId);
        if (old) {
          assert.ok(
            record.brokerEpoch >= old.epoch,
            `broker ${record.brokerId}'s epoch went back from ${old.epoch}`,
          );
          assert.ok(
            record.brokerEpoch > old.epoch || record.incarnationId === old.incarnationId,
            `a new incarnation of broker ${record.brokerId} kept epoch ${old.epoch}`,
          );
        }
        this.#setBroker({
          id: record.brokerId,
          incarnationId: record.incarnationId,
          epoch: record.brokerEpoch,
          listeners: Object.freeze(record.listeners.map((l) => Object.freeze({ ...l }))),
          rack: record.rack,
          controllerEligible: record.controllerEligible,
          fenced: record.fenced,
          inControlledShutdown: record.inControlledShutdown,
          ...(record.nodeName === undefined ? {} : { nodeName: record.nodeName }),
          ...(record.decommissioning ? { decommissioning: true } : {}),
        });
        break;
      }
      case 'UnregisterBroker': {
        this.#brokerAtEpoch(record.brokerId, record.brokerEpoch);
        this.#writableBrokers().delete(record.brokerId);
        break;
      }
      case 'BrokerRegistrationChange': {
        const old = this.#brokerAtEpoch(record.brokerId, record.brokerEpoch);
        const { decommissioning: _d, ...rest } = old;
        const decommissioning = record.decommissioning ?? old.decommissioning ?? false;
        this.#setBroker({
          ...rest,
          fenced: record.fenced ?? old.fenced,
          inControlledShutdown: record.inControlledShutdown ?? old.inControlledShutdown,
          ...(decommissioning ? { decommissioning: true } : {}),
        });
        break;
      }
      case 'Topic': {
        assert.ok(!this.topicByName(record.name), `a second topic named ${record.name}`);
        assert.ok(!this.topicById(record.topicId), `a second topic with id ${record.topicId}`);
        const draft: TopicDraft = { id: record.topicId, name: record.name, partitions: [] };
        this.#drafts.set(draft.id, draft);
        // The name index holds a placeholder until apply() freezes the draft.
        this.#writableTopics().byName.set(draft.name, draft as TopicImage);
        this.#changed.set(draft.id, new Set());
        break;
      }
      case 'Partition':
        this.#replayPartition(record);
        break;
      case 'PartitionChange':
        this.#replayPartitionChange(record);
        break;
      case 'RemoveTopic': {
        const t = this.topicById(record.topicId);
        assert.ok(t, `removing unknown topic ${record.topicId}`);
        const { byId, byName } = this.#writableTopics();
        byId.delete(t.id);
        byName.delete(t.name);
        this.#drafts.delete(t.id);
        this.#changed.delete(t.id);
        const inBase = this.base.topicsById.get(t.id);
        if (inBase) this.#removed.set(t.id, inBase);
        // Kafka's ConfigurationControlManager drops a deleted topic's configs with it.
        if ((this.#configs ?? this.base.configs).topic.has(t.name))
          this.#writableConfigs().topic.delete(t.name);
        break;
      }
      case 'Config': {
        if (record.resourceType === 'topic') {
          assert.ok(this.topicByName(record.resourceName), `config of unknown topic ${record.resourceName}`);
        }
        const configs = this.#writableConfigs()[record.resourceType];
        const next = new Map(configs.get(record.resourceName) ?? []);
        if (record.value === null) next.delete(record.key);
        else next.set(record.key, record.value);
        if (next.size === 0) configs.delete(record.resourceName);
        else configs.set(record.resourceName, next);
        break;
      }
      case 'ProducerIds': {
        assert.ok(
          record.nextProducerId > this.#producerIds.nextProducerId,
          `producer ids went back: next ${record.nextProducerId} after ${this.#producerIds.nextProducerId}`,
        );
        this.#producerIds = {
          nextProducerId: record.nextProducerId,
          lastBrokerId: record.brokerId,
          lastBrokerEpoch: record.brokerEpoch,
        };
        break;
      }
      default: {
        const never: never = record;
        assert.fail(`unknown record ${JSON.stringify(never)}`);
      }
    }
  }

  #replayPartition(r: PartitionRecord): void {
    const draft = this.#draft(r.topicId);
    const next: PartitionRegistration = {
      replicas: r.replicas,
      isr: r.isr,
      leader: r.leader,
      leaderEpoch: r.leaderEpoch,
      partitionEpoch: r.partitionEpoch,
      ...reassignment(r.addingReplicas, r.removingReplicas),
    };
    const where = `${draft.name}-${r.partition}`;
    checkPartition(next, where);
    assert.ok(
      r.partition <= draft.partitions.length,
      `${where} leaves a gap after ${draft.partitions.length}`,
    );
    const old = draft.partitions[r.partition];
    if (old) {
      assert.ok(next.leaderEpoch >= old.leaderEpoch, `${where}: leader epoch went back`);
      assert.ok(next.partitionEpoch > old.partitionEpoch, `${where}: partition epoch did not advance`);
    }
    draft.partitions[r.partition] = Object.freeze({
      ...next,
      replicas: freezeList(r.replicas),
      isr: freezeList(r.isr),
    });
    this.#markChanged(draft.id, r.partition);
  }

  #replayPartitionChange(r: PartitionChangeRecord): void {
    const draft = this.#draft(r.topicId);
    const old = draft.partitions[r.partition];
    const where = `${draft.name}-${r.partition}`;
    assert.ok(old, `change of unknown partition ${where}`);
    // Kafka's PartitionRegistration.merge: a present leader bumps the leader epoch, any change the
    // partition epoch.
    const next: PartitionRegistration = {
      replicas: r.replicas ? freezeList(r.replicas) : old.replicas,
      isr: r.isr ? freezeList(r.isr) : old.isr,
      leader: r.leader ?? old.leader,
      leaderEpoch: r.leader === undefined ? old.leaderEpoch : old.leaderEpoch + 1,
      partitionEpoch: old.partitionEpoch + 1,
      ...(r.addingReplicas === undefined
        ? reassignment(old.addingReplicas, old.removingReplicas)
        : reassignment(r.addingReplicas, r.removingReplicas)),
    };
    checkPartition(next, where);
    draft.partitions[r.partition] = Object.freeze(next);
    this.#markChanged(draft.id, r.partition);
  }

  #draft(topicId: string): TopicDraft {
    let draft = this.#drafts.get(topicId);
    if (!draft) {
      const t = (this.#topicsById ?? this.base.topicsById).get(topicId);
      assert.ok(t, `a partition of unknown topic ${topicId}`);
      draft = { id: t.id, name: t.name, partitions: [...t.partitions] };
      this.#drafts.set(topicId, draft);
    }
    return draft;
  }

  #markChanged(topicId: string, partition: number): void {
    let set = this.#changed.get(topicId);
    if (!set) this.#changed.set(topicId, (set = new Set()));
    set.add(partition);
  }

  #brokerAtEpoch(id: number, epoch: number): BrokerRegistration {
    const b = this.broker(id);
    assert.ok(b, `broker ${id} is not registered`);
    assert.equal(b.epoch, epoch, `broker ${id} has epoch ${b.epoch}, not ${epoch}`);
    return b;
  }

  #setBroker(b: BrokerRegistration): void {
    this.#writableBrokers().set(b.id, Object.freeze(b));
  }

  #writableBrokers(): Map<number, BrokerRegistration> {
    this.#brokers ??= new Map(this.base.brokers);
    return this.#brokers;
  }

  #writableTopics(): { byId: Map<string, TopicImage>; byName: Map<string, TopicImage> } {
    this.#topicsById ??= new Map(this.base.topicsById);
    this.#topicsByName ??= new Map(this.base.topicsByName);
    return { byId: this.#topicsById, byName: this.#topicsByName };
  }

  #writableConfigs(): Record<ConfigResourceType, Map<string, ConfigMap>> {
    this.#configs ??= { topic: new Map(this.base.configs.topic), broker: new Map(this.base.configs.broker) };
    return this.#configs;
  }

  // ---- results ----

  /**
   * The next image, reflecting the records replayed and the log position given (which must not be
   * before the base's).
   */
  apply(provenance: Provenance = this.base.provenance): MetadataImage {
    assert.ok(
      provenance.offset >= this.base.provenance.offset && provenance.epoch >= this.base.provenance.epoch,
      `provenance ${JSON.stringify(provenance)} is before the base image's ${JSON.stringify(this.base.provenance)}`,
    );
    let topicsById = this.#topicsById ?? this.base.topicsById;
    let topicsByName = this.#topicsByName ?? this.base.topicsByName;
    if (this.#drafts.size > 0) {
      const { byId, byName } = this.#writableTopics();
      for (const d of this.#drafts.values()) {
        assert.ok(d.partitions.length > 0, `topic ${d.name} was created without partitions`);
        for (let i = 0; i < d.partitions.length; i++) assert.ok(d.partitions[i], `${d.name}-${i} is missing`);
        const t: TopicImage = Object.freeze({
          id: d.id,
          name: d.name,
          partitions: Object.freeze(d.partitions),
        });
        byId.set(t.id, t);
        byName.set(t.name, t);
      }
      topicsById = byId;
      topicsByName = byName;
    }
    return new MetadataImage({
      provenance,
      brokers: this.#brokers ?? this.base.brokers,
      topicsById,
      topicsByName,
      configs: this.#configs ?? this.base.configs,
      producerIds: this.#producerIds,
    });
  }

  /** What node `nodeId` must lead, follow and delete (Kafka's `TopicsDelta.localChanges`). */
  localChanges(nodeId: number): LocalChanges {
    const out: LocalChanges = { leaders: [], followers: [], deletes: [] };
    for (const [topicId, partitions] of this.#changed) {
      const draft = this.#drafts.get(topicId);
      assert.ok(draft, `changed topic ${topicId} has no draft`);
      const before = this.base.topicsById.get(topicId);
      for (const i of [...partitions].sort((a, b) => a - b)) {
        const reg = draft.partitions[i];
        const old = before?.partitions[i];
        if (reg.replicas.includes(nodeId)) {
          const p: LocalPartition = {
            topicId,
            topicName: draft.name,
            partition: i,
            registration: reg,
            isNew: !old?.replicas.includes(nodeId),
          };
          (reg.leader === nodeId ? out.leaders : out.followers).push(p);
        } else if (old?.replicas.includes(nodeId)) {
          out.deletes.push({ topicId, topicName: draft.name, partition: i });
        }
      }
    }
    for (const t of this.#removed.values()) {
      t.partitions.forEach((p, i) => {
        if (p.replicas.includes(nodeId)) out.deletes.push({ topicId: t.id, topicName: t.name, partition: i });
      });
    }
    return out;
  }
}

/** The reassignment fields of a registration: present only while a move is on (either list non-empty). */
function reassignment(
  adding: readonly number[] | undefined,
  removing: readonly number[] | undefined,
): Pick<PartitionRegistration, 'addingReplicas' | 'removingReplicas'> {
  if ((adding?.length ?? 0) === 0 && (removing?.length ?? 0) === 0) return {};
  return { addingReplicas: freezeList(adding ?? []), removingReplicas: freezeList(removing ?? []) };
}

function freezeList(ids: readonly number[]): readonly number[] {
  return Object.isFrozen(ids) ? ids : Object.freeze([...ids]);
}

/** Folds records onto an image in one delta (tests, snapshots, the controller's look-ahead). */
export function applyRecords(
  image: MetadataImage,
  records: Iterable<MetadataRecord>,
  provenance: Provenance = image.provenance,
): MetadataImage {
  const delta = new MetadataDelta(image);
  for (const r of records) delta.replay(r);
  return delta.apply(provenance);
}
