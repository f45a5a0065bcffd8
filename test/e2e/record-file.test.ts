/**
 * "Download my record" and "Import" on the record page, in Chromium as a person uses
 * them: Alex's record (filled by an app with a transaction Bundle) is downloaded as a FHIR Bundle
 * file, valid FHIR R4; Gale opens a new record in her care and imports the file, sees first what
 * it holds in plain words, confirms, and the record then holds the same resources (ids aside),
 * with the file named in its history. A file with one invalid resource adds nothing. The record
 * page, the review, the result and the refusal pass axe-core (no serious or critical violation).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'fhir-kit-client';
import type { Page } from 'playwright-core';
import { validateResource } from '../../src/fhir/validation';
import { CALLBACK, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { launchChromium, type Chromium } from '../support/chromium';
import { createAccount } from '../support/forms';
import { signedUpPerson, type SignedUp } from '../support/people';
import { recordIdNamed, startTestServer, type TestServer } from '../support/server';

jest.setTimeout(180_000);

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations (WCAG 2.1 A/AA, best practices) on the page as it is now. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
    .then((result) => result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.help))`);
}

type Json = Record<string, any>;

let server: TestServer;
let chromium: Chromium;
let alex: SignedUp;
let folder: string;

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-record-file-'));
  alex = await signedUpPerson(server, 'Alex Export');
  // An app fills Alex's record: a visit, two results, the report grouping them, a condition.
  const app = await registerTestApp(server, {
    client_name: 'Clinic Upload',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [{ scope: 'patient/*.cruds', required: true, reason: 'File your visit' }],
  });
  const authorization = await startAuthorization(app, { scope: 'openid patient/*.cruds' });
  const back = await authorizeInBrowser(alex.browser, authorization.url, alex.person);
  const token = (await exchangeCode(app, authorization, back.location ?? '')).access_token;
  const client = new Client({ baseUrl: `${server.issuer}/fhir`, bearerToken: token });
  const lab = (code: string, display: string, value: number) => ({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code, display }], text: display },
    encounter: { reference: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f01' },
    effectiveDateTime: '2026-09-01T08:00:00Z',
    valueQuantity: { value, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
  });
  await client.transaction({
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f01',
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
            period: { start: '2026-09-01T07:45:00Z' },
          },
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          fullUrl: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f02',
          resource: lab('2093-3', 'Cholesterol', 5.2),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f03',
          resource: lab('2085-9', 'HDL cholesterol', 1.3),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          resource: {
            resourceType: 'DiagnosticReport',
            status: 'final',
            code: { coding: [{ system: 'http://loinc.org', code: '24331-1', display: 'Lipid panel' }], text: 'Lipid panel' },
            encounter: { reference: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f01' },
            result: [{ reference: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f02' }, { reference: 'urn:uuid:1b0e8a52-4f3d-4d2f-8f3e-5c1d2b3a4f03' }],
          },
          request: { method: 'POST', url: 'DiagnosticReport' },
        },
        {
          resource: {
            resourceType: 'Condition',
            clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
            code: { text: 'High cholesterol' },
          },
          request: { method: 'POST', url: 'Condition' },
        },
      ],
    } as never,
  });
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
  if (folder) fs.rmSync(folder, { recursive: true, force: true });
});

async function signIn(page: Page, person: { email: string; password: string }): Promise<void> {
  await page.goto(`${server.issuer}/login`);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByText('Hello,').first().waitFor();
}

async function register(page: Page, name: string) {
  const person = newPerson(name);
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.getByText(`Hello, ${name}`).first().waitFor();
  return person;
}

/** Clicks "Download my record" on the record page and returns the file's name and parsed Bundle. */
async function downloadRecord(page: Page, recordId: string): Promise<{ name: string; file: string; bundle: Json }> {
  await page.goto(`${server.issuer}/records/${recordId}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download my record' }).click()]);
  const file = path.join(folder, download.suggestedFilename());
  await download.saveAs(file);
  return { name: download.suggestedFilename(), file, bundle: JSON.parse(fs.readFileSync(file, 'utf8')) as Json };
}

/**
 * The Bundle's resources with carevault's ids replaced by their place in the file (`#0`, `#1`…),
 * references included, and meta left out: what must survive a download and import unchanged.
 */
function idsAside(bundle: Json): Json[] {
  const place = new Map<string, string>(bundle.entry.map((entry: Json, index: number) => [`${entry.resource.resourceType}/${entry.resource.id}`, `#${index}`]));
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (!value || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value as Json)
        .filter(([key]) => key !== 'meta' && key !== 'id')
        .map(([key, inner]) => [key, key === 'reference' && typeof inner === 'string' ? (place.get(inner) ?? inner) : rewrite(inner)]),
    );
  };
  return bundle.entry.map((entry: Json) => rewrite(entry.resource) as Json);
}

