/**
 * The state machine of KIP-848 consumer groups (the ConsumerGroupHeartbeat protocol, Kafka 4's
 * `group.protocol=consumer`), pure as coordinator.ts is: no sockets, timers or clock. Callers pass
 * `now` and the topics as the metadata shows them into every call, and call `tick(now)` at
 * `nextDeadline()`.
 *
 * The model is Kafka's (GroupMetadataManager.consumerGroupHeartbeat, CurrentAssignmentBuilder):
 * - The group epoch rises whenever what the assignment depends on changes: a member joins or leaves
 *   (or is fenced), a subscription or the chosen assignor changes, or the subscribed topics' metadata
 *   changes (a topic created or deleted, partitions added).
 * - At a new group epoch the broker computes the target assignment with the group's server assignor
 *   and stamps it with that epoch (the assignment epoch).
 * - Each member reconciles towards its target one heartbeat at a time. It first revokes what the
 *   target takes away (state `unrevoked`, epoch unchanged); once a heartbeat shows it no longer owns
 *   those partitions it advances to the assignment epoch and receives the partitions of its target
 *   that no other member still holds (state `unreleased` until all are free, then `stable`). So a
 *   partition is never given to a new owner before its previous owner has let it go: the invariant
 *   that the unit tests check under random schedules.
 * - A member that does not revoke within its rebalance timeout, or whose session lapses, is fenced:
 *   removed, its partitions freed, the group epoch bumped.
 */

import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { BrokerError } from '../../errors.ts';
import {
  consumerRegexBytesMax,
  consumerSubscribedTopicsMax,
  groupMembersMax,
  groupStateBytesMax,
} from '../../limits.ts';
import {
  isServerAssignor,
  SERVER_ASSIGNOR_NAMES,
  SERVER_ASSIGNORS,
  type ServerAssignorName,
  type TopicPartitionsById,
} from './consumer-assignors.ts';

/** Member epoch of a heartbeat that joins. */
export const JOIN_EPOCH = 0;
/** Member epoch of a heartbeat that leaves the group for good. */
export const LEAVE_EPOCH = -1;
/** Member epoch of a static member's heartbeat that leaves for now and keeps its assignment. */
export const STATIC_LEAVE_EPOCH = -2;

/** The topics of the metadata, by name; the same object until the metadata changes. */
export type TopicsByName = ReadonlyMap<string, { id: string; partitions: number }>;

export type MemberState = 'stable' | 'unrevoked' | 'unreleased';
/** As Kafka's ConsumerGroupState names them (ListGroups, DescribeGroups, ConsumerGroupDescribe). */
export type ConsumerGroupState = 'Empty' | 'Assigning' | 'Reconciling' | 'Stable';

export interface TopicPartitions {
  topicId: string;
  partitions: number[];
}

export interface ConsumerHeartbeat {
  groupId: string;
  memberId: string;
  memberEpoch: number;
  instanceId: string | null;
  rackId: string | null;
  /** -1: unchanged since the last heartbeat. */
  rebalanceTimeoutMs: number;
  /** null: unchanged. */
  subscribedTopicNames: string[] | null;
  /** null: unchanged; '' clears it. */
  subscribedTopicRegex: string | null;
  /** null: unchanged (or the group's default). */
  serverAssignor: string | null;
  /** null: unchanged since the last heartbeat. */
  ownedPartitions: TopicPartitions[] | null;
  clientId: string;
  clientHost: string;
}

export interface ConsumerHeartbeatResult {
  memberId: string;
  memberEpoch: number;
  heartbeatIntervalMs: number;
  /** The partitions the member may use now, or null when unchanged since the last answer. */
  assignment: TopicPartitions[] | null;
}

export interface ConsumerGroupConfig {
  /** Kafka's group.consumer.heartbeat.interval.ms. @default 5000 */
  heartbeatIntervalMs: number;
  /** Kafka's group.consumer.session.timeout.ms. @default 45000 */
  sessionTimeoutMs: number;
  /** Kafka's group.consumer.max.size. @default groupMembersMax (src/limits.ts) */
  maxGroupSize: number;
  /** The assignor of a group whose members name none (Kafka's first group.consumer.assignors). @default 'uniform' */
  defaultAssignor: ServerAssignorName;
}

export const defaultConsumerGroupConfig: ConsumerGroupConfig = {
  heartbeatIntervalMs: 5000,
  sessionTimeoutMs: 45_000,
  maxGroupSize: groupMembersMax,
  defaultAssignor: 'uniform',
};

export interface ConsumerMemberSnapshot {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  subscribedTopicNames: string[];
  subscribedTopicRegex: string | null;
  serverAssignor: string | null;
  memberEpoch: number;
  previousMemberEpoch: number;
  state: MemberState;
  assigned: TopicPartitions[];
  revoking: TopicPartitions[];
  target: TopicPartitions[];
}

