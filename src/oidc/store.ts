/**
 * SQL for the OpenID core: oidc-provider's models (one table, jsonb payload), signing keys and
 * server secrets. Rows of models whose ids are secrets are stored and looked up under the
 * SHA-256 of the id (stored-credentials.ts): every `id` this store takes is that key.
 */
import { audited, eventValues, type RecordEvent, type Steps } from '../audit/store';
import { statement, type Database } from '../db';
import type { BoundAuthorization } from './grants';

export type ModelRow = {
  payload: Record<string, unknown>;
  /** Consumed, and longer ago than the grace the caller gave. */
  consumed: boolean;
};

/** A row found by `find`: also whether it was consumed within the grace (a use racing this one). */
export type FoundRow = ModelRow & { justConsumed: boolean };

/**
 * What a self-contained person token's liveness is read by (access-tokens.ts): the grant it was
 * issued under, its `jti`, the key of the refresh token a refresh issued it with, and the rules it
 * names that its grant must still hold (not offline or online access, which end refresh tokens only).
 */
export type TokenLiveness = { grantId: string; jti: string; refreshTokenKey: string | undefined; rules: readonly string[] };

/** The values of `liveGrant`'s four parameters, in its order. */
export function livenessValues(liveness: TokenLiveness): unknown[] {
  return [liveness.grantId, liveness.jti, liveness.refreshTokenKey ?? null, liveness.rules];
}

/**
 * The condition on the grant row `g` under which a self-contained person token is live: its grant
 * (`grant`) is there and unexpired — Remove access, a replayed refresh token, sign-out for online
 * access, revoking and closing the account delete it — and still holds every rule the token names
 * (`rules`, a text[]); the token (`jti`) was not revoked; the refresh token it was issued with
 * (`refreshToken`, null when none) was not withdrawn; and the person who allowed the app still
 * holds the record, so a share past its expiry ends its apps' tokens at once. One indexed row of
 * oidc_models, and the record's authorization when there is one. Each parameter appears once, in
 * `livenessValues` order, so the condition takes knex's `?` bindings as well as positional ones.
 */
function liveGrant([grant, jti, refreshToken, rules]: readonly [string, string, string, string]): string {
  return `g.model = 'Grant' and g.id = ${grant}::text and (g.expires_at is null or g.expires_at > now())
       and not exists (select 1 from oidc_models r where r.model = 'RevokedAccessToken' and r.id = ${jti}::text)
       and exists (select 1 from (select ${refreshToken}::text as id) k
         where k.id is null or exists (select 1 from oidc_models p where p.model = 'RefreshToken' and p.id = k.id))
       and not exists (select 1 from authorizations a where a.grant_id = g.id and a.revoked_at is null
         and not exists (select 1 from custodianships c where c.person_id = a.person_id and c.record_id = a.record_id
           and (c.expires_at is null or c.expires_at > now())))
       and string_to_array(coalesce(g.payload #>> '{openid,scope}', ''), ' ') @> ${rules}::text[]`;
}

/**
 * The step `live` (one row, `live` true or false) that reads a self-contained person token's
 * liveness inside a statement of the record's (fhir/store.ts), so that its data steps act only
 * when the token is live: one round trip for both. Its four parameters are `livenessValues`,
 * positional from `$<first>` on, or knex's `?` bindings (`first: '?'`).
 */
export function livenessStep(first: number | '?'): string {
  const at = (index: number) => (first === '?' ? '?' : `$${first + index}`);
  return `live as (select exists (select 1 from oidc_models g where ${liveGrant([at(0), at(1), at(2), at(3)])}) as live)`;
}

export type StoredModel = {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  grantId?: string | undefined;
  userCode?: string | undefined;
  uid?: string | undefined;
  expiresAt?: Date | undefined;
};

/** The person a grant names, as findWithGrant reads it with the grant. */
export type GrantPerson = { id: string; name: string; email: string; emailVerified: boolean; timeZone: string | null };

