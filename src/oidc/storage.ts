/**
 * What the rest of carevault may know of oidc-provider's storage, behind a small interface (no
 * other folder touches its table): apps' names and rules, ending a grant with everything issued
 * under it, withdrawing tokens that carry a scope, taking scopes out of a grant, listing and ending a person's sessions, looking up an
 * access token (a self-contained one by its signature and liveness: access-tokens.ts; a stored one
 * by the SHA-256 of its value: stored-credentials.ts), and remembering one-time values. Each runs
 * in the current transaction when there is one.
 */
import { nameOfApp } from '../apps/names';
import type { Database } from '../db';
import { rulesOf, type Rule } from '../rules/app-rules';
import { splitScopes } from '../rules/scopes';
import { credentialKey } from '../security/credential-keys';
import { isStorableText } from '../security/storable-text';
import { isSelfContained, type AccessTokens } from './access-tokens';
import { secretMatches } from './client-policy';
import { createModelStore, type TokenLiveness } from './store';

/** An access token's facts, as the resource servers (the FHIR and app APIs) need them. */
export type AccessTokenFacts = {
  /** `person`: issued to an app for a person's record; `app`: a client-credentials token. */
  kind: 'person' | 'app';
  clientId: string;
  scopes: string[];
  /** The record a person token reaches (SMART `patient`). */
  recordId: string | undefined;
  /** The JWK thumbprint a DPoP-bound token is bound to (RFC 9449 §6). */
  jkt: string | undefined;
  /** The grant a person token was issued under (the authorization it carries). */
  grantId: string | undefined;
  /**
   * Present when the token's liveness is still to be read (a self-contained person token: its
   * signature holds, and it ends with its grant, not on its own): whoever acts on the token reads
   * it first, with `isLive`, or in the statement that acts (oidc/store.ts `livenessStep`).
   */
  liveness: TokenLiveness | undefined;
};

