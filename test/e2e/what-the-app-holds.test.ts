/**
 * An app holds exactly what the person last approved: a new consent withdraws the access tokens
 * carrying a rule it no longer allows and the refresh tokens of offline access it no longer
 * allows, racing consents converge on one authorization and one grant, online access belongs to
 * one authorization and ends at sign-out, capabilities are refused at the authorization endpoint
 * and need a confidential app, and a code presented twice always revokes the tokens issued from
 * it. Browser-level flows run in headless Chromium; the app is openid-client.
 */
import * as oidc from 'openid-client';
import { textOf } from '../support/browser';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, authorizeInBrowser, type TestApp } from '../support/app';
import { backAtApp, callbackAfter, launchChromium, watchCallbacks, type Chromium } from '../support/chromium';
import { removeAccess, signOut, signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { createAccount } from '../support/forms';

const REGISTRATION_TOKEN = 'registration-token-for-the-what-the-app-holds-tests';

let server: TestServer;
let chromium: Chromium;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: REGISTRATION_TOKEN }), launchChromium()]);
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

const MEDICINES_WORDS = "Add to, read, change, delete and search Offline Withdrawn's medicines list";
const OFFLINE_WORDS = 'Keep access while you are away, until you remove it';

const TRACKER = {
  client_name: 'Weight Tracker',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  rules: [
    { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
    { scope: 'patient/MedicationStatement.cruds', required: false, reason: 'Keep your medicines list' },
    { scope: 'offline_access', required: false, reason: 'Sync your scale while you are away' },
  ],
};
const ALL = 'openid patient/Observation.rs patient/MedicationStatement.cruds offline_access';

async function fhirStatus(token: string, path: string): Promise<number> {
  return (await fetch(`${server.issuer}/fhir/${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function active(app: TestApp, token: string): Promise<boolean> {
  return (await oidc.tokenIntrospection(app.config, token)).active;
}

async function refusedRefresh(app: TestApp, refreshToken: string): Promise<void> {
  await expect(oidc.refreshTokenGrant(app.config, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
}

/** Grants stored for an app (oidc-provider's Grant rows), as an operator would count them. */
async function grantsOf(app: TestApp): Promise<number> {
  const rows = await server.db.knex('oidc_models').where({ model: 'Grant' }).whereRaw(`payload->>'clientId' = ?`, [app.clientId]);
  return rows.length;
}

async function liveAuthorizationsOf(app: TestApp): Promise<number> {
  return (await server.db.knex('authorizations').where({ client_id: app.clientId }).whereNull('revoked_at')).length;
}

test('1, 2: a new consent without offline access and a rule ends the old refresh token and the tokens carrying the rule, at once (Chromium)', async () => {
  const app = await registerTestApp(server, TRACKER);
  const person = newPerson('Offline Withdrawn');
  const { page } = await chromium.newPerson();
  watchCallbacks(page);

  // First consent: everything, offline included.
  const first = await startAuthorization(app, { scope: ALL });
  await page.goto(first.url.toString());
  await page.getByRole('link', { name: 'Create account' }).click();
  await createAccount(page, person);
  // Optional rules start unticked: the person ticks them.
  await page.getByRole('checkbox', { name: OFFLINE_WORDS }).check();
  await page.getByRole('checkbox', { name: MEDICINES_WORDS }).check();
  await page.getByRole('button', { name: 'Allow' }).click();
  const old = await exchangeCode(app, first, (await backAtApp(page)).toString());
  expect(old.refresh_token).toEqual(expect.any(String));
  expect(await fhirStatus(old.access_token, 'MedicationStatement')).toBe(200);

  // The app sends the person back with prompt=consent; they untick offline access and the medicines rule.
  const second = await startAuthorization(app, { scope: ALL, prompt: 'consent' });
  await page.goto(second.url.toString());
  await page.getByRole('checkbox', { name: OFFLINE_WORDS }).uncheck();
  await page.getByRole('checkbox', { name: MEDICINES_WORDS }).uncheck();
  const fresh = await exchangeCode(app, second, await callbackAfter(page, () => page.getByRole('button', { name: 'Allow' }).click()));
  expect(fresh.refresh_token).toBeUndefined();
  expect((fresh.scope ?? '').split(' ')).not.toEqual(expect.arrayContaining(['offline_access']));

  // Within the consent's own transaction: the old refresh token and the old access token are gone everywhere.
  await refusedRefresh(app, old.refresh_token ?? '');
  expect(await active(app, old.refresh_token ?? '')).toBe(false);
  expect(await active(app, old.access_token)).toBe(false);
  expect(await fhirStatus(old.access_token, 'Observation')).toBe(401);
  expect(await fhirStatus(old.access_token, 'MedicationStatement')).toBe(401);
  // What the person approved now works, and only that.
  expect(await fhirStatus(fresh.access_token, 'Observation')).toBe(200);
  expect(await fhirStatus(fresh.access_token, 'MedicationStatement')).toBe(403);

  await page.goto(`${server.issuer}/apps`);
  expect(await page.getByRole('main').textContent()).toContain('Only right after you sign in');
});

test('2b: a new consent withdrawing only a record rule keeps the refresh token, which then gives the narrower grant', async () => {
  const app = await registerTestApp(server, { ...TRACKER, client_name: 'Narrowed Tracker' });
  const { person, browser } = await signedUpPerson(server, 'Rule Withdrawn');
  const first = await startAuthorization(app, { scope: ALL });
  let page = await browser.visit(first.url.toString());
  if (page.html.includes('>Sign in</button>')) page = await browser.submit(page, { email: person.email, password: person.password });
  const all = await browser.submit(page, { decision: 'allow' }, '/consent', { check: ['patient/MedicationStatement.cruds', 'offline_access'] });
  const old = await exchangeCode(app, first, all.location ?? '');

  const second = await startAuthorization(app, { scope: ALL, prompt: 'consent' });
  const consent = await browser.visit(second.url.toString());
  const fewer = await browser.submit(consent, { decision: 'allow' }, '/consent', { check: ['offline_access'], uncheck: ['patient/MedicationStatement.cruds'] });
  await exchangeCode(app, second, fewer.location ?? '');

  // The old access token carried the withdrawn rule: gone. The old refresh token did not lose offline access: it narrows.
  expect(await fhirStatus(old.access_token, 'Observation')).toBe(401);
  const refreshed = await oidc.refreshTokenGrant(app.config, old.refresh_token ?? '');
  expect((refreshed.scope ?? '').split(' ')).not.toContain('patient/MedicationStatement.cruds');
  expect(await fhirStatus(refreshed.access_token, 'Observation')).toBe(200);
  expect(await fhirStatus(refreshed.access_token, 'MedicationStatement')).toBe(403);
});

test('1b: going from online to offline, the tokens the app already had follow the new approval', async () => {
  const app = await registerTestApp(server, {
    ...TRACKER,
    client_name: 'Scale Sync',
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
      { scope: 'offline_access', required: false, reason: 'Sync your scale while you are away', checked: false },
    ],
  });
  const { person, browser } = await signedUpPerson(server, 'Online Then Offline');
  const first = await startAuthorization(app, { scope: 'openid patient/Observation.rs offline_access' });
  const without = await exchangeCode(app, first, (await authorizeInBrowser(browser, first.url, person, { uncheck: ['offline_access'] })).location ?? '');
  expect(without.refresh_token).toBeUndefined();

  // The consent page starts from what was declined last time; this time the person ticks offline access.
  const second = await startAuthorization(app, { scope: 'openid patient/Observation.rs offline_access', prompt: 'consent' });
  const consent = await browser.visit(second.url.toString());
  const answered = await browser.submit(consent, { decision: 'allow' }, '/consent', { check: ['offline_access'] });
  const withOffline = await exchangeCode(app, second, answered.location ?? '');
  expect(withOffline.refresh_token).toEqual(expect.any(String));
  // The earlier token (no rule was withdrawn) keeps working; the new refresh token survives sign-out.
  expect(await fhirStatus(without.access_token, 'Observation')).toBe(200);
  await signOut(browser);
  const refreshed = await oidc.refreshTokenGrant(app.config, withOffline.refresh_token ?? '');
  expect(await fhirStatus(refreshed.access_token, 'Observation')).toBe(200);
});

test('3, 4: six consents for one app at once, and a double submission, converge on one authorization and one grant', async () => {
  const app = await registerTestApp(server, { ...TRACKER, client_name: 'Racing Tabs' });
  const { person, browser } = await signedUpPerson(server, 'Many Tabs');

  // Six tabs: six authorization requests, six consent pages, submitted at once.
  const tabs = await Promise.all(Array.from({ length: 6 }, () => startAuthorization(app, { scope: ALL })));
  const pages = [];
  for (const tab of tabs) pages.push(await browser.visit(tab.url.toString()));
  for (const page of pages) expect(page.html).toContain('>Allow</button>');
  const answers = await Promise.all(pages.map((page) => browser.submit(page, { decision: 'allow' }, '/consent', { check: ['offline_access'] })));
  const fiveHundreds = answers.filter((answer) => answer.status >= 500).length;
  // Every tab resumes the same sign-in session at once, and oidc-provider renews the session's id
  // on each resume: a tab that comes back with the id another tab just renewed is asked to start again.
  const backAtTheApp = answers.flatMap((answer, i) => (answer.location?.startsWith(CALLBACK) ? [{ answer, tab: tabs[i] as (typeof tabs)[number] }] : []));
  for (const answer of answers.filter((candidate) => !candidate.location?.startsWith(CALLBACK))) {
    // Asked to start again (its answer came with the renewed id, or its step was gone), or — when
    // this browser's sign-in was renewed under it after its answer — told in words that the app did
    // not hear back, with the way back to it. Never the question it answered, asked again.
    expect(textOf(answer.html)).not.toContain('Connect Racing Tabs to your health record?');
    expect(answer.html).not.toContain('>Allow</button>');
    expect(answer.status).toBe(400);
    expect(textOf(answer.html)).toMatch(/Go back to the app and start again|Racing Tabs did not hear back/);
  }
  const tokens = await Promise.all(backAtTheApp.map(({ answer, tab }) => exchangeCode(app, tab, answer.location ?? '')));
  const grants = await grantsOf(app);
  const authorizations = await liveAuthorizationsOf(app);
  console.log(
    `six tabs: ${answers.length} submissions, ${tokens.length} codes exchanged, ${grants} grant(s), ${authorizations} authorization(s), ${fiveHundreds} 5xx`,
  );
  expect(tokens.length).toBeGreaterThanOrEqual(1);
  expect(fiveHundreds).toBe(0);
  expect(grants).toBe(1);
  expect(authorizations).toBe(1);

  // A double click: the same consent form twice at once. One answer wins; the other is told so.
  const again = await startAuthorization(app, { scope: ALL, prompt: 'consent' });
  let page = await browser.visit(again.url.toString());
  // A tab that lost the session race above may have left this browser signed out: sign in again.
  if (page.html.includes('>Sign in</button>')) page = await browser.submit(page, { email: person.email, password: person.password });
  expect(page.html).toContain('>Allow</button>');
  const [a, b] = await Promise.all([browser.submit(page, { decision: 'allow' }, '/consent'), browser.submit(page, { decision: 'allow' }, '/consent')]);
  const statuses = [a.status, b.status].sort();
  console.log(`double submission: statuses ${statuses.join(', ')}, ${await grantsOf(app)} grant(s), ${await liveAuthorizationsOf(app)} authorization(s)`);
  const winner = [a, b].find((answer) => answer.location?.startsWith('https://app.example/callback'));
  const loser = [a, b].find((answer) => answer !== winner);
  expect(winner).toBeDefined();
  // The loser is told so: answered while the first was running (409), or after the first had
  // already gone back to the app (the interaction is finished: 400).
  expect(statuses.every((status) => status < 500)).toBe(true);
  expect(textOf(loser?.html ?? '')).toMatch(/This request was already answered|was already finished/);
  await exchangeCode(app, again, winner?.location ?? '');
  expect(await grantsOf(app)).toBe(1);
  expect(await liveAuthorizationsOf(app)).toBe(1);

  // Remove access ends everything the app holds for the record, whatever raced before.
  const apps = await browser.visit('/apps');
  await removeAccess(browser, apps);
  for (const set of tokens) {
    expect(await active(app, set.access_token)).toBe(false);
    await refusedRefresh(app, set.refresh_token ?? '');
  }
  expect(await grantsOf(app)).toBe(0);
});

test('3b: an Allow sent with the sign-in id another tab has just renewed is refused in words, never asked again', async () => {
  const app = await registerTestApp(server, { ...TRACKER, client_name: 'Renewed Tabs' });
  const { browser } = await signedUpPerson(server, 'Renewed Tabs Person');
  const [first, second] = await Promise.all([startAuthorization(app, { scope: ALL }), startAuthorization(app, { scope: ALL })]);
  const firstPage = await browser.visit(first.url.toString());
  const secondPage = await browser.visit(second.url.toString());
  // The second tab's Allow leaves with the cookies of the moment: then the first tab's answer
  // comes back to carevault and its resume renews the sign-in id, before the second arrives.
  const action = new URL(decodeURIComponent(secondPage.html.match(/<form[^>]*action="([^"]*\/consent)"/)?.[1] ?? ''), secondPage.url).toString();
  const cookies = browser.cookiesFor(action);
  const back = await browser.submit(firstPage, { decision: 'allow' }, '/consent');
  expect(back.location?.startsWith(CALLBACK)).toBe(true);
  const late = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookies, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: secondPage.html.match(/name="_csrf" value="([^"]*)"/)?.[1] ?? '', decision: 'allow' }),
  });
  const text = textOf(await late.text());
  expect(late.status).toBe(400);
  expect(text).toContain('this answer was not taken');
  expect(text).toContain('Go back to the app and start again');
  expect(text).not.toContain('to your health record?');
  await exchangeCode(app, first, back.location ?? '');
  expect(await grantsOf(app)).toBe(1);
  expect(await liveAuthorizationsOf(app)).toBe(1);
});

test('4b: a real double click on Allow in Chromium never gives a 5xx nor a second grant', async () => {
  const app = await registerTestApp(server, { ...TRACKER, client_name: 'Double Click' });
  const { person } = await signedUpPerson(server, 'Double Clicker');
  const { context, page } = await chromium.newPerson();
  const statuses: number[] = [];
  page.on('response', (response) => statuses.push(response.status()));
  // A redirect to the app's unresolvable host is not always routed: watch for the request instead.
  let callback: string | undefined;
  page.on('request', (request) => {
    if (request.url().startsWith(CALLBACK)) callback = request.url();
  });
  const arrived = async () => {
    for (let i = 0; i < 150 && !callback; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    return callback ?? '';
  };
  // Sign in in Chromium (the cookies are the browser's own).
  const authorization = await startAuthorization(app, { scope: ALL });
  await page.goto(authorization.url.toString());
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Allow' }).dblclick();
  await page.waitForLoadState();
  await new Promise((resolve) => setTimeout(resolve, 500));
  if (!callback && (await page.getByRole('link', { name: 'Continue' }).count())) {
    // The second click was answered "already answered": Continue carries on to the app.
    expect(await page.getByRole('main').textContent()).toContain('This request was already answered');
    await page.getByRole('link', { name: 'Continue' }).click();
  }
  const tokens = await exchangeCode(app, authorization, await arrived());
  expect(tokens.access_token).toEqual(expect.any(String));
  console.log(`double click in Chromium: statuses ${statuses.join(', ')}; ${await grantsOf(app)} grant(s)`);
  expect(statuses.filter((status) => status >= 500)).toEqual([]);
  expect(await grantsOf(app)).toBe(1);
  expect(await liveAuthorizationsOf(app)).toBe(1);
  await context.close();
});

test('5: online access belongs to one authorization: another record does not end it; signing out ends both', async () => {
  const app = await registerTestApp(server, {
    ...TRACKER,
    client_name: 'Online Only',
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Chart weights' },
      { scope: 'online_access', required: true, reason: 'Stay connected while you use it' },
    ],
  });
  const { person, browser, record } = await signedUpPerson(server, 'Two Records');
  const records = await browser.visit('/records');
  await browser.submit(records, { name: 'Kid Online', birth_date: '2018-05-05', relationship: 'child' }, '/records');
  const scope = 'openid patient/Observation.rs online_access';

  const own = await startAuthorization(app, { scope });
  const ownTokens = await exchangeCode(app, own, (await authorizeInBrowser(browser, own.url, person, { record })).location ?? '');
  const child = await startAuthorization(app, { scope });
  const childPage = await browser.visit(child.url.toString());
  const childRecord = childPage.html.match(/value="([0-9a-f-]{36})"[^>]*>\s*<label[^>]*>Kid Online/)?.[1] ?? '';
  expect(childRecord).toMatch(/^[0-9a-f-]{36}$/);
  const childTokens = await exchangeCode(app, child, (await browser.submit(childPage, { decision: 'allow', record: childRecord }, '/consent')).location ?? '');
  expect(childTokens.patient).toBe(childRecord);

  // The own-record tokens still work: refresh and read.
  const ownRefreshed = await oidc.refreshTokenGrant(app.config, ownTokens.refresh_token ?? '');
  expect(ownRefreshed.patient).toBe(record);
  expect(await fhirStatus(ownRefreshed.access_token, 'Observation')).toBe(200);
  expect(await fhirStatus(childTokens.access_token, 'Observation')).toBe(200);

  // Signing out ends every online authorization of that session.
  await signOut(browser);
  await refusedRefresh(app, ownRefreshed.refresh_token ?? '');
  await refusedRefresh(app, childTokens.refresh_token ?? '');
  expect(await fhirStatus(ownRefreshed.access_token, 'Observation')).toBe(401);
  expect(await fhirStatus(childTokens.access_token, 'Observation')).toBe(401);
  // The authorizations stand: signing in again brings the app back without a consent page.
  expect(await liveAuthorizationsOf(app)).toBe(2);
});

test('6: capability scopes at the authorization endpoint are refused with invalid_scope, no page, nothing audited', async () => {
  const app = await registerTestApp(server, { ...TRACKER, client_name: 'Clinic With Capabilities', capabilities: ['dopu'] });
  const { browser } = await signedUpPerson(server, 'Capability Asker');
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.rs dopu' });
  const answer = await browser.visit(authorization.url.toString());
  expect(answer.location).toMatch(/^https:\/\/app\.example\/callback\?/);
  const params = new URL(answer.location ?? '').searchParams;
  expect(params.get('error')).toBe('invalid_scope');
  expect(await server.db.knex('audit_events').where({ client_id: app.clientId })).toHaveLength(0);
  expect(await liveAuthorizationsOf(app)).toBe(0);
});

test('7: a public app cannot have capabilities, by the registration call and dynamic registration alike', async () => {
  const document = { client_name: 'Public Dropper', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none', capabilities: ['dopu'] };
  await expect(server.registerApp(document)).rejects.toThrow(/^capabilities: need a confidential app/);
  const res = await fetch(`${server.issuer}/oauth/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${REGISTRATION_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(document),
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('capabilities') });
});

test('8: a code presented thirty times at once: one exchange wins, and its tokens are revoked — every round', async () => {
  const app = await registerTestApp(server, { ...TRACKER, client_name: 'Code Replayer' });
  const { person, browser } = await signedUpPerson(server, 'Code Replay');
  for (let round = 1; round <= 3; round += 1) {
    const authorization = await startAuthorization(app, { scope: ALL, ...(round > 1 ? { prompt: 'consent' } : {}) });
    const back = await authorizeInBrowser(browser, authorization.url, person);
    const attempts = await Promise.allSettled(Array.from({ length: 30 }, () => exchangeCode(app, authorization, back.location ?? '')));
    const winners = attempts.flatMap((attempt) => (attempt.status === 'fulfilled' ? [attempt.value] : []));
    const refusals = attempts.filter((attempt) => attempt.status === 'rejected' && (attempt.reason as { error?: string }).error === 'invalid_grant');
    expect(winners).toHaveLength(1);
    expect(refusals).toHaveLength(29);
    const tokens = winners[0] as oidc.TokenEndpointResponse;
    const stillActive = await active(app, tokens.access_token);
    const fhir = await fhirStatus(tokens.access_token, 'Observation');
    console.log(
      `code replay round ${round}: 30 exchanges, ${winners.length} won, ${refusals.length} refused; winner's token active: ${stillActive}, /fhir ${fhir}`,
    );
    expect(stillActive).toBe(false);
    expect(fhir).toBe(401);
    await refusedRefresh(app, tokens.refresh_token ?? '');
  }
});
