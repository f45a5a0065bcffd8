/**
 * What one caller may make the server do with one request, tried as an attacker or a careless
 * client would: a batch of 1,000 searches each asking for 100 matches and their patient (89 KB
 * asking for about 260 MB of answer), a Bundle whose reads together return too much, a search that repeats
 * its `_include`, large Bundles sent again and again by one app, a 1,000-entry transaction whose
 * validation must not hold the event loop (or /healthz) for seconds, and imports asked for again and
 * again by one person. Each is refused in words (413 too-costly, 429 throttled with Retry-After)
 * or kept within its bounds, while ordinary Bundles still work.
 * https://hl7.org/fhir/R4/http.html#transaction · https://hl7.org/fhir/R4/valueset-issue-type.html
 */
import { CALLBACK, authorizeInBrowser, exchangeCode, registerTestApp, startAuthorization } from '../support/app';
import { textOf } from '../support/browser';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';

jest.setTimeout(180_000);

type Json = Record<string, any>;

/** Small enough for a test to reach, large enough for the Bundles the other tests send. */
const LARGE_BUNDLES_PER_APP = 3;
const IMPORTS_PER_PERSON = 2;

let server: TestServer;
let fhirBase: string;
let alex: SignedUp;

beforeAll(async () => {
  server = await startTestServer({ FHIR_LARGE_BUNDLES_PER_APP: String(LARGE_BUNDLES_PER_APP), IMPORTS_PER_PERSON: String(IMPORTS_PER_PERSON) });
  fhirBase = `${server.issuer}/fhir`;
  alex = await signedUpPerson(server, 'Alex Bounded');
});

afterAll(async () => {
  await server?.stop();
});

let apps = 0;
/** A token of a new app for `who`'s record, reading and writing every type (so `_include` brings the Patient). */
async function tokenFor(who: SignedUp): Promise<string> {
  apps += 1;
  const app = await registerTestApp(server, {
    client_name: `Bounded App ${apps}`,
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [{ scope: 'patient/*.cruds', required: true, reason: 'Everything' }],
  });
  const authorization = await startAuthorization(app, { scope: 'openid patient/*.cruds' });
  const back = await authorizeInBrowser(who.browser, authorization.url, who.person);
  return (await exchangeCode(app, authorization, back.location ?? '')).access_token;
}

async function post(token: string, body: unknown) {
  const res = await fetch(fhirBase, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, bytes: text.length, body: JSON.parse(text) as Json };
}

const weight = (value: number, extra: Json = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
  effectiveDateTime: '2026-03-01T08:00:00Z',
  valueQuantity: { value, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  ...extra,
});

const bundle = (type: 'batch' | 'transaction', entry: Json[]) => ({ resourceType: 'Bundle', type, entry });
const search = (url: string) => ({ request: { method: 'GET', url } });
const create = (resource: Json) => ({ resource, request: { method: 'POST', url: String(resource.resourceType) } });

/** Every resource in a batch or transaction answer, searchsets' entries included. */
function resourcesIn(answer: Json): number {
  return (answer.entry ?? []).reduce(
    (sum: number, entry: Json) => sum + (entry.resource?.resourceType === 'Bundle' ? (entry.resource.entry ?? []).length : entry.resource ? 1 : 0),
    0,
  );
}

const countIn = async (recordId: string) =>
  Number(((await server.db.knex('resources').where({ record_id: recordId }).count({ count: '*' })) as [{ count: string }])[0].count);

