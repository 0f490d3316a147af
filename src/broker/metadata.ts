/**
 * Topics as the doors and the group service see them (issue 11): read from the metadata image this
 * node has acted on (the replica manager's published image, core.ts), so that no client sees a topic
 * whose local partitions are not open yet. Changes are made through the controller, never here.
 */

import { BrokerError } from '../errors.ts';
import type { MetadataImage, TopicImage } from '../metadata/image.ts';
import type { TopicConfigs } from './topic-config.ts';

export interface TopicMetadata {
  name: string;
  /** Distinguishes a topic from an earlier one of the same name (Kafka's topic id). */
  id: string;
  partitions: number;
  replicationFactor: number;
  configs: TopicConfigs;
}

export type TopicChange = { type: 'created' | 'deleted' | 'altered'; topic: TopicMetadata };

/** The read side of the topic metadata. */
export interface MetadataStore {
  listTopics(): TopicMetadata[];
  getTopic(name: string): TopicMetadata | undefined;
  /** Subscribe to changes; returns an unsubscribe function. */
  onChange(fn: (event: TopicChange) => void): () => void;
}

function topicMetadata(image: MetadataImage, t: TopicImage): TopicMetadata {
  return {
    name: t.name,
    id: t.id,
    partitions: t.partitions.length,
    replicationFactor: t.partitions[0]?.replicas.length ?? 0,
    configs: Object.fromEntries(image.config('topic', t.name)) as TopicConfigs,
  };
}

/** The topics of one image, swapped for the next by `publish`, which tells listeners what changed. */
export class ImageTopics implements MetadataStore {
  #image: MetadataImage;
  #cache = new Map<string, TopicMetadata>();
  #listeners = new Set<(event: TopicChange) => void>();

  constructor(image: MetadataImage) {
    this.#image = image;
  }

  get image(): MetadataImage {
    return this.#image;
  }

  listTopics(): TopicMetadata[] {
    return [...this.#image.topicsByName.keys()]
      .sort((a, b) => a.localeCompare(b))
      .map((name) => this.getTopic(name)!);
  }

  getTopic(name: string): TopicMetadata | undefined {
    const cached = this.#cache.get(name);
    if (cached) return cached;
    const t = this.#image.topicsByName.get(name);
    if (!t) return undefined;
    const m = topicMetadata(this.#image, t);
    this.#cache.set(name, m);
    return m;
  }

  onChange(fn: (event: TopicChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  publish(next: MetadataImage): void {
    const prev = this.#image;
    this.#image = next;
    this.#cache.clear();
    const events: TopicChange[] = [];
    for (const [id, t] of prev.topicsById) {
      if (!next.topicsById.has(id)) events.push({ type: 'deleted', topic: topicMetadata(prev, t) });
    }
    for (const [id, t] of next.topicsById) {
      const before = prev.topicsById.get(id);
      if (!before) events.push({ type: 'created', topic: this.getTopic(t.name)! });
      else if (
        before.partitions.length !== t.partitions.length ||
        prev.config('topic', t.name) !== next.config('topic', t.name)
      )
        events.push({ type: 'altered', topic: this.getTopic(t.name)! });
    }
    for (const e of events) for (const fn of this.#listeners) fn(e);
  }
}

/**
 * Topics that only the broker writes (Kafka's `Topic.isInternal`): clients may read them, but a
 * client's produce is refused with INVALID_TOPIC_EXCEPTION, as Kafka's `ReplicaManager` refuses
 * appends to internal topics unless `internalTopicsAllowed` (issue 10: a record kcat wrote to
 * `__consumer_offsets` made the next start fail). Clients cannot create them either: the broker
 * creates each with the settings it relies on.
 */
export const INTERNAL_TOPICS: ReadonlySet<string> = new Set(['__consumer_offsets', '__transaction_state']);

export function isInternalTopic(name: string): boolean {
  return INTERNAL_TOPICS.has(name);
}

/** Kafka's topic name rule: 1 to 249 characters from [a-zA-Z0-9._-], and not "." or "..". */
export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new BrokerError('INVALID_TOPIC_EXCEPTION', 'topic name must not be empty');
  }
  if (name.length > 249)
    throw new BrokerError(
      'INVALID_TOPIC_EXCEPTION',
      `topic name is ${name.length} characters; the most is 249`,
    );
  if (name === '.' || name === '..')
    throw new BrokerError('INVALID_TOPIC_EXCEPTION', `topic name cannot be "${name}"`);
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    throw new BrokerError(
      'INVALID_TOPIC_EXCEPTION',
      `topic name ${JSON.stringify(name)} may only use ASCII letters, digits, '.', '_' and '-'`,
    );
  }
  return name;
}

/**
 * The leaderships of node `me` that end and begin between two images it acts on, in order: a partition
 * it led in `prev` and no longer leads (or whose topic is gone) ends, one it leads only in `next`
 * begins, and one it leads in both but at a newer leader epoch ends and begins again. Images are
 * coalesced (the broker acts on the newest one, core.ts), so the same leader at a new epoch may stand
 * for leaderships of other nodes in between, whose writes what this node built from its own term does
 * not hold: the group coordinator's shard loaded in the old term is stale (Kafka's coordinator loads
 * again on every election of a newer epoch).
 */
export function leadershipChanges(
  prev: MetadataImage,
  next: MetadataImage,
  me: number,
): [topic: string, partition: number, leads: boolean][] {
  const changes: [string, number, boolean][] = [];
  for (const [id, t] of prev.topicsById) {
    if (next.topicsById.has(id)) continue;
    t.partitions.forEach((p, i) => {
      if (p.leader === me) changes.push([t.name, i, false]);
    });
  }
  for (const [id, t] of next.topicsById) {
    const before = prev.topicsById.get(id);
    if (before === t) continue;
    t.partitions.forEach((p, i) => {
      const old = before?.partitions[i];
      const was = old?.leader === me;
      const leads = p.leader === me;
      if (was && leads && old.leaderEpoch !== p.leaderEpoch)
        changes.push([t.name, i, false], [t.name, i, true]);
      else if (was !== leads) changes.push([t.name, i, leads]);
    });
  }
  return changes;
}
