/**
 * FHIR search by POST and content negotiation: `POST /fhir/<Type>/_search` with a form
 * body answers as the GET does — same criteria, same paging — driven by fhir-kit-client's
 * postSearch as a real client; XML asked for by `_format` or Accept is 406 with an
 * OperationOutcome instead of JSON nobody asked for; every JSON spelling of `_format` works and
 * is not taken for an unknown search parameter. https://hl7.org/fhir/R4/search.html
 */
import { Client } from 'fhir-kit-client';
import { CALLBACK, authorizeInBrowser, exchangeCode, registerTestApp, startAuthorization } from '../support/app';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let who: SignedUp;
let token: string;
let fhirBase: string;

type Bundle = { resourceType: string; type: string; total: number; entry?: { resource: { id: string } }[]; link: { relation: string; url: string }[] };

const weight = (kg: number, day: number) => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  subject: { reference: `Patient/${who.record}` },
  effectiveDateTime: `2026-03-${String(day).padStart(2, '0')}T08:00:00Z`,
  valueQuantity: { value: kg, unit: 'kg' },
});

beforeAll(async () => {
  server = await startTestServer();
  fhirBase = `${server.issuer}/fhir`;
  who = await signedUpPerson(server, 'Sally Search');
  const app = await registerTestApp(server, {
    client_name: 'Search Party',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [{ scope: 'patient/Observation.cruds', required: true, reason: 'Chart your weight' }],
  });
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.cruds' });
  const back = await authorizeInBrowser(who.browser, authorization.url, who.person);
  token = (await exchangeCode(app, authorization, back.location ?? '')).access_token;
  // Five weights, and a blood pressure that no weight search should find.
  for (const [index, kg] of [70, 70.4, 70.9, 71.2, 71.5].entries()) {
    const res = await fhir('POST', 'Observation', JSON.stringify(weight(kg, index + 1)), { 'content-type': 'application/fhir+json' });
    expect(res.status).toBe(201);
  }
  const pressure = { ...weight(0, 9), code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] }, valueQuantity: undefined };
  expect((await fhir('POST', 'Observation', JSON.stringify(pressure), { 'content-type': 'application/fhir+json' })).status).toBe(201);
});

afterAll(async () => {
  await server?.stop();
});

