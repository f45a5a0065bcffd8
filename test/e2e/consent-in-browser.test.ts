/**
 * The consent page in a real browser (headless Chromium): a person registers from an app's
 * authorization request, approves some of the app's optional rules and declines others, chooses
 * which record (their own or a child's) the app reaches, denies, and removes the app's access on
 * Connected apps. The app is played by openid-client; the pages are driven by visible labels and
 * roles only, as a person would use them.
 */
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, type Authorization, type TestApp } from '../support/app';
import { backAtApp as sentBackTo, launchChromium, type Chromium } from '../support/chromium';
import { startTestServer, type TestServer, recordIdNamed } from '../support/server';
import { addChild, createAccount } from '../support/forms';

const APP_NAME = 'Family Health Diary';
const OBSERVATIONS = 'patient/Observation.rs';
const MEDICINES = 'patient/MedicationStatement.cruds';
const ALLERGIES = 'patient/AllergyIntolerance.rs';

const RULES = [
  { scope: OBSERVATIONS, required: true, reason: 'Chart your weight and blood pressure', words: 'Read and search your observations — vital signs and lab results' },
  { scope: MEDICINES, required: false, reason: 'Keep your medicines list up to date', words: 'Add to, read, change, delete and search your medicines list' },
  { scope: ALLERGIES, required: false, reason: 'Warn you about foods you are allergic to', words: 'Read and search your allergies and intolerances' },
  { scope: 'offline_access', required: false, reason: 'Sync your scale while you are away', words: 'Keep access while you are away, until you remove it' },
] as const;

const DIARY = {
  client_name: APP_NAME,
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  rules: RULES.map(({ scope, required, reason }) => ({ scope, required, reason })),
};

/** Every identity scope and every rule the app registered. */
const SCOPE = ['openid', 'profile', 'email', 'fhirUser', 'launch/patient', ...RULES.map((rule) => rule.scope)].join(' ');

type Person = ReturnType<typeof newPerson>;

let server: TestServer;
let chromium: Chromium;
let app: TestApp;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
  app = await registerTestApp(server, DIARY);
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

/** From the app's authorization URL: "Create account", the registration form, then the consent page. */
async function registerFromApp(page: Page, authorization: Authorization, person: Person): Promise<void> {
  await page.goto(authorization.url.toString());
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.getByRole('link', { name: 'Create account' }).click();
  await createAccount(page, person);
  await page.getByRole('button', { name: 'Allow' }).waitFor();
}

/** The URL the browser was sent back to, on the app's callback. */
async function backAtApp(page: Page): Promise<URL> {
  return new URL(await sentBackTo(page));
}

/** The person's own record (the one created with their account). */
async function ownRecordId(person: Person): Promise<string> {
  const row = (await server.db
    .knex('custodianships as c')
    .join('people as p', 'p.id', 'c.person_id')
    .whereRaw('lower(p.email) = ?', [person.email.toLowerCase()])
    .andWhere('c.relationship', 'self')
    .first('c.record_id')) as { record_id: string } | undefined;
  if (!row) throw new Error(`no own record for ${person.email}`);
  return row.record_id;
}

test('a person registers from the app, declines one optional rule, and the token has exactly what they allowed', async () => {
  const person = newPerson('Robin Fields');
  const { page } = await chromium.newPerson();
  const authorization = await startAuthorization(app, { scope: SCOPE });

  await registerFromApp(page, authorization, person);

  // The consent page names the app and says why it wants each rule.
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(`Connect ${APP_NAME} to your health record?`);
  for (const rule of RULES) {
    await expect(page.getByText(`Why: ${rule.reason}`, { exact: true }).isVisible()).resolves.toBe(true);
  }

  // Required rules are checked and fixed; each optional rule has its own box, ticked to start with.
  const boxes = page.getByRole('checkbox');
  expect(await boxes.count()).toBe(RULES.length);
  for (const rule of RULES) {
    const box = page.getByRole('checkbox', { name: rule.words });
    expect(await box.count()).toBe(1);
    expect(await box.isChecked()).toBe(true);
    if (rule.required) {
      expect(await box.isDisabled()).toBe(true);
    } else {
      expect(await box.isEnabled()).toBe(true);
      expect(await box.getAttribute('value')).toBe(rule.scope);
    }
  }
  // One record: nothing to choose.
  expect(await page.getByRole('radio').count()).toBe(0);

  await page.screenshot({ path: '/tmp/consent.png', fullPage: true });

  const medicines = page.getByRole('checkbox', { name: 'Add to, read, change, delete and search your medicines list' });
  await medicines.uncheck();
  expect(await medicines.isChecked()).toBe(false);
  await page.getByRole('button', { name: 'Allow' }).click();

  const callback = await backAtApp(page);
  expect(callback.origin + callback.pathname).toBe(CALLBACK);
  expect(callback.searchParams.get('code')).toEqual(expect.any(String));
  expect(callback.searchParams.get('state')).toBe(authorization.state);
  expect(callback.searchParams.get('error')).toBeNull();

  const tokens = await exchangeCode(app, authorization, callback.toString());
  const scope = (tokens.scope ?? '').split(' ');
  expect(scope).not.toContain(MEDICINES);
  expect(scope).toEqual(expect.arrayContaining([OBSERVATIONS, ALLERGIES, 'offline_access', 'openid']));
  expect(tokens.refresh_token).toEqual(expect.any(String));
  const ownId = await ownRecordId(person);
  expect(tokens.patient).toBe(ownId);
  expect(String(tokens.claims()?.fhirUser)).toMatch(new RegExp(`/fhir/Patient/${ownId}$`));
});

