/**
 * Credentials at rest: rows stored with a credential's value as their id (and again in the
 * payload's `jti`, a device code's user code, an interaction's payload, a connect request's device
 * code) are re-keyed by the SHA-256 of that value and their secret parts sealed under it, the way
 * the adapter stores them now (src/oidc/stored-credentials.ts). People stay signed in and apps'
 * tokens and codes keep working across the upgrade, and the tables stop holding anything that can
 * be presented. One way: a hash cannot be turned back into its value (see `down`).
 */
import type { Knex } from 'knex';
import { KEYED_BY_ID, toStored } from '../src/oidc/stored-credentials';

/** SQL for credentialKey (security/credential-keys.ts): SHA-256, base64url without padding. */
const sqlKey = (column: string) => `rtrim(translate(encode(sha256(convert_to(${column}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;

/** Models with secret parts sealed under the id, converted row by row; the rest in one statement. */
const SEALED = ['Interaction', 'DeviceCode'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table connect_requests rename column device_code to device_code_hash');
  await knex.raw(`update connect_requests set device_code_hash = ${sqlKey('device_code_hash')}`);

  await knex.raw(`update oidc_models set id = ${sqlKey('id')}, payload = payload - 'jti' where model <> all(?::text[])`, [[...KEYED_BY_ID, ...SEALED]]);
  const rows = (await knex('oidc_models').whereIn('model', SEALED).select('model', 'id', 'payload')) as {
    model: string;
    id: string;
    payload: Record<string, unknown>;
  }[];
  for (const row of rows) {
    const stored = toStored(row.model, row.id, row.payload);
    await knex('oidc_models')
      .where({ model: row.model, id: row.id })
      .update({ id: stored.key, payload: stored.payload, user_code: stored.userCodeKey ?? null });
  }
}

/**
 * Back to values as ids is impossible: the rows keyed by hashes go (everyone signs in again, apps
 * authorize again, pending connect requests can no longer be collected).
 */
export async function down(knex: Knex): Promise<void> {
  await knex('oidc_models').whereNotIn('model', KEYED_BY_ID).delete();
  await knex.raw('alter table connect_requests rename column device_code_hash to device_code');
}
