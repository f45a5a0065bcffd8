/**
 * Sharing a record with people (HealthVault's "share this record"). The owner, a custodian or
 * someone with Full access invites by email with a level and an optional expiry; the mailed link
 * (kept as its SHA-256 only) works once for 7 days, for a signed-in person who accepts or declines.
 * Ending a share — Stop sharing, Leave, the expiry passing — and lowering a level change the
 * person's link and, in the same transaction, end or trim every app authorization that person made
 * for that record; others' authorizations stay. Every step is an audit line on the record.
 */
import { randomUUID } from 'node:crypto';
import type { Person } from '../accounts/person';
import type { AuditLog } from '../audit/service';
import type { AuthorizationService } from '../authorizations/service';
import type { Database } from '../db';
import { Conflict, Invalid, NotAllowed, NotFound } from '../errors';
import { isUuid } from '../ids';
import { log } from '../log';
import type { Mailer } from '../mail';
import { allows, type SharedLevel } from '../records/access';
import type { RecordService, RecordSummary } from '../records/service';
import { credentialKey } from '../security/credential-keys';
import type { Rate } from '../security/limiters';
import { randomToken } from '../security/secrets';
import { createSharingStore, type HolderRow, type InvitationRow } from './store';
import { INVITATION_DAYS, invitationMail } from './words';

type Deps = {
  db: Database;
  audit: AuditLog;
  records: Pick<RecordService, 'recordFor' | 'accessOf'>;
  findPerson(id: string): Promise<Person | undefined>;
  authorizations: Pick<AuthorizationService, 'accessEnded' | 'accessLowered'>;
  mailer: Mailer;
  issuer: string;
  /** Invitations one person may send: each mails an address they typed. */
  invitations: Rate;
};

/** The sharing page's facts: the record, who holds it, the invitations still open. */
export type SharingPage = { record: RecordSummary; holders: HolderRow[]; pending: InvitationRow[] };

/** An invitation as the invitee sees it before answering. */
export type InvitationView = { recordId: string; recordName: string; inviterName: string; email: string; access: SharedLevel; until: Date | null };

/** What a sweep ends at most per run (the next run takes the rest). */
const EXPIRED_PER_RUN = 200;

const GONE = 'This invitation can no longer be used: it was already answered or withdrawn, or its link has expired. Ask for a new one.';

