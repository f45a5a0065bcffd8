/**
 * SQL for people: who they are and their password hash.
 */
import { statement, type Database } from '../db';

export type PersonRow = { id: string; email: string; name: string; password_hash: string; created_at: Date };

/** Every token request for a person reads them (the ID token's and userinfo's claims). */
const FIND_PERSON = statement('select id, email, name, password_hash, created_at from people where id = $1');

export function createAccountStore(db: Database) {
  return {
    async insertPerson(person: Omit<PersonRow, 'created_at'>): Promise<void> {
      await db.table('people').insert(person);
    },

    async findPersonByEmail(email: string): Promise<PersonRow | undefined> {
      return db.table('people').whereRaw('lower(email) = lower(?)', [email]).first();
    },

    async findPerson(id: string): Promise<PersonRow | undefined> {
      const [person] = await db.query<PersonRow>(FIND_PERSON, [id]);
      return person;
    },
  };
}
