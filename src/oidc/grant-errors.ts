/**
 * Token errors that name their cause (RFC 6749 §5.2): the error code stays oidc-provider's
 * (`invalid_grant`), and `error_description`, which it leaves as "grant request is invalid", says
 * what was wrong — an expired code, a PKCE verifier that does not match, another redirect_uri,
 * a code or refresh token issued to another client — from the detail oidc-provider throws with.
 * An expired code is not found by the adapter (it reads live rows only), so a "not found" code is
 * looked up once more among the expired rows not yet swept.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { entryOf, requestEntry, setEntry } from '../http/request-context';
import type { createModelStore } from './store';
import { storedKeyOf } from './stored-credentials';

/** oidc-provider's own words when it says nothing more. */
const DEFAULT_DESCRIPTION = 'grant request is invalid';

/** The detail oidc-provider refused this request's grant with. */
const GRANT_DETAIL = requestEntry('grant error detail', (): string | undefined => undefined);

/** How long an authorization code lasts, in seconds (oidc-provider's TTL for it). */
export const AUTHORIZATION_CODE_SECONDS = 60;

const EXPIRED_CODE = `the authorization code has expired (codes last ${AUTHORIZATION_CODE_SECONDS} seconds): start the authorization again`;

/** oidc-provider's details (helpers/pkce.js, helpers/grant_source.js, actions/grants/*) in words an app's maker can act on. */
function describe(detail: string, grantType: string): string | undefined {
  const what = grantType === 'refresh_token' ? 'refresh token' : grantType === 'authorization_code' ? 'authorization code' : 'code';
  switch (detail) {
    case 'authorization code is expired':
      return EXPIRED_CODE;
    case 'code_verifier does not match code_challenge':
      return 'PKCE verification failed: code_verifier does not match the code_challenge of the authorization request (RFC 7636 §4.6)';
    case 'code_verifier must be provided':
      return 'PKCE verification failed: code_verifier is missing, and the authorization request sent a code_challenge (RFC 7636 §4.5)';
    case 'authorization code redirect_uri mismatch':
      return 'redirect_uri does not match the redirect_uri of the authorization request that issued this code (RFC 6749 §4.1.3)';
    case 'client mismatch':
      return `this ${what} was issued to another client`;
    case 'authorization code already consumed':
      return 'the authorization code was already used; every token issued from it is revoked (RFC 6749 §4.1.2)';
    case 'authorization code not found':
      return 'the authorization code is unknown, already used or revoked';
    case 'refresh token is expired':
      return 'the refresh token has expired: start the authorization again';
    case 'refresh token not found':
      return 'the refresh token is unknown, already used, or its access was removed';
    case 'refresh token already used':
      return 'the refresh token was already used (each refresh returns the one to use next): presenting it again ended the authorization, and every token issued under it is revoked';
    case 'grant not found':
    case 'grant is expired':
      return 'the authorization behind this grant has ended (removed by the person or the app)';
    default:
      return undefined;
  }
}

export function nameGrantErrors(provider: Provider, store: ReturnType<typeof createModelStore>): void {
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: { error_detail?: unknown }) => {
    if (typeof error?.error_detail === 'string') setEntry(ctx.req, GRANT_DETAIL, error.error_detail);
  });

  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (ctx.status !== 400 || body?.error !== 'invalid_grant' || body.error_description !== DEFAULT_DESCRIPTION) return;
    const detail = entryOf(ctx.req, GRANT_DETAIL);
    if (!detail) return;
    const { oidc } = ctx as KoaContextWithOIDC;
    const grantType = String(oidc?.params?.grant_type ?? '');
    const code = oidc?.params?.code;
    if (detail === 'authorization code not found' && typeof code === 'string' && code.length <= 512) {
      if (await store.hasExpired('AuthorizationCode', storedKeyOf('AuthorizationCode', code))) {
        body.error_description = EXPIRED_CODE;
        return;
      }
    }
    body.error_description = describe(detail, grantType) ?? body.error_description;
  });
}
