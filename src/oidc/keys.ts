/**
 * Signing keys (ES256 and RS256; SMART needs RS256 for ID tokens) and cookie-signing keys.
 * Generated on first start and kept in the database, sealed under KEY_ENCRYPTION_SECRET when set.
 * Rotation publishes the new keys first and lets them sign only from `active_from`, so every
 * instance has them in its JWKS before any token signed with them is seen.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';
import { openSecret, randomToken, sealSecret } from '../security/secrets';
import { createKeyStore, createSecretStore, type SigningKeyRow } from './store';

export const SIGNING_ALGS = ['RS256', 'ES256'] as const;

/** How long a retired key stays in the JWKS: longer than any token signed with it lives. */
const RETIRED_KEY_RETENTION = 7 * 24 * 3600;

/** How often instances look for rotated keys; a rotation waits twice this before signing. */
export const KEY_RELOAD_INTERVAL = 60;

async function newKey(alg: string, activeFrom: Date, secret: string | undefined) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const kid = randomToken(12);
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, alg, private_jwk: await sealSecret(JSON.stringify(jwk), secret), active_from: activeFrom };
}

/** Creates a key for every signing algorithm that has none (first start). */
export async function ensureSigningKeys(knex: Knex, secret: string | undefined): Promise<void> {
  const keys = createKeyStore(knex);
  await keys.withKeyLock(async (trx) => {
    const present = new Set(await keys.activeAlgs(trx));
    for (const alg of SIGNING_ALGS) {
      if (!present.has(alg)) await keys.insertKey(trx, await newKey(alg, new Date(), secret));
    }
  });
  // Keys stored before a KEY_ENCRYPTION_SECRET was set are sealed now.
  if (secret) {
    for (const row of await keys.allKeys()) {
      if (!row.private_jwk.startsWith('{')) continue;
      await keys.replaceSealedKey(row.kid, await sealSecret(row.private_jwk, secret));
    }
  }
}

/**
 * Adds a new key per algorithm that signs from `delaySeconds` from now; the current keys retire
 * then and stay published for verification.
 * @returns the new keys' ids and when they start signing.
 */
export async function rotateSigningKeys(knex: Knex, secret: string | undefined, delaySeconds = 2 * KEY_RELOAD_INTERVAL) {
  const keys = createKeyStore(knex);
  const activeFrom = new Date(Date.now() + delaySeconds * 1000);
  const added = await keys.withKeyLock(async (trx) => {
    const result: { kid: string; alg: string }[] = [];
    for (const alg of SIGNING_ALGS) {
      const key = await newKey(alg, activeFrom, secret);
      await keys.retireActiveKeys(trx, alg, activeFrom);
      await keys.insertKey(trx, key);
      result.push({ kid: key.kid, alg });
    }
    return result;
  });
  await keys.deleteRetiredBefore(RETIRED_KEY_RETENTION);
  return { keys: added, active_from: activeFrom.toISOString() };
}

/**
 * The private JWKS for oidc-provider: for each algorithm the key that signs now comes first
 * (oidc-provider signs with the first matching key), then the others still published.
 */
export async function loadSigningJwks(knex: Knex, secret: string | undefined): Promise<{ keys: JWK[] }> {
  const ordered = await publishedInOrder(knex);
  return { keys: await Promise.all(ordered.map(async (row) => JSON.parse(await openSecret(row.private_jwk, secret)) as JWK)) };
}

/** The published keys' ids in JWKS order: what changes when keys rotate or activate. */
export async function signingKeyOrder(knex: Knex): Promise<string> {
  return (await publishedInOrder(knex)).map((row) => row.kid).join(',');
}

async function publishedInOrder(knex: Knex): Promise<SigningKeyRow[]> {
  const rows = await createKeyStore(knex).publishedKeys(RETIRED_KEY_RETENTION);
  const now = Date.now();
  const signsNow = (row: SigningKeyRow) =>
    row.active_from.getTime() <= now && (!row.retired_at || row.retired_at.getTime() > now);
  return [...rows.filter(signsNow), ...rows.filter((row) => !signsNow(row))];
}

/**
 * A secret generated once and shared by every instance through the database (sealed when a
 * key-encryption secret is set; one stored in the clear before that is sealed now).
 */
export async function loadServerSecret(knex: Knex, name: string, secret: string | undefined): Promise<string> {
  const secrets = createSecretStore(knex);
  const stored = await secrets.putIfAbsent(name, await sealSecret(randomToken(), secret));
  const plain = await openSecret(stored, secret);
  if (secret && plain === stored) await secrets.replace(name, await sealSecret(plain, secret));
  return plain;
}

/** Cookie-signing keys: COOKIE_KEYS when set, else one generated once and kept in the database. */
export async function loadCookieKeys(knex: Knex, configured: readonly string[] | undefined, secret: string | undefined): Promise<string[]> {
  if (configured) return [...configured];
  return [await loadServerSecret(knex, 'cookie_key', secret)];
}
