/**
 * The records API with real tokens from the code flow: the scope matrix, isolation
 * between records and people, validation, versioning, search and paging, revocation, and what the
 * person sees of it.
 */
import { Browser, textOf } from '../support/browser';
import { CALLBACK, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { startTestServer, type TestServer, recordIdNamed } from '../support/server';
import { removeAccess } from '../support/people';
import { createAccountThrough } from '../support/forms';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

type Person = { person: ReturnType<typeof newPerson>; browser: Browser; ownRecord: string };

async function registeredPerson(name: string): Promise<Person> {
  const person = newPerson(name);
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await createAccountThrough(browser, page, person);
  expect(textOf(page.html)).toContain(`Hello, ${name}`);
  const row = await server.db
    .knex('people as p')
    .join('custodianships as c', 'c.person_id', 'p.id')
    .where({ 'p.email': person.email, 'c.relationship': 'self' })
    .first('c.record_id');
  return { person, browser, ownRecord: row.record_id as string };
}

async function addChild(who: Person, name: string): Promise<string> {
  const page = await who.browser.visit('/records');
  await who.browser.submit(page, { name, birth_date: '2020-02-02', relationship: 'child' }, '/records');
  return (await recordIdNamed(server, name)) ?? '';
}

/** An access token for `who`'s record (or `recordId`) with exactly `rules` granted. */
async function tokenFor(who: Person, rules: string[], clientName = 'Weight Tracker', recordId?: string) {
  const app = await registerTestApp(server, {
    client_name: clientName,
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: rules.map((scope) => ({ scope, required: true, reason: `Needs ${scope}` })),
  });
  const authorization = await startAuthorization(app, { scope: `openid ${rules.join(' ')}` });
  const back = await authorizeInBrowser(who.browser, authorization.url, who.person, recordId ? { record: recordId } : {});
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  return { token: tokens.access_token, patient: tokens.patient as string, app };
}

async function fhir(token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.issuer}/fhir/${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
}

function weight(kg: number, date = '2026-03-01T08:00:00Z', extra: Record<string, unknown> = {}) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
    effectiveDateTime: date,
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    ...extra,
  };
}

function condition(text: string, clinical = 'active') {
  return {
    resourceType: 'Condition',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: clinical }] },
    code: { text },
  };
}

test('a token with patient/Observation.rs reads and searches its own record only', async () => {
  const alex = await registeredPerson('Alex Rowe');
  const writer = await tokenFor(alex, ['patient/Observation.cruds', 'patient/Condition.cruds'], 'Clinic Upload');
  const created = await fhir(writer.token, 'POST', 'Observation', weight(81.2));
  expect(created.status).toBe(201);
  expect(created.headers.get('location')).toMatch(new RegExp(`/fhir/Observation/${created.body.id}/_history/1$`));
  expect(created.body.subject).toEqual({ reference: `Patient/${alex.ownRecord}` });
  expect(created.body.meta.versionId).toBe('1');

  const reader = await tokenFor(alex, ['patient/Observation.rs']);
  expect(reader.patient).toBe(alex.ownRecord);
  const read = await fhir(reader.token, 'GET', `Observation/${created.body.id}`);
  expect(read.status).toBe(200);
  expect(read.headers.get('etag')).toBe('W/"1"');
  expect(read.body.valueQuantity.value).toBe(81.2);
  const search = await fhir(reader.token, 'GET', 'Observation');
  expect(search.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });

  // Writes and other types are refused with insufficient_scope.
  for (const [method, path, body] of [
    ['POST', 'Observation', weight(80)],
    ['PUT', `Observation/${created.body.id}`, { ...weight(80), id: created.body.id }],
    ['DELETE', `Observation/${created.body.id}`, undefined],
    ['GET', 'Condition', undefined],
    ['POST', 'Condition', condition('Asthma')],
  ] as const) {
    const res = await fhir(reader.token, method, path, body);
    expect(res.status).toBe(403);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.headers.get('www-authenticate')).toContain('insufficient_scope');
  }

  // Another person's resource does not exist for this token.
  const blair = await registeredPerson('Blair Hunt');
  const theirs = await fhir((await tokenFor(blair, ['patient/Observation.cruds'])).token, 'POST', 'Observation', weight(60));
  expect((await fhir(reader.token, 'GET', `Observation/${theirs.body.id}`)).status).toBe(404);
  expect((await fhir(reader.token, 'GET', `Observation?patient=${blair.ownRecord}`)).body.total).toBe(0);
  expect((await fhir(reader.token, 'GET', `Observation?_id=${theirs.body.id}`)).body.total).toBe(0);
});

