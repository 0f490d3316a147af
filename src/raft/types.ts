/**
 * The data types of the Raft core: entries, messages, hard state, snapshots and the Ready batch.
 *
 * The core (raft.ts) is pure in the manner of etcd's raft (DESIGN.md decision 4): it never touches a
 * clock, a file or a socket. Everything it wants done is handed back in a `Ready` and everything it
 * learns comes in through `step()`, `tick()` and the proposal methods.
 */

/** Node ids are positive integers; 0 means "no node" (no leader known, no vote cast). */
export type NodeId = number;
export const NONE: NodeId = 0;

/** What an entry carries: a command for the state machine, or a membership change for Raft itself. */
export const EntryType = { normal: 0, conf: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Opaque command bytes; empty for the no-op a new leader appends; an encoded ConfChange for conf entries. */
  readonly data: Uint8Array;
}

/** The part of a node's state that must be durable before it acts on it (Raft paper, figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface Snapshot {
  /** Index and term of the last entry the snapshot covers. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly conf: ConfState;
  /** The state machine's serialized state as of `index`. */
  readonly data: Uint8Array;
}

/** One membership change; only one voter is added or removed at a time (Raft thesis, section 4.1). */
export const ConfChangeType = { addVoter: 1, addLearner: 2, removeNode: 3 } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
}

export const MessageType = {
  app: 1,
  appResp: 2,
  vote: 3,
  voteResp: 4,
  preVote: 5,
  preVoteResp: 6,
  heartbeat: 7,
  heartbeatResp: 8,
  snap: 9,
  timeoutNow: 10,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName: Record<MessageType, string> = {
  1: 'App',
  2: 'AppResp',
  3: 'Vote',
  4: 'VoteResp',
  5: 'PreVote',
  6: 'PreVoteResp',
  7: 'Heartbeat',
  8: 'HeartbeatResp',
  9: 'Snap',
  10: 'TimeoutNow',
};

/**
 * One flat message shape for every type, as etcd's raftpb.Message: fields a type does not use are zero.
 * - app: `index`/`logTerm` are the previous entry, `entries` the new ones, `commit` the leader's commit.
 * - appResp: `index` is the last index acknowledged, or on `reject` the rejected previous index, with
 *   `rejectHint`/`logTerm` naming the follower's guess of where the logs agree (fast backtracking).
 * - vote/preVote: `index`/`logTerm` are the candidate's last entry; `context` is `campaignTransfer`
 *   when the election was asked for by a leadership transfer (it then ignores leader leases).
 * - heartbeat: `commit` is min(follower match, leader commit); `context` carries a ReadIndex id.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot: Snapshot | null;
  readonly context: number;
}

/** `Message.context` of votes cast because the leader handed over leadership (TimeoutNow). */
export const campaignTransfer = 1;

/** A linearizable read that may be served once the local state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: number;
}

export const Role = {
  follower: 'follower',
  preCandidate: 'pre-candidate',
  candidate: 'candidate',
  leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * What the caller must do, in this order: persist `snapshot` (if any), then `entries` (the first may
 * overwrite existing ones from its index on), then `hardState` (if any), durably; send `messages` at
 * any time (even before persisting); send `messagesAfterPersist` only once the persistence is durable;
 * apply `committedEntries` (after restoring `snapshot` into the state machine); serve `readStates`
 * once applied up to their index; then call `advance()`.
 */
export interface Ready {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** What a node starts from: what its storage holds (all empty for a brand-new node). */
export interface InitialState {
  readonly hardState: HardState;
  /** The latest snapshot; for a fresh node, index 0 / term 0 carrying the bootstrap membership. */
  readonly snapshot: Snapshot;
  /** Entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
}

export function makeMessage(
  fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>,
): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: null,
    context: 0,
    ...fields,
  };
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const b = new Uint8Array(5);
  const v = new DataView(b.buffer);
  v.setUint8(0, cc.type);
  v.setUint32(1, cc.node);
  return b;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length !== 5) throw new Error(`conf change must be 5 bytes, got ${data.length}`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = v.getUint8(0);
  if (type !== 1 && type !== 2 && type !== 3) throw new Error(`unknown conf change type ${type}`);
  return { type, node: v.getUint32(1) };
}

/**
 * The starting point of a brand-new cluster's founding members: a snapshot at index 1, term 1 holding
 * the initial membership. Putting the membership in a snapshot (rather than only in each founder's
 * configuration) means that a node added later, which starts from nothing, is caught up by snapshot
 * and so learns the founders (etcd gets the same by writing the founding conf changes into the log).
 */
export function bootstrapSnapshot(voters: readonly NodeId[], data: Uint8Array = new Uint8Array(0)): Snapshot {
  return { index: 1, term: 1, conf: { voters: [...voters], learners: [] }, data };
}

/** The starting point of a node that joins an existing cluster: no state and no membership. */
export const emptySnapshot: Snapshot = {
  index: 0,
  term: 0,
  conf: { voters: [], learners: [] },
  data: new Uint8Array(0),
};
