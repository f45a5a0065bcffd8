/**
 * A person's whole record through the FHIR API, driven by fhir-kit-client as a real
 * app would: versions (vread, history, deletions answering 410), search with _sort, _include,
 * _revinclude, _summary=count and _elements, Patient/$everything, and transaction and batch
 * Bundles (R4's processing order, conditional creates). Every Bundle the server returns is checked
 * against FHIR R4 (src/fhir/validation.ts), resources trimmed by `_elements` included.
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
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Json };
}

const isSubsetted = (resource: Json | undefined) => Boolean(resource?.meta?.tag?.some((tag: Json) => tag.code === 'SUBSETTED'));

/**
 * A Bundle the server returned must be valid FHIR R4, whole: resources trimmed by `_elements` keep
 * the elements their type requires (search.html#elements: servers SHOULD return them).
 */
function expectValidBundle(bundle: unknown): Json {
  expect(validateResource(bundle, 'Bundle')).toEqual({ valid: true });
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

const idsOf = (bundle: Json, mode = 'match'): string[] =>
  (bundle.entry ?? []).filter((e: Json) => (e.search?.mode ?? 'match') === mode).map((e: Json) => e.resource.id);

describe('versions', () => {
  test('vread and history: every version readable, newest first, a deletion answers 410 and stays in history', async () => {
    const token = await tokenFor(alex, ['patient/Observation.cruds']);
    const client = clientOf(token);
    const created = (await client.create({ resourceType: 'Observation', body: observation('2345-7', 'Glucose', 5.1, '2026-01-05T08:00:00Z') })) as Json;
    const v2 = (await client.update({
      resourceType: 'Observation',
      id: created.id,
      body: { ...created, resourceType: 'Observation', valueQuantity: { ...created.valueQuantity, value: 5.4 } },
    })) as Json;
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
    // A page link past what a version id can be is refused, not a database error.
    expect((await raw(token, 'GET', `Observation/${created.id}/_history?_cursor=99999999999`)).status).toBe(400);
    expect((await raw(token, 'GET', `Observation/${created.id}/_history?_cursor=x`)).status).toBe(400);

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

/** Every entry's resource must also be valid FHIR R4 on its own, SUBSETTED ones too. */
function expectValidEntries(bundle: Json): void {
  for (const entry of bundle.entry ?? []) {
    if (!entry.resource) continue;
    expect(validateResource(entry.resource, entry.resource.resourceType)).toEqual({ valid: true });
  }
}

describe('lab reports, visits and search', () => {
  let token: string;
  let visit: Json;
  let results: Json[];
  let report: Json;
  let blairReport: Json;

  beforeAll(async () => {
    token = await tokenFor(alex, ['patient/*.cruds']);
    const client = clientOf(token);
    visit = (await client.create({
      resourceType: 'Encounter',
      body: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ coding: [{ system: 'http://snomed.info/sct', code: '185349003', display: 'Check-up' }] }],
        period: { start: '2026-04-02T09:00:00Z', end: '2026-04-02T09:30:00Z' },
      },
    })) as Json;
    results = [];
    // Dates deliberately out of creation order, so sorting by date differs from creation order.
    for (const [code, display, value, date] of [
      ['2093-3', 'Cholesterol', 5.2, '2026-04-02T09:10:00Z'],
      ['2571-8', 'Triglycerides', 1.4, '2026-01-15T08:00:00Z'],
      ['2085-9', 'HDL cholesterol', 1.3, '2026-06-20T08:00:00Z'],
    ] as const) {
      results.push(
        (await client.create({
          resourceType: 'Observation',
          body: observation(code, display, value, date, { encounter: { reference: `Encounter/${visit.id}` } }),
        })) as Json,
      );
    }
    report = (await client.create({
      resourceType: 'DiagnosticReport',
      body: {
        resourceType: 'DiagnosticReport',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
        code: loinc('24331-1', 'Lipid panel'),
        encounter: { reference: `Encounter/${visit.id}` },
        effectiveDateTime: '2026-04-02T09:10:00Z',
        result: results.slice(0, 2).map((result) => ({ reference: `Observation/${result.id}` })),
      },
    })) as Json;
    // Blair's report names Alex's results: a reference may say anything, a search never follows it out of its record.
    blairReport = (await clientOf(await tokenFor(blair, ['patient/DiagnosticReport.cruds', 'patient/Observation.rs'])).create({
      resourceType: 'DiagnosticReport',
      body: {
        resourceType: 'DiagnosticReport',
        status: 'final',
        code: loinc('24331-1', 'Lipid panel'),
        result: [{ reference: `Observation/${results[0]?.id}` }],
      },
    })) as Json;
  });

  test('DiagnosticReport and Encounter are searched by code, category, date, status, result, subject, class and type', async () => {
    const client = clientOf(token);
    const find = async (resourceType: string, searchParams: Record<string, string>) => {
      const bundle = expectValidBundle(await client.search({ resourceType, searchParams: { ...searchParams, _count: '100' } }));
      return idsOf(bundle);
    };
    for (const [params, hit] of [
      [{ code: 'http://loinc.org|24331-1' }, true],
      [{ code: 'http://loinc.org|58410-2' }, false],
      [{ category: 'LAB' }, true],
      [{ category: 'RAD' }, false],
      [{ date: '2026-04-02' }, true],
      [{ date: 'lt2026-04-01' }, false],
      [{ status: 'final' }, true],
      [{ status: 'preliminary' }, false],
      [{ result: `Observation/${results[0]?.id}` }, true],
      [{ result: `${results[1]?.id}` }, true],
      [{ result: `Observation/${results[2]?.id}` }, false],
      [{ subject: `Patient/${alex.record}` }, true],
      [{ patient: blair.record }, false],
      [{ encounter: `Encounter/${visit.id}` }, true],
    ] as const) {
      expect([params, (await find('DiagnosticReport', params)).includes(report.id)]).toEqual([params, hit]);
    }
    for (const [params, hit] of [
      [{ class: 'AMB' }, true],
      [{ class: 'IMP' }, false],
      [{ type: 'http://snomed.info/sct|185349003' }, true],
      [{ status: 'finished' }, true],
      [{ status: 'planned' }, false],
      [{ date: 'ge2026-04-02' }, true],
      [{ date: 'gt2026-04-02' }, false],
    ] as const) {
      expect([params, (await find('Encounter', params)).includes(visit.id)]).toEqual([params, hit]);
    }
    expect(await find('Observation', { encounter: `Encounter/${visit.id}` })).toEqual(results.map((result) => result.id));
  });

  test('_sort by date and _lastUpdated, each way, pages stably one at a time', async () => {
    const client = clientOf(token);
    const walk = async (sort: string) => {
      let page = (await client.search({
        resourceType: 'Observation',
        searchParams: { code: 'http://loinc.org|2093-3,http://loinc.org|2571-8,http://loinc.org|2085-9', _sort: sort, _count: '1' },
      })) as Json;
      const seen = [...idsOf(expectValidBundle(page))];
      for (let hops = 0; hops < 5; hops += 1) {
        const next = (await client.nextPage({ bundle: page as never })) as Json | undefined;
        if (!next) break;
        page = expectValidBundle(next);
        seen.push(...idsOf(page));
      }
      return seen;
    };
    const [cholesterol, triglycerides, hdl] = results.map((result) => result.id);
    expect(await walk('date')).toEqual([triglycerides, cholesterol, hdl]);
    expect(await walk('-date')).toEqual([hdl, cholesterol, triglycerides]);
    expect(await walk('_lastUpdated')).toEqual([cholesterol, triglycerides, hdl]);
    expect(await walk('-_lastUpdated')).toEqual([hdl, triglycerides, cholesterol]);
    expect((await raw(token, 'GET', 'Observation?_sort=code')).status).toBe(400);
    expect((await raw(token, 'GET', 'Observation?_sort=-date&_cursor=12')).status).toBe(400);
  });

  test('_include and _revinclude follow the catalogue references, within the record', async () => {
    const client = clientOf(token);
    const included = async (resourceType: string, searchParams: Record<string, string>, who = client) => {
      const bundle = expectValidBundle(await who.search({ resourceType, searchParams: { ...searchParams, _count: '100' } }));
      expectValidEntries(bundle);
      return idsOf(bundle, 'include').sort();
    };
    expect(await included('DiagnosticReport', { _id: report.id, _include: 'DiagnosticReport:result' })).toEqual([results[0]?.id, results[1]?.id].sort());
    expect(await included('DiagnosticReport', { _id: report.id, _include: 'DiagnosticReport:subject' })).toEqual([alex.record]);
    expect(await included('Observation', { _id: results[0]?.id, _include: 'Observation:encounter' })).toEqual([visit.id]);
    expect(await included('Observation', { _id: results[0]?.id, _revinclude: 'DiagnosticReport:result' })).toEqual([report.id]);
    expect(await included('Patient', { _revinclude: 'Encounter:subject' })).toEqual([visit.id]);
    expect(await included('Encounter', { _revinclude: 'Observation:encounter' })).toEqual(results.map((result) => result.id).sort());
    expect((await raw(token, 'GET', 'Observation?_include=Observation:performer')).status).toBe(400);
    expect((await raw(token, 'GET', 'Observation?_include=DiagnosticReport:result')).status).toBe(400);

    // Only types the token may read are brought along.
    const reportsOnly = clientOf(await tokenFor(alex, ['patient/DiagnosticReport.rs']));
    expect(await included('DiagnosticReport', { _id: report.id, _include: 'DiagnosticReport:result' }, reportsOnly)).toEqual([]);
    const observationsOnly = clientOf(await tokenFor(alex, ['patient/Observation.rs']));
    expect(await included('Observation', { _revinclude: 'DiagnosticReport:result' }, observationsOnly)).toEqual([]);

    // Never across records: Blair's report names Alex's result, and neither search crosses over.
    const blairs = clientOf(await tokenFor(blair, ['patient/DiagnosticReport.rs', 'patient/Observation.rs']));
    expect(await included('DiagnosticReport', { _include: 'DiagnosticReport:result' }, blairs)).toEqual([]);
    expect(await included('Observation', { _id: results[0]?.id, _revinclude: 'DiagnosticReport:result' })).not.toContain(blairReport.id);
  });

  test('_summary=count gives the total alone; _elements trims the matches to what was asked and what R4 requires, and marks them SUBSETTED', async () => {
    const client = clientOf(token);
    const counted = expectValidBundle(
      await client.search({ resourceType: 'Observation', searchParams: { encounter: `Encounter/${visit.id}`, _summary: 'count' } }),
    );
    expect(counted.total).toBe(3);
    expect(counted.entry).toBeUndefined();
    const trimmed = expectValidBundle(
      await client.search({ resourceType: 'Observation', searchParams: { _id: results[0]?.id, _elements: 'code,valueQuantity' } }),
    );
    expectValidEntries(trimmed);
    const [only] = trimmed.entry;
    // Observation.status is required (1..1): kept though not asked for.
    expect(Object.keys(only.resource).sort()).toEqual(['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
    expect(isSubsetted(only.resource)).toBe(true);
    expect(only.resource.valueQuantity.value).toBe(5.2);

    // A required choice element (medication[x]) is kept in the form the resource has it.
    const medicine = (await client.create({
      resourceType: 'MedicationStatement',
      body: {
        resourceType: 'MedicationStatement',
        status: 'active',
        medicationCodeableConcept: { text: 'Atorvastatin 20 mg' },
        effectiveDateTime: '2026-04-02',
        note: [{ text: 'At night' }],
      },
    })) as Json;
    const medicines = expectValidBundle(await client.search({ resourceType: 'MedicationStatement', searchParams: { _id: medicine.id, _elements: 'note' } }));
    expectValidEntries(medicines);
    expect(Object.keys(medicines.entry[0].resource).sort()).toEqual(['id', 'medicationCodeableConcept', 'meta', 'note', 'resourceType', 'status', 'subject']);
  });
});

describe('Patient/$everything', () => {
  test('the whole record the token may read, paged, with _type and _since; never another record', async () => {
    const carey = await signedUpPerson(server, 'Carey Everything');
    const token = await tokenFor(carey, ['patient/*.cruds']);
    const client = clientOf(token);
    const made: Json[] = [];
    for (const day of [1, 2, 3])
      made.push(
        (await client.create({ resourceType: 'Observation', body: observation('2345-7', 'Glucose', 5 + day / 10, `2026-05-0${day}T08:00:00Z`) })) as Json,
      );
    made.push((await client.create({ resourceType: 'Condition', body: { resourceType: 'Condition', code: { text: 'Asthma' } } })) as Json);
    const all = async (who: Client, input: Record<string, string>) => {
      let page = expectValidBundle(await who.operation({ name: '$everything', resourceType: 'Patient', id: carey.record, method: 'GET', input }));
      expectValidEntries(page);
      const ids = idsOf(page);
      for (let hops = 0; hops < 10; hops += 1) {
        const next = (await who.nextPage({ bundle: page as never })) as Json | undefined;
        if (!next) break;
        page = expectValidBundle(next);
        ids.push(...idsOf(page));
      }
      return { ids, total: page.total as number };
    };
    const everything = await all(client, { _count: '2' });
    expect(everything.ids).toEqual([carey.record, ...made.map((resource) => resource.id)]);
    expect(everything.total).toBe(5);

    expect((await all(client, { _type: 'Condition' })).ids).toEqual([made[3]?.id]);
    const since = (await raw(token, 'GET', `Observation/${made[2]?.id}`)).body.meta.lastUpdated as string;
    expect((await all(client, { _since: since })).ids).toEqual([made[2]?.id, made[3]?.id]);

    // Only the types the token may read.
    const observationsOnly = clientOf(await tokenFor(carey, ['patient/Observation.rs']));
    expect((await all(observationsOnly, {})).ids).toEqual(made.slice(0, 3).map((resource) => resource.id));

    // Another record's Patient is not there for this token; bad parameters are 400.
    expect((await raw(token, 'GET', `Patient/${alex.record}/$everything`)).status).toBe(404);
    expect((await raw(token, 'GET', `Patient/${carey.record}/$everything?_type=Organization`)).status).toBe(400);
    expect((await raw(token, 'GET', `Patient/${carey.record}/$everything?_since=yesterday`)).status).toBe(400);
    expect((await raw(token, 'GET', `Patient/${carey.record}/$export`)).status).toBe(404);
    const conditionsOnly = await tokenFor(carey, ['patient/Condition.c']);
    expect((await raw(conditionsOnly, 'GET', `Patient/${carey.record}/$everything`)).status).toBe(403);
  });
});

describe('transaction and batch Bundles', () => {
  const visitUrl = 'urn:uuid:0d3b6c0e-2f35-4c71-9d2c-6a8f2b1f5e01';
  const resultUrl = 'urn:uuid:0d3b6c0e-2f35-4c71-9d2c-6a8f2b1f5e02';
  const labVisit = (extra: Json[] = []) => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: visitUrl,
        resource: { resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' } },
        request: { method: 'POST', url: 'Encounter' },
      },
      {
        fullUrl: resultUrl,
        resource: observation('4548-4', 'HbA1c', 6.1, '2026-07-01T08:00:00Z', { encounter: { reference: visitUrl } }),
        request: { method: 'POST', url: 'Observation' },
      },
      {
        resource: {
          resourceType: 'DiagnosticReport',
          status: 'final',
          code: loinc('4548-4', 'HbA1c panel'),
          encounter: { reference: visitUrl },
          result: [{ reference: resultUrl }],
        },
        request: { method: 'POST', url: 'DiagnosticReport' },
      },
      ...extra,
    ],
  });

  const countAll = async (token: string) =>
    (await raw(token, 'GET', `Patient/${(await raw(token, 'GET', 'Patient')).body.entry[0].resource.id}/$everything?_count=1`)).body.total as number;

  test('a transaction writes every entry with urn:uuid references resolved, and answers a valid transaction-response', async () => {
    const dana = await signedUpPerson(server, 'Dana Transaction');
    const token = await tokenFor(dana, ['patient/*.cruds']);
    const client = clientOf(token);
    const answer = expectValidBundle(await client.transaction({ body: labVisit() as never }));
    expect(answer.type).toBe('transaction-response');
    expect(answer.entry.map((entry: Json) => entry.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const [visitAt, resultAt, reportAt] = answer.entry.map((entry: Json) => (entry.response.location as string).replace(/\/_history\/\d+$/, ''));
    const report = (await raw(token, 'GET', reportAt)).body;
    expect(report.result).toEqual([{ reference: resultAt }]);
    expect(report.encounter).toEqual({ reference: visitAt });
    expect(report.subject).toEqual({ reference: `Patient/${dana.record}` });
    expect((await raw(token, 'GET', resultAt)).body.encounter).toEqual({ reference: visitAt });
    // An update, a read and a delete in one transaction.
    const current = (await raw(token, 'GET', resultAt)).body;
    const second = expectValidBundle(
      await client.transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: { ...current, valueQuantity: { ...current.valueQuantity, value: 6.3 } }, request: { method: 'PUT', url: resultAt, ifMatch: 'W/"1"' } },
            { request: { method: 'GET', url: visitAt } },
            { request: { method: 'DELETE', url: reportAt } },
          ],
        } as never,
      }),
    );
    expect(second.entry.map((entry: Json) => entry.response.status)).toEqual(['200 OK', '200 OK', '204 No Content']);
    expect((await raw(token, 'GET', resultAt)).body.valueQuantity.value).toBe(6.3);
    expect((await raw(token, 'GET', reportAt)).status).toBe(410);
  });

  test('a transaction runs deletes, creates, updates, then reads, whatever the order of its entries', async () => {
    const gus = await signedUpPerson(server, 'Gus Ordered');
    const token = await tokenFor(gus, ['patient/*.cruds']);
    const kept = (await raw(token, 'POST', 'Observation', observation('2345-7', 'Glucose', 5.0, '2026-09-01T08:00:00Z'))).body;
    const doomed = (await raw(token, 'POST', 'Observation', observation('2345-7', 'Glucose', 5.5, '2026-09-02T08:00:00Z'))).body;
    const fresh = 'urn:uuid:0d3b6c0e-2f35-4c71-9d2c-6a8f2b1f5e09';
    const answer = await raw(token, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: `Observation/${kept.id}` } },
        { request: { method: 'GET', url: 'Observation?code=http://loinc.org|2345-7&_count=100' } },
        { resource: { ...kept, valueQuantity: { ...kept.valueQuantity, value: 6.6 } }, request: { method: 'PUT', url: `Observation/${kept.id}` } },
        { fullUrl: fresh, resource: observation('2345-7', 'Glucose', 7.7, '2026-09-03T08:00:00Z'), request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'DELETE', url: `Observation/${doomed.id}` } },
      ],
    });
    expect(answer.status).toBe(200);
    expectValidBundle(answer.body);
    // Answered in the order of the entries.
    expect(answer.body.entry.map((entry: Json) => entry.response.status)).toEqual(['200 OK', '200 OK', '200 OK', '201 Created', '204 No Content']);
    // The read placed before the update sees the update; the search sees the create and not the delete.
    expect(answer.body.entry[0].resource).toMatchObject({ id: kept.id, meta: { versionId: '2' }, valueQuantity: { value: 6.6 } });
    expect(answer.body.entry[0].response.etag).toBe('W/"2"');
    const created = answer.body.entry[3].resource.id as string;
    const found = answer.body.entry[1].resource.entry.map((entry: Json) => [entry.resource.id, entry.resource.valueQuantity.value]);
    expect(found.sort()).toEqual(
      [
        [kept.id, 6.6],
        [created, 7.7],
      ].sort(),
    );
  });

  test('a create in a transaction may be conditional (ifNoneExist): the one match stands in for it, references to it included', async () => {
    const hana = await signedUpPerson(server, 'Hana Conditional');
    const token = await tokenFor(hana, ['patient/*.cruds']);
    const visit = 'urn:uuid:0d3b6c0e-2f35-4c71-9d2c-6a8f2b1f5e11';
    const visitAndResult = (value: number) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: visit,
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
            period: { start: '2026-10-01T09:00:00Z' },
          },
          request: { method: 'POST', url: 'Encounter', ifNoneExist: 'class=AMB&date=2026-10-01' },
        },
        {
          resource: observation('2345-7', 'Glucose', value, '2026-10-01T09:10:00Z', { encounter: { reference: visit } }),
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    const first = expectValidBundle((await raw(token, 'POST', '', visitAndResult(5.1))).body);
    expect(first.entry.map((entry: Json) => entry.response.status)).toEqual(['201 Created', '201 Created']);
    const visitId = first.entry[0].resource.id as string;
    const second = expectValidBundle((await raw(token, 'POST', '', visitAndResult(5.2))).body);
    expect(second.entry.map((entry: Json) => entry.response.status)).toEqual(['200 OK', '201 Created']);
    expect(second.entry[0].resource.id).toBe(visitId);
    expect(second.entry[1].resource.encounter).toEqual({ reference: `Encounter/${visitId}` });
    expect((await raw(token, 'GET', 'Encounter?_summary=count')).body.total).toBe(1);

    // Two visits that day: which one was meant is unknown, and the whole transaction is refused.
    await raw(token, 'POST', 'Encounter', {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      period: { start: '2026-10-01T15:00:00Z' },
    });
    const before = await countAll(token);
    const ambiguous = await raw(token, 'POST', '', visitAndResult(5.3));
    expect(ambiguous.status).toBe(412);
    expect(ambiguous.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[0\]: 2 Encounter resources in this record match the condition/);
    expect(await countAll(token)).toBe(before);

    // A condition carevault cannot search by, or on anything but a create, is refused in words.
    for (const request of [
      { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=http://lab.example|123' },
      { method: 'POST', url: 'Observation', ifNoneExist: 7 },
      { method: 'POST', url: 'Observation', ifNoneExist: '_count=1' },
      { method: 'PUT', url: 'Observation/x', ifNoneExist: 'code=2345-7' },
    ]) {
      const refused = await raw(token, 'POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [{ resource: { ...observation('2345-7', 'Glucose', 5, '2026-10-02'), id: 'x' }, request }],
      });
      expect([request, refused.status, refused.body.issue[0].diagnostics]).toEqual([request, 400, expect.stringMatching(/^Bundle\.entry\[0\]: .*ifNoneExist/)]);
    }
    expect(await countAll(token)).toBe(before);
    // In a batch, each conditional entry on its own.
    const batch = expectValidBundle(
      (
        await raw(token, 'POST', '', {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            {
              resource: observation('2345-7', 'Glucose', 9, '2026-10-01T09:10:00Z'),
              request: { method: 'POST', url: 'Observation', ifNoneExist: 'code=2345-7&date=2026-10-01T09:10:00Z' },
            },
          ],
        })
      ).body,
    );
    expect(batch.entry.map((entry: Json) => entry.response.status)).toEqual(['412']);
  });

  test('a transaction with one invalid entry, or one the token may not write, writes nothing', async () => {
    const erin = await signedUpPerson(server, 'Erin Atomic');
    const token = await tokenFor(erin, ['patient/*.cruds']);
    const before = await countAll(token);
    const invalid = {
      resource: { resourceType: 'Condition', code: { text: 'Asthma' }, clinicalStatus: 'active' },
      request: { method: 'POST', url: 'Condition' },
    };
    const refused = await raw(token, 'POST', '', labVisit([invalid]));
    expect(refused.status).toBe(400);
    expect(refused.body.resourceType).toBe('OperationOutcome');
    expect(refused.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[3\]/);
    expect(await countAll(token)).toBe(before);

    // The last entry fails only when written (a version that does not match): the first three are undone.
    const conflict = {
      resource: { ...(await raw(token, 'GET', `Patient/${erin.record}`)).body },
      request: { method: 'PUT', url: `Patient/${erin.record}`, ifMatch: 'W/"7"' },
    };
    expect((await raw(token, 'POST', '', labVisit([conflict]))).status).toBe(412);
    expect(await countAll(token)).toBe(before);

    const narrow = await tokenFor(erin, ['patient/Encounter.c', 'patient/Observation.c']);
    const forbidden = await raw(narrow, 'POST', '', labVisit());
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect(await countAll(token)).toBe(before);

    // A Bundle that is not one, or of the wrong type, is 400; a POST to the base must be JSON.
    expect((await raw(token, 'POST', '', { resourceType: 'Bundle', type: 'collection', entry: [] })).status).toBe(400);
    expect((await raw(token, 'POST', '', { resourceType: 'Observation' })).status).toBe(400);
    expect(
      (await raw(token, 'POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PATCH', url: 'Observation/x' } }] })).status,
    ).toBe(400);
  });

  test('a batch runs each entry on its own', async () => {
    const finn = await signedUpPerson(server, 'Finn Batch');
    const token = await tokenFor(finn, ['patient/Observation.cruds']);
    const client = clientOf(token);
    const answer = expectValidBundle(
      await client.batch({
        body: {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { resource: observation('2345-7', 'Glucose', 5.5, '2026-08-01T08:00:00Z'), request: { method: 'POST', url: 'Observation' } },
            { resource: { resourceType: 'Observation', status: 'bogus', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
            { resource: { resourceType: 'Condition', code: { text: 'Asthma' } }, request: { method: 'POST', url: 'Condition' } },
            { request: { method: 'GET', url: 'Observation?code=http://loinc.org|2345-7' } },
            // The Patient is not readable with this token: the include brings nothing.
            { request: { method: 'GET', url: 'Observation?_include=Observation:subject' } },
            // carevault's own absolute URL is taken as the relative one.
            { resource: observation('2345-7', 'Glucose', 5.7, '2026-08-02T08:00:00Z'), request: { method: 'POST', url: `${fhirBase}/Observation` } },
          ],
        } as never,
      }),
    );
    expect(answer.type).toBe('batch-response');
    expect(answer.entry.map((entry: Json) => entry.response.status)).toEqual(['201 Created', '400', '403', '200 OK', '200 OK', '201 Created']);
    expect(answer.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    expect(answer.entry[3].resource.total).toBe(1);
    // A search entry answers the searchset the search endpoint does: links, and each entry's fullUrl.
    expect(answer.entry[3].resource.link[0]).toEqual({ relation: 'self', url: expect.stringMatching(new RegExp(`^${fhirBase}/Observation\\?`)) });
    expect(answer.entry[3].resource.entry[0].fullUrl).toBe(`${fhirBase}/Observation/${String(answer.entry[3].resource.entry[0].resource.id)}`);
    expect(answer.entry[4].resource.entry.map((entry: Json) => entry.search.mode)).toEqual(['match']);
  });
});

