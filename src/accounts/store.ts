/**
 * SQL for people: who they are, their password hash, whether their email is confirmed, the time
 * zone their browser reported and when they last saw their home page (and the changes the account
 * page makes to them).
 */
import { statement, type Database } from '../db';

export type PersonRow = {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  email_verified_at: Date | null;
  created_at: Date;
  time_zone?: string | null;
};

/** Every token request for a person reads them (the ID token's and userinfo's claims). */
const FIND_PERSON = statement('select id, email, name, password_hash, email_verified_at, created_at, time_zone from people where id = $1');

/** The home page's visit: the previous one's time comes back as the new one is kept, in one statement. */
const VISIT = statement(`update people p set last_visit_at = now()
   from (select id, last_visit_at from people where id = $1 for update) previous
   where p.id = previous.id
   returning previous.last_visit_at`);

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

    /** Deletes a person (what hangs on them by a foreign key goes with them); whether they were there. */
    async deletePerson(id: string): Promise<boolean> {
      return (await db.table('people').where({ id }).delete()) > 0;
    },

    async findPerson(id: string): Promise<PersonRow | undefined> {
      const [person] = await db.query<PersonRow>(FIND_PERSON, [id]);
      return person;
    },

    async setTimeZone(id: string, timeZone: string): Promise<void> {
      await db.table('people').where({ id }).update({ time_zone: timeZone });
    },

    /** Keeps now as the person's last visit; answers the one before (null on the first). */
    async visit(id: string): Promise<Date | null> {
      const [row] = await db.query<{ last_visit_at: Date | null }>(VISIT, [id]);
      return row?.last_visit_at ?? null;
    },
  };
}
