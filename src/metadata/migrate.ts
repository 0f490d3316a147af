/**
 * Migration of a single-node data directory to metadata records (issue 11): the records that describe
 * what today's release keeps in `<data>/meta/topics.json` (src/broker/metadata.ts, `FileFormat` version 1)
 * and `<data>/meta/producer-ids.json` (src/broker/core.ts, `ProducerIdAllocator`), for a one-node
 * cluster whose node id is given. Whoever wires the cluster commits these once, as the first records of
 * a new metadata log, when a node starts on a directory written by the current release. Pure: the
 * caller reads the files and passes their text.
 *
 * Every partition gets the node as its only replica, ISR member and leader, at epoch 0. The node
 * itself is not registered here: it registers as any restarted broker does, and the controller's
 * registration removes the stale leaderships of its old incarnation until it is unfenced (Kafka's
 * `BrokerUncleanShutdownHandler`). A topic's `createdMs` has no record and is dropped; its
 * `replicationFactor` is 1 on a single node, which is what the partitions say.
 */
import { BrokerError } from '../errors.ts';
import type { MetadataRecord } from './records.ts';
import { RECORD_VERSION, validateRecord } from './records.ts';

/** The shape of a topic in topics.json (src/broker/metadata.ts `TopicMetadata`). */
export interface LegacyTopic {
  name: string;
  id: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string | undefined>;
  createdMs: number;
}

export interface MigrationInput {
  /** The integer node id (DESIGN.md decision 4). */
  nodeId: number;
  /** The text of meta/topics.json, or null when the file does not exist. */
  topicsJson: string | null;
  /** The text of meta/producer-ids.json, or null when the file does not exist. */
  producerIdsJson?: string | null;
  /** Most partitions one topic may have (the broker's limit), so a hostile file cannot blow up. */
  partitionsPerTopicMax: number;
}

function bad(message: string): BrokerError {
  return new BrokerError('KAFKA_STORAGE_ERROR', `cannot migrate meta/: ${message}`);
}

/** The records that recreate the legacy state; an unreadable file is KAFKA_STORAGE_ERROR. */
export function migrateLegacyMetadata(input: MigrationInput): MetadataRecord[] {
  const records: MetadataRecord[] = [];
  const check = (r: MetadataRecord): void => {
    try {
      records.push(validateRecord({ v: RECORD_VERSION, ...r }));
    } catch (err) {
      throw bad(`${(err as Error).message}`);
    }
  };
  if (input.topicsJson !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input.topicsJson);
    } catch (err) {
      throw bad(`topics.json is not valid JSON: ${(err as Error).message}`);
    }
    const file = parsed as { version?: unknown; topics?: unknown };
    if (typeof file !== 'object' || file === null || file.version !== 1 || !Array.isArray(file.topics)) {
      throw bad('topics.json is not version 1 with a list of topics');
    }
    const names = new Set<string>();
    const ids = new Set<string>();
    for (const raw of file.topics as unknown[]) {
      const t = raw as Partial<LegacyTopic>;
      if (typeof t !== 'object' || t === null || typeof t.name !== 'string' || typeof t.id !== 'string') {
        throw bad(`a topic in topics.json has no name or id: ${JSON.stringify(raw)?.slice(0, 200)}`);
      }
      if (names.has(t.name) || ids.has(t.id)) throw bad(`topics.json lists ${t.name} (${t.id}) twice`);
      names.add(t.name);
      ids.add(t.id);
      const n = t.partitions;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > input.partitionsPerTopicMax) {
        throw bad(
          `topic ${t.name} has ${JSON.stringify(n)} partitions; expected 1 to ${input.partitionsPerTopicMax}`,
        );
      }
      check({ type: 'Topic', name: t.name, topicId: t.id });
      for (let i = 0; i < n; i++) {
        check({
          type: 'Partition',
          topicId: t.id,
          partition: i,
          replicas: [input.nodeId],
          isr: [input.nodeId],
          leader: input.nodeId,
          leaderEpoch: 0,
          partitionEpoch: 0,
        });
      }
      const configs = t.configs ?? {};
      if (typeof configs !== 'object' || configs === null)
        throw bad(`topic ${t.name} has configs that are not an object`);
      for (const [key, value] of Object.entries(configs).sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (value === undefined) continue;
        if (typeof value !== 'string') throw bad(`topic ${t.name} config ${key} is not a string`);
        check({ type: 'Config', resourceType: 'topic', resourceName: t.name, key, value });
      }
    }
  }
  if (input.producerIdsJson != null) {
    let blockEnd: unknown;
    try {
      blockEnd = (JSON.parse(input.producerIdsJson) as { blockEnd?: unknown }).blockEnd;
    } catch (err) {
      throw bad(`producer-ids.json is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof blockEnd !== 'number' || !Number.isSafeInteger(blockEnd) || blockEnd < 0) {
      throw bad(`producer-ids.json has blockEnd ${JSON.stringify(blockEnd)}, not a non-negative integer`);
    }
    // Ids below blockEnd may have been handed out before the migration: the cluster starts after them.
    if (blockEnd > 0) {
      check({ type: 'ProducerIds', brokerId: input.nodeId, brokerEpoch: -1, nextProducerId: blockEnd });
    }
  }
  return records;
}
