/**
 * The bench's own SQL, kept apart like every store: the minimal reference handler's two queries
 * (one token lookup, one indexed read — what any resource server must do at least), the bulk
 * seeding of a million token rows and resources, to see whether p99 holds as tables grow, and the
 * one-table adapter of bare oidc-provider on PostgreSQL (one statement per adapter call, so the
 * reference pays the database's round trips and nothing else).
 */
import type { Pool } from 'pg';

/** What a person's self-contained access token names (its grant and record), read without checking it: the bench's own token. */
function claimsOf(token: string): { grantId?: unknown; clientId?: unknown; recordId?: unknown } {
  try {
    const payload = JSON.parse(Buffer.from(token.split('~')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    return { grantId: payload.gid, clientId: payload.client_id, recordId: payload.patient };
  } catch {
    return {};
  }
}

/**
 * The record a live access token reaches, or undefined: the one lookup a resource server must do,
 * here of the grant the token names (carevault's tokens are self-contained; their liveness is
 * their grant's).
 */
export async function recordOfToken(pool: Pool, token: string): Promise<string | undefined> {
  const { grantId, recordId } = claimsOf(token);
  if (typeof grantId !== 'string' || typeof recordId !== 'string') return undefined;
  const { rows } = await pool.query(`select 1 from oidc_models where model = 'Grant' and id = $1 and (expires_at is null or expires_at > now())`, [grantId]);
  return rows.length ? recordId : undefined;
}

/** One resource of a record, by the primary-key index. */
export async function resourceOf(pool: Pool, recordId: string, type: string, id: string): Promise<unknown> {
  const { rows } = await pool.query<{ content: unknown }>('select content from resources where type = $1 and id = $2 and record_id = $3', [type, id, recordId]);
  return rows[0]?.content;
}

/**
 * Adds `count` refresh tokens (under `grantId`, so the sweeper keeps them: the token rows a busy
 * server accumulates, now that access tokens are stored nowhere) and `count` Observations in
 * `recordId` — a record the measured searches do not look at, so result sizes stay the same.
 */
export async function bulkSeed(pool: Pool, count: number, grantId: string, clientId: string, recordId: string): Promise<void> {
  await pool.query(
    `insert into oidc_models (model, id, payload, grant_id, expires_at)
     select 'RefreshToken', 'bulk-' || g, jsonb_build_object('kind', 'RefreshToken', 'clientId', $2::text, 'grantId', $1::text, 'scope', 'patient/Observation.rs'),
            $1, now() + interval '1 day'
       from generate_series(1, $3::int) g`,
    [grantId, clientId, count],
  );
  await pool.query(
    `insert into resources (type, id, record_id, version_id, last_updated, content, search_date, search_tokens)
     select 'Observation', 'bulk-' || g, $1::uuid, 1, now(),
            jsonb_build_object('resourceType', 'Observation', 'id', 'bulk-' || g, 'status', 'final',
              'code', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object('system', 'http://loinc.org', 'code', '29463-7')))),
            now(), array['code:http://loinc.org|29463-7', 'code:29463-7']
       from generate_series(1, $2::int) g`,
    [recordId, count],
  );
  await pool.query('analyze oidc_models');
  await pool.query('analyze resources');
}

/** The grant behind the bench's access token, when it is live (the bulk tokens hang on it). */
export async function grantOfToken(pool: Pool, token: string): Promise<{ grantId: string; clientId: string } | undefined> {
  const { grantId, clientId } = claimsOf(token);
  if (typeof grantId !== 'string' || typeof clientId !== 'string') return undefined;
  const { rows } = await pool.query(`select 1 from oidc_models where model = 'Grant' and id = $1`, [grantId]);
  return rows.length ? { grantId, clientId } : undefined;
}

/** The one table of the database-backed reference: every model oidc-provider persists, by kind and id. */
export async function createReferenceTable(pool: Pool): Promise<void> {
  await pool.query(
    `create table if not exists bench_reference_models (
       model text not null, id text not null, payload jsonb not null, grant_id text, uid text, user_code text,
       expires_at timestamptz, primary key (model, id))`,
  );
  await pool.query('create index if not exists bench_reference_models_grant on bench_reference_models (grant_id)');
}

type ReferencePayload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string };

/**
 * oidc-provider's adapter interface over that table, one statement a call: upsert, find (by id, uid
 * or user code, ignoring expired rows), consume (stamps `consumed` in the payload, as oidc-provider's
 * own memory adapter does), destroy and revoke by grant.
 */
export function referenceAdapter(pool: Pool) {
  const live = 'and (expires_at is null or expires_at > now())';
  const one = async (model: string, column: 'id' | 'uid' | 'user_code', value: string): Promise<ReferencePayload | undefined> => {
    const { rows } = await pool.query<{ payload: ReferencePayload }>(`select payload from bench_reference_models where model = $1 and ${column} = $2 ${live}`, [
      model,
      value,
    ]);
    return rows[0]?.payload;
  };
  return class ReferenceAdapter {
    constructor(private readonly model: string) {}
    async upsert(id: string, payload: ReferencePayload, expiresIn?: number): Promise<void> {
      await pool.query(
        `insert into bench_reference_models (model, id, payload, grant_id, uid, user_code, expires_at)
         values ($1, $2, $3, $4, $5, $6, case when $7::int is null then null else now() + make_interval(secs => $7::int) end)
         on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
           user_code = excluded.user_code, expires_at = excluded.expires_at`,
        [this.model, id, payload, payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresIn ?? null],
      );
    }
    find(id: string): Promise<ReferencePayload | undefined> {
      return one(this.model, 'id', id);
    }
    findByUid(uid: string): Promise<ReferencePayload | undefined> {
      return one(this.model, 'uid', uid);
    }
    findByUserCode(userCode: string): Promise<ReferencePayload | undefined> {
      return one(this.model, 'user_code', userCode);
    }
    async consume(id: string): Promise<void> {
      await pool.query(
        `update bench_reference_models set payload = payload || jsonb_build_object('consumed', extract(epoch from now())::bigint)
          where model = $1 and id = $2`,
        [this.model, id],
      );
    }
    async destroy(id: string): Promise<void> {
      await pool.query('delete from bench_reference_models where model = $1 and id = $2', [this.model, id]);
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      await pool.query('delete from bench_reference_models where grant_id = $1', [grantId]);
    }
  };
}
