/**
 * A person's whole record through the FHIR API (issue 16), driven by fhir-kit-client as a real
 * app would: versions (vread, history, deletions answering 410), search with _sort, _include,
 * _revinclude, _summary=count and _elements, Patient/$everything, and transaction and batch
 * Bundles. Every Bundle the server returns is checked against FHIR R4 (src/fhir/validation.ts).
 * https://hl7.org/fhir/R4/http.html
 */
import { Client } from 'fhir-kit-client';
import { validateResource } from '../../src/fhir/validation';
import { CALLBACK, authorizeInBrowser, exchangeCode, registerTestApp, startAuthorization } from '../support/app';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

jest.setTimeout(120_000);

type Json = Record<string, any> & { resourceType?: any };
type Resource = Json & { resourceType: string };

let server: TestServer;
let fhirBase: string;
let alex: SignedUp;
let blair: SignedUp;

beforeAll(async () => {
  server = await startTestServer();
  fhirBase = `${server.issuer}/fhir`;
  alex = await signedUpPerson(server, 'Alex Whole');
  blair = await signedUpPerson(server, 'Blair Other');
});

afterAll(async () => {
  await server?.stop();
});

let apps = 0;
/** A token for `who`'s record granting exactly `scopes`, through the code flow. */
async function tokenFor(who: SignedUp, scopes: string[]): Promise<string> {
  apps += 1;
  const app = await registerTestApp(server, {
    client_name: `Record App ${apps}`,
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: scopes.map((scope) => ({ scope, required: true, reason: `Needs ${scope}` })),
  });
  const authorization = await startAuthorization(app, { scope: `openid ${scopes.join(' ')}` });
  const back = await authorizeInBrowser(who.browser, authorization.url, who.person);
  return (await exchangeCode(app, authorization, back.location ?? '')).access_token;
}

function clientOf(token: string): Client {
  return new Client({ baseUrl: fhirBase, bearerToken: token });
}

async function raw(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${fhirBase}/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Json };
}

/** A Bundle the server returned must be valid FHIR R4. */
function expectValidBundle(bundle: unknown): Json {
  const result = validateResource(bundle, 'Bundle');
  expect(result).toEqual({ valid: true });
  return bundle as Json;
}

const loinc = (code: string, display: string) => ({ coding: [{ system: 'http://loinc.org', code, display }], text: display });

function observation(code: string, display: string, value: number, date: string, extra: Json = {}): Resource {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: loinc(code, display),
    effectiveDateTime: date,
    valueQuantity: { value, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
    ...extra,
  };
}

const idsOf = (bundle: Json, mode = 'match'): string[] => (bundle.entry ?? []).filter((e: Json) => (e.search?.mode ?? 'match') === mode).map((e: Json) => e.resource.id);

describe('versions', () => {
  test('vread and history: every version readable, newest first, a deletion answers 410 and stays in history', async () => {
    const token = await tokenFor(alex, ['patient/Observation.cruds']);
    const client = clientOf(token);
    const created = (await client.create({ resourceType: 'Observation', body: observation('2345-7', 'Glucose', 5.1, '2026-01-05T08:00:00Z') })) as Json;
    const v2 = (await client.update({ resourceType: 'Observation', id: created.id, body: { ...created, resourceType: 'Observation', valueQuantity: { ...created.valueQuantity, value: 5.4 } } })) as Json;
    expect(v2.meta.versionId).toBe('2');

    const first = (await client.vread({ resourceType: 'Observation', id: created.id, version: '1' })) as Json;
    expect(first.valueQuantity.value).toBe(5.1);
    expect(first.meta.versionId).toBe('1');
    const second = (await client.vread({ resourceType: 'Observation', id: created.id, version: '2' })) as Json;
    expect(second.valueQuantity.value).toBe(5.4);

    const history = expectValidBundle(await client.history({ resourceType: 'Observation', id: created.id }));
    expect(history).toMatchObject({ resourceType: 'Bundle', type: 'history', total: 2 });
    expect(history.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2', '1']);
    expect(history.entry.map((e: Json) => e.request.method)).toEqual(['PUT', 'POST']);

    await client.delete({ resourceType: 'Observation', id: created.id });
    const gone = await raw(token, 'GET', `Observation/${created.id}`);
    expect(gone.status).toBe(410);
    expect(gone.body.resourceType).toBe('OperationOutcome');
    const afterDelete = expectValidBundle((await raw(token, 'GET', `Observation/${created.id}/_history`)).body);
    expect(afterDelete.total).toBe(3);
    expect(afterDelete.entry[0]).toMatchObject({ request: { method: 'DELETE' } });
    expect(afterDelete.entry[0].resource).toBeUndefined();
    expect(afterDelete.entry[1].resource.valueQuantity.value).toBe(5.4);
    expect((await raw(token, 'GET', `Observation/${created.id}/_history/3`)).status).toBe(410);
    expect((await raw(token, 'GET', `Observation/${created.id}/_history/2`)).status).toBe(200);
    expect((await raw(token, 'GET', `Observation/${created.id}/_history/9`)).status).toBe(404);
    // Deleting again changes nothing.
    expect((await raw(token, 'DELETE', `Observation/${created.id}`)).status).toBe(204);
    expect((await raw(token, 'GET', `Observation/${created.id}/_history`)).body.total).toBe(3);

    // History pages newest first with next links.
    const paged = (await raw(token, 'GET', `Observation/${created.id}/_history?_count=2`)).body;
    expect(paged.entry).toHaveLength(2);
    const next = (await client.nextPage({ bundle: paged as never })) as Json;
    expect(next.entry.map((e: Json) => e.response.lastModified)).toHaveLength(1);
    expect(next.entry[0].resource.meta.versionId).toBe('1');

    // Another record's versions do not exist for this token.
    const theirs = (await clientOf(await tokenFor(blair, ['patient/Observation.cruds'])).create({
      resourceType: 'Observation',
      body: observation('2345-7', 'Glucose', 6, '2026-01-05T08:00:00Z'),
    })) as Json;
    expect((await raw(token, 'GET', `Observation/${theirs.id}/_history/1`)).status).toBe(404);
    expect((await raw(token, 'GET', `Observation/${theirs.id}/_history`)).status).toBe(404);
  });

  test('a token without read gets no versions', async () => {
    const token = await tokenFor(alex, ['patient/Observation.c']);
    const made = await raw(token, 'POST', 'Observation', observation('2345-7', 'Glucose', 5, '2026-01-06'));
    expect(made.status).toBe(201);
    expect((await raw(token, 'GET', `Observation/${made.body.id}/_history/1`)).status).toBe(403);
    expect((await raw(token, 'GET', `Observation/${made.body.id}/_history`)).status).toBe(403);
  });
});
