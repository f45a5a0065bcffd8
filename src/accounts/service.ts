/**
 * People: registration (which opens their own record) and sign-in with limits on guessing that
 * cannot be turned against the person (OWASP Authentication Cheat Sheet, "Account lockout"):
 * - wrong passwords for one account from one address lock that address out of that account;
 * - wrong passwords from one address across accounts lock that address out;
 * - wrong passwords for one account from anywhere make addresses that have guessed at it wait
 *   longer and longer (never a lock), while an address that has not guessed — the person at
 *   home — is still heard at once, so knowing someone's email is not enough to lock them out.
 * Registrations (failed ones too) count against the address, and an email already taken costs the
 * same work and gets the same answer as a new one by construction: the same lookup, hash and writes
 * run on both paths (a taken email's person and record are then undone), and each writes one mail in
 * the same transaction — the new person's verification link, or a word to the taken email's owner.
 * The mail is sent after the request is answered, by whoever listens (`onRegistrationMail`, the
 * account feature), and kept until it went out (a sweep sends what a crash or a failed send left),
 * so a slow mail server neither slows registration nor tells which path ran.
 */
import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Database } from '../db';
import { WrongCredentials } from '../errors';
import { isUuid } from '../ids';
import type { RecordService } from '../records/service';
import { settleAll, takeAll } from '../security/limiters';
import type { RateLimits } from '../security/rate-limits';
import { log } from '../log';
import { hashSecret, verifySecret } from '../security/secrets';
import type { RegistrationForm, SignInForm } from './schemas';
import type { Person } from './person';
import { createAccountStore, type PersonRow, type RegistrationMailKind } from './store';

const WRONG_CREDENTIALS = 'The email or password is wrong.';

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

/** A mail a registration owes: the new person's verification link, or a word to the owner of a taken email. */
type RegistrationMail = { kind: RegistrationMailKind; person: Person };

/** Sends a registration's mail; throws when it did not go out, so it is tried again. */
type RegistrationMailListener = (mail: RegistrationMail) => Promise<void>;

/** How long a sender holds a registration mail it took before another may try it. */
const MAIL_LEASE_SECONDS = 300;
/** A registration mail that failed this often is given up (and logged). */
const MAIL_ATTEMPTS = 5;

export function createAccountService(db: Database, records: RecordService, limits: RateLimits) {
  const store = createAccountStore(db);
  const pairLimit = limits.lock('signin-account-address');
  const accountBackoff = limits.backoff('signin-account');
  const addressLimit = limits.lock('signin-address');
  const registrationLimit = limits.lock('register-address');
  const mailListeners: RegistrationMailListener[] = [];
  const sending = new Set<Promise<unknown>>();
  let secondStep: SecondStep | undefined;

  const sendOwedMail = async (): Promise<number> => {
    let sent = 0;
    for (let due = await store.takeRegistrationMail(MAIL_LEASE_SECONDS); due; due = await store.takeRegistrationMail(MAIL_LEASE_SECONDS)) {
      const row = await store.findPerson(due.person_id);
      try {
        if (row) for (const listener of mailListeners) await listener({ kind: due.kind, person: toPerson(row) });
        await store.deleteRegistrationMail(due.id);
        sent += 1;
      } catch (error) {
        // Only the kind of failure is logged: a mailer's error may quote the address.
        const failure = { kind: due.kind, attempts: due.attempts, error: error instanceof Error ? error.name : 'unknown' };
        if (due.attempts < MAIL_ATTEMPTS) log.warn('a registration mail could not be sent; it is tried again later', failure);
        else {
          log.error('a registration mail could not be sent and is given up', failure);
          await store.deleteRegistrationMail(due.id);
        }
      }
    }
    return sent;
  };

  /** Sends the owed mail once the request that registered has been answered, never holding it. */
  const sendSoon = () => {
    const sent: Promise<unknown> = new Promise((resolve) => setImmediate(resolve))
      .then(sendOwedMail)
      .catch((error: unknown) => log.warn('registration mail could not be taken', { error: error instanceof Error ? error.name : 'unknown' }))
      .finally(() => sending.delete(sent));
    sending.add(sent);
  };

  return {
    /**
     * Creates a person and opens their own record (a FHIR Patient with their name), in one
     * transaction that also writes the mail the registration owes; an email already taken gets the
     * same work and a mail to its owner instead, and the caller the same answer (OWASP
     * Authentication Cheat Sheet, "Authentication and error messages"). The mail is sent after the
     * caller answered (`sendOwedMail`). Answers the id the registration tried: the new person's,
     * or, for a taken email, an id nobody holds.
     */
    async register(form: RegistrationForm, address: string): Promise<string> {
      // Every registration counts as a failure, taken emails included, so one address can neither
      // mint accounts nor probe for emails without end. Counted before the work, outside the transaction.
      await (await registrationLimit.take(address)).failed();
      const person: Person = { id: randomUUID(), email: form.email, name: form.name, emailVerified: false };
      const owner = await store.findPersonByEmail(form.email);
      const passwordHash = await hashSecret(form.password);
      try {
        await db.transaction(async () => {
          // A taken email runs the same writes under an address nobody holds, then undoes them; the
          // mail it owes (to the owner) is written after, on both paths alike, and stays.
          await store.markRegistrationWrites();
          await store.insertPerson({ id: person.id, name: person.name, email: owner ? `${person.id}@taken.invalid` : form.email, password_hash: passwordHash });
          await records.open(person, { name: form.name, birthDate: undefined, relationship: 'self' });
          await store.endRegistrationWrites(owner === undefined);
          await store.insertRegistrationMail({ id: randomUUID(), person_id: owner?.id ?? person.id, kind: owner ? 'email_taken' : 'registered' });
        });
      } catch (error) {
        // A registration of the same email committed in between: the email is taken after all.
        if (!isUniqueViolation(error)) throw error;
        const winner = await store.findPersonByEmail(form.email);
        if (winner) await store.insertRegistrationMail({ id: randomUUID(), person_id: winner.id, kind: 'email_taken' });
      }
      sendSoon();
      return person.id;
    },

    /** Registers a listener handed each mail a registration owes; it throws when the mail did not go out. */
    onRegistrationMail(listener: RegistrationMailListener): void {
      mailListeners.push(listener);
    },

    /** Sends every registration mail that is due (the sweep's part: mail a crash or a failed send left); how many went out. */
    sendOwedMail,

    /** Waits until the mail the registrations so far set off is sent (before the database closes, say). */
    async settled(): Promise<void> {
      while (sending.size > 0) await Promise.all(sending);
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