test('every permission letter on two types (scope matrix)', async () => {
  const sam = await registeredPerson('Sam Ortiz');
  const admin = await tokenFor(sam, ['patient/Observation.cruds', 'patient/Condition.cruds'], 'Seeder');
  const seeded = {
    Observation: (await fhir(admin.token, 'POST', 'Observation', weight(70))).body,
    Condition: (await fhir(admin.token, 'POST', 'Condition', condition('Hay fever'))).body,
  };
  const samples = { Observation: weight(71), Condition: condition('Migraine') };

  for (const letter of ['c', 'r', 'u', 'd', 's'] as const) {
    const { token } = await tokenFor(sam, [`patient/Observation.${letter}`, `patient/Condition.${letter}`], `Only ${letter}`);
    for (const type of ['Observation', 'Condition'] as const) {
      // A fresh resource for update and delete, so an allowed delete does not hide the others.
      const target = (await fhir(admin.token, 'POST', type, samples[type])).body;
      const attempts = {
        c: await fhir(token, 'POST', type, samples[type]),
        r: await fhir(token, 'GET', `${type}/${seeded[type].id}`),
        u: await fhir(token, 'PUT', `${type}/${target.id}`, { ...samples[type], id: target.id }),
        s: await fhir(token, 'GET', type),
        d: await fhir(token, 'DELETE', `${type}/${target.id}`),
      };
      for (const [op, res] of Object.entries(attempts)) {
        const expected = op === letter ? ({ c: 201, r: 200, u: 200, s: 200, d: 204 } as Record<string, number>)[op] : 403;
        expect({ letter, type, op, status: res.status }).toEqual({ letter, type, op, status: expected });
      }
    }
  }

  // SMART v1 scopes are accepted: .read = rs, .write = cud.
  const v1 = await tokenFor(sam, ['patient/Observation.read'], 'Version One');
  expect((await fhir(v1.token, 'GET', 'Observation')).status).toBe(200);
  expect((await fhir(v1.token, 'POST', 'Observation', weight(1))).status).toBe(403);
});

test('two records of one person are kept apart, and writes cannot point at another patient', async () => {
  const kai = await registeredPerson('Kai Brennan');
  const childId = await addChild(kai, 'Ivy Brennan');
  const forChild = await tokenFor(kai, ['patient/Observation.cruds', 'patient/Patient.rs'], 'Growth Chart', childId);
  expect(forChild.patient).toBe(childId);
  const forSelf = await tokenFor(kai, ['patient/Observation.cruds'], 'Growth Chart', kai.ownRecord);

  const childObs = await fhir(forChild.token, 'POST', 'Observation', weight(14));
  expect(childObs.body.subject.reference).toBe(`Patient/${childId}`);
  const ownObs = await fhir(forSelf.token, 'POST', 'Observation', weight(77));
  expect((await fhir(forChild.token, 'GET', `Observation/${ownObs.body.id}`)).status).toBe(404);
  const childSearch = await fhir(forChild.token, 'GET', 'Observation');
  expect(childSearch.body.entry.map((entry: { resource: { id: string } }) => entry.resource.id)).toEqual([childObs.body.id]);
  expect((await fhir(forChild.token, 'GET', `Patient/${childId}`)).body.name[0].text).toBe('Ivy Brennan');
  expect((await fhir(forChild.token, 'GET', `Patient/${kai.ownRecord}`)).status).toBe(404);

  // Pointing a resource at another record's patient is refused and writes nothing.
  const before = await server.db.knex('resources').count({ n: '*' }).first();
  const moved = await fhir(forChild.token, 'POST', 'Observation', weight(14, undefined, { subject: { reference: `Patient/${kai.ownRecord}` } }));
  expect(moved.status).toBe(403);
  const update = await fhir(forChild.token, 'PUT', `Observation/${childObs.body.id}`, { ...childObs.body, subject: { reference: `Patient/${kai.ownRecord}` } });
  expect(update.status).toBe(403);
  expect(await server.db.knex('resources').count({ n: '*' }).first()).toEqual(before);
});

