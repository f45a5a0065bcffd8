/**
 * People: registration (which creates their own record) and sign-in with limits on guessing.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Config } from '../config';
import { insertResource } from '../fhir/store';
import { HttpError } from '../http/errors';
import { createLimit } from '../security/rate-limits';
import { hashSecret, verifySecret } from '../security/secrets';
import type { RecordInCareForm, RegistrationForm, SignInForm } from './schemas';
import { createAccountStore, isUniqueViolation, type PersonRow } from './store';

/** A refusal to show above the form, with the status to answer. */
export class FormRefusal extends HttpError {
  constructor(description: string, status = 400) {
    super(status, 'invalid_form', description);
  }
}

export const WRONG_CREDENTIALS = 'The email or password is wrong.';

export type Person = { id: string; email: string; name: string };

function toPerson(row: PersonRow): Person {
  return { id: row.id, email: row.email, name: row.name };
}

export function createAccountService(knex: Knex, config: Pick<Config, 'signIn'>) {
  const store = createAccountStore(knex);

  /** A new record — one FHIR Patient — and its first custodian, inside the caller's transaction. */
  async function openRecord(
    trx: Knex.Transaction,
    record: { recordId: string; custodianId: string; name: string; birthDate: string | null; relationship: string },
  ): Promise<void> {
    const { recordId } = record;
    const lastUpdated = new Date();
    await store.insertRecord(trx, { id: recordId, name: record.name, birth_date: record.birthDate });
    await store.insertCustodianship(trx, { person_id: record.custodianId, record_id: recordId, relationship: record.relationship });
    await insertResource(trx, {
      type: 'Patient',
      id: recordId,
      record_id: recordId,
      version_id: 1,
      last_updated: lastUpdated,
      content: {
        resourceType: 'Patient',
        id: recordId,
        meta: { versionId: '1', lastUpdated: lastUpdated.toISOString() },
        name: [{ text: record.name }],
        ...(record.birthDate ? { birthDate: record.birthDate } : {}),
      },
    });
  }
  const { failuresPerAccount, failuresPerAddress, lockDuration } = config.signIn;
  const accountLimit = createLimit(knex, {
    prefix: 'signin-account',
    points: failuresPerAccount,
    duration: lockDuration,
    lockDuration,
    message: 'Too many wrong passwords for this account.',
  });
  const addressLimit = createLimit(knex, {
    prefix: 'signin-address',
    points: failuresPerAddress,
    duration: lockDuration,
    lockDuration,
    message: 'Too many sign-in attempts from your network.',
  });
  const registrationLimit = createLimit(knex, {
    prefix: 'register-address',
    points: failuresPerAddress,
    duration: 3600,
    lockDuration: 3600,
    message: 'Too many accounts were created from your network.',
  });

  return {
    /**
     * Creates a person and their own record (a FHIR Patient with their name), in one transaction.
     * @throws FormRefusal when the email is taken.
     */
    async register(form: RegistrationForm, address: string): Promise<Person> {
      await registrationLimit.assertOpen(address);
      const person = { id: randomUUID(), email: form.email, name: form.name, password_hash: await hashSecret(form.password) };
      const recordId = randomUUID();
      try {
        await store.transaction(async (trx) => {
          await store.insertPerson(trx, person);
          await openRecord(trx, { recordId, custodianId: person.id, name: form.name, birthDate: null, relationship: 'self' });
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new FormRefusal('An account with this email already exists. Sign in instead.', 409);
        throw error;
      }
      // Every registration counts, so one address cannot mint accounts without end.
      await registrationLimit.recordFailure(address).catch(() => undefined);
      return { id: person.id, email: person.email, name: person.name };
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
      throw new FormRefusal(WRONG_CREDENTIALS, 401);
    },

    /** Adds a record for someone in the person's care, who becomes its custodian (one transaction). */
    async addRecordInCare(personId: string, form: RecordInCareForm): Promise<string> {
      const recordId = randomUUID();
      await store.transaction((trx) =>
        openRecord(trx, { recordId, custodianId: personId, name: form.name, birthDate: form.birth_date, relationship: form.relationship }),
      );
      return recordId;
    },

    isCustodian(personId: string, recordId: string): Promise<boolean> {
      return store.isCustodian(personId, recordId);
    },

    async findPerson(id: string): Promise<Person | undefined> {
      const row = await store.findPerson(id);
      return row ? toPerson(row) : undefined;
    },

    recordsOf(personId: string) {
      return store.recordsOf(personId);
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
