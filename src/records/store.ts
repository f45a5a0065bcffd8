/**
 * SQL for records and the links between people and records (`custodianships`): who may act for
 * which record, at which access level, until when. A link whose `expires_at` has passed counts for
 * nothing in every query here, so an expired share ends at once, before any sweep removes it. A
 * record's name and birth date are its Patient's: they are read from the Patient resource, never
 * kept twice.
 */
import type { Knex } from 'knex';
import type { Database } from '../db';
import type { AccessLevel } from './access';

export type RecordRow = { id: string; relationship: string; access: AccessLevel; patient: Record<string, unknown> | null };

/** Only the links that count now (no expiry, or one still ahead). */
function current(query: Knex.QueryBuilder, table = 'custodianships'): Knex.QueryBuilder {
  return query.whereRaw(`(${table}.expires_at is null or ${table}.expires_at > now())`);
}

export function createRecordStore(db: Database) {
  return {
    async insertRecord(id: string): Promise<void> {
      await db.table('records').insert({ id });
    },

    async insertCustodianship(link: { person_id: string; record_id: string; relationship: string }): Promise<void> {
      await db.table('custodianships').insert(link);
    },

    /** The level a person holds on a record now, if any. */
    async accessOf(personId: string, recordId: string): Promise<AccessLevel | undefined> {
      const row = (await current(db.table('custodianships').where({ person_id: personId, record_id: recordId })).first('access')) as
        { access: AccessLevel } | undefined;
      return row?.access;
    },

    /** Of the records a person holds, those someone else also looks after. */
    async sharedOf(personId: string): Promise<string[]> {
      const query = db
        .table('custodianships as mine')
        .join('custodianships as other', 'other.record_id', 'mine.record_id')
        .where('mine.person_id', personId)
        .whereNot('other.person_id', personId)
        .whereIn('other.access', ['custodian', 'full']);
      const rows = await current(current(query, 'mine'), 'other').distinct('mine.record_id');
      return rows.map((row: { record_id: string }) => row.record_id);
    },

    /** How many people other than `personId` look after the record (custodians, and those with Full access). */
    async otherCustodians(recordId: string, personId: string): Promise<number> {
      const query = db.table('custodianships').where({ record_id: recordId }).whereNot({ person_id: personId }).whereIn('access', ['custodian', 'full']);
      const row = await current(query).count({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },

    async removeCustodian(personId: string, recordId: string): Promise<void> {
      await db.table('custodianships').where({ person_id: personId, record_id: recordId }).delete();
    },

    /** Deletes the record row; what hangs on it by a foreign key goes with it. */
    async deleteRecord(recordId: string): Promise<void> {
      await db.table('records').where({ id: recordId }).delete();
    },

    /** The person's own record. */
    async ownRecordOf(personId: string): Promise<string | undefined> {
      const row = await db.table('custodianships').where({ person_id: personId, relationship: 'self' }).first('record_id');
      return row?.record_id;
    },

    /** The ids of the records a person holds at any level. */
    async recordIdsOf(personId: string): Promise<string[]> {
      const rows = await current(db.table('custodianships').where({ person_id: personId })).select('record_id');
      return rows.map((row: { record_id: string }) => row.record_id);
    },

    /** The records a person holds at any level (optionally only `recordId`), each with its Patient. */
    async recordsOf(personId: string, recordId?: string): Promise<RecordRow[]> {
      const query = current(
        db
          .table('custodianships as c')
          .leftJoin('resources as p', (join) => join.on(db.raw('p.id = c.record_id::text')).andOn('p.type', db.raw('?', ['Patient'])))
          .where('c.person_id', personId),
        'c',
      ).select('c.record_id as id', 'c.relationship', 'c.access', 'p.content as patient');
      if (recordId) query.andWhere('c.record_id', recordId);
      return query;
    },
  };
}
