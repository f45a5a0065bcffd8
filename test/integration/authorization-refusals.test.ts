/**
 * Web-based authorization when something is wrong: unknown apps and redirect URIs stop at an error
 * page (never a redirect), PKCE is required and checked, codes work once, scopes are limited to the
 * app's rules, a person's tokens are for the FHIR API only (RFC 8707 resource indicators), Deny
 * reaches the app, expired interactions and bad forms get friendly answers, and every page carries
 * the security headers.
 */
import * as oidc from 'openid-client';
import { Browser, textOf, type PageResponse } from '../support/browser';
import {
  CALLBACK,
  WEIGHT_TRACKER,
  authorizeInBrowser,
  exchangeCode,
  newPerson,
  registerTestApp,
  startAuthorization,
  type Authorization,
  type TestApp,
} from '../support/app';
import { startTestServer, type TestServer } from '../support/server';
import { createAccountThrough } from '../support/forms';

const REGISTRATION_TOKEN = 'initial-access-token-for-the-refusals-test-0123456789';

let server: TestServer;
let app: TestApp;
let publicApp: TestApp;

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: REGISTRATION_TOKEN });
  app = await registerTestApp(server);
  publicApp = await registerTestApp(server, {
    client_name: 'Pocket Diary',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'none',
    rules: [{ scope: 'patient/Observation.rs', required: true, reason: 'Show your readings' }],
  });
});

afterAll(async () => {
  await server?.stop();
});

/** One request without following redirects, as a browser would send it. */
async function get(url: string | URL): Promise<{ status: number; location: string | null; type: string; text: string; headers: Headers }> {
  const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
  return {
    status: res.status,
    location: res.headers.get('location'),
    type: res.headers.get('content-type') ?? '',
    text: await res.text(),
    headers: res.headers,
  };
}

/** The token endpoint, called by hand with client_secret_basic (form-encoded id and secret). */
function tokenRequest(testApp: TestApp, form: Record<string, string> | URLSearchParams): Promise<{ status: number; body: Record<string, unknown> }> {
  return formRequest(testApp, '/token', form);
}

