/**
 * SQL for the audit log: appended to, never changed (a trigger refuses updates and deletes).
 */
import { statement, type Database } from '../db';

export type AuditEventRow = {
  id: string;
  record_id: string | null;
  subject: string | null;
  occurred_at: Date;
  kind: string;
  client_id: string | null;
  person_id: string | null;
  details: Record<string, unknown>;
};

/** An event is about a record, or about a subject not (yet) in one (`package:<id>`), or both. */
export type NewAuditEvent = ({ recordId: string; subject?: string | undefined } | { recordId?: undefined; subject: string }) & {
  kind: string;
  clientId?: string | undefined;
  personId?: string | undefined;
  details?: Record<string, unknown>;
};

/** An event about a record that another statement appends beside its own work (fhir/store.ts). */
export type RecordEvent = Omit<NewAuditEvent, 'recordId' | 'subject'>;

/**
 * How a statement elsewhere appends one: `${AUDIT_INSERT} select <record id>, <the event's values>…`,
 * the values in `eventValues` order — the same row `append` writes, in one round trip with the work.
 */
export const AUDIT_INSERT = 'insert into audit_events (record_id, kind, client_id, person_id, details)';

export function eventValues(event: RecordEvent): unknown[] {
  return [event.kind, event.clientId ?? null, event.personId ?? null, event.details ?? {}];
}

/** Every token issued and every FHIR request appends one. */
const APPEND = statement('insert into audit_events (record_id, subject, kind, client_id, person_id, details) values ($1, $2, $3, $4, $5, $6)');

export function createAuditStore(db: Database) {
  return {
    async append(event: NewAuditEvent): Promise<void> {
      await db.query(APPEND, [event.recordId ?? null, event.subject ?? null, event.kind, event.clientId ?? null, event.personId ?? null, event.details ?? {}]);
    },

    async eventsOf(recordId: string, limit: number): Promise<AuditEventRow[]> {
      return db.table('audit_events').where({ record_id: recordId }).orderBy('id', 'desc').limit(limit);
    },

    async eventsAbout(subject: string, limit: number): Promise<AuditEventRow[]> {
      return db.table('audit_events').where({ subject }).orderBy('id', 'desc').limit(limit);
    },

    /** When each app last used each record (a token or a FHIR request), by `record_id client_id`. */
    async lastUsed(pairs: readonly { recordId: string; clientId: string }[]): Promise<Map<string, Date>> {
      if (pairs.length === 0) return new Map();
      const values = pairs.map(() => '(?::uuid, ?)').join(', ');
      const { rows } = (await db.raw(
        `select v.record_id, v.client_id,
           (select max(e.occurred_at) from audit_events e
             where e.record_id = v.record_id and e.client_id = v.client_id
               and (e.kind like 'fhir.%' or e.kind like 'token.%')) as last_used_at
         from (values ${values}) as v(record_id, client_id)`,
        pairs.flatMap((pair) => [pair.recordId, pair.clientId]),
      )) as { rows: { record_id: string; client_id: string; last_used_at: Date | null }[] };
      return new Map(rows.filter((row) => row.last_used_at).map((row) => [`${row.record_id} ${row.client_id}`, row.last_used_at as Date]));
    },
  };
}
