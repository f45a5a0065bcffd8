/**
 * SQL for people, their records and custodianship (who may act for which record).
 */
import type { Knex } from 'knex';

export type PersonRow = { id: string; email: string; name: string; password_hash: string; created_at: Date };
export type RecordRow = { id: string; name: string; birth_date: string | null; relationship: string };

export function createAccountStore(knex: Knex) {
  return {
    transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
      return knex.transaction(fn);
    },

    async insertPerson(trx: Knex.Transaction, person: Omit<PersonRow, 'created_at'>): Promise<void> {
      await trx('people').insert(person);
    },

    async insertRecord(trx: Knex.Transaction, record: { id: string; name: string; birth_date: string | null }): Promise<void> {
      await trx('records').insert(record);
    },

    async insertCustodianship(trx: Knex.Transaction, link: { person_id: string; record_id: string; relationship: string }): Promise<void> {
      await trx('custodianships').insert(link);
    },

    async findPersonByEmail(email: string): Promise<PersonRow | undefined> {
      return knex<PersonRow>('people').whereRaw('lower(email) = lower(?)', [email]).first();
    },

    async findPerson(id: string): Promise<PersonRow | undefined> {
      return knex<PersonRow>('people').where({ id }).first();
    },

    async isCustodian(personId: string, recordId: string): Promise<boolean> {
      const row = await knex('custodianships').where({ person_id: personId, record_id: recordId }).first('record_id');
      return Boolean(row);
    },

    /** The records a person holds, their own first, then by name. */
    async recordsOf(personId: string): Promise<RecordRow[]> {
      return knex('records as r')
        .join('custodianships as c', 'c.record_id', 'r.id')
        .where('c.person_id', personId)
        .select('r.id', 'r.name', knex.raw(`to_char(r.birth_date, 'YYYY-MM-DD') as birth_date`), 'c.relationship')
        .orderByRaw(`(c.relationship = 'self') desc, r.name asc`);
    },
  };
}

export type AccountStore = ReturnType<typeof createAccountStore>;

/** True for PostgreSQL's unique_violation. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
