/**
 * Every page, checked by axe-core in Chromium: home, sign-in (and its refusal),
 * registration, consent, records, a record with charts, one of its items, its history, connected
 * apps and the confirmation of removing one, the pickup pages, the connect pages, the inbox and a
 * message, sign-out, and error pages — no serious or critical violation (WCAG 2.1 A/AA and axe's
 * best practices), and each page usable on a phone 390 px wide (no horizontal scrolling). A person
 * drives them by labels and roles only.
 */
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { axeViolations, focused, pageProblems } from '../support/axe';
import { callbackAfter, gotoSettled, launchChromium, type Chromium } from '../support/chromium';
import { sampleResources } from '../support/dopu';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';

const LOGO = 'https://app.example/logo.svg';
const LOGO_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 56 56"><rect width="56" height="56" rx="12" fill="#1d4ed8"/></svg>';

const CLINIC = {
  client_name: 'Riverside Clinic',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  logo_uri: LOGO,
  policy_uri: 'https://app.example/privacy',
  tos_uri: 'https://app.example/terms',
  rules: [
    { scope: 'patient/Observation.cruds', required: true, reason: 'Show your weights and add the ones we measure' },
    { scope: 'patient/Condition.rs', required: false, reason: 'Know your conditions before your visit' },
    { scope: 'offline_access', required: false, reason: 'Send you results while you are away' },
  ],
  capabilities: ['dopu', 'connect', 'direct'],
};

let server: TestServer;
let chromium: Chromium;
let clinic: TestApp;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer({ CONNECT_POLL_INTERVAL: '1' }), launchChromium()]);
  clinic = await registerTestApp(server, CLINIC);
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

/** Problems found on the pages so far, as "page: rule (impact): help — where". */
const problems: string[] = [];
const checked: string[] = [];

/** Checks the page with axe at 1280 and 390 px, and for horizontal scrolling at 390 px. */
async function check(page: Page, label: string): Promise<void> {
  checked.push(label);
  problems.push(...(await pageProblems(page, label)));
}

/** The elements Tab moves through from the top of the page, in order. */
async function tabOrder(page: Page, presses: number): Promise<string[]> {
  const order: string[] = [];
  for (let press = 0; press < presses; press += 1) {
    await page.keyboard.press('Tab');
    order.push(await focused(page));
  }
  return order;
}

async function personPage(): Promise<Page> {
  const { context, page } = await chromium.newPerson({ timeoutMs: 30_000 });
  await context.route(LOGO, (route) => route.fulfill({ status: 200, contentType: 'image/svg+xml', body: LOGO_SVG }));
  return page;
}

const appToken = async (scope: string) => (await oidc.clientCredentialsGrant(clinic.config, { scope })).access_token;

async function api(path: string, token: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.issuer}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

