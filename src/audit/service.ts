/**
 * The per-record access log: what was allowed, denied and removed, when apps got tokens, and what
 * apps and people read and wrote. Events are appended in the transaction of the change they record
 * (the ambient one, see db.ts), so both land or neither; the record repository's reads and writes
 * append theirs in the very statement that does the work (store.ts `audited`).
 */
import type { AppNames } from '../apps/names';
import type { Database } from '../db';
import { createAuditStore, type NewAuditEvent } from './store';
import { actorOf, describeEvent, type AuditWords, type DescribedLine, type NewsKind } from './words';

/** `words` are the features' words for their own kinds of event. */
/** One piece of news on the home page: which record, what kind, and the history line's words. */
export type NewsLine = DescribedLine & { recordId: string; news: NewsKind };

/** What wrote an item into a record: the history line of that event and who did it. */
/** `isApp`: an app added it (else a person, or carevault). */
export type ItemSource = { summary: string; by: string; when: Date; isApp: boolean };

/** Enough for a home page; older news is on each record's history. */
const NEWS_LIMIT = 50;

/**
 * `words` are the features' words for their own kinds of event; `news` says which kinds (the
 * core's and the features') are news for the person.
 */
export function createAuditLog(db: Database, appNames: AppNames, words: AuditWords, news: Readonly<Record<string, NewsKind>> = {}) {
  const store = createAuditStore(db);
  return {
    append(event: NewAuditEvent): Promise<void> {
      return store.append(event);
    },

    /** Erases a record's events with the record (its last custodian closed their account). */
    eraseRecord(recordId: string): Promise<void> {
      return store.eraseRecord(recordId);
    },

    /** The record's history in plain words, newest first. */
    async history(recordId: string, limit = 1000): Promise<(DescribedLine & { by: string })[]> {
      const events = await store.eventsOf(recordId, limit);
      const names = await appNames.names([...new Set(events.map((event) => event.client_id).filter((id): id is string => Boolean(id)))]);
      return events.map((event) => ({ ...describeEvent(event, names, words), by: actorOf(event, names) }));
    },

    /** What happened to these records after `since` that is news to the person (messages, items added, connections), newest first. */
    async newsSince(recordIds: readonly string[], since: Date): Promise<NewsLine[]> {
      const events = await store.eventsSince(recordIds, since, Object.keys(news), NEWS_LIMIT);
      const names = await appNames.names([...new Set(events.map((event) => event.client_id).filter((id): id is string => Boolean(id)))]);
      return events.map((event) => ({ ...describeEvent(event, names, words), recordId: event.record_id ?? '', news: news[event.kind] ?? 'item' }));
    },

    /**
     * What put an item into the record: the event that adds items (an app's write, a pickup, a
     * filed message, an import, the record's opening for its Patient) nearest its first version's time.
     */
    async sourceOf(recordId: string, type: string, createdAt: Date): Promise<ItemSource | undefined> {
      const adding = [...Object.keys(news).filter((kind) => news[kind] === 'item'), 'record.opened'];
      const event = await store.nearest(recordId, createdAt, adding, type, 5_000);
      if (!event) return undefined;
      const names = await appNames.names(event.client_id ? [event.client_id] : []);
      return { summary: describeEvent(event, names, words).summary, by: actorOf(event, names), when: event.occurred_at, isApp: Boolean(event.client_id) };
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
