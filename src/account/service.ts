/**
 * The person's account links: the email verification mailed at registration (and again on
 * request), and password recovery. Each link is a 256-bit random token mailed once and stored only
 * as its SHA-256 (security/credential-keys.ts), with an expiry; following it marks it used in the
 * statement that checks it, so it works once.
 *
 * Recovery answers a known and an unknown email alike by doing the same work on both paths: both
 * limits counted, the same lookup, a token made and its row written (for an unknown email a row
 * without a person, which can never be used), and one mail queued — the link for a known email, a
 * mail saying no account uses the address for an unknown one (OWASP Forgot Password Cheat Sheet).
 * A reset ends every sign-in session of the person, and with them every authorization that lasted
 * only while they were signed in; offline authorizations stay.
 */
import { randomUUID } from 'node:crypto';
import type { Person } from '../accounts/person';
import type { SecondStep } from '../accounts/service';
import type { Core } from '../feature';
import { Conflict, Invalid, NotFound, TooManyAttempts } from '../errors';
import { isUniqueViolation } from '../db';
import { log } from '../log';
import type { Mailer, OutgoingMail } from '../mail';
import { credentialKey } from '../security/credential-keys';
import type { Rate } from '../security/limiters';
import { hashSecret, randomToken } from '../security/secrets';
import type { LinkPurpose, LinkStore } from './store';
import {
  CODE_NEEDED,
  EMAIL_TAKEN,
  emailTakenMail,
  LINK_ENDED,
  noAccountMail,
  resetMail,
  RESET_LINK_MINUTES,
  verificationMail,
  VERIFY_LINK_DAYS,
} from './words';

/** An app that keeps reaching a record while the person is away. */
export type OfflineApp = { name: string; record: string };

type Deps = Pick<Core, 'db' | 'audit' | 'accounts' | 'authorizations' | 'oidcStorage' | 'records'> & {
  links: LinkStore;
  mailer: Mailer;
  issuer: string;
  clock: () => Date;
  limits: { resend: Rate; recoverAddress: Rate; recoverEmail: Rate; emailTaken: Rate };
  /** The second step of sign-in: a person who turned it on gives it before a reset's new password counts. */
  secondStep: SecondStep;
};

const LIFETIME_MS: Readonly<Record<LinkPurpose, number>> = {
  verify: VERIFY_LINK_DAYS * 24 * 3600_000,
  reset: RESET_LINK_MINUTES * 60_000,
  email: VERIFY_LINK_DAYS * 24 * 3600_000,
};

/** A link's token is base64url of 32 random bytes; anything else is not worth a lookup. */
const TOKEN = /^[\w-]{43}$/;