test("a patient reference must be the record's Patient exactly, and every relative reference exactly Type/id", async () => {
  const lee = await registeredPerson('Lee Exact');
  const mo = await registeredPerson('Mo Elsewhere');
  const { token } = await tokenFor(lee, ['patient/Observation.cruds']);
  const count = async () => Number(((await server.db.knex('resources').count({ n: '*' })) as [{ n: string }])[0].n);
  const before = await count();
  // References that end like Lee's Patient but are not it: each would have filed into Lee's record.
  for (const reference of [
    `Patient/${mo.ownRecord}/x/Patient/${lee.ownRecord}`,
    `Patient/${mo.ownRecord}/_history/1/Patient/${lee.ownRecord}`,
    `https://ehr.example/fhir/Patient/${lee.ownRecord}`,
    `${server.issuer}/fhir/Patient/${mo.ownRecord}/x/Patient/${lee.ownRecord}`,
    `/Patient/${lee.ownRecord}`,
    `Patient/${lee.ownRecord}/_history/1`,
  ]) {
    const res = await fhir(token, 'POST', 'Observation', weight(70, undefined, { subject: { reference } }));
    expect([reference, res.status, res.body.issue?.[0]?.diagnostics]).toEqual([
      reference,
      403,
      `Observation.subject must refer to this record's patient, Patient/${lee.ownRecord}.`,
    ]);
  }
  const made = await fhir(token, 'POST', 'Observation', weight(70));
  expect(made.status).toBe(201);
  const moved = await fhir(token, 'PUT', `Observation/${made.body.id}`, {
    ...made.body,
    subject: { reference: `Patient/${mo.ownRecord}/x/Patient/${lee.ownRecord}` },
  });
  expect(moved.status).toBe(403);
  // Any other relative reference is exactly Type/id (optionally /_history/vid), of a FHIR type.
  for (const reference of [
    'Encounter/1/x/Encounter/2',
    'Encounter/',
    'Encounter',
    '/Encounter/1',
    'Encounter/1?x=y',
    'Encounter/1/_history/',
    'Visit/1',
    'encounter/1',
  ]) {
    const res = await fhir(token, 'POST', 'Observation', weight(70, undefined, { encounter: { reference } }));
    expect([reference, res.status, res.body.issue[0].code, res.body.issue[0].expression[0]]).toEqual([
      reference,
      400,
      'invalid',
      expect.stringMatching(/^Observation\.encounter/),
    ]);
  }
  const tail = await fhir(token, 'POST', 'Observation', weight(70, undefined, { encounter: { reference: 'Encounter/1/x/Encounter/2' } }));
  expect(tail.body.issue[0].diagnostics).toMatch(
    /^Observation\.encounter\.reference: "Encounter\/1\/x\/Encounter\/2" is not a reference FHIR R4 allows: a relative reference is exactly Type\/id/,
  );
  expect(await count()).toBe(before + 1);
  // The forms R4 allows still go in; the record's Patient by its full URL on this server too.
  for (const extra of [
    { encounter: { reference: 'Encounter/visit-1' } },
    { encounter: { reference: 'https://ehr.example/fhir/Encounter/9' } },
    { encounter: { reference: 'urn:uuid:0d3b6c0e-2f35-4c71-9d2c-6a8f2b1f5e01' } },
    { subject: { reference: `${server.issuer}/fhir/Patient/${lee.ownRecord}` } },
  ]) {
    expect([extra, (await fhir(token, 'POST', 'Observation', weight(70, undefined, extra))).status]).toEqual([extra, 201]);
  }
});

