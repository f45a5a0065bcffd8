/**
 * People: registration (which opens their own record) and sign-in with limits on guessing that
 * cannot be turned against the person (OWASP Authentication Cheat Sheet, "Account lockout"):
 * - wrong passwords for one account from one address lock that address out of that account;
 * - wrong passwords from one address across accounts lock that address out;
 * - wrong passwords for one account from anywhere make addresses that have guessed at it wait
 *   longer and longer (never a lock), while an address that has not guessed — the person at
 *   home — is still heard at once, so knowing someone's email is not enough to lock them out.
 * Registrations (failed ones too) count against the address, and an email already taken costs the
 * same work as a new one by construction: the same lookup, hash and writes run on both paths, and a
 * taken email's writes are then undone.
 * Whoever must act on a new person (the account feature mails a verification link) is told after
 * the registration committed, through `onRegistered`.
 */
import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Database } from '../db';
import { Conflict, WrongCredentials } from '../errors';
import { isUuid } from '../ids';
import type { RecordService } from '../records/service';
import { settleAll, takeAll } from '../security/limiters';
import type { RateLimits } from '../security/rate-limits';
import { log } from '../log';
import { hashSecret, verifySecret } from '../security/secrets';
import type { RegistrationForm, SignInForm } from './schemas';
import type { Person } from './person';
import { createAccountStore, type PersonRow } from './store';

const WRONG_CREDENTIALS = 'The email or password is wrong.';

/** Ends a registration's transaction without keeping its writes. */
class Undone extends Error {}

function toPerson(row: PersonRow): Person {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    emailVerified: row.email_verified_at !== null,
    ...(row.time_zone ? { timeZone: row.time_zone } : {}),
  };
}

/**
 * The second step of sign-in, when a feature offers one: whether a person turned it on, and the
 * check of a code they typed (which kind it was, for the ID token's `amr`).
 */
export type SecondStep = {
  isOn(personId: string): Promise<boolean>;
  check(personId: string, code: string): Promise<'otp' | 'recovery'>;
  /** Passkeys, when the feature offers them: as the second step, and to sign in without a password. */
  passkeys?: PasskeySignIn | undefined;
};

/** Whom a passkey ceremony is for: a known person (their second step), or whoever signs in at this interaction. */
export type PasskeyBinding = { personId: string } | { interaction: string };

/** Signing in with a passkey (WebAuthn): the options the browser needs, and the check of its answer. */
export type PasskeySignIn = {
  /** Whether the person has a passkey (the second step then offers one). */
  has(personId: string): Promise<boolean>;
  /** The options for navigator.credentials.get(), with a new challenge bound to `bound`. */
  options(bound: PasskeyBinding): Promise<unknown>;
  /**
   * Checks the browser's answer (its JSON text): who signed in, and whether the passkey is synced
   * (`swk`) or bound to its device (`hwk`), for `amr`.
   * @throws Invalid when the challenge ended or the answer is missing; WrongCredentials for a passkey not accepted.
   */
  verify(answer: string, bound: PasskeyBinding): Promise<{ personId: string; kind: 'hwk' | 'swk' }>;
};

/** Told of each person who registered, after the commit; a failure is logged, the registration stands. */
type RegisteredListener = (person: Person) => Promise<void>;