/** What is persisted and described; JSON-safe. */
export interface ConsumerGroupSnapshot {
  groupId: string;
  state: ConsumerGroupState;
  groupEpoch: number;
  assignmentEpoch: number;
  assignor: ServerAssignorName;
  /** The subscribed topics' metadata as the last target assignment saw it. */
  metadataSignature: string;
  members: ConsumerMemberSnapshot[];
}

/** A member as the group holds it: the snapshot's fields, with partition maps and timers. */
interface Member extends Omit<ConsumerMemberSnapshot, 'serverAssignor' | 'assigned' | 'revoking' | 'target'> {
  regex: RegExp | null;
  serverAssignor: ServerAssignorName | null;
  /** Partitions the member owns and may use. */
  assigned: TopicPartitionsById;
  /** Partitions the member was told to give up and has not yet confirmed giving up. */
  revoking: TopicPartitionsById;
  sessionExpiresAtMs: number;
  /** When a member that is revoking is fenced unless it has revoked. */
  rebalanceDeadlineMs: number | null;
  /** The assignment last sent to the member, as a key, to send it again only when it changes. */
  lastSent: string | null;
}

class Group {
  readonly id: string;
  groupEpoch = 0;
  assignmentEpoch = 0;
  assignor: ServerAssignorName;
  members = new Map<string, Member>();
  target = new Map<string, TopicPartitionsById>();
  metadataSignature = '';
  /** The topics object the signature was computed from, so it is recomputed only when it changes. */
  topicsSeen: TopicsByName | null = null;

  constructor(id: string, assignor: ServerAssignorName) {
    this.id = id;
    this.assignor = assignor;
  }
}

export interface ConsumerGroupDeps {
  /** A member id, for version 0 heartbeats (from version 1 the client makes its own). */
  newMemberId(): string;
  /** Called when a group's persisted state changed, or with null when the group is gone. */
  onGroupChange?(groupId: string, snapshot: ConsumerGroupSnapshot | null): void;
}

/** Topics that a regex never matches (Kafka's regex subscriptions skip internal topics). */
const isInternal = (name: string) => name.startsWith('__');

export class ConsumerGroups {
  readonly config: ConsumerGroupConfig;
  readonly #deps: ConsumerGroupDeps;
  #groups = new Map<string, Group>();
  #dirty = new Set<Group>();

  constructor(deps: ConsumerGroupDeps, config: Partial<ConsumerGroupConfig> = {}) {
    this.#deps = deps;
    this.config = { ...defaultConsumerGroupConfig, ...config };
    assert.ok(this.config.heartbeatIntervalMs < this.config.sessionTimeoutMs);
  }

  has(groupId: string): boolean {
    return this.#groups.has(groupId);
  }