test('conditional create (If-None-Exist): none → 201, one → 200 with it, several → 412; the condition is checked', async () => {
  const ola = await registeredPerson('Ola Conditional');
  const { token } = await tokenFor(ola, ['patient/Observation.cruds']);
  const condition = { 'if-none-exist': 'code=http://loinc.org|29463-7&date=2026-05-01T08:00:00Z' };
  const first = await fhir(token, 'POST', 'Observation', weight(71, '2026-05-01T08:00:00Z'), condition);
  expect(first.status).toBe(201);
  const again = await fhir(token, 'POST', 'Observation', weight(99, '2026-05-01T08:00:00Z'), condition);
  expect(again.status).toBe(200);
  expect(again.body.id).toBe(first.body.id);
  expect(again.body.valueQuantity.value).toBe(71);
  expect(again.headers.get('location')).toBe(`${server.issuer}/fhir/Observation/${first.body.id}/_history/1`);
  // The Type? form some clients send is the same condition.
  expect((await fhir(token, 'POST', 'Observation', weight(99, '2026-05-01T08:00:00Z'), { 'if-none-exist': `Observation?_id=${first.body.id}` })).status).toBe(
    200,
  );
  await fhir(token, 'POST', 'Observation', weight(72, '2026-05-01T08:00:00Z'));
  const several = await fhir(token, 'POST', 'Observation', weight(73, '2026-05-01T08:00:00Z'), condition);
  expect(several.status).toBe(412);
  expect(several.body.issue[0].diagnostics).toMatch(/^2 Observation resources in this record match the condition/);
  expect((await fhir(token, 'GET', 'Observation?_summary=count')).body.total).toBe(2);

  // A parameter carevault does not know would widen the match to everything: refused, as are
  // result parameters and an empty condition. Another record's resources never match.
  for (const bad of ['identifier=http://lab.example|123', '_count=1', 'code=', '', 'code=x&_sort=date']) {
    const res = await fhir(token, 'POST', 'Observation', weight(74), { 'if-none-exist': bad });
    expect([bad, res.status, res.body.resourceType]).toEqual([bad, 400, 'OperationOutcome']);
  }
  const pat = await registeredPerson('Pat Elsewhere');
  const theirs = await tokenFor(pat, ['patient/Observation.cruds']);
  expect((await fhir(theirs.token, 'POST', 'Observation', weight(71, '2026-05-01T08:00:00Z'), { 'if-none-exist': `_id=${first.body.id}` })).status).toBe(201);
  // The condition is a search: a token that may create but not search is refused.
  const createOnly = await tokenFor(ola, ['patient/Observation.c']);
  const refused = await fhir(createOnly.token, 'POST', 'Observation', weight(75), condition);
  expect(refused.status).toBe(403);
  expect(refused.headers.get('www-authenticate')).toContain('insufficient_scope');
});

test('conditional creates sent at once (one instance or two) create one resource', async () => {
  const quinn = await registeredPerson('Quinn Racing');
  const { token } = await tokenFor(quinn, ['patient/Observation.cruds']);
  // A second instance of the same issuer where the database allows one (a PostgreSQL server).
  const second = server.config.databaseUrl ? await startTestServer({}, server) : undefined;
  try {
    const bases = [server.issuer, second?.issuer ?? server.issuer];
    const condition = { 'if-none-exist': 'code=http://loinc.org|29463-7&date=2026-06-01T08:00:00Z' };
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const res = await fetch(`${bases[i % 2]}/fhir/Observation`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', ...condition },
          body: JSON.stringify(weight(80 + i, '2026-06-01T08:00:00Z')),
        });
        return { status: res.status, id: ((await res.json()) as { id: string }).id };
      }),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((answer) => answer.id)).size).toBe(1);
    expect((await fhir(token, 'GET', 'Observation?_summary=count')).body.total).toBe(1);
  } finally {
    await second?.stop();
  }
});

