/**
 * The person's record pages in Chromium, as a person in New York sees them: the browser tells its
 * time zone once (kept per person); a record item opens from the record page in words with where
 * it came from; another person's item is as unknown as a made-up one (404); the history folds five
 * identical searches into one line with a count and a time range while the grant and the removal
 * stay lines of their own, with times and days in New York's time; the navigation counts unread
 * messages until they are read; home lists what arrived since the previous visit and is empty on
 * the next; Connect a clinic sits beside Pick up a package. Items a package brought name the app
 * that dropped them off.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { callbackAfter, launchChromium, type Chromium } from '../support/chromium';
import { directToken, postMessage } from '../support/direct';
import { ANSWER, clinicApp } from '../support/dopu';
import { createAccount } from '../support/forms';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';

const ZONE = 'America/New_York';

let server: TestServer;
let chromium: Chromium;
let clinic: TestApp;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
  clinic = await registerTestApp(server, {
    client_name: 'Demo Clinic',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [{ scope: 'patient/Observation.cruds', required: true, reason: 'Keep your results' }],
    capabilities: ['direct'],
  });
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

/** A fresh browser whose clock runs in `timezoneId`, with the app's callback answered locally. */
async function personIn(timezoneId: string): Promise<{ context: BrowserContext; page: Page }> {
  return chromium.newPerson({ timeoutMs: 30_000, timezoneId });
}

/** Registers on /register, landing on home, and waits until the browser has told its time zone. */
async function register(page: Page, person: ReturnType<typeof newPerson>): Promise<void> {
  const told = page.waitForResponse((res) => res.url().endsWith('/account/time-zone') && res.request().method() === 'POST');
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.getByRole('heading', { name: `Hello, ${person.name}` }).waitFor();
  expect((await told).status()).toBe(204);
}

/** The person allows Demo Clinic in the browser; the app's access token. */
async function allowClinic(page: Page): Promise<string> {
  const authorization = await startAuthorization(clinic, { scope: 'openid patient/Observation.cruds' });
  await page.goto(authorization.url.toString());
  const tokens = await exchangeCode(clinic, authorization, await callbackAfter(page, () => page.getByRole('button', { name: 'Allow' }).click()));
  return tokens.access_token;
}

