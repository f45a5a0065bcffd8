/**
 * The OpenID Provider: oidc-provider configured for carevault — authorization code with PKCE (S256,
 * every client), refresh tokens, client credentials, introspection, revocation, RP-initiated
 * logout, discovery, DPoP, PAR, and dynamic registration behind an initial access token. Every model
 * is stored in PostgreSQL. https://openid.net/specs/openid-connect-core-1_0.html
 */
import { createHmac } from 'node:crypto';
import Provider, { errors, interactionPolicy, type Configuration, type JWKS, type KoaContextWithOIDC } from 'oidc-provider';
import type { Person } from '../accounts/person';
import type { Config } from '../config';
import type { Database } from '../db';
import { loadOnce } from '../http/request-context';
import { ACR_PASSWORD, ACR_TWO_STEP, STEP_UP_REASON } from '../interactions/pending';
import { allScopes, splitScopes } from '../rules/scopes';
import { APP_TOKEN_SECONDS, appsResource, fhirResource, resourceFor, signedTokenClaims, type AccessTokens } from './access-tokens';
import { createAdapterClass } from './adapter';
import { deviceParams, interactionsPolicy, pollPolicy, type DeviceFlowHooks } from './device-flow';
import { deviceFlowFeature, deviceFlowMiddleware } from './device-pages';
import { applyClientPolicy, hashClientSecret } from './client-policy';
import { validateExtraMetadata } from './client-metadata';
import { reportFailures } from './failures';
import { checkFetchedUris, outgoingFetch } from './outgoing';
import { PEOPLE_READ, authorizationOf, bindGrantsToRecords, refreshAudit, extraTokenClaims, loadExistingGrant, type AuthorizationHooks } from './grants';
import { homeClientMetadata } from './home-client';
import { CLIENT_ASSERTION_ALGS, CLIENT_AUTH_METHODS, DPOP_ALGS, REQUEST_OBJECT_ALGS, SIGNING_ALGS } from './protocol';
import { audiencePolicy, scopePolicy } from './request-policy';
import { shapeResponses } from './responses';
import { OIDC_ROUTES } from './routes';
import { observeTokenEndpoint, type TokenObserver } from './token-events';
import { AUTHORIZATION_CODE_SECONDS, nameGrantErrors } from './grant-errors';
import { createModelStore } from './store';
import { logoutSource, postLogoutSuccessSource, renderErrorTelling } from './views';
import type { LostAtResume } from './interactions';

/** 100 years: what "until revoked" means for a TTL that must be a positive number. */
const UNTIL_REVOKED = 100 * 365 * 24 * 3600;

/** The people behind accounts, as the ID token and userinfo need them. */
export type People = {
  findPerson(id: string): Promise<Person | undefined>;
  ownRecordOf(personId: string): Promise<string | undefined>;
  /** Whether the person turned two-step sign-in on (then a request for {@link ACR_TWO_STEP} makes them step up). */
  secondStepOn(personId: string): Promise<boolean>;
};

/**
 * The login prompt's policy, with one check more: an app that asks for `acr_values` including
 * {@link ACR_TWO_STEP} sends a person signed in with the password alone back through the second
 * step (OIDC Core §3.1.2.1), when they have one; `acr_values` stays voluntary for the others.
 */
