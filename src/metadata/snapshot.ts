/**
 * Snapshots of the metadata image (issue 11): the image written as the shortest list of records that
 * rebuilds it, so that the Raft log can be compacted up to the image's offset (Raft snapshots keep the
 * log bounded). Follows Kafka's `image/writer/ImageWriter` and each image's `write()`: brokers, then
 * each topic with its partitions, then configs, then the producer-id position.
 *
 * The bytes are JSON lines, as a batch (records.ts), headed by one line
 * `{"v":1,"type":"SnapshotHeader","offset":..,"epoch":..,"records":N}` that carries the provenance and
 * the record count, so a truncated snapshot is refused rather than loaded short.
 */
import { BrokerError } from '../errors.ts';
import { applyRecords } from './delta.ts';
import { checkImage, MetadataImage, type Provenance } from './image.ts';
import { snapshotBytesMax } from './limits.ts';
import {
  CONFIG_RESOURCE_TYPES,
  decodeLines,
  encodeRecord,
  type MetadataRecord,
  RECORD_VERSION,
} from './records.ts';

/** The records that rebuild `image` from the empty image, in a stable order. */
export function imageToRecords(image: MetadataImage): MetadataRecord[] {
  const out: MetadataRecord[] = [];
  for (const b of [...image.brokers.values()].sort((x, y) => x.id - y.id)) {
    out.push({
      type: 'RegisterBroker',
      brokerId: b.id,
      incarnationId: b.incarnationId,
      brokerEpoch: b.epoch,
      listeners: b.listeners.map((l) => ({ ...l })),
      rack: b.rack,
      controllerEligible: b.controllerEligible,
      fenced: b.fenced,
      inControlledShutdown: b.inControlledShutdown,
      ...(b.nodeName === undefined ? {} : { nodeName: b.nodeName }),
      ...(b.decommissioning ? { decommissioning: true } : {}),
    });
  }
  for (const t of [...image.topicsById.values()].sort((x, y) => (x.name < y.name ? -1 : 1))) {
    out.push({ type: 'Topic', name: t.name, topicId: t.id });
    t.partitions.forEach((p, i) => {
      out.push({
        type: 'Partition',
        topicId: t.id,
        partition: i,
        replicas: [...p.replicas],
        isr: [...p.isr],
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        ...(p.addingReplicas === undefined
          ? {}
          : { addingReplicas: [...p.addingReplicas], removingReplicas: [...(p.removingReplicas ?? [])] }),
      });
    });
  }
  for (const resourceType of CONFIG_RESOURCE_TYPES) {
    for (const [resourceName, configs] of [...image.configs[resourceType]].sort(([a], [b]) =>
      a < b ? -1 : 1,
    )) {
      for (const [key, value] of [...configs].sort(([a], [b]) => (a < b ? -1 : 1))) {
        out.push({ type: 'Config', resourceType, resourceName, key, value });
      }
    }
  }
  const ids = image.producerIds;
  if (ids.nextProducerId > 0) {
    out.push({
      type: 'ProducerIds',
      brokerId: Math.max(ids.lastBrokerId, 0),
      brokerEpoch: ids.lastBrokerEpoch,
      nextProducerId: ids.nextProducerId,
    });
  }
  return out;
}

/** Rebuilds an image from a snapshot's records, checking every invariant of the result. */
export function recordsToImage(records: Iterable<MetadataRecord>, provenance: Provenance): MetadataImage {
  const image = applyRecords(MetadataImage.EMPTY, records, provenance);
  checkImage(image);
  return image;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeSnapshot(image: MetadataImage): Uint8Array {
  const records = imageToRecords(image);
  const header = JSON.stringify({
    v: RECORD_VERSION,
    type: 'SnapshotHeader',
    offset: image.provenance.offset,
    epoch: image.provenance.epoch,
    records: records.length,
  });
  const bytes = encoder.encode([header, ...records.map(encodeRecord)].join('\n'));
  if (bytes.length > snapshotBytesMax) {
    throw new BrokerError(
      'POLICY_VIOLATION',
      `the metadata snapshot is ${bytes.length} bytes, more than its bound of ${snapshotBytesMax} (snapshotBytesMax)`,
    );
  }
  return bytes;
}

/** Decodes and validates a snapshot; anything malformed or cut short is CORRUPT_MESSAGE. */
export function decodeSnapshot(bytes: Uint8Array): MetadataImage {
  if (bytes.length > snapshotBytesMax) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `a metadata snapshot of ${bytes.length} bytes exceeds ${snapshotBytesMax}`,
    );
  }
  const newline = bytes.indexOf(0x0a);
  const headEnd = newline === -1 ? bytes.length : newline;
  let header: { v?: unknown; type?: unknown; offset?: unknown; epoch?: unknown; records?: unknown };
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(0, headEnd)));
  } catch (err) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `the metadata snapshot header is unreadable: ${(err as Error).message}`,
    );
  }
  const isInt = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min;
  if (
    header === null ||
    typeof header !== 'object' ||
    header.v !== RECORD_VERSION ||
    header.type !== 'SnapshotHeader' ||
    !isInt(header.offset, -1) ||
    !isInt(header.epoch, -1) ||
    !isInt(header.records, 0) ||
    Object.keys(header).length !== 5
  ) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `the metadata snapshot header ${JSON.stringify(header)} is invalid`,
    );
  }
  const body = newline === -1 ? new Uint8Array(0) : bytes.subarray(newline + 1);
  const records =
    header.records === 0 && body.length === 0
      ? []
      : decodeLines(body, snapshotBytesMax, Number.MAX_SAFE_INTEGER);
  if (records.length !== header.records) {
    throw new BrokerError(
      'CORRUPT_MESSAGE',
      `the metadata snapshot holds ${records.length} records; its header says ${header.records}`,
    );
  }
  return recordsToImage(records, { offset: header.offset, epoch: header.epoch });
}
