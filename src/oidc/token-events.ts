/**
 * What the token endpoint did, told to whoever watches (the Prometheus metrics): one call per
 * token response, issued or refused, named by grant type (RFC 6749 §4, RFC 8628 §3.4). Built on
 * oidc-provider's `grant.success` and `grant.error` events so no route of ours has to count.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The token endpoint's outcomes, as the rest of carevault sees them (no oidc-provider types). */
export type TokenObserver = {
  issued(grantType: string): void;
  refused(grantType: string, error: string): void;
};

const SHORT_NAMES: Readonly<Record<string, string>> = {
  authorization_code: 'authorization_code',
  refresh_token: 'refresh_token',
  client_credentials: 'client_credentials',
  'urn:ietf:params:oauth:grant-type:device_code': 'device_code',
};

/** A bounded name for the grant type an app sent: anything unknown is `other`. */
function grantTypeOf(ctx: KoaContextWithOIDC): string {
  const sent = ctx.oidc?.params?.grant_type;
  return (typeof sent === 'string' && SHORT_NAMES[sent]) || 'other';
}

export function observeTokenEndpoint(provider: Provider, observer: TokenObserver): void {
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => observer.issued(grantTypeOf(ctx)));
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: { error?: unknown }) => {
    observer.refused(grantTypeOf(ctx), typeof error?.error === 'string' ? error.error : 'server_error');
  });
}