function withStepUp(policy: ReturnType<typeof interactionPolicy.base>, people: People) {
  const { Check } = interactionPolicy;
  const login = policy.get('login');
  if (!login) throw new Error('no login prompt');
  login.checks.add(
    new Check(STEP_UP_REASON, 'the app asked for two-step sign-in', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const asked = String(ctx.oidc.params?.acr_values ?? '').split(' ');
      const accountId = ctx.oidc.session?.accountId;
      if (!asked.includes(ACR_TWO_STEP) || !accountId || ctx.oidc.acr === ACR_TWO_STEP) return Check.NO_NEED_TO_PROMPT;
      return (await people.secondStepOn(accountId)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}

/**
 * What decides whether a client's metadata is acceptable: the part of the configuration that
 * registration (CLI or dynamic) checks against. The full provider is built on it.
 */
export function clientRules(config: Config): Configuration {
  return {
    scopes: allScopes(),
    responseTypes: ['code'],
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    enabledJWA: {
      idTokenSigningAlgValues: [...SIGNING_ALGS],
      userinfoSigningAlgValues: [...SIGNING_ALGS],
      introspectionSigningAlgValues: [...SIGNING_ALGS],
      authorizationSigningAlgValues: [...SIGNING_ALGS],
      clientAuthSigningAlgValues: [...CLIENT_ASSERTION_ALGS],
      requestObjectSigningAlgValues: [...REQUEST_OBJECT_ALGS],
      dPoPSigningAlgValues: [...DPOP_ALGS],
    },
    extraClientMetadata: {
      properties: ['rules', 'capabilities'],
      validator(ctx, key, value, metadata) {
        validateExtraMetadata(ctx, key, value, metadata);
        if (key === 'capabilities' && !config.registrationAllowPrivateUris) checkFetchedUris(metadata);
      },
    },
    fetch: outgoingFetch(config.registrationAllowPrivateUris) as Configuration['fetch'],
    subjectTypes: ['public', 'pairwise'],
    features: clientFeatures(config),
  };
}

/** The features a client's metadata may depend on (grant types, registration). */
function clientFeatures(config: Config) {
  return {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // Enabled for the client rules too: apps with the connect capability register the device grant.
    deviceFlow: { enabled: true },
    // RFC 9126 for every app; an app registered with `require_pushed_authorization_requests` must use it.
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
    registration: config.registrationInitialAccessToken ? { enabled: true, initialAccessToken: config.registrationInitialAccessToken } : { enabled: false },
  } as const;
}

export type ProviderDeps = {
  config: Config;
  db: Database;
  people: People;
  authorizations: AuthorizationHooks;
  /** The option riding on the device authorization grant; without one, the grant is off. */
  deviceFlow: DeviceFlowHooks | undefined;
  jwks: JWKS;
  /** Self-contained access tokens: their liveness, and revoking one. */
  accessTokens: AccessTokens;
  cookieKeys: string[];
  /** Secret that makes each app's `sub` for a person different and unlinkable. */
  pairwiseSalt: string;
  /** Told of every token response (the metrics), when metrics are on. */
  tokenObserver?: TokenObserver | undefined;
  /** What a step answered before its session ended said, for the page at the resume that could not go on. */
  lostAtResume: (uid: string) => Promise<LostAtResume | undefined>;
};

export function createProvider({
  config,
  db,
  people,
  authorizations,
  deviceFlow,
  jwks,
  accessTokens,
  cookieKeys,
  pairwiseSalt,
  tokenObserver,
  lostAtResume,
}: ProviderDeps): Provider {
  const rules = clientRules(config);
  const configuration: Configuration = {
    ...rules,
    adapter: createAdapterClass(createModelStore(db), hashClientSecret, config.refreshReuseGrace, {
      selfContained: accessTokens,
      refreshAudit: refreshAudit(authorizations),
      ...(deviceFlow ? { devicePolled: pollPolicy(deviceFlow) } : {}),
    }),
    clients: [homeClientMetadata(config.issuer)],
    jwks,
    cookies: {
      keys: cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax', secure: config.secure },
      short: { signed: true, httpOnly: true, sameSite: 'lax', secure: config.secure },
    },
    routes: OIDC_ROUTES,
    // SMART apps read fhirUser (and the name) from the ID token itself.
    conformIdTokenClaims: false,
    claims: {
      // How the person signed in (RFC 8176 `amr`, and the class it makes, `acr`) goes in every ID token.
      openid: ['sub', 'acr', 'amr'],
      profile: ['name'],
      email: ['email', 'email_verified'],
      fhirUser: ['fhirUser'],
    },
    async findAccount(ctx, sub, token) {
      const person = await loadOnce(ctx.req, PEOPLE_READ, sub, () => people.findPerson(sub));
      if (!person) return undefined;
      // fhirUser names the record the authorization is bound to, else the person's own record.
      const grantId = (token as { grantId?: string } | undefined)?.grantId ?? ctx.oidc?.entities?.Grant?.jti;
      const bound = grantId ? await authorizationOf(authorizations, ctx, grantId) : undefined;
      const recordId = bound?.record_id ?? (await people.ownRecordOf(person.id));
      return {
        accountId: person.id,
        async claims() {
          return {
            sub: person.id,
            name: person.name,
            email: person.email,
            email_verified: person.emailVerified,
            ...(recordId ? { fhirUser: `${config.issuer}/fhir/Patient/${recordId}` } : {}),
          };
        },
      };
    },
    features: {
      ...clientFeatures(config),
      // An app may introspect and revoke only its own tokens.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      // RFC 8707: an app's client-credentials token is for the app APIs, a person's token for
      // record rules is for the FHIR API (SMART names it with `aud`); both are self-contained
      // (access-tokens.ts). A token for identity alone (userinfo) stays stored.
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, _client, oneOf) {
          if (oneOf) return oneOf;
          const params = ctx.oidc.params ?? {};
          return resourceFor(config.issuer, params.grant_type, splitScopes(typeof params.scope === 'string' ? params.scope : ''));
        },
        // A code, device code or refresh token issued for the FHIR API keeps issuing tokens for it.
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resource) {
          const clientCredentials = ctx.oidc.params?.grant_type === 'client_credentials';
          const known = clientCredentials ? appsResource(config.issuer) : fhirResource(config.issuer);
          const info = resource === known ? accessTokens.resourceServer(resource) : undefined;
          if (!info)
            throw new errors.InvalidTarget(`the resource indicator for ${clientCredentials ? 'client-credentials tokens' : 'this request'} is ${known}`);
          return info;
        },
      },
      deviceFlow: deviceFlow ? deviceFlowFeature(deviceFlow) : { enabled: false },
    },
    pkce: { required: () => true },
    extraParams: {
      scope: scopePolicy,
      aud: audiencePolicy(`${config.issuer}/fhir`),
      screen_hint: null,
      ...(deviceFlow ? deviceParams(deviceFlow) : {}),
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: withStepUp(interactionsPolicy(deviceFlow), people) },
    acrValues: [ACR_PASSWORD, ACR_TWO_STEP],
    loadExistingGrant: loadExistingGrant(authorizations),
    extraTokenClaims: extraTokenClaims(authorizations) as Configuration['extraTokenClaims'],
    formats: { customizers: { jwt: signedTokenClaims as NonNullable<NonNullable<Configuration['formats']>['customizers']>['jwt'] } },
    // Pairwise by app (not by redirect host), so every app sees its own `sub` (OIDC Core §8.1).
    async pairwiseIdentifier(_ctx, accountId, client) {
      return createHmac('sha256', pairwiseSalt).update(`${client.clientId}\u0000${accountId}`).digest('base64url');
    },
    async issueRefreshToken(_ctx, client, code) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      return code.scopes.has('offline_access') || code.scopes.has('online_access');
    },
    // Online access ends when the person signs out of the session the app's code came from, which
    // carevault tracks per authorization (authorizations/service.ts); oidc-provider's own binding
    // keeps one grant per app in a session, and would end an app's access to one record when the
    // person authorizes it for another.
    expiresWithSession: async () => false,
    // Every refresh rotates: a stolen, already-used refresh token is detected and ends the grant.
    rotateRefreshToken: true,
    ttl: {
      AccessToken: config.ttl.accessToken,
      AuthorizationCode: AUTHORIZATION_CODE_SECONDS,
      ClientCredentials: APP_TOKEN_SECONDS,
      IdToken: 3600,
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      // Until the person validates it, as the option on the device flow says (once validated, successSource extends it).
      ...(deviceFlow ? { DeviceCode: deviceFlow.lifetime } : {}),
      // Authorizations do not expire on their own: the person or the app revokes them.
      Grant: UNTIL_REVOKED,
      RefreshToken(_ctx, token) {
        if (token.scopes.has('offline_access')) return config.ttl.offlineRefreshToken || UNTIL_REVOKED;
        return config.ttl.onlineRefreshToken;
      },
    },
    renderError: renderErrorTelling(lostAtResume),
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
  reportFailures(provider);

  if (deviceFlow) provider.use(deviceFlowMiddleware(deviceFlow));
  shapeResponses(provider);
  bindGrantsToRecords(provider, authorizations);
  applyClientPolicy(provider);
  nameGrantErrors(provider, createModelStore(db));
  if (tokenObserver) observeTokenEndpoint(provider, tokenObserver);

  return provider;
}