describe('one Bundle is bounded', () => {
  let token: string;
  beforeAll(async () => {
    // 120 observations: a search with _count=100 fills its page.
    const seeder = await tokenFor(alex);
    const seeded = await post(
      seeder,
      bundle(
        'transaction',
        Array.from({ length: 120 }, (_, i) => create(weight(60 + i / 10))),
      ),
    );
    expect(seeded.status).toBe(200);
    token = await tokenFor(alex);
  });

  test('the probe: 1,000 searches with _count=100&_include in one batch are refused at once, 8 at once leave memory where it was', async () => {
    const probe = bundle(
      'batch',
      Array.from({ length: 1000 }, () => search('Observation?_count=100&_include=Observation:patient')),
    );
    global.gc?.();
    const before = process.memoryUsage().rss;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(token, probe)));
    const took = Date.now() - started;
    const grown = process.memoryUsage().rss - before;
    for (const answer of answers) {
      expect(answer.status).toBe(413);
      expect(answer.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] });
      expect(answer.body.issue[0].diagnostics).toMatch(/at most 100 entries that read or search; this one has 1000/);
      expect(answer.bytes).toBeLessThan(2_000);
    }
    // Refused before any search ran: no time, no memory (each answer would be about 260 MB).
    expect(took).toBeLessThan(10_000);
    expect(grown).toBeLessThan(150 * 1024 * 1024);

    // The same searches, as many as a Bundle may hold, still work.
    const fine = await post(
      token,
      bundle(
        'batch',
        Array.from({ length: 5 }, () => search('Observation?_count=100&_include=Observation:patient')),
      ),
    );
    expect(fine.status).toBe(200);
    expect(fine.body.entry.map((entry: Json) => entry.response.status)).toEqual(Array(5).fill('200 OK'));
    expect(fine.body.entry[0].resource.entry).toHaveLength(101);
  });

  test('reads and searches of one Bundle return about 1,000 resources at most: later ones answer 413, a transaction is refused whole', async () => {
    const thirty = Array.from({ length: 30 }, () => search('Observation?_count=100&_include=Observation:patient'));
    const started = Date.now();
    const answer = await post(token, bundle('batch', thirty));
    expect(answer.status).toBe(200);
    const statuses = answer.body.entry.map((entry: Json) => entry.response.status);
    // Nine full pages (101 resources each), a tenth cut to what was left (91 matches, its next link
    // brings the rest), then nothing more.
    expect(statuses).toEqual([...Array(10).fill('200 OK'), ...Array(20).fill('413')]);
    expect(answer.body.entry[9].resource.entry.filter((entry: Json) => entry.search.mode === 'match')).toHaveLength(91);
    expect(answer.body.entry[9].resource.link.map((link: Json) => link.relation)).toEqual(['self', 'next']);
    expect(answer.body.entry[10].response.outcome.issue[0]).toMatchObject({ code: 'too-costly' });
    expect(resourcesIn(answer.body)).toBeLessThanOrEqual(1_000 + 500);
    expect(answer.bytes).toBeLessThan(5 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(30_000);

    // In a transaction the same is all or nothing: refused, and the write before it undone.
    const before = await countIn(alex.record);
    const refused = await post(token, bundle('transaction', [create(weight(99)), ...thirty]));
    expect(refused.status).toBe(413);
    expect(refused.body.issue[0]).toMatchObject({ code: 'too-costly' });
    expect(await countIn(alex.record)).toBe(before);

    // A conditional create searches too: 101 of them are past the bound, refused before any search.
    const conditional = Array.from({ length: 101 }, (_, i) => ({
      resource: weight(i),
      request: { method: 'POST', url: 'Observation', ifNoneExist: `_id=none-${i}` },
    }));
    const tooMany = await post(token, bundle('transaction', conditional));
    expect([tooMany.status, tooMany.body.issue[0].code]).toEqual([413, 'too-costly']);
    expect(await countIn(alex.record)).toBe(before);
  });

  test('an _include repeated 300 times is followed once', async () => {
    const { result: once, statements: onceStatements } = await statementsOf(server.db, () =>
      fetch(`${fhirBase}/Observation?_count=100&_include=Observation:patient`, { headers: { authorization: `Bearer ${token}` } }),
    );
    const { result: repeated, statements: repeatedStatements } = await statementsOf(server.db, () =>
      fetch(`${fhirBase}/Observation?_count=100&${Array(300).fill('_include=Observation:patient').join('&')}`, {
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    const [onceCount, repeatedCount] = [onceStatements.length, repeatedStatements.length];
    expect([once.status, repeated.status]).toEqual([200, 200]);
    expect(((await repeated.json()) as Json).entry).toHaveLength(101);
    expect(((await once.json()) as Json).entry).toHaveLength(101);
    expect(repeatedCount).toBe(onceCount);
  });
});

describe('large Bundles and imports are limited per caller', () => {
  test('an app sending large Bundles again and again gets 429 with Retry-After; small Bundles and other apps go on', async () => {
    const token = await tokenFor(alex);
    // 101 entries makes a Bundle large; deleting what is not there is cheap work.
    const large = bundle(
      'batch',
      Array.from({ length: 101 }, (_, i) => ({ request: { method: 'DELETE', url: `Observation/not-there-${i}` } })),
    );
    for (let sent = 0; sent < LARGE_BUNDLES_PER_APP; sent += 1) expect((await post(token, large)).status).toBe(200);
    const refused = await post(token, large);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
    expect(refused.body.issue[0].diagnostics).toMatch(
      /^This app has sent 3 large Bundles \(over 100 entries or 1 MB\) in the last hour, as many as one app may\. Try again in \d+ (seconds|minutes?)\.$/,
    );
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    const small = await post(token, bundle('batch', [search('Observation?_count=1')]));
    expect(small.status).toBe(200);
    expect((await post(await tokenFor(alex), large)).status).toBe(200);
  });

  test('/healthz answers within a second while a 1,000-entry transaction is validated, before the database is touched', async () => {
    const token = await tokenFor(alex);
    // Heavy entries (40 codings each, 3.5 MB in all); the last one is invalid, so the whole
    // request is validation and nothing is written.
    const heavy = (i: number) =>
      weight(50 + i / 100, {
        code: {
          text: 'Body weight',
          coding: Array.from({ length: 40 }, (_, j) => ({ system: 'http://loinc.org', code: `29463-${j}`, display: 'Body weight measured' })),
        },
      });
    const entries = Array.from({ length: 1000 }, (_, i) => create(i === 999 ? { ...heavy(i), status: 'bogus' } : heavy(i)));
    const before = await countIn(alex.record);
    let slowest = 0;
    let polls = 0;
    let done = false;
    const poll = (async () => {
      while (!done) {
        const started = Date.now();
        const res = await fetch(`${server.issuer}/healthz`);
        expect(res.status).toBe(200);
        slowest = Math.max(slowest, Date.now() - started);
        polls += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const statements: string[] = [];
    const stop = server.db.onStatement((sql) => statements.push(sql));
    const answer = await post(token, bundle('transaction', entries)).finally(() => {
      done = true;
      stop();
    });
    await poll;
    expect(answer.status).toBe(400);
    expect(answer.body.issue[0].diagnostics).toMatch(/^Bundle\.entry\[999\]: .*status/);
    expect(await countIn(alex.record)).toBe(before);
    // Validated before the transaction opens (on the embedded database it holds the one
    // connection /healthz needs), a few milliseconds at a time: no row was ever written.
    expect(statements.filter((sql) => /\bresources\b/.test(sql))).toEqual([]);
    expect(polls).toBeGreaterThan(3);
    expect(slowest).toBeLessThan(1_000);
  });

  test('a person asking for imports again and again gets 429 with Retry-After, in words on the page', async () => {
    const kim = await signedUpPerson(server, 'Kim Importer');
    const page = await kim.browser.visit(`/records/${kim.record}`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
    const file = JSON.stringify({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Condition', code: { text: 'Hay fever' } } }],
    });
    const review = async () => {
      const form = new FormData();
      form.append('_csrf', csrf);
      form.append('bundle', new Blob([file], { type: 'application/fhir+json' }), 'hay-fever.json');
      const url = `${server.issuer}/records/${kim.record}/import`;
      const res = await fetch(url, { method: 'POST', headers: { cookie: kim.browser.cookiesFor(url), accept: 'text/html' }, body: form, redirect: 'manual' });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), text: textOf(await res.text()) };
    };
    for (let asked = 0; asked < IMPORTS_PER_PERSON; asked += 1) {
      const shown = await review();
      expect([shown.status, shown.text]).toEqual([200, expect.stringContaining('Nothing has been added yet')]);
    }
    const refused = await review();
    expect(refused.status).toBe(429);
    expect(refused.text).toMatch(
      /You have asked for 2 imports or import reviews in the last hour, as many as one person may\. Try again in \d+ (seconds|minutes?)\./,
    );
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(await countIn(kim.record)).toBe(1);
  });
});