  groupIds(): string[] {
    return [...this.#groups.keys()].sort();
  }

  isEmpty(groupId: string): boolean {
    return (this.#groups.get(groupId)?.members.size ?? 0) === 0;
  }

  // ---------------------------------------------------------------- heartbeat

  /**
   * One ConsumerGroupHeartbeat. `clientMakesMemberId`: version 1 and later, where the client makes
   * its member id (KIP-1082) and an empty one is INVALID_REQUEST.
   */
  heartbeat(
    req: ConsumerHeartbeat,
    topics: TopicsByName,
    now: number,
    clientMakesMemberId: boolean,
  ): ConsumerHeartbeatResult {
    try {
      return this.#heartbeat(req, topics, now, clientMakesMemberId);
    } finally {
      this.#flush();
    }
  }

  #heartbeat(
    req: ConsumerHeartbeat,
    topics: TopicsByName,
    now: number,
    clientMakesMemberId: boolean,
  ): ConsumerHeartbeatResult {
    validate(req, clientMakesMemberId);
    const epoch = req.memberEpoch;
    let group = this.#groups.get(req.groupId);
    if (epoch === LEAVE_EPOCH || epoch === STATIC_LEAVE_EPOCH) return this.#leave(group, req, now);
    checkMemberBytes(group, req);
    if (!group) {
      if (epoch !== JOIN_EPOCH)
        throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${req.groupId} has no member ${req.memberId}`);
      group = new Group(req.groupId, this.config.defaultAssignor);
      this.#groups.set(group.id, group);
    }
    let member: Member;
    let joined = false;
    if (epoch === JOIN_EPOCH) {
      const memberId = req.memberId === '' ? this.#deps.newMemberId() : req.memberId;
      const byInstance =
        req.instanceId === null
          ? undefined
          : [...group.members.values()].find((m) => m.instanceId === req.instanceId);
      if (byInstance && byInstance.memberId !== memberId) {
        // A static member's new incarnation takes over the old one's assignment and epoch, without a
        // rebalance, once the old one left with epoch -2 (or its session lapsed, which removed it).
        if (byInstance.memberEpoch !== STATIC_LEAVE_EPOCH)
          throw new BrokerError(
            'UNRELEASED_INSTANCE_ID',
            `instance ${req.instanceId} of group ${group.id} is still member ${byInstance.memberId}`,
          );
        group.members.delete(byInstance.memberId);
        member = { ...byInstance, memberId, memberEpoch: byInstance.previousMemberEpoch, lastSent: null };
        group.members.set(memberId, member);
        const target = group.target.get(byInstance.memberId);
        group.target.delete(byInstance.memberId);
        if (target) group.target.set(memberId, target);
      } else {
        const existing = group.members.get(memberId);
        if (existing) {
          // A member that joins again with epoch 0 owns nothing (clients give up their partitions
          // first): it starts from an empty assignment.
          existing.assigned = new Map();
          existing.revoking = new Map();
          existing.previousMemberEpoch = existing.memberEpoch;
          existing.memberEpoch = 0;
          existing.state = 'stable';
          existing.lastSent = null;
          member = existing;
        } else {
          if (group.members.size >= this.config.maxGroupSize)
            throw new BrokerError(
              'GROUP_MAX_SIZE_REACHED',
              `group ${group.id} has ${group.members.size} members, the most allowed`,
            );
          member = {
            memberId,
            instanceId: req.instanceId,
            rackId: req.rackId,
            clientId: req.clientId,
            clientHost: req.clientHost,
            rebalanceTimeoutMs: req.rebalanceTimeoutMs,
            subscribedTopicNames: [],
            subscribedTopicRegex: null,
            regex: null,
            serverAssignor: null,
            memberEpoch: 0,
            previousMemberEpoch: 0,
            state: 'stable',
            assigned: new Map(),
            revoking: new Map(),
            sessionExpiresAtMs: now,
            rebalanceDeadlineMs: null,
            lastSent: null,
          };
          group.members.set(memberId, member);
          joined = true;
        }
      }
      this.#dirty.add(group);
    } else {
      const m = group.members.get(req.memberId);
      if (!m) throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${group.id} has no member ${req.memberId}`);
      checkEpoch(m, epoch, req.ownedPartitions);
      member = m;
    }
    member.sessionExpiresAtMs = now + this.config.sessionTimeoutMs;
    let bump = joined;
    if (this.#update(group, member, req)) bump = true;
    if (bump || this.#metadataChanged(group, topics)) {
      group.groupEpoch++;
      this.#dirty.add(group);
    }
    if (group.groupEpoch > group.assignmentEpoch) this.#assign(group, topics);
    this.#reconcile(group, member, req.ownedPartitions, now);
    const sent = assignmentKey(member.assigned);
    const owned = req.ownedPartitions === null ? null : assignmentKey(fromList(req.ownedPartitions));
    const send = epoch === JOIN_EPOCH || sent !== member.lastSent || (owned !== null && owned !== sent);
    member.lastSent = sent;
    return {
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      assignment: send ? toList(member.assigned) : null,
    };
  }

  /** Applies the fields a heartbeat changed; true when the target assignment depends on the change. */
  #update(group: Group, m: Member, req: ConsumerHeartbeat): boolean {
    let changed = false;
    if (req.rebalanceTimeoutMs >= 0 && req.rebalanceTimeoutMs !== m.rebalanceTimeoutMs) {
      m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
      this.#dirty.add(group);
    }
    if (req.rackId !== null && req.rackId !== m.rackId) {
      m.rackId = req.rackId;
      this.#dirty.add(group);
    }
    if (req.clientId !== m.clientId || req.clientHost !== m.clientHost) {
      m.clientId = req.clientId;
      m.clientHost = req.clientHost;
      this.#dirty.add(group);
    }
    if (req.subscribedTopicNames !== null) {
      const names = [...new Set(req.subscribedTopicNames)].sort();
      if (names.join('\u0000') !== m.subscribedTopicNames.join('\u0000')) {
        m.subscribedTopicNames = names;
        changed = true;
      }
    }
    if (req.subscribedTopicRegex !== null) {
      const regex = req.subscribedTopicRegex === '' ? null : req.subscribedTopicRegex;
      if (regex !== m.subscribedTopicRegex) {
        m.subscribedTopicRegex = regex;
        m.regex = regex === null ? null : compileRegex(regex);
        changed = true;
      }
    }
    if (req.serverAssignor !== null && req.serverAssignor !== m.serverAssignor) {
      m.serverAssignor = req.serverAssignor as ServerAssignorName; // checked by validate()
      const chosen = this.#chooseAssignor(group);
      if (chosen !== group.assignor) {
        group.assignor = chosen;
        changed = true;
      }
      this.#dirty.add(group);
    }
    if (changed) this.#dirty.add(group);
    return changed;
  }

