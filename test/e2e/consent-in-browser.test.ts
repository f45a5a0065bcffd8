/**
 * The consent page in a real browser (headless Chromium): a person registers from an app's
 * authorization request, ticks some of the app's optional rules (they start unticked, also after
 * an earlier consent) and leaves others, chooses which record (their own or a child's, none chosen
 * for them) the app reaches and reads the rules in that record's name, denies, and removes the
 * app's access on Connected apps. Back and reload at every step, and an ending before an answer,
 * land on pages that say what is true. The app is played by openid-client; the pages are driven by
 * visible labels and roles only, as a person would use them.
 */
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, type Authorization, type TestApp } from '../support/app';
import { backAtApp, launchChromium, watchCallbacks, type Chromium } from '../support/chromium';
import { startTestServer, type TestServer, recordIdNamed } from '../support/server';
import { addChild, createAccount } from '../support/forms';

const APP_NAME = 'Family Health Diary';
const OBSERVATIONS = 'patient/Observation.rs';
const MEDICINES = 'patient/MedicationStatement.cruds';
const ALLERGIES = 'patient/AllergyIntolerance.rs';

const RULES = [
  {
    scope: OBSERVATIONS,
    required: true,
    reason: 'Chart your weight and blood pressure',
    words: 'Read and search your observations — vital signs and lab results',
  },
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

/** A rule's words for the record of `name` (the consent page names whose record a rule reaches). */
function wordsFor(rule: (typeof RULES)[number], name: string): string {
  return rule.words.replace('your ', `${name}'s `);
}

const OPTIONAL = RULES.filter((rule) => !rule.required);

/** Ticks every optional rule, as a person who allows everything does. */
async function tickAll(page: Page, name: string): Promise<void> {
  for (const rule of OPTIONAL) await page.getByRole('checkbox', { name: wordsFor(rule, name) }).check();
}

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
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await page.getByRole('link', { name: 'Create account' }).click();
  await createAccount(page, person);
  await page.getByRole('button', { name: 'Allow' }).waitFor();
}

/** A fresh browser for one person, its callbacks watched. */
async function openPage(): Promise<{ page: Page }> {
  const { page } = await chromium.newPerson();
  watchCallbacks(page);
  return { page };
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
  const { page } = await openPage();
  const authorization = await startAuthorization(app, { scope: SCOPE });

  await registerFromApp(page, authorization, person);

  // The consent page names the app and says why it wants each rule.
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(`Connect ${APP_NAME} to your health record?`);
  for (const rule of RULES) {
    await expect(page.getByText(`Why: ${rule.reason}`, { exact: true }).isVisible()).resolves.toBe(true);
  }

  // Required rules are checked and fixed; each optional rule has its own box, unticked to start
  // with (offline access too): the page asks, it does not assume. Each names whose record it is.
  const boxes = page.getByRole('checkbox');
  expect(await boxes.count()).toBe(RULES.length);
  for (const rule of RULES) {
    const box = page.getByRole('checkbox', { name: wordsFor(rule, person.name) });
    expect(await box.count()).toBe(1);
    expect(await box.isChecked()).toBe(rule.required);
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

  expect(await page.getByText('your observations').count()).toBe(0);
  await tickAll(page, person.name);
  const medicines = page.getByRole('checkbox', { name: wordsFor(RULES[1], person.name) });
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
  const { page } = await openPage();

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
  // Neither record is chosen for the person; the rules say "the chosen record's" until one is.
  expect(await own.isChecked()).toBe(false);
  expect(await childRadio.isChecked()).toBe(false);
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[0], 'the chosen record') }).count()).toBe(1);

  // Allow without a choice is refused in words, and the ticks made are kept.
  await page.getByRole('checkbox', { name: wordsFor(RULES[2], 'the chosen record') }).check();
  const refused = page.waitForResponse((response) => response.url().includes('/interaction/') && response.request().method() === 'GET');
  await page.getByRole('button', { name: 'Allow' }).click();
  expect((await refused).status()).toBe(400);
  await page.getByText('Choose which record the app may reach, then press Allow again.').waitFor();
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[2], 'the chosen record') }).isChecked()).toBe(true);
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[1], 'the chosen record') }).isChecked()).toBe(false);

  // Choosing a record words every rule in that person's name, as the choice changes.
  await own.check();
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[0], person.name) }).count()).toBe(1);
  await childRadio.check();
  expect(await own.isChecked()).toBe(false);
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[0], childName) }).count()).toBe(1);
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[0], person.name) }).count()).toBe(0);
  expect(await page.getByText(`Read and search ${childName}'s observations`).isVisible()).toBe(true);
  await tickAll(page, childName);
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
  const { page } = await openPage();
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
  const { page } = await openPage();
  const authorization = await startAuthorization(app, { scope: SCOPE });

  await registerFromApp(page, authorization, person);
  await tickAll(page, person.name);
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