/** One of the app's endpoints (`/token`, `/par`), called by hand with a form and client_secret_basic. */
async function formRequest(
  testApp: TestApp,
  path: string,
  form: Record<string, string> | URLSearchParams,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const credentials = `${encodeURIComponent(testApp.clientId)}:${encodeURIComponent(testApp.clientSecret ?? '')}`;
  const res = await fetch(`${server.issuer}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Runs the person's side until the app's callback and returns the code it carries. */
async function codeFor(
  browser: Browser,
  person: ReturnType<typeof newPerson>,
  options: { register?: boolean } = {},
): Promise<{ authorization: Authorization; callback: string; code: string }> {
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, person, options);
  expect(back.location).toMatch(/^https:\/\/app\.example\/callback\?/);
  const callback = back.location ?? '';
  const code = new URL(callback).searchParams.get('code');
  expect(code).toEqual(expect.any(String));
  return { authorization, callback, code: code ?? '' };
}

/** The query of a redirect to the app's callback. */
function callbackParams(location: string | null | undefined): URLSearchParams {
  expect(location).toBeTruthy();
  const url = new URL(location ?? '');
  expect(`${url.origin}${url.pathname}`).toBe(CALLBACK);
  return url.searchParams;
}

async function authorizationUrl(testApp: TestApp, params: Record<string, string>, without: string[] = []): Promise<{ url: URL; state: string }> {
  const { url, state } = await startAuthorization(testApp, params);
  for (const name of without) url.searchParams.delete(name);
  return { url, state };
}

describe('requests that cannot be sent back to the app', () => {
  test('an unknown client_id gets an HTML error page (400), not a redirect', async () => {
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({
      client_id: 'no-such-app',
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid',
      state: 'state-1',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    const res = await get(url);
    expect(res.status).toBe(400);
    expect(res.location).toBeNull();
    expect(res.type).toMatch(/^text\/html/);
    expect(textOf(res.text)).toContain('This app is not registered with carevault');
    expect(res.text).not.toContain('app.example');
  });

  test('a registered app with a redirect_uri it did not register gets an HTML error page, not a redirect', async () => {
    const { url } = await authorizationUrl(app, { redirect_uri: 'https://attacker.example/callback' });
    const res = await get(url);
    expect(res.status).toBe(400);
    expect(res.location).toBeNull();
    expect(res.type).toMatch(/^text\/html/);
    expect(textOf(res.text)).toContain('has not registered');
    expect(res.text).not.toContain('attacker.example/callback?');
  });
});

describe('errors returned to the app at its redirect_uri', () => {
  test.each([
    ['a confidential app', () => app],
    ['a public app', () => publicApp],
  ])('an authorization request without code_challenge from %s gets error=invalid_request', async (_label, which) => {
    const { url, state } = await authorizationUrl(which(), { scope: 'openid patient/Observation.rs' }, ['code_challenge', 'code_challenge_method']);
    const res = await get(url);
    expect(res.status).toBeGreaterThanOrEqual(300);
    expect(res.status).toBeLessThan(400);
    const params = callbackParams(res.location);
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('state')).toBe(state);
    expect(params.get('code')).toBeNull();
  });

  test('a plain code_challenge_method is refused too (S256 only)', async () => {
    const { url, state } = await authorizationUrl(app, { code_challenge: oidc.randomPKCECodeVerifier(), code_challenge_method: 'plain' });
    const params = callbackParams((await get(url)).location);
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('state')).toBe(state);
  });

  test.each([
    ['a record scope the app did not register', 'openid patient/Condition.rs'],
    ['an unknown record type', 'openid patient/Foo.rs'],
    ['an unknown scope word', 'openid patient/Observation.rs calendar'],
    ['a capability the app did not register', 'openid dopu'],
  ])('%s is refused with error=invalid_scope', async (_label, scope) => {
    const { url, state } = await authorizationUrl(app, { scope });
    const res = await get(url);
    expect(res.status).toBeGreaterThanOrEqual(300);
    expect(res.status).toBeLessThan(400);
    const params = callbackParams(res.location);
    expect(params.get('error')).toBe('invalid_scope');
    expect(params.get('state')).toBe(state);
    expect(params.get('code')).toBeNull();
  });

  test('Deny on the consent page sends the person back with error=access_denied and the state', async () => {
    const browser = new Browser(server.issuer);
    const authorization = await startAuthorization(app);
    const consent = await browser.visit(authorization.url.toString());
    expect(consent.html).toContain('>Sign in</button>');
    const back = await authorizeInBrowser(browser, authorization.url, newPerson('Dana Deny'), { register: true, decision: 'deny' });
    const params = callbackParams(back.location);
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('state')).toBe(authorization.state);
    expect(params.get('code')).toBeNull();
  });
});

describe('the token endpoint', () => {
  let person: ReturnType<typeof newPerson>;
  let signedIn: Browser;

  beforeAll(async () => {
    person = newPerson('Pat Keys');
    signedIn = new Browser(server.issuer);
    // First authorization registers the person; the code is thrown away.
    await codeFor(signedIn, person, { register: true });
  });

  test('a wrong PKCE code_verifier is invalid_grant', async () => {
    const { code } = await codeFor(signedIn, person);
    const res = await tokenRequest(app, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      code_verifier: oidc.randomPKCECodeVerifier(),
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.access_token).toBeUndefined();
  });

  test('a missing code_verifier is invalid_grant', async () => {
    const { code } = await codeFor(signedIn, person);
    const res = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.access_token).toBeUndefined();
  });

  test('the right verifier works (the refusals above are about PKCE, not the set-up)', async () => {
    const { authorization, code } = await codeFor(signedIn, person);
    const res = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: authorization.verifier });
    expect(res.status).toBe(200);
    expect(res.body.access_token).toEqual(expect.any(String));
  });

  test('re-using a code is invalid_grant and ends the tokens issued from it', async () => {
    // A person of their own, so the revoked grant is theirs alone.
    const own = new Browser(server.issuer);
    const { authorization, callback, code } = await codeFor(own, newPerson('Riley Replay'), { register: true });
    const tokens = await exchangeCode(app, authorization, callback);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(true);
    expect((await oidc.tokenIntrospection(app.config, tokens.refresh_token ?? '')).active).toBe(true);

    const again = await tokenRequest(app, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: authorization.verifier });
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
    expect(again.body.access_token).toBeUndefined();

    expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(app.config, tokens.refresh_token ?? '')).active).toBe(false);
  });
});

describe("resource indicators (RFC 8707): a person's tokens are for the FHIR API", () => {
  const elsewhere = 'https://elsewhere.example/fhir';
  const fhir = () => `${server.issuer}/fhir`;

  test.each([
    ['another server', () => elsewhere],
    ['the app APIs', () => `${server.issuer}/api`],
  ])('an authorization request naming %s as its resource gets error=invalid_target, naming the FHIR API', async (_label, resource) => {
    const { url, state } = await authorizationUrl(app, { resource: resource() });
    const res = await get(url);
    expect(res.status).toBe(303);
    const params = callbackParams(res.location);
    expect(params.get('error')).toBe('invalid_target');
    expect(params.get('error_description')).toContain(fhir());
    expect(params.get('state')).toBe(state);
    expect(params.get('code')).toBeNull();
  });

  test('an authorization request naming the FHIR API goes on to sign-in (the refusals above are about the resource)', async () => {
    const { url } = await authorizationUrl(app, { resource: fhir() });
    const res = await get(url);
    expect(res.status).toBe(303);
    expect(res.location).toMatch(/^\/interaction\/[^/]+$/);
  });

  test('a pushed authorization request (RFC 9126) naming another resource is 400 invalid_target; naming the FHIR API it is accepted', async () => {
    const push = async (resource: string) =>
      formRequest(app, '/par', {
        client_id: app.clientId,
        response_type: 'code',
        redirect_uri: CALLBACK,
        scope: 'openid patient/Observation.rs',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        resource,
      });
    const refused = await push(elsewhere);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_target');
    expect(refused.body.error_description).toContain(fhir());
    expect(refused.body.request_uri).toBeUndefined();
    const accepted = await push(fhir());
    expect(accepted.status).toBe(201);
    expect(accepted.body.request_uri).toEqual(expect.any(String));
  });

  test('a code exchange naming another resource is invalid_target, and the code still works without it', async () => {
    const { authorization, code } = await codeFor(new Browser(server.issuer), newPerson('Cora Target'), { register: true });
    const exchange = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: authorization.verifier };
    for (const resource of [elsewhere, `${server.issuer}/api`]) {
      const refused = await tokenRequest(app, { ...exchange, resource });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_target');
      expect(refused.body.error_description).toContain(fhir());
      expect(refused.body.access_token).toBeUndefined();
    }
    // Refused before the code was used up: the app asks again and gets its tokens.
    const tokens = await tokenRequest(app, exchange);
    expect(tokens.status).toBe(200);
    const read = await fetch(`${server.issuer}/fhir/Observation`, { headers: { authorization: `Bearer ${String(tokens.body.access_token)}` } });
    expect(read.status).toBe(200);
  });

  test('a code for identity alone is for no resource: naming the FHIR API is invalid_target, and the code still works without it', async () => {
    const browser = new Browser(server.issuer);
    const authorization = await startAuthorization(app, { scope: 'openid profile' });
    const back = await authorizeInBrowser(browser, authorization.url, newPerson('Ida Only'), { register: true });
    const code = callbackParams(back.location).get('code') ?? '';
    const exchange = { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: authorization.verifier };
    const refused = await tokenRequest(app, { ...exchange, resource: fhir() });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_target');
    expect(refused.body.error_description).toBe('this authorization code was issued for no resource: send no resource indicator');
    const tokens = await tokenRequest(app, exchange);
    expect(tokens.status).toBe(200);
    expect(tokens.body.scope).toBe('openid profile');
  });

  test('a refresh naming another resource is invalid_target, and the refresh token still works', async () => {
    const { authorization, callback } = await codeFor(new Browser(server.issuer), newPerson('Rory Target'), { register: true });
    const refreshToken = (await exchangeCode(app, authorization, callback)).refresh_token ?? '';
    expect(refreshToken).not.toBe('');
    // Twice, as an app retrying would: the grace for a lost response (REFRESH_REUSE_GRACE) covers one retry only.
    for (const resource of [elsewhere, `${server.issuer}/api`]) {
      const refused = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshToken, resource });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_target');
      expect(refused.body.error_description).toContain(fhir());
      expect(refused.body.access_token).toBeUndefined();
    }
    // Several resources at once, the right one among them, are refused the same way.
    const several = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, resource: fhir() });
    several.append('resource', elsewhere);
    const refusedSeveral = await tokenRequest(app, several);
    expect(refusedSeveral.status).toBe(400);
    expect(refusedSeveral.body.error).toBe('invalid_target');
    // Refused before the refresh token was used up: the authorization goes on.
    const refreshed = await tokenRequest(app, { grant_type: 'refresh_token', refresh_token: refreshToken, resource: fhir() });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toEqual(expect.any(String));
    const read = await fetch(`${server.issuer}/fhir/Observation`, { headers: { authorization: `Bearer ${String(refreshed.body.access_token)}` } });
    expect(read.status).toBe(200);
  });
});

describe('interactions', () => {
  test('an unknown interaction is a 400 page that says to start again', async () => {
    const res = await get(`${server.issuer}/interaction/doesnotexist`);
    expect(res.status).toBe(400);
    expect(res.type).toMatch(/^text\/html/);
    expect(textOf(res.text)).toContain('start again');
  });

  test('a finished interaction, visited again, says truthfully that the app was connected', async () => {
    const browser = new Browser(server.issuer);
    const authorization = await startAuthorization(app);
    const person = newPerson('Fin Ished');
    const first = await browser.visit(authorization.url.toString());
    const interactionUrl = first.url;
    expect(interactionUrl).toMatch(/\/interaction\/[^/]+$/);
    let page = await browser.visit(`${interactionUrl}/register`);
    page = await createAccountThrough(browser, page, person);
    expect(page.html).toContain('>Allow</button>');
    page = await browser.submit(page, { decision: 'allow' }, '/consent');
    expect(callbackParams(page.location).get('code')).toEqual(expect.any(String));

    // The sign-in step leads on to the consent step, which says how it ended.
    const again = await browser.visit(interactionUrl);
    expect(again.status).toBe(200);
    expect(textOf(again.html)).toContain('You connected Weight Tracker');
    expect(textOf(again.html)).not.toContain('start again');
    expect(again.html).toContain('href="/apps"');
  });

  test('a sign-in that ends between Allow and the resume: the page says what happened and offers Back to the app', async () => {
    const browser = new Browser(server.issuer);
    const authorization = await startAuthorization(app);
    const first = await browser.visit(authorization.url.toString());
    let page = await createAccountThrough(browser, await browser.visit(`${first.url}/register`), newPerson('Lou Lost'));
    expect(page.html).toContain('>Allow</button>');
    const allowed = await browser.submit(page, { decision: 'allow' }, '/consent', { follow: false });
    expect(allowed.status).toBe(303);
    const resume = new URL(allowed.location ?? '', server.issuer);
    expect(resume.pathname).toMatch(/^\/authorize\/[^/]+$/);

    // The sign-in session ends (it expired, or the person signed out in another tab) before the resume.
    await server.db.knex('oidc_models').where({ model: 'Session' }).delete();
    page = await browser.visit(resume.toString());
    expect(page.status).toBe(400);
    const words = textOf(page.html);
    expect(words).toContain('Weight Tracker did not hear back');
    expect(words).toContain('You allowed Weight Tracker, but your carevault sign-in ended before Weight Tracker could be told');
    const back = /<a class="button" href="([^"]+)">Back to Weight Tracker<\/a>/.exec(page.html)?.[1] ?? '';
    const params = callbackParams(back.replaceAll('&amp;', '&'));
    expect(params.get('error')).toBe('login_required');
    expect(params.get('state')).toBe(authorization.state);
    expect(params.get('iss')).toBe(server.issuer);

    // Another browser, without that request's resume cookie, hears nothing of it.
    const stranger = await get(resume);
    expect(stranger.status).toBe(400);
    expect(textOf(stranger.text)).toContain('start again');
    expect(stranger.text).not.toContain('Weight Tracker');
  });

  test('a sign-in form posted without the CSRF token is refused with a 403 page', async () => {
    const browser = new Browser(server.issuer);
    const authorization = await startAuthorization(app);
    const page = await browser.visit(authorization.url.toString());
    expect(page.html).toContain('>Sign in</button>');
    const res = await browser.request(`${page.url}/login`, { form: { email: 'someone@example.org', password: 'whatever-password' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(textOf(res.html)).toContain('This form has expired or did not come from carevault');
  });

  test("a CSRF token from another browser's page is refused with a 403 page", async () => {
    const other = new Browser(server.issuer);
    const otherPage = await other.visit((await startAuthorization(app)).url.toString());
    const token = otherPage.html.match(/name="_csrf" value="([^"]+)"/)?.[1];
    expect(token).toEqual(expect.any(String));

    const browser = new Browser(server.issuer);
    const page = await browser.visit((await startAuthorization(app)).url.toString());
    const res = await browser.request(`${page.url}/login`, { form: { _csrf: token ?? '', email: 'someone@example.org', password: 'whatever-password' } });
    expect(res.status).toBe(403);
  });
});

describe('malformed requests are 4xx, never 500', () => {
  async function post(path: string, contentType: string, body: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.issuer}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': contentType, accept: 'text/html', ...headers },
      body,
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  test('a form over the size limit is 413', async () => {
    const res = await post('/interaction/x/login', 'application/x-www-form-urlencoded', `email=a%40example.org&password=${'a'.repeat(40 * 1024)}`);
    expect(res.status).toBe(413);
    expect(res.text).not.toMatch(/at \S+ \(/); // no stack trace
  });

  test('a form body that is not url-encoded (%%%) is not a 500', async () => {
    const res = await post('/interaction/x/login', 'application/x-www-form-urlencoded', '%%%');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  test('a form with too many fields is refused, not a 500', async () => {
    const body = Array.from({ length: 300 }, (_, index) => `f${index}=1`).join('&');
    const res = await post('/interaction/x/login', 'application/x-www-form-urlencoded', body);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  test('malformed JSON to one of our form routes is not a 500', async () => {
    const res = await post('/interaction/x/login', 'application/json', '{"email": ');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  test('malformed JSON to the registration endpoint is 400 with a JSON error', async () => {
    const res = await fetch(`${server.issuer}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${REGISTRATION_TOKEN}` },
      body: '{"client_name": "Broken", ',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.error).toEqual(expect.any(String));
  });

  test('a token request that is not a form is 400 invalid_request', async () => {
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: '{"grant_type": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Record<string, unknown>).error).toBe('invalid_request');
  });
});

describe('security headers', () => {
  function expectSecurityHeaders(headers: Headers) {
    const csp = headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'self'");
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('x-powered-by')).toBeNull();
  }

  test('the home page carries them', async () => {
    const res = await get(`${server.issuer}/`);
    expect(res.status).toBe(200);
    expectSecurityHeaders(res.headers);
  });

  test('the sign-in page and the error pages carry them too', async () => {
    const browser = new Browser(server.issuer);
    const page: PageResponse = await browser.visit((await startAuthorization(app)).url.toString());
    expect(page.html).toContain('>Sign in</button>');
    expectSecurityHeaders(page.headers);
    expectSecurityHeaders((await get(`${server.issuer}/interaction/doesnotexist`)).headers);
    const { url } = await authorizationUrl(app, { redirect_uri: 'https://attacker.example/callback' });
    expectSecurityHeaders((await get(url)).headers);
  });
});

test('the registered app document is the one in the design', () => {
  // Guards the assumptions above: the app registered Observation.rs but not Condition.rs.
  expect(WEIGHT_TRACKER.rules.map((rule) => rule.scope)).toEqual(['patient/Observation.rs', 'patient/MedicationStatement.cruds', 'offline_access']);
  expect(app.clientSecret).toEqual(expect.any(String));
  expect(publicApp.clientSecret).toBeUndefined();
});
