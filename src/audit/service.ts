/**
 * The per-record access log: what was allowed, denied and removed, and when apps got tokens.
 */
import type { Knex } from 'knex';
import { appendAuditEvent, auditEventsOf, type NewAuditEvent } from './store';
import { describeEvent, type HistoryLine } from './words';

export function createAuditLog(knex: Knex) {
  return {
    /** Appends an event; pass the transaction the change itself runs in, so both land or neither. */
    append(event: NewAuditEvent, db: Knex | Knex.Transaction = knex): Promise<void> {
      return appendAuditEvent(db, event);
    },

    /** The record's history in plain words, newest first. */
    async history(recordId: string, limit = 200): Promise<HistoryLine[]> {
      return (await auditEventsOf(knex, recordId, limit)).map(describeEvent);
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
