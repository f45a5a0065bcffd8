/**
 * The demo's path, walked in Chromium as a newcomer would click it: Demo Clinic (the
 * app `npm run demo` starts, here in-process on a port the kernel gives) and carevault — connect
 * with web-based authorization, add a weight and refresh offline, drop off a package and pick it
 * up, create a connect request and validate it, send a Direct message and find it in the inbox.
 * On the way it takes the README's screenshots: into a temporary folder, or — with SAVE_SCREENSHOTS=true,
 * as `npm run screenshots` sets — over docs/screenshots/*.png, so `npm test` leaves the checkout clean.
 */
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { createDemoClinic } from '../../demo/clinic';
import { demoRegistration } from '../../demo/registration';
import { newPerson } from '../support/app';
import { launchChromium, type Chromium } from '../support/chromium';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';
import { createAccount } from '../support/forms';

const SCREENSHOTS =
  process.env.SAVE_SCREENSHOTS === 'true'
    ? path.resolve(__dirname, '..', '..', 'docs', 'screenshots')
    : fs.mkdtempSync(path.join(os.tmpdir(), 'cv-screenshots-'));

let server: TestServer;
let chromium: Chromium;
let demo: http.Server;
let demoUrl: string;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer({ CONNECT_POLL_INTERVAL: '1', METRICS_ENABLED: 'true' }), launchChromium()]);
  demo = http.createServer();
  await new Promise<void>((resolve) => demo.listen(0, 'localhost', resolve));
  const { port } = demo.address() as AddressInfo;
  demoUrl = `http://localhost:${port}`;
  const registered = await server.registerApp(demoRegistration(demoUrl));
  const app = await createDemoClinic({
    carevault: server.issuer,
    port,
    clientId: String(registered.client_id),
    clientSecret: String(registered.client_secret),
  });
  demo.on('request', app);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  demo?.closeAllConnections();
  await new Promise((resolve) => demo?.close(resolve));
  await server?.stop();
});

async function screenshot(page: Page, name: string): Promise<void> {
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  expect(fs.statSync(file).size).toBeGreaterThan(10_000);
}

/** The demo's page text, whitespace folded. */
async function demoText(page: Page): Promise<string> {
  await page.goto(demoUrl);
  return ((await page.locator('body').textContent()) ?? '').replace(/\s+/g, ' ');
}

test('a newcomer clicks through every connectivity option of the demo; the README screenshots are saved', async () => {
  const person = newPerson('Sam Lee');
  const { page } = await chromium.newPerson({ timeoutMs: 30_000 });

  // 1. Connect to carevault: create an account, see the consent page (the app's logo and links), allow.
  await page.goto(demoUrl);
  await page.getByRole('button', { name: 'Connect to carevault' }).click();
  await page.getByRole('link', { name: 'Create account' }).click();
  await createAccount(page, person);
  await page.getByRole('button', { name: 'Allow' }).waitFor();
  expect(await page.locator('img.app-logo').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  expect(await page.getByRole('link', { name: 'privacy policy' }).getAttribute('href')).toBe(`${demoUrl}/privacy`);
  // Optional rules start unticked; the newcomer lets the clinic sync while they are away.
  await page.getByRole('checkbox', { name: 'Keep access while you are away, until you remove it' }).check();
  await screenshot(page, 'consent');
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(`${demoUrl}/`);
  expect(await page.locator('body').textContent()).toContain('Connected to record');

  // The app adds a weight, and refreshes its tokens offline.
  await page.getByLabel('Weight (kg)').fill('71.4');
  await page.getByRole('button', { name: 'Add a weight' }).click();
  expect(await page.locator('body').textContent()).toContain('Added 71.4 kg to your record.');
  await page.getByRole('button', { name: 'Refresh now (offline)' }).click();
  expect(await page.locator('body').textContent()).toContain('New tokens from the refresh token');

  // Connected apps on carevault.
  await page.goto(`${server.issuer}/apps`);
  expect(await page.locator('main').textContent()).toContain('Demo Clinic');
  await screenshot(page, 'connected-apps');

  // 2. Drop off results; pick them up on carevault with the code and the answer.
  await page.goto(demoUrl);
  await page.getByRole('button', { name: 'Drop off results' }).click();
  expect(await page.locator('body').textContent()).not.toContain('carevault refused the package');
  await page.getByRole('link', { name: /\/pickup\?code=/ }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Answer').fill('biscuit');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Accept' }).waitFor();
  await screenshot(page, 'pickup');
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: /^Picked up into / }).waitFor();
  expect(await demoText(page)).toContain('Status: picked_up');

  // 3. A connect request: validate the identity code and answer; the app's polling gets its tokens.
  await page.getByRole('button', { name: 'Create a connect request' }).click();
  await page.getByRole('link', { name: /\/connect$/ }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Answer').fill('Biscuit');
  await page.getByRole('button', { name: 'Continue' }).click();
  const connected = page.getByRole('heading', { name: 'Connected' });
  await connected.or(page.getByRole('button', { name: 'Allow' })).waitFor();
  if (!(await connected.isVisible())) await page.getByRole('button', { name: 'Allow' }).click();
  await connected.waitFor();
  let approved = '';
  for (let tries = 0; tries < 40 && !approved.includes('Approved.'); tries += 1) {
    approved = await demoText(page);
    if (!approved.includes('Approved.')) await page.waitForTimeout(500);
  }
  expect(approved).toContain('Approved. Demo Clinic now holds offline tokens');

  // 4. A Direct message with a PDF to the record's address (shown on carevault's Records page).
  await page.goto(`${server.issuer}/records`);
  const address = (await page.getByRole('link', { name: /@direct\.localhost$/ }).textContent())?.trim() ?? '';
  expect(address).toBe('sam.lee@direct.localhost');
  await page.goto(demoUrl);
  await page.getByLabel('To').fill(address);
  await page.getByRole('button', { name: 'Send' }).click();
  expect(await page.locator('body').textContent()).toContain(`Sent to ${address}.`);
  await page.goto(`${server.issuer}/inbox`);
  await page.getByRole('link', { name: 'Your lab results' }).waitFor();
  await screenshot(page, 'inbox');

  // The record: the weight charted, the picked-up results, and the history by day and app.
  await page.goto(`${server.issuer}/records/${await ownRecordOf(server, person.email)}`);
  await page.locator('figure.chart[data-kind="weight"]').waitFor();
  expect(await page.locator('figure.chart[data-kind="weight"] figcaption').textContent()).toContain('Latest: 71.4 kilograms');
  await screenshot(page, 'record');

  // What the operator saw of it: each kind of token and both consents, counted once.
  const metrics = await (await fetch(`${server.issuer}/metrics`)).text();
  for (const line of [
    'carevault_consents_total{flow="web",decision="allowed"} 1',
    'carevault_consents_total{flow="connect",decision="allowed"} 1',
    'carevault_tokens_issued_total{grant_type="authorization_code"} 1',
    'carevault_tokens_issued_total{grant_type="refresh_token"} 1',
    'carevault_tokens_issued_total{grant_type="device_code"} 1',
    'carevault_dopu_packages{status="picked_up"} 1',
    'carevault_connect_requests{status="authorized"} 1',
  ]) {
    expect(metrics.split('\n')).toContain(line);
  }

  for (const name of ['consent', 'connected-apps', 'pickup', 'inbox', 'record']) {
    expect(fs.statSync(path.join(SCREENSHOTS, `${name}.png`)).size).toBeGreaterThan(5_000);
  }
}, 300_000);
