/**
 * The checks for `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3, RFC 8414),
 * keyed by field and, for lists, by value: each proves with openid-client (and Chromium where only
 * a browser can) that what the field says works. A field or value missing here fails the walk.
 */
import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { CALLBACK } from '../app';
import { apps, EVERYDAY_SCOPE, mainFlow } from './apps';
import { deviceFlow, formPost, offlineAfterSignOut, onlineEndsAtSignOut, refusalAt } from './flows';
import { scopeCheck } from './scope-checks';
import type { Check, Table } from './walk';
import { INITIAL_ACCESS_TOKEN, keyPairFor, responseOf, rule, withAlg, type Json, type World } from './world';

/** The path an endpoint field must name (discovery is the contract for them). */
const ENDPOINT_PATHS: Readonly<Record<string, string>> = {
  authorization_endpoint: '/authorize',
  token_endpoint: '/token',
  userinfo_endpoint: '/userinfo',
  jwks_uri: '/jwks',
  introspection_endpoint: '/introspect',
  revocation_endpoint: '/revoke',
  registration_endpoint: '/oauth/register',
  end_session_endpoint: '/session/end',
  pushed_authorization_request_endpoint: '/par',
  device_authorization_endpoint: '/device/authorize',
};

function expectEndpoint(w: World, field: string, value: unknown): void {
  expect(value).toBe(`${w.issuer}${ENDPOINT_PATHS[field] ?? '?'}`);
}

/** Each client authentication method, by a code flow of an app registered with it. */
function authMethodCheck(w: World, method: string): Check | undefined {
  const app = { none: apps.public, client_secret_basic: apps.basic, client_secret_post: apps.post, private_key_jwt: apps.key }[method];
  if (!app) return undefined;
  return async () => {
    const registered = await app(w);
    const flow = await w.codeFlow(registered, { scope: 'openid patient/Patient.rs', params: { aud: w.fhirBase } });
    expect((await w.fhir(flow.tokens.access_token, 'GET', `Patient/${(await w.person()).record}`)).status).toBe(200);
    if (method === 'none') {
      // A public app proves nothing but PKCE: without it the request is refused.
      const url = oidc.buildAuthorizationUrl(registered.config, { redirect_uri: CALLBACK, scope: 'openid', state: 'x' });
      expect(await refusalAt((await w.person()).browser, url.href)).toBe('invalid_request');
    }
  };
}

/** `private_key_jwt` signed with `alg`, at the token endpoint (client credentials). */
function assertionAlgCheck(w: World, alg: string, advertised: readonly string[]): Check {
  return async () => {
    const app = await apps.assertions(w, advertised);
    const key = app.keys.find((candidate) => candidate.alg === alg);
    const signer = await w.configure(app.name, { client_id: app.clientId, token_endpoint_auth_method: 'private_key_jwt' }, app.keys, key);
    const seen: string[] = [];
    signer.config[oidc.customFetch] = async (url, init) => {
      const assertion = new URLSearchParams(String(init.body)).get('client_assertion');
      if (assertion) seen.push(String(decodeProtectedHeader(assertion).alg));
      return fetch(url, init as RequestInit);
    };
    const token = await oidc.clientCredentialsGrant(signer.config, { scope: 'dopu' });
    expect(token.access_token).toEqual(expect.any(String));
    expect(seen).toEqual([alg]);
  };
}

/** A DPoP-bound token from the token endpoint, used at /fhir, with a proof key of `alg`. */
function dpopAlgCheck(w: World, alg: string): Check {
  return async () => {
    const basic = await apps.basic(w);
    // A configuration of its own, to watch the proofs it sends.
    const app = await w.configure(
      basic.name,
      { client_id: basic.clientId, client_secret: basic.clientSecret, token_endpoint_auth_method: 'client_secret_basic' },
      [],
    );
    const proofs: string[] = [];
    app.config[oidc.customFetch] = async (url, init) => {
      const proof = new Headers(init.headers as HeadersInit).get('dpop');
      if (proof) proofs.push(`${new URL(url).pathname} ${String(decodeProtectedHeader(proof).alg)}`);
      return fetch(url, init as RequestInit);
    };
    const { privateKey, publicKey } = await keyPairFor(alg);
    const DPoP = oidc.getDPoPHandle(app.config, { privateKey, publicKey }, withAlg(alg));
    const flow = await w.codeFlow(app, { scope: 'openid patient/Patient.rs', DPoP });
    expect(flow.tokens.token_type.toLowerCase()).toBe('dpop');
    const url = new URL(`${w.fhirBase}/Patient/${(await w.person()).record}`);
    const read = await oidc.fetchProtectedResource(app.config, flow.tokens.access_token, url, 'GET', undefined, undefined, { DPoP });
    expect(read.status).toBe(200);
    expect(proofs).toEqual([`/token ${alg}`, `${url.pathname} ${alg}`]);
    // Bound to the key: the same token as a Bearer token is refused.
    expect((await w.fhir(flow.tokens.access_token, 'GET', url.href)).status).toBe(401);
  };
}

