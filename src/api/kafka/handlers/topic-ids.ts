/**
 * Topic ids for the handlers of the versions that name topics by id (KIP-516: Fetch 13+, OffsetCommit and
 * OffsetFetch 10+). An id names the topic that has it now: a deleted topic's id names nothing, even after a
 * topic of the same name is created again, with a new id.
 */
import type { HandlerDeps } from './shared.ts';

/** Resolves topic ids to the names of the topics that have them, from one look at the core's topics. */
export interface TopicIds {
  /** The name of the topic with this id, or null when no topic has it. */
  nameOf(topicId: string): string | null;
  /** The id of the topic of this name, or null when there is none. */
  idOf(name: string): string | null;
}

export function topicIds(deps: HandlerDeps): TopicIds {
  const names = new Map<string, string>();
  const ids = new Map<string, string>();
  for (const t of deps.core.listTopics()) {
    names.set(t.id, t.name);
    ids.set(t.name, t.id);
  }
  return {
    nameOf: (topicId) => names.get(topicId) ?? null,
    idOf: (name) => ids.get(name) ?? null,
  };
}
