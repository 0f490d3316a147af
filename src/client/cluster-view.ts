/**
 * The client's view of the cluster (issue 11, "the gRPC door"): the servers that GetServers lists, by
 * node id; each topic's partition leaders, from DescribeTopic and cached per topic; the node found to
 * coordinate each consumer group; and one gRPC channel per server address, opened when first used and
 * closed by close(). It does no I/O of its own: BrokerClient asks it where a call goes and tells it
 * what the answers taught (a new server list, a topic's leaders, a leader that moved).
 *
 * A partition is served only by its leader; another node answers NOT_LEADER_OR_FOLLOWER, and a group
 * call to a node that does not coordinate the group answers NOT_COORDINATOR. Until the view knows of a
 * second server (a single broker, or a node that would not list its peers), every call goes to the
 * bootstrap address it connected to, exactly as the client did before the cluster existed: through a
 * proxy, say, whose address no server advertises.
 */
import * as grpc from '@grpc/grpc-js';
import { brokerClientConstructor } from '../grpc-proto.ts';

/** Where a call goes: any server, a partition's leader, a group's coordinator, or one node. */
export type Route =
  | { kind: 'any' }
  | { kind: 'partition'; topic: string; partition: number }
  | { kind: 'group'; groupId: string }
  | { kind: 'address'; address: string };

export const ANY: Route = { kind: 'any' };

export interface ViewServer {
  nodeId: number;
  address: string;
}

/** The largest message either way: a 64 MiB batch and its envelope, with room to spare. */
const messageBytesMax = 80 * 1024 * 1024;
/** The HTTP/2 window the client grants the server: the server grants the same (its `grpcFlowControlWindowBytes`). */
const clientFlowControlWindowBytes = 8 * 1024 * 1024;

export class ClusterView {
  readonly bootstrap: readonly string[];
  #ctor = brokerClientConstructor();
  #channels = new Map<string, grpc.Client>();
  /** The servers of the last GetServers answer, by node id; empty until one was learned. */
  #servers = new Map<number, string>();
  /** Addresses that calls for "any server" go to, bootstrap first; `#current` indexes it. */
  #anyAddresses: string[];
  #current = 0;
  /** Leader node id (-1: none) of each partition, per topic. */
  #leaders = new Map<string, number[]>();
  /** The address that last answered a group's call as its coordinator, or the next one to try. */
  #coordinators = new Map<string, string>();
  #closed = false;

  constructor(bootstrap: string[]) {
    this.bootstrap = bootstrap;
    this.#anyAddresses = [...bootstrap];
  }

  /** The channel to `address`, opened on first use. */
  channel(address: string): grpc.Client {
    let c = this.#channels.get(address);
    if (!c) {
      if (this.#closed) throw new Error('the client is closed');
      c = new this.#ctor(address, grpc.credentials.createInsecure(), {
        'grpc.max_receive_message_length': messageBytesMax,
        'grpc.max_send_message_length': messageBytesMax,
        // HTTP/2's 64 KiB would make each large consume answer wait on round trips.
        'grpc-node.flow_control_window': clientFlowControlWindowBytes,
        // Per-call channelz bookkeeping that only a channelz service would read (as on the server).
        'grpc.enable_channelz': 0,
      });
      this.#channels.set(address, c);
    }
    return c;
  }

  /** Whether calls are routed by node: the view knows more than one server. */
  get routed(): boolean {
    return this.#servers.size > 1;
  }

  get current(): string {
    return this.#anyAddresses[this.#current];
  }

  /** Makes `address` the one "any server" calls go to (connect() found it answering). */
  useAddress(address: string): void {
    const i = this.#anyAddresses.indexOf(address);
    assertFound(i, address);
    this.#current = i;
  }

  /** After a server failed to answer: the next one, for calls that may go anywhere. */
  failover(failed: string): void {
    if (this.#anyAddresses[this.#current] === failed)
      this.#current = (this.#current + 1) % this.#anyAddresses.length;
  }

  /** Every server address: the advertised ones when known, else the bootstrap list. */
  addresses(): string[] {
    return this.routed ? [...this.#servers.values()] : [...this.bootstrap];
  }

  setServers(servers: ViewServer[]): void {
    this.#servers = new Map(servers.filter((s) => s.address).map((s) => [s.nodeId, s.address]));
    const current = this.current;
    this.#anyAddresses = [...this.bootstrap];
    if (this.routed)
      for (const a of this.#servers.values()) if (!this.#anyAddresses.includes(a)) this.#anyAddresses.push(a);
    this.#current = Math.max(0, this.#anyAddresses.indexOf(current));
  }

  addressOf(nodeId: number): string | undefined {
    return this.#servers.get(nodeId);
  }

  // ---------------------------------------------------------------- topics

  setTopic(topic: string, leaderIds: number[]): void {
    this.#leaders.set(topic, leaderIds);
  }

  forgetTopic(topic: string): void {
    this.#leaders.delete(topic);
  }

  /** The partition count the view knows for `topic`, or undefined. */
  partitionCount(topic: string): number | undefined {
    return this.#leaders.get(topic)?.length;
  }

  /**
   * The address of the partition's leader: undefined when the topic is not cached or the leader is
   * unknown (none, or a node not among the servers), and the caller must refresh first.
   */
  leaderAddress(topic: string, partition: number): string | undefined {
    const leader = this.#leaders.get(topic)?.[partition];
    return leader === undefined || leader < 0 ? undefined : this.#servers.get(leader);
  }

  // ---------------------------------------------------------------- groups

  /** The address to try for a group: the one that coordinated it last, else any server. */
  coordinator(groupId: string): string {
    return this.#coordinators.get(groupId) ?? this.current;
  }

  coordinatorFound(groupId: string, address: string): void {
    this.#coordinators.set(groupId, address);
  }

  /**
   * After `failed` answered NOT_COORDINATOR: the next server to try that is not in `tried`, or
   * undefined when every server was tried (the coordinator is moving; back off and start over).
   */
  nextCoordinator(groupId: string, failed: string, tried: Set<string>): string | undefined {
    this.#coordinators.delete(groupId);
    tried.add(failed);
    const next = this.addresses().find((a) => !tried.has(a));
    if (next !== undefined) this.#coordinators.set(groupId, next);
    return next;
  }

  forgetCoordinator(groupId: string): void {
    this.#coordinators.delete(groupId);
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#channels.values()) c.close();
    this.#channels.clear();
  }
}

function assertFound(i: number, address: string): void {
  if (i < 0) throw new Error(`${address} is not one of the client's addresses`);
}
