/**
 * The bench's own SQL, kept apart like every store: the minimal reference handler's two queries
 * (one token lookup, one indexed read — what any resource server must do at least), and the bulk
 * seeding of a million tokens and resources, to see whether p99 holds as tables grow.
 */
import type { Pool } from 'pg';
import { credentialKey } from '../src/security/credential-keys';

/** The record a live access token reaches (its `patient` claim), or undefined; tokens are stored under their SHA-256. */
export async function recordOfToken(pool: Pool, token: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ record_id: string | null }>(
    `select payload->'extra'->>'patient' as record_id from oidc_models
      where model = 'AccessToken' and id = $1 and (expires_at is null or expires_at > now())`,
    [credentialKey(token)],
  );
  return rows[0]?.record_id ?? undefined;
}

/** One resource of a record, by the primary-key index. */
export async function resourceOf(pool: Pool, recordId: string, type: string, id: string): Promise<unknown> {
  const { rows } = await pool.query<{ content: unknown }>('select content from resources where type = $1 and id = $2 and record_id = $3', [type, id, recordId]);
  return rows[0]?.content;
}

/**
 * Adds `count` access tokens (under `grantId`, so the sweeper keeps them) and `count` Observations
 * in `recordId` — a record the measured searches do not look at, so result sizes stay the same.
 */
export async function bulkSeed(pool: Pool, count: number, grantId: string, clientId: string, recordId: string): Promise<void> {
  await pool.query(
    `insert into oidc_models (model, id, payload, grant_id, expires_at)
     select 'AccessToken', 'bulk-' || g, jsonb_build_object('kind', 'AccessToken', 'jti', 'bulk-' || g, 'clientId', $2::text, 'grantId', $1::text, 'scope', 'patient/Observation.rs'),
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

/** The grant behind a live access token (the bulk tokens hang on it). */
export async function grantOfToken(pool: Pool, token: string): Promise<{ grantId: string; clientId: string } | undefined> {
  const { rows } = await pool.query<{ grant_id: string; client_id: string }>(
    `select grant_id, payload->>'clientId' as client_id from oidc_models where model = 'AccessToken' and id = $1`,
    [credentialKey(token)],
  );
  const row = rows[0];
  return row ? { grantId: row.grant_id, clientId: row.client_id } : undefined;
}