/**
 * A code or refresh token with the live grant it was issued under, and (when the grant is live)
 * the grant's person and live authorization; `undefined` where there is none.
 */
export type FoundWithGrant = {
  token: ModelRow;
  grantId: string | null;
  grant: ModelRow | undefined;
  person: GrantPerson | undefined;
  /** The grant's live authorization, read with it (whether its person still holds its record). */
  authorization: BoundAuthorization | undefined;
};

/** Live: not expired by the database clock. */
const LIVE = '(expires_at is null or expires_at > now())';
/** Consumed more than $3 seconds ago, or within them. */
const CONSUMED =
  '(consumed_at is not null and consumed_at <= now() - make_interval(secs => $3::float8)) as consumed, (consumed_at is not null and consumed_at > now() - make_interval(secs => $3::float8)) as "justConsumed"';

/** A row of a model by id (unique), uid or user code; only a live one unless `live` is false. */
function findStatements(live: boolean) {
  const by = (column: 'id' | 'uid' | 'user_code') =>
    statement(
      `select payload, ${CONSUMED} from oidc_models where model = $1 and ${column} = $2${live ? ` and ${LIVE}` : ''}${column === 'id' ? '' : ' limit 1'}`,
    );
  return { id: by('id'), uid: by('uid'), user_code: by('user_code') };
}

/** ModelStore.rotate's statement, with or without its audit line. */
function rotation(withEvent: boolean) {
  const steps: Steps = {
    steps: [
      `used as (update oidc_models set consumed_at = now() where model = 'RefreshToken' and id = $1 and consumed_at is null returning id)`,
      `stored as (insert into oidc_models (model, id, payload, grant_id, user_code, uid, expires_at)
       select m.model, m.id, m.payload, m.grant_id, m.user_code, m.uid, m.expires_at
         from jsonb_to_recordset($2::jsonb) as m(model text, id text, payload jsonb, grant_id text, user_code text, uid text, expires_at timestamptz)
        where exists (select 1 from used)
       on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid,
         expires_at = excluded.expires_at)`,
    ],
    result: 'select id from used',
  };
  return statement(withEvent ? audited(steps, { for: 'used', event: 3 }) : `with ${steps.steps.join(',\n   ')}\n   ${steps.result}`);
}

/** The statements of every token request (db.query): issuing, finding and consuming. */
/** Writes a row (`rowValues`, $1–$7), replacing the one under its model and id. */
const UPSERT = `insert into oidc_models (model, id, payload, grant_id, user_code, uid, expires_at) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`;

/** A row's values in UPSERT's order. */
function rowValues(row: StoredModel): unknown[] {
  return [row.model, row.id, row.payload, row.grantId ?? null, row.userCode ?? null, row.uid ?? null, row.expiresAt ?? null];
}

