/**
 * SQL for people: who they are, their password hash, and whether their email is confirmed (and
 * the changes the account page makes to them).
 */
import { statement, type Database } from '../db';

export type PersonRow = { id: string; email: string; name: string; password_hash: string; email_verified_at: Date | null; created_at: Date };

/** Every token request for a person reads them (the ID token's and userinfo's claims). */
const FIND_PERSON = statement('select id, email, name, password_hash, email_verified_at, created_at from people where id = $1');

export function createAccountStore(db: Database) {
  return {
    async insertPerson(person: Omit<PersonRow, 'created_at' | 'email_verified_at'>): Promise<void> {
      await db.table('people').insert(person);
    },

    async findPersonByEmail(email: string): Promise<PersonRow | undefined> {
      return db.table('people').whereRaw('lower(email) = lower(?)', [email]).first();
    },

    /** Marks the email confirmed, only while it is still the person's email; false otherwise. */
    async confirmEmail(id: string, email: string, at: Date): Promise<boolean> {
      const changed = await db.table('people').where({ id }).whereRaw('lower(email) = lower(?)', [email]).update({ email_verified_at: at });
      return changed === 1;
    },

    async replacePassword(id: string, passwordHash: string): Promise<boolean> {
      return (await db.table('people').where({ id }).update({ password_hash: passwordHash })) === 1;
    },

    async rename(id: string, name: string): Promise<boolean> {
      return (await db.table('people').where({ id }).update({ name })) === 1;
    },

    /** Whether another person uses `email` (in any case). */
    async emailTakenByOther(id: string, email: string): Promise<boolean> {
      return (await db.table('people').whereRaw('lower(email) = lower(?)', [email]).whereNot({ id }).first('id')) !== undefined;
    },

    /** Makes `email` the person's, confirmed at `at`. */
    async replaceEmail(id: string, email: string, at: Date): Promise<boolean> {
      return (await db.table('people').where({ id }).update({ email, email_verified_at: at })) === 1;
    },

    async findPerson(id: string): Promise<PersonRow | undefined> {
      const [person] = await db.query<PersonRow>(FIND_PERSON, [id]);
      return person;
    },
  };
}