export function createSharingService({ db, audit, records, findPerson, authorizations, mailer, issuer, invitations }: Deps) {
  const store = createSharingStore(db);

  const nameOf = async (personId: string | null): Promise<string> => (personId ? ((await findPerson(personId))?.name ?? 'Someone') : 'Someone');

  /** A person (not a custodian) holding the record through a share, for a change by someone who may share it. */
  const sharedHolder = async (recordId: string, personId: string): Promise<HolderRow> => {
    const holder = isUuid(personId) ? await store.holderOf(recordId, personId) : undefined;
    if (!holder) throw new NotFound('That person no longer has access to this record.');
    if (holder.access === 'custodian') throw new NotAllowed('The people who look after this record keep their access: it cannot be stopped or changed here.');
    return holder;
  };

  /** The record shared with the person (not one they look after). */
  const shared = async (person: Person, recordId: string): Promise<RecordSummary> => {
    const record = await records.recordFor(person.id, recordId);
    if (record.access === 'custodian') throw new NotAllowed('You look after this record, so there is nothing to leave.');
    return record;
  };

  return {
    /** The sharing page of a record the person may share (owner, custodian, Full). */
    async page(person: Person, recordId: string): Promise<SharingPage> {
      const record = await records.recordFor(person.id, recordId, 'share');
      const [holders, pending] = await Promise.all([store.holdersOf(record.id), store.pendingOf(record.id)]);
      return { record, holders, pending };
    },

    /**
     * **Send invitation**: a link to `email` offering `access` until the end of `until` (UTC), if
     * given. The invitation and its audit line are written in one transaction; the mail goes after.
     */
    async invite(person: Person, recordId: string, invitation: { email: string; access: SharedLevel; until: Date | null }): Promise<void> {
      const record = await records.recordFor(person.id, recordId, 'share');
      if (invitation.email.toLowerCase() === person.email.toLowerCase()) throw new Invalid('You already have access to this record: invite someone else.');
      if (invitation.until && invitation.until.getTime() <= Date.now()) throw new Invalid('Choose an expiry date after today, or none.');
      // Counted outside the transaction: the limit takes its own connection.
      await invitations.consume(person.id);
      const token = randomToken();
      await db.transaction(async () => {
        await store.insertInvitation({
          id: randomUUID(),
          record_id: record.id,
          invited_by: person.id,
          email: invitation.email,
          access: invitation.access,
          access_expires_at: invitation.until,
          token_hash: credentialKey(token),
          link_expires_at: new Date(Date.now() + INVITATION_DAYS * 86_400_000),
        });
        await audit.append({
          recordId: record.id,
          kind: 'sharing.invited',
          personId: person.id,
          details: {
            person_name: person.name,
            email: invitation.email,
            access: invitation.access,
            ...(invitation.until ? { until: invitation.until.toISOString() } : {}),
          },
        });
      });
      await mailer
        .send(invitationMail(invitation.email, person.name, record.name, invitation.access, invitation.until, `${issuer}/sharing/accept?token=${token}`))
        .catch((error: unknown) => log.error('a sharing invitation could not be mailed', { error: error instanceof Error ? error.name : 'unknown' }));
    },

    /** **Withdraw** a pending invitation; withdrawing one already answered changes nothing. */
    async withdraw(person: Person, recordId: string, invitationId: string): Promise<void> {
      const record = await records.recordFor(person.id, recordId, 'share');
      if (!isUuid(invitationId)) throw new NotFound('There is no such invitation.');
      await db.transaction(async () => {
        const row = await store.withdraw(invitationId, record.id);
        if (!row) return;
        await audit.append({ recordId: record.id, kind: 'sharing.withdrawn', personId: person.id, details: { person_name: person.name, email: row.email } });
      });
    },

    /**
     * The invitation behind a link, for the page that asks the invitee to answer.
     * @throws NotFound when the link is unknown, answered, withdrawn or expired.
     */
    async invitation(token: string): Promise<InvitationView> {
      const row = token ? await store.liveByToken(credentialKey(token)) : undefined;
      if (!row) throw new NotFound(GONE);
      const inviter = await findPerson(row.invited_by);
      const recordName = inviter ? (await records.recordFor(inviter.id, row.record_id).catch(() => undefined))?.name : undefined;
      if (!inviter || !recordName) throw new NotFound(GONE);
      return { recordId: row.record_id, recordName, inviterName: inviter.name, email: row.email, access: row.access, until: row.access_expires_at };
    },

    /**
     * **Accept**: the signed-in person holds the record at the invitation's level, in one
     * transaction with the invitation answered (one conditional update: of racing accepts, or an
     * accept racing a withdrawal, exactly one wins) and the audit line.
     * @returns the record's id.
     * @throws NotFound when the link no longer works; Conflict when the person already holds the record.
     */
    async accept(person: Person, token: string): Promise<string> {
      return db.transaction(async () => {
        const row = await store.answer(credentialKey(token), 'accepted', person.id);
        if (!row) throw new NotFound(GONE);
        if (row.access_expires_at && row.access_expires_at.getTime() <= Date.now())
          throw new Conflict('The access this invitation offered has already expired. Ask for a new one.');
        // The person who invited must still be able to share it.
        if (!allows(await records.accessOf(row.invited_by, row.record_id), 'share')) throw new NotFound(GONE);
        const added = await store.addShare({
          personId: person.id,
          recordId: row.record_id,
          access: row.access,
          sharedBy: row.invited_by,
          expiresAt: row.access_expires_at,
        });
        if (!added) throw new Conflict('You already have access to this record.');
        await audit.append({
          recordId: row.record_id,
          kind: 'sharing.accepted',
          personId: person.id,
          details: {
            person_name: person.name,
            inviter_name: await nameOf(row.invited_by),
            access: row.access,
            ...(row.access_expires_at ? { until: row.access_expires_at.toISOString() } : {}),
          },
        });
        return row.record_id;
      });
    },

    /** **Decline**: the invitation is answered, once, and the record's history says so. */
    async decline(person: Person, token: string): Promise<void> {
      await db.transaction(async () => {
        const row = await store.answer(credentialKey(token), 'declined', person.id);
        if (!row) throw new NotFound(GONE);
        await audit.append({ recordId: row.record_id, kind: 'sharing.declined', personId: person.id, details: { person_name: person.name } });
      });
    },

    /**
     * The owner or someone with Full access changes a person's level; a lower level trims that
     * person's app authorizations for the record to it, in the same transaction.
     */
    async changeLevel(person: Person, recordId: string, personId: string, access: SharedLevel): Promise<void> {
      const record = await records.recordFor(person.id, recordId, 'share');
      await db.transaction(async () => {
        await db.lock(`record:${record.id}`);
        const holder = await sharedHolder(record.id, personId);
        if (holder.access === access) return;
        await store.setLevel(record.id, personId, access);
        await authorizations.accessLowered(personId, record.id, access);
        await audit.append({
          recordId: record.id,
          kind: 'sharing.changed',
          personId: person.id,
          details: { person_name: person.name, other_name: holder.name, access },
        });
      });
    },

    /** A person who holds the record through a share, for the confirmation page of Stop sharing. */
    async holder(person: Person, recordId: string, personId: string): Promise<{ record: RecordSummary; holder: HolderRow }> {
      const record = await records.recordFor(person.id, recordId, 'share');
      return { record, holder: await sharedHolder(record.id, personId) };
    },

    /**
     * **Stop sharing** (owner, custodian or Full): the person's access ends at once, with every app
     * authorization they made for this record, in one transaction.
     */
    async stop(person: Person, recordId: string, personId: string): Promise<string> {
      const record = await records.recordFor(person.id, recordId, 'share');
      return db.transaction(async () => {
        await db.lock(`record:${record.id}`);
        const holder = await sharedHolder(record.id, personId);
        await store.removeShare(record.id, personId);
        await authorizations.accessEnded(personId, record.id);
        await audit.append({
          recordId: record.id,
          kind: 'sharing.stopped',
          personId: person.id,
          details: { person_name: person.name, other_name: holder.name },
        });
        return holder.name;
      });
    },

    /** The record shared with the person, for the confirmation page of Leave. */
    shared,

    /** **Leave**: the invitee ends their own access, with their app authorizations for this record. */
    async leave(person: Person, recordId: string): Promise<void> {
      const record = await shared(person, recordId);
      await db.transaction(async () => {
        await db.lock(`record:${record.id}`);
        if (!(await store.removeShare(record.id, person.id))) return;
        await authorizations.accessEnded(person.id, record.id);
        await audit.append({ recordId: record.id, kind: 'sharing.left', personId: person.id, details: { person_name: person.name } });
      });
    },

    /** Shares whose expiry passed end, each with its person's app authorizations, one transaction each. */
    async endExpired(): Promise<number> {
      let ended = 0;
      for (const share of await store.expiredShares(EXPIRED_PER_RUN)) {
        const name = await nameOf(share.person_id);
        await db.transaction(async () => {
          await db.lock(`record:${share.record_id}`);
          if (!(await store.removeExpired(share.record_id, share.person_id))) return;
          await authorizations.accessEnded(share.person_id, share.record_id);
          await audit.append({
            recordId: share.record_id,
            kind: 'sharing.expired',
            personId: share.person_id,
            details: { person_name: name, other_name: name, access: share.access },
          });
          ended += 1;
        });
      }
      return ended;
    },

    /** Old invitations go (pending ones a day after their link expired, answered ones after a month). */
    sweepInvitations(): Promise<number> {
      return store.sweepInvitations();
    },
  };
}

export type SharingService = ReturnType<typeof createSharingService>;
