/**
 * SQL for the OpenID core: oidc-provider's models (one table, jsonb payload), signing keys and
 * server secrets.
 */
import type { Knex } from 'knex';

export type ModelRow = {
  payload: Record<string, unknown>;
  /** Consumed, and longer ago than the grace the caller gave. */
  consumed: boolean;
};

export type StoredModel = {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId?: string | undefined;
  userCode?: string | undefined;
  uid?: string | undefined;
  expiresAt?: Date | undefined;
};

export function createModelStore(knex: Knex) {
  const table = () => knex<ModelRow>('oidc_models');
  const live = (query: Knex.QueryBuilder) =>
    query.where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', knex.fn.now()));

  return {
    async upsert(row: StoredModel): Promise<void> {
      await knex('oidc_models')
        .insert({
          model: row.model,
          id: row.id,
          payload: row.payload,
          grant_id: row.grantId ?? null,
          user_code: row.userCode ?? null,
          uid: row.uid ?? null,
          expires_at: row.expiresAt ?? null,
        })
        .onConflict(['model', 'id'])
        .merge(['payload', 'grant_id', 'user_code', 'uid', 'expires_at']);
    },

    /** A live row; `consumed` only counts uses more than `graceSeconds` ago (database clock). */
    async find(model: string, by: 'id' | 'uid' | 'user_code', value: string, graceSeconds = 0): Promise<ModelRow | undefined> {
      return live(
        table()
          .select('payload', knex.raw(`(consumed_at is not null and consumed_at <= now() - make_interval(secs => ?)) as consumed`, [graceSeconds]))
          .where('model', model)
          .andWhere(by, value),
      ).first();
    },

    /** Marks a code or token used; false when it already was (a concurrent use won). */
    async consume(model: string, id: string): Promise<boolean> {
      const count = await knex('oidc_models').where({ model, id }).whereNull('consumed_at').update({ consumed_at: knex.fn.now() });
      return count === 1;
    },

    async destroy(model: string, id: string): Promise<void> {
      await knex('oidc_models').where({ model, id }).delete();
    },

    async revokeByGrantId(model: string, grantId: string): Promise<void> {
      await knex('oidc_models').where({ model, grant_id: grantId }).delete();
    },

    /**
     * Deletes a grant and everything issued under it (codes, access and refresh tokens), inside
     * the caller's transaction: the grant's tokens stop working the moment it commits.
     */
    async deleteGrant(db: Knex | Knex.Transaction, grantId: string): Promise<void> {
      await db('oidc_models')
        .where({ grant_id: grantId })
        .orWhere((q) => q.where({ model: 'Grant', id: grantId }))
        .delete();
    },

    /** Deletes rows that expired before now; returns how many. */
    async sweepExpired(): Promise<number> {
      return knex('oidc_models').where('expires_at', '<', knex.fn.now()).delete();
    },
  };
}

export type ModelStore = ReturnType<typeof createModelStore>;

export type SigningKeyRow = {
  kid: string;
  alg: string;
  private_jwk: string;
  created_at: Date;
  active_from: Date;
  retired_at: Date | null;
};

export function createKeyStore(knex: Knex) {
  return {
    /** Keys still published: the active ones and those retired less than `retentionSeconds` ago. */
    async publishedKeys(retentionSeconds: number): Promise<SigningKeyRow[]> {
      return knex<SigningKeyRow>('signing_keys')
        .select('*')
        .whereNull('retired_at')
        .orWhere('retired_at', '>', knex.raw(`now() - make_interval(secs => ?)`, [retentionSeconds]))
        .orderBy('active_from', 'desc');
    },

    async allKeys(): Promise<SigningKeyRow[]> {
      return knex<SigningKeyRow>('signing_keys').select('*');
    },

    /**
     * Runs `fn` holding a transaction-scoped advisory lock, so two instances starting together
     * (or a rotation racing a start) do not both generate keys.
     */
    async withKeyLock<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
      return knex.transaction(async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['carevault.signing_keys']);
        return fn(trx);
      });
    },

    async activeAlgs(trx: Knex.Transaction): Promise<string[]> {
      const rows = await trx('signing_keys').distinct('alg').whereNull('retired_at');
      return rows.map((row: { alg: string }) => row.alg);
    },

    async insertKey(trx: Knex.Transaction, row: Omit<SigningKeyRow, 'created_at' | 'retired_at'>): Promise<void> {
      await trx('signing_keys').insert(row);
    },

    async retireActiveKeys(trx: Knex.Transaction, alg: string, at: Date): Promise<void> {
      await trx('signing_keys').where({ alg }).whereNull('retired_at').update({ retired_at: at });
    },

    async replaceSealedKey(kid: string, privateJwk: string): Promise<void> {
      await knex('signing_keys').where({ kid }).update({ private_jwk: privateJwk });
    },

    async deleteRetiredBefore(retentionSeconds: number): Promise<number> {
      return knex('signing_keys')
        .where('retired_at', '<', knex.raw(`now() - make_interval(secs => ?)`, [retentionSeconds]))
        .delete();
    },
  };
}

export type KeyStore = ReturnType<typeof createKeyStore>;

export function createSecretStore(knex: Knex) {
  return {
    async get(name: string): Promise<string | undefined> {
      const row = await knex('server_secrets').select('value').where({ name }).first();
      return row?.value as string | undefined;
    },
    /** Stores `value` unless another process stored one first; returns the value that won. */
    async putIfAbsent(name: string, value: string): Promise<string> {
      await knex('server_secrets').insert({ name, value }).onConflict('name').ignore();
      const row = await knex('server_secrets').select('value').where({ name }).first();
      return row.value as string;
    },
    async replace(name: string, value: string): Promise<void> {
      await knex('server_secrets').where({ name }).update({ value });
    },
  };
}