/** ID tokens signed with `alg` for an app registered for it, verified with the published keys. */
function idTokenAlgCheck(w: World, alg: string): Check {
  return async () => {
    const app = await apps.idTokenAlg(w, alg);
    const flow = await w.codeFlow(app, { scope: 'openid' });
    const { protectedHeader } = await w.verifyIdToken(flow.tokens.id_token ?? '', app.clientId);
    expect(protectedHeader.alg).toBe(alg);
  };
}

/** Each claim of claims_supported, in the ID token or at userinfo of the main flow. */
function claimCheck(w: World, claim: string): Check | undefined {
  const checks: Record<string, (idToken: Json, info: Json) => Promise<void>> = {
    sub: async (idToken, info) => {
      expect(idToken.sub).toEqual(expect.any(String));
      expect(info.sub).toBe(idToken.sub);
    },
    name: async (idToken, info) => {
      expect(idToken.name).toBe((await w.person()).person.name);
      expect(info.name).toBe(idToken.name);
    },
    email: async (_idToken, info) => expect(info.email).toBe((await w.person()).person.email),
    email_verified: async (_idToken, info) => expect(info.email_verified).toBe(false),
    fhirUser: async (idToken) => expect(idToken.fhirUser).toBe(`${w.fhirBase}/Patient/${(await w.person()).record}`),
    // max_age was asked: the ID token says when the person signed in.
    auth_time: async (idToken) => {
      expect(typeof idToken.auth_time).toBe('number');
      expect(Number(idToken.auth_time)).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    },
    iss: async (idToken) => expect(idToken.iss).toBe(w.issuer),
    // The main flow's person signs in with a password alone (RFC 8176 `pwd`).
    acr: async (idToken) => expect(idToken.acr).toBe('urn:carevault:acr:pwd'),
    amr: async (idToken) => expect(idToken.amr).toEqual(['pwd']),
  };
  const check = checks[claim];
  if (!check) return undefined;
  return async () => {
    const { tokens, idToken, app } = await mainFlow(w);
    const info = (await oidc.fetchUserInfo(app.config, tokens.access_token, String(idToken?.sub))) as Json;
    await check((idToken ?? {}) as Json, info);
  };
}

/** Each grant type of grant_types_supported. */
function grantCheck(w: World, grant: string): Check | undefined {
  switch (grant) {
    case 'authorization_code':
      return async () => {
        const { tokens } = await mainFlow(w);
        expect(tokens.access_token).toEqual(expect.any(String));
      };
    case 'refresh_token':
      return async () => {
        const { tokens, app } = await mainFlow(w);
        const refreshed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
        expect(refreshed.patient).toBe((await w.person()).record);
        expect((await w.fhir(refreshed.access_token, 'GET', 'Observation?_count=1')).status).toBe(200);
      };
    case 'client_credentials':
      return async () => {
        const clinic = await apps.clinic(w);
        const token = await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' });
        const listed = await fetch(`${w.issuer}/api/connect/requests?status=pending&since=2000-01-01T00:00:00Z`, {
          headers: { authorization: `Bearer ${token.access_token}` },
        });
        expect(listed.status).toBe(200);
      };
    case 'urn:ietf:params:oauth:grant-type:device_code':
      return () => deviceFlow(w);
    default:
      return undefined;
  }
}

