/**
 * The longer flows several conformance checks share, each run once: refusals at the authorization
 * endpoint, signing out through the end-session endpoint (GET and POST) with offline and online
 * access, Patient Connect on the device grant, and `form_post` in Chromium under carevault's CSP.
 */
import * as oidc from 'openid-client';
import { textOf, type Browser } from '../browser';
import { CALLBACK, newPerson } from '../app';
import type { SignedUp } from '../people';
import { apps } from './apps';
import { LOGGED_OUT, type RegisteredApp, type World } from './world';
import { createAccount } from '../forms';

/** Where an authorization request ends when it is refused: the OAuth error code, from the redirect or the error page. */
export async function refusalAt(browser: Browser, url: string): Promise<string> {
  const page = await browser.visit(url);
  if (page.location?.startsWith(CALLBACK)) {
    const error = new URL(page.location).searchParams.get('error');
    if (!error) throw new Error(`expected a refusal, got ${page.location}`);
    return error;
  }
  expect(page.status).toBeGreaterThanOrEqual(400);
  return /<code>([a-z_]+)<\/code>/.exec(page.html)?.[1] ?? `page: ${textOf(page.html).slice(0, 120)}`;
}

/** Signs `who` out through the end-session endpoint with GET or POST; returns where the browser ended. */
async function endSession(who: SignedUp, app: RegisteredApp, idToken: string, method: 'GET' | 'POST'): Promise<string | undefined> {
  const params = { id_token_hint: idToken, post_logout_redirect_uri: LOGGED_OUT, state: `bye-${method}` };
  const url = oidc.buildEndSessionUrl(app.config, params);
  let confirm;
  if (method === 'POST') {
    const posted = await who.browser.request(`${url.origin}${url.pathname}`, { method: 'POST', form: Object.fromEntries(url.searchParams) });
    expect(posted.status).toBe(303);
    confirm = await who.browser.visit(posted.location ?? '');
  } else {
    confirm = await who.browser.visit(url.href);
  }
  expect(textOf(confirm.html)).toContain('Sign out');
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
  const action = /<form[^>]*action="([^"]+)"/.exec(confirm.html)?.[1] ?? '';
  const done = await who.browser.visit(action, { form: { xsrf, logout: 'yes' } });
  return done.location;
}

/** Offline access survives signing out (GET end-session); proves both. */
export function offlineAfterSignOut(w: World) {
  return w.memo('check:offline-sign-out', async () => {
    // Their own person: the one the other checks share stays signed in.
    const who = await w.person('Otto Offline');
    const app = await apps.basic(w);
    const flow = await w.codeFlow(app, { who, scope: 'openid patient/Patient.rs offline_access' });
    expect(flow.tokens.refresh_token).toEqual(expect.any(String));
    const ended = await endSession(who, app, flow.tokens.id_token ?? '', 'GET');
    expect(ended).toBe(`${LOGGED_OUT}?state=bye-GET`);
    expect(textOf((await who.browser.visit('/apps')).html)).toContain('Sign in');
    const refreshed = await oidc.refreshTokenGrant(app.config, flow.tokens.refresh_token ?? '');
    expect((await w.fhir(refreshed.access_token, 'GET', `Patient/${who.record}`)).status).toBe(200);
  });
}

/** Online access ends when the person signs out (POST end-session); proves both. */
export function onlineEndsAtSignOut(w: World) {
  return w.memo('check:online-sign-out', async () => {
    const who = await w.person('Olive Online');
    const app = await apps.online(w);
    const flow = await w.codeFlow(app, { who, scope: 'openid patient/Patient.rs online_access' });
    expect(flow.tokens.scope?.split(' ')).toContain('online_access');
    const refreshed = await oidc.refreshTokenGrant(app.config, flow.tokens.refresh_token ?? '');
    expect((await w.fhir(refreshed.access_token, 'GET', `Patient/${who.record}`)).status).toBe(200);
    const ended = await endSession(who, app, flow.tokens.id_token ?? '', 'POST');
    expect(ended).toBe(`${LOGGED_OUT}?state=bye-POST`);
    await expect(oidc.refreshTokenGrant(app.config, refreshed.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
  });
}

/** Patient Connect on the device grant: the clinic asks, the person validates at /connect, the clinic polls. */
export function deviceFlow(w: World) {
  return w.memo('check:device-flow', async () => {
    const clinic = await apps.clinic(w);
    const who = await w.person();
    const request = await oidc.initiateDeviceAuthorization(clinic.config, {
      scope: 'patient/Observation.cruds offline_access',
      external_id: `MRN-${Date.now()}`,
      friendly_name: 'Casey Conform',
      question: 'What is your favourite animal?',
      answer: 'Blue whale',
    });
    expect(request.verification_uri).toBe(`${w.issuer}/connect`);
    let page = await who.browser.submit(await who.browser.visit('/connect'), { user_code: request.user_code });
    page = await who.browser.submit(page, { answer: 'blue whale' });
    page = await who.browser.submit(page, { decision: 'allow' }, '/consent');
    expect(textOf(page.html)).toContain('Connected');
    const tokens = await oidc.pollDeviceAuthorizationGrant(clinic.config, request, undefined, { signal: AbortSignal.timeout(20_000) });
    expect(tokens.patient).toBe(who.record);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect((await w.fhir(tokens.access_token, 'GET', 'Observation?_count=1')).status).toBe(200);
  });
}

/** A code flow in Chromium with response_mode=form_post: carevault's page posts the response to the app under its CSP. */
export function formPost(w: World) {
  return w.memo('check:form-post', async () => {
    const chromium = await w.browser();
    const { page } = await chromium.newPerson();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/.test(message.text())) blocked.push(message.text());
    });
    const person = newPerson('Fern Post');
    await page.goto(`${w.issuer}/register`);
    await createAccount(page, person);
    await page.getByText(`Hello, ${person.name}`).waitFor();

    const app = await apps.basic(w);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(app.config, {
      redirect_uri: CALLBACK,
      scope: 'openid patient/Patient.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      response_mode: 'form_post',
      state,
      nonce,
    });
    const posted = page.waitForRequest((request) => request.url() === CALLBACK && request.method() === 'POST');
    await page.goto(url.href);
    await page.getByRole('button', { name: 'Allow' }).click();
    const request = await posted;
    expect(blocked).toEqual([]);
    const body = request.postData() ?? '';
    expect(new URLSearchParams(body).get('iss')).toBe(w.issuer);
    const callback = new Request(CALLBACK, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const tokens = await oidc.authorizationCodeGrant(app.config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    expect(tokens.access_token).toEqual(expect.any(String));
  });
}
