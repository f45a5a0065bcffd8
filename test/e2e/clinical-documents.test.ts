/**
 * Clinical documents reconciled into a record, on a real server: a CCD sent over Direct
 * (`POST /api/direct/messages`) is added to the record from the inbox, reviewed in words and its
 * items added with one Provenance; an app finds each item with fhir-kit-client by code and system,
 * with its Provenance (`_revinclude=Provenance:target`, only with a Provenance read rule); the same
 * document reconciled twice adds nothing; a DOPU package carrying a CCD is reviewed and accepted;
 * a discharge summary is imported; an XXE document and a malformed one are refused with nothing
 * written; the review page passes axe-core at 1280 and 390 px in Chromium.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'fhir-kit-client';
import { CALLBACK, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { pageProblems } from '../support/axe';
import { textOf, type Browser, type PageResponse } from '../support/browser';
import { launchChromium, type Chromium } from '../support/chromium';
import { attachment, directToken, postMessage, registerClinic, signUp, type Member } from '../support/direct';
import { ANSWER, QUESTION, clinicApp, reachReview } from '../support/dopu';
import { registerInChromium } from '../support/forms';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';

type Json = Record<string, any>;

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/ccda', name));
const CCD = fixture('ccd.xml');

let server: TestServer;
let directToken_: string;

beforeAll(async () => {
  server = await startTestServer({ DIRECT_DOMAIN: 'direct.carevault.test' });
  directToken_ = await directToken(await registerClinic(server, 'Lakeside Family Clinic'));
});

afterAll(async () => {
  await server?.stop();
});

/** How many resources of each type the record holds (as an operator would count them). */
async function countsOf(recordId: string): Promise<Record<string, number>> {
  const rows = (await server.db.knex('resources').where({ record_id: recordId }).groupBy('type').select('type').count('* as count')) as {
    type: string;
    count: string;
  }[];
  return Object.fromEntries(rows.map((row) => [row.type, Number(row.count)]));
}

/** Sends the CCD to `member` over Direct; returns the message's page. */
async function sendCcd(member: Member, subject: string): Promise<PageResponse> {
  const sent = await postMessage(server, directToken_, {
    to: member.address,
    subject,
    text: 'Your visit summary.',
    attachments: [attachment('visit-summary.xml', 'application/xml', CCD)],
  });
  expect(sent.status).toBe(201);
  return member.browser.visit(`/inbox/${member.recordId}/messages/${String(sent.json.id)}`);
}

/** "Add to record" on the message's attachment: the review of its items. */
function addToRecord(browser: Browser, message: PageResponse): Promise<PageResponse> {
  return browser.submit(message, {}, '/file');
}

/** An app the person authorizes with `scopes` (each a required rule), and its fhir-kit-client. */
async function appClient(member: Member, name: string, scopes: string[]): Promise<Client> {
  const app = await registerTestApp(server, {
    client_name: name,
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: scopes.map((scope) => ({ scope, required: true, reason: 'Read your record' })),
  });
  const authorization = await startAuthorization(app, { scope: `openid ${scopes.join(' ')}` });
  const back = await authorizeInBrowser(member.browser, authorization.url, member.person);
  const { access_token } = await exchangeCode(app, authorization, back.location ?? '');
  return new Client({ baseUrl: `${server.issuer}/fhir`, bearerToken: access_token });
}