const SQL = {
  upsert: statement(UPSERT),
  /**
   * A sign-in session stored under its new id and removed from its old one (`$8`) in one statement,
   * so a lookup by uid at any moment finds it under one id or the other.
   */
  renewSession: statement(`with renewed as (delete from oidc_models where model = 'Session' and id = $8)\n     ${UPSERT}`),
  /** A device code is approved once: once it carries a grant, a save under another grant (or none) writes nothing. */
  upsertApprovedDeviceCode: statement(
    `${UPSERT}
     where oidc_models.grant_id is null or oidc_models.grant_id = excluded.grant_id
     returning id`,
  ),
  find: findStatements(true),
  findIncludingExpired: findStatements(false),
  findInModels: statement(
    `select model, payload, (consumed_at is not null and consumed_at <= now() - make_interval(secs => case when model = 'RefreshToken' then $3::float8 else 0 end)) as consumed
     from oidc_models where model = any($1::text[]) and id = $2 and ${LIVE}`,
  ),
  // The grant's person and live authorization come with it: the token endpoint reads both next
  // (the account, the record the token reaches); a grant whose accountId is not a person's id reads none.
  findWithGrant: statement(
    `select t.payload, t.grant_id, (t.consumed_at is not null and t.consumed_at <= now() - make_interval(secs => $3::float8)) as consumed,
            g.payload as grant_payload, (g.consumed_at is not null) as grant_consumed, p.person, a.authorization
     from oidc_models t
     left join oidc_models g on g.model = 'Grant' and g.id = t.grant_id and (g.expires_at is null or g.expires_at > now())
     left join lateral (
       select jsonb_build_object('id', p.id, 'name', p.name, 'email', p.email, 'emailVerified', p.email_verified_at is not null, 'timeZone', p.time_zone) as person
       from people p
       where p.id = case when g.payload->>'accountId' ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' then (g.payload->>'accountId')::uuid end
     ) p on true
     left join lateral (
       select jsonb_build_object('id', a.id, 'record_id', a.record_id, 'client_id', a.client_id, 'access', a.access, 'session_uid', a.session_uid,
                'holds', exists (select 1 from custodianships c where c.person_id = a.person_id and c.record_id = a.record_id
                  and (c.expires_at is null or c.expires_at > now()))) as authorization
       from authorizations a where g.id is not null and a.grant_id = t.grant_id and a.revoked_at is null limit 1
     ) a on true
     where t.model = $1 and t.id = $2 and (t.expires_at is null or t.expires_at > now())`,
  ),
  /**
   * A refresh token's rotation in one statement: it is marked used only if no one used it first,
   * and only then are its successor and the access token issued with it stored, and (with an
   * event, $3…$7) the refresh's audit line appended. Returns a row when it won.
   */
  rotate: rotation(false),
  rotateAudited: rotation(true),
  consume: statement(`update oidc_models set consumed_at = now() where model = $1 and id = $2 and consumed_at is null returning grant_id`),
  grantOf: statement(`select grant_id from oidc_models where model = $1 and id = $2`),
  // A person's token is live while its grant is, and while the person who allowed the app still
  // holds the record it reaches: a share past its expiry ends its apps' tokens at once, before
  // the sweep ends their authorizations.
  findAccessToken: statement(
    `select t.payload from oidc_models t
     where t.model = 'AccessToken' and t.id = $1 and (t.expires_at is null or t.expires_at > now())
       and exists (select 1 from oidc_models g where g.model = 'Grant' and g.id = t.grant_id)
       and not exists (select 1 from authorizations a where a.grant_id = t.grant_id and a.revoked_at is null
         and not exists (select 1 from custodianships c where c.person_id = a.person_id and c.record_id = a.record_id
           and (c.expires_at is null or c.expires_at > now())))`,
  ),
  /** A registered client's capabilities, when the self-contained token `$2` (its jti) was not revoked. */
  liveAppCapabilities: statement(
    `select c.payload->'capabilities' as capabilities from oidc_models c
     where c.model = 'Client' and c.id = $1
       and not exists (select 1 from oidc_models r where r.model = 'RevokedAccessToken' and r.id = $2)`,
  ),
  /** A self-contained person token's grant payload, when the token is live (see `liveGrant`): what introspection hands oidc-provider. */
  livePersonGrant: statement(`select g.payload from oidc_models g where ${liveGrant(['$1', '$2', '$3', '$4'])}`),
  /** Whether a self-contained person token is live (see `liveGrant`), when no statement of the record's reads it with its data. */
  personTokenLive: statement(`with ${livenessStep(1)} select live from live`),
  revokeSelfContained: statement(
    `insert into oidc_models (model, id, payload, expires_at) values ('RevokedAccessToken', $1, '{}', $2)
     on conflict (model, id) do nothing`,
  ),
};

