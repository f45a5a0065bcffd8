/**
 * Client rules oidc-provider has no setting for:
 * - every app gets pairwise subject identifiers (OIDC Core §8.1);
 * - client secrets are stored as SHA-256 hashes and compared as such;
 * - an app refused a grant type at the token endpoint, or the device grant at the device
 *   authorization endpoint, hears `unauthorized_client` and why (RFC 6749 §5.2, RFC 8628 §3.2),
 *   not oidc-provider's `invalid_request` — e.g. an app without the connect capability, or a public
 *   app stored with `client_credentials` before registration refused it (its refused grants are
 *   dropped when it loads, client-metadata.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { grantRefusal } from '../apps/registration';
import { DEVICE_CODE_GRANT } from './protocol';

/** Client secrets are 256-bit random strings, so a fast hash suffices and the token endpoint stays fast. */
export function hashClientSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('base64url')}`;
}

export function applyClientPolicy(provider: Provider): void {
  // Registering clients as `subject_type: pairwise` would make oidc-provider demand a
  // sector_identifier_uri for several redirect hosts and private_key_jwt for device-flow clients
  // (Patient Connect), so the subject type is fixed here instead.
  Object.defineProperty(provider.Client.prototype, 'subjectType', {
    configurable: true,
    get: () => 'pairwise',
    set: () => undefined,
  });

  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return secretMatches(this.clientSecret, actual);
  };

  provider.use(async (ctx, next) => {
    await next();
    const { oidc } = ctx as KoaContextWithOIDC;
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (ctx.status !== 400 || body?.error !== 'invalid_request' || !oidc) return;
    const grant = oidc.route === 'token' ? String(oidc.params?.grant_type) : oidc.route === 'device_authorization' ? DEVICE_CODE_GRANT : undefined;
    if (!grant || body.error_description !== notAllowed(oidc.route, grant)) return;
    const client = oidc.client as { clientAuthMethod?: string; capabilities?: unknown } | undefined;
    const capabilities = Array.isArray(client?.capabilities) ? (client.capabilities as string[]) : [];
    body.error = 'unauthorized_client';
    body.error_description =
      grantRefusal(grant, { authMethod: client?.clientAuthMethod ?? 'none', capabilities }) ?? `this app is not registered for the grant type ${grant}`;
  });
}

/** oidc-provider's words when a client asks for a grant type it is not registered for, at the token and device authorization endpoints. */
function notAllowed(route: string, grant: string): string {
  return route === 'token' ? 'requested grant type is not allowed for this client' : `${grant} is not allowed for this client`;
}

/** Compares a presented client secret with the stored one (a hash; one stored before hashing compares as it is). */
export function secretMatches(stored: string | undefined, actual: string): boolean {
  if (!stored) return false;
  const candidate = stored.startsWith('sha256:') ? hashClientSecret(actual) : actual;
  const a = Buffer.from(stored);
  const b = Buffer.from(candidate);
  return a.length === b.length && timingSafeEqual(a, b);
}
