/**
 * DOPU test helpers: a clinic app that drops off packages with openid-client's client-credentials
 * grant, a sample package (an Observation, a Condition and a DocumentReference carrying a small
 * PDF), and a person who picks packages up through the pages at the HTTP level.
 */
import * as oidc from 'openid-client';
import { Browser, textOf, type PageResponse } from './browser';
import { newPerson, registerTestApp, type TestApp } from './app';
import { recordIdNamed, type TestServer } from './server';
import { createAccountThrough } from './forms';

export const ANSWER = 'Blue Whale';
export const QUESTION = 'What is the name of the toy you brought to the clinic?';

/** Strings that appear only inside the package's resources: a dump must never show them. */
export const MARKERS = {
  note: 'Zebrafinch-note-4417: weigh again in two weeks',
  condition: 'Quokka-syndrome-8821',
  pdfText: 'Narwhal discharge letter 3392',
};

/** A one-page PDF whose text is `text`. */
export function smallPdf(text: string): Buffer {
  const stream = `BT /F1 12 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(body.length);
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

export const PDF = smallPdf(MARKERS.pdfText);

/** The clinic's resources, about the clinic's own Patient/riverside-77, referring to each other. */
export function sampleResources() {
  return [
    {
      resourceType: 'Observation',
      id: 'weight-1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
      subject: { reference: 'Patient/riverside-77', display: 'M. Avery' },
      effectiveDateTime: '2026-01-02T09:30:00Z',
      valueQuantity: { value: 72, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      note: [{ text: MARKERS.note }],
    },
    {
      resourceType: 'Condition',
      id: 'condition-1',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      code: { text: MARKERS.condition },
      subject: { reference: 'Patient/riverside-77' },
      recordedDate: '2026-01-02',
      evidence: [{ detail: [{ reference: 'Observation/weight-1' }] }],
    },
    {
      resourceType: 'DocumentReference',
      status: 'current',
      type: { text: 'Discharge letter' },
      subject: { reference: 'Patient/riverside-77' },
      date: '2026-01-02T10:00:00Z',
      content: [{ attachment: { contentType: 'application/pdf', title: 'discharge-letter.pdf', data: PDF.toString('base64') } }],
      context: { related: [{ reference: 'Observation/weight-1' }, { reference: 'Condition/condition-1' }] },
    },
  ];
}

export type Dropper = TestApp & {
  token: string;
  /** `fetch` on carevault with the app's client-credentials token. */
  call(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  dropOff(overrides?: Record<string, unknown>): Promise<{ id: string; pickup_code: string; pickup_url: string; expires_at: string }>;
};

/** A confidential app with the `dopu` capability, holding a client-credentials token. */
export async function clinicApp(server: TestServer, name = 'Riverside Clinic', capabilities = ['dopu']): Promise<Dropper> {
  const app = await registerTestApp(server, { client_name: name, token_endpoint_auth_method: 'client_secret_basic', capabilities });
  const token = (await oidc.clientCredentialsGrant(app.config, { scope: capabilities.join(' ') })).access_token;
  const call: Dropper['call'] = async (path, init = {}) => {
    const res = await fetch(`${server.issuer}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body, headers: res.headers };
  };
  return {
    ...app,
    token,
    call,
    async dropOff(overrides = {}) {
      const res = await call('/api/dopu/packages', {
        body: { friendly_name: 'Results from your visit', question: QUESTION, answer: ANSWER, resources: sampleResources(), ...overrides },
      });
      if (res.status !== 201) throw new Error(`drop-off refused: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
  };
}

/** A person registered through the pages, signed in in `browser`. */
export async function registeredPerson(server: TestServer, name: string) {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await createAccountThrough(browser, page, person);
  if (!textOf(page.html).includes(`Hello, ${name}`)) throw new Error(`registration failed: ${textOf(page.html).slice(0, 300)}`);
  return { person, browser };
}

export async function addChild(server: TestServer, browser: Browser, name: string): Promise<string> {
  const page = await browser.visit('/records');
  await browser.submit(page, { name, birth_date: '2020-05-17', relationship: 'child' }, '/records');
  return (await recordIdNamed(server, name)) ?? '';
}

/** Enters the code on /pickup (signed in: the question page comes next). */
export async function enterCode(browser: Browser, code: string): Promise<PageResponse> {
  const page = await browser.visit('/pickup');
  return browser.submit(page, { code }, '/pickup');
}

/** Answers the question on the page `question`. */
export function answer(browser: Browser, question: PageResponse, text: string): Promise<PageResponse> {
  return browser.submit(question, { answer: text }, '/pickup/answer');
}

/** Code, answer, and the review page (choosing `record` when asked). */
export async function reachReview(browser: Browser, code: string, text = ANSWER, record?: string): Promise<PageResponse> {
  let page = await answer(browser, await enterCode(browser, code), text);
  if (page.html.includes('action="/pickup/record"')) page = await browser.submit(page, record ? { record } : {}, '/pickup/record');
  return page;
}

/** Every row of every table in the public schema as text, as `pg_dump` would reveal them. */
export async function dumpEverything(server: TestServer): Promise<{ tables: number; rows: number; text: string }> {
  const { rows: tables } = (await server.db.knex.raw(
    `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  )) as {
    rows: { table_name: string }[];
  };
  let text = '';
  let rows = 0;
  for (const { table_name: table } of tables) {
    const { rows: found } = (await server.db.knex.raw(`select t::text as row from public.${JSON.stringify(table)} as t`)) as { rows: { row: string }[] };
    rows += found.length;
    text += `${table}\n${found.map((row) => row.row).join('\n')}\n`;
  }
  return { tables: tables.length, rows, text };
}