  /** The assignor most members name (Kafka's rule), ties to the first in SERVER_ASSIGNOR_NAMES. */
  #chooseAssignor(group: Group): ServerAssignorName {
    const votes = new Map<ServerAssignorName, number>();
    for (const m of group.members.values())
      if (m.serverAssignor) votes.set(m.serverAssignor, (votes.get(m.serverAssignor) ?? 0) + 1);
    let best: ServerAssignorName = this.config.defaultAssignor;
    let bestVotes = 0;
    for (const name of SERVER_ASSIGNOR_NAMES) {
      const v = votes.get(name) ?? 0;
      if (v > bestVotes) {
        best = name;
        bestVotes = v;
      }
    }
    return best;
  }

  /** The topic ids a member subscribes to, by name and by regex. */
  #subscribed(m: Member, topics: TopicsByName): Set<string> {
    const ids = new Set<string>();
    for (const name of m.subscribedTopicNames) {
      const t = topics.get(name);
      if (t) ids.add(t.id);
    }
    if (m.regex)
      for (const [name, t] of topics) if (!isInternal(name) && fullMatch(m.regex, name)) ids.add(t.id);
    return ids;
  }

  #signature(group: Group, topics: TopicsByName): string {
    const names = new Set<string>();
    for (const m of group.members.values()) {
      for (const n of m.subscribedTopicNames) if (topics.has(n)) names.add(n);
      if (m.regex) for (const n of topics.keys()) if (!isInternal(n) && fullMatch(m.regex, n)) names.add(n);
    }
    return [...names]
      .sort()
      .map((n) => `${n}:${topics.get(n)!.id}:${topics.get(n)!.partitions}`)
      .join(',');
  }

  #metadataChanged(group: Group, topics: TopicsByName): boolean {
    if (group.topicsSeen === topics) return false;
    group.topicsSeen = topics;
    return this.#signature(group, topics) !== group.metadataSignature;
  }

  /** Computes the target assignment of the group epoch. */
  #assign(group: Group, topics: TopicsByName): void {
    const partitionsOf = new Map<string, number>();
    const members = [...group.members.values()].map((m) => {
      const ids = this.#subscribed(m, topics);
      for (const id of ids) partitionsOf.set(id, 0);
      return { memberId: m.memberId, topicIds: ids };
    });
    for (const t of topics.values()) if (partitionsOf.has(t.id)) partitionsOf.set(t.id, t.partitions);
    group.target = SERVER_ASSIGNORS[group.assignor]({ members, partitionsOf, previous: group.target });
    // An assignor gives each partition of a subscribed topic to at most one member, and nothing else.
    const given = new Set<string>();
    for (const target of group.target.values())
      for (const [t, ps] of target)
        for (const p of ps) {
          assert.ok(
            p >= 0 && p < (partitionsOf.get(t) ?? 0),
            `assignor gave ${t}-${p}, which does not exist`,
          );
          assert.ok(!given.has(`${t}:${p}`), `assignor gave ${t}-${p} twice`);
          given.add(`${t}:${p}`);
        }
    group.assignmentEpoch = group.groupEpoch;
    group.metadataSignature = this.#signature(group, topics);
    group.topicsSeen = topics;
    // Partitions of topics that no longer exist cannot be owned; they leave every member at once.
    const live = new Set([...topics.values()].map((t) => t.id));
    for (const m of group.members.values()) {
      for (const id of [...m.assigned.keys()]) if (!live.has(id)) m.assigned.delete(id);
      for (const id of [...m.revoking.keys()]) if (!live.has(id)) m.revoking.delete(id);
    }
    this.#dirty.add(group);
  }

  /**
   * Moves a member one step towards its target (Kafka's CurrentAssignmentBuilder). `owned`: the
   * partitions the heartbeat says the member owns, or null when it did not say.
   */
  #reconcile(group: Group, m: Member, owned: TopicPartitions[] | null, now: number): void {
    if (m.memberEpoch < 0) return;
    if (m.state === 'unrevoked') {
      if (owned === null || intersects(fromList(owned), m.revoking)) return;
      m.revoking = new Map();
      m.rebalanceDeadlineMs = null;
      m.state = 'stable';
      this.#dirty.add(group);
    }
    if (m.state === 'stable' && m.memberEpoch === group.assignmentEpoch) return;
    const target = group.target.get(m.memberId) ?? new Map();
    const keep = intersection(m.assigned, target);
    const revoke = difference(m.assigned, target);
    if (revoke.size > 0) {
      m.assigned = keep;
      m.revoking = revoke;
      m.state = 'unrevoked';
      m.rebalanceDeadlineMs = now + Math.max(0, m.rebalanceTimeoutMs);
      this.#dirty.add(group);
      return;
    }
    const held = this.#heldByOthers(group, m);
    const next = copy(keep);
    let missing = false;
    for (const [t, ps] of target)
      for (const p of ps) {
        if (held.has(`${t}:${p}`)) missing = true;
        else addTo(next, t, p);
      }
    for (const [t, ps] of next)
      for (const p of ps) assert.ok(!held.has(`${t}:${p}`), `${t}-${p} has an owner`);
    const state: MemberState = missing ? 'unreleased' : 'stable';
    if (
      m.memberEpoch !== group.assignmentEpoch ||
      state !== m.state ||
      assignmentKey(next) !== assignmentKey(m.assigned)
    ) {
      if (m.memberEpoch !== group.assignmentEpoch) {
        m.previousMemberEpoch = m.memberEpoch;
        m.memberEpoch = group.assignmentEpoch;
      }
      m.assigned = next;
      m.state = state;
      this.#dirty.add(group);
    }
  }

  /** Partitions that members other than `m` own or are still revoking, as `topicId:partition`. */
  #heldByOthers(group: Group, m: Member): Set<string> {
    const held = new Set<string>();
    for (const o of group.members.values()) {
      if (o === m) continue;
      for (const a of [o.assigned, o.revoking])
        for (const [t, ps] of a) for (const p of ps) held.add(`${t}:${p}`);
    }
    return held;
  }

  #leave(group: Group | undefined, req: ConsumerHeartbeat, now: number): ConsumerHeartbeatResult {
    const m = group?.members.get(req.memberId);
    if (!group || !m)
      throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${req.groupId} has no member ${req.memberId}`);
    if (req.memberEpoch === STATIC_LEAVE_EPOCH) {
      // The static member keeps its assignment for its session timeout, for its next incarnation.
      if (m.memberEpoch !== STATIC_LEAVE_EPOCH) m.previousMemberEpoch = m.memberEpoch;
      m.memberEpoch = STATIC_LEAVE_EPOCH;
      m.sessionExpiresAtMs = now + this.config.sessionTimeoutMs;
      this.#dirty.add(group);
    } else {
      this.#remove(group, m);
    }
    this.#flush();
    return {
      memberId: req.memberId,
      memberEpoch: req.memberEpoch,
      heartbeatIntervalMs: 0,
      assignment: null,
    };
  }

  /** Removes (or fences) a member; its partitions are free at once and the group epoch rises. */
  #remove(group: Group, m: Member): void {
    group.members.delete(m.memberId);
    group.target.delete(m.memberId);
    group.groupEpoch++;
    this.#dirty.add(group);
  }

  // ---------------------------------------------------------------- time

  /** Fences members whose session lapsed or who did not revoke within their rebalance timeout. */
  tick(now: number): void {
    for (const group of this.#groups.values()) {
      for (const m of [...group.members.values()]) {
        const lapsed = m.sessionExpiresAtMs <= now;
        const slow =
          m.state === 'unrevoked' && m.rebalanceDeadlineMs !== null && m.rebalanceDeadlineMs <= now;
        if (lapsed || slow) this.#remove(group, m);
      }
    }
    this.#flush();
  }

  nextDeadline(): number | null {
    let next: number | null = null;
    for (const group of this.#groups.values())
      for (const m of group.members.values()) {
        for (const t of [m.sessionExpiresAtMs, m.state === 'unrevoked' ? m.rebalanceDeadlineMs : null])
          if (t !== null && (next === null || t < next)) next = t;
      }
    return next;
  }

  // ---------------------------------------------------------------- offsets

  /**
   * Checks that a member may commit (OffsetCommit v9+ carries the member epoch): UNKNOWN_MEMBER_ID
   * for a member not in the group, STALE_MEMBER_EPOCH for an epoch other than the member's. A commit
   * without a member (an admin client: epoch -1, no member id) is allowed only while the group is
   * empty, as Kafka's ConsumerGroup.validateOffsetCommit decides.
   */
  validateCommit(groupId: string, memberId: string, memberEpoch: number): void {
    const group = this.#groups.get(groupId);
    if (!group) throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
    if (memberEpoch < 0 && memberId === '') {
      if (group.members.size > 0)
        throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has members; commit as one of them`);
      return;
    }
    const m = group.members.get(memberId);
    if (!m) throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has no member ${memberId}`);
    if (memberEpoch !== m.memberEpoch)
      throw new BrokerError(
        'STALE_MEMBER_EPOCH',
        `member epoch ${memberEpoch} is not member ${memberId}'s current ${m.memberEpoch}`,
      );
  }

  /**
   * Checks an OffsetFetch v9+ that names a member (Kafka's ConsumerGroup.validateOffsetFetch): a fetch
   * without one (null member id, epoch -1: an admin client) is allowed; otherwise UNKNOWN_MEMBER_ID or
   * STALE_MEMBER_EPOCH as for commits.
   */
  validateFetch(groupId: string, memberId: string | null, memberEpoch: number): void {
    if (memberId === null && memberEpoch < 0) return;
    const m = this.#groups.get(groupId)?.members.get(memberId ?? '');
    if (!m) throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has no member ${memberId}`);
    if (memberEpoch !== m.memberEpoch)
      throw new BrokerError(
        'STALE_MEMBER_EPOCH',
        `member epoch ${memberEpoch} is not member ${m.memberId}'s current ${m.memberEpoch}`,
      );
  }

  /** Whether a member subscribes to the topic (OffsetDelete keeps such offsets). */
  subscribesTo(groupId: string, topic: string): boolean {
    const group = this.#groups.get(groupId);
    for (const m of group?.members.values() ?? [])
      if (m.subscribedTopicNames.includes(topic) || (m.regex && fullMatch(m.regex, topic))) return true;
    return false;
  }

  // ---------------------------------------------------------------- inspection, restore, delete

  snapshot(groupId: string): ConsumerGroupSnapshot | null {
    const g = this.#groups.get(groupId);
    if (!g) return null;
    return {
      groupId: g.id,
      state: groupState(g),
      groupEpoch: g.groupEpoch,
      assignmentEpoch: g.assignmentEpoch,
      assignor: g.assignor,
      metadataSignature: g.metadataSignature,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        rackId: m.rackId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        subscribedTopicNames: m.subscribedTopicNames,
        subscribedTopicRegex: m.subscribedTopicRegex,
        serverAssignor: m.serverAssignor,
        memberEpoch: m.memberEpoch,
        previousMemberEpoch: m.previousMemberEpoch,
        state: m.state,
        assigned: toList(m.assigned),
        revoking: toList(m.revoking),
        target: toList(g.target.get(m.memberId) ?? new Map()),
      })),
    };
  }

  /**
   * Restores a persisted group, each member's session restarted from `now`, as coordinator.ts does:
   * members that are alive heartbeat on with their epochs; the others lapse and are removed.
   */
  restore(s: ConsumerGroupSnapshot, now: number): void {
    const g = new Group(s.groupId, isServerAssignor(s.assignor) ? s.assignor : this.config.defaultAssignor);
    g.groupEpoch = s.groupEpoch;
    g.assignmentEpoch = s.assignmentEpoch;
    g.metadataSignature = s.metadataSignature;
    for (const m of s.members) {
      g.members.set(m.memberId, {
        memberId: m.memberId,
        instanceId: m.instanceId,
        rackId: m.rackId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        subscribedTopicNames: m.subscribedTopicNames,
        subscribedTopicRegex: m.subscribedTopicRegex,
        regex: restoredRegex(m.subscribedTopicRegex),
        serverAssignor:
          m.serverAssignor !== null && isServerAssignor(m.serverAssignor) ? m.serverAssignor : null,
        memberEpoch: m.memberEpoch,
        previousMemberEpoch: m.previousMemberEpoch,
        state: m.state,
        assigned: fromList(m.assigned),
        revoking: fromList(m.revoking),
        sessionExpiresAtMs: now + this.config.sessionTimeoutMs,
        rebalanceDeadlineMs: m.state === 'unrevoked' ? now + Math.max(0, m.rebalanceTimeoutMs) : null,
        lastSent: null,
      });
      g.target.set(m.memberId, fromList(m.target));
    }
    this.#groups.set(g.id, g);
  }

  /** Deletes an empty group (DeleteGroups): NON_EMPTY_GROUP while it has members. */
  deleteGroup(groupId: string): void {
    const g = this.#groups.get(groupId);
    if (!g) throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
    if (g.members.size > 0)
      throw new BrokerError('NON_EMPTY_GROUP', `group ${groupId} has ${g.members.size} members`);
    this.#groups.delete(groupId);
    this.#dirty.delete(g);
    this.#deps.onGroupChange?.(groupId, null);
  }

  /** Forgets a group without persisting anything (its coordinator moved to another node). */
  unload(groupId: string): void {
    const g = this.#groups.get(groupId);
    if (g) this.#dirty.delete(g);
    this.#groups.delete(groupId);
  }

  #flush(): void {
    for (const g of this.#dirty) {
      const s = this.snapshot(g.id);
      if (s) this.#deps.onGroupChange?.(g.id, s);
    }
    this.#dirty.clear();
  }
}

