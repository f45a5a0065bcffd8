/**
 * SQL for the audit log: appended to, never changed (a trigger refuses updates and deletes). An
 * event is appended on its own (`append`, in the transaction of the change it records), or by the
 * statement that does the work (`audited`): the only SQL that writes audit_events is here.
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

/** An event about one record, appended by the statement that does the work it records (`audited`). */
export type RecordEvent = Omit<NewAuditEvent, 'recordId' | 'subject'> & { recordId: string };

/**
 * A statement written as named steps (PostgreSQL WITH queries) and the query that returns its
 * result. Steps may change data (`insert … returning`), which PostgreSQL allows only in the
 * outermost WITH: so a statement that is to carry its audit line is handed over as steps, not
 * finished.
 */
export type Steps = { readonly steps: readonly string[]; readonly result: string };

/** The SQL types of an event's values, in `eventValues` order: the parameters `audited` takes. */
const EVENT_TYPES = ['uuid', 'text', 'text', 'uuid', 'jsonb'] as const;

/**
 * `data` and the audit line it owes, as one statement: one audit event for each row of its step
 * `for` (none when that step has no rows — a read that found nothing, a write that changed
 * nothing). The event takes five parameters, `eventValues(event)`: positional from `$<event>` on
 * (a prepared statement: `event: 4` is $4…$8), or knex's `?` bindings (`event: '?'`), which
 * come after the steps' own and before the result's. With `count`, an SQL expression over the
 * rows of `for`, the event's details carry it as `count` (a search's total); with `when`, an SQL
 * condition, only while it holds (the work was done: a search's count has a row either way). One
 * round trip, and as atomic as the work: both are written or neither.
 */
export function audited(data: Steps, line: { for: string; event: number | '?'; count?: string; when?: string }): string {
  const [recordId, kind, clientId, personId, details] = EVENT_TYPES.map((type, index) => `${line.event === '?' ? '?' : `$${line.event + index}`}::${type}`);
  const withCount = line.count === undefined ? details : `${details} || jsonb_build_object('count', ${line.count})`;
  const step = `audited as (insert into audit_events (record_id, kind, client_id, person_id, details)
     select ${recordId}, ${kind}, ${clientId}, ${personId}, ${withCount} from ${line.for}${line.when ? ` where ${line.when}` : ''})`;
  return `with ${[...data.steps, step].join(',\n   ')}\n   ${data.result}`;
}

/** The values of an audited statement's event parameters. */
export function eventValues(event: RecordEvent): unknown[] {
  return [event.recordId, event.kind, event.clientId ?? null, event.personId ?? null, event.details ?? {}];
}

/** One event on its own (a token issued, a consent, a pickup). */
const APPEND = statement('insert into audit_events (record_id, subject, kind, client_id, person_id, details) values ($1, $2, $3, $4, $5, $6)');

export function createAuditStore(db: Database) {
  return {
    async append(event: NewAuditEvent): Promise<void> {
      await db.query(APPEND, [event.recordId ?? null, event.subject ?? null, event.kind, event.clientId ?? null, event.personId ?? null, event.details ?? {}]);
    },

    /**
     * Deletes every event of a record being erased: the one delete the append-only trigger lets
     * through, for this record only and only inside this transaction (the setting is local to it).
     */
    async eraseRecord(recordId: string): Promise<void> {
      await db.raw(`select set_config('carevault.erasing_record', ?, true)`, [recordId]);
      await db.table('audit_events').where({ record_id: recordId }).delete();
      await db.raw(`select set_config('carevault.erasing_record', '', true)`);
    },

    async eventsOf(recordId: string, limit: number): Promise<AuditEventRow[]> {
      return db.table('audit_events').where({ record_id: recordId }).orderBy('id', 'desc').limit(limit);
    },

    /**
     * The events of `kinds` on these records after `since`, newest first (the home page's news);
     * a `fhir.created` counts only when an app did it (the person knows what they added).
     */
    async eventsSince(recordIds: readonly string[], since: Date, kinds: readonly string[], limit: number): Promise<AuditEventRow[]> {
      if (recordIds.length === 0 || kinds.length === 0) return [];
      return db
        .table('audit_events')
        .whereIn('record_id', recordIds)
        .where('occurred_at', '>', since)
        .whereIn('kind', kinds)
        .where((where) => {
          where.whereNot('kind', 'fhir.created').orWhereNotNull('client_id');
        })
        .orderBy('id', 'desc')
        .limit(limit);
    },

    /**
     * The event of `kinds` on the record nearest to `at` within `slack` milliseconds: what wrote
     * an item whose first version is dated `at` (a write and its audit line share a transaction, so
     * their times differ by the transaction's duration). A `fhir.*` event must be about `type`.
     */
    async nearest(recordId: string, at: Date, kinds: readonly string[], type: string, slack: number): Promise<AuditEventRow | undefined> {
      if (kinds.length === 0) return undefined;
      const from = new Date(at.getTime() - slack);
      const to = new Date(at.getTime() + slack);
      return db
        .table('audit_events')
        .where({ record_id: recordId })
        .whereBetween('occurred_at', [from, to])
        .whereIn('kind', kinds)
        .where((where) => {
          where.whereNot('kind', 'like', 'fhir.%').orWhereRaw("details->>'type' = ?", [type]);
        })
        .orderByRaw('abs(extract(epoch from (occurred_at - ?::timestamptz)))', [at.toISOString()])
        .first();
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
