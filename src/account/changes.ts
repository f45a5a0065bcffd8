/**
 * What the person changes on /account: their name; their password (the current one first, wrong
 * ones limited like sign-in, OWASP Authentication Cheat Sheet "Change password feature"); their
 * email, which changes only when a link mailed to the new address is followed (so the address is
 * proven theirs and `email_verified` stays true, OIDC Core §5.1) while the old address is told at
 * once; and their signed-in devices: oidc-provider's sessions of the person, each with the
 * browser it was seen from, ended one at a time or all at once. Ending a session ends every
 * authorization that lasted only while it did (as a reset does); offline ones stay.
 */
import { randomUUID } from 'node:crypto';
import type { Person } from '../accounts/person';
import type { Core, SessionVisit } from '../feature';
import { Invalid, NotFound, WrongCredentials } from '../errors';
import { log } from '../log';
import type { Mailer, OutgoingMail } from '../mail';
import { credentialKey } from '../security/credential-keys';
import type { Limit, Rate } from '../security/limiters';
import { hashSecret, randomToken } from '../security/secrets';
import { browserOf } from './browsers';
import type { LinkStore } from './store';
import { emailChangeMail, emailChangeNotice, VERIFY_LINK_DAYS, WRONG_CURRENT_PASSWORD } from './words';

/** A signed-in device as the account page lists it. */
export type Device = { sessionUid: string; browser: string; startedAt: Date | undefined; lastUsedAt: Date | undefined; current: boolean };

type Deps = Pick<Core, 'db' | 'audit' | 'authorizations' | 'oidcStorage'> & {
  accounts: Pick<Core['accounts'], 'rename' | 'passwordMatches' | 'replacePassword'>;
  links: LinkStore;
  mailer: Mailer;
  issuer: string;
  clock: () => Date;
  limits: { password: Limit; emailChange: Rate };
};

/** How often one session's last use is written (a page view in between changes nothing shown). */
const SEEN_EVERY_MS = 60_000;

