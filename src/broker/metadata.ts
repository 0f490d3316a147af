/**
 * Topic metadata behind an interface (issue 3): the single-node broker keeps it in a JSON file under
 * `<data>/meta/`; the Raft-backed controller will implement the same interface for a cluster.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError } from '../errors.ts';
import { isTemporaryFile, replaceFileDurably } from '../storage/segment.ts';
import type { TopicConfigs } from './topic-config.ts';

export interface TopicMetadata {
  name: string;
  /** Distinguishes a topic from an earlier one of the same name (Kafka's topic id). */
  id: string;
  partitions: number;
  replicationFactor: number;
  configs: TopicConfigs;
  createdMs: number;
}

export interface MetadataStore {
  listTopics(): TopicMetadata[];
  getTopic(name: string): TopicMetadata | undefined;
  createTopic(spec: Omit<TopicMetadata, 'id' | 'createdMs'>): Promise<TopicMetadata>;
  deleteTopic(name: string): Promise<TopicMetadata>;
  alterTopicConfigs(name: string, configs: TopicConfigs): Promise<TopicMetadata>;
  /** Raises a topic's partition count (CreatePartitions); the caller has opened the new partitions. */
  setPartitionCount(name: string, partitions: number): Promise<TopicMetadata>;
  /** Subscribe to changes; returns an unsubscribe function. */
  onChange(
    fn: (event: { type: 'created' | 'deleted' | 'altered'; topic: TopicMetadata }) => void,
  ): () => void;
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

interface FileFormat {
  version: 1;
  topics: TopicMetadata[];
}

/** Metadata of a single-node broker, persisted (fsync'd, replaced atomically) on every change. */
export class LocalMetadataStore implements MetadataStore {
  readonly #file: string;
  #topics = new Map<string, TopicMetadata>();
  #listeners = new Set<(event: { type: 'created' | 'deleted' | 'altered'; topic: TopicMetadata }) => void>();
  #clock: () => number;
  /** Changes applied in memory and not yet written, with how to take each back. */
  #unsaved: { undo: () => void; resolve: () => void; reject: (err: Error) => void }[] = [];
  #flushing = false;

  private constructor(file: string, clock: () => number) {
    this.#file = file;
    this.#clock = clock;
  }

  static async open(metaDir: string, clock: () => number = Date.now): Promise<LocalMetadataStore> {
    await mkdir(metaDir, { recursive: true });
    // Temporary files of writes a crash interrupted (this file's, the producer-id block's).
    for (const name of await readdir(metaDir)) {
      if (isTemporaryFile(name)) await rm(path.join(metaDir, name), { force: true });
    }
    const store = new LocalMetadataStore(path.join(metaDir, 'topics.json'), clock);
    let text: string | null = null;
    try {
      text = await readFile(store.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== null) {
      let parsed: FileFormat;
      try {
        parsed = JSON.parse(text) as FileFormat;
      } catch (err) {
        throw new BrokerError(
          'KAFKA_STORAGE_ERROR',
          `${store.#file} is not valid JSON: ${(err as Error).message}`,
        );
      }
      if (parsed.version !== 1 || !Array.isArray(parsed.topics)) {
        throw new BrokerError('KAFKA_STORAGE_ERROR', `${store.#file} has an unknown format`);
      }
      for (const t of parsed.topics) store.#topics.set(t.name, t);
    }
    return store;
  }

  listTopics(): TopicMetadata[] {
    return [...this.#topics.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  getTopic(name: string): TopicMetadata | undefined {
    return this.#topics.get(name);
  }

  async createTopic(spec: Omit<TopicMetadata, 'id' | 'createdMs'>): Promise<TopicMetadata> {
    if (this.#topics.has(spec.name))
      throw new BrokerError('TOPIC_ALREADY_EXISTS', `topic ${spec.name} already exists`);
    const topic: TopicMetadata = { ...spec, id: randomUUID(), createdMs: this.#clock() };
    this.#topics.set(topic.name, topic);
    await this.#persist(() => this.#topics.delete(topic.name));
    this.#emit('created', topic);
    return topic;
  }

  async deleteTopic(name: string): Promise<TopicMetadata> {
    const topic = this.#topics.get(name);
    if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
    this.#topics.delete(name);
    await this.#persist(() => this.#topics.set(name, topic));
    this.#emit('deleted', topic);
    return topic;
  }

  async alterTopicConfigs(name: string, configs: TopicConfigs): Promise<TopicMetadata> {
    const topic = this.#topics.get(name);
    if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
    const next = { ...topic, configs: { ...configs } };
    this.#topics.set(name, next);
    await this.#persist(() => this.#topics.set(name, topic));
    this.#emit('altered', next);
    return next;
  }

  async setPartitionCount(name: string, partitions: number): Promise<TopicMetadata> {
    const topic = this.#topics.get(name);
    if (!topic) throw new BrokerError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${name} does not exist`);
    assert.ok(partitions > topic.partitions, 'a partition count only grows');
    const next = { ...topic, partitions };
    this.#topics.set(name, next);
    await this.#persist(() => this.#topics.set(name, topic));
    this.#emit('altered', next);
    return next;
  }

  onChange(
    fn: (event: { type: 'created' | 'deleted' | 'altered'; topic: TopicMetadata }) => void,
  ): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(type: 'created' | 'deleted' | 'altered', topic: TopicMetadata): void {
    for (const fn of this.#listeners) fn({ type, topic });
  }

  /**
   * Makes the changes applied in memory durable: writes the whole file beside the old one, fsyncs and
   * renames it over (all or nothing). Changes that arrive while a write is under way share the next
   * write (a group commit), so that a burst of creations costs a few writes instead of one rewrite of
   * a growing file each, and only one write of the file is ever in flight. When a write fails, every
   * change it carried is undone, newest first, and each caller gets KAFKA_STORAGE_ERROR.
   */
  #persist(undo: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#unsaved.push({ undo, resolve, reject });
      if (!this.#flushing) this.#startFlush();
    });
  }

  #startFlush(): void {
    this.#flushing = true;
    void this.#flush().finally(() => {
      this.#flushing = false;
      // A change that arrived after the last round looked, but before this ran, needs a round too.
      if (this.#unsaved.length > 0) this.#startFlush();
    });
  }

  async #flush(): Promise<void> {
    while (this.#unsaved.length > 0) {
      const round = this.#unsaved;
      this.#unsaved = [];
      const body: FileFormat = { version: 1, topics: this.listTopics() };
      try {
        await replaceFileDurably(this.#file, Buffer.from(JSON.stringify(body, null, 2)));
      } catch (err) {
        for (const change of round.toReversed()) change.undo();
        const e = new BrokerError(
          'KAFKA_STORAGE_ERROR',
          `cannot persist topic metadata: ${(err as Error).message}`,
          { cause: err },
        );
        for (const change of round) change.reject(e);
        continue;
      }
      for (const change of round) change.resolve();
    }
  }
}
