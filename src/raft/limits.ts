/**
 * Bounds of the Raft layer (DESIGN.md decision 8), kept apart from src/limits.ts so that the two
 * layers can evolve without edit conflicts. Units come last in each name.
 */
import assert from 'node:assert/strict';

/** Ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)). @default 10 */
export const electionTicksDefault = 10;

/** Ticks between leader heartbeats. Must be well below the election timeout. @default 1 */
export const heartbeatTicksDefault = 1;

/** Most entries one append message carries: bounds message size and the work one step does. @default 256 */
export const entriesPerMessageMax = 256;

/** Most entry bytes one append message carries (the first entry is always sent, even if larger). @default 1 MiB */
export const entryBytesPerMessageMax = 1024 * 1024;

/**
 * Most append messages in flight to one follower in the replicate state; flow control so that a slow
 * follower does not make the leader queue unbounded data. @default 64
 */
export const inflightMessagesMax = 64;

/**
 * How far (in entries) a learner's acknowledged log may trail the leader's last entry for the leader to
 * promote it to voter. Promoting a learner that is far behind adds a voter that cannot help commit
 * until it has caught up, so a cluster that then loses one node stalls (issue 6: "learners catch up
 * before promotion"; Ongaro's thesis, 4.2.1). @default 1000
 */
export const learnerLagEntriesMax = 1000;

/** Most committed entries handed out in one Ready, so one apply step stays bounded. @default 4096 */
export const committedEntriesPerReadyMax = 4096;

/** Largest Raft message the TCP transport accepts (a snapshot travels as one message). @default 256 MiB */
export const messageBytesMax = 256 * 1024 * 1024;

/** Most messages queued for one peer while it is unreachable; older ones are dropped (Raft retransmits). */
export const peerQueueMessagesMax = 4096;

/** Most bytes queued for one peer before the transport drops further messages to it. @default 64 MiB */
export const peerQueueBytesMax = 64 * 1024 * 1024;

/** Delay before reconnecting to a peer after a failed connection. @default 100 */
export const reconnectDelayMs = 100;

/** Real time per Raft tick in the driver. @default 50 */
export const tickMsDefault = 50;

/** Largest proposal the driver accepts. @default 1 MiB */
export const proposalBytesMax = 1024 * 1024;

/**
 * Bytes the WAL's directory keeps in reserve (a file of zeros, `reserve`), given up when a write finds
 * the disk full, so that the metadata log can still commit (a topic deletion that frees space) on a
 * disk another writer filled. Larger than one Ready of proposals. @default 2 MiB
 */
export const walReserveBytes = 2 * 1024 * 1024;

export function checkRaftLimits(): void {
  assert.ok(heartbeatTicksDefault < electionTicksDefault, 'heartbeats must come more often than elections');
  assert.ok(entriesPerMessageMax > 0 && inflightMessagesMax > 0);
  assert.ok(entryBytesPerMessageMax < messageBytesMax, 'an append message must fit in a transport frame');
  assert.ok(proposalBytesMax <= entryBytesPerMessageMax);
  assert.ok(peerQueueBytesMax >= entryBytesPerMessageMax);
  assert.ok(walReserveBytes > proposalBytesMax, 'the WAL reserve holds at least one proposal');
}

checkRaftLimits();
