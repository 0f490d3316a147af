/**
 * The group coordinator's state machine (Kafka's classic group protocol), pure: no sockets, no timers,
 * no clock. Callers pass `now` into every call and call `tick(now)` at `nextDeadline()`; responses to
 * joins and syncs, which wait for the rest of the group, are delivered through the callbacks given,
 * synchronously, from whichever call completes the phase. Testable by stepping it.
 *
 * States (as Kafka's GroupState): Empty -> PreparingRebalance (members join) -> CompletingRebalance
 * (the leader assigns, members sync) -> Stable; any join, leave or expired session of a member sends
 * the group back to PreparingRebalance. Groups whose protocol type is `tsbroker` are assigned by the
 * broker itself (range or round-robin) at the end of the join phase and go straight to Stable.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../../errors.ts';
import { groupMemberMetadataBytesMax, groupMembersMax, groupStateBytesMax } from '../../limits.ts';
import { ASSIGNORS, type AssignorName } from './assignors.ts';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

/** The protocol type of groups that the broker assigns (the gRPC consumer). */
export const SERVER_ASSIGNED = 'tsbroker';

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export interface JoinRequest {
  groupId: string;
  /** Empty for a member joining the first time. */
  memberId: string;
  groupInstanceId?: string | null;
  clientId: string;
  clientHost: string;
  protocolType: string;
  protocols: Protocol[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id, then joins with it. */
  requireKnownMemberId: boolean;
  /**
   * JoinGroup v9+ (KIP-814): a static leader that rejoins a stable group may be told to skip the
   * assignment; older versions are told another member leads instead. @default false
   */
  supportsSkipAssignment?: boolean;
}

export interface JoinResponse {
  generationId: number;
  protocolType: string;
  protocolName: string;
  leaderId: string;
  memberId: string;
  /** Filled for the leader only: every member with its metadata for the chosen protocol. */
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
  /** For server-assigned groups: this member's assignment. */
  assignment?: Buffer;
  /** The leader must not assign: the group keeps its assignment (KIP-814, JoinGroup v9+). */
  skipAssignment?: boolean;
}

export interface SyncRequest {
  groupId: string;
  memberId: string;
  generationId: number;
  groupInstanceId?: string | null;
  /** From the leader: each member's assignment. Others send none. */
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface CommittedOffset {
  offset: number;
  metadata: string;
  commitTimestampMs: number;
  leaderEpoch: number;
}

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  protocols: Protocol[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** When the session expires unless a heartbeat (or join, or sync) comes first. */
  expiresAtMs: number;
  assignment: Buffer;
  awaitingJoin: ((r: JoinResponse | BrokerError) => void) | null;
  awaitingSync:
    | ((r: { assignment: Buffer; protocolType: string; protocolName: string } | BrokerError) => void)
    | null;
}

export interface GroupSnapshot {
  groupId: string;
  state: GroupState;
  protocolType: string | null;
  protocolName: string | null;
  generationId: number;
  leaderId: string | null;
  members: {
    memberId: string;
    groupInstanceId: string | null;
    clientId: string;
    clientHost: string;
    sessionTimeoutMs: number;
    rebalanceTimeoutMs: number;
    protocolName: string | null;
    metadata: Buffer;
    assignment: Buffer;
  }[];
}

class Group {
  readonly id: string;
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  members = new Map<string, Member>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, and when they lapse if not used. */
  pending = new Map<string, number>();
  /** When the join phase ends even if some members have not rejoined. */
  joinDeadlineMs: number | null = null;
  offsets = new Map<string, CommittedOffset>();

  constructor(id: string) {
    this.id = id;
  }
}

export interface CoordinatorConfig {
  /** @default 1000 (Kafka: group.min.session.timeout.ms, 6000) */
  minSessionTimeoutMs: number;
  /** @default 1800000 (Kafka: group.max.session.timeout.ms) */
  maxSessionTimeoutMs: number;
  /** Kafka's group.max.size. @default groupMembersMax (src/limits.ts) */
  maxGroupSize: number;
  /** @default groupMemberMetadataBytesMax (src/limits.ts) */
  memberMetadataBytesMax: number;
  /** @default groupStateBytesMax (src/limits.ts) */
  groupStateBytesMax: number;
}

export const defaultCoordinatorConfig: CoordinatorConfig = {
  minSessionTimeoutMs: 1000,
  maxSessionTimeoutMs: 1_800_000,
  maxGroupSize: groupMembersMax,
  memberMetadataBytesMax: groupMemberMetadataBytesMax,
  groupStateBytesMax,
};

/** Bytes of the assignment strategies a member offers: names and metadata. */
function protocolsBytes(protocols: Protocol[]): number {
  let n = 0;
  for (const p of protocols) n += Buffer.byteLength(p.name) + p.metadata.length;
  return n;
}

/**
 * What one member adds to its group's state (src/limits.ts `groupStateBytesMax`): its ids, client id
 * and host as JSON stores them, the strategies it offers, and its assignment.
 */
export function memberStateBytes(m: {
  memberId: string;
  groupInstanceId?: string | null;
  clientId: string;
  clientHost: string;
  protocols: Protocol[];
  assignment?: Buffer;
}): number {
  const strings = JSON.stringify([m.memberId, m.groupInstanceId ?? null, m.clientId, m.clientHost]);
  return Buffer.byteLength(strings) + protocolsBytes(m.protocols) + (m.assignment?.length ?? 0);
}

export interface CoordinatorDeps {
  /** Partition count of a topic, or 0 when it does not exist (for server-side assignment). */
  partitionsOf(topic: string): number;
  /** A new, unique member id. */
  newMemberId(clientId: string): string;
  /** Called whenever a group's membership or generation settles or it empties, to persist it. */
  onGroupChange?(snapshot: GroupSnapshot): void;
}

/** Stands for the random part of a member id not yet made (a UUID's length) when sizing a join. */
const NEW_ID_PAD = '0'.repeat(36);

export const offsetKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class GroupCoordinator {
  readonly config: CoordinatorConfig;
  readonly #deps: CoordinatorDeps;
  #groups = new Map<string, Group>();
  #sizes = new WeakMap<Member, { protocols: Protocol[]; assignment: Buffer; bytes: number }>();

  constructor(deps: CoordinatorDeps, config: Partial<CoordinatorConfig> = {}) {
    this.#deps = deps;
    this.config = { ...defaultCoordinatorConfig, ...config };
  }

  #group(groupId: string, create: boolean): Group | undefined {
    if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) {
      throw new BrokerError('INVALID_GROUP_ID', 'group id must be 1 to 255 characters');
    }
    let g = this.#groups.get(groupId);
    if (!g && create) {
      g = new Group(groupId);
      this.#groups.set(groupId, g);
    }
    return g;
  }

  // ---------------------------------------------------------------- join

  join(req: JoinRequest, now: number, respond: (r: JoinResponse | BrokerError) => void): void {
    let group: Group;
    try {
      group = this.#group(req.groupId, true)!;
      if (
        req.sessionTimeoutMs < this.config.minSessionTimeoutMs ||
        req.sessionTimeoutMs > this.config.maxSessionTimeoutMs
      ) {
        throw new BrokerError(
          'INVALID_SESSION_TIMEOUT',
          `session timeout ${req.sessionTimeoutMs} ms is outside [${this.config.minSessionTimeoutMs}, ${this.config.maxSessionTimeoutMs}]`,
        );
      }
      if (req.protocols.length === 0 || !req.protocolType) {
        throw new BrokerError(
          'INCONSISTENT_GROUP_PROTOCOL',
          'a member must name a protocol type and at least one protocol',
        );
      }
      if (group.members.size > 0 || group.protocolType !== null) {
        if (group.members.size > 0 && group.protocolType !== req.protocolType) {
          throw new BrokerError(
            'INCONSISTENT_GROUP_PROTOCOL',
            `group ${group.id} uses protocol type ${group.protocolType}, not ${req.protocolType}`,
          );
        }
        const others = [...group.members.values()].filter((m) => m.memberId !== req.memberId);
        if (
          others.length > 0 &&
          !req.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)))
        ) {
          throw new BrokerError(
            'INCONSISTENT_GROUP_PROTOCOL',
            `no assignment strategy of this member is supported by every member of ${group.id}`,
          );
        }
      }
      if (
        group.protocolType === SERVER_ASSIGNED ||
        (group.members.size === 0 && req.protocolType === SERVER_ASSIGNED)
      ) {
        if (!req.protocols.some((p) => p.name in ASSIGNORS)) {
          throw new BrokerError(
            'INCONSISTENT_GROUP_PROTOCOL',
            `the broker assigns with ${Object.keys(ASSIGNORS).join(' or ')}`,
          );
        }
      }
      this.#checkJoinSize(group, req);
    } catch (err) {
      // A refused join leaves no group it made: a client naming many groups would otherwise grow it.
      const made = this.#groups.get(req.groupId);
      const unused = made && made.generationId === 0 && made.members.size + made.pending.size === 0;
      if (unused && made.offsets.size === 0) this.#groups.delete(req.groupId);
      respond(err as BrokerError);
      return;
    }

    // Static members (KIP-345): the instance id, not the member id, is the member's identity.
    if (req.groupInstanceId) {
      const known = [...group.members.values()].find((m) => m.groupInstanceId === req.groupInstanceId);
      if (known && req.memberId === '') {
        // A restarted static member takes over its earlier incarnation's place and assignment.
        this.#replaceStaticMember(group, known, req, now, respond);
        return;
      }
      if (known && known.memberId !== req.memberId) {
        respond(
          new BrokerError(
            'FENCED_INSTANCE_ID',
            `instance ${req.groupInstanceId} of group ${group.id} is now member ${known.memberId}`,
          ),
        );
        return;
      }
    }

    if (req.memberId === '') {
      if (group.members.size + group.pending.size >= this.config.maxGroupSize) {
        respond(
          new BrokerError(
            'GROUP_MAX_SIZE_REACHED',
            `group ${group.id} has ${this.config.maxGroupSize} members already`,
          ),
        );
        return;
      }
      const memberId = this.#deps.newMemberId(req.clientId);
      // A new static member joins at once: its instance id already names it (Kafka skips
      // MEMBER_ID_REQUIRED for static members).
      if (req.requireKnownMemberId && !req.groupInstanceId) {
        group.pending.set(memberId, now + req.sessionTimeoutMs);
        const err = new BrokerError('MEMBER_ID_REQUIRED', 'join again with the member id given');
        respond(Object.assign(err, { memberId }));
        return;
      }
      this.#addMember(group, { ...req, memberId }, now, respond);
      return;
    }

    const member = group.members.get(req.memberId);
    if (!member) {
      if (group.pending.has(req.memberId)) {
        group.pending.delete(req.memberId);
        this.#addMember(group, req, now, respond);
        return;
      }
      respond(new BrokerError('UNKNOWN_MEMBER_ID', `group ${group.id} has no member ${req.memberId}`));
      return;
    }
    this.#rejoin(group, member, req, now, respond);
  }

  /**
   * Refuses a join whose metadata would pass the per-member or the per-group bound (issue 10), before
   * anything changes. A new member is counted with an id as long as `newMemberId` makes them.
   */
  #checkJoinSize(group: Group, req: JoinRequest): void {
    const offered = protocolsBytes(req.protocols);
    if (offered > this.config.memberMetadataBytesMax) {
      throw new BrokerError(
        'MESSAGE_TOO_LARGE',
        `member metadata of ${offered} bytes is larger than the ${this.config.memberMetadataBytesMax} a member may bring to group ${group.id}`,
      );
    }
    const existing = group.members.get(req.memberId);
    const memberId = existing ? req.memberId : req.memberId || `${req.clientId || 'member'}-${NEW_ID_PAD}`;
    let bytes = memberStateBytes({ ...req, memberId, assignment: existing?.assignment });
    for (const m of group.members.values()) if (m !== existing) bytes += this.#stateBytesOf(m);
    if (bytes > this.config.groupStateBytesMax) {
      throw new BrokerError(
        'MESSAGE_TOO_LARGE',
        `group ${group.id} would hold ${bytes} bytes of member state with this join; the most is ${this.config.groupStateBytesMax}`,
      );
    }
  }

  /** `memberStateBytes` of a member, remembered until its protocols or assignment change. */
  #stateBytesOf(m: Member): number {
    const c = this.#sizes.get(m);
    if (c && c.protocols === m.protocols && c.assignment === m.assignment) return c.bytes;
    const bytes = memberStateBytes(m);
    this.#sizes.set(m, { protocols: m.protocols, assignment: m.assignment, bytes });
    return bytes;
  }

  #addMember(
    group: Group,
    req: JoinRequest,
    now: number,
    respond: (r: JoinResponse | BrokerError) => void,
  ): void {
    const member: Member = {
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId ?? null,
      clientId: req.clientId,
      clientHost: req.clientHost,
      protocols: req.protocols,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      expiresAtMs: now + req.sessionTimeoutMs,
      assignment: Buffer.alloc(0),
      awaitingJoin: respond,
      awaitingSync: null,
    };
    group.members.set(member.memberId, member);
    if (group.members.size === 1) group.protocolType = req.protocolType;
    this.#prepareRebalance(group, now);
    this.#maybeCompleteJoin(group, now);
  }

  #rejoin(
    group: Group,
    member: Member,
    req: JoinRequest,
    now: number,
    respond: (r: JoinResponse | BrokerError) => void,
  ): void {
    const sameMetadata =
      member.protocols.length === req.protocols.length &&
      member.protocols.every(
        (p, i) => p.name === req.protocols[i].name && p.metadata.equals(req.protocols[i].metadata),
      );
    // A join that replaces one still waiting answers the old one first, as Kafka does.
    member.awaitingJoin?.(
      new BrokerError('REBALANCE_IN_PROGRESS', 'superseded by a newer join of the same member'),
    );
    member.protocols = req.protocols;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.expiresAtMs = now + req.sessionTimeoutMs;
    member.awaitingJoin = respond;
    if (group.state === 'Stable' && sameMetadata && member.memberId !== group.leaderId) {
      // Nothing changed: answer with the current generation without a rebalance.
      member.awaitingJoin = null;
      respond(this.#joinResponse(group, member));
      return;
    }
    if (group.state === 'CompletingRebalance' && sameMetadata) {
      member.awaitingJoin = null;
      respond(this.#joinResponse(group, member));
      return;
    }
    this.#prepareRebalance(group, now);
    this.#maybeCompleteJoin(group, now);
  }

  /**
   * A static member rejoining with an empty member id (a restart): it gets a new member id in place of
   * the old one, keeps its assignment, and the group does not rebalance unless the group is mid-way
   * through assigning, or the member's protocols changed what the group would choose or what the
   * member subscribes to (Kafka's updateStaticMemberThenRebalanceOrCompleteJoin, with the brief's rule
   * that a changed subscription also rebalances). The old incarnation's waiting calls are fenced.
   */
  #replaceStaticMember(
    group: Group,
    old: Member,
    req: JoinRequest,
    now: number,
    respond: (r: JoinResponse | BrokerError) => void,
  ): void {
    const oldId = old.memberId;
    const newId = this.#deps.newMemberId(req.clientId);
    const fenced = new BrokerError(
      'FENCED_INSTANCE_ID',
      `instance ${req.groupInstanceId} rejoined as ${newId}`,
    );
    const [waitingJoin, waitingSync] = [old.awaitingJoin, old.awaitingSync];
    old.awaitingJoin = null;
    old.awaitingSync = null;
    waitingJoin?.(fenced);
    waitingSync?.(fenced);
    // Same place in the member order (the leader choice and assignors see the same order).
    group.members = new Map([...group.members].map(([id, m]) => (id === oldId ? [newId, m] : [id, m])));
    const oldProtocols = old.protocols;
    old.memberId = newId;
    old.clientId = req.clientId;
    old.clientHost = req.clientHost;
    old.protocols = req.protocols;
    old.sessionTimeoutMs = req.sessionTimeoutMs;
    old.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    old.expiresAtMs = now + req.sessionTimeoutMs;
    old.awaitingJoin = respond;
    if (group.leaderId === oldId) group.leaderId = newId;
    if (group.state === 'Stable') {
      const chosen = this.#chooseProtocol([...group.members.values()]);
      const unchanged =
        chosen === group.protocolName &&
        sameSubscription(
          group.protocolType,
          protocolMetadata(oldProtocols, chosen),
          protocolMetadata(req.protocols, chosen),
        );
      if (unchanged) {
        old.awaitingJoin = null;
        const isLeader = group.leaderId === newId;
        const r = this.#joinResponse(group, old);
        if (!isLeader) respond(r);
        else if (req.supportsSkipAssignment) respond({ ...r, skipAssignment: true });
        // Before JoinGroup v9 the returning leader is named by its old id, so that it does not assign.
        else respond({ ...r, leaderId: oldId, members: [] });
        this.#changed(group);
        return;
      }
      this.#prepareRebalance(group, now);
    } else if (group.state === 'CompletingRebalance') {
      // The leader may be assigning to the old member id: a new round lets it see the new one.
      this.#prepareRebalance(group, now);
    }
    this.#maybeCompleteJoin(group, now);
  }

  #prepareRebalance(group: Group, now: number): void {
    if (group.state === 'PreparingRebalance') return;
    // Syncs waiting on the old generation learn that it is over.
    for (const m of group.members.values()) {
      if (m.awaitingSync) {
        const cb = m.awaitingSync;
        m.awaitingSync = null;
        cb(new BrokerError('REBALANCE_IN_PROGRESS', `group ${group.id} is rebalancing`));
      }
    }
    group.state = 'PreparingRebalance';
    let timeout = 0;
    for (const m of group.members.values()) timeout = Math.max(timeout, m.rebalanceTimeoutMs);
    group.joinDeadlineMs = now + timeout;
  }

  /** Ends the join phase once every member has rejoined (or at the deadline, without the laggards). */
  #maybeCompleteJoin(group: Group, now: number, deadlinePassed = false): void {
    if (group.state !== 'PreparingRebalance') return;
    const all = [...group.members.values()];
    if (!deadlinePassed && all.some((m) => m.awaitingJoin === null)) return;
    for (const m of all) {
      if (m.awaitingJoin === null) this.#removeMember(group, m, null);
    }
    group.joinDeadlineMs = null;
    group.generationId++;
    if (group.members.size === 0) {
      this.#becomeEmpty(group);
      return;
    }
    const members = [...group.members.values()];
    group.protocolName = this.#chooseProtocol(members);
    if (group.leaderId === null || !group.members.has(group.leaderId)) group.leaderId = members[0].memberId;
    for (const m of members) m.expiresAtMs = now + m.sessionTimeoutMs;
    if (group.protocolType === SERVER_ASSIGNED) {
      const assign = ASSIGNORS[group.protocolName as AssignorName];
      const subs = members.map((m) => ({
        memberId: m.memberId,
        topics: decodeSubscription(this.#metadataFor(m, group.protocolName!)),
      }));
      const result = assign(subs, (t) => this.#deps.partitionsOf(t));
      for (const m of members) m.assignment = Buffer.from(JSON.stringify(result.get(m.memberId) ?? []));
      group.state = 'Stable';
    } else {
      for (const m of members) m.assignment = Buffer.alloc(0);
      group.state = 'CompletingRebalance';
    }
    for (const m of members) {
      const cb = m.awaitingJoin!;
      m.awaitingJoin = null;
      cb(this.#joinResponse(group, m));
    }
    this.#changed(group);
  }

  /** Kafka's vote: each member votes for its most preferred protocol that every member supports. */
  #chooseProtocol(members: Member[]): string {
    const candidates = members[0].protocols
      .map((p) => p.name)
      .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
    assert.ok(candidates.length > 0, 'join validation guarantees a common protocol');
    const votes = new Map<string, number>();
    for (const m of members) {
      const choice = m.protocols.find((p) => candidates.includes(p.name))!.name;
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    return [...votes.entries()].sort(
      (a, b) => b[1] - a[1] || candidates.indexOf(a[0]) - candidates.indexOf(b[0]),
    )[0][0];
  }

  #metadataFor(m: Member, protocolName: string): Buffer {
    return m.protocols.find((p) => p.name === protocolName)?.metadata ?? Buffer.alloc(0);
  }

  #joinResponse(group: Group, m: Member): JoinResponse {
    const isLeader = m.memberId === group.leaderId;
    return {
      generationId: group.generationId,
      protocolType: group.protocolType ?? '',
      protocolName: group.protocolName ?? '',
      leaderId: group.leaderId ?? '',
      memberId: m.memberId,
      members:
        isLeader && group.protocolType !== SERVER_ASSIGNED
          ? [...group.members.values()].map((x) => ({
              memberId: x.memberId,
              groupInstanceId: x.groupInstanceId,
              metadata: this.#metadataFor(x, group.protocolName!),
            }))
          : [],
      assignment: group.protocolType === SERVER_ASSIGNED ? m.assignment : undefined,
    };
  }

  #becomeEmpty(group: Group): void {
    group.state = 'Empty';
    group.leaderId = null;
    group.protocolName = null;
    group.joinDeadlineMs = null;
    this.#changed(group);
  }

  #removeMember(group: Group, m: Member, notify: BrokerError | null): void {
    group.members.delete(m.memberId);
    const err = notify ?? new BrokerError('UNKNOWN_MEMBER_ID', `member ${m.memberId} left group ${group.id}`);
    m.awaitingJoin?.(err);
    m.awaitingSync?.(err);
    m.awaitingJoin = null;
    m.awaitingSync = null;
    if (group.leaderId === m.memberId) group.leaderId = group.members.keys().next().value ?? null;
  }

  // ---------------------------------------------------------------- sync

  sync(
    req: SyncRequest,
    now: number,
    respond: (r: { assignment: Buffer; protocolType: string; protocolName: string } | BrokerError) => void,
  ): void {
    let group: Group | undefined;
    let member: Member;
    try {
      group = this.#group(req.groupId, false);
      this.#checkInstance(group, req.memberId, req.groupInstanceId);
      member = this.#checkMember(group, req.memberId, req.generationId);
    } catch (err) {
      respond(err as BrokerError);
      return;
    }
    const g = group!;
    member.expiresAtMs = now + member.sessionTimeoutMs;
    const answer = () => ({
      assignment: member.assignment,
      protocolType: g.protocolType ?? '',
      protocolName: g.protocolName ?? '',
    });
    switch (g.state) {
      case 'PreparingRebalance':
        respond(new BrokerError('REBALANCE_IN_PROGRESS', `group ${g.id} is rebalancing`));
        return;
      case 'Stable':
        respond(answer());
        return;
      case 'CompletingRebalance': {
        member.awaitingSync?.(new BrokerError('REBALANCE_IN_PROGRESS', 'superseded by a newer sync'));
        member.awaitingSync = respond;
        if (req.memberId !== g.leaderId) return;
        const given = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
        if (this.#assignmentTooLarge(g, given, now)) return;
        for (const m of g.members.values()) m.assignment = given.get(m.memberId) ?? Buffer.alloc(0);
        g.state = 'Stable';
        for (const m of g.members.values()) {
          const cb = m.awaitingSync;
          m.awaitingSync = null;
          cb?.({
            assignment: m.assignment,
            protocolType: g.protocolType ?? '',
            protocolName: g.protocolName ?? '',
          });
        }
        this.#changed(g);
        return;
      }
      default:
        respond(new BrokerError('UNKNOWN_MEMBER_ID', `group ${g.id} is ${g.state}`));
    }
  }

  /**
   * A leader's assignments that would take the group past `groupStateBytesMax` cannot be stored: every
   * member waiting for its assignment is told MESSAGE_TOO_LARGE and the group rebalances, as Kafka's
   * coordinator does when it fails to store an assignment.
   */
  #assignmentTooLarge(g: Group, given: Map<string, Buffer>, now: number): boolean {
    let bytes = 0;
    for (const m of g.members.values())
      bytes += memberStateBytes({ ...m, assignment: given.get(m.memberId) ?? Buffer.alloc(0) });
    if (bytes <= this.config.groupStateBytesMax) return false;
    const err = new BrokerError(
      'MESSAGE_TOO_LARGE',
      `the assignments would make group ${g.id} hold ${bytes} bytes of member state; the most is ${this.config.groupStateBytesMax}`,
    );
    for (const m of g.members.values()) {
      const cb = m.awaitingSync;
      m.awaitingSync = null;
      cb?.(err);
    }
    this.#prepareRebalance(g, now);
    return true;
  }

  /** A static member's old incarnation, replaced by a restart, is fenced (KIP-345). */
  #checkInstance(group: Group | undefined, memberId: string, groupInstanceId?: string | null): void {
    if (!group || !groupInstanceId) return;
    const known = [...group.members.values()].find((m) => m.groupInstanceId === groupInstanceId);
    if (known && known.memberId !== memberId)
      throw new BrokerError(
        'FENCED_INSTANCE_ID',
        `instance ${groupInstanceId} of group ${group.id} is now member ${known.memberId}`,
      );
  }

  #checkMember(group: Group | undefined, memberId: string, generationId: number): Member {
    const member = group?.members.get(memberId);
    if (!group || !member)
      throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${group?.id ?? '?'} has no member ${memberId}`);
    if (generationId !== group.generationId) {
      throw new BrokerError(
        'ILLEGAL_GENERATION',
        `generation ${generationId} is not the current ${group.generationId}`,
      );
    }
    return member;
  }

  // ---------------------------------------------------------------- heartbeat and leave

  /** Keeps a member's session alive; throws REBALANCE_IN_PROGRESS when it must rejoin. */
  heartbeat(
    groupId: string,
    memberId: string,
    generationId: number,
    now: number,
    groupInstanceId?: string | null,
  ): void {
    const group = this.#group(groupId, false);
    this.#checkInstance(group, memberId, groupInstanceId);
    const member = group?.members.get(memberId);
    if (!group || !member)
      throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has no member ${memberId}`);
    member.expiresAtMs = now + member.sessionTimeoutMs;
    if (group.state === 'PreparingRebalance')
      throw new BrokerError('REBALANCE_IN_PROGRESS', `group ${groupId} is rebalancing; join again`);
    if (generationId !== group.generationId) {
      throw new BrokerError(
        'ILLEGAL_GENERATION',
        `generation ${generationId} is not the current ${group.generationId}`,
      );
    }
  }

  /** Removes members (by id, or by static instance id when the id is empty). */
  leave(
    groupId: string,
    members: { memberId: string; groupInstanceId?: string | null }[],
    now: number,
  ): (BrokerError | null)[] {
    const group = this.#group(groupId, false);
    const results = members.map((req) => {
      // A static member leaves by its instance id; a member id given with it must be the current one
      // (an old incarnation is fenced rather than allowed to remove its replacement), as in Kafka.
      const m = req.groupInstanceId
        ? [...(group?.members.values() ?? [])].find((x) => x.groupInstanceId === req.groupInstanceId)
        : group?.members.get(req.memberId);
      if (m && req.groupInstanceId && req.memberId !== '' && m.memberId !== req.memberId)
        return new BrokerError(
          'FENCED_INSTANCE_ID',
          `instance ${req.groupInstanceId} of group ${groupId} is now member ${m.memberId}`,
        );
      if (!group || !m)
        return new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has no member ${req.memberId}`);
      this.#removeMember(group, m, null);
      return null;
    });
    if (group && results.some((r) => r === null)) this.#afterDeparture(group, now);
    return results;
  }

  #afterDeparture(group: Group, now: number): void {
    if (group.members.size === 0) {
      group.generationId++;
      this.#becomeEmpty(group);
      return;
    }
    if (group.state === 'PreparingRebalance') this.#maybeCompleteJoin(group, now);
    else this.#prepareRebalance(group, now);
  }

  // ---------------------------------------------------------------- time

  /** Expires sessions and ends join phases whose deadline passed. */
  tick(now: number): void {
    for (const group of this.#groups.values()) {
      for (const [id, deadline] of group.pending) if (deadline <= now) group.pending.delete(id);
      const expired = [...group.members.values()].filter(
        (m) => m.expiresAtMs <= now && m.awaitingJoin === null,
      );
      for (const m of expired) this.#removeMember(group, m, null);
      if (expired.length > 0) this.#afterDeparture(group, now);
      if (
        group.state === 'PreparingRebalance' &&
        group.joinDeadlineMs !== null &&
        group.joinDeadlineMs <= now
      ) {
        this.#maybeCompleteJoin(group, now, true);
      }
    }
  }

  /** The earliest time at which `tick` has something to do, or null. */
  nextDeadline(): number | null {
    let next: number | null = null;
    const consider = (t: number) => {
      if (next === null || t < next) next = t;
    };
    for (const group of this.#groups.values()) {
      for (const m of group.members.values()) if (m.awaitingJoin === null) consider(m.expiresAtMs);
      for (const d of group.pending.values()) consider(d);
      if (group.joinDeadlineMs !== null) consider(group.joinDeadlineMs);
    }
    return next;
  }

  // ---------------------------------------------------------------- offsets

  /**
   * Checks that a commit may be stored. A member commits with its id and the current generation; a
   * client outside group management (generation -1, no member id) commits only while the group has no
   * members. During CompletingRebalance commits wait for the new assignment (REBALANCE_IN_PROGRESS).
   */
  validateCommit(
    groupId: string,
    memberId: string,
    generationId: number,
    groupInstanceId?: string | null,
  ): void {
    const group = this.#group(groupId, true)!;
    this.#checkInstance(group, memberId, groupInstanceId);
    if (generationId < 0 && memberId === '') {
      if (group.members.size > 0)
        throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has members; commit as one of them`);
      return;
    }
    const member = group.members.get(memberId);
    if (!member) throw new BrokerError('UNKNOWN_MEMBER_ID', `group ${groupId} has no member ${memberId}`);
    if (generationId >= 0 && generationId !== group.generationId) {
      throw new BrokerError(
        'ILLEGAL_GENERATION',
        `generation ${generationId} is not the current ${group.generationId}`,
      );
    }
    if (group.state === 'CompletingRebalance')
      throw new BrokerError('REBALANCE_IN_PROGRESS', `group ${groupId} is completing a rebalance`);
  }

  /** Records a commit once it is stored (or replays one while loading). */
  applyCommit(groupId: string, topic: string, partition: number, value: CommittedOffset | null): void {
    // A tombstone of a group not known (a deleted group's offsets, replayed) must not create it.
    const group = this.#group(groupId, value !== null);
    if (!group) return;
    if (value === null) group.offsets.delete(offsetKey(topic, partition));
    else group.offsets.set(offsetKey(topic, partition), value);
  }

  committed(groupId: string): { topic: string; partition: number; value: CommittedOffset }[] {
    const group = this.#groups.get(groupId);
    if (!group) return [];
    return [...group.offsets.entries()].map(([k, value]) => {
      const at = k.lastIndexOf('\u0000');
      return { topic: k.slice(0, at), partition: Number(k.slice(at + 1)), value };
    });
  }

  fetchOffset(groupId: string, topic: string, partition: number): CommittedOffset | null {
    return this.#groups.get(groupId)?.offsets.get(offsetKey(topic, partition)) ?? null;
  }

  // ---------------------------------------------------------------- inspection and restore

  groupIds(): string[] {
    return [...this.#groups.keys()].sort();
  }

  /** Whether the coordinator holds the group (made by a join or commit, even a refused one). */
  has(groupId: string): boolean {
    return this.#groups.has(groupId);
  }

  snapshot(groupId: string): GroupSnapshot | null {
    const g = this.#groups.get(groupId);
    if (!g) return null;
    return {
      groupId: g.id,
      state: g.state,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      generationId: g.generationId,
      leaderId: g.leaderId,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        protocolName: g.protocolName,
        metadata: g.protocolName ? this.#metadataFor(m, g.protocolName) : Buffer.alloc(0),
        assignment: m.assignment,
      })),
    };
  }

  /**
   * Restores a group as it was persisted, with every member's session restarted from `now`: members
   * that are alive keep heartbeating with their generation; the others expire and trigger a rebalance.
   */
  restore(s: GroupSnapshot, now: number): void {
    const g = this.#group(s.groupId, true)!;
    g.generationId = s.generationId;
    g.protocolType = s.protocolType;
    g.protocolName = s.protocolName;
    g.leaderId = s.leaderId;
    g.members.clear();
    for (const m of s.members) {
      g.members.set(m.memberId, {
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        protocols: m.protocolName ? [{ name: m.protocolName, metadata: m.metadata }] : [],
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        expiresAtMs: now + m.sessionTimeoutMs,
        assignment: m.assignment,
        awaitingJoin: null,
        awaitingSync: null,
      });
    }
    // A group caught mid-rebalance restarts the rebalance; otherwise it resumes where it was.
    if (g.members.size === 0) g.state = 'Empty';
    else if (s.state === 'Stable') g.state = 'Stable';
    else {
      g.state = 'Stable';
      this.#prepareRebalance(g, now);
    }
  }

  /** Removes an empty group and its offsets (DeleteGroups). */
  /**
   * Whether a member of the group subscribes to `topic`, so that its offsets for the topic must stay
   * (Kafka's OffsetDelete, GroupCoordinator.handleDeleteOffsets): false for a group without members;
   * for a consumer (or broker-assigned) group, whether some member's subscription names the topic, a
   * subscription that cannot be read counting as one that does. GROUP_ID_NOT_FOUND when there is no
   * group, NON_EMPTY_GROUP for a group with members of another protocol, whose topics are unknown.
   */
  subscribesTo(groupId: string, topic: string): boolean {
    const g = this.#group(groupId, false);
    if (!g) throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
    if (g.members.size === 0) return false;
    const topics =
      g.protocolType === 'consumer'
        ? consumerSubscriptionTopics
        : g.protocolType === SERVER_ASSIGNED
          ? decodeSubscription
          : null;
    if (!topics)
      throw new BrokerError(
        'NON_EMPTY_GROUP',
        `group ${groupId} has ${g.members.size} members of protocol type ${g.protocolType}, whose subscriptions are unknown`,
      );
    for (const m of g.members.values()) {
      const metadata =
        m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? m.protocols[0]?.metadata;
      const subscribed = metadata ? topics(metadata) : null;
      if (subscribed === null || subscribed.includes(topic)) return true;
    }
    return false;
  }

  /**
   * Forgets a group that holds nothing: no member and no committed offset (a deleted group whose
   * records were replayed at start, its offsets' tombstones after the commits they cancel).
   */
  forgetIfEmpty(groupId: string): void {
    const g = this.#groups.get(groupId);
    if (g && g.members.size === 0 && g.offsets.size === 0) this.#groups.delete(groupId);
  }

  /**
   * Drops a group from this coordinator without changing it (its offsets partition moved to another
   * node, which loads it from the log): members waiting on a join or sync are told NOT_COORDINATOR,
   * so that they find the new coordinator.
   */
  unload(groupId: string): void {
    const g = this.#groups.get(groupId);
    if (!g) return;
    this.#groups.delete(groupId);
    const moved = () =>
      new BrokerError('NOT_COORDINATOR', `group ${groupId} moved to another coordinator; find it again`);
    for (const m of g.members.values()) {
      const join = m.awaitingJoin;
      const sync = m.awaitingSync;
      m.awaitingJoin = null;
      m.awaitingSync = null;
      join?.(moved());
      sync?.(moved());
    }
  }

  deleteGroup(groupId: string): void {
    const g = this.#groups.get(groupId);
    if (!g) throw new BrokerError('GROUP_ID_NOT_FOUND', `no group ${groupId}`);
    if (g.members.size > 0)
      throw new BrokerError('NON_EMPTY_GROUP', `group ${groupId} has ${g.members.size} members`);
    g.state = 'Dead';
    this.#groups.delete(groupId);
  }

  #changed(group: Group): void {
    const s = this.snapshot(group.id);
    if (s) this.#deps.onGroupChange?.(s);
  }
}

