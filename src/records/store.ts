/**
 * SQL for records and custodianship (who may act for which record). A record's name and birth date
 * are its Patient's: they are read from the Patient resource, never kept twice.
 */
import type { Database } from '../db';

export type RecordRow = { id: string; relationship: string; patient: Record<string, unknown> | null };

export function createRecordStore(db: Database) {
  return {
    async insertRecord(id: string): Promise<void> {
      await db.table('records').insert({ id });
    },

    async insertCustodianship(link: { person_id: string; record_id: string; relationship: string }): Promise<void> {
      await db.table('custodianships').insert(link);
    },

    /** Of the records a person holds, those someone else also looks after. */
    async sharedOf(personId: string): Promise<string[]> {
      const rows = await db
        .table('custodianships as mine')
        .join('custodianships as other', 'other.record_id', 'mine.record_id')
        .where('mine.person_id', personId)
        .whereNot('other.person_id', personId)
        .distinct('mine.record_id');
      return rows.map((row: { record_id: string }) => row.record_id);
    },

    /** How many people other than `personId` look after the record. */
    async otherCustodians(recordId: string, personId: string): Promise<number> {
      const row = await db.table('custodianships').where({ record_id: recordId }).whereNot({ person_id: personId }).count({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },

    async removeCustodian(personId: string, recordId: string): Promise<void> {
      await db.table('custodianships').where({ person_id: personId, record_id: recordId }).delete();
    },

    /** Deletes the record row; what hangs on it by a foreign key goes with it. */
    async deleteRecord(recordId: string): Promise<void> {
      await db.table('records').where({ id: recordId }).delete();
    },

    async isCustodian(personId: string, recordId: string): Promise<boolean> {
      const row = await db.table('custodianships').where({ person_id: personId, record_id: recordId }).first('record_id');
      return Boolean(row);
    },

    /** The person's own record. */
    async ownRecordOf(personId: string): Promise<string | undefined> {
      const row = await db.table('custodianships').where({ person_id: personId, relationship: 'self' }).first('record_id');
      return row?.record_id;
    },

    /** The ids of the records a person holds. */
    async recordIdsOf(personId: string): Promise<string[]> {
      const rows = await db.table('custodianships').where({ person_id: personId }).select('record_id');
      return rows.map((row: { record_id: string }) => row.record_id);
    },

    /** The records a person holds (optionally only `recordId`), each with its Patient, their own first. */
    async recordsOf(personId: string, recordId?: string): Promise<RecordRow[]> {
      const query = db
        .table('custodianships as c')
        .leftJoin('resources as p', (join) => join.on(db.raw('p.id = c.record_id::text')).andOn('p.type', db.raw('?', ['Patient'])))
        .where('c.person_id', personId)
        .select('c.record_id as id', 'c.relationship', 'p.content as patient');
      if (recordId) query.andWhere('c.record_id', recordId);
      return query;
    },
  };
}
