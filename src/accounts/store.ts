/**
 * SQL for people: who they are, their password hash, whether their email is confirmed, the time
 * zone their browser reported and when they last saw their home page (and the changes the account
 * page makes to them); and the mail each registration owes (`registration_mail`), kept until sent.
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

/** What a registration owes: the new person's verification link, or a word to an email's owner. */
export type RegistrationMailKind = 'registered' | 'email_taken';

export type RegistrationMailRow = { id: string; person_id: string; kind: RegistrationMailKind; attempts: number };

/**
 * Takes the oldest mail that is due, for `leaseSeconds`: no other sender (on this instance or
 * another) takes it meanwhile, and if its sender dies, it is due again when the lease ends.
 */
const TAKE_MAIL = `update registration_mail m set attempts = m.attempts + 1, not_before = now() + make_interval(secs => ?)
   from (select id from registration_mail where not_before <= now() order by created_at limit 1 for update skip locked) due
   where m.id = due.id
   returning m.id, m.person_id, m.kind, m.attempts`;

export function createAccountStore(db: Database) {
  return {
    async insertPerson(person: Omit<PersonRow, 'created_at' | 'email_verified_at'>): Promise<void> {
      await db.table('people').insert(person);
    },

    /**
     * Marks where a registration's person and record writes begin: a taken email's are undone back
     * to here, while the mail the registration owes, written after, stays.
     */
    async markRegistrationWrites(): Promise<void> {
      await db.raw('savepoint registration_writes');
    },

    /** Undoes the writes since `markRegistrationWrites`, or keeps them. */
    async endRegistrationWrites(keep: boolean): Promise<void> {
      await db.raw(keep ? 'release savepoint registration_writes' : 'rollback to savepoint registration_writes');
    },

    async insertRegistrationMail(row: { id: string; person_id: string; kind: RegistrationMailKind }): Promise<void> {
      await db.table('registration_mail').insert(row);
    },

    async takeRegistrationMail(leaseSeconds: number): Promise<RegistrationMailRow | undefined> {
      const { rows } = (await db.raw(TAKE_MAIL, [leaseSeconds])) as { rows: RegistrationMailRow[] };
      return rows[0];
    },

    async deleteRegistrationMail(id: string): Promise<void> {
      await db.table('registration_mail').where({ id }).delete();
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
