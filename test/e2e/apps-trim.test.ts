/**
 * Connected apps (`/apps`): Remove access asks first and says what ended; a person turns off offline
 * access or one optional rule without removing the app, and what the app holds follows at once, as
 * docs/apps/authorization.md says ("Turned off on /apps"): a refresh token refused, an access token
 * withdrawn and the next one narrower, /fhir answering 401 or 403. Required rules have no switch.
 * Racing trims and removals leave one consistent state. The app is openid-client; pages are driven
 * in headless Chromium where a person clicks, and over HTTP for forged and racing forms.
 */
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { exchangeCode, newPerson, registerTestApp, startAuthorization, WEIGHT_TRACKER, type TestApp } from '../support/app';
import { callbackAfter, launchChromium, type Chromium } from '../support/chromium';
import { createAccount } from '../support/forms';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let chromium: Chromium;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

const MEDICINES = 'patient/MedicationStatement.cruds';
const MEDICINES_WORDS = 'Add to, read, change, delete and search your medicines list';
const OBSERVATIONS_WORDS = 'Read and search your observations — vital signs and lab results';
const OFFLINE_WORDS = 'Keep access while you are away, until you remove it';
const ALL = `openid patient/Observation.rs ${MEDICINES} offline_access`;

const tracker = (name: string) => ({ ...WEIGHT_TRACKER, client_name: name });

type Tokens = Awaited<ReturnType<typeof exchangeCode>>;

