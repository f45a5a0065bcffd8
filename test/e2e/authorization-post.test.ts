/**
 * POST at the authorization endpoint (OpenID Connect Core §3.1.2.1) and the end-session endpoint
 * (RP-Initiated Logout §2): a form POST is answered 303 to the same request as a GET, so it
 * meets the same checks and pages, while the session cookies stay SameSite=Lax — proven in Chromium
 * with a cross-site form POST from the app's page that reaches consent without signing in again.
 * Malformed, oversized and non-form bodies get a clear 4xx page, never a 500.
 */
import * as oidc from 'openid-client';
import { textOf } from '../support/browser';
import { CALLBACK, exchangeCode, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { launchChromium, type Chromium } from '../support/chromium';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { registerInChromium } from '../support/forms';

let server: TestServer;
let app: TestApp;
let chromium: Chromium;

const SIGNED_OUT = 'https://app.example/signed-out';

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
  app = await registerTestApp(server, {
    client_name: 'Post Office',
    redirect_uris: [CALLBACK],
    post_logout_redirect_uris: [SIGNED_OUT],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
      { scope: 'offline_access', required: false, reason: 'Sync while you are away' },
    ],
  });
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function post(path: string, body: string, headers: Record<string, string> = { ...FORM, accept: 'text/html' }) {
  return fetch(`${server.issuer}${path}`, { method: 'POST', headers, body, redirect: 'manual' });
}