test('validation, content type, size, ETags and If-Match', async () => {
  const lee = await registeredPerson('Lee Carter');
  const { token } = await tokenFor(lee, ['patient/Observation.cruds']);

  const bogus = await fhir(token, 'POST', 'Observation', { ...weight(70), status: 'bogus' });
  expect(bogus.status).toBe(400);
  expect(bogus.body.resourceType).toBe('OperationOutcome');
  expect(JSON.stringify(bogus.body.issue)).toContain('Observation.status');
  const missing = await fhir(token, 'POST', 'Observation', { resourceType: 'Observation', status: 'final' });
  expect(missing.status).toBe(400);
  expect(JSON.stringify(missing.body.issue)).toContain('Observation.code');
  expect((await fhir(token, 'POST', 'Observation', { ...weight(70), colour: 'red' })).status).toBe(400);
  expect((await fhir(token, 'POST', 'Observation', { ...weight(70), resourceType: 'Condition' })).status).toBe(400);
  expect((await fhir(token, 'POST', 'Observation', '{"resourceType": "Observation",')).status).toBe(400);
  const wrongType = await fhir(token, 'POST', 'Observation', 'status=final', { 'content-type': 'application/x-www-form-urlencoded' });
  expect(wrongType.status).toBe(415);
  expect(wrongType.body.resourceType).toBe('OperationOutcome');
  const huge = await fhir(token, 'POST', 'Observation', { ...weight(70), note: [{ text: 'x'.repeat(1_100_000) }] });
  expect(huge.status).toBe(413);
  expect(await server.db.knex('resources').where({ record_id: lee.ownRecord, type: 'Observation' })).toHaveLength(0);

  const created = (await fhir(token, 'POST', 'Observation', weight(70))).body;
  const stale = await fhir(token, 'PUT', `Observation/${created.id}`, { ...created, valueQuantity: { value: 69, unit: 'kg' } }, { 'if-match': 'W/"7"' });
  expect(stale.status).toBe(412);
  const updated = await fhir(token, 'PUT', `Observation/${created.id}`, { ...created, valueQuantity: { value: 69, unit: 'kg' } }, { 'if-match': 'W/"1"' });
  expect(updated.status).toBe(200);
  expect(updated.headers.get('etag')).toBe('W/"2"');
  expect(updated.body.meta.versionId).toBe('2');
  const again = await fhir(token, 'PUT', `Observation/${created.id}`, { ...created, valueQuantity: { value: 68, unit: 'kg' } }, { 'if-match': 'W/"1"' });
  expect(again.status).toBe(412);
  expect((await fhir(token, 'PUT', `Observation/${created.id}`, { ...created, id: 'other' })).status).toBe(400);
  expect((await fhir(token, 'GET', 'Observation/does-not-exist')).status).toBe(404);
  expect((await fhir(token, 'GET', 'Practitioner')).status).toBe(404);
});