/**
 * The group's record holds every member's ids, client id and host and subscription: together they stay
 * within half of groupStateBytesMax, so that the record fits offsetsRecordBytesMax with the
 * assignments. Checked before a heartbeat that joins or changes any of them changes anything;
 * MESSAGE_TOO_LARGE past it, as a classic join past groupStateBytesMax is answered.
 */
function checkMemberBytes(group: Group | undefined, req: ConsumerHeartbeat): void {
  const m = group?.members.get(req.memberId);
  const changes =
    !m ||
    req.subscribedTopicNames !== null ||
    req.subscribedTopicRegex !== null ||
    req.clientId !== m.clientId ||
    req.clientHost !== m.clientHost ||
    (req.instanceId !== null && req.instanceId !== m.instanceId) ||
    (req.rackId !== null && req.rackId !== m.rackId);
  if (!changes) return;
  let total = memberBytes({
    memberId: req.memberId,
    instanceId: req.instanceId ?? m?.instanceId ?? null,
    rackId: req.rackId ?? m?.rackId ?? null,
    clientId: req.clientId,
    clientHost: req.clientHost,
    subscribedTopicNames: req.subscribedTopicNames ?? m?.subscribedTopicNames ?? [],
    subscribedTopicRegex: req.subscribedTopicRegex ?? m?.subscribedTopicRegex ?? null,
  });
  for (const o of group?.members.values() ?? []) if (o !== m) total += memberBytes(o);
  if (total > groupStateBytesMax / 2)
    throw new BrokerError(
      'MESSAGE_TOO_LARGE',
      `the members of group ${req.groupId} would take ${total} bytes of ids and subscriptions, more than ${groupStateBytesMax / 2}`,
    );
}