function fhir(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return fetch(`${fhirBase}/${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body });
}

function postForm(path: string, form: string, headers: Record<string, string> = {}) {
  return fhir('POST', path, form, { 'content-type': 'application/x-www-form-urlencoded', ...headers });
}

const idsOf = (bundle: Bundle) => (bundle.entry ?? []).map((entry) => entry.resource.id);

test('fhir-kit-client searches by POST to _search and pages through next links: the same as by GET', async () => {
  const client = new Client({ baseUrl: fhirBase, bearerToken: token });
  const searchParams = { code: 'http://loinc.org|29463-7', date: 'ge2026-03-02', _count: '2' };
  const byPost = (await client.search({ resourceType: 'Observation', searchParams, options: { postSearch: true } })) as Bundle;
  const byGet = (await client.search({ resourceType: 'Observation', searchParams })) as Bundle;
  expect(byPost).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 4 });
  expect(idsOf(byPost)).toEqual(idsOf(byGet));
  expect(byPost.link).toEqual(byGet.link);

  const seen = [...idsOf(byPost)];
  let page: Bundle | undefined = byPost;
  for (let hops = 0; hops < 5 && page; hops += 1) {
    page = (await client.nextPage({ bundle: page })) as Bundle | undefined;
    if (page) seen.push(...idsOf(page));
  }
  expect(seen).toHaveLength(4);
  expect(new Set(seen).size).toBe(4);
  process.stdout.write(`POST _search: ${byPost.total} matches over ${Math.ceil(byPost.total / 2)} pages, same ids as GET\n`);
});

test('parameters in the URL and in the form count together; strict handling applies to the form too', async () => {
  const both = await postForm('Observation/_search?code=http://loinc.org|29463-7', 'date=le2026-03-02&_count=10');
  expect(both.status).toBe(200);
  expect(((await both.json()) as Bundle).total).toBe(2);
  // The same parameter twice is AND, as in a query string.
  const twice = await postForm('Observation/_search?date=ge2026-03-02', 'date=le2026-03-03');
  expect(((await twice.json()) as Bundle).total).toBe(2);

  const unknown = await postForm('Observation/_search', 'colour=red', { prefer: 'handling=strict' });
  expect(unknown.status).toBe(400);
  expect(await unknown.json()).toMatchObject({
    resourceType: 'OperationOutcome',
    issue: [{ diagnostics: 'carevault does not support the search parameter colour on Observation.' }],
  });
  const lenient = await postForm('Observation/_search', 'colour=red&_count=1');
  expect(((await lenient.json()) as Bundle).total).toBe(6);
});

test('POST _search refusals: not a form, too large, no token, no search permission, an unknown type', async () => {
  const figures: string[] = [];
  const expectOutcome = async (res: Response, status: number, diagnostics: string | RegExp, label: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    const outcome = (await res.json()) as { resourceType: string; issue: { diagnostics: string }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.diagnostics).toMatch(diagnostics);
    figures.push(`${label} ${status}`);
  };
  await expectOutcome(
    await fhir('POST', 'Observation/_search', '{"code":"x"}', { 'content-type': 'application/json' }),
    415,
    'Send search parameters as a form, with Content-Type application/x-www-form-urlencoded.',
    'JSON body',
  );
  await expectOutcome(await postForm('Observation/_search', `code=${'x'.repeat(17 * 1024)}`), 413, 'The search form is larger than 16 KB.', '17 KB form');
  await expectOutcome(
    await postForm('Observation/_search', Array.from({ length: 201 }, (_, index) => `p${index}=1`).join('&')),
    413,
    'The search form has more than 200 fields.',
    '201 fields',
  );
  await expectOutcome(await postForm('Observation/_search', 'date=yesterday'), 400, /is not a FHIR date/, 'bad date');
  const anonymous = await fetch(`${fhirBase}/Observation/_search`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'code=x',
  });
  expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
  await expectOutcome(anonymous, 401, /token/i, 'no token');
  await expectOutcome(await postForm('Condition/_search', 'code=x'), 403, /.+/, 'no Condition scope');
  await expectOutcome(await postForm('Spaceship/_search', 'code=x'), 404, 'carevault does not hold Spaceship resources.', 'unknown type');
  process.stdout.write(`POST _search refusals: ${figures.join(', ')}\n`);
});

test('XML by _format or Accept is 406 with an OperationOutcome; every JSON spelling is served', async () => {
  const refused: [string, Record<string, string>][] = [
    ['Observation?_format=xml', {}],
    ['Observation?_format=application/fhir%2Bxml', {}],
    ['Observation?_format=text/xml', {}],
    ['Observation?_format=ttl', {}],
    ['Observation?_format=json&_format=xml', {}],
    ['Observation?_format=application/fhir%2Bjson;fhirVersion=3.0', {}],
    ['Observation', { accept: 'application/fhir+xml' }],
    ['Observation', { accept: 'application/xml, text/xml;q=0.9' }],
    ['Observation', { accept: 'text/html' }],
    ['Observation', { accept: 'application/fhir+json;fhirVersion=3.0' }],
    ['Observation', { accept: 'application/fhir+json;q=0, application/fhir+xml' }],
    [`Observation/${'a'.repeat(10)}`, { accept: 'application/fhir+xml' }],
    ['metadata?_format=xml', {}],
    ['metadata', { accept: 'application/fhir+xml' }],
  ];
  for (const [path, headers] of refused) {
    const res = await fhir('GET', path, undefined, headers);
    expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 406 });
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(await res.json()).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ code: 'not-supported', diagnostics: expect.stringContaining('JSON') }],
    });
  }
  const posted = await postForm('Observation/_search', '_format=xml');
  expect(posted.status).toBe(406);

  const served: [string, Record<string, string>][] = [
    ['Observation?_format=json', {}],
    ['Observation?_format=application/json', {}],
    ['Observation?_format=application/fhir%2Bjson', {}],
    ['Observation?_format=application/json%2Bfhir', {}],
    ['Observation?_format=application/fhir%2Bjson;fhirVersion=4.0', {}],
    ['Observation', { accept: '' }],
    ['Observation', { accept: 'application/fhir+json; fhirVersion=4.0' }],
    ['Observation', { accept: 'application/json' }],
    ['Observation', { accept: '*/*' }],
    ['Observation', { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }],
    ['Observation', { accept: 'application/fhir+xml;q=0.9, application/fhir+json;q=0.1' }],
  ];
  for (const [path, headers] of served) {
    const res = await fhir('GET', path, undefined, { prefer: 'handling=strict', ...headers });
    expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 200 });
    expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    // _format is not a search criterion: it is left out of the paging links.
    expect(((await res.json()) as Bundle).link[0]?.url).not.toContain('_format');
  }
  expect((await postForm('Observation/_search', '_format=json', { prefer: 'handling=strict' })).status).toBe(200);
  process.stdout.write(`formats: ${refused.length + 1} XML/other requests refused with 406, ${served.length + 1} JSON requests served\n`);
});

test('the CapabilityStatement says how to search', async () => {
  const statement = (await (await fhir('GET', 'metadata')).json()) as {
    format: string[];
    rest: { resource: { type: string; interaction: { code: string; documentation?: string }[] }[] }[];
  };
  expect(statement.format).toEqual(['application/fhir+json', 'json']);
  const observation = statement.rest[0]?.resource.find((resource) => resource.type === 'Observation');
  expect(observation?.interaction.find((interaction) => interaction.code === 'search-type')?.documentation).toContain('POST [base]/[type]/_search');
});