test('every page passes axe-core with no serious or critical violation, and fits a 390 px screen', async () => {
  const person = newPerson('Robin Axe');
  const page = await personPage();

  // The check itself works: axe finds an unlabelled field.
  await page.setContent('<!doctype html><html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1><input type="text"></main></body></html>');
  expect((await axeViolations(page)).join('\n')).toMatch(/^label \(critical\)/m);

  // Signed out.
  await page.goto(`${server.issuer}/`);
  await check(page, 'home (signed out)');
  await page.goto(`${server.issuer}/pickup`);
  await check(page, 'pickup code');
  await page.goto(`${server.issuer}/connect`);
  await check(page, 'connect code');
  await page.goto(`${server.issuer}/no/such/page`);
  await check(page, 'error: not found');
  await page.goto(
    `${server.issuer}/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fx.example%2Fcb&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghijabc&code_challenge_method=S256`,
  );
  await check(page, 'error: unknown app');

  // Web-based authorization: sign-in (and a refusal), registration, consent with the app's logo and links.
  const authorization = await startAuthorization(clinic, { scope: 'openid profile patient/Observation.cruds offline_access' });
  await page.goto(authorization.url.toString());
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await check(page, 'sign-in');
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').waitFor();
  await check(page, 'sign-in refused');
  await page.getByRole('link', { name: 'Create account' }).click();
  await page.getByLabel('Name').waitFor();
  await check(page, 'registration');
  await page.getByLabel('Name').fill(person.name);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  await check(page, 'registration: check your email');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await page.locator('img.app-logo').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  await check(page, 'consent');
  const consentUrl = page.url();
  // Keyboard only: Tab visits the app's links, then each choice, then Allow and Deny, in reading order; Enter allows.
  const order = await tabOrder(page, 30);
  const at = (name: string) => order.findIndex((entry) => entry === name);
  expect(at('link privacy policy')).toBeGreaterThan(-1);
  expect(at('link privacy policy')).toBeLessThan(at('link terms of use'));
  expect(at('link terms of use')).toBeLessThan(at('checkbox Keep access while you are away, until you remove it'));
  expect(at('checkbox Keep access while you are away, until you remove it')).toBeLessThan(at('button Allow'));
  expect(at('button Allow')).toBeLessThan(at('button Deny'));
  // Tabbing on (past the end it starts again at the top) reaches Allow.
  for (let presses = 0; presses < 60 && (await focused(page)) !== 'button Allow'; presses += 1) await page.keyboard.press('Tab');
  expect(await focused(page)).toBe('button Allow');
  const tokens = await exchangeCode(clinic, authorization, await callbackAfter(page, () => page.keyboard.press('Enter')));
  await page.waitForLoadState();

  // The consent page reached again after Allow says the app was connected; a request that ended
  // unanswered offers the way back to the app.
  await gotoSettled(page, consentUrl);
  await page.getByRole('link', { name: 'See Connected apps' }).waitFor();
  await check(page, 'consent finished');
  const late = await startAuthorization(clinic, { scope: 'openid profile patient/Observation.cruds offline_access', prompt: 'consent' });
  await page.goto(late.url.toString());
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  await server.db.knex('oidc_models').where({ model: 'Interaction' }).delete();
  await page.reload();
  await page.getByRole('link', { name: /^Back to / }).waitFor();
  await check(page, 'request ended');

  // The app writes weights and blood pressures, so the record page has charts.
  for (let day = 1; day <= 10; day += 1) {
    const observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
      effectiveDateTime: `2026-02-${String(day).padStart(2, '0')}T08:00:00Z`,
      valueQuantity: { value: 70 + (day % 3), unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    };
    const res = await fetch(`${server.issuer}/fhir/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(observation),
    });
    expect(res.status).toBe(201);
  }
  const recordId = await ownRecordOf(server, person.email);

  // Signed in: home, records, a record, its history, connected apps.
  await page.goto(`${server.issuer}/`);
  await check(page, 'home (signed in)');
  await page.goto(`${server.issuer}/records`);
  await check(page, 'records');
  await page.goto(`${server.issuer}/records/${recordId}`);
  await page.locator('figure.chart').first().waitFor();
  await check(page, 'a record');
  await page
    .getByRole('link', { name: /Body weight/ })
    .first()
    .click();
  await page.getByRole('heading', { level: 2, name: 'Where it came from' }).waitFor();
  await check(page, 'a record item');
  await page.goto(`${server.issuer}/records/${recordId}/history`);
  await check(page, 'history');
  await page.goto(`${server.issuer}/apps`);
  await check(page, 'connected apps');
  await page.getByRole('button', { name: /^Remove access for Riverside Clinic/ }).click();
  await page.getByRole('heading', { level: 1, name: "Remove Riverside Clinic's access?" }).waitFor();
  await check(page, 'remove access (confirmation)');
  await page.getByRole('link', { name: 'Cancel' }).click();
  await page.waitForURL(`${server.issuer}/apps`);

  // Direct: a message from the clinic, the inbox and the message.
  const address = `${person.name.toLowerCase().replace(' ', '.')}@direct.localhost`;
  await api('/api/direct/messages', await appToken('direct'), {
    to: address,
    subject: 'Lab results',
    text: 'Your results are attached.',
    attachments: [{ filename: 'results.pdf', content_type: 'application/pdf', data: Buffer.from('%PDF-1.4\n%%EOF\n').toString('base64') }],
  });
  await page.goto(`${server.issuer}/inbox`);
  await check(page, 'inbox');
  await page.getByRole('link', { name: 'Lab results' }).click();
  await page.getByRole('heading', { level: 1, name: 'Lab results' }).waitFor();
  await check(page, 'a message');
  // The PDF filed into the record, opened from the record page.
  await page.getByRole('button', { name: 'Add to record' }).click();
  await page.getByRole('status').waitFor();
  await page.goto(`${server.issuer}/records/${recordId}`);
  await page.getByRole('link', { name: /results\.pdf · from/ }).click();
  await page.getByRole('link', { name: 'results.pdf', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'results.pdf' }).waitFor();
  await check(page, 'a filed document');
  // Delete asks first, then offers Undo; what was sent has its own list.
  await page.goto(`${server.issuer}/inbox`);
  await page.getByRole('link', { name: 'Lab results' }).click();
  await page.getByRole('link', { name: 'Delete message' }).click();
  await check(page, 'delete a message?');
  await page.getByRole('button', { name: 'Delete message' }).click();
  await page.getByRole('button', { name: 'Undo' }).waitFor();
  await check(page, 'inbox after a delete');
  await page.getByRole('link', { name: 'Sent messages' }).click();
  await check(page, 'sent messages');
  await page.goto(`${server.issuer}/`);
  await page.getByRole('heading', { name: 'New since your last visit' }).waitFor();
  await check(page, 'home with what is new');

  // DOPU: the pickup pages, from the code to the package in the record.
  const dropped = await api('/api/dopu/packages', await appToken('dopu'), {
    friendly_name: 'Results from your visit',
    question: 'What is the name of your first pet?',
    answer: 'Biscuit',
    resources: sampleResources(),
  });
  await page.goto(String(dropped.pickup_url));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Answer').waitFor();
  await check(page, 'pickup question');
  await page.getByLabel('Answer').fill('biscuit');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Accept' }).waitFor();
  await check(page, 'pickup review');
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: /^Picked up into / }).waitFor();
  await check(page, 'pickup done');

  // Patient Connect: the clinic's connect request, its question, consent, and the end.
  const request = await oidc.initiateDeviceAuthorization(clinic.config, {
    scope: 'patient/Observation.cruds patient/Condition.rs offline_access',
    external_id: 'MRN-axe-1',
    friendly_name: 'Robin Axe',
    question: 'What is your favourite animal?',
    answer: 'Blue whale',
  });
  await page.goto(request.verification_uri_complete ?? '');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Answer').waitFor();
  await check(page, 'connect question');
  await page.getByLabel('Answer').fill('blue whale');
  await page.getByRole('button', { name: 'Continue' }).click();
  // The clinic asks for a rule the web consent did not cover, so the consent page comes again.
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  await check(page, 'connect consent');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByRole('heading', { name: 'Connected' }).waitFor();
  await check(page, 'connect done');

  // Signing out.
  await page.goto(`${server.issuer}/logout`);
  await page.getByRole('button').first().waitFor();
  await check(page, 'sign out');

  expect(checked).toHaveLength(33);
  expect(problems).toEqual([]);
}, 300_000);
