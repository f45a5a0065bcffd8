/**
 * **Close account**, with openid-client playing the apps, a Direct clinic writing to the record,
 * and Chromium for the pages: a wrong password is refused in words and locks the form after as many
 * as sign-in allows, closing nothing; the right one ends it all in one go — the app's access token
 * is refused at /fhir (401) and its refresh token with invalid_grant, the browser is signed out and
 * the password signs in nowhere, the person's own record is gone from the database with its FHIR
 * resources, versions, audit events, Direct messages, attachments and address — while a record
 * someone else also looks after stays with them, data and all; one audit line without the person's
 * name remains; and the email registers again as a new person. The pages pass axe-core at 1280 and
 * 390 px and are driven by labels and the keyboard, **Download my record** offered first.
 */
import * as oidc from 'openid-client';
import { authorizedApp, weight } from '../support/authorized';
import { pageProblems, tabTo } from '../support/axe';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { launchChromium, type Chromium } from '../support/chromium';
import { addressOnInbox, attachment, directToken, PDF, postMessage, registerClinic } from '../support/direct';
import { registerInChromium } from '../support/forms';
import { newPerson } from '../support/app';
import { signedUpPerson } from '../support/people';
import { recordIdNamed, startTestServer, type TestServer } from '../support/server';
import { createAccountThrough } from '../support/forms';

let server: TestServer;
let chromium: Chromium;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer({ SIGNIN_FAILURES_PER_ACCOUNT: '3' }), launchChromium()]);
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

function alertOf(page: PageResponse): string {
  return textOf(/<div class="alert" role="alert">([\s\S]*?)<\/div>/.exec(page.html)?.[1] ?? '');
}

async function signIn(email: string, password: string): Promise<PageResponse> {
  const browser = new Browser(server.issuer);
  return browser.submit(await browser.visit('/login'), { email, password });
}

/** How many rows of `table` match `where` (as an operator would count them). */
async function count(table: string, where: Record<string, unknown>): Promise<number> {
  const [row] = await server.db.knex(table).where(where).count<{ count: string }[]>('* as count');
  return Number(row?.count ?? 0);
}

/**
 * Makes `personId` a custodian of `recordId` as well, as sharing with **Full** access does (the
 * record's other custodian looks after it too).
 */
async function addCustodian(personId: string, recordId: string): Promise<void> {
  await server.db.knex('custodianships').insert({ person_id: personId, record_id: recordId, relationship: 'child' });
}

test('a wrong password is refused and limited, and closes nothing', async () => {
  const { person, browser } = await signedUpPerson(server, 'Wendy Wrong');
  const close = await browser.visit('/account/close');
  expect(close.status).toBe(200);
  expect(close.headers.get('cache-control')).toBe('no-store');

  const missing = await browser.submit(close, {}, '/account/close');
  expect(missing.status).toBe(400);
  expect(alertOf(missing)).toBe('Enter your password to close your account.');
  // Without the form's CSRF token nothing happens.
  expect((await browser.visit('/account/close', { form: { password: person.password } })).status).toBe(403);
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const wrong = await browser.submit(await browser.visit('/account/close'), { password: `guess ${attempt}` }, '/account/close');
    expect(wrong.status).toBe(401);
    expect(alertOf(wrong)).toBe('That is not your password. Your account is not closed.');
  }
  const locked = await browser.submit(await browser.visit('/account/close'), { password: person.password }, '/account/close');
  expect(locked.status).toBe(429);
  expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(alertOf(locked)).toContain('Too many wrong passwords');
  // Still there, still signed in.
  expect(await count('people', { email: person.email })).toBe(1);
  expect((await browser.request('/account')).status).toBe(200);
  // Signed out, the page leads to sign-in.
  expect((await new Browser(server.issuer).request('/account/close')).location).toMatch(/\/login/);
});