export function createAccountService(db: Database, records: RecordService, limits: RateLimits) {
  const store = createAccountStore(db);
  const pairLimit = limits.lock('signin-account-address');
  const accountBackoff = limits.backoff('signin-account');
  const addressLimit = limits.lock('signin-address');
  const registrationLimit = limits.lock('register-address');
  const registeredListeners: RegisteredListener[] = [];
  let secondStep: SecondStep | undefined;

  return {
    /**
     * Creates a person and opens their own record (a FHIR Patient with their name), in one transaction.
     * @throws Conflict when the email is taken.
     */
    async register(form: RegistrationForm, address: string): Promise<Person> {
      // Every registration counts as a failure, taken emails included, so one address can neither
      // mint accounts nor probe for emails without end. Counted before the work, outside the transaction.
      await (await registrationLimit.take(address)).failed();
      const person: Person = { id: randomUUID(), email: form.email, name: form.name, emailVerified: false };
      const taken = (await store.findPersonByEmail(form.email)) !== undefined;
      const passwordHash = await hashSecret(form.password);
      try {
        await db.transaction(async () => {
          // A taken email runs the same writes under an address nobody holds, then undoes them.
          await store.insertPerson({ id: person.id, name: person.name, email: taken ? `${person.id}@taken.invalid` : form.email, password_hash: passwordHash });
          await records.open(person, { name: form.name, birthDate: undefined, relationship: 'self' });
          if (taken) throw new Undone();
        });
      } catch (error) {
        // A unique violation is a registration of the same email that committed in between.
        if (error instanceof Undone || isUniqueViolation(error))
          throw new Conflict('An account with this email already exists. Sign in instead.', 'email_taken');
        throw error;
      }
      for (const listener of registeredListeners) {
        // Only the kind of failure is logged: a listener's error may quote what it was handling.
        await listener(person).catch((error: unknown) =>
          log.error('a registration listener failed', { person: person.id, error: error instanceof Error ? error.name : 'unknown' }),
        );
      }
      return person;
    },

    /** Registers a listener told of every new person (after the commit). */
    onRegistered(listener: RegisteredListener): void {
      registeredListeners.push(listener);
    },

    /** Offers a second step of sign-in (one feature does). */
    useSecondStep(step: SecondStep): void {
      secondStep = step;
    },

    /** The second step of sign-in, if a feature offers one. */
    secondStep(): SecondStep | undefined {
      return secondStep;
    },

    /** Whether the person must give a second step after their password. */
    async secondStepOn(personId: string): Promise<boolean> {
      return secondStep ? secondStep.isOn(personId) : false;
    },

    /** The person using this email, if any (one lookup, the same for a known and an unknown email). */
    async findByEmail(email: string): Promise<Person | undefined> {
      const row = await store.findPersonByEmail(email);
      return row ? toPerson(row) : undefined;
    },

    /** Marks `email` confirmed for the person, if it is still theirs. */
    confirmEmail(personId: string, email: string, at: Date): Promise<boolean> {
      return store.confirmEmail(personId, email, at);
    },

    /** Replaces the person's password hash (hashed by the caller, outside any transaction). */
    replacePassword(personId: string, passwordHash: string): Promise<boolean> {
      return store.replacePassword(personId, passwordHash);
    },

    /** Changes the person's name (what the home page, ID tokens and userinfo say). */
    rename(personId: string, name: string): Promise<boolean> {
      return store.rename(personId, name);
    },

    /**
     * Removes a closed account's person, so their email is free to register again as someone new
     * (in the caller's transaction); whether they were there.
     */
    remove(personId: string): Promise<boolean> {
      return store.deletePerson(personId);
    },

    /** Whether `password` is the person's current one (the account page asks before a change). */
    async passwordMatches(personId: string, password: string): Promise<boolean> {
      return verifySecret((await store.findPerson(personId))?.password_hash, password);
    },

    /**
     * Makes `email` the person's, confirmed at `at` (a link sent to it was followed), unless another
     * person uses it: then false and nothing changes. A registration racing it ends in a unique violation.
     */
    async changeEmail(personId: string, email: string, at: Date): Promise<boolean> {
      if (await store.emailTakenByOther(personId, email)) return false;
      return store.replaceEmail(personId, email, at);
    },

    /**
     * Checks an email and password. Failures say only that the pair is wrong, and count against
     * the address, the account at that address, and the account (growing waits for the addresses
     * that guessed at it).
     */
    async authenticate(form: SignInForm, address: string): Promise<Person> {
      const accountKey = form.email;
      const pairKey = `${form.email}|${address}`;
      const attempts = await takeAll([
        () => addressLimit.take(address),
        () => pairLimit.take(pairKey),
        // Only an address that has guessed at this account waits on the account's backoff.
        (taken) => accountBackoff.take(accountKey, taken[1]?.before === 0),
      ]);
      const row = form.email ? await store.findPersonByEmail(form.email) : undefined;
      if (row && (await verifySecret(row.password_hash, form.password))) {
        await settleAll(attempts, 'giveBack');
        await pairLimit.reset(pairKey);
        return toPerson(row);
      }
      if (!row) await verifySecret(undefined, form.password);
      await settleAll(attempts, 'failed');
      throw new WrongCredentials(WRONG_CREDENTIALS);
    },

    async findPerson(id: string): Promise<Person | undefined> {
      if (!isUuid(id)) return undefined;
      const row = await store.findPerson(id);
      return row ? toPerson(row) : undefined;
    },

    /** Keeps the IANA time zone the person's browser reported (checked by the caller's schema). */
    setTimeZone(personId: string, timeZone: string): Promise<void> {
      return store.setTimeZone(personId, timeZone);
    },

    /** Marks the home page seen now; answers when it was seen before (undefined the first time). */
    async visitHome(personId: string): Promise<Date | undefined> {
      return (await store.visit(personId)) ?? undefined;
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
