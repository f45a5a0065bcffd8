/**
 * Self-contained access tokens (JWT access tokens, RFC 9068): an app's client-credentials token is
 * signed by the server for the app APIs' resource (RFC 8707) and stored nowhere, so issuing one
 * writes nothing. What storing it gave for free is checked where it is used, in one read of one
 * indexed row: the app is still registered with every capability the token names, and this token
 * was not revoked (RFC 7009: revoking a token that is stored nowhere stores its `jti` until it
 * would have expired). Apps must treat the value as opaque; only carevault reads it.
 *
 * Only carevault verifies these tokens (others ask introspection), so they are signed with HMAC
 * (HS256, RFC 7518 §3.2): it costs a fifth of an ES256 signature and verification, which would
 * otherwise cost more CPU than the database row the token replaces. Each published ES256 signing
 * key yields its own HMAC key (HKDF, RFC 5869), named by that key's `kid`, so `carevault keys
 * rotate` rotates these too, and every instance holds a key before it signs (keys.ts). The keys
 * are handed over whenever the provider is built (runtime.ts).
 */
import { hkdfSync, webcrypto } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import type { Database } from '../db';
import { CAPABILITIES, splitScopes } from '../rules/scopes';
import { isStorableText } from '../security/storable-text';
import { createModelStore } from './store';

/** How long an app's client-credentials token lasts (RFC 6749 §4.4.3). */
export const APP_TOKEN_SECONDS = 600;

const ACCESS_TOKEN_ALG = 'HS256' as const;

/** The signing keys whose private parts the HMAC keys are derived from. */
const SOURCE_ALG = 'ES256';

/**
 * The HMAC key of one ES256 signing key: HKDF-SHA256 of its private scalar, for this use only. A
 * WebCrypto key, as jose signs and verifies with: handing it a KeyObject imports it on every call.
 */
export async function accessTokenKeyOf(jwk: JWK): Promise<CryptoKey | undefined> {
  if (jwk.alg !== SOURCE_ALG || !jwk.kid || !jwk.d) return undefined;
  const secret = hkdfSync('sha256', Buffer.from(jwk.d, 'base64url'), Buffer.alloc(0), 'carevault access token HS256', 32);
  return webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/** The RFC 8707 resource an app's client-credentials token is for: the app APIs (`/api/*`). */
export function appsResource(issuer: string): string {
  return `${issuer}/api`;
}

/**
 * How a signed token is handed to apps: its compact JWS with `~` for `.` (RFC 6750's token68 allows
 * both). oidc-provider refuses to introspect or revoke a value that parses as a JWS, and carevault
 * answers RFC 7662 and RFC 7009 for every token; apps treat the value as opaque either way.
 */
export function presented(jws: string): string {
  return jws.replaceAll('.', '~');
}

/** A value handed out by {@link presented}: stored (opaque) token values are base64url, without `~`. */
export function isSelfContained(value: string): boolean {
  return value.includes('~');
}

/** A live self-contained app token, as the app APIs and oidc-provider's introspection need it. */
export type LiveAppToken = {
  jti: string;
  clientId: string;
  scopes: string[];
  iat: number;
  exp: number;
  aud: string;
  /** The JWK thumbprint a DPoP-bound token is bound to (RFC 9449 §6). */
  jkt: string | undefined;
};

export function createAccessTokens(db: Database, { issuer }: { issuer: string }) {
  const models = createModelStore(db);
  let keys = new Map<string, CryptoKey>();
  let signing: { kid: string; key: CryptoKey } | undefined;

  /** The claims of a token carevault signed for the app APIs and that has not expired; else `undefined`. */
  async function verified(value: string) {
    if (value.length > 2000 || !isStorableText(value)) return undefined;
    const jws = value.replaceAll('~', '.');
    try {
      const { kid, alg } = decodeProtectedHeader(jws);
      if (alg !== ACCESS_TOKEN_ALG || typeof kid !== 'string') return undefined;
      const key = keys.get(kid);
      if (!key) return undefined;
      const { payload } = await jwtVerify(jws, key, {
        issuer,
        audience: appsResource(issuer),
        typ: 'at+jwt',
        algorithms: [ACCESS_TOKEN_ALG],
        requiredClaims: ['jti', 'exp', 'iat', 'client_id'],
      });
      const { jti, exp, iat, client_id: clientId, scope, cnf } = payload as Record<string, unknown>;
      if (typeof jti !== 'string' || typeof clientId !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') return undefined;
      const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
      return { jti, clientId, exp, iat, scopes: splitScopes(typeof scope === 'string' ? scope : ''), jkt: typeof jkt === 'string' ? jkt : undefined };
    } catch {
      return undefined;
    }
  }

  return {
    /** Signs and verifies with the keys derived from `jwks` (the provider's; the first ES256 key signs) from now on. */
    async useKeys(jwks: { keys: JWK[] }): Promise<void> {
      const derived = new Map<string, CryptoKey>();
      let first: typeof signing;
      for (const jwk of jwks.keys) {
        const key = await accessTokenKeyOf(jwk);
        if (!key || !jwk.kid) continue;
        derived.set(jwk.kid, key);
        first ??= { kid: jwk.kid, key };
      }
      keys = derived;
      signing = first;
    },

    /** oidc-provider's description of a resource server (the app APIs), or `undefined` for any other resource. */
    resourceServer(resource: string) {
      if (resource !== appsResource(issuer) || !signing) return undefined;
      return {
        scope: CAPABILITIES.join(' '),
        audience: resource,
        accessTokenFormat: 'jwt' as const,
        accessTokenTTL: APP_TOKEN_SECONDS,
        jwt: { sign: { alg: ACCESS_TOKEN_ALG, key: signing.key, kid: signing.kid } },
      };
    },

    /**
     * A self-contained token that is live now: signed by carevault for the app APIs, unexpired,
     * not revoked, and its app still registered with every capability it names.
     */
    async find(value: string): Promise<LiveAppToken | undefined> {
      const claims = await verified(value);
      if (!claims) return undefined;
      const capabilities = await models.liveAppCapabilities(claims.clientId, claims.jti);
      if (!capabilities || !claims.scopes.every((scope) => capabilities.includes(scope))) return undefined;
      return { ...claims, aud: appsResource(issuer) };
    },

    /** Ends one self-contained token before it expires (RFC 7009): its `jti` is kept until then. */
    revoke(jti: string): Promise<void> {
      return models.revokeSelfContained(jti, new Date(Date.now() + APP_TOKEN_SECONDS * 1000));
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