test('closing ends every token and sign-in, erases the own record, keeps a shared one, and frees the email', async () => {
  const anna = await authorizedApp(server, 'Anna Closer');
  const ownRecord = anna.record;
  const fhir = (path: string, init: RequestInit = {}) =>
    fetch(`${server.issuer}/fhir${path}`, {
      ...init,
      headers: { authorization: `Bearer ${anna.accessToken}`, 'content-type': 'application/fhir+json', ...(init.headers ?? {}) },
    });
  const created = await fhir('/Observation', { method: 'POST', body: JSON.stringify(weight(71.5)) });
  expect(created.status).toBe(201);

  // A clinic's Direct message with an attachment, into Anna's record.
  const clinic = await registerClinic(server, 'Closing Clinic');
  const sent = await postMessage(server, await directToken(clinic), {
    to: await addressOnInbox(anna.browser),
    subject: 'Lab results',
    text: 'Attached.',
    attachments: [attachment('results.pdf', 'application/pdf', PDF)],
  });
  expect(sent.status).toBe(201);
  expect(await count('direct_messages', { record_id: ownRecord })).toBe(1);

  // A child's record that Ben looks after too.
  const records = await anna.browser.visit('/records');
  await anna.browser.submit(records, { name: 'Cleo Shared', birth_date: '2019-04-02', relationship: 'child' }, '/records');
  const shared = (await recordIdNamed(server, 'Cleo Shared')) ?? '';
  const ben = await signedUpPerson(server, 'Ben Stays');
  const benId = (await server.db.knex('people').where({ email: ben.person.email }).first('id')).id as string;
  await addCustodian(benId, shared);
  const annaId = (await server.db.knex('people').where({ email: anna.person.email }).first('id')).id as string;

  // The confirmation page: each record, what becomes of it, and its download first.
  const close = await anna.browser.visit('/account/close');
  const closeText = textOf(close.html);
  expect(closeText).toMatch(/Anna Closer ?: will be erased\./);
  expect(closeText).toMatch(/Cleo Shared ?: stays with the others who look after it/);
  expect(close.html).toContain(`href="/records/${ownRecord}/download"`);
  expect((await anna.browser.request(`/records/${ownRecord}/download`)).status).toBe(200);

  const done = await anna.browser.submit(close, { password: anna.person.password }, '/account/close', { follow: false });
  expect(done.status).toBe(303);
  expect(done.location).toMatch(/\/account\/closed$/);
  const closed = await anna.browser.visit(done.location ?? '');
  expect(closed.headers.get('cache-control')).toBe('no-store');
  expect(textOf(closed.html)).toContain('Your account is closed');

  // The app: its access token is refused, its refresh token is gone.
  const read = await fhir('/Observation');
  expect(read.status).toBe(401);
  await expect(oidc.refreshTokenGrant(anna.app.config, anna.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  // The person: signed out here, and the password signs in nowhere.
  expect((await anna.browser.request('/account')).location).toMatch(/\/login/);
  expect((await signIn(anna.person.email, anna.person.password)).status).toBe(401);

  // The own record is gone from the database, with everything in it.
  expect(await count('records', { id: ownRecord })).toBe(0);
  expect(await count('resources', { record_id: ownRecord })).toBe(0);
  expect(await count('resource_versions', { record_id: ownRecord })).toBe(0);
  expect(await count('direct_messages', { record_id: ownRecord })).toBe(0);
  expect(await count('direct_addresses', { record_id: ownRecord })).toBe(0);
  expect(await count('direct_attachments', {})).toBe(0);
  expect(await count('direct_attachment_parts', {})).toBe(0);
  expect(await count('audit_events', { record_id: ownRecord })).toBe(0);
  expect(await count('authorizations', { person_id: annaId })).toBe(0);
  expect(await count('people', { id: annaId })).toBe(0);
  const left = await server.db.knex('oidc_models').whereRaw("payload->>'accountId' = ?", [annaId]).count<{ count: string }[]>('* as count');
  expect(Number(left[0]?.count)).toBe(0);

  // One audit line says an account closed, without the person's name or email.
  const lines = await server.db.knex('audit_events').where({ subject: `person:${annaId}`, kind: 'account.closed' });
  expect(lines).toHaveLength(1);
  expect(JSON.stringify(lines[0])).not.toMatch(/Anna|Closer|example\.org/);
  expect(lines[0]?.details).toEqual({ records_erased: 1, records_kept: 1 });

  // The shared record stays with Ben, its Patient with it; Anna no longer looks after it.
  expect(await server.db.knex('custodianships').where({ record_id: shared }).select('person_id')).toEqual([{ person_id: benId }]);
  expect(await count('resources', { record_id: shared, type: 'Patient' })).toBe(1);
  const benRecords = textOf((await ben.browser.visit('/records')).html);
  expect(benRecords).toContain('Cleo Shared');
  const history = textOf((await ben.browser.visit(`/records/${shared}/history`)).html);
  expect(history).toContain('Anna Closer closed their account and no longer looks after this record');

  // The audit log stays append-only for every other record: naming one record lets no other's events go.
  await expect(
    server.db.knex.transaction(async (trx) => {
      await trx.raw(`select set_config('carevault.erasing_record', ?, true)`, [ownRecord]);
      await trx('audit_events').where({ record_id: shared }).delete();
    }),
  ).rejects.toThrow(/append-only/);
  expect(await count('audit_events', { record_id: shared })).toBeGreaterThan(0);

  // The email registers again, as a new person with a record of their own.
  const browser = new Browser(server.issuer);
  const registered = await createAccountThrough(browser, await browser.visit('/register'), {
    name: 'Anna Anew',
    email: anna.person.email,
    password: 'another long password',
  });
  expect(textOf(registered.html)).toContain('Hello, Anna Anew');
  const fresh = (await server.db.knex('people').where({ email: anna.person.email }).first('id')).id as string;
  expect(fresh).not.toBe(annaId);
  expect(textOf((await browser.visit('/records')).html)).not.toContain('Cleo Shared');
});

test('two people closing at once who share a record: it is erased, never left without anyone', async () => {
  const ines = await signedUpPerson(server, 'Ines Racer');
  const jon = await signedUpPerson(server, 'Jon Racer');
  await ines.browser.submit(await ines.browser.visit('/records'), { name: 'Lou Between', birth_date: '2020-01-02', relationship: 'child' }, '/records');
  const shared = (await recordIdNamed(server, 'Lou Between')) ?? '';
  const jonId = (await server.db.knex('people').where({ email: jon.person.email }).first('id')).id as string;
  await addCustodian(jonId, shared);

  const [inesPage, jonPage] = await Promise.all([ines.browser.visit('/account/close'), jon.browser.visit('/account/close')]);
  const answers = await Promise.all([
    ines.browser.submit(inesPage, { password: ines.person.password }, '/account/close', { follow: false }),
    jon.browser.submit(jonPage, { password: jon.person.password }, '/account/close', { follow: false }),
  ]);
  expect(answers.map((answer) => answer.status)).toEqual([303, 303]);
  for (const recordId of [ines.record, jon.record, shared]) {
    expect(await count('records', { id: recordId })).toBe(0);
    expect(await count('resources', { record_id: recordId })).toBe(0);
  }
  expect(await count('custodianships', { record_id: shared })).toBe(0);
});

test('the same close sent twice at once closes the account once, with one audit line', async () => {
  const { person, browser, record } = await signedUpPerson(server, 'Dora Double');
  const personId = (await server.db.knex('people').where({ email: person.email }).first('id')).id as string;
  const page = await browser.visit('/account/close');
  const answers = await Promise.all(Array.from({ length: 3 }, () => browser.submit(page, { password: person.password }, '/account/close', { follow: false })));
  // Each answer says it is closed; those that came second find it closed already.
  expect(answers.map((answer) => `${answer.status} ${answer.location ?? ''}`)).toEqual(Array(3).fill(expect.stringMatching(/^303 .*\/account\/closed$/)));
  expect(await server.db.knex('audit_events').where({ subject: `person:${personId}`, kind: 'account.closed' })).toHaveLength(1);
  expect(await count('records', { id: record })).toBe(0);
});

test('the close pages pass axe-core, fit 390 px, and work with the keyboard', async () => {
  const problems: string[] = [];
  const person = newPerson('Kim Keyboard');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await registerInChromium(page, server.issuer, person);
  await page.goto(`${server.issuer}/account`);
  await page.getByRole('heading', { name: 'Close account' }).waitFor();
  expect(await tabTo(page, 'link Close account', 80)).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Close your account' }).waitFor();
  await page.getByRole('link', { name: 'Download my record' }).first().waitFor();
  problems.push(...(await pageProblems(page, 'close')));

  // A wrong password, by keyboard: refused in words.
  await page.getByLabel('Password').fill('not my password');
  expect(await tabTo(page, 'button Close my account')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('alert').getByText('That is not your password. Your account is not closed.').waitFor();
  problems.push(...(await pageProblems(page, 'close refused')));

  await page.getByLabel('Password').fill(person.password);
  expect(await tabTo(page, 'button Close my account')).toBe(true);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Your account is closed' }).waitFor();
  problems.push(...(await pageProblems(page, 'closed')));
  await page.goto(`${server.issuer}/account`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();

  expect(problems).toEqual([]);
});