/** Bytes a member's strings take in the group's record, as JSON strings. */
function memberBytes(m: {
  memberId: string;
  instanceId: string | null;
  rackId: string | null;
  clientId: string;
  clientHost: string;
  subscribedTopicNames: readonly string[];
  subscribedTopicRegex: string | null;
}): number {
  let n = 0;
  for (const x of [m.memberId, m.instanceId, m.rackId, m.clientId, m.clientHost, m.subscribedTopicRegex])
    if (x !== null) n += Buffer.byteLength(x) + 3;
  for (const name of m.subscribedTopicNames) n += Buffer.byteLength(name) + 3;
  return n;
}

function groupState(g: Group): ConsumerGroupState {
  if (g.members.size === 0) return 'Empty';
  if (g.groupEpoch > g.assignmentEpoch) return 'Assigning';
  for (const m of g.members.values())
    if (m.memberEpoch !== g.assignmentEpoch || m.state !== 'stable') return 'Reconciling';
  return 'Stable';
}

/** INVALID_REQUEST (and the other request-shape errors) as Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid. */
function validate(req: ConsumerHeartbeat, clientMakesMemberId: boolean): void {
  const invalid = (why: string) => new BrokerError('INVALID_REQUEST', why);
  if (req.groupId === '') throw invalid('GroupId can not be empty.');
  if (req.instanceId === '') throw invalid('InstanceId can not be empty.');
  if (req.rackId === '') throw invalid('RackId can not be empty.');
  if (req.memberEpoch < STATIC_LEAVE_EPOCH) throw invalid(`MemberEpoch ${req.memberEpoch} is invalid.`);
  if (req.memberId === '' && (clientMakesMemberId || req.memberEpoch !== JOIN_EPOCH))
    throw invalid('MemberId can not be empty.');
  if (req.memberEpoch === STATIC_LEAVE_EPOCH && req.instanceId === null)
    throw invalid('InstanceId can not be null for a static member that leaves with MemberEpoch -2.');
  if (req.memberEpoch === JOIN_EPOCH) {
    if (req.rebalanceTimeoutMs < 0) throw invalid('RebalanceTimeoutMs must be provided in first request.');
    if (req.ownedPartitions === null || req.ownedPartitions.length > 0)
      throw invalid('TopicPartitions must be empty when (re-)joining.');
    const names = req.subscribedTopicNames ?? [];
    const regex = req.subscribedTopicRegex ?? '';
    if (names.length === 0 && regex === '')
      throw invalid('SubscribedTopicNames or SubscribedTopicRegex must be set in first request.');
  }
  if (req.subscribedTopicNames !== null && req.subscribedTopicNames.length > consumerSubscribedTopicsMax)
    throw invalid(`SubscribedTopicNames has more than ${consumerSubscribedTopicsMax} topics.`);
  if (req.subscribedTopicRegex !== null) {
    if (Buffer.byteLength(req.subscribedTopicRegex) > consumerRegexBytesMax)
      throw invalid(`SubscribedTopicRegex is longer than ${consumerRegexBytesMax} bytes.`);
    if (req.subscribedTopicRegex !== '') compileRegex(req.subscribedTopicRegex);
  }
  if (req.serverAssignor !== null && !isServerAssignor(req.serverAssignor))
    throw new BrokerError(
      'UNSUPPORTED_ASSIGNOR',
      `ServerAssignor ${req.serverAssignor} is not supported; supported assignors: ${SERVER_ASSIGNOR_NAMES.join(', ')}.`,
    );
  if (req.ownedPartitions !== null) {
    let n = 0;
    for (const t of req.ownedPartitions) n += t.partitions.length;
    // More partitions than a group may hold cannot be owned; the bound keeps the sets built from them small.
    if (n > groupStateBytesMax / 4)
      throw invalid('TopicPartitions lists more partitions than a group may hold.');
  }
}

