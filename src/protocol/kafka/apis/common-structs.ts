/**
 * Structs that several of Kafka's message files declare alike, written once here (STYLE.md: a table the
 * spec defines is written once). Kafka repeats them per file (`NodeEndpoint`, `LeaderIdAndEpoch`); their
 * inner fields carry the enclosing field's versions there, and `'0+'` here, which says the same: a nested
 * field exists wherever its struct does.
 *
 * NodeEndpoint (KIP-951, Fetch 16+ and Produce 10+, tagged) => node_id host port rack
 *   node_id => INT32  host => COMPACT_STRING  port => INT32  rack => COMPACT_NULLABLE_STRING
 * LeaderIdAndEpoch (Fetch 12+, Produce 10+, tagged) => leader_id leader_epoch
 *   leader_id => INT32 (default -1)  leader_epoch => INT32 (default -1)
 */
import { field, struct, structs, type Versions } from '../schema.ts';

/** A response's tagged NodeEndpoints: the brokers that the CurrentLeader fields name. */
export function nodeEndpoints<const V extends Versions>(versions: V, tag: number) {
  return structs(
    'nodeEndpoints',
    versions,
    [
      field('nodeId', 'int32', '0+'),
      field('host', 'string', '0+'),
      field('port', 'int32', '0+'),
      field('rack', 'string', '0+', { nullable: '0+', default: null }),
    ],
    { tag, tagged: versions },
  );
}

/** A partition's tagged CurrentLeader: the leader and epoch a client should turn to. */
export function currentLeader<const V extends Versions>(versions: V, tag: number) {
  return struct(
    'currentLeader',
    versions,
    [field('leaderId', 'int32', '0+', { default: -1 }), field('leaderEpoch', 'int32', '0+', { default: -1 })],
    { tag, tagged: versions },
  );
}