function protocolMetadata(protocols: Protocol[], name: string): Buffer | null {
  return protocols.find((p) => p.name === name)?.metadata ?? null;
}

/**
 * Whether two subscriptions ask for the same thing: for Kafka consumers (protocol type `consumer`) the
 * same topics, whatever else the metadata carries (owned partitions, generation, rack change as a
 * member restarts without changing what it wants); for the broker-assigned gRPC consumer the same
 * topics too; for other protocols the same bytes.
 */
function sameSubscription(protocolType: string | null, a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b;
  const topics =
    protocolType === 'consumer'
      ? consumerSubscriptionTopics
      : protocolType === SERVER_ASSIGNED
        ? decodeSubscription
        : null;
  if (topics) {
    const x = topics(a);
    const y = topics(b);
    if (x !== null && y !== null) {
      const [sx, sy] = [[...new Set(x)].sort(), [...new Set(y)].sort()];
      return sx.length === sy.length && sx.every((t, i) => t === sy[i]);
    }
  }
  return a.equals(b);
}

/** The topics of a ConsumerProtocolSubscription (every version: int16 version, [string topic], ...). */
export function consumerSubscriptionTopics(b: Buffer): string[] | null {
  try {
    let at = 2;
    const n = b.readInt32BE(at);
    at += 4;
    if (n < 0 || n > b.length) return null;
    const topics: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = b.readInt16BE(at);
      at += 2;
      if (len < 0 || at + len > b.length) return null;
      topics.push(b.toString('utf8', at, at + len));
      at += len;
    }
    return topics;
  } catch {
    return null;
  }
}

