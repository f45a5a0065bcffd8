/**
 * SQL for authorizations: an app's approved access to one record, and the grant that carries it.
 */
import type { Knex } from 'knex';

export type Access = 'offline' | 'online' | 'none';

export type AuthorizationRow = {
  id: string;
  grant_id: string | null;
  client_id: string;
  person_id: string;
  record_id: string;
  scope: string;
  declined: string;
  access: Access;
  created_at: Date;
  updated_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
};

export type ConnectedAppRow = AuthorizationRow & { client_name: string | null };

type Db = Knex | Knex.Transaction;

export function createAuthorizationStore(knex: Knex) {
  const live = (db: Db) => db<AuthorizationRow>('authorizations').whereNull('revoked_at');
  /** Authorizations joined with the registered name of their app. */
  const withAppName = () =>
    knex('authorizations as a')
      .leftJoin('oidc_models as c', (join) => join.on('c.id', 'a.client_id').andOn('c.model', knex.raw('?', ['Client'])))
      .select('a.*', knex.raw(`c.payload->>'client_name' as client_name`));

  return {
    transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
      return knex.transaction(fn);
    },

    async findLive(clientId: string, recordId: string): Promise<AuthorizationRow | undefined> {
      return live(knex).where({ client_id: clientId, record_id: recordId }).first();
    },

    async findLiveForRecords(clientId: string, recordIds: string[]): Promise<AuthorizationRow[]> {
      if (recordIds.length === 0) return [];
      return live(knex).where({ client_id: clientId }).whereIn('record_id', recordIds).orderBy('updated_at', 'desc');
    },

    /** Locks the live authorization of an app for a record, so two consents cannot both insert. */
    async lockLive(trx: Knex.Transaction, clientId: string, recordId: string): Promise<AuthorizationRow | undefined> {
      return live(trx).where({ client_id: clientId, record_id: recordId }).forUpdate().first();
    },

    async findByGrant(grantId: string): Promise<AuthorizationRow | undefined> {
      return live(knex).where({ grant_id: grantId }).first();
    },

    /** A live authorization (by id or by grant) with the app's name, in one query. */
    async findLiveWithApp(by: { id: string } | { grant_id: string }): Promise<ConnectedAppRow | undefined> {
      const [[column, value] = ['id', '']] = Object.entries(by);
      return withAppName().where(`a.${column}`, value).whereNull('a.revoked_at').first();
    },

    async insert(trx: Knex.Transaction, row: Omit<AuthorizationRow, 'created_at' | 'updated_at' | 'last_used_at' | 'revoked_at' | 'revoked_by'>): Promise<void> {
      await trx('authorizations').insert(row);
    },

    async update(trx: Knex.Transaction, id: string, changes: Partial<Pick<AuthorizationRow, 'grant_id' | 'person_id' | 'scope' | 'declined' | 'access'>>): Promise<void> {
      await trx('authorizations').where({ id }).update({ ...changes, updated_at: knex.fn.now() });
    },

    async setGrant(id: string, grantId: string | null): Promise<void> {
      await knex('authorizations').where({ id }).update({ grant_id: grantId });
    },

    /** Ends a live authorization; returns it, or `undefined` when it was not live. */
    async revoke(trx: Knex.Transaction, id: string, by: string): Promise<AuthorizationRow | undefined> {
      const [row] = await trx<AuthorizationRow>('authorizations')
        .where({ id })
        .whereNull('revoked_at')
        .update({ revoked_at: knex.fn.now(), revoked_by: by, grant_id: null })
        .returning('*');
      return row;
    },

    /** Records a use, at most once a minute (an app calling the API often need not write each time). */
    async touch(id: string): Promise<void> {
      await knex('authorizations')
        .where({ id })
        .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', knex.raw(`now() - interval '60 seconds'`)))
        .update({ last_used_at: knex.fn.now() });
    },

    /** Live authorizations of the given records, with the app's registered name. */
    async connectedApps(recordIds: string[]): Promise<ConnectedAppRow[]> {
      if (recordIds.length === 0) return [];
      return withAppName().whereIn('a.record_id', recordIds).whereNull('a.revoked_at').orderBy('a.created_at', 'desc');
    },
  };
}

export type AuthorizationStore = ReturnType<typeof createAuthorizationStore>;