export function createAccountChanges({ db, audit, accounts, authorizations, oidcStorage, links, mailer, issuer, clock, limits }: Deps) {
  /** When each session was last written as seen, so most requests write nothing. */
  const lastWritten = new Map<string, number>();

  const send = async (mail: OutgoingMail) => {
    await mailer
      .send(mail)
      .catch((error: unknown) => log.error('an account mail could not be sent', { purpose: 'email', error: error instanceof Error ? error.name : 'unknown' }));
  };

  /** Ends sessions of a person (in the current transaction), each with the online authorizations bound to it. */
  const ended = async (sessionUids: readonly string[]) => {
    for (const sessionUid of sessionUids) await authorizations.signedOut(sessionUid);
    await links.forgetDevices(sessionUids);
    for (const sessionUid of sessionUids) lastWritten.delete(sessionUid);
  };

  return {
    /** Ends every sign-in session of a person, with their online authorizations; how many there were. */
    async signOutEverywhere(personId: string, kind = 'account.signed_out_everywhere'): Promise<number> {
      return db.transaction(async () => {
        const sessions = await oidcStorage.endSessionsOf(personId);
        await ended(sessions);
        await audit.append({ subject: `person:${personId}`, kind, personId, details: { sessions_ended: sessions.length } });
        return sessions.length;
      });
    },

    /**
     * **Sign out** on one device of the list.
     * @throws NotFound when that session is not the person's or has ended already.
     */
    async signOut(personId: string, sessionUid: string): Promise<void> {
      await db.transaction(async () => {
        if (!(await oidcStorage.endSessionOf(personId, sessionUid))) throw new NotFound('That device is already signed out.');
        await ended([sessionUid]);
        await audit.append({ subject: `person:${personId}`, kind: 'account.signed_out_device', personId });
      });
    },

    /** The person's live sessions, newest first, the one of this request marked. */
    async devices(personId: string, currentUid: string | undefined): Promise<Device[]> {
      const sessions = await oidcStorage.sessionsOf(personId);
      const seen = new Map(
        (
          await links.devicesOf(
            personId,
            sessions.map((session) => session.uid),
          )
        ).map((row) => [row.session_uid, row]),
      );
      return sessions
        .map((session) => ({
          sessionUid: session.uid,
          browser: seen.get(session.uid)?.browser ?? browserOf(undefined),
          startedAt: session.signedInAt,
          lastUsedAt: seen.get(session.uid)?.last_used_at ?? session.signedInAt,
          current: session.uid === currentUid,
        }))
        .sort((a, b) => Number(b.current) - Number(a.current) || (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0));
    },

    /** Notes the browser and last use of a signed-in person's session (at most once a minute per session). */
    async seen(visit: SessionVisit): Promise<void> {
      const now = clock();
      const last = lastWritten.get(visit.sessionUid);
      if (last !== undefined && now.getTime() - last < SEEN_EVERY_MS) return;
      if (lastWritten.size > 100_000) lastWritten.clear();
      lastWritten.set(visit.sessionUid, now.getTime());
      // A note that could not be written costs the devices list a moment of accuracy, never the page.
      await links
        .deviceSeen(visit.sessionUid, visit.personId, browserOf(visit.userAgent), now)
        .catch((error: unknown) => log.warn('a device could not be noted', { error: error instanceof Error ? error.name : 'unknown' }));
    },

    async rename(person: Person, name: string): Promise<void> {
      if (name === person.name) return;
      await db.transaction(async () => {
        await accounts.rename(person.id, name);
        await audit.append({ subject: `person:${person.id}`, kind: 'account.renamed', personId: person.id });
      });
    },

    /**
     * **Change password**: the current password first (wrong ones counted per person), then the
     * new one. The person stays signed in where they are (`keep`); every other session ends with its
     * online authorizations, so whoever knew the old password is out (OWASP Session Management
     * Cheat Sheet, "Renew the session ID after any privilege level change").
     * @throws WrongCredentials for a wrong current password; TooManyAttempts when locked.
     */
    async changePassword(person: Person, current: string, next: string, keep: string | undefined): Promise<void> {
      const attempt = await limits.password.take(person.id);
      if (!(await accounts.passwordMatches(person.id, current))) {
        await attempt.failed();
        throw new WrongCredentials(WRONG_CURRENT_PASSWORD);
      }
      await limits.password.reset(person.id);
      if (current === next) throw new Invalid('The new password is the same as the current one.');
      const passwordHash = await hashSecret(next);
      await db.transaction(async () => {
        await accounts.replacePassword(person.id, passwordHash);
        const others = (await oidcStorage.sessionsOf(person.id)).map((session) => session.uid).filter((uid) => uid !== keep);
        for (const uid of others) await oidcStorage.endSessionOf(person.id, uid);
        await ended(others);
        const details = { sessions_ended: others.length };
        await audit.append({ subject: `person:${person.id}`, kind: 'account.password_changed', personId: person.id, details });
      });
    },

    /**
     * **Change email**: a link to the new address (it changes when followed) and a notice to the old
     * one. An address another account uses gets the same answer here (the link then says it is taken).
     */
    async askEmailChange(person: Person, email: string): Promise<void> {
      if (email.toLowerCase() === person.email.toLowerCase()) throw new Invalid('That is already your email.');
      await limits.emailChange.consume(person.id);
      const token = randomToken();
      const now = clock();
      await links.insert({
        id: randomUUID(),
        personId: person.id,
        purpose: 'email',
        tokenHash: credentialKey(token),
        email,
        expiresAt: new Date(now.getTime() + VERIFY_LINK_DAYS * 24 * 3600_000),
      });
      await send(emailChangeMail(email, person.name, `${issuer}/account/verify?token=${token}`));
      await send(emailChangeNotice(person.email, person.name, email));
    },
  };
}

export type AccountChanges = ReturnType<typeof createAccountChanges>;
