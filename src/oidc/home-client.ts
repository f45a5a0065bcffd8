/**
 * carevault's own pages sign people in through the same authorization endpoint as every app, as a
 * first-party public client: there is then one session for the authorization pages and the
 * person's own pages, and signing out ends both.
 */
import type { ClientMetadata } from 'oidc-provider';

export const HOME_CLIENT_ID = 'carevault';

export function homeClientMetadata(issuer: string): ClientMetadata {
  return {
    client_id: HOME_CLIENT_ID,
    client_name: 'carevault',
    token_endpoint_auth_method: 'none',
    redirect_uris: [`${issuer}/signed-in`],
    post_logout_redirect_uris: [`${issuer}/`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    rules: [],
    capabilities: [],
  };
}
