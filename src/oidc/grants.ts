/**
 * Grants bound to records. oidc-provider keeps no custom fields on a Grant, so the record and the
 * rules live in carevault's authorizations, keyed by grant id; this file connects the two:
 * - an existing authorization skips consent when nothing new is asked (OIDC Core §3.1.2.4);
 * - the token response carries SMART's `patient` (SMART App Launch, token response);
 * - grants that oidc-provider ends (revocation, replay, sign-out) end or pause the authorization;
 * - every token issued or refreshed is recorded.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { HOME_CLIENT_ID } from './home-client';

export type AuthorizationHooks = {
  /** Records a person holds (custodian of). */
  recordsOf(personId: string): Promise<{ id: string }[]>;
  find(clientId: string, recordId: string): Promise<{ id: string; grant_id: string | null; scope: string; declined: string } | undefined>;
  setGrant(authorizationId: string, grantId: string): Promise<void>;
  recordOfGrant(grantId: string): Promise<string | undefined>;
  grantEnded(grantId: string, how: 'app' | 'security' | 'signed_out'): Promise<void>;
  tokensIssued(grantId: string, refreshed: boolean): Promise<string | undefined>;
};

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
    const records = await hooks.recordsOf(session.accountId);
    const [only] = records;
    if (records.length !== 1 || !only) return undefined;
    const authorization = await hooks.find(client.clientId, only.id);
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

const endedGrants = new WeakMap<object, string[]>();

function endOf(route: string | undefined): 'app' | 'security' | 'signed_out' {
  if (route === 'revocation') return 'app';
  if (route?.startsWith('end_session')) return 'signed_out';
  return 'security';
}

/** Installs the middleware and event listener that keep authorizations in step with grants. */
export function bindGrantsToRecords(provider: Provider, hooks: AuthorizationHooks): void {
  provider.on('grant.revoked', (ctx: object, grantId: string) => {
    endedGrants.get(ctx)?.push(grantId);
  });

  provider.use(async (ctx, next) => {
    const ended: string[] = [];
    endedGrants.set(ctx, ended);
    await next();
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    for (const grantId of ended) await hooks.grantEnded(grantId, endOf(oidc?.route));
    const body = ctx.body as Record<string, unknown> | undefined;
    if (oidc?.route !== 'token' || ctx.status !== 200 || typeof body?.access_token !== 'string') return;
    const grantId = oidc.entities.Grant?.jti;
    if (!grantId) return;
    const recordId = await hooks.tokensIssued(grantId, oidc.params?.grant_type === 'refresh_token');
    if (recordId) body.patient = recordId;
  });
}
