/**
 * The replica balancer (issue 14): pure planning of partition moves, run by the active controller.
 * PLACEHOLDER HEADER: the implementation replaces this comment with the method and its guarantees.
 */

/** A broker that may receive replicas (active and not being decommissioned). */
export interface BalancerBroker {
  id: number;
  rack: string | null;
}

/** One partition as the balancer sees it. */
export interface BalancerPartition {
  topic: string;
  partition: number;
  /** Its replicas (for one being reassigned, its target), the preferred leader first. */
  replicas: readonly number[];
  /** The size of one replica in bytes; 0 when unknown. */
  bytes: number;
  /** It may not move (it is being reassigned already); it still counts toward its brokers' load. */
  pinned?: boolean;
}

export interface BalanceInput {
  /** The brokers that may hold replicas. */
  brokers: readonly BalancerBroker[];
  /** Brokers every replica must leave (being decommissioned); not in `brokers`. */
  draining?: readonly number[];
  partitions: readonly BalancerPartition[];
  /** Most moves to return (the first ones of the full plan); all when absent. */
  maxMoves?: number;
}

/** Moving one partition's replicas from one list to another (the preferred leader first in each). */
export interface Move {
  topic: string;
  partition: number;
  from: number[];
  to: number[];
}

/** One broker's share: replicas held, partitions it is the preferred leader of, and bytes held. */
export interface BrokerLoad {
  id: number;
  replicas: number;
  leaders: number;
  bytes: number;
}

export interface BalancePlan {
  moves: Move[];
  /** Per broker of `brokers` (and `draining`), by id, before and after the moves returned. */
  before: BrokerLoad[];
  after: BrokerLoad[];
}

export function planRebalance(_input: BalanceInput): BalancePlan {
  throw new Error('planRebalance is not written yet');
}

export interface ReplicationFactorInput {
  brokers: readonly BalancerBroker[];
  /** Every partition in the cluster (for the load), the topic's among them. */
  partitions: readonly BalancerPartition[];
  topic: string;
  replicationFactor: number;
}

/** The moves that give every partition of `topic` `replicationFactor` replicas. */
export function planReplicationFactor(_input: ReplicationFactorInput): Move[] {
  throw new Error('planReplicationFactor is not written yet');
}
