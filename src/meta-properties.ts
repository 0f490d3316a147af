/**
 * `<data-dir>/meta/meta.properties`: which node of which cluster a data directory belongs to (DESIGN.md
 * decision 4, issue 11), in Kafka's own format (KRaft's `MetaProperties`, version 1):
 *
 *     #tsbroker node node-2, written 2026-12-01T09:18:00.000Z
 *     version=1
 *     cluster.id=MkU3OEVBNTcwNTJENDM2Qg
 *     node.id=2
 *
 * Written once, on a node's first start; read and checked on every later one, so that a node never
 * opens a directory of another node or another cluster. This module is pure: the format, the parser
 * and the cluster id; start-up.ts reads and writes the file.
 */
import { randomBytes } from 'node:crypto';
import { nodeIdNumberMax } from './config/node-id.ts';

/** The file's path under the data directory. */
export const META_PROPERTIES = 'meta/meta.properties';

/**
 * Most bytes the file may hold. It has four short lines; anything much longer is not one this broker
 * wrote, and is refused before it is read into memory.
 */
export const metaPropertiesBytesMax = 64 * 1024;

export interface MetaProperties {
  /** The cluster's id: 16 bytes as 22 characters of unpadded base64url, as Kafka's `Uuid.toString()`. */
  clusterId: string;
  /** The numeric node id (`numericNodeId` of node.id). */
  nodeId: number;
}

/**
 * A new cluster id, as Kafka's `Uuid.randomUuid().toString()`: a random (version 4) UUID's 16 bytes in
 * unpadded base64url, 22 characters. Like Kafka, it never starts with "-" (a command line would read it
 * as a flag) and is never all zeros (Kafka's ZERO_UUID). `random` is injectable for tests.
 */
export function generateClusterId(random: (size: number) => Buffer = randomBytes): string {
  // A leading "-" comes once in 64 draws of real randomness; a thousand in a row is a broken source.
  for (let draw = 0; draw < 1000; draw++) {
    const bytes = Buffer.from(random(16));
    if (bytes.length !== 16) throw new Error(`random(16) gave ${bytes.length} bytes`);
    // RFC 4122 version 4, variant 10, as java.util.UUID.randomUUID sets them.
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const id = bytes.toString('base64url');
    if (!id.startsWith('-')) return id;
  }
  throw new Error('the random source gave a cluster id starting with "-" 1000 times in a row');
}

/** Whether `s` is a cluster id as generateClusterId makes them: 16 bytes, canonical base64url. */
export function isClusterId(s: string): boolean {
  if (!/^[A-Za-z0-9_-]{22}$/.test(s)) return false;
  const bytes = Buffer.from(s, 'base64url');
  return bytes.length === 16 && bytes.toString('base64url') === s && bytes.some((b) => b !== 0);
}

/** The file's text, with a comment naming the node and when it was written. */
export function formatMetaProperties(props: MetaProperties, nodeName: string, writtenAt: Date): string {
  if (!isClusterId(props.clusterId)) throw new Error(`not a cluster id: ${props.clusterId}`);
  if (!Number.isInteger(props.nodeId) || props.nodeId < 1 || props.nodeId > nodeIdNumberMax)
    throw new Error(`not a node id: ${props.nodeId}`);
  return [
    `#tsbroker node ${nodeName}, written ${writtenAt.toISOString()}`,
    'version=1',
    `cluster.id=${props.clusterId}`,
    `node.id=${props.nodeId}`,
    '',
  ].join('\n');
}

/**
 * Reads the file's text: `key=value` lines (spaces around `=` allowed, as java.util.Properties does),
 * `#` or `!` comments and blank lines. It must say version 1 and carry a cluster id and a node id in
 * range; other keys (a newer Kafka's `directory.id`) are ignored. Returns the properties, or what is
 * wrong with the text in words.
 */
export function parseMetaProperties(text: string): MetaProperties | { problem: string } {
  const values = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const at = `line ${i + 1}`;
    // Printable ASCII only: every line this broker writes is, and a garbled file seldom stays so.
    if (!/^[\x20-\x7e]*$/.test(line)) return { problem: `${at} holds bytes that are not printable text` };
    const eq = line.indexOf('=');
    if (eq <= 0) return { problem: `${at} is not key=value: ${JSON.stringify(line.slice(0, 80))}` };
    const key = line.slice(0, eq).trim();
    if (values.has(key)) return { problem: `${at} sets ${key} a second time` };
    values.set(key, line.slice(eq + 1).trim());
  }
  const version = values.get('version');
  if (version === undefined) return { problem: 'it has no version' };
  if (version === '0')
    return { problem: "version=0 is ZooKeeper-mode Kafka's format (broker.id); this broker reads version 1" };
  if (version !== '1') return { problem: `version=${version} is not the version 1 this broker reads` };
  const clusterId = values.get('cluster.id');
  if (clusterId === undefined) return { problem: 'it has no cluster.id' };
  if (!isClusterId(clusterId))
    return {
      problem: `cluster.id=${clusterId} is not a cluster id (16 bytes as 22 characters of base64url)`,
    };
  const nodeId = values.get('node.id');
  if (nodeId === undefined) return { problem: 'it has no node.id' };
  const n = /^\d{1,10}$/.test(nodeId) ? Number(nodeId) : Number.NaN;
  if (!(n >= 1 && n <= nodeIdNumberMax))
    return { problem: `node.id=${nodeId} is not a node id from 1 to ${nodeIdNumberMax}` };
  return { clusterId, nodeId: n };
}
