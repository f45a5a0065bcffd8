/**
 * Self-contained access tokens (JWT access tokens, RFC 9068): an app's client-credentials token is
 * signed with the server's ES256 key for the app APIs' resource (RFC 8707) and stored nowhere, so
 * issuing one writes nothing. What storing it gave for free is checked where it is used, in one
 * read of one indexed row: the app is still registered with every capability the token names, and
 * this token was not revoked (RFC 7009: revoking a token that is stored nowhere stores its `jti`
 * until it would have expired). Apps must treat the value as opaque; only carevault reads it.
 *
 * The keys that verify are the ES256 keys of the provider's JWKS, handed over whenever the provider
 * is built (runtime.ts): a rotation publishes new keys on every instance before they sign (keys.ts).
 */
import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWK, type KeyObject } from 'jose';
import type { Database } from '../db';
import { CAPABILITIES, splitScopes } from '../rules/scopes';
import { isStorableText } from '../security/storable-text';
import { createModelStore } from './store';

/** How long an app's client-credentials token lasts (RFC 6749 §4.4.3). */
export const APP_TOKEN_SECONDS = 600;

/** The algorithm self-contained tokens are signed with: fast to sign, small, in every JWKS of ours. */
const ACCESS_TOKEN_ALG = 'ES256' as const;

/** The RFC 8707 resource an app's client-credentials token is for: the app APIs (`/api/*`). */
export function appsResource(issuer: string): string {
  return `${issuer}/api`;
}

/** oidc-provider's description of the app APIs as a resource server, or `undefined` for any other resource. */
export function resourceServerInfo(issuer: string, resource: string) {
  if (resource !== appsResource(issuer)) return undefined;
  return {
    scope: CAPABILITIES.join(' '),
    audience: resource,
    accessTokenFormat: 'jwt' as const,
    accessTokenTTL: APP_TOKEN_SECONDS,
    jwt: { sign: { alg: ACCESS_TOKEN_ALG } },
  };
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
  let keys = new Map<string, CryptoKey | KeyObject | Uint8Array>();

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
    /** Verifies with the ES256 keys of `jwks` (the provider's, private parts left out) from now on. */
    async useKeys(jwks: { keys: JWK[] }): Promise<void> {
      const published = new Map<string, CryptoKey | KeyObject | Uint8Array>();
      for (const jwk of jwks.keys) {
        if (jwk.alg !== ACCESS_TOKEN_ALG || !jwk.kid) continue;
        const { d: _private, ...publicPart } = jwk;
        published.set(jwk.kid, await importJWK(publicPart, ACCESS_TOKEN_ALG));
      }
      keys = published;
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
