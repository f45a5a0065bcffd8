/**
 * Grants bound to records. oidc-provider keeps no custom fields on a Grant, so the record and the
 * rules live in carevault's authorizations, keyed by grant id; this file connects the two:
 * - an existing authorization skips consent when nothing new is asked (OIDC Core §3.1.2.4);
 * - access tokens carry the record they reach, and the token response SMART's `patient`
 *   (SMART App Launch, token response), from one lookup per token request — which also refuses a
 *   token (`invalid_grant`) once the person who allowed the app no longer holds the record;
 * - grants that oidc-provider ends (revocation, replay) end the authorization; signing out ends
 *   the grants of the authorizations that last only while the person is signed in;
 * - every token issued or refreshed is recorded.
 */
import type { IncomingMessage } from 'node:http';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { entryOf, loadOnce, requestEntry, setEntry } from '../http/request-context';
import type { Person } from '../accounts/person';
import type { RecordEvent } from '../audit/store';
import { HOME_CLIENT_ID } from './home-client';

/** An authorization as the OpenID core needs it. */
export type BoundAuthorization = {
  id: string;
  record_id: string;
  client_id: string;
  access: 'offline' | 'online' | 'none';
  session_uid: string | null;
  /** Whether the person who made it still holds the record (a share may have expired). */
  holds: boolean;
};

export type AuthorizationHooks = {
  /** Records a person holds (custodian of). */
  recordIdsOf(personId: string): Promise<string[]>;
  /** The live authorization the person made for the app and the record. */
  find(clientId: string, recordId: string, personId: string): Promise<{ id: string; grant_id: string | null; scope: string; declined: string } | undefined>;
  setGrant(authorizationId: string, grantId: string): Promise<void>;
  /** The live authorization a grant carries. */
  findByGrant(grantId: string): Promise<BoundAuthorization | undefined>;
  grantEnded(grantId: string, how: 'app' | 'security'): Promise<void>;
  tokensIssued(authorization: BoundAuthorization, issued: { refreshed: boolean; sessionUid: string | undefined }): Promise<void>;
  /** The audit line `tokensIssued` appends, for a statement that writes it itself. */
  tokensEvent(authorization: BoundAuthorization, issued: { refreshed: boolean }): RecordEvent;
  signedOut(sessionUid: string): Promise<void>;
};

/** The authorizations behind the grants a request reads, by grant id. */
const AUTHORIZATIONS = requestEntry('authorizations of grants', () => new Map<string, Promise<BoundAuthorization | undefined>>());
/** The people a request read (oidc-provider asks for the account more than once per token request: the grant, then the ID token's claims). */
export const PEOPLE_READ = requestEntry('people read', () => new Map<string, Promise<Person | undefined>>());

/**
 * What the token endpoint read with a code or refresh token's grant (route-lookups.ts): the
 * grant's person and its live authorization, answered from here for the rest of the request.
 */
export function readWithGrant(
  req: IncomingMessage,
  grantId: string,
  accountId: string,
  person: Person | undefined,
  authorization: BoundAuthorization | undefined,
): void {
  entryOf(req, PEOPLE_READ).set(accountId, Promise.resolve(person));
  entryOf(req, AUTHORIZATIONS).set(grantId, Promise.resolve(authorization));
}
/** The grants oidc-provider ended while answering the request (a revocation, a replayed code). */
const ENDED_GRANTS = requestEntry('grants ended', (): string[] => []);
/** Whether the request's tokens were recorded by the statement that stored them (a refresh's rotation). */
const TOKENS_RECORDED = requestEntry('tokens recorded', () => false);
/** Whether the request signed the person out. */
const SIGNED_OUT = requestEntry('signed out', () => false);

/** The authorization a grant carries, looked up once per request. */
export function authorizationOf(hooks: AuthorizationHooks, ctx: KoaContextWithOIDC, grantId: string): Promise<BoundAuthorization | undefined> {
  return loadOnce(ctx.req, AUTHORIZATIONS, grantId, () => hooks.findByGrant(grantId));
}

/**
 * A refresh's audit line, for the statement that rotates the refresh token to write with the
 * tokens (oidc/adapter.ts): `eventOf` the grant's (none without an authorization), and `recorded`
 * once that statement wrote it, so it is not appended again.
 */
export function refreshAudit(hooks: AuthorizationHooks) {
  return {
    async eventOf(grantId: string): Promise<RecordEvent | undefined> {
      const ctx = Provider.ctx;
      const authorization = ctx && (await authorizationOf(hooks, ctx, grantId));
      return authorization ? hooks.tokensEvent(authorization, { refreshed: true }) : undefined;
    },
    recorded(): void {
      const req = Provider.ctx?.req;
      if (req) setEntry(req, TOKENS_RECORDED, true);
    },
  };
}

