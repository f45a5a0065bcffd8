/**
 * DOPU end to end: Riverside Clinic drops off an Observation, a Condition
 * and a DocumentReference carrying a PDF with openid-client's client-credentials grant; a parent
 * picks the package up in headless Chromium — types the code, signs in, answers, chooses their
 * child's record, reviews, accepts — and an app the parent authorized for the child's record reads
 * the three resources through /fhir, references intact. The clinic sees `picked_up` and still
 * cannot reach any record; the child's history names the pickup; the email carried only the link.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { callbackAfter, launchChromium, type Chromium } from '../support/chromium';
import { ANSWER, MARKERS, PDF, QUESTION, clinicApp, type Dropper } from '../support/dopu';
import { recordIdNamed, startTestServer, type TestServer } from '../support/server';
import { unfold } from '../support/mail';
import { addChild, createAccount } from '../support/forms';

let server: TestServer;
let chromium: Chromium;
let clinic: Dropper;
let reader: TestApp;

const READER_SCOPE = 'openid patient/Observation.rs patient/Condition.rs patient/DocumentReference.rs';

beforeAll(async () => {
  [server, chromium] = await Promise.all([startTestServer(), launchChromium()]);
  clinic = await clinicApp(server, 'Riverside Clinic');
  reader = await registerTestApp(server, {
    client_name: 'Family Chart',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: READER_SCOPE.split(' ')
      .slice(1)
      .map((scope) => ({ scope, required: true, reason: 'Show your family’s results' })),
  });
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

async function registerWithChild(page: Page, person: ReturnType<typeof newPerson>, child: string): Promise<void> {
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.waitForURL(`${server.issuer}/`);
  await addChild(page, server.issuer, child, '2020-05-17');
}

test('a clinic drops off 3 resources; a parent picks them up in Chromium into their child’s record, where an authorized app reads them', async () => {
  const parent = newPerson('Jordan Avery');
  const child = 'Mia Avery';

  // The clinic drops off the package (openid-client's client-credentials token), with the parent's email.
  const receipt = await clinic.dropOff({ friendly_name: 'Mia’s results from 2 Jan', external_id: 'visit-0102', email: parent.email });
  expect(receipt.pickup_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}(-[BCDFGHJKLMNPQRSTVWXZ]{4}){4}$/);
  expect(receipt.pickup_url).toBe(`${server.issuer}/pickup?code=${receipt.pickup_code}`);
  expect(Date.parse(receipt.expires_at) - Date.now()).toBeGreaterThan(28 * 24 * 3600 * 1000 - 60_000);
  expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body).toMatchObject({ id: receipt.id, external_id: 'visit-0102', status: 'pending' });

  // The email went to the outbox (no SMTP_URL): the link and code, never the answer or the contents.
  const outbox = path.join(server.config.dataDir, 'outbox');
  const [file] = fs.readdirSync(outbox).filter((name) => name.endsWith('.eml'));
  const eml = unfold(fs.readFileSync(path.join(outbox, file ?? ''), 'utf8'));
  expect(eml).toContain(`To: ${parent.email}`);
  expect(eml).toContain('Riverside Clinic left health information for you');
  expect(eml).toContain(receipt.pickup_url);
  for (const secret of [ANSWER, ANSWER.toLowerCase(), MARKERS.note, MARKERS.condition, PDF.toString('base64').slice(0, 40)]) expect(eml).not.toContain(secret);

  // The parent has an account and their child's record (one browser), then follows the link on another.
  const first = await chromium.newPerson();
  await registerWithChild(first.page, parent, child);
  const childId = (await recordIdNamed(server, child)) ?? '';
  expect(childId).toMatch(/^[0-9a-f-]{36}$/);
  await first.context.close();

  const { page } = await chromium.newPerson();
  const shown = await page.goto(`${server.issuer}/pickup`);
  expect(shown?.headers()['cache-control']).toBe('no-store');
  // Typed in lower case, without dashes.
  await page.getByLabel('Pickup code').fill(receipt.pickup_code.toLowerCase().replace(/-/g, ' '));
  await page.getByRole('button', { name: 'Continue' }).click();

  // Not signed in: sign in, and the flow comes back to the package.
  await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  expect(page.url()).toContain('/interaction/');
  await page.getByLabel('Email').fill(parent.email);
  await page.getByLabel('Password').fill(parent.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('Answer').waitFor();
  expect(new URL(page.url()).pathname).toBe('/pickup');
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Mia’s results from 2 Jan');
  expect(await page.locator('main').textContent()).toContain(QUESTION);
  expect(await page.locator('main').textContent()).toContain('Riverside Clinic left this package for you');

  // The answer in other capitals and spacing opens it; the records to choose from are named by their person.
  await page.getByLabel('Answer').fill(`  ${ANSWER.toUpperCase().replace(' ', '   ')} `);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('radio', { name: child, exact: true }).check();
  expect(await page.getByRole('radio').count()).toBe(2);
  expect(await page.getByRole('radio', { name: parent.name, exact: true }).isChecked()).toBe(false);
  await page.getByRole('button', { name: 'Continue' }).click();

  // The review, in plain words by type.
  await page.getByRole('button', { name: 'Accept' }).waitFor();
  const review = (await page.locator('main').innerText()).replace(/\s+/g, ' ');
  expect(review).toContain(`these go into ${child}’s record`);
  expect(review).toContain('1 observation Body weight — 72 kg on 2 Jan 2026');
  expect(review).toContain(`1 condition ${MARKERS.condition} on 2 Jan 2026`);
  expect(review).toMatch(/1 document Discharge letter on 2 Jan 2026, with discharge-letter\.pdf \(PDF, \d+ bytes\)/);
  expect(await page.getByRole('button', { name: 'Decline' }).isVisible()).toBe(true);
  await page.screenshot({ path: '/tmp/dopu-review.png', fullPage: true });

  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: `Picked up into ${child}’s record` }).waitFor();
  expect(await page.locator('main').textContent()).toContain(`3 items from Riverside Clinic are now in ${child}’s record.`);

  // The child's record holds them, and its history says who dropped them off.
  await page.goto(`${server.issuer}/records/${childId}/history`);
  expect(await page.locator('main').textContent()).toContain('Riverside Clinic dropped off 3 items — you picked them up');

  // An app the parent authorizes for the child's record reads the three resources through /fhir.
  const authorization = await startAuthorization(reader, { scope: READER_SCOPE });
  await page.goto(authorization.url.toString());
  await page.getByRole('radio', { name: child, exact: true }).check();
  const tokens = await exchangeCode(reader, authorization, await callbackAfter(page, () => page.getByRole('button', { name: 'Allow' }).click()));
  expect(tokens.patient).toBe(childId);
  const read = async (query: string) => {
    const res = await fetch(`${server.issuer}/fhir/${query}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as any;
  };
  const [observation] = (await read('Observation')).entry.map((entry: any) => entry.resource);
  const [condition] = (await read('Condition')).entry.map((entry: any) => entry.resource);
  const [document] = (await read('DocumentReference')).entry.map((entry: any) => entry.resource);
  expect(observation).toMatchObject({ subject: { reference: `Patient/${childId}` }, valueQuantity: { value: 72 }, note: [{ text: MARKERS.note }] });
  expect(condition).toMatchObject({ subject: { reference: `Patient/${childId}` }, code: { text: MARKERS.condition } });
  expect(condition.evidence[0].detail[0].reference).toBe(`Observation/${observation.id}`);
  expect(document.subject.reference).toBe(`Patient/${childId}`);
  expect(document.context.related).toEqual([{ reference: `Observation/${observation.id}` }, { reference: `Condition/${condition.id}` }]);
  expect(Buffer.from(document.content[0].attachment.data, 'base64').equals(PDF)).toBe(true);
  // The references lead somewhere.
  expect((await read(document.context.related[0].reference)).id).toBe(observation.id);

  // The clinic sees the pickup, and its token still reaches no record.
  const status = await clinic.call(`/api/dopu/packages/${receipt.id}`);
  expect(status.status).toBe(200);
  expect(status.body).toMatchObject({ status: 'picked_up', external_id: 'visit-0102' });
  expect(Date.parse(status.body.picked_up_at)).toBeGreaterThan(Date.parse(status.body.created_at));
  expect(Object.keys(status.body).sort()).toEqual(['created_at', 'expires_at', 'external_id', 'id', 'picked_up_at', 'status', 'updated_at']);
  for (const target of ['Observation', `Observation/${observation.id}`, `Patient/${childId}`]) {
    const res = await fetch(`${server.issuer}/fhir/${target}`, { headers: { authorization: `Bearer ${clinic.token}` } });
    expect([401, 403]).toContain(res.status);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  }

  // The audit log holds the drop-off, the right answer and the pickup; the pickup also on the child's record.
  const events = await server.db
    .knex('audit_events')
    .where({ subject: `package:${receipt.id}` })
    .orderBy('id');
  expect(events.map((event) => [event.kind, event.record_id])).toEqual([
    ['dopu.dropped_off', null],
    ['dopu.answered', null],
    ['dopu.picked_up', childId],
  ]);

  // The code now says how this person's pickup ended; to anyone else, that it was picked up.
  await page.goto(receipt.pickup_url);
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`Picked up into ${child}’s record`);
  const other = await chromium.newPerson();
  await other.page.goto(receipt.pickup_url);
  await other.page.getByRole('button', { name: 'Continue' }).click();
  expect(await other.page.getByRole('alert').textContent()).toContain('This package has already been picked up.');
  await other.context.close();
});

test('Back and reload at every pickup step show the state as it is and never send a form again', async () => {
  const parent = newPerson('Robin Reload');
  const child = 'Sky Reload';
  const receipt = await clinic.dropOff({ friendly_name: 'Sky’s results' });
  const { page, context } = await chromium.newPerson();
  await registerWithChild(page, parent, child);
  const childId = (await recordIdNamed(server, child)) ?? '';
  const posts: string[] = [];
  page.on('request', (request) => {
    if (request.method() === 'POST') posts.push(new URL(request.url()).pathname);
  });
  page.on('dialog', (dialog) => {
    throw new Error(`a dialog was shown: ${dialog.message()}`);
  });
  /** Reload or Back, then: no form went again, and the page is a page of our own. */
  const quietly = async (move: () => Promise<unknown>) => {
    const before = posts.length;
    await move();
    await page.waitForLoadState('load');
    expect(posts.slice(before)).toEqual([]);
  };
  const heading = async () => (await page.getByRole('heading', { level: 1 }).textContent()) ?? '';
  const row = () => server.db.knex('dopu_packages').where({ id: receipt.id }).first();

  await page.goto(`${server.issuer}/pickup`);
  await page.getByLabel('Pickup code').fill(receipt.pickup_code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Answer').waitFor();
  expect(await heading()).toBe('Sky’s results');

  // A wrong answer: the question again with the tries left; reload and Back send nothing and count nothing.
  await page.getByLabel('Answer').fill('not the answer');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('alert').waitFor();
  expect(await page.getByRole('alert').textContent()).toContain('That answer is not right. You have 2 more tries before the package is locked.');
  await quietly(() => page.reload());
  expect(await heading()).toBe('Sky’s results');
  expect(await page.locator('main').textContent()).toContain('After 2 wrong answers the package is locked for good.');
  await quietly(() => page.goBack());
  expect(await page.getByLabel('Answer').isVisible()).toBe(true);
  expect((await row()).wrong_answers).toBe(1);

  // The right answer: the records to choose from; reload keeps them.
  await page.getByLabel('Answer').fill(ANSWER);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('radio', { name: child, exact: true }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/pickup/record');
  await quietly(() => page.reload());
  await page.getByRole('radio', { name: child, exact: true }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Accept' }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/pickup/review');
  await quietly(() => page.reload());
  expect(await page.locator('main').textContent()).toContain(`these go into ${child}’s record`);
  // Back to the records: the choice made is the one checked; forward again to the review.
  await quietly(() => page.goBack());
  expect(await page.getByRole('radio', { name: child, exact: true }).isChecked()).toBe(true);
  await quietly(() => page.goForward());
  await page.getByRole('button', { name: 'Accept' }).waitFor();

  // Accept: how it ended; reload and Back say the same, and nothing is written twice.
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: `Picked up into ${child}’s record` }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/pickup/done');
  await quietly(() => page.reload());
  expect(await heading()).toBe(`Picked up into ${child}’s record`);
  expect(await page.getByRole('link', { name: `See ${child}’s record` }).getAttribute('href')).toBe(`/records/${childId}`);
  await quietly(() => page.goBack());
  expect(await heading()).toBe(`Picked up into ${child}’s record`);
  expect(await page.locator('main').textContent()).not.toContain('already picked up');
  expect((await row()).status).toBe('picked_up');
  expect(await server.db.knex('resources').where({ record_id: childId }).whereNot({ type: 'Patient' }).count<{ count: string }[]>('* as count')).toEqual([
    { count: '3' },
  ]);
  expect(posts).toEqual(['/pickup', '/pickup/answer', '/pickup/answer', '/pickup/record', '/pickup/finish']);
  await context.close();
});