/**
 * Kafka's throwIfMemberEpochIsInvalid: an epoch ahead of the member's is fenced; one behind it is
 * accepted only when it is the previous epoch and the member owns no more than it is assigned (the
 * answer that moved it on was lost), otherwise fenced.
 */
function checkEpoch(m: Member, epoch: number, owned: TopicPartitions[] | null): void {
  const fenced = () =>
    new BrokerError(
      'FENCED_MEMBER_EPOCH',
      `member ${m.memberId} sent epoch ${epoch}; its epoch is ${m.memberEpoch}; join again with epoch 0`,
    );
  if (m.memberEpoch === STATIC_LEAVE_EPOCH) throw fenced();
  if (epoch > m.memberEpoch) throw fenced();
  if (epoch < m.memberEpoch) {
    if (epoch !== m.previousMemberEpoch || owned === null) throw fenced();
    for (const t of owned)
      for (const p of t.partitions) if (!m.assigned.get(t.topicId)?.has(p)) throw fenced();
  }
}

/**
 * The subscription regex, compiled as Kafka's RE2/J would run it: in linear time, with no
 * backreferences or lookaround, and matching a whole topic name. V8's linear-time engine (the `l`
 * flag, enabled on first use: it adds that flag and changes no other regex) refuses what it cannot run
 * without backtracking, so a regex such as `(a+)+$` against a long name cannot stall the broker's
 * event loop. The source is checked alone before it is anchored, so that it cannot close the group
 * it is wrapped in. Without the `u` flag, which the linear engine does not take: topic names are ASCII.
 */
