/**
 * Token errors name their cause (RFC 6749 §5.2): the error code is the standard one and
 * `error_description` says what was wrong, as openid-client hands it to an app — an expired
 * authorization code, a PKCE verifier that does not match, a redirect_uri other than the
 * authorization request's, a code issued to another client — and a client-credentials request
 * without `scope` is refused with `invalid_scope` saying what the app may ask for (as documented in
 * docs/apps/authorization.md), with no token stored.
 */
import * as oidc from 'openid-client';
import { Browser } from '../support/browser';
import { CALLBACK, WEIGHT_TRACKER, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let app: TestApp;
let other: TestApp;
let browser: Browser;
const person = newPerson('Tess Tokens');

beforeAll(async () => {
  server = await startTestServer();
  [app, other] = await Promise.all([
    registerTestApp(server),
    registerTestApp(server, { ...WEIGHT_TRACKER, client_name: 'Other Tracker', redirect_uris: [CALLBACK, 'https://app.example/other'] }),
  ]);
  browser = new Browser(server.issuer);
  await authorizeInBrowser(browser, (await startAuthorization(app)).url, person, { register: true });
});

afterAll(async () => {
  await server?.stop();
});

/** A fresh code for `testApp` (the person is signed in and has allowed it once). */
async function codeFor(testApp: TestApp, params: Record<string, string> = {}) {
  const authorization = await startAuthorization(testApp, params);
  const back = await authorizeInBrowser(browser, authorization.url, person);
  const callback = new URL(back.location ?? '');
  expect(callback.searchParams.get('code')).toEqual(expect.any(String));
  return { authorization, callback };
}

/** The error openid-client reports for a token request, as the app's code sees it. */
async function refusal(work: Promise<unknown>): Promise<{ error: string; error_description: string }> {
  const error = (await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  )) as { error?: string; error_description?: string } | undefined;
  expect(error).toBeDefined();
  return { error: error?.error ?? '', error_description: error?.error_description ?? '' };
}

test('an expired authorization code is invalid_grant and says it expired', async () => {
  const { authorization, callback } = await codeFor(app);
  // The code's minute passes (the row is kept until the sweep).
  await server.db
    .knex('oidc_models')
    .where({ model: 'AuthorizationCode' })
    .update({ expires_at: new Date(Date.now() - 1000) });
  const { error, error_description } = await refusal(exchangeCode(app, authorization, callback.toString()));
  expect(error).toBe('invalid_grant');
  expect(error_description).toMatch(/authorization code has expired \(codes last 60 seconds\)/);
});

test('a code_verifier that does not match is invalid_grant and names PKCE', async () => {
  const { authorization, callback } = await codeFor(app);
  const { error, error_description } = await refusal(exchangeCode(app, { ...authorization, verifier: oidc.randomPKCECodeVerifier() }, callback.toString()));
  expect(error).toBe('invalid_grant');
  expect(error_description).toBe('PKCE verification failed: code_verifier does not match the code_challenge of the authorization request (RFC 7636 §4.6)');
  // The code was not spent by the refusal: the right verifier still works.
  expect((await exchangeCode(app, authorization, callback.toString())).access_token).toEqual(expect.any(String));
});

test('another redirect_uri than the authorization request sent is invalid_grant and says so', async () => {
  const { authorization, callback } = await codeFor(other);
  // openid-client sends the address it was called back at as redirect_uri: here the app's other one.
  const elsewhere = new URL(`https://app.example/other${callback.search}`);
  const refused = await refusal(exchangeCode(other, authorization, elsewhere.toString()));
  expect(refused.error).toBe('invalid_grant');
  expect(refused.error_description).toMatch(/^redirect_uri does not match the redirect_uri of the authorization request that issued this code/);
});

test('a code issued to another client is invalid_grant and says so', async () => {
  const { authorization, callback } = await codeFor(app);
  const { error, error_description } = await refusal(exchangeCode(other, authorization, callback.toString()));
  expect(error).toBe('invalid_grant');
  expect(error_description).toBe('this authorization code was issued to another client');
  // The app it was issued to can still use it.
  expect((await exchangeCode(app, authorization, callback.toString())).access_token).toEqual(expect.any(String));
});

test('a code used twice is invalid_grant and says its tokens are revoked', async () => {
  const { authorization, callback } = await codeFor(app);
  await exchangeCode(app, authorization, callback.toString());
  const { error, error_description } = await refusal(exchangeCode(app, authorization, callback.toString()));
  expect(error).toBe('invalid_grant');
  expect(error_description).toMatch(/already used|unknown, already used or revoked/);
});

test('client_credentials without scope is invalid_scope naming the capabilities; with scope it works', async () => {
  const clinic = await registerTestApp(server, {
    client_name: 'Scope Clinic',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    capabilities: ['dopu', 'direct'],
  });
  const before = Number((await server.db.knex('oidc_models').where({ model: 'ClientCredentials' }).count({ n: '*' }))[0]?.n ?? 0);
  const { error, error_description } = await refusal(oidc.clientCredentialsGrant(clinic.config));
  expect(error).toBe('invalid_scope');
  expect(error_description).toBe('scope is required for client_credentials: name the capabilities the token is for (this app may ask for dopu, direct)');
  const after = Number((await server.db.knex('oidc_models').where({ model: 'ClientCredentials' }).count({ n: '*' }))[0]?.n ?? 0);
  expect(after).toBe(before);

  const granted = await oidc.clientCredentialsGrant(clinic.config, { scope: 'dopu' });
  expect(granted.scope).toBe('dopu');
  const refusedOther = await refusal(oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' }));
  expect(refusedOther.error).toBe('invalid_scope');
});
