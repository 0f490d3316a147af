/**
 * The metadata log of one node (issue 11; DESIGN.md decision 3): a Raft node whose state machine folds
 * every committed batch of metadata records into the next `MetadataImage`. Every node runs one, voter
 * or not: a node that is no voter follows the log as a learner (an observer). Listeners hear of each
 * new image, with the delta that made it (null after a snapshot replaced the whole image), inside the
 * Raft loop: they must only record it and act later (the replica manager, `cluster-metadata.ts`).
 *
 * Raft entries of the metadata log are batches of records (records.ts `encodeBatch`): one per
 * controller operation. The image's provenance is the index and term of the last entry applied,
 * whatever its kind (a leader's empty entry, a membership change), so "caught up to offset N" means
 * "applied Raft entry N".
 *
 * Peer addresses come from the log itself: each broker registers its Raft listener, and every node
 * points its transport at the registered address of every other node. A node that joins is first told
 * the addresses by the node it joined through (`setPeers`).
 */
import { MetadataDelta } from '../../metadata/delta.ts';
import { MetadataImage, type Provenance } from '../../metadata/image.ts';
import { decodeBatch, encodeBatch, type MetadataRecord, splitIntoBatches } from '../../metadata/records.ts';
import { decodeSnapshot, encodeSnapshot } from '../../metadata/snapshot.ts';
import { RaftNode } from '../../raft/node.ts';
import { type Entry, EntryType, NONE, type NodeId, Role } from '../../raft/types.ts';

export type ImageListener = (next: MetadataImage, delta: MetadataDelta | null, prev: MetadataImage) => void;

export interface MetadataLogOptions {
  /** `<data-dir>/raft`. */
  dir: string;
  nodeId: number;
  host: string;
  /** The Raft listener's port (`network.raft_port`); 0 for an ephemeral one. */
  port: number;
  /** Starts a new cluster with this node as its only voter (an empty directory, no `--join`). */
  bootstrap: boolean;
  /** @default 50 */
  tickMs?: number;
  /** Snapshot the image once this many entries were applied since the last snapshot. @default 10000 */
  snapshotEntries?: number;
  /** Called when the leader this node knows of changes (NONE while there is none). */
  onLeaderChange?: (leader: number, term: number) => void;
  /** Called once when the Raft node stops on an error (its disk failed). */
  onFatal?: (err: Error) => void;
}

export class MetadataLog {
  readonly nodeId: number;
  readonly raft: RaftNode;
  readonly port: number;
  #image: MetadataImage;
  #listeners = new Set<ImageListener>();
  #waiters: { offset: number; resolve: () => void }[] = [];
  #peers = new Map<number, string>();
  #leader: number = NONE;

  private constructor(nodeId: number, raft: RaftNode, port: number, image: MetadataImage) {
    this.nodeId = nodeId;
    this.raft = raft;
    this.port = port;
    this.#image = image;
  }

