/**
 * Self-contained access tokens (JWT access tokens, RFC 9068), stored nowhere, so issuing one writes
 * nothing: an app's client-credentials token, for the app APIs' resource (`<ISSUER>/api`, RFC
 * 8707), and a person's token for an app, for the FHIR API's (`<ISSUER>/fhir`). What storing them
 * gave for free is checked where they are used, in one read of one indexed row (for a person's
 * token at the FHIR API, inside the statement that does the work: store.ts `livenessStep`): for an
 * app's token, the app is still registered with every capability it names; for a person's, its grant is live
 * (Remove access, a replayed refresh token, sign-out for online access and a closed account end
 * it), the person still holds the record, and the grant still holds every rule the token names;
 * for both, the token was not revoked (RFC 7009: revoking a token that is stored nowhere stores its
 * `jti` until it would have expired). Apps must treat the value as opaque; only carevault reads it.
 *
 * Only carevault verifies these tokens (others ask introspection), so they are signed with HMAC
 * (HS256, RFC 7518 §3.2): it costs a fifth of an ES256 signature and verification, which would
 * otherwise cost more CPU than the database row the token replaces. Each published ES256 signing
 * key yields its own HMAC key (HKDF, RFC 5869), named by that key's `kid`, so `carevault keys
 * rotate` rotates these too, and every instance holds a key before it signs (keys.ts). The keys
 * are handed over whenever the provider is built (runtime.ts).
 */
import { createHmac, hkdfSync, timingSafeEqual, webcrypto } from 'node:crypto';
import type { JWK } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { credentialKey } from '../security/credential-keys';
import type { Database } from '../db';
import { ACCESS_SCOPES, CAPABILITIES, SUBSCRIPTION_SCOPE, parseRecordScope, splitScopes } from '../rules/scopes';
import { createModelStore, type TokenLiveness } from './store';

/** How long an app's client-credentials token lasts (RFC 6749 §4.4.3). */
export const APP_TOKEN_SECONDS = 600;

const ACCESS_TOKEN_ALG = 'HS256' as const;

/** The signing keys whose private parts the HMAC keys are derived from. */
const SOURCE_ALG = 'ES256';

/** The HMAC secret of one ES256 signing key: HKDF-SHA256 of its private scalar, for this use only. */
function secretOf(jwk: JWK): Buffer | undefined {
  if (jwk.alg !== SOURCE_ALG || !jwk.kid || !jwk.d) return undefined;
  return Buffer.from(hkdfSync('sha256', Buffer.from(jwk.d, 'base64url'), Buffer.alloc(0), 'carevault access token HS256', 32));
}

/**
 * The HMAC key of one ES256 signing key, as a WebCrypto key: oidc-provider signs through jose,
 * which would import any other kind of key again on every signature.
 */
