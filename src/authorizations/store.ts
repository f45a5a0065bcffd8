/**
 * SQL for authorizations: an app's approved access to one record, and the grant that carries it.
 */
import { statement, type Database } from '../db';
import type { Access } from '../rules/scopes';

export type AuthorizationRow = {
  id: string;
  grant_id: string | null;
  client_id: string;
  person_id: string;
  record_id: string;
  scope: string;
  declined: string;
  access: Access;
  /** The sign-in session an online authorization lasts for. */
  session_uid: string | null;
  created_at: Date;
  updated_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
};

export type NewAuthorization = Pick<
  AuthorizationRow,
  'id' | 'grant_id' | 'client_id' | 'person_id' | 'record_id' | 'scope' | 'declined' | 'access' | 'session_uid'
>;

/** An authorization as a token request reads it: with whether its person still holds the record now. */
export type GrantAuthorization = AuthorizationRow & { holds: boolean };

/**
 * Every token request reads the authorization its grant carries (the record it reaches), and in the
 * same statement whether the person who made it still holds that record (a share past its expiry
 * no longer counts, before the sweep ends the authorization).
 */
const FIND_BY_GRANT = statement(
  `select a.id, a.grant_id, a.client_id, a.person_id, a.record_id, a.scope, a.declined, a.access, a.session_uid, a.created_at, a.updated_at,
     a.revoked_at, a.revoked_by,
     exists (select 1 from custodianships c where c.person_id = a.person_id and c.record_id = a.record_id
       and (c.expires_at is null or c.expires_at > now())) as holds
   from authorizations a where a.grant_id = $1 and a.revoked_at is null limit 1`,
);

export function createAuthorizationStore(db: Database) {
  const live = () => db.table('authorizations').whereNull('revoked_at');

  return {
    /** Serializes consents for one app and record (until the transaction ends). */
    lockAppAndRecord(clientId: string, recordId: string): Promise<void> {
      return db.lock(`authorization:${clientId}:${recordId}`);
    },

    /** The live authorization a person made for an app and a record (each person who holds a record authorizes apps on their own). */
    async findLive(clientId: string, recordId: string, personId: string): Promise<AuthorizationRow | undefined> {
      return live().where({ client_id: clientId, record_id: recordId, person_id: personId }).first();
    },

    async findLiveForRecords(clientId: string, recordIds: readonly string[], personId: string): Promise<AuthorizationRow[]> {
      if (recordIds.length === 0) return [];
      return live().where({ client_id: clientId, person_id: personId }).whereIn('record_id', recordIds).orderBy('updated_at', 'desc');
    },

    async findById(id: string): Promise<AuthorizationRow | undefined> {
      return live().where({ id }).first();
    },

    /** An authorization by id, live or ended (what a page about a removal describes). */
    async findAnyById(id: string): Promise<AuthorizationRow | undefined> {
      return db.table('authorizations').where({ id }).first();
    },

    async findByGrant(grantId: string): Promise<GrantAuthorization | undefined> {
      const [authorization] = await db.query<GrantAuthorization>(FIND_BY_GRANT, [grantId]);
      return authorization;
    },

    /** Live authorizations that are not offline and last for this sign-in session. */
    async findSessionBound(sessionUid: string): Promise<AuthorizationRow[]> {
      return live().where({ session_uid: sessionUid }).whereNot({ access: 'offline' });
    },

    async insert(row: NewAuthorization): Promise<void> {
      await db.table('authorizations').insert(row);
    },

    async update(
      id: string,
      changes: Partial<Pick<AuthorizationRow, 'grant_id' | 'person_id' | 'scope' | 'declined' | 'access' | 'session_uid'>>,
    ): Promise<void> {
      await db
        .table('authorizations')
        .where({ id })
        .update({ ...changes, updated_at: db.now() });
    },

    async setGrant(id: string, grantId: string | null): Promise<void> {
      await db.table('authorizations').where({ id }).update({ grant_id: grantId });
    },

    async setSession(id: string, sessionUid: string): Promise<void> {
      await db.table('authorizations').where({ id }).whereRaw('session_uid is distinct from ?', [sessionUid]).update({ session_uid: sessionUid });
    },

    /** Ends a live authorization; returns it, or `undefined` when it was not live. */
    async revoke(id: string, by: string): Promise<AuthorizationRow | undefined> {
      const [row] = await db
        .table('authorizations')
        .where({ id })
        .whereNull('revoked_at')
        .update({ revoked_at: db.now() as unknown as Date, revoked_by: by, grant_id: null })
        .returning('*');
      return row as AuthorizationRow | undefined;
    },

    /** The live authorizations a person made, for any record. */
    async liveByPerson(personId: string): Promise<AuthorizationRow[]> {
      return live().where({ person_id: personId });
    },

    /** The live authorizations a person made for one record. */
    async liveByPersonForRecord(personId: string, recordId: string): Promise<AuthorizationRow[]> {
      return live().where({ person_id: personId, record_id: recordId }).orderBy('id');
    },

    /** Live authorizations of the given records with the name of the person who made each, newest first. */
    async liveForRecordsWithPeople(recordIds: readonly string[]): Promise<(AuthorizationRow & { person_name: string | null })[]> {
      if (recordIds.length === 0) return [];
      return db
        .table('authorizations as a')
        .leftJoin('people as p', 'p.id', 'a.person_id')
        .whereNull('a.revoked_at')
        .whereIn('a.record_id', recordIds)
        .orderBy('a.created_at', 'desc')
        .select('a.*', 'p.name as person_name');
    },

    /** Live authorizations of the given records, newest first. */
    async liveForRecords(recordIds: readonly string[]): Promise<AuthorizationRow[]> {
      if (recordIds.length === 0) return [];
      return live().whereIn('record_id', recordIds).orderBy('created_at', 'desc');
    },
  };
}
