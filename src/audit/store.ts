/**
 * SQL for the audit log: appended to, never changed (a trigger refuses updates and deletes).
 */
import type { Knex } from 'knex';

export type AuditEventRow = {
  id: string;
  record_id: string;
  occurred_at: Date;
  kind: string;
  client_id: string | null;
  person_id: string | null;
  details: Record<string, unknown>;
};

export type NewAuditEvent = {
  recordId: string;
  kind: string;
  clientId?: string | undefined;
  personId?: string | undefined;
  details?: Record<string, unknown>;
};

export async function appendAuditEvent(db: Knex | Knex.Transaction, event: NewAuditEvent): Promise<void> {
  await db('audit_events').insert({
    record_id: event.recordId,
    kind: event.kind,
    client_id: event.clientId ?? null,
    person_id: event.personId ?? null,
    details: event.details ?? {},
  });
}

export async function auditEventsOf(knex: Knex, recordId: string, limit: number): Promise<AuditEventRow[]> {
  return knex<AuditEventRow>('audit_events').where({ record_id: recordId }).orderBy('id', 'desc').limit(limit);
}