export async function accessTokenKeyOf(jwk: JWK): Promise<CryptoKey | undefined> {
  const secret = secretOf(jwk);
  return secret && webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/** A base64url part of a compact JWS as JSON, or `undefined`. */
function partOf(part: string | undefined): Record<string, unknown> | undefined {
  if (!part || !/^[\w-]+$/.test(part)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The RFC 8707 resource an app's client-credentials token is for: the app APIs (`/api/*`). */
export function appsResource(issuer: string): string {
  return `${issuer}/api`;
}

/** The RFC 8707 resource a person's token for an app is for: the FHIR API, SMART's `aud`. */
export function fhirResource(issuer: string): string {
  return `${issuer}/fhir`;
}

/** The resource a request for `scopes` is for when it names none: the FHIR API when it asks for a record rule. */
export function resourceFor(issuer: string, grantType: unknown, scopes: readonly string[]): string | undefined {
  if (grantType === 'client_credentials') return appsResource(issuer);
  return scopes.some((scope) => scope === SUBSCRIPTION_SCOPE || parseRecordScope(scope) !== undefined) ? fhirResource(issuer) : undefined;
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

type IssuedToken = { kind?: string; grantId?: string; scope?: string };
type Scoped = { scopes: Set<string> };

/**
 * oidc-provider's JWT customizer: what a person's self-contained token carries besides RFC 9068's
 * claims. Its scope is what the grant holds of what was asked, identity and access included, as a
 * stored token's was (the app reads it in the token response; the FHIR API checks the rules in
 * it); `gid` names the grant its liveness is read from; `rtk` the refresh token a refresh issued
 * it with (the SHA-256 a stored refresh token is kept under), so that withdrawing that pair after
 * a retried refresh (adapter.ts) ends it too.
 */
export async function signedTokenClaims(ctx: KoaContextWithOIDC, token: IssuedToken, jwt: { payload: Record<string, unknown> }): Promise<void> {
  const { entities, params } = ctx.oidc;
  if (token.kind !== 'AccessToken' || !token.grantId || !entities.Grant) return;
  const source = (entities.AuthorizationCode ?? entities.RefreshToken ?? entities.DeviceCode) as Scoped | undefined;
  const asked = typeof params?.scope === 'string' && entities.RefreshToken ? new Set(splitScopes(params.scope)) : source?.scopes;
  const scope = asked ? entities.Grant.getOIDCScopeFiltered(asked) : '';
  token.scope = scope;
  jwt.payload.scope = scope || undefined;
  jwt.payload.gid = token.grantId;
  const successor = entities.RotatedRefreshToken ? (entities.RefreshToken as { jti?: string } | undefined) : undefined;
  if (successor?.jti) jwt.payload.rtk = credentialKey(successor.jti);
}

type TokenClaims = { jti: string; clientId: string; scopes: string[]; iat: number; exp: number; aud: string; jkt: string | undefined };

/** A live self-contained token, as oidc-provider's introspection needs it. */
export type LiveToken = TokenClaims &
  (
    | { kind: 'app' }
    | {
        kind: 'person';
        grantId: string;
        /** The grant as stored, read with the token's liveness (oidc-provider reads it next). */
        grant: Record<string, unknown>;
        accountId: string;
        /** The record the token reaches (SMART `patient`). */
        recordId: string | undefined;
      }
  );

/**
 * A self-contained token whose signature holds, as the bearer gate takes it: an app's is live (its
 * liveness was read), a person's carries what its liveness is read by (`liveness`), which the
 * gate reads on its own or a statement of the record reads with its data.
 */
export type SignedToken = TokenClaims & ({ kind: 'app' } | { kind: 'person'; grantId: string; recordId: string | undefined; liveness: TokenLiveness });

/** Scopes a token may carry that its grant no longer holds: offline or online access ends refresh tokens, never access tokens. */
const keptWithoutGrant = new Set<string>(ACCESS_SCOPES);

export function createAccessTokens(db: Database, { issuer, ttl }: { issuer: string; ttl: { accessToken: number } }) {
  const models = createModelStore(db);
  let secrets = new Map<string, Buffer>();
  let signing: { kid: string; key: CryptoKey } | undefined;

  /**
   * The claims of a token carevault signed for one of its resources and that has not expired; else
   * `undefined`. RFC 7515 §5.2 and RFC 9068 §4, checked here rather than by jose: jose verifies
   * only through WebCrypto, whose every HMAC is a job on libuv's thread pool, and under load that
   * hand-off cost more CPU than the rest of a FHIR read's token check.
   */
  function verified(value: string) {
    if (value.length > 4000) return undefined;
    const [header, body, signature, extra] = value.split('~');
    if (extra !== undefined || !signature) return undefined;
    const { alg, typ, kid, crit } = partOf(header) ?? {};
    if (alg !== ACCESS_TOKEN_ALG || typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'at+jwt' || crit !== undefined)
      return undefined;
    const secret = typeof kid === 'string' ? secrets.get(kid) : undefined;
    if (!secret || !/^[\w-]+$/.test(signature)) return undefined;
    const expected = createHmac('sha256', secret).update(`${header}.${body}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const payload = partOf(body);
    if (!payload) return undefined;
    const { jti, exp, iat, client_id: clientId, scope, cnf, aud, iss, gid, rtk, patient } = payload;
    if (iss !== issuer || (aud !== appsResource(issuer) && aud !== fhirResource(issuer))) return undefined;
    if (typeof jti !== 'string' || typeof clientId !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') return undefined;
    if (exp * 1000 <= Date.now()) return undefined;
    const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
    return {
      jti,
      clientId,
      exp,
      iat,
      aud,
      scopes: splitScopes(typeof scope === 'string' ? scope : ''),
      jkt: typeof jkt === 'string' ? jkt : undefined,
      grantId: typeof gid === 'string' ? gid : undefined,
      refreshTokenKey: typeof rtk === 'string' ? rtk : undefined,
      recordId: typeof patient === 'string' ? patient : undefined,
    };
  }

  /** The longest any self-contained token lives, which a revocation is kept for. */
  const longestLife = Math.max(APP_TOKEN_SECONDS, ttl.accessToken);

  /**
   * A self-contained token whose signature holds, or `undefined`: an app's only when it is live
   * (one read), a person's with what its liveness is read by, not yet read.
   */
  async function signed(value: string): Promise<SignedToken | undefined> {
    const claims = verified(value);
    if (!claims) return undefined;
    const { jti, clientId, scopes, iat, exp, aud, jkt, grantId, refreshTokenKey, recordId } = claims;
    if (aud === appsResource(issuer)) {
      const capabilities = await models.liveAppCapabilities(clientId, jti);
      if (!capabilities || !scopes.every((scope) => capabilities.includes(scope))) return undefined;
      return { kind: 'app', jti, clientId, scopes, iat, exp, aud, jkt };
    }
    if (!grantId) return undefined;
    const liveness = { grantId, jti, refreshTokenKey, rules: scopes.filter((scope) => !keptWithoutGrant.has(scope)) };
    return { kind: 'person', jti, clientId, scopes, iat, exp, aud, jkt, grantId, recordId, liveness };
  }

  return {
    /** Signs and verifies with the keys derived from `jwks` (the provider's; the first ES256 key signs) from now on. */
    async useKeys(jwks: { keys: JWK[] }): Promise<void> {
      const derived = new Map<string, Buffer>();
      let first: typeof signing;
      for (const jwk of jwks.keys) {
        const secret = secretOf(jwk);
        if (!secret || !jwk.kid) continue;
        derived.set(jwk.kid, secret);
        const key = first ? undefined : await accessTokenKeyOf(jwk);
        if (key) first = { kid: jwk.kid, key };
      }
      secrets = derived;
      signing = first;
    },

    /** oidc-provider's description of a resource server (the app APIs or the FHIR API), or `undefined` for any other resource. */
    resourceServer(resource: string) {
      if (!signing) return undefined;
      const jwt = { sign: { alg: ACCESS_TOKEN_ALG, key: signing.key, kid: signing.kid } };
      if (resource === appsResource(issuer)) {
        return { scope: CAPABILITIES.join(' '), audience: resource, accessTokenFormat: 'jwt' as const, accessTokenTTL: APP_TOKEN_SECONDS, jwt };
      }
      // A person's rules stay OpenID scopes of the grant, as consent and `/apps` keep them; the
      // token's scope is set from the grant when it is signed (tokenClaims), not from here.
      if (resource === fhirResource(issuer)) {
        return { scope: '', audience: resource, accessTokenFormat: 'jwt' as const, accessTokenTTL: ttl.accessToken, jwt };
      }
      return undefined;
    },

    signed,

    /** Whether a self-contained person token is live now (see above): one read. */
    isLive(liveness: TokenLiveness): Promise<boolean> {
      return models.personTokenLive(liveness);
    },

    /** A self-contained token that is live now (see above), with a person's grant as stored, or `undefined`. */
    async find(value: string): Promise<LiveToken | undefined> {
      const token = await signed(value);
      if (token?.kind !== 'person') return token;
      const { liveness, ...claims } = token;
      const grant = await models.livePersonGrant(liveness);
      const accountId = grant?.accountId;
      if (!grant || typeof accountId !== 'string') return undefined;
      return { ...claims, grant, accountId };
    },

    /** Ends one self-contained token before it expires (RFC 7009): its `jti` is kept until then. */
    revoke(jti: string): Promise<void> {
      return models.revokeSelfContained(jti, new Date(Date.now() + longestLife * 1000));
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
