/**
 * People: registration (which opens their own record) and sign-in with limits on guessing.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import { isUniqueViolation, type Database } from '../db';
import { Conflict, WrongCredentials } from '../errors';
import { isUuid } from '../ids';
import type { RecordService } from '../records/service';
import { createLimit } from '../security/rate-limits';
import { hashSecret, verifySecret } from '../security/secrets';
import type { RegistrationForm, SignInForm } from './schemas';
import { createAccountStore, type PersonRow } from './store';

export const WRONG_CREDENTIALS = 'The email or password is wrong.';

export type Person = { id: string; email: string; name: string };

function toPerson(row: PersonRow): Person {
  return { id: row.id, email: row.email, name: row.name };
}

export function createAccountService(db: Database, records: RecordService, config: Pick<Config, 'signIn'>) {
  const store = createAccountStore(db);
  const { failuresPerAccount, failuresPerAddress, lockDuration } = config.signIn;
  const accountLimit = createLimit(db, {
    prefix: 'signin-account',
    points: failuresPerAccount,
    duration: lockDuration,
    lockDuration,
    message: 'Too many wrong passwords for this account.',
  });
  const addressLimit = createLimit(db, {
    prefix: 'signin-address',
    points: failuresPerAddress,
    duration: lockDuration,
    lockDuration,
    message: 'Too many sign-in attempts from your network.',
  });
  const registrationLimit = createLimit(db, {
    prefix: 'register-address',
    points: failuresPerAddress,
    duration: 3600,
    lockDuration: 3600,
    message: 'Too many accounts were created from your network.',
  });

  return {
    /**
     * Creates a person and opens their own record (a FHIR Patient with their name), in one transaction.
     * @throws Conflict when the email is taken.
     */
    async register(form: RegistrationForm, address: string): Promise<Person> {
      await registrationLimit.assertOpen(address);
      const person = { id: randomUUID(), email: form.email, name: form.name };
      const passwordHash = await hashSecret(form.password);
      try {
        await db.transaction(async () => {
          await store.insertPerson({ ...person, password_hash: passwordHash });
          await records.open(person, { name: form.name, birthDate: undefined, relationship: 'self' });
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new Conflict('An account with this email already exists. Sign in instead.', 'email_taken');
        throw error;
      }
      // Every registration counts, so one address cannot mint accounts without end.
      await registrationLimit.recordFailure(address).catch(() => undefined);
      return person;
    },

    /**
     * Checks an email and password. Failures say only that the pair is wrong, and count against
     * both the account and the client address; either limit locks further attempts.
     */
    async authenticate(form: SignInForm, address: string): Promise<Person> {
      const accountKey = form.email;
      await addressLimit.assertOpen(address);
      await accountLimit.assertOpen(accountKey);
      const row = form.email ? await store.findPersonByEmail(form.email) : undefined;
      if (row && (await verifySecret(row.password_hash, form.password))) {
        await accountLimit.reset(accountKey);
        return toPerson(row);
      }
      if (!row) await verifySecret(undefined, form.password);
      await addressLimit.recordFailure(address);
      await accountLimit.recordFailure(accountKey);
      throw new WrongCredentials(WRONG_CREDENTIALS);
    },

    async findPerson(id: string): Promise<Person | undefined> {
      if (!isUuid(id)) return undefined;
      const row = await store.findPerson(id);
      return row ? toPerson(row) : undefined;
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
