/**
 * A node's numeric id (DESIGN.md decision 4, issue 11). Kafka clients know a broker only by an int32
 * (Metadata's `node_id`, FindCoordinator's `node_id`) and Raft's NodeId is a number, so the name that
 * `node.id` gives (`node-1`, `broker-3`, or a bare `7`, the seed's forms) carries its number at its
 * end. This is the one place that turns the name into that number: the Kafka door, the gRPC door and
 * the metadata log all use what it returns, so that one node has one number everywhere.
 */
import { configError } from './config-error.ts';

/** The highest numeric node id: Kafka's node ids are int32 (`INT32` in every schema that carries one). */
export const nodeIdNumberMax = 0x7fff_ffff;

/** The trailing decimal digits of a name: `node-12` -> `12`. */
const TRAILING_NUMBER = /(\d+)$/;

/** What a node name may hold: it names the default data directory and appears in logs and metrics. */
const NODE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The int32 id of the node named `name`: the decimal number it ends with (`node-3` -> 3, `7` -> 7,
 * `broker-007` -> 7). A name that is not 1 to 64 of letters, digits, ".", "_" and "-", ends in no
 * digit, or whose number is 0 or above 2^31-1, is refused with a ConfigError naming `node.id`;
 * `origin` says where the name came from (`--id`), for the message. 0 is refused because Raft reads
 * node 0 as "no node" (src/raft/types.ts `NONE`); a trailing number cannot be negative, so Kafka's
 * -1 ("no broker") cannot arise.
 */
export function numericNodeId(name: string, origin?: string): number {
  if (!NODE_NAME.test(name))
    throw configError('node.id', name, '1 to 64 characters from letters, digits, ".", "_" and "-"', origin);
  const digits = TRAILING_NUMBER.exec(name)?.[1];
  if (digits === undefined) {
    throw configError(
      'node.id',
      name,
      `it must end in a decimal number from 1 to ${nodeIdNumberMax} (node-1, broker-3 or a bare 7), ` +
        'because Kafka clients and Raft know a node by that number',
      origin,
    );
  }
  // Number() of a long digit string is a float that may round; compare the digits first so that a
  // number past int32 is refused as what it is, not as a rounded neighbour.
  const n = digits.replace(/^0+(?=\d)/, '').length > 10 ? Number.POSITIVE_INFINITY : Number(digits);
  if (n < 1 || n > nodeIdNumberMax) {
    throw configError(
      'node.id',
      name,
      `its number ${digits} is out of range: a node id's number is 1 to ${nodeIdNumberMax} ` +
        `(Kafka's int32; 0 is Raft's "no node")`,
      origin,
    );
  }
  return n;
}