export function createAccountLinks({ db, audit, accounts, authorizations, oidcStorage, records, links, mailer, issuer, clock, limits, secondStep }: Deps) {
  /** Writes a new link's row and returns its token (shown to nobody but the mail). */
  const newLink = async (personId: string | null, purpose: LinkPurpose, email: string): Promise<string> => {
    const token = randomToken();
    const now = clock();
    await links.insert({
      id: randomUUID(),
      personId,
      purpose,
      tokenHash: credentialKey(token),
      email,
      expiresAt: new Date(now.getTime() + LIFETIME_MS[purpose]),
    });
    return token;
  };

  /** Sends a mail; a mail server that fails is logged (never the mail), the request goes on the same. */
  const send = async (mail: OutgoingMail, purpose: LinkPurpose) => {
    await mailer
      .send(mail)
      .catch((error: unknown) => log.error('an account mail could not be sent', { purpose, error: error instanceof Error ? error.name : 'unknown' }));
  };

  /** A new verification link for the person, as a mail. */
  const verificationFor = async (person: Person) => {
    const token = await newLink(person.id, 'verify', person.email);
    return verificationMail(person.email, person.name, `${issuer}/account/verify?token=${token}`);
  };

  return {
    /** The verification link a registration owes; throws when the mail did not go out, so it is sent again. */
    async mailVerification(person: Person): Promise<void> {
      await mailer.send(await verificationFor(person));
    },

    /**
     * Tells the owner of an email that someone tried to register it again — at most once per
     * `register-taken-person` window, so nobody can flood a person's mailbox by registering their
     * email; throws when the mail did not go out, so it is tried again — and then, the window
     * already counted, not sent before it ends: the owner learns nothing they must act on from it.
     */
    async mailEmailTaken(person: Person): Promise<void> {
      try {
        await limits.emailTaken.consume(person.id);
      } catch (error) {
        if (error instanceof TooManyAttempts) return;
        throw error;
      }
      await mailer.send(emailTakenMail(person.email, person.name, `${issuer}/login`, `${issuer}/account/recover`));
    },

    /** **Send the link again**, limited per person. Nothing to send once the email is confirmed. */
    async resend(person: Person): Promise<void> {
      if (person.emailVerified) return;
      await limits.resend.consume(person.id);
      await send(await verificationFor(person), 'verify');
    },

    /** When the newest verification link went to the person. */
    lastVerificationSent(person: Person): Promise<Date | undefined> {
      return links.lastSent(person.id, 'verify');
    },

    /**
     * Follows a verification link: once, before it expires, and only while the email it went to
     * is still the person's; or a link mailed to a new address, which makes it the person's email,
     * confirmed. The email it confirmed.
     * @throws NotFound when the link is unknown, used or expired; Conflict when another account
     * took the new address meanwhile.
     */
    async verify(token: string): Promise<string> {
      if (!TOKEN.test(token)) throw new NotFound(LINK_ENDED);
      const now = clock();
      try {
        return await db.transaction(async () => {
          const used = await links.use(credentialKey(token), ['verify', 'email'], now);
          if (!used) throw new NotFound(LINK_ENDED);
          if (used.purpose === 'email') {
            // A change of email: the address becomes the person's, proven by this very link.
            if (!(await accounts.changeEmail(used.person_id, used.email, now))) throw new Conflict(EMAIL_TAKEN);
            await links.useAllOf(used.person_id, 'email', now);
            await audit.append({ subject: `person:${used.person_id}`, kind: 'account.email_changed', personId: used.person_id });
            return used.email;
          }
          if (!(await accounts.confirmEmail(used.person_id, used.email, now))) throw new NotFound(LINK_ENDED);
          await audit.append({ subject: `person:${used.person_id}`, kind: 'account.email_verified', personId: used.person_id });
          return used.email;
        });
      } catch (error) {
        // Another account took the address between the check and the change.
        if (isUniqueViolation(error)) throw new Conflict(EMAIL_TAKEN);
        throw error;
      }
    },

    /**
     * **Send link** on /account/recover: the same work, and the same answer, whether or not an
     * account uses `email`.
     */
    async recover(email: string, address: string): Promise<void> {
      await limits.recoverAddress.consume(address);
      await limits.recoverEmail.consume(email);
      const person = await accounts.findByEmail(email);
      const token = await newLink(person?.id ?? null, 'reset', email);
      const mail = person ? resetMail(person.email, person.name, `${issuer}/account/reset?token=${token}`) : noAccountMail(email, `${issuer}/account/recover`);
      await send(mail, 'reset');
    },

    /** Whether a reset link can still be used (the form is shown only then). */
    async resetLinkIsLive(token: string): Promise<boolean> {
      return TOKEN.test(token) && links.isLive(credentialKey(token), 'reset', clock());
    },

    /** Whether a live reset link's person must give their second step with the new password. */
    async resetNeedsSecondStep(token: string): Promise<boolean> {
      const owner = TOKEN.test(token) ? await links.ownerOfLive(credentialKey(token), 'reset', clock()) : undefined;
      return owner !== undefined && (await secondStep.isOn(owner));
    },

    /** Whether a live reset link's person can give that second step with a passkey. */
    async resetOffersPasskey(token: string): Promise<boolean> {
      const owner = TOKEN.test(token) ? await links.ownerOfLive(credentialKey(token), 'reset', clock()) : undefined;
      return owner !== undefined && secondStep.passkeys !== undefined && (await secondStep.passkeys.has(owner));
    },

    /** A passkey ceremony's options for the person of a live reset link (their passkeys), or `undefined` for a link that no longer works. */
    async resetPasskeyOptions(token: string): Promise<unknown> {
      const owner = TOKEN.test(token) ? await links.ownerOfLive(credentialKey(token), 'reset', clock()) : undefined;
      if (owner === undefined || !secondStep.passkeys) return undefined;
      return secondStep.passkeys.options({ personId: owner });
    },

    /**
     * **Save password** on a reset link: once, within its 30 minutes. With two-step sign-in on, the
     * second step (a code from the authenticator app, a recovery code, or a passkey) is checked first, so a
     * stolen mailbox alone cannot take the account. In one transaction: the link
     * (and every other reset link of the person) used, the new password, the email confirmed (the
     * link proved it), every sign-in session ended with the online authorizations bound to them,
     * and the audit line. The person's id.
     * @throws NotFound when the link is unknown, used or expired; Invalid without the code it needs;
     * WrongCredentials or TooManyAttempts for a wrong code.
     */
    async reset(token: string, password: string, second: { code: string; passkey?: string | undefined }): Promise<string> {
      if (!TOKEN.test(token)) throw new NotFound(LINK_ENDED);
      const owner = await links.ownerOfLive(credentialKey(token), 'reset', clock());
      if (!owner) throw new NotFound(LINK_ENDED);
      if (await secondStep.isOn(owner)) {
        if (second.passkey && secondStep.passkeys) {
          await secondStep.passkeys.verify(second.passkey, { personId: owner });
        } else {
          if (!second.code.trim()) throw new Invalid(CODE_NEEDED, 'code_needed');
          await secondStep.check(owner, second.code);
        }
      }
      // argon2id before the transaction, so it holds no connection while hashing.
      const passwordHash = await hashSecret(password);
      const now = clock();
      return db.transaction(async () => {
        const used = await links.use(credentialKey(token), 'reset', now);
        if (!used) throw new NotFound(LINK_ENDED);
        await links.useAllOf(used.person_id, 'reset', now);
        await accounts.replacePassword(used.person_id, passwordHash);
        await accounts.confirmEmail(used.person_id, used.email, now);
        const sessions = await oidcStorage.endSessionsOf(used.person_id);
        for (const sessionUid of sessions) await authorizations.signedOut(sessionUid);
        await links.forgetDevices(sessions);
        await audit.append({
          subject: `person:${used.person_id}`,
          kind: 'account.password_reset',
          personId: used.person_id,
          details: { sessions_ended: sessions.length },
        });
        return used.person_id;
      });
    },

    /** The apps with offline access to the records a person holds (they outlive a reset). */
    async offlineApps(personId: string): Promise<OfflineApp[]> {
      const held = await records.recordsOf(personId);
      const apps = await authorizations.connectedApps(held.map((record) => record.id));
      const names = new Map(held.map((record) => [record.id, record.name]));
      return apps.filter((app) => app.access === 'offline').map((app) => ({ name: app.name, record: names.get(app.recordId) ?? '' }));
    },
  };
}

export type AccountLinks = ReturnType<typeof createAccountLinks>;
