/**
 * Checks on authorization and device authorization requests that oidc-provider leaves to us. They
 * run as `extraParams` validators, after the client and redirect_uri are verified, so a refusal is
 * returned to the app as an OAuth error.
 * - No `scope` means every rule the app registered (HealthVault: the app's rule set).
 * - `offline_access` is kept without `prompt=consent` when the app may refresh.
 * - A scope that is neither an identity scope nor one of the app's rules is refused with
 *   `invalid_scope` (RFC 6749 §4.1.2.1), including scopes carevault does not know at all, and the
 *   app-level capabilities (`dopu`, `connect`, `direct`): those are for client-credentials tokens.
 * - SMART `aud` must name this server's FHIR base URL (SMART App Launch §2.0.3).
 *
 * A pushed authorization request (RFC 9126) is checked when it is pushed. When the browser brings
 * its `request_uri` to the authorization endpoint, oidc-provider loads the stored request as a JWT
 * whose claims become the parameters — its `aud` claim (this issuer) among them — so the SMART
 * checks there read the pushed request's own parameters, never its JWT claims (RFC 9126 §4).
 */
import { decodeJwt } from 'jose';
import { errors, type KoaContextWithOIDC, type Client } from 'oidc-provider';
import { rulesOf } from '../rules/app-rules';
import { isCapability, isIdentityScope, splitScopes } from '../rules/scopes';

/** The request was pushed (RFC 9126) and is now being used at the authorization endpoint. */
function isPushed(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.route === 'authorization' && ctx.oidc.entities.PushedAuthorizationRequest !== undefined;
}

/**
 * The scope as the app sent it: by this point oidc-provider has already dropped the scopes it does
 * not know, and `offline_access` without `prompt=consent`, from `params.scope`. The authorization
 * endpoint is GET only (a POST is redirected to the equivalent GET before it reaches
 * oidc-provider), so its parameters are in the query; the pushed authorization request and device
 * authorization endpoints take a form body. A pushed request carries the scope checked when it was
 * pushed.
 */
function rawScope(ctx: KoaContextWithOIDC): string | undefined {
  if (isPushed(ctx)) {
    const pushed = ctx.oidc.entities.PushedAuthorizationRequest as unknown as { request?: unknown };
    const scope = typeof pushed.request === 'string' ? decodeJwt(pushed.request).scope : undefined;
    return typeof scope === 'string' ? scope : undefined;
  }
  const source = ctx.oidc.route === 'authorization' ? ctx.query : (ctx.oidc as unknown as { body?: Record<string, unknown> }).body;
  const raw = source?.scope;
  if (typeof raw === 'string') return raw;
  return ctx.oidc.params?.scope as string | undefined;
}

export function scopePolicy(ctx: KoaContextWithOIDC, _value: string | undefined, client?: Client): void {
  if (!client) return;
  const params = ctx.oidc.params as Record<string, unknown>;
  const allowed = new Set(splitScopes(client.scope));
  const requested = splitScopes(rawScope(ctx));
  if (requested.length === 0) {
    const rules = rulesOf((client as unknown as { rules?: unknown }).rules).map((rule) => rule.scope);
    params.scope = rules.length ? rules.join(' ') : undefined;
    return;
  }
  const capability = requested.find(isCapability);
  if (capability) throw new errors.InvalidScope(`${capability} is an app capability, granted only with client credentials`, capability);
  const refused = requested.find((scope) => !isIdentityScope(scope) && !allowed.has(scope));
  if (refused) throw new errors.InvalidScope('requested scope is not allowed', refused);
  // oidc-provider drops offline_access unless prompt=consent (OIDC Core §11); SMART apps never send
  // it, and the consent page asks for offline access as a rule anyway, so it is kept.
  params.scope = requested.filter((scope) => scope !== 'offline_access' || client.grantTypeAllowed('refresh_token')).join(' ');
}

export function audiencePolicy(fhirBaseUrl: string) {
  const expected = fhirBaseUrl.replace(/\/+$/, '');
  return (ctx: KoaContextWithOIDC, value: string | undefined): void => {
    if (isPushed(ctx)) {
      // The SMART aud was checked at the push; `aud` here is the stored request's JWT audience.
      (ctx.oidc.params as Record<string, unknown>).aud = undefined;
      return;
    }
    if (value === undefined) return;
    if (value.replace(/\/+$/, '') !== expected) {
      throw new errors.InvalidRequest(`aud must be this server's FHIR base URL, ${expected}`);
    }
  };
}
