/**
 * The per-record access log: what was allowed, denied and removed, when apps got tokens, and what
 * apps and people read and wrote. Events are appended in the transaction of the change they record
 * (the ambient one, see db.ts), so both land or neither; the record repository's reads and writes
 * append theirs in the very statement that does the work (store.ts `audited`).
 */
import type { AppNames } from '../apps/names';
import type { Database } from '../db';
import { createAuditStore, type NewAuditEvent } from './store';
import { actorOf, describeEvent, type AuditWords, type HistoryLine } from './words';

/** `words` are the features' words for their own kinds of event. */
export function createAuditLog(db: Database, appNames: AppNames, words: AuditWords) {
  const store = createAuditStore(db);
  return {
    append(event: NewAuditEvent): Promise<void> {
      return store.append(event);
    },

    /** The record's history in plain words, newest first. */
    async history(recordId: string, limit = 200): Promise<(HistoryLine & { by: string })[]> {
      const events = await store.eventsOf(recordId, limit);
      const names = await appNames.names([...new Set(events.map((event) => event.client_id).filter((id): id is string => Boolean(id)))]);
      return events.map((event) => ({ ...describeEvent(event, names, words), by: actorOf(event, names) }));
    },

    /** The raw events about a subject (`package:<id>`), newest first. */
    eventsAbout(subject: string, limit = 200) {
      return store.eventsAbout(subject, limit);
    },

    /** When each app last used each record, keyed `record_id client_id`. */
    lastUsed(pairs: readonly { recordId: string; clientId: string }[]) {
      return store.lastUsed(pairs);
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