async function fhirStatus(token: string, path: string): Promise<number> {
  return (await fetch(`${server.issuer}/fhir/${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
}

async function refusedRefresh(app: TestApp, refreshToken: string | undefined): Promise<void> {
  await expect(oidc.refreshTokenGrant(app.config, refreshToken ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
}

function scopesOf(tokens: { scope?: string }): string[] {
  return (tokens.scope ?? '').split(' ').filter(Boolean);
}

/** The person allows every rule over HTTP (optional ones ticked whatever the consent page starts with). */
async function allowAll(app: TestApp, browser: Browser, person: { email: string; password: string }): Promise<Tokens> {
  const authorization = await startAuthorization(app, { scope: ALL });
  let page = await browser.visit(authorization.url.toString());
  if (page.html.includes('>Sign in</button>')) page = await browser.submit(page, { email: person.email, password: person.password });
  const answered = await browser.submit(page, { decision: 'allow' }, '/consent', { check: [MEDICINES, 'offline_access'] });
  return exchangeCode(app, authorization, answered.location ?? '');
}

/** A person signed up over HTTP who allowed every rule of a new app. */
async function authorized(appName: string, personName: string) {
  const app = await registerTestApp(server, tracker(appName));
  const { person, browser, record } = await signedUpPerson(server, personName);
  const tokens = await allowAll(app, browser, person);
  const [row] = await server.db.knex('authorizations').where({ client_id: app.clientId }).whereNull('revoked_at');
  return { app, person, browser, record, tokens, authorizationId: String(row.id) };
}

async function liveAuthorization(app: TestApp) {
  return server.db.knex('authorizations').where({ client_id: app.clientId }).whereNull('revoked_at').first();
}

async function auditKinds(app: TestApp, kind: string): Promise<number> {
  return (await server.db.knex('audit_events').where({ client_id: app.clientId, kind })).length;
}

/** Submits the switch of `rule` on /apps (the form a Turn off button sends). */
async function turnOff(browser: Browser, authorizationId: string, rule: string, apps?: PageResponse): Promise<PageResponse> {
  const page = apps ?? (await browser.visit('/apps'));
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
  return browser.request(`/apps/${authorizationId}/rules`, { form: { _csrf: csrf, rule } });
}

/** Chromium: a new person creates an account from the app's sign-in page and allows every rule. */
async function allowAllInChromium(page: Page, app: TestApp, personName: string): Promise<Tokens> {
  const authorization = await startAuthorization(app, { scope: ALL });
  await page.goto(authorization.url.toString());
  await page.getByRole('link', { name: 'Create account' }).click();
  await createAccount(page, newPerson(personName));
  // The consent page words each rule with the record's name, not "your".
  await page.getByRole('checkbox', { name: /Add to, read, change, delete and search .+'s medicines list/ }).check();
  await page.getByRole('checkbox', { name: OFFLINE_WORDS }).check();
  return exchangeCode(app, authorization, await callbackAfter(page, () => page.getByRole('button', { name: 'Allow' }).click()));
}

test('Remove access shows what ends first; Cancel leaves everything; confirming ends it and says so; reload or Back repeat nothing (Chromium)', async () => {
  const app = await registerTestApp(server, tracker('Weight Tracker'));
  const { page } = await chromium.newPerson();
  const tokens = await allowAllInChromium(page, app, 'Robin Confirm');

  await page.goto(`${server.issuer}/apps`);
  await page.getByRole('button', { name: "Remove access for Weight Tracker to Robin Confirm's record" }).click();
  await page.getByRole('heading', { level: 1, name: "Remove Weight Tracker's access?" }).waitFor();
  const confirm = (await page.getByRole('main').innerText()).replace(/\s+/g, ' ');
  expect(confirm).toContain("Weight Tracker will no longer reach Robin Confirm's record. This ends:");
  expect(confirm).toContain(OBSERVATIONS_WORDS);
  expect(confirm).toContain(MEDICINES_WORDS);
  expect(confirm).toContain('Access while you are away (offline access)');
  expect(confirm).toContain('Every token Weight Tracker holds for this record: they stop working now.');

  // Cancel: back on /apps, and nothing changed.
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.waitForURL(`${server.issuer}/apps`);
  expect(await page.getByRole('heading', { level: 3, name: 'Weight Tracker' }).count()).toBe(1);
  expect(await fhirStatus(tokens.access_token, 'Observation')).toBe(200);
  const renewed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
  expect(await auditKinds(app, 'authorization.removed')).toBe(0);

  // Confirm, with the keyboard: 303 back to /apps with the outcome in words.
  await page.getByRole('button', { name: "Remove access for Weight Tracker to Robin Confirm's record" }).click();
  await page.getByRole('button', { name: 'Remove access' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/apps\?removed=/);
  const status = page.getByRole('status');
  expect(await status.innerText()).toBe("Weight Tracker can no longer reach Robin Confirm's record.");
  expect(await page.getByRole('heading', { level: 3, name: 'Weight Tracker' }).count()).toBe(0);

  // Everything the app held stopped working.
  expect(await fhirStatus(renewed.access_token, 'Observation')).toBe(401);
  expect(await fhirStatus(tokens.access_token, 'Observation')).toBe(401);
  await refusedRefresh(app, renewed.refresh_token);
  expect((await oidc.tokenIntrospection(app.config, renewed.access_token)).active).toBe(false);

  // Reload and Back: the same true sentence, no second removal.
  await page.reload();
  expect(await page.getByRole('status').innerText()).toBe("Weight Tracker can no longer reach Robin Confirm's record.");
  await page.goBack();
  await page.waitForURL(/\/apps\?removed=/);
  expect(await page.getByRole('status').innerText()).toBe("Weight Tracker can no longer reach Robin Confirm's record.");
  expect(await auditKinds(app, 'authorization.removed')).toBe(1);

  // Once the app is allowed again, the old sentence would contradict the list: it is no longer shown.
  const removedUrl = page.url();
  const again = await startAuthorization(app, { scope: ALL });
  await page.goto(again.url.toString());
  await exchangeCode(app, again, await callbackAfter(page, () => page.getByRole('button', { name: 'Allow' }).click()));
  await page.goto(removedUrl);
  expect(await page.getByRole('heading', { level: 3, name: 'Weight Tracker' }).count()).toBe(1);
  expect(await page.getByRole('status').count()).toBe(0);
});

test('turning off offline access: the refresh token is refused at once, the access token works until it expires, the app stays (Chromium)', async () => {
  const app = await registerTestApp(server, tracker('Scale Sync'));
  const { page } = await chromium.newPerson();
  const tokens = await allowAllInChromium(page, app, 'Sam Offline');

  await page.goto(`${server.issuer}/apps`);
  await page.getByRole('button', { name: 'Turn off offline access for Scale Sync' }).click();
  await page.waitForURL(/\/apps\?trimmed=/);
  expect(await page.getByRole('status').innerText()).toBe('You turned off offline access for Scale Sync.');
  const main = (await page.getByRole('main').innerText()).replace(/\s+/g, ' ');
  expect(main).toContain('Only right after you sign in');
  expect(await page.getByRole('button', { name: 'Turn off offline access for Scale Sync' }).count()).toBe(0);
  expect(await page.getByRole('button', { name: `Turn off ${MEDICINES_WORDS} for Scale Sync` }).count()).toBe(1);

  await refusedRefresh(app, tokens.refresh_token);
  expect((await oidc.tokenIntrospection(app.config, tokens.refresh_token ?? '')).active).toBe(false);
  // The access token still reaches everything else it was issued for, until it expires.
  expect(await fhirStatus(tokens.access_token, 'Observation')).toBe(200);
  expect(await fhirStatus(tokens.access_token, 'MedicationStatement')).toBe(200);
  const row = await liveAuthorization(app);
  expect(row.access).toBe('none');
  expect(row.scope.split(' ')).not.toContain('offline_access');
  expect(row.declined.split(' ')).toContain('offline_access');

  // Reload: the same sentence, one audit line; the history says it in words.
  await page.reload();
  expect(await page.getByRole('status').innerText()).toBe('You turned off offline access for Scale Sync.');
  expect(await auditKinds(app, 'authorization.trimmed')).toBe(1);
  await page.goto(`${server.issuer}/records/${row.record_id}/history`);
  expect(await page.getByRole('main').innerText()).toContain('Sam Offline turned off offline access for Scale Sync');

  // The app asks again without prompt=consent: no page, and no refresh token (offline access stays off).
  const again = await startAuthorization(app, { scope: ALL });
  const next = await exchangeCode(app, again, await callbackAfter(page, () => page.goto(again.url.toString())));
  expect(next.refresh_token).toBeUndefined();
  expect(scopesOf(next)).not.toContain('offline_access');
  expect(await fhirStatus(next.access_token, 'Observation')).toBe(200);
});

test('turning off an optional rule: the access token carrying it stops, the next token lacks it and /fhir answers 403; offline access stays', async () => {
  const { app, browser, record, tokens, authorizationId } = await authorized('Pill Pal', 'Kim Rule');
  expect(await fhirStatus(tokens.access_token, 'MedicationStatement')).toBe(200);

  const answer = await turnOff(browser, authorizationId, MEDICINES);
  expect(answer.status).toBe(303);
  expect(answer.location).toBe(`${server.issuer}/apps?trimmed=${authorizationId}&rule=${encodeURIComponent(MEDICINES)}`);
  const apps = await browser.visit(answer.location ?? '');
  expect(textOf(apps.html)).toContain(`You turned off “${MEDICINES_WORDS}” for Pill Pal.`);
  expect(textOf(apps.html)).not.toContain(MEDICINES_WORDS + ' Turn off');

  // The old access token carried the rule: withdrawn at once.
  const withdrawn = await fetch(`${server.issuer}/fhir/Observation`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(withdrawn.status).toBe(401);
  expect(withdrawn.headers.get('www-authenticate')).toContain('error="invalid_token"');
  expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(false);
  // The refresh token still works (offline access was kept) and gives the narrower grant.
  const next = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
  expect(scopesOf(next)).not.toContain(MEDICINES);
  expect(scopesOf(next)).toEqual(expect.arrayContaining(['patient/Observation.rs', 'offline_access']));
  expect(await fhirStatus(next.access_token, 'Observation')).toBe(200);
  const refused = await fetch(`${server.issuer}/fhir/MedicationStatement`, { headers: { authorization: `Bearer ${next.access_token}` } });
  expect(refused.status).toBe(403);
  expect(refused.headers.get('www-authenticate')).toContain('insufficient_scope');
  // Asking for the rule by name at refresh gets no more than the grant holds.
  const named = await oidc.refreshTokenGrant(app.config, next.refresh_token ?? '', { scope: `openid ${MEDICINES} patient/Observation.rs` });
  expect(scopesOf(named)).not.toContain(MEDICINES);
  expect(await fhirStatus(named.access_token, 'MedicationStatement')).toBe(403);

  const row = await liveAuthorization(app);
  expect(row.access).toBe('offline');
  expect(row.scope.split(' ')).not.toContain(MEDICINES);
  const history = textOf((await browser.visit(`/records/${record}/history`)).html);
  expect(history).toContain(`Kim Rule turned off “${MEDICINES_WORDS}” for Pill Pal`);

  // Turning it off again (a resubmitted form) changes nothing and says the same.
  const twice = await turnOff(browser, authorizationId, MEDICINES);
  expect(twice.status).toBe(303);
  expect(await auditKinds(app, 'authorization.trimmed')).toBe(1);
  expect(await fhirStatus(named.access_token, 'Observation')).toBe(200);
});

test('a required rule has no switch, and a forged one is refused in words with nothing changed; others cannot trim', async () => {
  const { app, browser, tokens, authorizationId } = await authorized('Steady Steps', 'Lee Required');
  const apps = await browser.visit('/apps');
  const text = textOf(apps.html);
  expect(text).toContain(`${OBSERVATIONS_WORDS} — required by the app: remove access to stop it`);
  expect(apps.html).not.toContain(`aria-label="Turn off ${OBSERVATIONS_WORDS}`);
  expect(apps.html).toContain(`aria-label="Turn off ${MEDICINES_WORDS} for Steady Steps"`);
  expect(text).toContain('removing its access is the way to stop it');

  const forged = await turnOff(browser, authorizationId, 'patient/Observation.rs', apps);
  expect(forged.status).toBe(400);
  expect(textOf(forged.html)).toContain(
    "Steady Steps needs this to work at all, so it cannot be turned off on its own. To stop it, remove Steady Steps's access.",
  );
  const unknown = await turnOff(browser, authorizationId, 'patient/Condition.rs', apps);
  expect(unknown.status).toBe(400);
  expect(textOf(unknown.html)).toContain('Steady Steps has no such permission to turn off.');
  const identity = await turnOff(browser, authorizationId, 'openid', apps);
  expect(identity.status).toBe(400);
  const empty = await turnOff(browser, authorizationId, '', apps);
  expect(empty.status).toBe(400);
  expect(textOf(empty.html)).toContain('Choose what to turn off.');
  const notAnId = await turnOff(browser, 'not-an-id', MEDICINES, apps);
  expect(notAnId.status).toBe(404);

  // Someone else, signed in, cannot trim or see the confirmation page.
  const stranger = await signedUpPerson(server, 'Other Person');
  // Their own valid form token (from their /records page), so only whose authorization it is decides.
  const theirs = await stranger.browser.visit('/records');
  expect((await turnOff(stranger.browser, authorizationId, MEDICINES, theirs)).status).toBe(404);
  expect((await stranger.browser.visit(`/apps/${authorizationId}/remove`)).status).toBe(404);

  expect(await auditKinds(app, 'authorization.trimmed')).toBe(0);
  expect(await fhirStatus(tokens.access_token, 'MedicationStatement')).toBe(200);
  expect((await liveAuthorization(app)).scope.split(' ')).toContain(MEDICINES);

  // An app whose offline access is required shows no switch for it.
  const keeper = await registerTestApp(server, {
    ...tracker('Always On'),
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
      { scope: 'offline_access', required: true, reason: 'Send results after each visit' },
    ],
  });
  const authorization = await startAuthorization(keeper, { scope: 'openid patient/Observation.rs offline_access' });
  const consent = await browser.visit(authorization.url.toString());
  await exchangeCode(keeper, authorization, (await browser.submit(consent, { decision: 'allow' }, '/consent')).location ?? '');
  const list = await browser.visit('/apps');
  expect(list.html).not.toContain('aria-label="Turn off offline access for Always On"');
  expect(textOf(list.html)).toContain(`${OFFLINE_WORDS} — required by the app: remove access to stop it`);
});