  static async open(opts: MetadataLogOptions): Promise<MetadataLog> {
    // The state machine exists before the node does (RaftNode restores into it while constructing).
    let log: MetadataLog | null = null;
    let restored = MetadataImage.EMPTY;
    const { node, port } = await RaftNode.open({
      id: opts.nodeId,
      dir: opts.dir,
      bootstrapVoters: opts.bootstrap ? [opts.nodeId] : undefined,
      host: opts.host,
      port: opts.port,
      tickMs: opts.tickMs ?? 50,
      snapshotEntries: opts.snapshotEntries ?? 10_000,
      // Entries kept behind a snapshot for followers that trail a little: a tenth of the interval, at
      // most 1,000; one further behind gets the snapshot.
      retainEntries: Math.min(1000, Math.max(10, Math.floor((opts.snapshotEntries ?? 10_000) / 10))),
      onLeaderChange: (leader, term) => {
        if (log) log.#leader = leader;
        opts.onLeaderChange?.(leader, term);
      },
      onFatal: opts.onFatal,
      stateMachine: {
        apply: (entry: Entry) => {
          if (!log) throw new Error('an entry was applied before the metadata log was built');
          return log.#apply(entry);
        },
        snapshot: () => encodeSnapshot(log ? log.#image : restored),
        restore: (data: Uint8Array, index: number) => {
          const image =
            data.length === 0
              ? withProvenance(MetadataImage.EMPTY, { offset: index, epoch: 0 })
              : decodeSnapshot(data);
          if (log) log.#publish(image, null);
          else restored = image;
        },
      },
    });
    log = new MetadataLog(opts.nodeId, node, port, restored);
    log.#updatePeers(restored);
    return log;
  }

  /** The image of every entry applied so far. */
  get image(): MetadataImage {
    return this.#image;
  }

  /** The Raft index of the last entry applied. */
  get appliedOffset(): number {
    return this.#image.provenance.offset;
  }

  /** The Raft leader this node knows of, or NONE (0). */
  get leader(): number {
    return this.#leader;
  }

  get isLeader(): boolean {
    return this.raft.status().role === Role.leader;
  }

  /** Whether this node is a voter of the metadata quorum. */
  get isVoter(): boolean {
    return this.raft.status().conf.voters.includes(this.nodeId);
  }

  onImage(fn: ImageListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Commits records through Raft (on the leader only: elsewhere it rejects with the Raft refusal) and
   * resolves once they are applied here, with the position of the last entry.
   */
  async append(records: readonly MetadataRecord[]): Promise<Provenance> {
    let last: Provenance = this.#image.provenance;
    for (const batch of splitIntoBatches(records)) {
      last = (await this.raft.propose(encodeBatch(batch))) as Provenance;
    }
    return last;
  }

  /** Resolves once the entry at `offset` has been applied here. */
  waitForOffset(offset: number): Promise<void> {
    if (this.#image.provenance.offset >= offset) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ offset, resolve }));
  }

  /** Tells the transport where other nodes listen before the log does (a node that is joining). */
  setPeers(peers: readonly { id: number; host: string; port: number }[]): void {
    for (const p of peers) this.#setPeer(p.id, p.host, p.port);
  }

  #setPeer(id: NodeId, host: string, port: number): void {
    if (id === this.nodeId) return;
    const key = `${host}:${port}`;
    if (this.#peers.get(id) === key) return;
    this.#peers.set(id, key);
    this.raft.setPeer(id, { host, port });
  }

  #apply(entry: Entry): Provenance {
    const provenance = { offset: entry.index, epoch: entry.term };
    if (entry.type === EntryType.normal && entry.data.length > 0) {
      const delta = new MetadataDelta(this.#image);
      for (const record of decodeBatch(entry.data)) delta.replay(record);
      this.#publish(delta.apply(provenance), delta);
    } else {
      this.#publish(withProvenance(this.#image, provenance), null, false);
    }
    return provenance;
  }

  #publish(next: MetadataImage, delta: MetadataDelta | null, changed = true): void {
    const prev = this.#image;
    this.#image = next;
    if (changed) this.#updatePeers(next);
    for (const fn of this.#listeners) fn(next, changed ? delta : new MetadataDelta(prev), prev);
    if (this.#waiters.length > 0) {
      const offset = next.provenance.offset;
      const due = this.#waiters.filter((w) => w.offset <= offset);
      this.#waiters = this.#waiters.filter((w) => w.offset > offset);
      for (const w of due) w.resolve();
    }
  }

  #updatePeers(image: MetadataImage): void {
    for (const b of image.brokers.values()) {
      const raft = b.listeners.find((l) => l.name === 'raft');
      if (raft) this.#setPeer(b.id, raft.host, raft.port);
    }
  }

  async close(): Promise<void> {
    await this.raft.close();
  }
}

/** The same image at a later position (an entry that carried no records). */
function withProvenance(image: MetadataImage, provenance: Provenance): MetadataImage {
  return new MetadataImage({
    provenance,
    brokers: image.brokers,
    topicsById: image.topicsById,
    topicsByName: image.topicsByName,
    configs: image.configs,
    producerIds: image.producerIds,
  });
}