export function createOidcStorage(db: Database, accessTokens: AccessTokens) {
  const models = createModelStore(db);
  return {
    /** Registered app names by client id. */
    async appNames(clientIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
      const rows = await models.clientNames(clientIds);
      return new Map(rows.map((row) => [row.id, nameOfApp(row.id, row.name)]));
    },

    deleteGrant(grantId: string): Promise<void> {
      return models.deleteGrant(grantId);
    },

    /**
     * Ends the device code of a device flow request that was withdrawn, by the key kept for it
     * (the SHA-256 of the device code, security/credential-keys.ts).
     */
    endDeviceCode(deviceCodeKey: string): Promise<void> {
      return models.destroy('DeviceCode', deviceCodeKey);
    },

    /**
     * Ends every sign-in session of a person (their cookies then lead nowhere); the uids of the
     * sessions ended, so what lasted only while one of them did can end too.
     */
    endSessionsOf(accountId: string): Promise<string[]> {
      return models.deleteSessionsOf(accountId);
    },

    /**
     * Ends at once everything the person ever signed into or allowed: every session, grant, code and
     * token (access and refresh) of theirs, in the current transaction.
     */
    endEverythingOf(accountId: string): Promise<void> {
      return models.deleteEverythingOf(accountId);
    },

    /** A person's live sign-in sessions (their uids, not secret) and when each signed in. */
    async sessionsOf(accountId: string): Promise<{ uid: string; signedInAt: Date | undefined }[]> {
      const rows = await models.sessionsOf(accountId);
      return rows.map((row) => {
        const seconds = Number(row.login_ts);
        return { uid: row.uid, signedInAt: row.login_ts && Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined };
      });
    },

    /** Ends one sign-in session of a person (its cookie then leads nowhere); whether it was theirs and live. */
    endSessionOf(accountId: string, uid: string): Promise<boolean> {
      return models.deleteSessionOf(accountId, uid);
    },

    revokeTokensCarrying(grantId: string, model: 'AccessToken' | 'RefreshToken', scopes: readonly string[]): Promise<void> {
      return models.deleteTokensCarrying(grantId, model, scopes);
    },

    /**
     * Takes `scopes` out of a grant and counts them as declined (oidc-provider's `rejected`), so a
     * refresh gives the app only what is left (its access token's scope is the grant's, filtered)
     * and an authorization request does not ask for them again without `prompt=consent`.
     */
    async withdrawFromGrant(grantId: string, scopes: readonly string[]): Promise<void> {
      const payload = await models.grantForUpdate(grantId);
      if (!payload) return;
      const openid = (payload.openid ?? {}) as { scope?: unknown };
      const rejected = (payload.rejected ?? {}) as { openid?: { scope?: unknown } };
      const kept = splitScopes(typeof openid.scope === 'string' ? openid.scope : '').filter((scope) => !scopes.includes(scope));
      const declined = [...new Set([...splitScopes(typeof rejected.openid?.scope === 'string' ? rejected.openid.scope : ''), ...scopes])];
      await models.saveGrantPayload(grantId, {
        ...payload,
        openid: { ...openid, scope: kept.join(' ') },
        rejected: { ...rejected, openid: { ...rejected.openid, scope: declined.join(' ') } },
      });
    },

    /** The rules an app registered (none when it is gone or registered none). */
    async appRules(clientId: string): Promise<Rule[]> {
      return rulesOf((await models.findClient(clientId))?.rules);
    },

    /**
     * An access token by its value: unknown, expired, revoked, or issued under a grant that ended →
     * `undefined`. App tokens and person tokens for record rules are self-contained
     * (access-tokens.ts): an app's is read for liveness here, a person's comes with its `liveness`
     * still to be read; a person's token for identity alone is stored, and live when found. Either
     * way an ending is effective at once (RFC 6750, RFC 7662 §2.2).
     */
    async findAccessToken(value: string): Promise<AccessTokenFacts | undefined> {
      if (isSelfContained(value)) {
        const token = await accessTokens.signed(value);
        if (!token) return undefined;
        const { kind, clientId, scopes, jkt } = token;
        return kind === 'app'
          ? { kind, clientId, scopes, recordId: undefined, jkt, grantId: undefined, liveness: undefined }
          : { kind, clientId, scopes, recordId: token.recordId, jkt, grantId: token.grantId, liveness: token.liveness };
      }
      if (!/^[\w-]{20,200}$/.test(value)) return undefined;
      const payload = (await models.findAccessToken(credentialKey(value))) as
        { clientId?: unknown; scope?: unknown; jkt?: unknown; exp?: unknown; grantId?: unknown; extra?: { patient?: unknown } } | undefined;
      if (!payload || typeof payload.clientId !== 'string') return undefined;
      if (typeof payload.exp === 'number' && payload.exp * 1000 <= Date.now()) return undefined;
      return {
        kind: 'person',
        clientId: payload.clientId,
        scopes: splitScopes(typeof payload.scope === 'string' ? payload.scope : ''),
        recordId: typeof payload.extra?.patient === 'string' ? payload.extra.patient : undefined,
        jkt: typeof payload.jkt === 'string' ? payload.jkt : undefined,
        grantId: typeof payload.grantId === 'string' ? payload.grantId : undefined,
        liveness: undefined,
      };
    },

    /** Whether a self-contained person token whose `liveness` was still to be read is live now: one read. */
    isLive(liveness: TokenLiveness): Promise<boolean> {
      return accessTokens.isLive(liveness);
    },

    /**
     * A confidential app proving who it is with its client id and secret outside the token
     * endpoint (SMTP AUTH, say): its name and capabilities, or `undefined`.
     */
    async authenticateApp(clientId: string, secret: string): Promise<{ clientId: string; name: string; capabilities: string[] } | undefined> {
      if (!isStorableText(clientId) || clientId.length > 200) return undefined;
      const client = await models.findClient(clientId);
      const stored = typeof client?.client_secret === 'string' ? client.client_secret : undefined;
      if (!client || !secretMatches(stored, secret)) return undefined;
      const capabilities = Array.isArray(client.capabilities) ? client.capabilities.filter((item): item is string => typeof item === 'string') : [];
      return { clientId, name: nameOfApp(clientId, client.client_name), capabilities };
    },

    /** Remembers a DPoP proof's `jti` until `expiresAt`; false when it was used before. */
    async firstUseOfProof(jti: string, expiresAt: Date): Promise<boolean> {
      if (!isStorableText(jti) || jti.length > 200) return false;
      return models.firstUse('ResourceProof', jti, expiresAt);
    },
  };
}

export type OidcStorage = ReturnType<typeof createOidcStorage>;