export type RefreshAudit = ReturnType<typeof refreshAudit>;

/** oidc-provider's `loadExistingGrant`. */
export function loadExistingGrant(hooks: AuthorizationHooks) {
  return async (ctx: KoaContextWithOIDC) => {
    const { client, session, provider } = ctx.oidc;
    const resultGrantId = (ctx.oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId;
    if (resultGrantId) return provider.Grant.find(resultGrantId);
    if (!client || !session?.accountId) return undefined;
    if (client.clientId === HOME_CLIENT_ID) {
      const grantId = session.grantIdFor(client.clientId);
      return grantId ? provider.Grant.find(grantId) : undefined;
    }
    // With several records the consent page asks which one, every time.
    const records = await hooks.recordIdsOf(session.accountId);
    const [only] = records;
    if (records.length !== 1 || !only) return undefined;
    const authorization = await hooks.find(client.clientId, only, session.accountId);
    if (!authorization) return undefined;
    if (authorization.grant_id) {
      const grant = await provider.Grant.find(authorization.grant_id);
      if (grant) return grant;
    }
    // The grant ended when the person signed out (online access); the authorization stands.
    const grant = new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    grant.addOIDCScope(authorization.scope);
    if (authorization.declined) grant.rejectOIDCScope(authorization.declined);
    await hooks.setGrant(authorization.id, await grant.save());
    return grant;
  };
}

/** oidc-provider's `extraTokenClaims`: a person's access token names the record it reaches. */
export function extraTokenClaims(hooks: AuthorizationHooks) {
  return async (ctx: KoaContextWithOIDC, token: { kind?: string; grantId?: string; scope?: string }) => {
    // A client-credentials token is for the capabilities it names: without `scope` it would carry
    // none, so it is refused (RFC 6749 §3.3) before anything is stored.
    if (token.kind === 'ClientCredentials' && !token.scope) throw Object.assign(new errors.InvalidScope(withoutScope(ctx), ''), { scope: undefined });
    if (token.kind !== 'AccessToken' || !token.grantId) return undefined;
    const authorization = await authorizationOf(hooks, ctx, token.grantId);
    // A record shared with the person until a day now past: no new token reaches it (the sweep then ends the authorization).
    if (authorization && !authorization.holds) throw new errors.InvalidGrant('the person who allowed this app no longer has access to the record');
    return authorization ? { patient: authorization.record_id } : undefined;
  };
}

/** What an app that asked for a client-credentials token without `scope` is told, with what it may ask for. */
function withoutScope(ctx: KoaContextWithOIDC): string {
  const capabilities = (ctx.oidc?.client as { capabilities?: unknown } | undefined)?.capabilities;
  const listed = Array.isArray(capabilities) ? capabilities.filter((item): item is string => typeof item === 'string') : [];
  const which = listed.length ? `this app may ask for ${listed.join(', ')}` : 'this app has none registered';
  return `scope is required for client_credentials: name the capabilities the token is for (${which})`;
}

/** Installs the middleware and event listeners that keep authorizations in step with grants. */
export function bindGrantsToRecords(provider: Provider, hooks: AuthorizationHooks): void {
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    entryOf(ctx.req, ENDED_GRANTS).push(grantId);
  });
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    setEntry(ctx.req, SIGNED_OUT, true);
  });

  provider.use(async (ctx, next) => {
    await next();
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    for (const grantId of entryOf(ctx.req, ENDED_GRANTS).splice(0)) await hooks.grantEnded(grantId, oidc?.route === 'revocation' ? 'app' : 'security');
    if (entryOf(ctx.req, SIGNED_OUT) && oidc?.session?.uid) await hooks.signedOut(oidc.session.uid);
    const body = ctx.body as Record<string, unknown> | undefined;
    if (oidc?.route !== 'token' || ctx.status !== 200 || typeof body?.access_token !== 'string') return;
    const grantId = oidc.entities.Grant?.jti;
    if (!grantId) return;
    const authorization = await authorizationOf(hooks, ctx as KoaContextWithOIDC, grantId);
    if (!authorization) return;
    body.patient = authorization.record_id;
    if (entryOf(ctx.req, TOKENS_RECORDED)) return;
    const code = oidc.entities.AuthorizationCode as { sessionUid?: string } | undefined;
    await hooks.tokensIssued(authorization, { refreshed: oidc.params?.grant_type === 'refresh_token', sessionUid: code?.sessionUid });
  });
}
