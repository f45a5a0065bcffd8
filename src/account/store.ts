/**
 * SQL for the links the account mails: each kept as the SHA-256 of its token (never the token), its
 * purpose, the email it was sent to, its expiry and when it was used. Using one is a single
 * conditional update, so two uses of the same link race to one winner. Also the devices a person's
 * sign-in sessions were seen from (a short browser summary and the last use).
 */
import type { Database } from '../db';

export type LinkPurpose = 'verify' | 'reset' | 'email';

export type NewLink = { id: string; personId: string | null; purpose: LinkPurpose; tokenHash: string; email: string; expiresAt: Date };

/** A used link: whose it was and the email it went to. */
export type UsedLink = { person_id: string; email: string; purpose: LinkPurpose };

/** A device a sign-in session was seen from. */
export type DeviceRow = { session_uid: string; browser: string; last_used_at: Date };

export function createLinkStore(db: Database) {
  /** Links of a purpose that a person could still follow at `now`. */
  const live = (purpose: LinkPurpose | readonly LinkPurpose[], now: Date) =>
    db
      .table('account_links')
      .whereIn('purpose', typeof purpose === 'string' ? [purpose] : purpose)
      .whereNull('used_at')
      .whereNotNull('person_id')
      .where('expires_at', '>', now);

  return {
    async insert(link: NewLink): Promise<void> {
      await db.table('account_links').insert({
        id: link.id,
        person_id: link.personId,
        purpose: link.purpose,
        token_hash: link.tokenHash,
        email: link.email,
        expires_at: link.expiresAt,
      });
    },

    /** Whether a link could be used now (the page before the form that uses it). */
    async isLive(tokenHash: string, purpose: LinkPurpose, now: Date): Promise<boolean> {
      return (await live(purpose, now).where({ token_hash: tokenHash }).first('id')) !== undefined;
    },

    /** The person a live link of a purpose belongs to, if it is live. */
    async ownerOfLive(tokenHash: string, purpose: LinkPurpose, now: Date): Promise<string | undefined> {
      const row = (await live(purpose, now).where({ token_hash: tokenHash }).first('person_id')) as { person_id: string } | undefined;
      return row?.person_id;
    },

    /** Marks a live link of one of the purposes used, once: its person, email and purpose, or `undefined` when it was not live. */
    async use(tokenHash: string, purpose: LinkPurpose | readonly LinkPurpose[], now: Date): Promise<UsedLink | undefined> {
      const [row] = (await live(purpose, now).where({ token_hash: tokenHash }).update({ used_at: now }, ['person_id', 'email', 'purpose'])) as UsedLink[];
      return row;
    },

    /** Ends every other live link of a purpose a person holds (a reset leaves no second way in). */
    async useAllOf(personId: string, purpose: LinkPurpose, now: Date): Promise<void> {
      await live(purpose, now).where({ person_id: personId }).update({ used_at: now });
    },

    /** When the newest link of a purpose was sent to the person, if ever. */
    async lastSent(personId: string, purpose: LinkPurpose): Promise<Date | undefined> {
      const row = (await db.table('account_links').where({ person_id: personId, purpose }).max({ at: 'created_at' }).first()) as
        { at: Date | null } | undefined;
      return row?.at ?? undefined;
    },

    /** Notes that a sign-in session was used from a browser now (the first browser seen stays). */
    async deviceSeen(sessionUid: string, personId: string, browser: string, at: Date): Promise<void> {
      await db
        .table('account_devices')
        .insert({ session_uid: sessionUid, person_id: personId, browser, last_used_at: at })
        .onConflict('session_uid')
        .merge(['last_used_at']);
    },

    /** The devices a person's sessions were seen from, among `sessionUids`. */
    async devicesOf(personId: string, sessionUids: readonly string[]): Promise<DeviceRow[]> {
      if (sessionUids.length === 0) return [];
      return db.table('account_devices').where({ person_id: personId }).whereIn('session_uid', sessionUids).select('session_uid', 'browser', 'last_used_at');
    },

    async forgetDevices(sessionUids: readonly string[]): Promise<void> {
      if (sessionUids.length > 0) await db.table('account_devices').whereIn('session_uid', sessionUids).delete();
    },

    /** Deletes links that ended more than a day ago (used or expired). */
    async sweep(now: Date): Promise<number> {
      const before = new Date(now.getTime() - 24 * 3600_000);
      const links = await db.table('account_links').where('expires_at', '<', before).delete();
      // A device unused for longer than any session lives (oidc-provider's 14 days) has no session left.
      await db
        .table('account_devices')
        .where('last_used_at', '<', new Date(now.getTime() - 30 * 24 * 3600_000))
        .delete();
      return links;
    },
  };
}

export type LinkStore = ReturnType<typeof createLinkStore>;

/** A custodian to email that a message arrived: their email (confirmed) and the record. */
export type MessageMailRow = { person_id: string; email: string; record_id: string };

/** Who asked to be emailed when a Direct message arrives (a row per person who turned it on). */
export function createMessageMailStore(db: Database) {
  return {
    async isOn(personId: string): Promise<boolean> {
      return (await db.table('message_mail').where({ person_id: personId }).first('person_id')) !== undefined;
    },

    /** Turns it on or off; whether that changed anything (doing what is already done does not). */
    async set(personId: string, on: boolean): Promise<boolean> {
      if (!on) return (await db.table('message_mail').where({ person_id: personId }).delete()) > 0;
      const added = (await db.table('message_mail').insert({ person_id: personId }, ['person_id']).onConflict('person_id').ignore()) as unknown[];
      return added.length > 0;
    },

    /**
     * The people holding these records now (custodians and those a record is shared with, until
     * their share expires) who turned it on and whose email is confirmed, one row per person and record.
     */
    async recipients(recordIds: readonly string[]): Promise<MessageMailRow[]> {
      if (recordIds.length === 0) return [];
      return (await db
        .table('custodianships as c')
        .join('message_mail as m', 'm.person_id', 'c.person_id')
        .join('people as p', 'p.id', 'c.person_id')
        .whereIn('c.record_id', [...recordIds])
        .whereRaw('(c.expires_at is null or c.expires_at > now())')
        .whereNotNull('p.email_verified_at')
        .orderBy(['c.person_id', 'c.record_id'])
        .select({ person_id: 'c.person_id', email: 'p.email', record_id: 'c.record_id' })) as MessageMailRow[];
    },
  };
}

export type MessageMailStore = ReturnType<typeof createMessageMailStore>;
