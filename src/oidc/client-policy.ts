/**
 * Two client rules oidc-provider has no setting for:
 * - every app gets pairwise subject identifiers (OIDC Core §8.1);
 * - client secrets are stored as SHA-256 hashes and compared as such.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';

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
}

/** Compares a presented client secret with the stored one (a hash; one stored before hashing compares as it is). */
export function secretMatches(stored: string | undefined, actual: string): boolean {
  if (!stored) return false;
  const candidate = stored.startsWith('sha256:') ? hashClientSecret(actual) : actual;
  const a = Buffer.from(stored);
  const b = Buffer.from(candidate);
  return a.length === b.length && timingSafeEqual(a, b);
}
