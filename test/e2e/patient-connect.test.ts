/**
 * Patient Connect on the device authorization grant: a clinic's app (openid-client's
 * device flow) creates a connect request; a parent validates it in headless Chromium for their
 * child's record with one optional rule unticked; the app lists it as authorized and collects
 * offline tokens holding exactly what was approved. Refusals: three wrong answers, expiry (the
 * poll answers expired_token, RFC 8628 §3.5), a duplicate external id, polling too fast — paced
 * per device code, and only for the app it was issued to; codes typed in lower case with spaces work.
 */
import * as oidc from 'openid-client';
import { credentialKey } from '../../src/security/credential-keys';
import { textOf } from '../support/browser';
import { registerTestApp, type TestApp } from '../support/app';
import { launchChromium, type Chromium } from '../support/chromium';
import { removeAccess, signOut, signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let chromium: Chromium;
let clinic: TestApp;

const CLINIC = {
  client_name: 'Riverside Clinic',
  token_endpoint_auth_method: 'client_secret_basic',
  capabilities: ['connect'],
  rules: [
    { scope: 'patient/Observation.cruds', required: true, reason: 'Send you lab results after each visit' },
    { scope: 'patient/Immunization.cruds', required: false, reason: 'Keep your vaccinations up to date' },
    { scope: 'offline_access', required: true, reason: 'Send results while you are away' },
  ],
};
const SCOPE = 'patient/Observation.cruds patient/Immunization.cruds offline_access';
const IMMUNIZATIONS = "Add to, read, change, delete and search Milo Whitfield's immunizations — the vaccines you have had";

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer({ CONNECT_POLL_INTERVAL: '1' }), launchChromium()]);
  clinic = await registerTestApp(server, CLINIC);
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

let requests = 0;

function connectRequest(answer = 'Blue whale', extra: Record<string, string> = {}) {
  requests += 1;
  return oidc.initiateDeviceAuthorization(clinic.config, {
    scope: SCOPE,
    external_id: `MRN-${Date.now()}-${requests}`,
    friendly_name: 'Milo Whitfield (son of Dana)',
    question: 'What is your favourite animal?',
    answer,
    ...extra,
  });
}