test("a parent adds their child's record and authorizes the app for the child's record", async () => {
  const person = newPerson('Jordan Avery');
  const childName = 'Mia Avery';
  const { page } = await chromium.newPerson();

  // Register on carevault itself, then add the child on Records.
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.waitForURL(`${server.issuer}/`);
  await addChild(page, server.issuer, childName, '2019-04-23');
  const childRow = page.getByRole('row').filter({ has: page.getByRole('link', { name: childName, exact: true }) });
  await childRow.waitFor();
  expect(await childRow.textContent()).toContain('My child');
  const childId = (await recordIdNamed(server, childName)) ?? '';
  expect(childId).toMatch(/^[0-9a-f-]{36}$/);

  // Already signed in: the app's request goes straight to consent, which asks which record.
  const authorization = await startAuthorization(app, { scope: SCOPE });
  await page.goto(authorization.url.toString());
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await page.getByRole('radio').count()).toBe(2);
  const own = page.getByRole('radio', { name: person.name, exact: true });
  const childRadio = page.getByRole('radio', { name: childName, exact: true });
  expect(await own.isChecked()).toBe(true);
  expect(await childRadio.isChecked()).toBe(false);
  await childRadio.check();
  expect(await own.isChecked()).toBe(false);
  await page.getByRole('button', { name: 'Allow' }).click();

  const callback = await backAtApp(page);
  expect(callback.searchParams.get('state')).toBe(authorization.state);
  const tokens = await exchangeCode(app, authorization, callback.toString());
  expect(tokens.patient).toBe(childId);
  expect(tokens.patient).not.toBe(await ownRecordId(person));
  expect(String(tokens.claims()?.fhirUser)).toMatch(new RegExp(`/fhir/Patient/${childId}$`));
  expect((tokens.scope ?? '').split(' ')).toEqual(expect.arrayContaining(RULES.map((rule) => rule.scope)));
});

test('a person who clicks Deny is sent back to the app with access_denied and the original state', async () => {
  const person = newPerson('Casey Denier');
  const { page } = await chromium.newPerson();
  const authorization = await startAuthorization(app, { scope: SCOPE });

  await registerFromApp(page, authorization, person);
  await page.getByRole('button', { name: 'Deny' }).click();

  const callback = await backAtApp(page);
  expect(callback.origin + callback.pathname).toBe(CALLBACK);
  expect(callback.searchParams.get('error')).toBe('access_denied');
  expect(callback.searchParams.get('state')).toBe(authorization.state);
  expect(callback.searchParams.get('code')).toBeNull();

  // Nothing was authorized.
  await page.goto(`${server.issuer}/apps`);
  const record = page.getByRole('region', { name: person.name });
  await record.waitFor();
  expect(await record.getByRole('heading', { name: APP_NAME }).count()).toBe(0);
  expect(await record.getByText('No app can reach this record.').isVisible()).toBe(true);
});

test('Connected apps shows the authorization in words, and Remove access ends it and its tokens', async () => {
  const person = newPerson('Morgan Lee');
  const { page } = await chromium.newPerson();
  const authorization = await startAuthorization(app, { scope: SCOPE });

  await registerFromApp(page, authorization, person);
  await page.getByRole('button', { name: 'Allow' }).click();
  const tokens = await exchangeCode(app, authorization, (await backAtApp(page)).toString());
  const refreshToken = tokens.refresh_token ?? '';
  expect(refreshToken).not.toBe('');
  expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(true);

  await page.goto(`${server.issuer}/apps`);
  const record = page.getByRole('region', { name: person.name });
  const entry = record.locator('article').filter({ has: page.getByRole('heading', { name: APP_NAME }) });
  await entry.waitFor();
  // Each rule in words, offline access last; optional ones with their switch, required ones saying why they have none.
  const rules = (await entry.getByRole('listitem').allTextContents()).map((text) => text.replace(/\s+/g, ' ').trim());
  expect(rules).toEqual(RULES.map((rule) => `${rule.words} ${rule.required ? '— required by the app: remove access to stop it' : 'Turn off'}`));
  expect(await entry.getByText('Also while you are away (offline)').isVisible()).toBe(true);

  // Remove access asks first, then ends it.
  await entry.getByRole('button', { name: 'Remove access' }).click();
  await page.getByRole('heading', { level: 1, name: `Remove ${APP_NAME}'s access?` }).waitFor();
  await page.getByRole('button', { name: 'Remove access' }).click();
  await record.getByText('No app can reach this record.').waitFor();
  expect(await page.getByRole('status').textContent()).toBe(`${APP_NAME} can no longer reach ${person.name}'s record.`);
  expect(await page.getByRole('heading', { name: APP_NAME }).count()).toBe(0);

  await expect(oidc.refreshTokenGrant(app.config, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(false);
});