/** The import form on the record page, sent as a browser sends a file (multipart). */
async function importFile(
  browser: Browser,
  recordId: string,
  filename: string,
  content: Buffer,
  type = 'application/xml',
): Promise<{ status: number; location: string | undefined; text: string }> {
  const page = await browser.visit(`/records/${recordId}`);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
  const form = new FormData();
  form.append('_csrf', csrf);
  form.append('bundle', new Blob([new Uint8Array(content)], { type }), filename);
  const url = `${server.issuer}/records/${recordId}/import`;
  const res = await fetch(url, { method: 'POST', body: form, headers: { cookie: browser.cookiesFor(url), accept: 'text/html' }, redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location') ?? undefined, text: textOf(await res.text()) };
}

describe('a CCD sent over Direct', () => {
  let robin: Member;
  let review: PageResponse;

  beforeAll(async () => {
    robin = await signUp(server, 'Robin Ashgrove');
  });

  test('Add to record leads to a review in words, each item new, grouped by kind', async () => {
    review = await addToRecord(robin.browser, await sendCcd(robin, 'Visit summary'));
    expect(review.status).toBe(200);
    expect(review.url).toMatch(new RegExp(`/records/${robin.recordId}/documents/[\\w-]+/items$`));
    const words = textOf(review.html);
    expect(words).toContain('Visit summary from Lakeside Family Clinic');
    expect(words).toContain('From Lakeside Family Clinic, dated 2 March 2026');
    for (const heading of ['Problems', 'Medicines', 'Allergies', 'Immunizations', 'Results', 'Vital signs', 'Encounters', 'Procedures']) {
      expect(review.html).toContain(`>${heading}</h2>`);
    }
    expect(words).toContain('Essential hypertension on 15 Jan 2024 new');
    expect(words).toContain('Type 2 diabetes mellitus on 20 Mar 2025 new');
    expect(words).toContain('Glucose [Mass/volume] in Serum or Plasma — 131 mg/dL on 1 Mar 2026 new');
    expect(words).toContain('Office outpatient visit 15 minutes on 2 Mar 2026 new');
    expect(words).toContain('12 items are new.');
    expect(words).not.toContain('already in your record');
  });

  test('Add items writes the new items, the one Provenance and one audit line; the review then finds them in the record', async () => {
    const before = await countsOf(robin.recordId);
    const after = await robin.browser.submit(review, {}, '/items', { follow: false });
    expect(after.status).toBe(303);
    expect(after.location).toMatch(/\/items\?done=added$/);
    const counts = await countsOf(robin.recordId);
    expect({ ...counts, Patient: undefined }).toEqual({
      ...before,
      Patient: undefined,
      Condition: 2,
      MedicationStatement: 1,
      AllergyIntolerance: 1,
      Immunization: 1,
      Observation: 4,
      DiagnosticReport: 1,
      Encounter: 1,
      Procedure: 1,
      Provenance: 1,
    });
    const [provenance] = (await server.db.knex('resources').where({ record_id: robin.recordId, type: 'Provenance' }).select('content')) as { content: Json }[];
    const documentId = /documents\/([\w-]+)\/items/.exec(review.url)?.[1];
    expect(provenance?.content.target).toHaveLength(12);
    expect(provenance?.content.entity).toEqual([
      { role: 'source', what: { reference: `DocumentReference/${documentId ?? ''}`, display: 'Visit summary from Lakeside Family Clinic' } },
    ]);
    expect(provenance?.content.agent[0].who).toEqual({ display: 'Lakeside Family Clinic' });
    expect(provenance?.content.occurredDateTime).toBe('2026-03-02T10:15:00-05:00');

    const again = textOf((await robin.browser.visit(after.location ?? '')).html);
    expect(again).toContain('The new items were added to the record.');
    expect(again).toContain('Everything in this document is already in Robin Ashgrove’s record.');
    expect(again).not.toMatch(/\bnew\b(?! items)/);
    const history = textOf((await robin.browser.visit(`/records/${robin.recordId}/history`)).html);
    expect(history).toContain('Robin Ashgrove added 12 items from Lakeside Family Clinic’s document');
  });

  test('the record page and an item’s page say where it came from', async () => {
    const record = await robin.browser.visit(`/records/${robin.recordId}`);
    expect(textOf(record.html)).toContain('Type 2 diabetes mellitus · from Lakeside Family Clinic’s document of 2 March 2026');
    const link = new RegExp(`href="(/records/${robin.recordId}/items/Immunization/[\\w-]+)"`).exec(record.html)?.[1] ?? '';
    const item = textOf((await robin.browser.visit(link)).html);
    expect(item).toContain('It came from Lakeside Family Clinic’s document of 2 March 2026.');
  });

  test('an app finds each item by code and system, with its Provenance; without a Provenance rule, none comes along', async () => {
    const client = await appClient(robin, 'Chart Reader', ['patient/*.rs']);
    const probes: [string, Record<string, string>][] = [
      ['Condition', { code: 'http://snomed.info/sct|44054006' }],
      ['Condition', { code: 'http://snomed.info/sct|59621000' }],
      ['MedicationStatement', { code: 'http://www.nlm.nih.gov/research/umls/rxnorm|314076' }],
      ['AllergyIntolerance', { code: 'http://www.nlm.nih.gov/research/umls/rxnorm|7980' }],
      ['Immunization', { 'vaccine-code': 'http://hl7.org/fhir/sid/cvx|140' }],
      ['Observation', { code: 'http://loinc.org|2345-7', category: 'laboratory' }],
      ['Observation', { code: 'http://loinc.org|29463-7', category: 'vital-signs' }],
      ['DiagnosticReport', { code: 'http://loinc.org|51990-0' }],
      ['Encounter', { type: 'http://www.ama-assn.org/go/cpt|99213' }],
      ['Procedure', { code: 'http://snomed.info/sct|29303009' }],
    ];
    for (const [resourceType, searchParams] of probes) {
      const bundle = (await client.search({ resourceType, searchParams: { ...searchParams, _revinclude: 'Provenance:target' } })) as Json;
      const matches = bundle.entry.filter((entry: Json) => entry.search.mode === 'match');
      const included = bundle.entry.filter((entry: Json) => entry.search.mode === 'include');
      expect([resourceType, searchParams, matches.length, included.map((entry: Json) => entry.resource.resourceType)]).toEqual([
        resourceType,
        searchParams,
        1,
        ['Provenance'],
      ]);
      const provenance = included[0].resource as Json;
      expect(provenance.target).toContainEqual({ reference: `${resourceType}/${String(matches[0].resource.id)}` });
      expect(provenance.agent[0].who.display).toBe('Lakeside Family Clinic');
    }
    const report = (await client.search({
      resourceType: 'DiagnosticReport',
      searchParams: { code: 'http://loinc.org|51990-0', _include: 'DiagnosticReport:result' },
    })) as Json;
    expect(
      report.entry
        .filter((entry: Json) => entry.search.mode === 'include')
        .map((entry: Json) => entry.resource.code.coding[0].code)
        .sort(),
    ).toEqual(['2345-7', '2823-3']);

    const narrow = await appClient(robin, 'Problem List', ['patient/Condition.rs']);
    const bundle = (await narrow.search({
      resourceType: 'Condition',
      searchParams: { code: 'http://snomed.info/sct|44054006', _revinclude: 'Provenance:target' },
    })) as Json;
    expect(bundle.entry.map((entry: Json) => entry.resource.resourceType)).toEqual(['Condition']);
  });

  test('the same document reconciled twice adds nothing: again on its review, and sent again in another message', async () => {
    const before = await countsOf(robin.recordId);
    // The first review's form sent again (Back, then Add items once more).
    const repeat = await robin.browser.submit(review, {}, '/items', { follow: false });
    expect([repeat.status, repeat.location]).toEqual([303, `${review.url}?done=nothing`]);

    const second = await addToRecord(robin.browser, await sendCcd(robin, 'Visit summary, again'));
    const words = textOf(second.html);
    expect(words).toContain('Everything in this document is already in Robin Ashgrove’s record.');
    expect(words).toContain('Type 2 diabetes mellitus on 20 Mar 2025 already in your record');
    expect(second.html).not.toContain('>Add items</button>');
    // Only the second message's document is new.
    expect(await countsOf(robin.recordId)).toEqual({ ...before, DocumentReference: (before.DocumentReference ?? 0) + 1 });
  });
});

test('a DOPU package carrying a CCD is reviewed, accepted, and its items added once with the app as their source', async () => {
  const clinic = await clinicApp(server, 'Hillside Pediatrics');
  const blair = await signUp(server, 'Blair Okafor');
  const dropped = await clinic.dropOff({
    question: QUESTION,
    answer: ANSWER,
    resources: [
      {
        resourceType: 'DocumentReference',
        status: 'current',
        type: { coding: [{ system: 'http://loinc.org', code: '34133-9' }], text: 'Visit summary' },
        date: '2026-03-02T16:00:00Z',
        content: [{ attachment: { contentType: 'application/xml', title: 'visit-summary.xml', data: CCD.toString('base64') } }],
      },
    ],
  });
  const pickupReview = await reachReview(blair.browser, dropped.pickup_code);
  expect(textOf(pickupReview.html)).toContain('visit-summary.xml (clinical document, whose items you review after Accept');
  const items = await blair.browser.submit(pickupReview, { decision: 'accept' }, '/pickup/finish');
  expect(items.url).toMatch(new RegExp(`/records/${blair.recordId}/documents/[\\w-]+/items$`));
  expect(textOf(items.html)).toContain('From Hillside Pediatrics, dated 2 March 2026');
  expect(textOf(items.html)).toContain('12 items are new.');
  // Five racing clicks of Add items: one adds, the others find everything there.
  const clicks = await Promise.all(Array.from({ length: 5 }, () => blair.browser.submit(items, {}, '/items', { follow: false })));
  expect(clicks.map((click) => click.location?.replace(/^.*\?done=/, '')).sort()).toEqual(['added', 'nothing', 'nothing', 'nothing', 'nothing']);
  const counts = await countsOf(blair.recordId);
  expect([counts.Condition, counts.Observation, counts.Provenance, counts.DocumentReference]).toEqual([2, 4, 1, 1]);
  const [provenance] = (await server.db.knex('resources').where({ record_id: blair.recordId, type: 'Provenance' }).select('content')) as { content: Json }[];
  expect(provenance?.content.agent[0].who.display).toBe('Hillside Pediatrics');
});

describe('Import', () => {
  let casey: Member;
  beforeAll(async () => {
    casey = await signUp(server, 'Casey Lindqvist');
  });

  test('a discharge summary is kept, reviewed and its items added', async () => {
    const imported = await importFile(casey.browser, casey.recordId, 'discharge-summary.xml', fixture('discharge-summary.xml'));
    expect(imported.status).toBe(303);
    const review = await casey.browser.visit(imported.location ?? '');
    const words = textOf(review.html);
    expect(words).toContain('Discharge summary From Riverbend General Hospital, dated 10 February 2026.');
    expect(words).toContain('inpatient encounter on 7 Feb 2026 new');
    expect(words).toContain('Community acquired pneumonia on 7 Feb 2026 new');
    expect(words).toContain('Hypoxemia on 7 Feb 2026 new');
    expect(words).toContain('amoxicillin 500 MG Oral Capsule on 10 Feb 2026 new');
    await casey.browser.submit(review, {}, '/items');
    const counts = await countsOf(casey.recordId);
    expect([counts.DocumentReference, counts.Condition, counts.MedicationStatement, counts.Encounter, counts.Provenance]).toEqual([1, 2, 1, 1, 1]);
    const [condition] = (await server.db
      .knex('resources')
      .where({ record_id: casey.recordId, type: 'Condition' })
      .whereRaw(`content->'code'->'coding'->0->>'code' = '385093006'`)
      .select('content')) as { content: Json }[];
    expect(condition?.content.code.coding).toEqual([
      { system: 'http://snomed.info/sct', code: '385093006', display: 'Community acquired pneumonia' },
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'J18.9', display: 'Pneumonia, unspecified organism' },
    ]);
    const history = textOf((await casey.browser.visit(`/records/${casey.recordId}/history`)).html);
    expect(history).toContain('Casey Lindqvist imported the clinical document discharge-summary.xml');
  });

  test.each([
    ['xxe.xml', 'The document declares a DTD or entities (<!DOCTYPE or <!ENTITY), which carevault never reads'],
    ['malformed.xml', 'The document is not well-formed XML (line'],
  ])('%s is refused in words, with nothing written', async (name, words) => {
    const before = await countsOf(casey.recordId);
    const refused = await importFile(casey.browser, casey.recordId, name, fixture(name));
    expect(refused.status).toBe(400);
    expect(refused.text).toContain(words);
    expect(await countsOf(casey.recordId)).toEqual(before);
  });

  test('over Direct the XXE document is refused at the door', async () => {
    const sent = await postMessage(server, directToken_, {
      to: casey.address,
      subject: 'Entities',
      text: '',
      attachments: [attachment('xxe.xml', 'application/xml', fixture('xxe.xml'))],
    });
    expect(sent.status).toBe(400);
  });
});

describe('in Chromium', () => {
  let chromium: Chromium;
  beforeAll(async () => {
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
  });

  test('the review page passes axe-core at 1280 and 390 px, and Add items works from it', async () => {
    const person = newPerson('Dana Reyes');
    const { page } = await chromium.newPerson({ timeoutMs: 30_000 });
    await registerInChromium(page, server.issuer, person);
    const recordId = await ownRecordOf(server, person.email);
    await page.goto(`${server.issuer}/inbox`);
    const address = (await page.locator('main p strong').first().textContent()) ?? '';
    const sent = await postMessage(server, directToken_, {
      to: address,
      subject: 'Visit summary',
      text: '',
      attachments: [attachment('visit-summary.xml', 'application/xml', CCD)],
    });
    await page.goto(`${server.issuer}/inbox/${recordId}/messages/${String(sent.json.id)}`);
    await page.getByRole('row').filter({ hasText: 'visit-summary.xml' }).getByRole('button', { name: 'Add to record' }).click();
    await page.getByRole('heading', { level: 1, name: 'Visit summary from Lakeside Family Clinic' }).waitFor();
    const problems = await pageProblems(page, 'review, new items');
    await page.getByRole('button', { name: 'Add items', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'The new items were added to the record.' }).waitFor();
    problems.push(...(await pageProblems(page, 'review, all in the record')));
    expect(problems).toEqual([]);
  });
});