/** The table for the OpenID Provider's discovery document. */
export function openidChecks(w: World, sample: (type: string) => Promise<string>): Table {
  const endpoint = (field: string, works: (value: unknown) => Promise<void>) => ({
    value: (value: unknown) => async () => {
      expectEndpoint(w, field, value);
      await works(value);
    },
  });
  return {
    issuer: {
      value: (value) => async () => {
        expect(value).toBe(w.issuer);
        const { idToken, response } = await mainFlow(w);
        expect(idToken?.iss).toBe(value);
        expect(response.get('iss')).toBe(value);
      },
    },
    authorization_endpoint: endpoint('authorization_endpoint', async () => {
      // GET (the main flow) and POST, which carevault turns into the same GET.
      await mainFlow(w);
      const app = await apps.basic(w);
      const flow = await w.codeFlow(app, { scope: EVERYDAY_SCOPE, params: { aud: w.fhirBase }, post: true });
      expect(flow.tokens.patient).toBe((await w.person()).record);
    }),
    token_endpoint: endpoint('token_endpoint', async () => {
      const { app, tokens } = await mainFlow(w);
      expect(app.config.serverMetadata().token_endpoint).toBe(w.openid.token_endpoint);
      expect(tokens.token_type).toBe('bearer');
    }),
    userinfo_endpoint: endpoint('userinfo_endpoint', async () => {
      const { app, tokens, idToken } = await mainFlow(w);
      const info = await oidc.fetchUserInfo(app.config, tokens.access_token, String(idToken?.sub));
      expect(info.sub).toBe(idToken?.sub);
    }),
    jwks_uri: endpoint('jwks_uri', async (value) => {
      const jwks = (await (await fetch(String(value))).json()) as { keys: Json[] };
      expect(jwks.keys.length).toBeGreaterThan(0);
      for (const key of jwks.keys) {
        expect(key).toEqual(expect.objectContaining({ kid: expect.any(String), alg: expect.any(String), use: 'sig' }));
        expect(key.d).toBeUndefined();
      }
      const { tokens, app } = await mainFlow(w);
      await w.verifyIdToken(tokens.id_token ?? '', app.clientId);
    }),
    introspection_endpoint: endpoint('introspection_endpoint', async () => {
      const { app } = await mainFlow(w);
      const flow = await w.codeFlow(app, { scope: 'openid patient/Patient.rs' });
      const active = await oidc.tokenIntrospection(app.config, flow.tokens.access_token);
      expect(active).toMatchObject({ active: true, client_id: app.clientId, scope: expect.stringContaining('patient/Patient.rs') });
      // Another app may not look at this app's tokens.
      const other = await apps.post(w);
      expect((await oidc.tokenIntrospection(other.config, flow.tokens.access_token)).active).toBe(false);
    }),
    revocation_endpoint: endpoint('revocation_endpoint', async () => {
      const { app } = await mainFlow(w);
      const flow = await w.codeFlow(app, { scope: 'openid patient/Patient.rs' });
      await oidc.tokenRevocation(app.config, flow.tokens.access_token);
      expect((await oidc.tokenIntrospection(app.config, flow.tokens.access_token)).active).toBe(false);
      expect((await w.fhir(flow.tokens.access_token, 'GET', `Patient/${(await w.person()).record}`)).status).toBe(401);
    }),
    registration_endpoint: endpoint('registration_endpoint', async (value) => {
      const document = {
        client_name: 'Conformance Dynamic',
        redirect_uris: [CALLBACK],
        token_endpoint_auth_method: 'client_secret_basic',
        rules: [rule('patient/Patient.rs')],
      };
      const refused = await fetch(String(value), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) });
      expect(refused.status).toBeGreaterThanOrEqual(400);
      expect(refused.status).toBeLessThan(500);
      const config = await oidc.dynamicClientRegistration(new URL(w.issuer), document, undefined, {
        initialAccessToken: INITIAL_ACCESS_TOKEN,
        execute: [oidc.allowInsecureRequests],
      });
      const app = await w.configure('Conformance Dynamic', config.clientMetadata() as Json, []);
      const flow = await w.codeFlow(app, { scope: 'openid patient/Patient.rs' });
      expect(flow.tokens.scope?.split(' ')).toContain('patient/Patient.rs');
    }),
    end_session_endpoint: endpoint('end_session_endpoint', async () => {
      await offlineAfterSignOut(w);
      await onlineEndsAtSignOut(w);
    }),
    pushed_authorization_request_endpoint: endpoint('pushed_authorization_request_endpoint', async () => {
      const who = await w.person();
      // Every kind of app, with and without the SMART aud.
      for (const [app, aud] of [
        [await apps.basic(w), w.fhirBase],
        [await apps.public(w), undefined],
        [await apps.post(w), `${w.fhirBase}/`],
        [await apps.key(w), undefined],
      ] as const) {
        const flow = await w.codeFlow(app, { scope: EVERYDAY_SCOPE, params: aud ? { aud } : {}, pushed: true });
        expect(flow.authorizationUrl.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
        expect(flow.tokens.patient).toBe(who.record);
        expect(flow.tokens.scope?.split(' ')).toContain('offline_access');
      }
      // An app registered to push must: its plain request is refused, its pushed one works.
      const pushOnly = await apps.pushOnly(w);
      const plain = oidc.buildAuthorizationUrl(pushOnly.config, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: 'a'.repeat(43),
        code_challenge_method: 'S256',
      });
      expect(await refusalAt(who.browser, plain.href)).toBe('invalid_request');
      expect((await w.codeFlow(pushOnly, { scope: 'openid patient/Patient.rs', pushed: true })).tokens.access_token).toEqual(expect.any(String));
    }),
    device_authorization_endpoint: endpoint('device_authorization_endpoint', () => deviceFlow(w)),
    claims_parameter_supported: { value: (value) => async () => expect(value).toBe(false) },
    request_uri_parameter_supported: {
      value: (value) => async () => {
        // Only request_uri values from carevault's own pushed requests are taken.
        expect(value).toBe(false);
        const app = await apps.basic(w);
        const url = `${w.openid.authorization_endpoint}?client_id=${app.clientId}&request_uri=${encodeURIComponent('https://app.example/request.jwt')}`;
        expect(await refusalAt((await w.person()).browser, url)).toMatch(/request_uri_not_supported|invalid_request/);
      },
    },
    authorization_response_iss_parameter_supported: {
      value: (value) => async () => {
        expect(value).toBe(true);
        expect((await mainFlow(w)).response.get('iss')).toBe(w.issuer);
      },
    },
    claim_types_supported: {
      each: (type) =>
        type === 'normal'
          ? async () => {
              const { idToken } = await mainFlow(w);
              expect(idToken?._claim_names).toBeUndefined();
              expect(typeof idToken?.name).toBe('string');
            }
          : undefined,
    },
    claims_supported: { each: (claim) => claimCheck(w, claim) },
    // The password's class is what the main flow's ID token says; asking for two-step sign-in of a
    // person who has none is voluntary (OIDC Core §3.1.2.1): the flow completes with the class they have.
    // A person with an authenticator app stepping up is e2e/account-two-step.test.ts.
    acr_values_supported: {
      each: (value) =>
        value === 'urn:carevault:acr:pwd'
          ? async () => expect((await mainFlow(w)).idToken?.acr).toBe(value)
          : value === 'urn:carevault:acr:2fa'
            ? async () => {
                const app = await apps.basic(w);
                const flow = await w.codeFlow(app, { scope: 'openid', params: { acr_values: value } });
                const { payload } = await w.verifyIdToken(flow.tokens.id_token ?? '', app.clientId);
                expect(payload.acr).toBe('urn:carevault:acr:pwd');
              }
            : undefined,
    },
    code_challenge_methods_supported: {
      each: (method) =>
        method === 'S256'
          ? async () => {
              expect(decodeURIComponent((await mainFlow(w)).authorizationUrl.searchParams.get('code_challenge_method') ?? '')).toBe('S256');
              const app = await apps.basic(w);
              const plain = oidc.buildAuthorizationUrl(app.config, {
                redirect_uri: CALLBACK,
                scope: 'openid',
                code_challenge: 'a'.repeat(43),
                code_challenge_method: 'plain',
              });
              expect(await refusalAt((await w.person()).browser, plain.href)).toBe('invalid_request');
            }
          : undefined,
    },
    grant_types_supported: { each: (grant) => grantCheck(w, grant) },
    response_types_supported: {
      each: (type) =>
        type === 'code'
          ? async () => {
              const { response } = await mainFlow(w);
              expect(response.get('code')).toEqual(expect.any(String));
              expect(response.get('id_token')).toBeNull();
            }
          : undefined,
    },
    response_modes_supported: {
      each: (mode) => {
        if (mode === 'query') return async () => expect((await mainFlow(w)).response.get('code')).toEqual(expect.any(String));
        if (mode === 'form_post') return () => formPost(w);
        if (mode !== 'fragment') return undefined;
        return async () => {
          const app = await apps.basic(w);
          const who = await w.person();
          const url = oidc.buildAuthorizationUrl(app.config, {
            redirect_uri: CALLBACK,
            scope: 'openid',
            response_mode: 'fragment',
            code_challenge: 'a'.repeat(43),
            code_challenge_method: 'S256',
            state: 's',
          });
          const back = await who.browser.visit(url.href);
          const location = new URL(back.location ?? '');
          expect(location.search).toBe('');
          expect(responseOf(back).get('code')).toEqual(expect.any(String));
          expect(responseOf(back).get('state')).toBe('s');
        };
      },
    },
    scopes_supported: { each: (scope) => scopeCheck(w, scope, sample) },
    subject_types_supported: {
      each: (type) =>
        type === 'pairwise'
          ? async () => {
              const { idToken } = await mainFlow(w);
              const other = await w.codeFlow(await apps.post(w), { scope: 'openid' });
              expect(other.idToken?.sub).toEqual(expect.any(String));
              expect(other.idToken?.sub).not.toBe(idToken?.sub);
              // The same app sees the same subject every time.
              expect((await w.codeFlow(await apps.basic(w), { scope: 'openid' })).idToken?.sub).toBe(idToken?.sub);
            }
          : undefined,
    },
    token_endpoint_auth_methods_supported: { each: (method) => authMethodCheck(w, method) },
    token_endpoint_auth_signing_alg_values_supported: {
      each: (alg) => assertionAlgCheck(w, alg, w.openid.token_endpoint_auth_signing_alg_values_supported as string[]),
    },
    id_token_signing_alg_values_supported: { each: (alg) => idTokenAlgCheck(w, alg) },
    dpop_signing_alg_values_supported: { each: (alg) => dpopAlgCheck(w, alg) },
  };
}
