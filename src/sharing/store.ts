/**
 * SQL for sharing a record: the invitations (`share_invitations`, each token kept only as its
 * SHA-256) and the links a share adds to `custodianships` (access level, who shared it, until
 * when). An invitation is answered by one conditional update (`where status = 'pending'`), so two
 * accepts of one link, or an accept racing a withdrawal, end in exactly one outcome.
 */
import type { Knex } from 'knex';
import type { Database } from '../db';
import type { AccessLevel, SharedLevel } from '../records/access';

type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'withdrawn';

export type InvitationRow = {
  id: string;
  record_id: string;
  invited_by: string;
  email: string;
  access: SharedLevel;
  access_expires_at: Date | null;
  status: InvitationStatus;
  created_at: Date;
  link_expires_at: Date;
};

/** A person who holds a record now, as the sharing page lists them. */
export type HolderRow = {
  person_id: string;
  name: string;
  email: string;
  access: AccessLevel;
  created_at: Date;
  expires_at: Date | null;
  shared_by: string | null;
};

/** A share whose expiry passed (the sweep ends it). */
export type ExpiredShare = { person_id: string; record_id: string; access: AccessLevel; expires_at: Date };

const INVITATION_COLUMNS = ['id', 'record_id', 'invited_by', 'email', 'access', 'access_expires_at', 'status', 'created_at', 'link_expires_at'];

/** Links that count now: no expiry, or one still ahead (the same rule as records/store.ts). */
function current(query: Knex.QueryBuilder): Knex.QueryBuilder {
  return query.whereRaw('(c.expires_at is null or c.expires_at > now())');
}

export function createSharingStore(db: Database) {
  return {
    async insertInvitation(row: Omit<InvitationRow, 'status' | 'created_at'> & { token_hash: string }): Promise<void> {
      await db.table('share_invitations').insert(row);
    },

    /** A pending invitation whose link still works, by its token's hash. */
    async liveByToken(tokenHash: string): Promise<InvitationRow | undefined> {
      return db
        .table('share_invitations')
        .where({ token_hash: tokenHash, status: 'pending' })
        .whereRaw('link_expires_at > now()')
        .first(INVITATION_COLUMNS) as Promise<InvitationRow | undefined>;
    },

    /**
     * Answers a pending invitation whose link still works, once: the row as it was answered, or
     * `undefined` when it was already answered, withdrawn or expired (a racing answer lost).
     */
    async answer(tokenHash: string, status: 'accepted' | 'declined', personId: string): Promise<InvitationRow | undefined> {
      const [row] = (await db
        .table('share_invitations')
        .where({ token_hash: tokenHash, status: 'pending' })
        .whereRaw('link_expires_at > now()')
        .update({ status, answered_by: personId, answered_at: db.now() }, INVITATION_COLUMNS)) as InvitationRow[];
      return row;
    },

    /** Withdraws a pending invitation of the record, once; the row, or `undefined` when it was no longer pending. */
    async withdraw(invitationId: string, recordId: string): Promise<InvitationRow | undefined> {
      const [row] = (await db
        .table('share_invitations')
        .where({ id: invitationId, record_id: recordId, status: 'pending' })
        .update({ status: 'withdrawn', answered_at: db.now() }, INVITATION_COLUMNS)) as InvitationRow[];
      return row;
    },

    /** The record's invitations still waiting for an answer (their links not yet expired), oldest first. */
    async pendingOf(recordId: string): Promise<InvitationRow[]> {
      return db
        .table('share_invitations')
        .where({ record_id: recordId, status: 'pending' })
        .whereRaw('link_expires_at > now()')
        .orderBy('created_at')
        .select(INVITATION_COLUMNS) as Promise<InvitationRow[]>;
    },

    /** Everyone who holds the record now, custodians first, then by when they got it. */
    async holdersOf(recordId: string): Promise<HolderRow[]> {
      return current(
        db
          .table('custodianships as c')
          .join('people as p', 'p.id', 'c.person_id')
          .where('c.record_id', recordId)
          .select('c.person_id', 'p.name', 'p.email', 'c.access', 'c.created_at', 'c.expires_at', 'c.shared_by'),
      )
        .orderByRaw(`c.access = 'custodian' desc`)
        .orderBy('c.created_at') as Promise<HolderRow[]>;
    },

    /** The person's link to the record now, if any. */
    async holderOf(recordId: string, personId: string): Promise<HolderRow | undefined> {
      return current(
        db
          .table('custodianships as c')
          .join('people as p', 'p.id', 'c.person_id')
          .where({ 'c.record_id': recordId, 'c.person_id': personId })
          .select('c.person_id', 'p.name', 'p.email', 'c.access', 'c.created_at', 'c.expires_at', 'c.shared_by'),
      ).first() as Promise<HolderRow | undefined>;
    },

    /**
     * Adds a share: the person holds the record at `access` until `expiresAt`. A link of theirs
     * that already expired (not yet swept) is replaced; one that counts is left alone, and `false`
     * returned.
     */
    async addShare(share: { personId: string; recordId: string; access: SharedLevel; sharedBy: string; expiresAt: Date | null }): Promise<boolean> {
      await db.table('custodianships').where({ person_id: share.personId, record_id: share.recordId }).whereRaw('expires_at <= now()').delete();
      const rows = (await db
        .table('custodianships')
        .insert({
          person_id: share.personId,
          record_id: share.recordId,
          relationship: 'shared',
          access: share.access,
          shared_by: share.sharedBy,
          expires_at: share.expiresAt,
        })
        .onConflict(['person_id', 'record_id'])
        .ignore()
        .returning('person_id')) as unknown[];
      return rows.length > 0;
    },

    /** Changes a shared link's level; whether there was such a link (a custodian's is never changed). */
    async setLevel(recordId: string, personId: string, access: SharedLevel): Promise<boolean> {
      const changed = await current(
        db.table('custodianships as c').where({ 'c.record_id': recordId, 'c.person_id': personId }).whereNot('c.access', 'custodian'),
      ).update({ access });
      return Number(changed) > 0;
    },

    /** Removes a shared link (never a custodian's); the link as it was, or `undefined`. */
    async removeShare(recordId: string, personId: string): Promise<{ access: AccessLevel } | undefined> {
      const [row] = (await db
        .table('custodianships')
        .where({ record_id: recordId, person_id: personId })
        .whereNot('access', 'custodian')
        .delete(['access'])) as { access: AccessLevel }[];
      return row;
    },

    /** Shares whose expiry has passed, oldest first. */
    async expiredShares(limit: number): Promise<ExpiredShare[]> {
      return db
        .table('custodianships')
        .whereNotNull('expires_at')
        .whereRaw('expires_at <= now()')
        .orderBy('expires_at')
        .limit(limit)
        .select('person_id', 'record_id', 'access', 'expires_at') as Promise<ExpiredShare[]>;
    },

    /** Removes one expired share, if still there and still expired; whether it did. */
    async removeExpired(recordId: string, personId: string): Promise<boolean> {
      const removed = await db
        .table('custodianships')
        .where({ record_id: recordId, person_id: personId })
        .whereNot('access', 'custodian')
        .whereRaw('expires_at <= now()')
        .delete();
      return Number(removed) > 0;
    },

    /** Invitations whose link expired more than a day ago while pending, or that were answered a month ago, go. */
    async sweepInvitations(): Promise<number> {
      return db
        .table('share_invitations')
        .whereRaw(`((status = 'pending' and link_expires_at < now() - interval '1 day') or answered_at < now() - interval '30 days')`)
        .delete();
    },
  };
}