test('search parameters and paging that stays correct while resources are added', async () => {
  const mo = await registeredPerson('Mo Adeyemi');
  const { token } = await tokenFor(mo, ['patient/*.cruds']);
  for (let day = 1; day <= 25; day += 1) {
    const res = await fhir(token, 'POST', 'Observation', weight(70 + day / 10, `2026-01-${String(day).padStart(2, '0')}T09:00:00Z`));
    expect(res.status).toBe(201);
  }
  await fhir(token, 'POST', 'Observation', {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] },
    effectiveDateTime: '2025-12-15',
    valueQuantity: { value: 5.4, unit: '%' },
  });

  const search = async (query: string) => (await fhir(token, 'GET', `Observation?${query}`)).body;
  expect((await search('code=http://loinc.org|29463-7')).total).toBe(25);
  expect((await search('code=4548-4')).total).toBe(1);
  expect((await search('code=http://snomed.info/sct|4548-4')).total).toBe(0);
  expect((await search('category=laboratory')).total).toBe(1);
  expect((await search('category=vital-signs,laboratory')).total).toBe(26);
  expect((await search('date=ge2026-01-20')).total).toBe(6);
  expect((await search('date=ge2026-01-10&date=lt2026-01-13')).total).toBe(3);
  expect((await search('date=2026-01')).total).toBe(25);
  expect((await search('date=lt2026-01-01')).total).toBe(1);
  expect((await search('_lastUpdated=ge2020-01-01')).total).toBe(26);
  expect((await fhir(token, 'GET', 'Observation?date=yesterday')).status).toBe(400);

  // Paging: default 20, at most 100, next links that survive additions.
  expect((await search('')).entry).toHaveLength(20);
  expect((await search('_count=500')).entry).toHaveLength(26);
  const seen: string[] = [];
  let page = await search('_count=10&code=29463-7');
  expect(page.total).toBe(25);
  let added = false;
  for (;;) {
    seen.push(...page.entry.map((entry: { resource: { id: string } }) => entry.resource.id));
    const next = page.link.find((link: { relation: string }) => link.relation === 'next');
    if (!next) break;
    if (!added) {
      await fhir(token, 'POST', 'Observation', weight(99, '2026-02-01T09:00:00Z'));
      added = true;
    }
    page = (await fetch(next.url, { headers: { authorization: `Bearer ${token}` } }).then((res) => res.json())) as typeof page;
  }
  expect(new Set(seen).size).toBe(seen.length);
  expect(seen.length).toBe(26);

  // The other types' first parameters.
  await fhir(token, 'POST', 'Condition', condition('Asthma', 'active'));
  await fhir(token, 'POST', 'Condition', condition('Chickenpox', 'resolved'));
  expect((await fhir(token, 'GET', 'Condition?clinical-status=active')).body.total).toBe(1);
  await fhir(token, 'POST', 'MedicationStatement', {
    resourceType: 'MedicationStatement',
    status: 'active',
    medicationCodeableConcept: { text: 'Salbutamol' },
  });
  await fhir(token, 'POST', 'MedicationStatement', {
    resourceType: 'MedicationStatement',
    status: 'stopped',
    medicationCodeableConcept: { text: 'Amoxicillin' },
  });
  expect((await fhir(token, 'GET', 'MedicationStatement?status=active')).body.total).toBe(1);
  await fhir(token, 'POST', 'AllergyIntolerance', {
    resourceType: 'AllergyIntolerance',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    code: { text: 'Peanut' },
  });
  expect((await fhir(token, 'GET', 'AllergyIntolerance?clinical-status=active')).body.total).toBe(1);
  await fhir(token, 'POST', 'Immunization', {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: { text: 'MMR' },
    occurrenceDateTime: '2021-06-01',
  });
  expect((await fhir(token, 'GET', 'Immunization?date=2021')).body.total).toBe(1);
  expect((await fhir(token, 'GET', 'Immunization?date=2022')).body.total).toBe(0);
  await fhir(token, 'POST', 'Procedure', { resourceType: 'Procedure', status: 'completed', code: { text: 'Appendectomy' }, performedDateTime: '2019-03-03' });
  expect((await fhir(token, 'GET', 'Procedure?date=le2019-12-31')).body.total).toBe(1);

  // The person sees the record's contents by type, newest first, and the access in plain words.
  const recordPage = textOf((await mo.browser.visit(`/records/${mo.ownRecord}`)).html);
  expect(recordPage).toContain('Observations');
  expect(recordPage).toContain('Body weight — 99 kg');
  expect(recordPage.indexOf('Body weight — 99 kg')).toBeLessThan(recordPage.indexOf('Body weight — 70.1 kg'));
  const history = textOf((await mo.browser.visit(`/records/${mo.ownRecord}/history`)).html);
  expect(history).toContain('Weight Tracker added 1 observation');
  expect(history).toMatch(/Weight Tracker searched observations \d+ times/);
});