function compileRegex(source: string): RegExp {
  enableLinearRegex();
  try {
    new RegExp(source, 'l');
    return new RegExp(`^(?:${source})$`, 'l');
  } catch (err) {
    throw new BrokerError(
      'INVALID_REGULAR_EXPRESSION',
      `SubscribedTopicRegex ${source} is invalid or cannot run in linear time (no backreferences or lookaround): ${String(err)}`,
    );
  }
}

let linearRegex = false;

function enableLinearRegex(): void {
  if (linearRegex) return;
  v8.setFlagsFromString('--enable-experimental-regexp-engine');
  linearRegex = true;
}

/** A stored member's regex: one this version refuses matches nothing rather than stopping the load. */
function restoredRegex(source: string | null): RegExp | null {
  if (source === null) return null;
  try {
    return compileRegex(source);
  } catch {
    return /(?!)/;
  }
}

/** RE2/J's `matches()`: the whole name must match (the compiled regex is anchored). */
function fullMatch(re: RegExp, name: string): boolean {
  return re.test(name);
}

function fromList(list: readonly TopicPartitions[]): TopicPartitionsById {
  const out: TopicPartitionsById = new Map();
  for (const t of list) for (const p of t.partitions) addTo(out, t.topicId, p);
  return out;
}

function toList(a: TopicPartitionsById): TopicPartitions[] {
  return [...a.entries()]
    .filter(([, ps]) => ps.size > 0)
    .sort(([x], [y]) => (x < y ? -1 : 1))
    .map(([topicId, ps]) => ({ topicId, partitions: [...ps].sort((x, y) => x - y) }));
}

function assignmentKey(a: TopicPartitionsById): string {
  return toList(a)
    .map((t) => `${t.topicId}:${t.partitions.join(',')}`)
    .join(';');
}

function addTo(a: TopicPartitionsById, t: string, p: number): void {
  let s = a.get(t);
  if (!s) a.set(t, (s = new Set()));
  s.add(p);
}

function copy(a: TopicPartitionsById): TopicPartitionsById {
  return new Map([...a].map(([t, ps]) => [t, new Set(ps)]));
}

function intersection(a: TopicPartitionsById, b: TopicPartitionsById): TopicPartitionsById {
  const out: TopicPartitionsById = new Map();
  for (const [t, ps] of a) for (const p of ps) if (b.get(t)?.has(p)) addTo(out, t, p);
  return out;
}

function difference(a: TopicPartitionsById, b: TopicPartitionsById): TopicPartitionsById {
  const out: TopicPartitionsById = new Map();
  for (const [t, ps] of a) for (const p of ps) if (!b.get(t)?.has(p)) addTo(out, t, p);
  return out;
}

function intersects(a: TopicPartitionsById, b: TopicPartitionsById): boolean {
  for (const [t, ps] of a) for (const p of ps) if (b.get(t)?.has(p)) return true;
  return false;
}