test('a record downloaded and imported into another person’s new record holds the same resources, ids aside', async () => {
  const alexBrowser = await chromium.newPerson({ timeoutMs: 30_000 });
  await signIn(alexBrowser.page, alex.person);
  const original = await downloadRecord(alexBrowser.page, alex.record);
  expect(original.name).toMatch(/^carevault-alex-export-\d{4}-\d{2}-\d{2}\.json$/);
  expect(original.bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
  expect(validateResource(original.bundle, 'Bundle')).toEqual({ valid: true });
  for (const entry of original.bundle.entry) expect(validateResource(entry.resource, entry.resource.resourceType)).toEqual({ valid: true });
  expect(original.bundle.entry.map((entry: Json) => entry.resource.resourceType)).toEqual([
    'Patient',
    'Encounter',
    'Observation',
    'Observation',
    'DiagnosticReport',
    'Condition',
  ]);

  // Gale opens a record for Alex in her care and imports the file into it.
  const gale = await chromium.newPerson({ timeoutMs: 30_000 });
  await register(gale.page, 'Gale Import');
  await gale.page.goto(`${server.issuer}/records`);
  await gale.page.getByLabel('Name').fill('Alex Export');
  await gale.page.getByLabel('Birth date').fill('1990-04-01');
  await gale.page.getByLabel('Relationship').selectOption('relative');
  await gale.page.getByRole('button', { name: 'Add record' }).click();
  await gale.page.getByRole('link', { name: 'Alex Export' }).click();
  await gale.page.getByRole('heading', { level: 1, name: 'Alex Export' }).waitFor();
  const newRecord = new URL(gale.page.url()).pathname.split('/')[2] ?? '';
  expect(newRecord).not.toBe(alex.record);

  expect(await axeViolations(gale.page)).toEqual([]);
  await gale.page.getByLabel('Bundle file').setInputFiles(original.file);
  await gale.page.getByRole('button', { name: 'Import' }).click();
  // The review, in plain words, before anything is written.
  await gale.page.getByRole('heading', { level: 1, name: /Import into Alex Export/ }).waitFor();
  const review = (await gale.page.locator('main').textContent()) ?? '';
  expect(review).toContain(`The file ${original.name} holds 6 items. Nothing has been added yet.`);
  expect(review).toContain('The personal details of this record become: Alex Export.');
  for (const heading of ['2 observations', '1 condition', '1 test report', '1 visit']) await gale.page.getByRole('heading', { name: heading }).waitFor();
  expect(review).toContain('Cholesterol — 5.2 mmol/L');
  expect(review).toContain('Lipid panel');
  expect(await countIn(newRecord)).toBe(1);
  expect(await axeViolations(gale.page)).toEqual([]);

  await gale.page.getByRole('button', { name: 'Import' }).click();
  await gale.page.getByRole('heading', { level: 1, name: 'Imported' }).waitFor();
  expect(await axeViolations(gale.page)).toEqual([]);
  expect(await gale.page.locator('main').textContent()).toContain(`6 items from ${original.name} went into Alex Export’s record.`);

  const imported = await downloadRecord(gale.page, newRecord);
  expect(validateResource(imported.bundle, 'Bundle')).toEqual({ valid: true });
  expect(idsAside(imported.bundle)).toEqual(idsAside(original.bundle));
  // New ids, all within the new record.
  expect(imported.bundle.entry[0].resource.id).toBe(newRecord);
  const report = imported.bundle.entry.find((entry: Json) => entry.resource.resourceType === 'DiagnosticReport').resource;
  expect(report.subject).toEqual({ reference: `Patient/${newRecord}` });
  for (const { reference } of report.result) expect(imported.bundle.entry.some((entry: Json) => `Observation/${entry.resource.id}` === reference)).toBe(true);

  await gale.page.goto(`${server.issuer}/records/${newRecord}/history`);
  const history = (await gale.page.locator('main').textContent()) ?? '';
  expect(history).toContain(`Gale Import imported 6 items from the file ${original.name}`);
  expect(history).toContain('Gale Import downloaded this whole record');
  await alexBrowser.context.close();
  await gale.context.close();
});

/** How many resources the record holds (its Patient included). */
async function countIn(recordId: string): Promise<number> {
  const [{ count }] = (await server.db.knex('resources').where({ record_id: recordId }).count({ count: '*' })) as [{ count: string }];
  return Number(count);
}

test('a file with one invalid resource adds nothing, and says which item in plain words', async () => {
  const hale = await chromium.newPerson({ timeoutMs: 30_000 });
  await register(hale.page, 'Hale Careful');
  const record = (await recordIdNamed(server, 'Hale Careful')) ?? '';
  const file = path.join(folder, 'broken.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { resource: { resourceType: 'Condition', code: { text: 'Asthma' } } },
        { resource: { resourceType: 'Observation', status: 'bogus', code: { text: 'Weight' } } },
        { resource: { resourceType: 'Practitioner', name: [{ text: 'Dr Who' }] } },
      ],
    }),
  );
  await hale.page.goto(`${server.issuer}/records/${record}`);
  await hale.page.getByLabel('Bundle file').setInputFiles(file);
  await hale.page.getByRole('button', { name: 'Import' }).click();
  const alert = hale.page.getByRole('alert');
  await alert.waitFor();
  expect(await alert.textContent()).toMatch(/Nothing was imported\. Item 2 of the file cannot go into a health record: .*status/);
  expect(await hale.page.getByRole('button', { name: 'Import' }).count()).toBe(0);
  expect(await axeViolations(hale.page)).toEqual([]);
  expect(await countIn(record)).toBe(1);

  // Not JSON at all.
  fs.writeFileSync(file, 'not json');
  await hale.page.goto(`${server.issuer}/records/${record}`);
  await hale.page.getByLabel('Bundle file').setInputFiles(file);
  await hale.page.getByRole('button', { name: 'Import' }).click();
  expect(await hale.page.getByRole('alert').textContent()).toContain('could not be read as JSON');
  expect(await countIn(record)).toBe(1);
  await hale.context.close();
});
