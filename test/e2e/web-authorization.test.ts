/**
 * The foundation end to end: an app registered like `carevault apps create` takes a person who
 * registers through the pages through code + PKCE with openid-client, then uses userinfo,
 * refresh, introspection, revocation and RP-initiated logout.
 */
import * as oidc from 'openid-client';
import { Browser, textOf } from '../support/browser';
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startTestServer();
  app = await registerTestApp(server);
});

afterAll(async () => {
  await server?.stop();
});

test('discovery advertises every endpoint and S256 only', async () => {
  const res = await fetch(`${server.issuer}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  const doc = (await res.json()) as Record<string, unknown>;
  expect(doc.issuer).toBe(server.issuer);
  expect(doc.code_challenge_methods_supported).toEqual(['S256']);
  for (const endpoint of [
    'authorization_endpoint',
    'token_endpoint',
    'userinfo_endpoint',
    'jwks_uri',
    'introspection_endpoint',
    'revocation_endpoint',
    'end_session_endpoint',
  ]) {
    expect(String(doc[endpoint])).toMatch(new RegExp(`^${server.issuer}/`));
  }
  // Dynamic registration is off unless an initial access token is configured.
  expect(doc.registration_endpoint).toBeUndefined();
});

test('a person registers through the pages and the app completes code + PKCE, userinfo, refresh, revocation and logout', async () => {
  const person = newPerson('Robin Fields');
  const browser = new Browser(server.issuer);
  const authorization = await startAuthorization(app);

  const consent = await browser.visit(authorization.url.toString());
  expect(textOf(consent.html)).toContain('Weight Tracker wants to connect to your health record');
  const back = await authorizeInBrowser(browser, authorization.url, person, { register: true });
  expect(back.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);

  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  expect(tokens.token_type).toBe('bearer');
  expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'offline_access', 'openid', 'patient/Observation.rs', 'profile']);
  expect(tokens.refresh_token).toEqual(expect.any(String));
  const claims = tokens.claims();
  expect(claims?.sub).toEqual(expect.any(String));

  const userinfo = await oidc.fetchUserInfo(app.config, tokens.access_token, claims?.sub ?? '');
  expect(userinfo).toMatchObject({ name: 'Robin Fields', email: person.email });

  const refreshed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
  expect(refreshed.access_token).not.toBe(tokens.access_token);
  expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

  // Introspection finds either kind of token (one query looks in every token model).
  const refreshToken = refreshed.refresh_token ?? '';
  expect(await oidc.tokenIntrospection(app.config, refreshToken)).toMatchObject({ active: true, client_id: app.clientId });
  expect(await oidc.tokenIntrospection(app.config, refreshed.access_token)).toMatchObject({ active: true, client_id: app.clientId });
  await oidc.tokenRevocation(app.config, refreshed.access_token);
  expect((await oidc.tokenIntrospection(app.config, refreshed.access_token)).active).toBe(false);
  // Revoking the access token ended its grant, and the refresh token with it.
  expect((await oidc.tokenIntrospection(app.config, refreshToken)).active).toBe(false);
  await expect(oidc.refreshTokenGrant(app.config, refreshToken)).rejects.toThrow();

  // RP-initiated logout: the person confirms, and their carevault session ends.
  const logoutUrl = oidc.buildEndSessionUrl(app.config, { id_token_hint: tokens.id_token ?? '' });
  const confirm = await browser.visit(logoutUrl.toString());
  expect(textOf(confirm.html)).toContain('Sign out of carevault?');
  const xsrf = confirm.html.match(/name="xsrf" value="([^"]+)"/)?.[1] ?? '';
  const action = confirm.html.match(/<form[^>]*action="([^"]+)"/)?.[1] ?? '';
  const done = await browser.visit(action, { form: { xsrf, logout: 'yes' } });
  expect(textOf(done.html)).toContain('You are signed out');
  const home = await browser.visit('/');
  expect(textOf(home.html)).toContain('Create account');
});

test('the person signs in again (no registration) and consent is remembered', async () => {
  const person = newPerson('Sam Rivera');
  const first = new Browser(server.issuer);
  const auth1 = await startAuthorization(app);
  const back1 = await authorizeInBrowser(first, auth1.url, person, { register: true });
  await exchangeCode(app, auth1, back1.location ?? '');

  const second = new Browser(server.issuer);
  const auth2 = await startAuthorization(app);
  let page = await second.visit(auth2.url.toString());
  expect(page.html).toContain('>Sign in</button>');
  page = await second.submit(page, { email: person.email, password: person.password });
  // Nothing new is asked, so no consent page: straight back to the app.
  expect(page.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);
  const tokens = await exchangeCode(app, auth2, page.location ?? '');
  expect(tokens.access_token).toEqual(expect.any(String));
});
