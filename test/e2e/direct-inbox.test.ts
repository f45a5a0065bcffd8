/**
 * The inbox in a real browser (headless Chromium): a message with a PDF and a C-CDA sent
 * through the API (openid-client's client-credentials token) and one sent over SMTP (nodemailer,
 * signed in with the app's client id and secret) both appear; the C-CDA is added to the record
 * and an app the person authorizes reads it at /fhir/DocumentReference; two people exchange
 * messages through the pages; what a message says is shown as text, never as HTML.
 */
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { CALLBACK, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { callbackAfter, launchChromium, type Chromium } from '../support/chromium';
import { CCDA, GIF, PDF, attachment, directToken, postMessage, registerClinic, smtpTransport } from '../support/direct';
import { freePort } from '../support/scratch';
import { recordIdNamed, startTestServer, type TestServer } from '../support/server';
import { createAccount } from '../support/forms';

let server: TestServer;
let chromium: Chromium;
let smtpPort: number;
let clinic: TestApp;
let token: string;

beforeAll(async () => {
  smtpPort = await freePort();
  [server, chromium] = await Promise.all([startTestServer({ DIRECT_SMTP_PORT: String(smtpPort) }), launchChromium()]);
  clinic = await registerClinic(server);
  token = await directToken(clinic);
});

afterAll(async () => {
  await chromium?.close();
  await server?.stop();
});

type Person = ReturnType<typeof newPerson>;

/** Registers on carevault's own pages; returns the page, signed in, and their Direct address from Inbox. */
async function register(name: string): Promise<{ person: Person; page: Page; address: string; recordId: string }> {
  const person = newPerson(name);
  const { page } = await chromium.newPerson();
  page.on('dialog', (dialog) => {
    throw new Error(`a dialog opened: ${dialog.message()}`);
  });
  await page.goto(`${server.issuer}/register`);
  await createAccount(page, person);
  await page.waitForURL(`${server.issuer}/`);
  await page.getByRole('link', { name: 'Inbox', exact: true }).click();
  await page.getByRole('heading', { name: `Inbox of ${name}` }).waitFor();
  const address = (await page.locator('main p strong').first().textContent()) ?? '';
  return { person, page, address, recordId: (await recordIdNamed(server, name)) ?? '' };
}

/** The rows of the inbox table, as the person reads them (the Unread tag is shown in capitals). */
async function inboxRows(page: Page): Promise<string[]> {
  await page.goto(`${server.issuer}/inbox`);
  return page
    .locator('table.inbox tbody tr')
    .allInnerTexts()
    .then((rows) => rows.map((row) => row.replace(/\s+/g, ' ').trim()));
}

/** Who a message is from, as the message page shows it once its stylesheet applies (the labels are set in capitals by CSS). */
async function sender(page: Page): Promise<string> {
  const from = page.locator('dl.message-facts dd').first();
  await from.waitFor();
  await page.waitForLoadState('load');
  return (await from.innerText()).replace(/\s+/g, ' ').trim();
}

async function send(
  page: Page,
  message: { to: string; subject: string; text: string; files?: { name: string; mimeType: string; buffer: Buffer }[] },
): Promise<void> {
  await page.getByLabel('To', { exact: true }).fill(message.to);
  await page.getByLabel('Subject', { exact: true }).fill(message.subject);
  await page.getByLabel('Message', { exact: true }).fill(message.text);
  if (message.files) await page.getByLabel('Attachments', { exact: true }).setInputFiles(message.files);
  await page.getByRole('button', { name: 'Send' }).click();
}

test('messages from the API and over SMTP appear in the inbox; the C-CDA goes into the record and an app reads it at /fhir', async () => {
  const alex = await register('Alex Morgan');
  expect(alex.address).toBe('alex.morgan@direct.localhost');

  const api = await postMessage(server, token, {
    to: alex.address,
    subject: 'Lab results',
    text: 'Your results from March are attached.',
    attachments: [attachment('results.pdf', 'application/pdf', PDF), attachment('ccda.xml', 'application/xml', CCDA)],
  });
  expect(api.status).toBe(201);
  const mail = await smtpTransport(smtpPort, clinic).sendMail({
    from: 'results@riverside.example',
    to: alex.address,
    subject: 'Discharge summary',
    text: 'Attached: your discharge summary.',
    attachments: [{ filename: 'summary.pdf', content: PDF, contentType: 'application/pdf' }],
  });
  expect(mail.response).toMatch(/^250 /);

  const { page } = alex;
  const rows = await inboxRows(page);
  expect(rows).toHaveLength(2);
  // Newest first among the unread: the mail, then the API message; sender, subject, attachments.
  expect(rows[0]).toMatch(
    /^Riverside Clinic REGISTERED APP says it is from results@riverside\.example, not verified Discharge summary UNREAD \d{4}-\d\d-\d\d \d\d:\d\d UTC 1$/,
  );
  expect(rows[1]).toMatch(/^Riverside Clinic REGISTERED APP Lab results UNREAD \d{4}-\d\d-\d\d \d\d:\d\d UTC 2$/);

  // Read the API message; download the PDF; add the C-CDA to the record.
  await page.getByRole('link', { name: 'Lab results' }).click();
  await page.getByRole('heading', { level: 1, name: 'Lab results' }).waitFor();
  expect(await page.locator('pre.message-text').textContent()).toBe('Your results from March are attached.');
  const pdfRow = page.getByRole('row').filter({ hasText: 'results.pdf' });
  const [download] = await Promise.all([page.waitForEvent('download'), pdfRow.getByRole('link', { name: 'Download' }).click()]);
  expect(download.suggestedFilename()).toBe('results.pdf');
  const downloaded = await download.createReadStream();
  const chunks: Buffer[] = [];
  for await (const chunk of downloaded) chunks.push(chunk as Buffer);
  expect(Buffer.concat(chunks).equals(PDF)).toBe(true);

  const ccdaRow = page.getByRole('row').filter({ hasText: 'ccda.xml' });
  expect(await ccdaRow.textContent()).toContain('C-CDA/CDA document (XML)');
  await ccdaRow.getByRole('button', { name: 'Add to record' }).click();
  // A clinical document goes on to the review of its items; this one holds none, and is kept as a document.
  await page.getByRole('heading', { level: 1, name: 'Riverside Clinic: Continuity of Care Document' }).waitFor();
  expect(await page.locator('main').textContent()).toContain('It is kept in the record as a document.');
  await page.goBack();
  await page.reload();
  expect(await page.getByRole('row').filter({ hasText: 'ccda.xml' }).textContent()).toContain('In the record');
  expect(await page.getByRole('row').filter({ hasText: 'ccda.xml' }).getByRole('button', { name: 'Add to record' }).count()).toBe(0);

  // Read ones go below unread ones.
  const after = await inboxRows(page);
  expect(after[0]).toContain('Discharge summary UNREAD');
  expect(after[1]).toContain('Lab results');
  expect(after[1]).not.toContain('UNREAD');

  // The record page and its history say what happened, in words.
  await page.goto(`${server.issuer}/records/${alex.recordId}`);
  expect(await page.locator('main').textContent()).toContain('ccda.xml · from Riverside Clinic');
  await page.goto(`${server.issuer}/records/${alex.recordId}/history`);
  const history = (await page.locator('main').textContent())?.replace(/\s+/g, ' ') ?? '';
  expect(history).toContain("Riverside Clinic sent you 'Lab results' with 2 attachments");
  expect(history).toContain("Riverside Clinic sent you 'Discharge summary' with 1 attachment");
  expect(history).toContain("Alex Morgan added ccda.xml from the message 'Lab results' to this record as a document");

  // An app Alex authorizes reads the C-CDA at /fhir/DocumentReference.
  const viewer = await registerTestApp(server, {
    client_name: 'Document Viewer',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [{ scope: 'patient/DocumentReference.rs', required: true, reason: 'Show your documents' }],
  });
  const authorization = await startAuthorization(viewer, { scope: 'openid patient/DocumentReference.rs' });
  await page.goto(authorization.url.toString());
  const tokens = await exchangeCode(viewer, authorization, await callbackAfter(page, () => page.getByRole('button', { name: 'Allow' }).click()));
  expect(tokens.patient).toBe(alex.recordId);
  const res = await oidc.fetchProtectedResource(
    viewer.config,
    tokens.access_token,
    new URL(`${server.issuer}/fhir/DocumentReference?type=${encodeURIComponent('http://loinc.org|34133-9')}`),
    'GET',
  );
  expect(res.status).toBe(200);
  const bundle = (await res.json()) as { total: number; entry?: { resource: Record<string, any> }[] };
  const documents = (bundle.entry ?? []).map((entry) => entry.resource);
  const ccda = documents.find((document) => document.content?.[0]?.attachment?.title === 'ccda.xml');
  expect(ccda).toBeDefined();
  expect(ccda).toMatchObject({
    resourceType: 'DocumentReference',
    status: 'current',
    subject: { reference: `Patient/${alex.recordId}` },
    type: { coding: [{ system: 'http://loinc.org', code: '34133-9', display: 'Summarization of Episode Note' }], text: 'Clinical document (C-CDA)' },
    description: 'ccda.xml · from Riverside Clinic',
    author: [{ display: 'Riverside Clinic' }],
    content: [{ attachment: { contentType: 'application/xml', title: 'ccda.xml', size: CCDA.length } }],
  });
  expect(Buffer.from(String(ccda?.content[0].attachment.data), 'base64').equals(CCDA)).toBe(true);
  console.log(
    `inbox: 2 messages (API, SMTP); C-CDA filed and read back by an app: ${CCDA.length} bytes, ${bundle.total} document(s) at /fhir/DocumentReference`,
  );
});

test('two people exchange messages through the pages; refusals show above the form; only custodians see an inbox', async () => {
  const [sam, jo] = await Promise.all([register('Sam Lee'), register('Jo Park')]);

  // Sam writes to Jo, with a text file.
  await sam.page.goto(`${server.issuer}/inbox`);
  await send(sam.page, {
    to: jo.address,
    subject: 'Dinner Friday?',
    text: 'Are you free on Friday?\nHere is my allergy list.',
    files: [{ name: 'allergies.txt', mimeType: 'text/plain', buffer: Buffer.from('Peanuts\nPenicillin\n') }],
  });
  await sam.page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor();

  // Jo reads it and writes back to the address it came from.
  const rows = await inboxRows(jo.page);
  expect(rows).toEqual([expect.stringMatching(new RegExp(`^Sam Lee A CAREVAULT MEMBER ${sam.address.replace(/\./g, '\\.')} Dinner Friday\\? UNREAD .* 1$`))]);
  await jo.page.getByRole('link', { name: 'Dinner Friday?' }).click();
  expect(await jo.page.locator('pre.message-text').textContent()).toBe('Are you free on Friday?\nHere is my allergy list.');
  expect(await sender(jo.page)).toBe(`Sam Lee A CAREVAULT MEMBER ${sam.address}`);
  expect(await jo.page.getByRole('row').filter({ hasText: 'allergies.txt' }).textContent()).toContain('plain text');
  // Reply: To and Subject are filled in, the cursor is in Message.
  await jo.page.getByRole('link', { name: 'Reply', exact: true }).click();
  expect(await jo.page.getByLabel('To', { exact: true }).inputValue()).toBe(sam.address);
  expect(await jo.page.getByLabel('Subject', { exact: true }).inputValue()).toBe('Re: Dinner Friday?');
  await jo.page.getByLabel('Message', { exact: true }).fill('Yes! See you at 7.');
  await jo.page.getByRole('button', { name: 'Send' }).click();
  await jo.page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor();
  await jo.page.getByRole('link', { name: 'Sent messages' }).click();
  expect((await jo.page.getByRole('row').filter({ hasText: 'Re: Dinner Friday?' }).textContent())?.replace(/\s+/g, ' ')).toContain(sam.address);
  const samRows = await inboxRows(sam.page);
  expect(samRows).toEqual([expect.stringMatching(/^Jo Park A CAREVAULT MEMBER jo\.park@direct\.localhost Re: Dinner Friday\? UNREAD .* 0$/)]);

  // A wrong address and a refused file are shown above the form, with what was typed kept.
  await send(sam.page, { to: 'nobody@direct.localhost', subject: 'Lost', text: 'Hello?' });
  const alert = sam.page.getByRole('alert');
  expect(await alert.textContent()).toContain('There is no Direct address nobody@direct.localhost at carevault: check the address. Nothing was sent.');
  expect(await sam.page.getByLabel('Subject', { exact: true }).inputValue()).toBe('Lost');
  expect(await sam.page.getByLabel('Message', { exact: true }).inputValue()).toBe('Hello?');
  await send(sam.page, { to: jo.address, subject: 'Photo', text: 'Look', files: [{ name: 'cat.gif', mimeType: 'image/gif', buffer: GIF }] });
  expect(await sam.page.getByRole('alert').textContent()).toContain('The attachment "cat.gif" is of type image/gif, which carevault does not accept');
  expect(await inboxRows(jo.page)).toHaveLength(1);

  // Each side's history says who wrote to whom.
  await sam.page.goto(`${server.issuer}/records/${sam.recordId}/history`);
  const samHistory = (await sam.page.locator('main').textContent())?.replace(/\s+/g, ' ') ?? '';
  expect(samHistory).toContain(`Sam Lee sent 'Dinner Friday?' to ${jo.address} with 1 attachment`);
  expect(samHistory).toContain(`Jo Park, a carevault member (${jo.address}), sent you 'Re: Dinner Friday?'`);

  // Jo deletes Sam's message: asked first, then undone, then deleted again.
  await jo.page.goto(`${server.issuer}/inbox`);
  await jo.page.getByRole('link', { name: 'Dinner Friday?' }).click();
  await jo.page.getByRole('link', { name: 'Delete message' }).click();
  expect((await jo.page.locator('main').textContent())?.replace(/\s+/g, ' ')).toContain("'Dinner Friday?' from Sam Lee");
  await jo.page.getByRole('button', { name: 'Delete message' }).click();
  await jo.page.getByRole('status').filter({ hasText: "Deleted 'Dinner Friday?' from Sam Lee." }).waitFor();
  expect(await jo.page.locator('table.inbox').count()).toBe(0);
  await jo.page.getByRole('button', { name: 'Undo' }).click();
  await jo.page.getByRole('status').filter({ hasText: 'The message is back in the inbox.' }).waitFor();
  expect(await jo.page.locator('pre.message-text').textContent()).toBe('Are you free on Friday?\nHere is my allergy list.');
  await jo.page.getByRole('link', { name: 'Delete message' }).click();
  await jo.page.getByRole('button', { name: 'Delete message' }).click();
  await jo.page.getByRole('status').filter({ hasText: "Deleted 'Dinner Friday?' from Sam Lee." }).waitFor();
  expect(await jo.page.locator('table.inbox').count()).toBe(0);
  await jo.page.goto(`${server.issuer}/records/${jo.recordId}/history`);
  expect((await jo.page.locator('main').textContent())?.replace(/\s+/g, ' ')).toContain("Jo Park deleted the message 'Dinner Friday?' from Sam Lee");

  // Sam cannot open Jo's inbox, nor a message in it: it does not exist for Sam.
  const other = await sam.page.goto(`${server.issuer}/inbox/${jo.recordId}`);
  expect(other?.status()).toBe(404);
  const [joMessage] = await server.db.knex('direct_messages').where({ record_id: sam.recordId }).select('id');
  const foreign = await jo.page.goto(`${server.issuer}/inbox/${sam.recordId}/messages/${String(joMessage?.id)}`);
  expect(foreign?.status()).toBe(404);
  expect(foreign?.headers()['cache-control']).toBe('no-store');
});

test('a subject, text and file name carrying HTML are shown as text: nothing runs, no links', async () => {
  const kim = await register('Kim Test');
  const subject = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';
  const text = 'Click <a href="javascript:window.__xss = 3">here</a> or https://evil.example/phish\n<img src=x onerror="window.__xss = 4">';
  const filename = '<img src=x onerror="window.__xss = 5">.pdf';
  const sent = await postMessage(server, token, { to: kim.address, subject, text, attachments: [attachment(filename, 'application/pdf', PDF)] });
  expect(sent.status).toBe(201);
  // Mail whose only body is HTML: its text is kept, never its markup.
  await smtpTransport(smtpPort, clinic).sendMail({
    from: 'x@riverside.example',
    to: kim.address,
    subject: 'HTML only',
    html: '<p>Hello <b>Kim</b></p><script>window.__xss = 6</script><a href="https://evil.example">link</a>',
  });

  const { page } = kim;
  await page.goto(`${server.issuer}/inbox`);
  expect(await page.locator('table.inbox').textContent()).toContain(subject);
  await page.getByRole('link', { name: subject }).click();
  await page.getByRole('heading', { level: 1 }).waitFor();
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(subject);
  expect(await page.locator('pre.message-text').textContent()).toBe(text);
  expect(await page.locator('pre.message-text a').count()).toBe(0);
  expect(await page.locator('main img, main script').count()).toBe(0);
  expect(await page.getByRole('row').filter({ hasText: 'onerror' }).locator('td').first().textContent()).toBe(filename);

  await page.goto(`${server.issuer}/inbox`);
  await page.getByRole('link', { name: 'HTML only' }).click();
  const body = (await page.locator('pre.message-text').textContent()) ?? '';
  expect(body).toContain('Hello KIM'.replace('KIM', 'Kim'));
  expect(body).not.toContain('<');
  expect(await page.locator('pre.message-text a, main script').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
});

test('who a message is from: a registered app, what its mail claims (not verified) and a carevault member are told apart', async () => {
  const robin = await register('Robin Reader');
  // A person may call their record anything, a clinic's name too.
  const impostor = await register('Mayo Clinic Laboratory');
  const mayo = await registerClinic(server, 'Mayo Clinic Laboratory');
  await smtpTransport(smtpPort, mayo).sendMail({ from: 'results@mayo.example', to: robin.address, subject: 'From the lab app', text: 'Results attached.' });
  await impostor.page.goto(`${server.issuer}/inbox`);
  await send(impostor.page, { to: robin.address, subject: 'From the member', text: 'Your results: call me.' });
  await impostor.page.getByRole('status').filter({ hasText: 'Your message was sent.' }).waitFor();

  await robin.page.goto(`${server.issuer}/inbox`);
  const fromCell = async (subject: string) =>
    ((await robin.page.getByRole('row').filter({ hasText: subject }).locator('td').first().innerText()) ?? '').replace(/\s+/g, ' ').trim();
  const app = await fromCell('From the lab app');
  const member = await fromCell('From the member');
  expect(app).toBe('Mayo Clinic Laboratory REGISTERED APP says it is from results@mayo.example, not verified');
  expect(member).toBe(`Mayo Clinic Laboratory A CAREVAULT MEMBER ${impostor.address}`);

  // The message page says the same.
  await robin.page.getByRole('link', { name: 'From the member' }).click();
  expect(await sender(robin.page)).toBe(`Mayo Clinic Laboratory A CAREVAULT MEMBER ${impostor.address}`);
  await robin.page.goto(`${server.issuer}/inbox`);
  await robin.page.getByRole('link', { name: 'From the lab app' }).click();
  expect(await sender(robin.page)).toBe('Mayo Clinic Laboratory REGISTERED APP says it is from results@mayo.example, not verified');

  // So does the record's history.
  await robin.page.goto(`${server.issuer}/records/${robin.recordId}/history`);
  const history = (await robin.page.locator('main').textContent())?.replace(/\s+/g, ' ') ?? '';
  expect(history).toContain(`Mayo Clinic Laboratory, a carevault member (${impostor.address}), sent you 'From the member'`);
  expect(history).toContain("Mayo Clinic Laboratory sent you 'From the lab app'");
});