test('missing, bad and removed tokens get 401 with WWW-Authenticate', async () => {
  const ray = await registeredPerson('Ray Solano');
  const { token } = await tokenFor(ray, ['patient/Observation.rs']);
  const none = await fhir(undefined, 'GET', 'Observation');
  expect(none.status).toBe(401);
  expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="carevault"/);
  expect(none.body.resourceType).toBe('OperationOutcome');
  const bad = await fhir('not-a-real-token-value-at-all', 'GET', 'Observation');
  expect(bad.status).toBe(401);
  expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
  expect((await fhir(token, 'GET', 'Observation')).status).toBe(200);

  const apps = await ray.browser.visit('/apps');
  await removeAccess(ray.browser, apps);
  const started = Date.now();
  const after = await fhir(token, 'GET', 'Observation');
  expect(after.status).toBe(401);
  expect(Date.now() - started).toBeLessThan(1000);
});

test("the record's Patient is read and updated, never created or deleted, and its name is the record's name", async () => {
  const nia = await registeredPerson('Nia Duarte');
  const { token } = await tokenFor(nia, ['patient/Patient.cruds'], 'Profile Sync');
  const patient = await fhir(token, 'GET', `Patient/${nia.ownRecord}`);
  expect(patient.status).toBe(200);
  expect(patient.body.meta.versionId).toBe('1');
  expect(patient.body.name[0].text).toBe('Nia Duarte');
  const renamed = await fhir(token, 'PUT', `Patient/${nia.ownRecord}`, {
    ...patient.body,
    name: [{ given: ['Nia', 'M.'], family: 'Duarte' }],
    birthDate: '1990-05-06',
  });
  expect(renamed.status).toBe(200);
  expect(renamed.body.meta.versionId).toBe('2');
  expect(textOf((await nia.browser.visit('/records')).html)).toContain('Nia M. Duarte');
  expect((await fhir(token, 'POST', 'Patient', { resourceType: 'Patient', name: [{ text: 'Second' }] })).status).toBe(405);
  expect((await fhir(token, 'DELETE', `Patient/${nia.ownRecord}`)).status).toBe(405);
  expect((await fhir(token, 'GET', 'Patient')).body.total).toBe(1);
});

test('concurrent writes and reads all land (no request fails under load)', async () => {
  const zoe = await registeredPerson('Zoe Park');
  const { token } = await tokenFor(zoe, ['patient/Observation.cruds']);
  const writes = await Promise.all(Array.from({ length: 16 }, (_, i) => fhir(token, 'POST', 'Observation', weight(60 + i))));
  expect(writes.map((res) => res.status)).toEqual(Array.from({ length: 16 }, () => 201));
  const reads = await Promise.all(writes.map((res) => fhir(token, 'GET', `Observation/${res.body.id}`)));
  expect(reads.map((res) => res.status)).toEqual(Array.from({ length: 16 }, () => 200));
  expect((await fhir(token, 'GET', 'Observation?_count=100')).body.total).toBe(16);
});

test('discovery documents answer without a token', async () => {
  const metadata = await fhir(undefined, 'GET', 'metadata');
  expect(metadata.status).toBe(200);
  expect(metadata.body.resourceType).toBe('CapabilityStatement');
  const observation = metadata.body.rest[0].resource.find((r: { type: string }) => r.type === 'Observation');
  expect(observation.searchParam.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['code', 'category', 'date', '_id', '_lastUpdated']));
  for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
    const doc = (await (await fetch(`${server.issuer}${path}`)).json()) as Record<string, any>;
    expect(doc.authorization_endpoint).toBe(`${server.issuer}/authorize`);
    expect(doc.code_challenge_methods_supported).toEqual(['S256']);
    expect(doc.capabilities).toEqual(expect.arrayContaining(['launch-standalone', 'permission-offline', 'permission-v2']));
  }
  // SMART's aud must name this FHIR server.
  const app = await registerTestApp(server);
  const browser = new Browser(server.issuer);
  const wrong = await startAuthorization(app, { aud: 'https://elsewhere.example/fhir' });
  const refused = await browser.visit(wrong.url.toString());
  expect(new URL(refused.location ?? '').searchParams.get('error')).toBe('invalid_request');
  const right = await startAuthorization(app, { aud: `${server.issuer}/fhir` });
  expect((await browser.visit(right.url.toString())).html).toContain('>Sign in</button>');
});
