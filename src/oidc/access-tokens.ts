/**
 * Looks up a bearer access token for carevault's own resource servers (the FHIR API). Tokens are
 * opaque and stored, so a token whose grant was removed is gone at once (RFC 6750, RFC 7662 §2.2).
 */
import type Provider from 'oidc-provider';
import { splitScopes } from '../rules/scopes';

export type VerifiedToken = {
  clientId: string;
  grantId: string | undefined;
  accountId: string | undefined;
  scopes: string[];
};

export function createAccessTokens(current: () => Provider) {
  return {
    /** The token's facts, or `undefined` when it is unknown, expired or revoked. */
    async verify(value: string): Promise<VerifiedToken | undefined> {
      if (!/^[\w-]{20,200}$/.test(value)) return undefined;
      const token = await current().AccessToken.find(value);
      if (!token || token.isExpired || !token.clientId) return undefined;
      return {
        clientId: token.clientId,
        grantId: token.grantId,
        accountId: token.accountId,
        scopes: splitScopes(token.scope),
      };
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