/** The token endpoint's answer to one device-code poll by `app` (the clinic by default), as a raw response. */
async function pollOnce(deviceCode: string, app: TestApp = clinic): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function listed(status: string, since: Date) {
  const token = await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' });
  const res = await fetch(`${server.issuer}/api/connect/requests?status=${status}&since=${encodeURIComponent(since.toISOString())}`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return ((await res.json()) as { requests: Record<string, unknown>[] }).requests;
}

async function parentWithChild(name: string): Promise<SignedUp & { child: string }> {
  const parent = await signedUpPerson(server, name);
  const page = await parent.browser.visit('/records');
  await parent.browser.submit(page, { name: `Milo ${name.split(' ')[1]}`, birth_date: '2019-04-23', relationship: 'child' }, '/records');
  const child = (await parent.browser.visit('/records')).html.match(/href="\/records\/([0-9a-f-]{36})"[^>]*>Milo/)?.[1] ?? '';
  expect(child).toMatch(/^[0-9a-f-]{36}$/);
  return { ...parent, child };
}

test('a parent validates a connect request in Chromium for their child; the app collects offline tokens holding exactly what was approved', async () => {
  const since = new Date(Date.now() - 1000);
  const request = await connectRequest();
  expect(request.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}(-[BCDFGHJKLMNPQRSTVWXZ]{4}){4}$/);
  expect(request.verification_uri).toBe(`${server.issuer}/connect`);
  expect(request.verification_uri_complete).toBe(`${server.issuer}/connect?user_code=${encodeURIComponent(request.user_code)}`);
  expect(request.expires_in).toBeGreaterThan(27 * 24 * 3600);
  expect(request.interval).toBe(1);
  expect(await pollOnce(request.device_code)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });

  const parent = await parentWithChild('Dana Whitfield');
  // openid-client bounds polling by expires_in, and 28 days overflows a timer: give it a bound of our own.
  const polling = oidc.pollDeviceAuthorizationGrant(clinic.config, request, undefined, { signal: AbortSignal.timeout(60_000) });

  const { page } = await chromium.newPerson();
  await page.goto(request.verification_uri_complete ?? '');
  expect(await page.getByLabel('Identity code').inputValue()).toBe(request.user_code);
  await page.getByRole('button', { name: 'Continue' }).click();
  // Sign in (the flow resumes after).
  await page.getByLabel('Email').fill(parent.person.email);
  await page.getByLabel('Password').fill(parent.person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  // The clinic's secret question.
  const question = await page.getByRole('main').textContent();
  expect(question).toContain('Riverside Clinic');
  expect(question).toContain('Milo Whitfield (son of Dana)');
  expect(question).toContain('What is your favourite animal?');
  await page.getByLabel('Answer').fill('  BLUE   whale ');
  await page.getByRole('button', { name: 'Continue' }).click();
  // The normal consent page: the child's record, one optional rule unticked.
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  await page.getByRole('radio', { name: 'Milo Whitfield' }).check();
  await page.getByRole('checkbox', { name: IMMUNIZATIONS }).uncheck();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByRole('heading', { name: 'Connected' }).waitFor();
  expect(await page.getByRole('main').textContent()).toContain("Riverside Clinic can now reach Milo Whitfield's record");
  expect(await page.getByRole('main').textContent()).toContain('You connected Riverside Clinic — see Connected apps.');

  const tokens = await polling;
  expect(tokens.patient).toBe(parent.child);
  const scopes = (tokens.scope ?? '').split(' ');
  expect(scopes).toEqual(expect.arrayContaining(['patient/Observation.cruds', 'offline_access']));
  expect(scopes).not.toContain('patient/Immunization.cruds');
  expect(tokens.refresh_token).toEqual(expect.any(String));
  const authorized = await listed('authorized', since);
  expect(authorized).toEqual([
    expect.objectContaining({ external_id: expect.stringMatching(/^MRN-/), status: 'authorized', patient: parent.child, authorized_at: expect.any(String) }),
  ]);

  // Offline: the refresh works after the parent signs out, and reaches the child's record.
  await signOut(parent.browser);
  const refreshed = await oidc.refreshTokenGrant(clinic.config, tokens.refresh_token ?? '');
  expect(refreshed.patient).toBe(parent.child);
  const read = await fetch(`${server.issuer}/fhir/Observation`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
  expect(read.status).toBe(200);

  // The authorization is on Connected apps like any other; Remove access ends it.
  const signedIn = await parent.browser.visit('/login');
  await parent.browser.submit(signedIn, { email: parent.person.email, password: parent.person.password });
  const apps = await parent.browser.visit('/apps');
  expect(textOf(apps.html)).toContain('Riverside Clinic');
  const history = textOf((await parent.browser.visit(`/records/${parent.child}/history`)).html);
  expect(history).toContain('Dana Whitfield connected Riverside Clinic to this record with a connect request');
  await removeAccess(parent.browser, apps);
  await expect(oidc.refreshTokenGrant(clinic.config, refreshed.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
  // Collected once: the device code does not give tokens twice.
  expect((await pollOnce(request.device_code)).body.error).toBe('invalid_grant');
});

test('a code typed in lower case with spaces works; three wrong answers lock the request and the app gets access_denied', async () => {
  const request = await connectRequest('correct horse');
  const person = await signedUpPerson(server, 'Lower Case');
  let page = await person.browser.visit('/connect');
  const typed = request.user_code.toLowerCase().replaceAll('-', ' ');
  page = await person.browser.submit(page, { user_code: typed });
  expect(textOf(page.html)).toContain('What is your favourite animal?');
  for (const attempt of [1, 2]) {
    page = await person.browser.submit(page, { answer: `wrong ${attempt}` });
    // Post/Redirect/Get: the question again, with what went wrong and the tries left.
    expect(page.status).toBe(200);
    expect(textOf(page.html)).toContain('That answer is not right');
    expect(textOf(page.html)).toContain(`${3 - attempt} ${attempt === 2 ? 'try' : 'tries'} left`);
  }
  page = await person.browser.submit(page, { answer: 'wrong 3' });
  expect(textOf(page.html)).toContain('This code is locked: the secret question was answered wrongly 3 times. Ask Riverside Clinic for a new code.');
  expect(await pollOnce(request.device_code)).toMatchObject({ status: 400, body: { error: 'access_denied' } });
  // Locked for good, even with the right answer.
  const again = await person.browser.submit(await person.browser.visit('/connect'), { user_code: request.user_code });
  expect(textOf(again.html)).not.toContain('What is your favourite animal?');
  expect(textOf(again.html)).toContain('This code is locked');
  const events = await server.db.knex('audit_events').whereRaw(`subject like 'connect:%'`).andWhere({ kind: 'connect.answer_wrong' });
  expect(events.length).toBeGreaterThanOrEqual(3);
});

test('a request past its 28 days has expired: the code page, the poll and the listing say so (test clock)', async () => {
  const since = new Date(Date.now() - 1000);
  const request = await connectRequest();
  // The clock: move the request's and its device code's end into the past.
  await server.db
    .knex('connect_requests')
    .where({ device_code_hash: credentialKey(request.device_code) })
    .update({ expires_at: new Date(Date.now() - 1000) });
  await server.db
    .knex('oidc_models')
    .where({ model: 'DeviceCode', id: credentialKey(request.device_code) })
    .update({ payload: server.db.knex.raw(`jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::int - 1))`) });
  expect(await pollOnce(request.device_code)).toMatchObject({ status: 400, body: { error: 'expired_token' } });
  const person = await signedUpPerson(server, 'Too Late');
  const page = await person.browser.submit(await person.browser.visit('/connect'), { user_code: request.user_code });
  const late = 'This code has expired: it was not used within 28 days. Ask Riverside Clinic for a new code.';
  expect(textOf(page.html)).toContain(late);
  expect((await server.sweepOnce()).connectRequests).toBeGreaterThanOrEqual(1);
  expect(await listed('expired', since)).toEqual([expect.objectContaining({ status: 'expired' })]);
});

test('an expired connect request answers expired_token, before and after the sweep and after someone tried its code', async () => {
  const request = await connectRequest();
  expect(await pollOnce(request.device_code)).toMatchObject({ body: { error: 'authorization_pending' } });
  // The clock: the request's 28 days are over (its device code would outlive it by seconds).
  await server.db
    .knex('connect_requests')
    .where({ device_code_hash: credentialKey(request.device_code) })
    .update({ expires_at: new Date(Date.now() - 1000) });
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect(await pollOnce(request.device_code)).toMatchObject({ status: 400, body: { error: 'expired_token' } });

  const person = await signedUpPerson(server, 'Late Comer');
  const page = await person.browser.submit(await person.browser.visit('/connect'), { user_code: request.user_code });
  expect(textOf(page.html)).toContain('expired');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect(await pollOnce(request.device_code)).toMatchObject({ status: 400, body: { error: 'expired_token' } });

  await server.sweepOnce();
  const swept = await server.db
    .knex('connect_requests')
    .where({ device_code_hash: credentialKey(request.device_code) })
    .first('status');
  expect(swept).toEqual({ status: 'expired' });
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect(await pollOnce(request.device_code)).toMatchObject({ status: 400, body: { error: 'expired_token' } });
});

test("another app polling with a clinic's device code is refused and does not touch the clinic's pace", async () => {
  const other = await registerTestApp(server, { ...CLINIC, client_name: 'Nosy Clinic' });
  const request = await connectRequest();
  const row = () => server.db.knex('connect_requests').where({ device_code_hash: credentialKey(request.device_code) });
  const paceOf = async () => (await row().first('poll_interval', 'last_polled_at')) as Record<string, unknown>;
  const before = await paceOf();
  // Ten at once, as a misbehaving app would.
  const foreign = await Promise.all(Array.from({ length: 10 }, () => pollOnce(request.device_code, other)));
  for (const answer of foreign) expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  expect(await paceOf()).toEqual(before);
  // The clinic polls at its own interval, undisturbed, and learns nothing new about the pace.
  const own = await pollOnce(request.device_code);
  expect(own).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
  expect((await paceOf()).poll_interval).toBe(before.poll_interval);
});

test('one pending request per external_id per app: a second gets 409 naming the first; the app may withdraw a pending one', async () => {
  const first = await connectRequest('answer one', { external_id: 'MRN-DUPLICATE' });
  const second = await fetch(`${server.issuer}/device/authorize`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clinic.clientId}:${clinic.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ scope: SCOPE, external_id: 'MRN-DUPLICATE', friendly_name: 'Again', question: 'Again?', answer: 'again again' }).toString(),
  });
  expect(second.status).toBe(409);
  const [pending] = (await server.db.knex('connect_requests').where({ external_id: 'MRN-DUPLICATE' })) as { id: string }[];
  expect(await second.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining(pending?.id ?? 'missing') });

  const token = await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' });
  const withdrawn = await fetch(`${server.issuer}/api/connect/requests/${pending?.id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  expect(withdrawn.status).toBe(200);
  expect(await withdrawn.json()).toMatchObject({ status: 'withdrawn' });
  expect(await pollOnce(first.device_code)).toMatchObject({ status: 400, body: { error: 'access_denied' } });
  const person = await signedUpPerson(server, 'Withdrawn Code');
  const page = await person.browser.submit(await person.browser.visit('/connect'), { user_code: first.user_code });
  expect(textOf(page.html)).toContain('That identity code is not right');
  // Withdrawn once: a second withdrawal is a conflict; another app's id is not found.
  const again = await fetch(`${server.issuer}/api/connect/requests/${pending?.id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  expect(again.status).toBe(409);
});

test('polling faster than the interval gets slow_down; refusals at the device authorization endpoint', async () => {
  const request = await connectRequest();
  const [a, b] = [await pollOnce(request.device_code), await pollOnce(request.device_code)];
  expect(a.body.error).toBe('authorization_pending');
  expect(b).toMatchObject({ status: 400, body: { error: 'slow_down' } });

  const refusals: [Record<string, string>, string][] = [
    [{ answer: 'short' }, 'at least 6 characters'],
    [{ question: '' }, 'question is required'],
    [{ scope: 'patient/Observation.cruds' }, 'offline_access'],
    [{ scope: `${SCOPE} connect` }, 'capability'],
  ];
  for (const [change, message] of refusals) {
    await expect(connectRequest('Blue whale', change)).rejects.toMatchObject({ error_description: expect.stringContaining(message) });
  }
  // The connect parameters belong to the device flow only.
  const authorize = new URL(`${server.issuer}/authorize`);
  authorize.search = new URLSearchParams({ client_id: clinic.clientId, response_type: 'code', scope: 'openid', answer: 'sneaky answer' }).toString();
  expect((await fetch(authorize, { redirect: 'manual' })).status).toBeLessThan(500);
});

test('an app without the connect capability cannot start a connect request', async () => {
  const other = await registerTestApp(server, { ...CLINIC, client_name: 'No Connect', capabilities: ['dopu'] });
  await expect(
    oidc.initiateDeviceAuthorization(other.config, { scope: SCOPE, external_id: 'x', friendly_name: 'x', question: 'x?', answer: 'Blue whale' }),
  ).rejects.toMatchObject({ error: 'unauthorized_client', error_description: expect.stringContaining('connect capability') });
});