/** The subscription of a server-assigned member: JSON `{"topics": [...]}`. */
export function encodeSubscription(topics: string[]): Buffer {
  return Buffer.from(JSON.stringify({ topics }));
}

export function decodeSubscription(metadata: Buffer): string[] {
  try {
    const v = JSON.parse(metadata.toString('utf8')) as { topics?: unknown };
    return Array.isArray(v.topics) ? v.topics.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

export function decodeServerAssignment(assignment: Buffer): { topic: string; partitions: number[] }[] {
  if (assignment.length === 0) return [];
  return JSON.parse(assignment.toString('utf8')) as { topic: string; partitions: number[] }[];
}

/**
 * The assignment a Kafka consumer group's leader handed a member (ConsumerProtocolAssignment, all
 * versions: int16 version, [topic: int16-length string, [partition: int32]], nullable user data), so
 * that DescribeGroup shows who owns what whichever door the group came through. Unreadable bytes (a
 * client-specific protocol) show as no assignment.
 */
export function decodeConsumerAssignment(b: Buffer): { topic: string; partitions: number[] }[] {
  try {
    let at = 2;
    const topics = b.readInt32BE(at);
    at += 4;
    if (topics < 0 || topics > b.length) return [];
    const out: { topic: string; partitions: number[] }[] = [];
    for (let i = 0; i < topics; i++) {
      const len = b.readInt16BE(at);
      at += 2;
      if (len < 0 || at + len > b.length) return [];
      const topic = b.toString('utf8', at, at + len);
      at += len;
      const n = b.readInt32BE(at);
      at += 4;
      if (n < 0 || at + n * 4 > b.length) return [];
      const partitions: number[] = [];
      for (let k = 0; k < n; k++, at += 4) partitions.push(b.readInt32BE(at));
      out.push({ topic, partitions });
    }
    return out;
  } catch {
    return [];
  }
}

/** The partitions a member was assigned, for either kind of group (empty when unreadable). */
export function assignedPartitions(
  protocolType: string | null,
  assignment: Buffer,
): { topic: string; partitions: number[] }[] {
  if (protocolType === SERVER_ASSIGNED) return decodeServerAssignment(assignment);
  if (protocolType === 'consumer') return decodeConsumerAssignment(assignment);
  return [];
}