test('odd Bundles, versions and parameters are refused in words, never with a 500', async () => {
  const token = await tokenFor(alex, ['patient/*.cruds']);
  // Nested 5000 deep: written as text (JSON.stringify itself would overflow here).
  const deep = `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","note":${'['.repeat(5000)}{"reference":"Patient/x"}${']'.repeat(5000)}}}]}`;
  const bundles: unknown[] = [
    [],
    'text',
    '"text"',
    { resourceType: 'Bundle' },
    { resourceType: 'Bundle', type: 'transaction', entry: 'x' },
    { resourceType: 'Bundle', type: 'transaction', entry: [null, 7] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' } }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation/1/2' }, resource: {} }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Observation' }, resource: {} }] },
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: '__proto__' }, resource: {} }] },
    deep,
    { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'GET', url: 'Observation?_sort=%00' } }] },
    { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation?_cursor=zz' } }, { request: 'x' }] },
    { resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 1001 }, () => ({ request: { method: 'GET', url: 'Patient' } })) },
  ];
  for (const bundle of bundles) {
    const res = await raw(token, 'POST', '', bundle);
    expect([bundle, res.status]).toEqual([bundle, expect.any(Number)]);
    expect(res.status).toBeLessThan(500);
    expect(res.body.resourceType).toMatch(/^(OperationOutcome|Bundle)$/);
  }
  for (const path of [
    'Observation/x/_history/abc',
    'Observation/x/_history/0',
    'Observation/x/_history?_count=abc',
    'Observation/x/_history?_cursor=-1',
    'Observation?_elements=__proto__',
    'Observation?_include=constructor:x',
    'Observation?_revinclude=Observation',
    'Observation?_sort=date,_lastUpdated',
    'Observation?_summary=text',
    'Observation?_sort=date&_cursor=1_2_3',
    `Patient/${alex.record}/$everything?_count=0`,
    `Patient/${alex.record}/$everything?_cursor=x`,
    `Patient/${alex.record}/$everything?_type=`,
    `Patient/${alex.record}/$everything?_since=2026-01-01`,
    `Patient/${alex.record}/$everything?_since=a&_since=b`,
    `Observation/x/$everything`,
  ]) {
    const res = await raw(token, 'GET', path);
    expect([path, res.status >= 400 && res.status < 500]).toEqual([path, true]);
    expect(res.body.resourceType).toBe('OperationOutcome');
  }
});
