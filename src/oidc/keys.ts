/**
 * Signing keys (ES256 and RS256; SMART needs RS256 for ID tokens) and cookie-signing keys.
 * Generated on first start and kept in the database, sealed under KEY_ENCRYPTION_SECRET when set.
 * Rotation publishes the new keys first and lets them sign only from `active_from`, so every
 * instance has them in its JWKS before any token signed with them is seen.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Database } from '../db';
import { openSecret, randomToken, sealSecret } from '../security/secrets';
import { SIGNING_ALGS } from './protocol';
import { createKeyStore, createSecretStore, type SigningKeyRow } from './store';

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
export async function ensureSigningKeys(db: Database, secret: string | undefined): Promise<void> {
  const keys = createKeyStore(db);
  const missing = async () => {
    const present = new Set(await keys.activeAlgs());
    return SIGNING_ALGS.filter((alg) => !present.has(alg));
  };
  const absent = await missing();
  if (absent.length) {
    // Generated before the lock is taken (nothing slow runs while it is held); another instance
    // starting at the same time may have stored its own meanwhile.
    const candidates = await Promise.all(absent.map((alg) => newKey(alg, new Date(), secret)));
    await keys.withKeyLock(async () => {
      const still = new Set(await missing());
      for (const key of candidates) if (still.has(key.alg as (typeof SIGNING_ALGS)[number])) await keys.insertKey(key);
    });
  }
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
export async function rotateSigningKeys(db: Database, secret: string | undefined, delaySeconds = 2 * KEY_RELOAD_INTERVAL) {
  const keys = createKeyStore(db);
  const activeFrom = new Date(Date.now() + delaySeconds * 1000);
  const fresh = await Promise.all(SIGNING_ALGS.map((alg) => newKey(alg, activeFrom, secret)));
  const added = await keys.withKeyLock(async () => {
    const result: { kid: string; alg: string }[] = [];
    for (const key of fresh) {
      await keys.retireActiveKeys(key.alg, activeFrom);
      await keys.insertKey(key);
      result.push({ kid: key.kid, alg: key.alg });
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
export async function loadSigningJwks(db: Database, secret: string | undefined): Promise<{ keys: JWK[] }> {
  const ordered = await publishedInOrder(db);
  return { keys: await Promise.all(ordered.map(async (row) => JSON.parse(await openSecret(row.private_jwk, secret)) as JWK)) };
}

/** The published keys' ids in JWKS order: what changes when keys rotate or activate. */
export async function signingKeyOrder(db: Database): Promise<string> {
  return (await publishedInOrder(db)).map((row) => row.kid).join(',');
}

async function publishedInOrder(db: Database): Promise<SigningKeyRow[]> {
  const rows = await createKeyStore(db).publishedKeys(RETIRED_KEY_RETENTION);
  const now = Date.now();
  const signsNow = (row: SigningKeyRow) => row.active_from.getTime() <= now && (!row.retired_at || row.retired_at.getTime() > now);
  return [...rows.filter(signsNow), ...rows.filter((row) => !signsNow(row))];
}

/**
 * A secret generated once and shared by every instance through the database (sealed when a
 * key-encryption secret is set; one stored in the clear before that is sealed now).
 */
export async function loadServerSecret(db: Database, name: string, secret: string | undefined): Promise<string> {
  const secrets = createSecretStore(db);
  const stored = await secrets.putIfAbsent(name, await sealSecret(randomToken(), secret));
  const plain = await openSecret(stored, secret);
  if (secret && plain === stored) await secrets.replace(name, await sealSecret(plain, secret));
  return plain;
}

/** Cookie-signing keys: COOKIE_KEYS when set, else one generated once and kept in the database. */
export async function loadCookieKeys(db: Database, configured: readonly string[] | undefined, secret: string | undefined): Promise<string[]> {
  if (configured) return [...configured];
  return [await loadServerSecret(db, 'cookie_key', secret)];
}
