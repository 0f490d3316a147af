/**
 * Topic creations and deletions in progress, recorded on disk so that a crash half way through one is
 * settled at the next start (issue 10: partition directories of topics that were never registered
 * stayed across restarts). A creation opens its partition directories before it registers the topic,
 * and a deletion unregisters the topic before it removes them; either may stop between the two. Each
 * writes `<data>/meta/topic-intents/<topic>` before it starts and removes it when it is done. At start,
 * for every intent left: a topic that is registered keeps its directories (a creation that got as
 * far as registering, or a deletion that had not), and one that is not loses every `<topic>-<n>`
 * directory (a creation that did not register, or a deletion that had).
 *
 * The core runs at most one creation or deletion per topic name at a time, so one file per name is
 * never written by two at once.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { syncDir, writeFileSynced } from '../storage/segment.ts';

export class TopicIntents {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async open(metaDir: string): Promise<TopicIntents> {
    const dir = path.join(metaDir, 'topic-intents');
    await mkdir(dir, { recursive: true });
    return new TopicIntents(dir);
  }

  /** Topic names with a creation or deletion that did not finish. */
  async pending(): Promise<string[]> {
    return (await readdir(this.dir)).sort();
  }

  /** Durably records that a change to `topic`'s directories is starting. */
  async begin(topic: string, change: 'create' | 'delete'): Promise<void> {
    await writeFileSynced(path.join(this.dir, topic), Buffer.from(change));
    await syncDir(this.dir);
  }

  /**
   * The change is done, one way or the other. Not synced: an intent that reappears after a crash is
   * settled at start like any other, and the outcome on disk is the same.
   */
  async end(topic: string): Promise<void> {
    await rm(path.join(this.dir, topic), { force: true });
  }
}