export function createModelStore(db: Database) {
  return {
    /**
     * Writes a row. A device code that carries a grant is written again only under that grant (two
     * tabs approving, or one approving while another declines, at the same moment: the first approval
     * stays); `false` when it was not.
     */
    async upsert(row: StoredModel): Promise<boolean> {
      const values = rowValues(row);
      if (row.model !== 'DeviceCode') {
        await db.query(SQL.upsert, values);
        return true;
      }
      return (await db.query(SQL.upsertApprovedDeviceCode, values)).length > 0;
    },

    /** Writes sign-in session `row` under its new id and removes the row under `previousId`, in one statement. */
    async renewSession(row: StoredModel, previousId: string): Promise<void> {
      await db.query(SQL.renewSession, [...rowValues(row), previousId]);
    },

    /**
     * A live row (or, with `includeExpired`, one not yet swept); `consumed` only counts uses more
     * than `graceSeconds` ago (database clock), `justConsumed` the uses within them.
     */
    async find(model: string, by: 'id' | 'uid' | 'user_code', value: string, graceSeconds = 0, includeExpired = false): Promise<FoundRow | undefined> {
      const [row] = await db.query<FoundRow>((includeExpired ? SQL.findIncludingExpired : SQL.find)[by], [model, value, graceSeconds]);
      return row;
    },

    /**
     * The live rows with this id among `models`, by model, in one query (introspection and
     * revocation look a token up in every model that could hold it). `consumed` as in `find`, the
     * grace applying to refresh tokens only.
     */
    async findInModels(models: readonly string[], id: string, refreshGraceSeconds: number): Promise<Map<string, ModelRow>> {
      const rows = await db.query<ModelRow & { model: string }>(SQL.findInModels, [models, id, refreshGraceSeconds]);
      return new Map(rows.map((row) => [row.model, { payload: row.payload, consumed: row.consumed }]));
    },

    /**
     * A live code or refresh token (as `find` by id) and, in the same query, the live grant it was
     * issued under with that grant's person and live authorization: the token endpoint reads all
     * of them for every code exchange and refresh.
     */
    async findWithGrant(model: string, id: string, graceSeconds: number): Promise<FoundWithGrant | undefined> {
      const [row] = await db.query<{
        payload: Record<string, unknown>;
        grant_id: string | null;
        consumed: boolean;
        grant_payload: Record<string, unknown> | null;
        grant_consumed: boolean;
        person: GrantPerson | null;
        authorization: BoundAuthorization | null;
      }>(SQL.findWithGrant, [model, id, graceSeconds]);
      if (!row) return undefined;
      return {
        token: { payload: row.payload, consumed: row.consumed },
        grantId: row.grant_id,
        grant: row.grant_payload ? { payload: row.grant_payload, consumed: row.grant_consumed } : undefined,
        person: row.person ?? undefined,
        authorization: row.authorization ?? undefined,
      };
    },

    /**
     * Marks refresh token `id` used and, only if this use won (no one used it first), stores the
     * rows issued for it (its successor, the access token) and appends `event`, in one statement.
     * False when it lost.
     */
    async rotate(id: string, issued: readonly StoredModel[], event?: RecordEvent): Promise<boolean> {
      const rows = issued.map((row) => ({
        model: row.model,
        id: row.id,
        payload: row.payload,
        grant_id: row.grantId ?? null,
        user_code: row.userCode ?? null,
        uid: row.uid ?? null,
        expires_at: row.expiresAt ?? null,
      }));
      const won = event
        ? await db.query(SQL.rotateAudited, [id, JSON.stringify(rows), ...eventValues(event)])
        : await db.query(SQL.rotate, [id, JSON.stringify(rows)]);
      return won.length > 0;
    },

    /**
     * Marks a code or token used. `won` is false when it already was (a concurrent use won);
     * `grantId` is the grant it was issued under.
     */
    async consume(model: string, id: string): Promise<{ won: boolean; grantId: string | undefined }> {
      const [used] = await db.query<{ grant_id: string | null }>(SQL.consume, [model, id]);
      if (used) return { won: true, grantId: used.grant_id ?? undefined };
      const [row] = await db.query<{ grant_id: string | null }>(SQL.grantOf, [model, id]);
      return { won: false, grantId: row?.grant_id ?? undefined };
    },

    /**
     * A refresh token presented again within `graceSeconds` of its rotation, for the first time:
     * marks it retried and withdraws the pair issued for it (the response the app lost): its
     * successor — same grant, same chain `iiat`, next rotation, unused — and the access token
     * issued with that successor, so the chain stays one line and nothing of the lost pair works.
     * False when the grace is over or it was retried already.
     */
    retryRotatedRefreshToken(id: string, graceSeconds: number): Promise<boolean> {
      // One transaction: marking the retry and withdrawing the lost pair stand or fall together.
      return db.transaction(async () => {
        const rows = (await db
          .table('oidc_models')
          .where({ model: 'RefreshToken', id })
          .whereNotNull('consumed_at')
          .andWhere('consumed_at', '>', db.raw('now() - make_interval(secs => ?)', [graceSeconds]))
          .whereRaw(`payload->>'retried' is null`)
          .update({ payload: db.raw(`payload || '{"retried": true}'::jsonb`) })
          .returning(['grant_id', db.raw(`payload->>'iiat' as iiat`), db.raw(`coalesce((payload->>'rotations')::int, 0) as rotations`)])) as {
          grant_id: string | null;
          iiat: string | null;
          rotations: number;
        }[];
        const [retried] = rows;
        if (!retried) return false;
        const successors = (await db
          .table('oidc_models')
          .where({ model: 'RefreshToken', grant_id: retried.grant_id })
          .whereNull('consumed_at')
          .whereRaw(`payload->>'iiat' = ?`, [retried.iiat ?? ''])
          .whereRaw(`coalesce((payload->>'rotations')::int, 0) = ?`, [Number(retried.rotations) + 1])
          .delete()
          .returning('id')) as { id: string }[];
        if (successors.length > 0) {
          await db
            .table('oidc_models')
            .where({ model: 'AccessToken', grant_id: retried.grant_id })
            .whereRaw(`payload->>'pairedRefreshToken' = any(?::text[])`, [successors.map((row) => row.id)])
            .delete();
        }
        return true;
      });
    },

    async destroy(model: string, id: string): Promise<void> {
      await db.table('oidc_models').where({ model, id }).delete();
    },

    /** Deletes every sign-in session of a person; the uids of those that were there. */
    async deleteSessionsOf(accountId: string): Promise<string[]> {
      const rows: { uid: string | null }[] = await db
        .table('oidc_models')
        .where({ model: 'Session' })
        .whereRaw("payload->>'accountId' = ?", [accountId])
        .delete(['uid']);
      return rows.flatMap((row) => (row.uid ? [row.uid] : []));
    },

    /**
     * A person's live sign-in sessions: uid and when they signed in (oidc-provider's `loginTs`,
     * seconds), each once — two tabs renewing one session at the same moment each store it under an
     * id of their own, with the same uid, and the one the browser did not keep lasts until it expires.
     */
    async sessionsOf(accountId: string): Promise<{ uid: string; login_ts: string | null }[]> {
      return db
        .table('oidc_models')
        .where({ model: 'Session' })
        .whereRaw("payload->>'accountId' = ?", [accountId])
        .whereRaw(LIVE)
        .whereNotNull('uid')
        .groupBy('uid')
        .select('uid', db.raw("max(payload->>'loginTs') as login_ts"));
    },

    /** Deletes one sign-in session of a person, by its uid; whether it was there. */
    async deleteSessionOf(accountId: string, uid: string): Promise<boolean> {
      const deleted = await db.table('oidc_models').where({ model: 'Session', uid }).whereRaw("payload->>'accountId' = ?", [accountId]).delete();
      return deleted > 0;
    },

    /**
     * Deletes everything oidc-provider keeps for a person — grants with every code and token issued
     * under them, sessions, tokens naming the person — in the current transaction (a closed account).
     */
    async deleteEverythingOf(accountId: string): Promise<void> {
      const grants = db.table('oidc_models').where({ model: 'Grant' }).whereRaw("payload->>'accountId' = ?", [accountId]).select('id');
      await db.table('oidc_models').whereIn('grant_id', grants).delete();
      await db.table('oidc_models').whereRaw("payload->>'accountId' = ?", [accountId]).delete();
    },

    async revokeByGrantId(model: string, grantId: string): Promise<void> {
      await db.table('oidc_models').where({ model, grant_id: grantId }).delete();
    },

    /**
     * Deletes a grant and everything issued under it (codes, access and refresh tokens), in the
     * current transaction: the grant's tokens stop working the moment it commits.
     */
    async deleteGrant(grantId: string): Promise<void> {
      await db
        .table('oidc_models')
        .where({ grant_id: grantId })
        .orWhere((q) => {
          q.where({ model: 'Grant', id: grantId });
        })
        .delete();
    },

    /** Deletes the tokens of `model` (access or refresh) of a grant whose scope holds any of `scopes`. */
    async deleteTokensCarrying(grantId: string, model: 'AccessToken' | 'RefreshToken', scopes: readonly string[]): Promise<void> {
      if (scopes.length === 0) return;
      await db
        .table('oidc_models')
        .where({ grant_id: grantId, model })
        .whereRaw(`string_to_array(coalesce(payload->>'scope', ''), ' ') && ?::text[]`, [scopes as string[]])
        .delete();
    },

    /** A grant's payload, locked until the transaction ends (to rewrite it). */
    async grantForUpdate(grantId: string): Promise<Record<string, unknown> | undefined> {
      const row = await db.table('oidc_models').where({ model: 'Grant', id: grantId }).forUpdate().first('payload');
      return (row as { payload: Record<string, unknown> } | undefined)?.payload;
    },

    async saveGrantPayload(grantId: string, payload: Record<string, unknown>): Promise<void> {
      await db.table('oidc_models').where({ model: 'Grant', id: grantId }).update({ payload });
    },

    /**
     * A person's live access token by its key: only while its grant exists and the person still
     * holds the record its authorization is for — one query.
     */
    async findAccessToken(key: string): Promise<Record<string, unknown> | undefined> {
      const [row] = await db.query<{ payload: Record<string, unknown> }>(SQL.findAccessToken, [key]);
      return row?.payload;
    },

    /**
     * The capabilities of a registered app whose self-contained token `jti` was not revoked;
     * `undefined` when the app is gone or the token was revoked.
     */
    async liveAppCapabilities(clientId: string, jti: string): Promise<string[] | undefined> {
      const [row] = await db.query<{ capabilities: unknown }>(SQL.liveAppCapabilities, [clientId, jti]);
      if (!row) return undefined;
      return Array.isArray(row.capabilities) ? row.capabilities.filter((item): item is string => typeof item === 'string') : [];
    },

    /** The payload of a self-contained person token's grant when the token is live (see `liveGrant`). */
    async livePersonGrant(liveness: TokenLiveness): Promise<Record<string, unknown> | undefined> {
      const [row] = await db.query<{ payload: Record<string, unknown> }>(SQL.livePersonGrant, livenessValues(liveness));
      return row?.payload;
    },

    /** Whether a self-contained person token is live (see `liveGrant`). */
    async personTokenLive(liveness: TokenLiveness): Promise<boolean> {
      const [row] = await db.query<{ live: boolean }>(SQL.personTokenLive, livenessValues(liveness));
      return row?.live === true;
    },

    /** Keeps a revoked self-contained token's `jti` until the token would have expired (the sweep removes it then). */
    async revokeSelfContained(jti: string, until: Date): Promise<void> {
      await db.query(SQL.revokeSelfContained, [jti, until]);
    },

    /** A registered client's metadata. */
    async findClient(clientId: string): Promise<Record<string, unknown> | undefined> {
      const row = (await db.table('oidc_models').where({ model: 'Client', id: clientId }).first('payload')) as { payload: Record<string, unknown> } | undefined;
      return row?.payload;
    },

    /** The registered names of clients. */
    async clientNames(clientIds: readonly string[]): Promise<{ id: string; name: string | null }[]> {
      if (clientIds.length === 0) return [];
      return db.table('oidc_models').where('model', 'Client').whereIn('id', clientIds).select('id', db.raw(`payload->>'client_name' as name`));
    },

    /**
     * Stores a one-time value (a DPoP proof's jti) until it expires; false when it was seen before
     * (RFC 9449 §11.1).
     */
    async firstUse(model: string, id: string, expiresAt: Date): Promise<boolean> {
      const rows = await db.table('oidc_models').insert({ model, id, payload: {}, expires_at: expiresAt }).onConflict(['model', 'id']).ignore().returning('id');
      return rows.length === 1;
    },

    /** True when a row with this stored key existed and its time has passed (it is not yet swept). */
    async hasExpired(model: string, key: string): Promise<boolean> {
      return (await db.table('oidc_models').where({ model, id: key }).andWhere('expires_at', '<=', db.now()).first('id')) !== undefined;
    },

    /**
     * Deletes rows that expired before now, and codes and tokens whose grant is gone (issued by a
     * request that raced the grant's revocation); returns how many.
     */
    async sweepExpired(): Promise<number> {
      const expired = await db.table('oidc_models').where('expires_at', '<', db.now()).delete();
      const orphaned = await db
        .table('oidc_models as t')
        .whereIn('t.model', ['AuthorizationCode', 'AccessToken', 'RefreshToken'])
        .whereNotNull('t.grant_id')
        .whereNotExists((g) => {
          g.select(db.raw('1')).from('oidc_models as g').where('g.model', 'Grant').andWhereRaw('g.id = t.grant_id');
        })
        .delete();
      return expired + orphaned;
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

export function createKeyStore(db: Database) {
  return {
    /** Keys still published: the active ones and those retired less than `retentionSeconds` ago. */
    async publishedKeys(retentionSeconds: number): Promise<SigningKeyRow[]> {
      return db
        .table('signing_keys')
        .select('*')
        .whereNull('retired_at')
        .orWhere('retired_at', '>', db.raw(`now() - make_interval(secs => ?)`, [retentionSeconds]))
        .orderBy('active_from', 'desc');
    },

    async allKeys(): Promise<SigningKeyRow[]> {
      return db.table('signing_keys').select('*');
    },

    /**
     * Runs `fn` holding a transaction-scoped advisory lock, so two instances starting together
     * (or a rotation racing a start) do not both generate keys.
     */
    async withKeyLock<T>(fn: () => Promise<T>): Promise<T> {
      return db.transaction(async () => {
        await db.lock('carevault.signing_keys');
        return fn();
      });
    },

    async activeAlgs(): Promise<string[]> {
      const rows = await db.table('signing_keys').distinct('alg').whereNull('retired_at');
      return rows.map((row) => String(row.alg));
    },

    async insertKey(row: Omit<SigningKeyRow, 'created_at' | 'retired_at'>): Promise<void> {
      await db.table('signing_keys').insert(row);
    },

    async retireActiveKeys(alg: string, at: Date): Promise<void> {
      await db.table('signing_keys').where({ alg }).whereNull('retired_at').update({ retired_at: at });
    },

    async replaceSealedKey(kid: string, privateJwk: string): Promise<void> {
      await db.table('signing_keys').where({ kid }).update({ private_jwk: privateJwk });
    },

    async deleteRetiredBefore(retentionSeconds: number): Promise<number> {
      return db
        .table('signing_keys')
        .where('retired_at', '<', db.raw(`now() - make_interval(secs => ?)`, [retentionSeconds]))
        .delete();
    },
  };
}

export function createSecretStore(db: Database) {
  return {
    /** Stores `value` unless another process stored one first; returns the value that won. */
    async putIfAbsent(name: string, value: string): Promise<string> {
      await db.table('server_secrets').insert({ name, value }).onConflict('name').ignore();
      const row = await db.table('server_secrets').select('value').where({ name }).first();
      return String(row?.value);
    },
    async replace(name: string, value: string): Promise<void> {
      await db.table('server_secrets').where({ name }).update({ value });
    },
  };
}
