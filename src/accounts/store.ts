/**
 * SQL for people: who they are and their password hash.
 */
import type { Database } from '../db';

export type PersonRow = { id: string; email: string; name: string; password_hash: string; created_at: Date };

export function createAccountStore(db: Database) {
  return {
    async insertPerson(person: Omit<PersonRow, 'created_at'>): Promise<void> {
      await db.table('people').insert(person);
    },

    async findPersonByEmail(email: string): Promise<PersonRow | undefined> {
      return db.table('people').whereRaw('lower(email) = lower(?)', [email]).first();
    },

    async findPerson(id: string): Promise<PersonRow | undefined> {
      return db.table('people').where({ id }).first();
    },
  };
}

export type AccountStore = ReturnType<typeof createAccountStore>;
