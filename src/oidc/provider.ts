/**
 * The OpenID Provider: oidc-provider configured for carevault — authorization code with PKCE (S256,
 * every client), refresh tokens, introspection, revocation, RP-initiated logout, discovery, and
 * dynamic registration behind an initial access token. Every model is stored in PostgreSQL.
 * https://openid.net/specs/openid-connect-core-1_0.html
 */
import { createHmac } from 'node:crypto';
import type { Knex } from 'knex';
import Provider, { type Configuration, type JWKS } from 'oidc-provider';
import type { Config } from '../config';
import type { AccountService } from '../accounts/service';
import { allScopes } from '../rules/scopes';
import { createAdapterClass } from './adapter';
import { applyClientPolicy, hashClientSecret } from './client-policy';
import { validateExtraMetadata } from './client-metadata';
import { bindGrantsToRecords, loadExistingGrant, type AuthorizationHooks } from './grants';
import { HOME_CLIENT_ID, homeClientMetadata } from './home-client';
import { audiencePolicy, scopePolicy } from './request-policy';
import { createModelStore } from './store';
import { shapeResponses } from './responses';
import { logoutSource, postLogoutSuccessSource, renderError } from './views';

/** The endpoint paths; discovery advertises them, and app.ts routes them to the provider. */
export const OIDC_ROUTES = {
  authorization: '/authorize',
  token: '/token',
  userinfo: '/userinfo',
  jwks: '/jwks',
  introspection: '/introspect',
  revocation: '/revoke',
  registration: '/oauth/register',
  end_session: '/session/end',
  pushed_authorization_request: '/par',
  device_authorization: '/device/authorize',
  code_verification: '/device',
} as const;

/** Endpoints called by apps, not browsers: their errors are JSON. */
const API_ROUTES: readonly string[] = [
  OIDC_ROUTES.token,
  OIDC_ROUTES.userinfo,
  OIDC_ROUTES.introspection,
  OIDC_ROUTES.revocation,
  OIDC_ROUTES.registration,
  OIDC_ROUTES.pushed_authorization_request,
  OIDC_ROUTES.device_authorization,
];

/** 100 years: what "until revoked" means for a TTL that must be a positive number. */
const UNTIL_REVOKED = 100 * 365 * 24 * 3600;

export type ProviderDeps = {
  config: Config;
  knex: Knex;
  accounts: AccountService;
  authorizations: AuthorizationHooks;
  jwks: JWKS;
  cookieKeys: string[];
  /** Secret that makes each app's `sub` for a person different and unlinkable. */
  pairwiseSalt: string;
};

export function createProvider({ config, knex, accounts, authorizations, jwks, cookieKeys, pairwiseSalt }: ProviderDeps): Provider {
  const secure = config.issuer.startsWith('https:');
  const store = createModelStore(knex);

  const configuration: Configuration = {
    adapter: createAdapterClass(store, hashClientSecret, config.refreshReuseGrace),
    clients: [homeClientMetadata(config.issuer)],
    jwks,
    cookies: {
      keys: cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax', secure },
      short: { signed: true, httpOnly: true, sameSite: 'lax', secure },
    },
    routes: OIDC_ROUTES,
    scopes: allScopes(),
    // SMART apps read fhirUser (and the name) from the ID token itself.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
      fhirUser: ['fhirUser'],
    },
    async findAccount(ctx, sub, token) {
      const person = await accounts.findPerson(sub);
      if (!person) return undefined;
      // fhirUser names the record the authorization is bound to, else the person's own record.
      const grantId = (token as { grantId?: string } | undefined)?.grantId ?? ctx.oidc?.entities?.Grant?.jti;
      const boundRecord = grantId ? await authorizations.recordOfGrant(grantId) : undefined;
      const ownRecord = boundRecord ? { id: boundRecord } : (await accounts.recordsOf(person.id))[0];
      return {
        accountId: person.id,
        async claims() {
          return {
            sub: person.id,
            name: person.name,
            email: person.email,
            email_verified: false,
            ...(ownRecord ? { fhirUser: `${config.issuer}/fhir/Patient/${ownRecord.id}` } : {}),
          };
        },
      };
    },
    features: {
      devInteractions: { enabled: false },
      // An app may introspect and revoke only its own tokens.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      registration: config.registrationInitialAccessToken
        ? { enabled: true, initialAccessToken: config.registrationInitialAccessToken }
        : { enabled: false },
      resourceIndicators: { enabled: false },
    },
    pkce: { required: () => true },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      clientAuthSigningAlgValues: ['RS256', 'RS384', 'PS256', 'ES256', 'ES384', 'EdDSA'],
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    responseTypes: ['code'],
    extraParams: {
      scope: scopePolicy,
      aud: audiencePolicy(`${config.issuer}/fhir`),
      screen_hint: null,
    },
    extraClientMetadata: { properties: ['rules', 'capabilities'], validator: validateExtraMetadata },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant: loadExistingGrant(authorizations),
    subjectTypes: ['public', 'pairwise'],
    // Pairwise by app (not by redirect host), so every app sees its own `sub` (OIDC Core §8.1).
    async pairwiseIdentifier(_ctx, accountId, client) {
      return createHmac('sha256', pairwiseSalt).update(`${client.clientId}\u0000${accountId}`).digest('base64url');
    },
    async issueRefreshToken(_ctx, client, code) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      return code.scopes.has('offline_access') || code.scopes.has('online_access');
    },
    // Every refresh rotates: a stolen, already-used refresh token is detected and ends the grant.
    rotateRefreshToken: true,
    ttl: {
      AccessToken: config.ttl.accessToken,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      IdToken: 3600,
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      DeviceCode: 28 * 24 * 3600,
      // Authorizations do not expire on their own: the person or the app revokes them.
      Grant: UNTIL_REVOKED,
      RefreshToken(_ctx, token) {
        if (token.scopes.has('offline_access')) return config.ttl.offlineRefreshToken || UNTIL_REVOKED;
        return config.ttl.onlineRefreshToken;
      },
    },
    renderError,
    // Browser apps (SMART public clients) call the token endpoint from their own origin.
    clientBasedCORS(_ctx, origin, client) {
      return (client.redirectUris ?? []).some((uri) => {
        try {
          return new URL(uri).origin === origin;
        } catch {
          return false;
        }
      });
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;

  shapeResponses(provider, API_ROUTES);
  bindGrantsToRecords(provider, authorizations);
  applyClientPolicy(provider);

  return provider;
}

export { HOME_CLIENT_ID };
