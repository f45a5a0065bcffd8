/**
 * The DOPU app API and its refusals: who may call it (a client-credentials token
 * with the `dopu` capability), what a drop-off must be (each refusal with its status and the path
 * of the first problem), what the status and list show (never contents), withdrawal and decline,
 * and that a failed email never loses a package. Pages are driven at the HTTP level here.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import { setLogLevel } from '../../src/log';
import { Browser, textOf } from '../support/browser';
import { CALLBACK, registerTestApp } from '../support/app';
import { ANSWER, clinicApp, enterCode, reachReview, registeredPerson, sampleResources, type Dropper } from '../support/dopu';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let clinic: Dropper;

beforeAll(async () => {
  server = await startTestServer();
  clinic = await clinicApp(server, 'Riverside Clinic');
});

afterAll(async () => {
  await server?.stop();
});

const PACKAGE = { friendly_name: 'Your results', question: 'Your favourite colour?', answer: ANSWER };

function withResources(resources: unknown[], extra: Record<string, unknown> = {}) {
  return { ...PACKAGE, resources, ...extra };
}

const [OBSERVATION] = sampleResources() as Record<string, unknown>[];

describe('who may drop off', () => {
  test('no token 401, an app without the dopu capability 403 insufficient_scope, a person’s token 403', async () => {
    const none = await fetch(`${server.issuer}/api/dopu/packages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(withResources([OBSERVATION])),
    });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="carevault"/);
    expect(await none.json()).toEqual({ error: 'invalid_token', error_description: 'An access token is required (Authorization: Bearer … or DPoP …).' });

    const messenger = await clinicApp(server, 'Messenger', ['direct']);
    const refused = await messenger.call('/api/dopu/packages', { body: withResources([OBSERVATION]) });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(refused.body).toEqual({
      error: 'insufficient_scope',
      error_description: 'This API needs a client-credentials token with the scope dopu, for an app registered with that capability.',
    });
    expect((await messenger.call('/api/dopu/packages')).status).toBe(403);

    // A public app cannot even be registered with the capability.
    await expect(
      registerTestApp(server, { client_name: 'Public', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none', capabilities: ['dopu'] }),
    ).rejects.toThrow(/capabilities/);

    // A person's token (authorization code flow) is not an app's token.
    const reader = await registerTestApp(server, {
      client_name: 'Reader',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
      rules: [{ scope: 'patient/Observation.rs', required: true, reason: 'Chart' }],
    });
    const { browser } = await registeredPerson(server, 'Pat Token');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(reader.config, {
      redirect_uri: CALLBACK,
      scope: 'openid patient/Observation.rs',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'xyz',
    });
    let page = await browser.visit(url.toString());
    page = await browser.submit(page, { decision: 'allow' }, '/consent');
    const tokens = await oidc.authorizationCodeGrant(reader.config, new URL(page.location ?? ''), { pkceCodeVerifier: verifier, expectedState: 'xyz' });
    const personal = await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(personal.status).toBe(403);
  });
});

describe('what a drop-off must be', () => {
  const cases: [string, number, unknown, string | RegExp][] = [
    ['a body that is not JSON', 400, '{"friendly_name": ', 'The request body is not valid: check that it is well-formed JSON or form data.'],
    ['a body that is not an object', 400, [1, 2], 'The body must be a JSON object describing the package.'],
    ['no friendly name', 400, { ...withResources([OBSERVATION]), friendly_name: undefined }, 'friendly_name: must be a string'],
    ['a blank question', 400, withResources([OBSERVATION], { question: '   ' }), 'question: must not be empty'],
    [
      'a question with a line break',
      400,
      withResources([OBSERVATION], { question: 'one\ntwo' }),
      'question: must be one line of plain text, without control characters',
    ],
    [
      'a name that reads backwards',
      400,
      withResources([OBSERVATION], { friendly_name: 'scan\u202Efdp.exe' }),
      'friendly_name: must be one line of plain text, without control characters',
    ],
    [
      'a link in the name',
      400,
      withResources([OBSERVATION], { friendly_name: 'Your results: https://evil.example/login' }),
      'friendly_name: must not contain a web address or link (found "https://evil.example/login"): it is shown in the pickup email and on the pickup page',
    ],
    [
      'a bare web address in the name',
      400,
      withResources([OBSERVATION], { friendly_name: 'Results, also at clinic-results.example/you' }),
      'friendly_name: must not contain a web address or link (found "clinic-results.example"): it is shown in the pickup email and on the pickup page',
    ],
    [
      'an email address in the name',
      400,
      withResources([OBSERVATION], { friendly_name: 'Questions? Write to help@evil.example' }),
      'friendly_name: must not contain a web address or link (found "evil.example"): it is shown in the pickup email and on the pickup page',
    ],
    [
      'a www address in the question',
      400,
      withResources([OBSERVATION], { question: 'Which toy is shown at www.evil.example?' }),
      'question: must not contain a web address or link (found "www.evil.example?"): it is shown in the pickup email and on the pickup page',
    ],
    [
      'an answer of 5 characters',
      400,
      withResources([OBSERVATION], { answer: '  ab  cd ' }),
      'answer: must be at least 6 characters (spaces at either end do not count)',
    ],
    ['an email that is not one', 400, withResources([OBSERVATION], { email: 'not-an-email' }), 'email: must be an email address like name@example.com'],
    ['an unknown field', 400, withResources([OBSERVATION], { password: 'x' }), 'password: not a field of a package'],
    ['no resources', 400, withResources([]), 'resources: must hold at least one resource'],
    ['101 resources', 400, withResources(Array.from({ length: 101 }, () => OBSERVATION)), 'resources: must hold at most 100 resources'],
    ['a resource that is not an object', 400, withResources([OBSERVATION, 'text']), 'resources[1]: must be a FHIR resource (a JSON object).'],
    [
      'a type no record holds',
      400,
      withResources([{ resourceType: 'Organization', name: 'Clinic' }]),
      /^resources\[0\]\.resourceType: must be one of the types a record holds: Observation, /,
    ],
    [
      'a Patient',
      400,
      withResources([{ resourceType: 'Patient', name: [{ text: 'Mia' }] }]),
      /^resources\[0\]\.resourceType: a package cannot carry a Patient/,
    ],
    [
      'an invalid code',
      400,
      withResources([OBSERVATION, { ...OBSERVATION, id: 'b', status: 'bogus' }]),
      /^resources\[1\]\.status: "bogus" is not an allowed code here; use one of registered, preliminary, final/,
    ],
    [
      'an element FHIR does not define',
      400,
      withResources([{ ...OBSERVATION, colour: 'red' }]),
      'resources[0].colour: "colour" is not an element FHIR R4 defines here.',
    ],
    [
      'a subject that is not a patient',
      400,
      withResources([{ ...OBSERVATION, subject: { reference: 'Group/1' } }]),
      /^resources\[0\]\.subject: must be a Reference to the patient, like \{"reference": "Patient\/123"\}/,
    ],
    [
      'two resources with one id',
      400,
      withResources([OBSERVATION, OBSERVATION]),
      /^resources\[1\]\.id: another Observation in the package has the id "weight-1"/,
    ],
  ];

  test.each(cases)('%s → %i', async (_name, status, body, message) => {
    const res = await clinic.call('/api/dopu/packages', { body: typeof body === 'string' ? body : JSON.stringify(body) });
    expect(res.status).toBe(status);
    expect(res.body.error).toEqual(expect.any(String));
    if (typeof message === 'string') expect(res.body.error_description).toBe(message);
    else expect(res.body.error_description).toMatch(message);
  });

  test('ordinary words with dots are a fine name and question', async () => {
    const dotted = await clinicApp(server, 'Dotted Words Clinic');
    const res = await dotted.call('/api/dopu/packages', {
      body: withResources([OBSERVATION], {
        friendly_name: 'Dr. Smith’s results (v1.2), St. Mary’s, 10.30 a.m.',
        question: 'What is the name of the toy, e.g. the bear?',
      }),
    });
    expect(res.status).toBe(201);
  });

  test('more than 5 MB → 413; not JSON → 415; nothing was kept', async () => {
    const big = withResources([{ ...OBSERVATION, note: [{ text: 'x'.repeat(5 * 1024 * 1024) }] }]);
    const tooLarge = await clinic.call('/api/dopu/packages', { body: big });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toEqual({ error: 'payload_too_large', error_description: 'A package can be at most 5 MB of JSON.' });
    const form = await clinic.call('/api/dopu/packages', { body: 'friendly_name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect(form.body).toEqual({ error: 'unsupported_media_type', error_description: 'Send the package as JSON, with Content-Type application/json.' });
    // A package just under 5 MB is fine.
    const fits = await clinic.call('/api/dopu/packages', { body: withResources([{ ...OBSERVATION, note: [{ text: 'x'.repeat(4 * 1024 * 1024) }] }]) });
    expect(fits.status).toBe(201);
    const kept = await server.db.knex('dopu_packages').where({ client_id: clinic.clientId }).count<{ count: string }[]>('* as count');
    expect(Number(kept[0]?.count)).toBe(1);
  });
});

describe('status, list, withdrawal', () => {
  test('the status never shows contents, question, answer or code; another app’s package is 404', async () => {
    const receipt = await clinic.dropOff({ external_id: 'mrn-42' });
    const status = await clinic.call(`/api/dopu/packages/${receipt.id}`);
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      id: receipt.id,
      external_id: 'mrn-42',
      status: 'pending',
      created_at: expect.any(String),
      expires_at: receipt.expires_at,
      updated_at: status.body.created_at,
    });
    expect(Date.parse(status.body.expires_at) - Date.parse(status.body.created_at)).toBe(28 * 24 * 3600 * 1000);

    const other = await clinicApp(server, 'Hillside Clinic');
    for (const method of ['GET', 'DELETE']) {
      const res = await other.call(`/api/dopu/packages/${receipt.id}`, { method });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: 'not_found', error_description: 'This app has no package with this id.' });
    }
    expect((await clinic.call('/api/dopu/packages/not-a-uuid')).status).toBe(404);
    expect((await other.call('/api/dopu/packages')).body).toEqual({ packages: [] });
  });

  test('the list: the app’s own packages, by status and since, a page at a time', async () => {
    const lister = await clinicApp(server, 'Lister Clinic');
    const ids = [];
    for (let i = 0; i < 5; i += 1) ids.push((await lister.dropOff({ external_id: `n${i}` })).id);
    await lister.call(`/api/dopu/packages/${ids[1]}`, { method: 'DELETE' });

    const seen: string[] = [];
    let next: string | undefined = '/api/dopu/packages?limit=2';
    let pages = 0;
    while (next) {
      const res = await lister.call(next.replace(server.issuer, ''));
      expect(res.status).toBe(200);
      expect(res.body.packages.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.packages.map((entry: { id: string }) => entry.id));
      next = res.body.next;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...ids].sort());
    // The withdrawn one changed last.
    expect(seen).toHaveLength(5);

    const withdrawn = await lister.call('/api/dopu/packages?status=withdrawn');
    expect(withdrawn.body.packages.map((entry: { id: string; status: string }) => [entry.id, entry.status])).toEqual([[ids[1], 'withdrawn']]);
    const future = await lister.call(`/api/dopu/packages?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.packages).toEqual([]);
    const since = await lister.call(`/api/dopu/packages?status=pending&since=2000-01-01T00:00:00Z`);
    expect(since.body.packages).toHaveLength(4);

    for (const [query, message] of [
      ['status=lost', 'status: must be one of pending, picked_up, declined, expired, locked, withdrawn'],
      ['since=yesterday', 'since: must be a date and time like 2026-01-02T08:00:00Z'],
      ['limit=0', 'limit: must be at least 1'],
      ['cursor=abc', 'cursor: is not one this list gave; start again without it.'],
      ['colour=red', 'colour: not a parameter of this list'],
    ]) {
      const res = await lister.call(`/api/dopu/packages?${query}`);
      expect([res.status, res.body]).toEqual([400, { error: 'invalid_request', error_description: message }]);
    }
  });

  test('withdrawn: the contents are deleted, the code says so, a second withdrawal is 409', async () => {
    const receipt = await clinic.dropOff();
    const withdrawn = await clinic.call(`/api/dopu/packages/${receipt.id}`, { method: 'DELETE' });
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body).toMatchObject({ id: receipt.id, status: 'withdrawn' });
    const row = await server.db.knex('dopu_packages').where({ id: receipt.id }).first();
    expect(row.sealed).toBeNull();

    const again = await clinic.call(`/api/dopu/packages/${receipt.id}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: 'not_pending', error_description: 'The package is withdrawn: only a pending package can be withdrawn.' });

    // The person with the code is told, signed in or not.
    for (const browser of [new Browser(server.issuer), (await registeredPerson(server, 'Wendy Drawn')).browser]) {
      const page = await enterCode(browser, receipt.pickup_code);
      expect(page.status).toBe(410);
      expect(textOf(page.html)).toContain('Riverside Clinic withdrew this package; there is nothing to pick up.');
    }
    const kinds = await server.db
      .knex('audit_events')
      .where({ subject: `package:${receipt.id}` })
      .orderBy('id')
      .pluck('kind');
    expect(kinds).toEqual(['dopu.dropped_off', 'dopu.withdrawn']);
  });

  test('declined: the app sees `declined`, the contents are deleted, the code says so, and a withdrawal is 409', async () => {
    const receipt = await clinic.dropOff();
    const { browser } = await registeredPerson(server, 'Dee Clyne');
    const review = await reachReview(browser, receipt.pickup_code);
    expect(textOf(review.html)).toContain('What is in the package');
    const done = await browser.submit(review, { decision: 'decline' }, '/pickup/finish');
    expect(done.status).toBe(200);
    expect(textOf(done.html)).toContain('You declined the package from Riverside Clinic. Its contents were deleted.');
    expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('declined');
    expect((await server.db.knex('dopu_packages').where({ id: receipt.id }).first()).sealed).toBeNull();

    // Accept from the same review page afterwards (a second tab, or Back) shows how the pickup ended.
    const late = await browser.submit(review, { decision: 'accept' }, '/pickup/finish');
    expect(late.url).toBe(`${server.issuer}/pickup/done`);
    expect(textOf(late.html)).toContain('You declined the package from Riverside Clinic. Its contents were deleted.');
    expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('declined');
    const page = await enterCode(browser, receipt.pickup_code);
    expect(page.status).toBe(410);
    expect(textOf(page.html)).toContain('This package was declined; its contents were deleted.');
    expect((await clinic.call(`/api/dopu/packages/${receipt.id}`, { method: 'DELETE' })).status).toBe(409);
    const kinds = await server.db
      .knex('audit_events')
      .where({ subject: `package:${receipt.id}` })
      .orderBy('id')
      .pluck('kind');
    expect(kinds).toEqual(['dopu.dropped_off', 'dopu.answered', 'dopu.declined']);
  });
});

describe('the pages', () => {
  test('friendly name and question are shown as inert text; pages are no-store', async () => {
    const receipt = await clinic.dropOff({ friendly_name: '<script>alert("name")</script>', question: '<img src=x onerror=alert(1)> What is your toy?' });
    const { browser } = await registeredPerson(server, 'Ines Ert');
    const page = await enterCode(browser, receipt.pickup_code);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.html).not.toContain('<script>alert');
    expect(page.html).not.toContain('<img src=x');
    expect(page.html).toContain('&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;');
    expect(page.html).toContain('&lt;img src=x onerror=alert(1)&gt; What is your toy?');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  test('codes that are not codes, and unknown codes, are refused on the code page', async () => {
    const browser = new Browser(server.issuer);
    // Text no URL can carry (a lone surrogate, or a pair cut at the 40th character) is refused like any other.
    for (const typed of ['\uD800', `${'B'.repeat(39)}\uD83D\uDE00`, 'x'.repeat(5000)]) {
      const odd = await enterCode(browser, typed);
      expect(odd.status).toBe(400);
      expect(textOf(odd.html)).toContain('A pickup code is 20 letters in 5 groups of 4');
    }
    const malformed = await enterCode(browser, 'HELLO-1234');
    expect(malformed.status).toBe(400);
    expect(textOf(malformed.html)).toContain('A pickup code is 20 letters in 5 groups of 4, like JKWZ-QNMN-VHRX-ZGNR-GZNH.');
    const unknown = await enterCode(browser, 'BBBB-BBBB-BBBB-BBBB-BBBB');
    expect(unknown.status).toBe(404);
    expect(textOf(unknown.html)).toContain('No package has this pickup code. Check the code and try again.');
  });

  test('a person with one record goes straight from the answer to the review; a wrong form is refused', async () => {
    const receipt = await clinic.dropOff();
    const { browser } = await registeredPerson(server, 'Solo Person');
    const review = await reachReview(browser, receipt.pickup_code);
    expect(textOf(review.html)).toMatch(/these go into Solo Person ?’s record/);
    // A form with no decision the page offers changes nothing: the review again.
    const tampered = await browser.visit('/pickup/finish', {
      form: { _csrf: review.html.match(/name="_csrf" value="([^"]+)"/)?.[1] ?? '', decision: 'maybe' },
    });
    expect(tampered.url).toBe(`${server.issuer}/pickup/review`);
    expect(textOf(tampered.html)).toContain('What is in the package');
    expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('pending');
    const done = await browser.submit(review, { decision: 'accept' }, '/pickup/finish');
    expect(done.status).toBe(200);
    expect(textOf(done.html)).toContain('3 items from Riverside Clinic are now in Solo Person’s record.');
    const record = await browser.visit(done.html.match(/href="(\/records\/[0-9a-f-]{36})"/)?.[1] ?? '');
    expect(textOf(record.html)).toContain('Body weight — 72 kg');
  });
});

test('a mail that cannot be sent is logged and the package is kept', async () => {
  // The outbox cannot be created (a file has its name): sending fails after the commit.
  const outbox = path.join(server.config.dataDir, 'outbox');
  fs.rmSync(outbox, { recursive: true, force: true });
  fs.writeFileSync(outbox, 'not a folder');
  const warnings: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  setLogLevel('warn');
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    warnings.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const receipt = await clinic.dropOff({ email: 'someone@example.org' });
    expect((await clinic.call(`/api/dopu/packages/${receipt.id}`)).body.status).toBe('pending');
    const logged = warnings.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.message === 'pickup email not sent');
    expect(logged).toMatchObject({ level: 'warn', package: receipt.id });
    // The log names the package, never the person's address.
    expect(JSON.stringify(logged)).not.toContain('someone@example.org');
  } finally {
    process.stderr.write = write;
    setLogLevel('error');
    fs.rmSync(outbox, { force: true });
  }
});

test('pickup emails are limited per app: of 25 drop-offs with email at once, 20 are stored and mailed, 5 refused with 429 and nothing stored', async () => {
  const mailer = await clinicApp(server, 'Mass Mailer');
  const outbox = path.join(server.config.dataDir, 'outbox');
  const mailsFrom = (name: string) =>
    fs.existsSync(outbox)
      ? fs.readdirSync(outbox).filter((file) => fs.readFileSync(path.join(outbox, file), 'utf8').includes(`${name} left health information for you`)).length
      : 0;

  const replies = await Promise.all(
    Array.from({ length: 25 }, (_, i) => mailer.call('/api/dopu/packages', { body: withResources([OBSERVATION], { email: `person-${i}@example.org` }) })),
  );
  const refused = replies.filter((reply) => reply.status === 429);
  expect(replies.map((reply) => reply.status).sort()).toEqual([...Array(20).fill(201), ...Array(5).fill(429)]);
  for (const reply of refused) {
    expect(reply.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(reply.body.error).toBe('too_many_requests');
    expect(reply.body.error_description).toMatch(
      /^This app has had its 20 pickup emails for this hour, so nothing was stored\. Drop the package off without email and hand the person the pickup code, or ask for the email later\. Try again in \d+ seconds\.$/,
    );
  }
  const stored = await server.db.knex('dopu_packages').where({ client_id: mailer.clientId }).count<{ count: string }[]>('* as count');
  expect(Number(stored[0]?.count)).toBe(20);
  expect(mailsFrom('Mass Mailer')).toBe(20);

  // Without an email the app can still drop off; another app's emails are its own.
  expect((await mailer.call('/api/dopu/packages', { body: withResources([OBSERVATION]) })).status).toBe(201);
  const other = await clinicApp(server, 'Quiet Clinic');
  expect((await other.call('/api/dopu/packages', { body: withResources([OBSERVATION], { email: 'someone@example.org' }) })).status).toBe(201);
  expect(mailsFrom('Quiet Clinic')).toBe(1);
});