const fhir = (token: string, path: string, body?: unknown) =>
  fetch(`${server.issuer}/fhir/${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/fhir+json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });

const WEIGHT = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  // 02:30 UTC on 11 March is the evening of 10 March in New York.
  effectiveDateTime: '2026-03-11T02:30:00Z',
  issued: '2026-03-11T03:00:00Z',
  valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
};

const text = async (page: Page, selector = 'main') => (await page.locator(selector).innerText()).replace(/\s+/g, ' ');
/** The Inbox link's words when it carries a count, else nothing. */
const navCount = async (page: Page) => {
  const inbox = 'nav[aria-label="Your vault"] a[href="/inbox"]';
  return (await page.locator(`${inbox} .count`).count()) ? text(page, inbox) : '';
};

test('a person in New York: items in words with their source, folded history in local time, unread counts and what is new', async () => {
  const person = newPerson('Jordan Rivera');
  const { page } = await personIn(ZONE);
  await register(page, person);
  const recordId = await ownRecordOf(server, person.email);
  expect((await server.db.knex('people').where({ email: person.email }).first('time_zone')).time_zone).toBe(ZONE);

  // Connect a clinic sits beside Pick up a package, in the navigation and on home.
  const nav = page.locator('nav[aria-label="Your vault"]');
  await expect(nav.getByRole('link', { name: 'Connect a clinic' }).getAttribute('href')).resolves.toBe('/connect');
  await expect(page.locator('main').getByRole('link', { name: 'Connect a clinic' }).getAttribute('href')).resolves.toBe('/connect');
  await expect(page.locator('main').getByRole('link', { name: 'Pick up a package' }).count()).resolves.toBe(1);

  // The clinic connects, writes a weight, searches five times and sends a message.
  const token = await allowClinic(page);
  const created = await fhir(token, 'Observation', WEIGHT);
  expect(created.status).toBe(201);
  const itemId = String(((await created.json()) as { id: string }).id);
  for (let n = 0; n < 5; n += 1) expect((await fhir(token, 'Observation?code=29463-7')).status).toBe(200);
  await page.goto(`${server.issuer}/inbox`);
  const address = /Direct address: <strong>([^<]+)<\/strong>/.exec(await page.content())?.[1] ?? '';
  const sent = await postMessage(server, await directToken(clinic), { to: address, subject: 'Your results', text: 'All fine.', attachments: [] });
  expect(sent.status).toBe(201);

  // Unread: the count beside Inbox, on any page.
  await page.goto(`${server.issuer}/records`);
  expect(await navCount(page)).toBe('Inbox 1 unread');

  // Home: what arrived since the previous visit, by kind.
  await page.goto(`${server.issuer}/`);
  const news = await text(page, 'section.news');
  expect(news).toContain('New since your last visit');
  expect(news).toContain("Demo Clinic sent you 'Your results'");
  expect(news).toMatch(/Added to your records.*Demo Clinic added 1 observation/);
  expect(news).toMatch(/New connections.*Jordan Rivera allowed Demo Clinic to reach this record/);
  // The next visit has nothing new.
  await page.goto(`${server.issuer}/`);
  expect(await text(page, 'section.news')).toContain('Nothing new since your last visit.');

  // Reading the message drops the count.
  await page.goto(`${server.issuer}/inbox`);
  await page.getByRole('link', { name: 'Your results' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your results' }).waitFor();
  await page.goto(`${server.issuer}/records`);
  expect(await navCount(page)).toBe('');

  // The record page links the item; its page says it in words, in New York's time, with its source.
  await page.goto(`${server.issuer}/records/${recordId}`);
  await page.getByRole('link', { name: 'Body weight — 72.5 kg' }).click();
  await page.waitForURL(`${server.issuer}/records/${recordId}/items/Observation/${itemId}`);
  const item = await text(page);
  expect(item).toContain('Body weight — 72.5 kg');
  expect(item).toContain('Code 29463-7 (http://loinc.org)');
  expect(item).toContain('Value 72.5 kg');
  expect(item).toContain('Status final');
  expect(item).toMatch(/Taken or measured 10 March 2026,? (at )?22:30/);
  expect(item).toMatch(/Issued 10 March 2026,? (at )?23:00/);
  expect(item).toContain('Versions 1 version (never changed)');
  expect(item).toMatch(/Where it came from Demo Clinic added 1 observation/);
  expect(item).toContain(`Times are in ${ZONE}`);

  // A made-up item and an unknown type are 404, like another person's item below.
  expect((await page.goto(`${server.issuer}/records/${recordId}/items/Observation/no-such-item`))?.status()).toBe(404);
  expect((await page.goto(`${server.issuer}/records/${recordId}/items/Spaceship/${itemId}`))?.status()).toBe(404);

  // The person removes the clinic's access.
  await page.goto(`${server.issuer}/apps`);
  await page.getByRole('button', { name: 'Remove access' }).click();
  await page.waitForURL(/\/apps\/[^/]+\/remove/);
  await page.getByRole('button', { name: 'Remove access' }).click();
  await page.waitForURL(`${server.issuer}/apps?removed=*`);

  // History: five searches as one line with a count and a range; the grant and the removal their own lines; New York's day and times.
  await page.goto(`${server.issuer}/records/${recordId}/history`);
  const days = await page.locator('section.history-day h2').allInnerTexts();
  const today = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: ZONE }).format(new Date());
  expect(days[0]).toBe(today);
  const lines = (await page.locator('ol.history > li').allInnerTexts()).map((line) => line.replace(/\s+/g, ' ').trim());
  const searches = lines.filter((line) => line.includes('searched'));
  expect(searches).toHaveLength(1);
  expect(searches[0]).toMatch(/^\d\d:\d\d(–\d\d:\d\d)? — Demo Clinic searched observations 5 times$/);
  expect(lines.filter((line) => line.includes('allowed Demo Clinic to reach this record'))).toHaveLength(1);
  expect(lines.filter((line) => line.includes("removed Demo Clinic's access"))).toHaveLength(1);
  expect(lines.some((line) => line.includes('record.opened') || /An app:/.test(line))).toBe(false);
  // Times are New York's: the newest line's time is the removal's, read back from its datetime.
  const newest = page.locator('ol.history > li time').first();
  const at = new Date(String(await newest.getAttribute('datetime')));
  const local = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: ZONE }).format(at);
  expect(await newest.innerText()).toBe(local);

  // Another person cannot open the item, whether by the record's id or their own: 404 both ways.
  const other = newPerson('Casey Other');
  const { page: otherPage } = await personIn('UTC');
  await register(otherPage, other);
  const otherRecord = await ownRecordOf(server, other.email);
  expect((await otherPage.goto(`${server.issuer}/records/${recordId}/items/Observation/${itemId}`))?.status()).toBe(404);
  expect((await otherPage.goto(`${server.issuer}/records/${otherRecord}/items/Observation/${itemId}`))?.status()).toBe(404);
  expect(await text(otherPage)).not.toContain('72.5');
}, 180_000);

test('a time zone the runtime does not know is refused in words and not kept; until one is known, times are UTC', async () => {
  const person = newPerson('Uma Utc');
  const { context, page } = await personIn('UTC');
  // The script is blocked, so the zone stays unknown.
  await context.route('**/static/time-zone.js', (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: '' }));
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.getByRole('heading', { name: `Hello, ${person.name}` }).waitFor();
  const token = String(await page.locator('meta[name="cv-time-zone"]').getAttribute('content'));
  const answer = await page.evaluate(
    async ([csrf]) => {
      const body = new URLSearchParams({ time_zone: 'Mars/Olympus_Mons', _csrf: csrf ?? '' });
      const res = await fetch('/account/time-zone', { method: 'POST', body });
      return { status: res.status, text: await res.text() };
    },
    [token],
  );
  expect(answer.status).toBe(400);
  expect(answer.text).toContain('That is not a time zone.');
  expect((await server.db.knex('people').where({ email: person.email }).first('time_zone')).time_zone).toBeNull();
  const recordId = await ownRecordOf(server, person.email);
  await page.goto(`${server.issuer}/records/${recordId}/history`);
  expect(await text(page)).toContain('Times are in UTC');
}, 120_000);

test('items from a picked-up package say which app dropped them off; a document shows its attachment', async () => {
  const harbour = await clinicApp(server, 'Harbour Clinic');
  const dropped = await harbour.dropOff();
  const person = newPerson('Pat Pickup');
  const { page } = await personIn('UTC');
  await register(page, person);
  const recordId = await ownRecordOf(server, person.email);

  await page.goto(dropped.pickup_url);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Answer').fill(ANSWER);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: /^Picked up into/ }).waitFor();

  await page.goto(`${server.issuer}/records/${recordId}`);
  await page.getByRole('link', { name: /Discharge letter/ }).click();
  await page.getByRole('heading', { level: 2, name: 'Where it came from' }).waitFor();
  const item = await text(page);
  expect(item).toMatch(/Where it came from Harbour Clinic dropped off 3 items — you picked them up/);
  expect(item).toContain('discharge-letter.pdf (application/pdf)');
  expect(item).toContain('Versions 1 version (never changed)');

  // The weight from the same package names the same source.
  await page.goto(`${server.issuer}/records/${recordId}`);
  await page.getByRole('link', { name: 'Body weight — 72 kg' }).click();
  await page.getByRole('heading', { level: 2, name: 'Where it came from' }).waitFor();
  expect(await text(page)).toMatch(/Where it came from Harbour Clinic dropped off 3 items/);
}, 120_000);