test('optional rules start unticked again after an earlier consent; last time is offered, applied only when asked', async () => {
  const person = newPerson('Quinn Again');
  const { page } = await openPage();
  const first = await startAuthorization(app, { scope: SCOPE });
  await registerFromApp(page, first, person);
  // Last time: allergies and offline access ticked, medicines left unticked.
  await page.getByRole('checkbox', { name: wordsFor(RULES[2], person.name) }).check();
  await page.getByRole('checkbox', { name: wordsFor(RULES[3], person.name) }).check();
  await page.getByRole('button', { name: 'Allow' }).click();
  await backAtApp(page);

  const second = await startAuthorization(app, { scope: SCOPE, prompt: 'consent' });
  await page.goto(second.url.toString());
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  for (const rule of OPTIONAL) expect(await page.getByRole('checkbox', { name: wordsFor(rule, person.name) }).isChecked()).toBe(false);
  const lastTime = page.getByText(`Last time, for ${person.name}'s record, you allowed`);
  expect(await lastTime.textContent()).toContain(`did not allow add to, read, change, delete and search ${person.name}'s medicines list`);

  await page.getByRole('link', { name: `Use my choices from last time for ${person.name}` }).click();
  await page.getByText('Those choices are ticked below').waitFor();
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[1], person.name) }).isChecked()).toBe(false);
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[2], person.name) }).isChecked()).toBe(true);
  expect(await page.getByRole('checkbox', { name: wordsFor(RULES[3], person.name) }).isChecked()).toBe(true);
  await page.getByRole('button', { name: 'Allow' }).click();
  const tokens = await exchangeCode(app, second, (await backAtApp(page)).toString());
  expect((tokens.scope ?? '').split(' ')).toEqual(expect.arrayContaining([OBSERVATIONS, ALLERGIES, 'offline_access']));
  expect((tokens.scope ?? '').split(' ')).not.toContain(MEDICINES);
});

test('Back and reload at every step land on the step as it is; Back after Allow says the app was connected', async () => {
  const person = newPerson('Rey Backwards');
  const { page } = await openPage();
  const authorization = await startAuthorization(app, { scope: SCOPE });

  await page.goto(authorization.url.toString());
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await page.reload();
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await page.getByRole('link', { name: 'Create account' }).click();
  await page.getByRole('button', { name: 'Create account' }).waitFor();
  await page.reload();
  await page.getByRole('button', { name: 'Create account' }).waitFor();
  await createAccount(page, person);
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  const consentUrl = page.url();
  await page.reload();
  await page.getByRole('button', { name: 'Allow' }).waitFor();

  // Back to the registration step, which is over: it leads on to the consent the request is at.
  await page.goBack();
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(page.url()).toBe(consentUrl);
  expect(await page.getByText('took too long').count()).toBe(0);

  await tickAll(page, person.name);
  await page.getByRole('button', { name: 'Allow' }).click();
  const callback = await backAtApp(page);
  expect(callback.searchParams.get('code')).toEqual(expect.any(String));

  // Back after Allow: the consent page says what happened, and reloading it says the same.
  for (const step of ['back', 'reload'] as const) {
    await (step === 'back' ? page.goBack() : page.reload());
    await page.getByRole('heading', { name: `You connected ${APP_NAME}` }).waitFor();
    const text = await page.getByRole('main').textContent();
    expect(text).toContain(`${APP_NAME} can reach ${person.name}'s record`);
    expect(text).not.toContain('nothing was shared');
    expect(text).not.toContain('did not work');
  }
  await page.getByRole('link', { name: 'See Connected apps' }).click();
  await page.getByRole('region', { name: person.name }).getByRole('heading', { name: APP_NAME }).waitFor();
});

test('a request that ends before the answer offers Back to the app, which gets the error and its state', async () => {
  const person = newPerson('Sky Late');
  const { page } = await openPage();
  const authorization = await startAuthorization(app, { scope: SCOPE });
  await registerFromApp(page, authorization, person);

  // The consent waits past its time: oidc-provider has let the interaction go.
  await server.db.knex('oidc_models').where({ model: 'Interaction' }).delete();
  await tickAll(page, person.name);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByRole('heading', { name: `This request from ${APP_NAME} has ended` }).waitFor();
  expect(await page.getByRole('main').textContent()).toContain('Nothing was shared');
  await page.reload();
  const back = page.getByRole('link', { name: `Back to ${APP_NAME}` });
  await back.waitFor();

  await back.click();
  const callback = await backAtApp(page);
  expect(callback.origin + callback.pathname).toBe(CALLBACK);
  expect(callback.searchParams.get('error')).toBe('interaction_required');
  expect(callback.searchParams.get('state')).toBe(authorization.state);
  expect(callback.searchParams.get('iss')).toBe(server.issuer);
  expect(callback.searchParams.get('code')).toBeNull();
  // openid-client, as the app, reads it as the authorization server's error.
  await expect(exchangeCode(app, authorization, callback.toString())).rejects.toMatchObject({ error: 'interaction_required' });

  await page.goto(`${server.issuer}/apps`);
  await page.getByRole('region', { name: person.name }).getByText('No app can reach this record.').waitFor();
});

test("Deny on a new request, where an earlier access stands, is history's refused new request; the earlier access stays", async () => {
  const person = newPerson('Noor Refuser');
  const { page } = await openPage();
  const first = await startAuthorization(app, { scope: SCOPE });
  await registerFromApp(page, first, person);
  await page.getByRole('button', { name: 'Allow' }).click();
  const tokens = await exchangeCode(app, first, (await backAtApp(page)).toString());

  const again = await startAuthorization(app, { scope: SCOPE, prompt: 'consent' });
  await page.goto(again.url.toString());
  await page.getByRole('button', { name: 'Deny' }).click();
  expect((await backAtApp(page)).searchParams.get('error')).toBe('access_denied');

  const recordId = await ownRecordId(person);
  await page.goto(`${server.issuer}/records/${recordId}/history`);
  const main = page.getByRole('main');
  await main.getByText(`${person.name} refused a new request from ${APP_NAME}; the earlier access stays`).waitFor();
  expect(await main.textContent()).not.toContain(`${person.name} denied ${APP_NAME} access`);
  // It does: the first tokens still work and the app is still listed.
  expect((await oidc.tokenIntrospection(app.config, tokens.access_token)).active).toBe(true);
  await page.goto(`${server.issuer}/apps`);
  await page.getByRole('region', { name: person.name }).getByRole('heading', { name: APP_NAME }).waitFor();
});