test('a form POST to /authorize is the same request as the GET: 303 to it, then sign-in, consent and a code', async () => {
  const who = await signedUpPerson(server, 'Paula Post');
  const authorization = await startAuthorization(app);
  const posted = await who.browser.request('/authorize', { method: 'POST', form: Object.fromEntries(authorization.url.searchParams) });
  expect(posted.status).toBe(303);
  expect(posted.headers.get('cache-control')).toBe('no-store');
  expect(posted.headers.getSetCookie()).toEqual([]);
  const get = new URL(posted.location ?? '');
  expect(`${get.origin}${get.pathname}`).toBe(`${server.issuer}/authorize`);
  expect([...get.searchParams].sort()).toEqual([...authorization.url.searchParams].sort());

  // From here it is the GET: the signed-in person sees consent, allows, the app gets its code.
  const consent = await who.browser.visit(posted.location ?? '');
  expect(textOf(consent.html)).toContain('Connect Post Office to your health record?');
  const back = await who.browser.submit(consent, { decision: 'allow' }, '/consent', { check: ['offline_access'] });
  expect(back.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  expect(tokens.scope?.split(' ').sort()).toEqual(['email', 'offline_access', 'openid', 'patient/Observation.rs', 'profile']);

  // Parameters in the URL and in the form are one request; a name given twice is refused as in a GET.
  const split = await who.browser.request(`/authorize?client_id=${encodeURIComponent(app.clientId)}`, {
    method: 'POST',
    form: Object.fromEntries([...authorization.url.searchParams].filter(([name]) => name !== 'client_id')),
  });
  expect(new URL(split.location ?? '').searchParams.get('client_id')).toBe(app.clientId);
  const twice = await who.browser.visit(`/authorize?client_id=${encodeURIComponent(app.clientId)}`, { method: 'POST', form: { client_id: app.clientId } });
  expect(twice.status).toBe(400);
  expect(textOf(twice.html)).toContain('client_id');
});

test('the POST meets the checks of the GET: an unregistered redirect_uri is an error page, a bad scope goes back to the app', async () => {
  const who = await signedUpPerson(server, 'Chuck Check');
  const evil = await startAuthorization(app, { redirect_uri: 'https://evil.example/callback' });
  const page = await who.browser.visit('/authorize', { method: 'POST', form: Object.fromEntries(evil.url.searchParams) });
  expect(page.status).toBe(400);
  expect(page.location).toBeUndefined();
  expect(textOf(page.html)).toContain('has not registered');

  const greedy = await startAuthorization(app, { scope: 'openid patient/Condition.cruds' });
  const back = await who.browser.visit('/authorize', { method: 'POST', form: Object.fromEntries(greedy.url.searchParams) });
  expect(new URL(back.location ?? '').searchParams.get('error')).toBe('invalid_scope');
});

test('POST bodies that are not a small well-formed form get a clear 4xx, as a page or as JSON', async () => {
  const statuses: string[] = [];
  const json = await post('/authorize', JSON.stringify({ client_id: app.clientId }), { 'content-type': 'application/json', accept: 'text/html' });
  expect(json.status).toBe(415);
  expect(json.headers.get('content-type')).toMatch(/^text\/html/);
  expect(textOf(await json.text())).toContain('Send this request as a form (application/x-www-form-urlencoded), or as a GET.');
  statuses.push(`JSON body ${json.status}`);

  const broken = await post('/authorize', `client_id=${encodeURIComponent(app.clientId)}&state=%E0%A4%A`);
  expect(broken.status).toBe(400);
  expect(textOf(await broken.text())).toContain('The form is not valid: a field has a broken %-escape or is not UTF-8.');
  statuses.push(`broken %-escape ${broken.status}`);

  const notUtf8 = await post('/session/end', 'state=%FF%FE');
  expect(notUtf8.status).toBe(400);
  statuses.push(`invalid UTF-8 ${notUtf8.status}`);

  const huge = await post('/authorize', `client_id=x&state=${'a'.repeat(9 * 1024)}`);
  expect(huge.status).toBe(413);
  expect(textOf(await huge.text())).toContain('The form is larger than 8 KB.');
  statuses.push(`9 KB form ${huge.status}`);

  const asApi = await post('/authorize', 'state=%ZZ', { ...FORM, accept: 'application/json' });
  expect(asApi.status).toBe(400);
  expect(await asApi.json()).toEqual({ error: 'invalid_request', error_description: 'The form is not valid: a field has a broken %-escape or is not UTF-8.' });
  statuses.push(`JSON caller ${asApi.status}`);

  // No body at all is an empty form: the GET then explains what is missing.
  const empty = await fetch(`${server.issuer}/authorize`, { method: 'POST', redirect: 'manual' });
  expect(empty.status).toBe(303);
  expect(empty.headers.get('location')).toBe('authorize');
  // The confirmation form of sign-out is oidc-provider's own POST, untouched.
  expect((await post('/session/end/confirm', 'xsrf=nothing&logout=yes')).status).toBeLessThan(500);
  process.stdout.write(`POST refusals: ${statuses.join(', ')}\n`);
});

test('a form POST to /session/end is the same as the GET: confirmation page, sign-out, back to the app with its state', async () => {
  const who = await signedUpPerson(server, 'Lou Gout');
  const authorization = await startAuthorization(app);
  const consent = await who.browser.visit(authorization.url.toString());
  const back = await who.browser.submit(consent, { decision: 'allow' }, '/consent');
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  const params = { id_token_hint: tokens.id_token ?? '', post_logout_redirect_uri: SIGNED_OUT, state: 'see-you' };

  const posted = await who.browser.request('/session/end', { method: 'POST', form: params });
  expect(posted.status).toBe(303);
  expect(new URL(posted.location ?? '').pathname).toBe('/session/end');
  const confirm = await who.browser.visit(posted.location ?? '');
  expect(textOf(confirm.html)).toContain('Sign out');
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
  const action = /<form[^>]*action="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
  const done = await who.browser.visit(action, { form: { xsrf, logout: 'yes' } });
  expect(done.location).toBe(`${SIGNED_OUT}?state=see-you`);
  expect(textOf((await who.browser.visit('/')).html)).not.toContain('Hello, Lou Gout');
});

test('in Chromium: a cross-site form POST from the app reaches consent with the person still signed in; cookies stay SameSite=Lax', async () => {
  const { context, page } = await chromium.newPerson();
  const person = { name: 'Sam Site', email: `sam${Date.now()}@example.org`, password: 'correct horse battery staple' };
  await registerInChromium(page, server.issuer, person);
  const cookies = await context.cookies(server.issuer);
  expect(cookies.length).toBeGreaterThan(0);
  expect(cookies.map((cookie) => `${cookie.name}: ${cookie.sameSite}`)).toEqual(cookies.map((cookie) => `${cookie.name}: Lax`));

  // The app's own page (another site) posts the authorization request as a form, as OIDC Core allows.
  const authorization = await startAuthorization(app);
  await page.goto(CALLBACK);
  const fields = [...authorization.url.searchParams].map(([name, value]) => ({ name, value }));
  await page.evaluate(
    ({ action, fields: inputs }) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = action;
      for (const { name, value } of inputs) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    },
    { action: `${server.issuer}/authorize`, fields },
  );
  // Consent straight away: the redirected GET carried the Lax session cookie.
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await page.getByRole('main').textContent()).toContain('Connect Post Office to your health record?');
  // The redirect to the app is watched as a request (STACK-NOTES: its host does not resolve).
  const callback = page.waitForRequest((request) => request.url().startsWith(`${CALLBACK}?code=`));
  await page.getByRole('button', { name: 'Allow' }).click();
  const tokens = await exchangeCode(app, authorization, (await callback).url());
  expect(tokens.access_token).toEqual(expect.any(String));
  const info = await oidc.fetchUserInfo(app.config, tokens.access_token, oidc.skipSubjectCheck);
  expect(info.email).toBe(person.email);
});