test('racing trims and removals leave one consistent state', async () => {
  // Two different rules turned off at once: both apply, one audit line each, grant and authorization agree.
  const first = await authorized('Race Trims', 'Ada Race');
  const apps = await first.browser.visit('/apps');
  const [a, b] = await Promise.all([
    turnOff(first.browser, first.authorizationId, MEDICINES, apps),
    turnOff(first.browser, first.authorizationId, 'offline_access', apps),
  ]);
  expect([a.status, b.status]).toEqual([303, 303]);
  const row = await liveAuthorization(first.app);
  expect(row.scope.split(' ')).not.toEqual(expect.arrayContaining([MEDICINES]));
  expect(row.scope.split(' ')).not.toContain('offline_access');
  expect(row.access).toBe('none');
  const grant = await server.db.knex('oidc_models').where({ model: 'Grant', id: row.grant_id }).first();
  expect(grant.payload.openid.scope.split(' ')).not.toContain(MEDICINES);
  expect(grant.payload.openid.scope.split(' ')).not.toContain('offline_access');
  expect(grant.payload.rejected.openid.scope.split(' ')).toEqual(expect.arrayContaining([MEDICINES, 'offline_access']));
  expect(await auditKinds(first.app, 'authorization.trimmed')).toBe(2);
  await refusedRefresh(first.app, first.tokens.refresh_token);
  expect(await fhirStatus(first.tokens.access_token, 'Observation')).toBe(401);

  // The same rule five times at once: one change, one audit line.
  const second = await authorized('Race Same', 'Bo Race');
  const page = await second.browser.visit('/apps');
  const same = await Promise.all(Array.from({ length: 5 }, () => turnOff(second.browser, second.authorizationId, MEDICINES, page)));
  expect(same.map((answer) => answer.status)).toEqual([303, 303, 303, 303, 303]);
  expect(await auditKinds(second.app, 'authorization.trimmed')).toBe(1);

  // A trim racing removals: the authorization ends once, with nothing left behind; no 5xx.
  const third = await authorized('Race Remove', 'Cy Race');
  const list = await third.browser.visit('/apps');
  const confirm = await third.browser.visit(`/apps/${third.authorizationId}/remove`);
  expect(confirm.status).toBe(200);
  const answers = await Promise.all([
    third.browser.submit(confirm, {}, '/remove', { follow: false }),
    turnOff(third.browser, third.authorizationId, MEDICINES, list),
    third.browser.submit(confirm, {}, '/remove', { follow: false }),
  ]);
  expect(answers.every((answer) => answer.status < 500)).toBe(true);
  expect(answers[0]?.status).toBe(303);
  expect(answers[2]?.status).toBe(303);
  expect([303, 404]).toContain(answers[1]?.status);
  expect(await liveAuthorization(third.app)).toBeUndefined();
  expect(await auditKinds(third.app, 'authorization.removed')).toBe(1);
  const left = await server.db
    .knex('oidc_models')
    .whereRaw(`payload->>'clientId' = ?`, [third.app.clientId])
    .whereIn('model', ['Grant', 'AccessToken', 'RefreshToken']);
  expect(left).toEqual([]);
  await refusedRefresh(third.app, third.tokens.refresh_token);
  // The confirmation page of what already ended goes to the list, which says so.
  const after = await third.browser.visit(`/apps/${third.authorizationId}/remove`);
  expect(after.url).toBe(`${server.issuer}/apps?removed=${third.authorizationId}`);
  expect(textOf(after.html)).toContain("Race Remove can no longer reach Cy Race's record.");
});
