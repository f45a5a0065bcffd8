/**
 * No answer ever carries a stack trace, whatever NODE_ENV says (unset, development, production,
 * test): a refused DPoP proof at /fhir and at /api/* is a 401 with an ASCII `WWW-Authenticate`
 * challenge (RFC 9110 §5.5, RFC 9449 §7.1) and a JSON body; an error nobody expected inside a
 * route — even one that cannot be read — is a 500 as JSON for API callers and as a page for
 * browsers, with the cause in the request log's one line — on oidc-provider's side too, for an
 * error that escaped its own handling.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { authorizeInBrowser, registerTestApp, startAuthorization, CALLBACK } from '../support/app';
import { authorizedApp } from '../support/authorized';
import { captureLogs } from '../support/logs';
import { startTestServer, type TestServer } from '../support/server';

const ENVIRONMENTS: [string, string | undefined][] = [
  ['unset', undefined],
  ['development', 'development'],
  ['production', 'production'],
  ['test', 'test'],
];

/** Words that only a stack trace or express's own error page would put in an answer. */
const STACK = /\n\s+at |node_modules|\/src\/|\.ts:\d|<pre>|Internal Server Error/;

/** A printable-ASCII challenge: every quoted value free of `"` and `\` (RFC 9110 §11.2). */
const ASCII_CHALLENGE = /^DPoP realm="carevault", algs="[A-Za-z0-9 ]+", error="invalid_dpop_proof", error_description="[\x20\x21\x23-\x5B\x5D-\x7E]*"$/;

async function dpopProof(url: string, method: string, claims: Record<string, unknown>): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return new SignJWT({ jti: randomUUID(), htm: method, htu: url, iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(publicKey) })
    .sign(privateKey);
}

/** Starts a server under `env` (express and koa read NODE_ENV when they are created). */
async function serverUnder(env: string | undefined): Promise<TestServer> {
  const saved = process.env.NODE_ENV;
  if (env === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = env;
  try {
    return await startTestServer();
  } finally {
    process.env.NODE_ENV = saved;
  }
}

describe.each(ENVIRONMENTS)('NODE_ENV %s', (_name, env) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await serverUnder(env);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  test('a DPoP proof without ath, or with a wrong one, is a 401 with an ASCII challenge and JSON, at /fhir and /api/*', async () => {
    const person = await authorizedApp(server, 'Dee Proof');
    const clinic = await registerTestApp(server, { client_name: 'Proof Clinic', token_endpoint_auth_method: 'client_secret_basic', capabilities: ['dopu'] });
    const appToken = (await oidc.clientCredentialsGrant(clinic.config, { scope: 'dopu' })).access_token;
    const targets = [
      { url: `${server.issuer}/fhir/Observation`, token: person.accessToken },
      { url: `${server.issuer}/api/dopu/packages`, token: appToken },
    ];
    for (const { url, token } of targets) {
      const cases: [Record<string, unknown>, string][] = [
        [{}, 'ath'],
        [{ ath: 'not-the-hash-of-this-token' }, 'ath'],
        // The proof's own words come back in the refusal: quotes, a backslash, a line break, accents.
        [{ htm: 'G\u00C9T \u201Cme\u201D \\ \r\n\u202Eevil' }, 'The DPoP proof is for GET'],
      ];
      for (const [claims, words] of cases) {
        const res = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(url, 'GET', claims) } });
        const text = await res.text();
        expect({ url, claims, status: res.status }).toEqual({ url, claims, status: 401 });
        expect(res.headers.get('www-authenticate')).toMatch(ASCII_CHALLENGE);
        expect(res.headers.get('www-authenticate')).toContain(words);
        expect(res.headers.get('content-type')).toMatch(/json/);
        expect(text).not.toMatch(STACK);
        const body = JSON.parse(text) as Record<string, unknown>;
        if (url.includes('/fhir/')) expect(body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
        else
          expect(body).toMatchObject({
            error: 'invalid_dpop_proof',
            error_description: expect.stringContaining(words === 'ath' ? 'ath' : 'DPoP proof is for'),
          });
      }
    }
  });

  test('an error nobody expected inside a route: 500 without a stack, JSON for /api/* and a page for browsers, the cause logged', async () => {
    const person = await authorizedApp(server, 'Faye Lure');
    const clinic = await registerTestApp(server, {
      client_name: 'Failing Clinic',
      token_endpoint_auth_method: 'client_secret_basic',
      capabilities: ['connect'],
      rules: [{ scope: 'offline_access', required: true, reason: 'Send results' }],
    });
    const appToken = (await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' })).access_token;

    // A bug deep inside: the stores of the connect requests and of records fail as code would.
    const unreadable = new Error('forced: unreadable');
    Object.defineProperty(unreadable, 'message', {
      get() {
        throw new Error('even the message fails');
      },
    });
    const failures: Record<string, unknown> = {
      connect_requests: new TypeError('forced: cannot read properties of undefined'),
      custodianships: new RangeError('forced: invalid array length'),
    };
    const table = server.db.table;
    server.db.table = (name: string) => {
      const [tableName = ''] = name.split(' ');
      if (tableName in failures) throw failures[tableName];
      return table(name);
    };
    const logs = captureLogs();
    try {
      const api = await fetch(`${server.issuer}/api/connect/requests`, { headers: { authorization: `Bearer ${appToken}` } });
      const apiText = await api.text();
      expect(api.status).toBe(500);
      expect(api.headers.get('content-type')).toMatch(/json/);
      expect(apiText).not.toMatch(STACK);
      expect(JSON.parse(apiText)).toEqual({ error: 'server_error', error_description: expect.any(String) });

      const page = await person.browser.request('/records');
      expect(page.status).toBe(500);
      expect(page.headers.get('content-type')).toMatch(/html/);
      expect(page.html).not.toMatch(STACK);
      expect(page.html).toContain('Something went wrong');

      failures.connect_requests = unreadable;
      const poisoned = await fetch(`${server.issuer}/api/connect/requests`, { headers: { authorization: `Bearer ${appToken}` } });
      const poisonedText = await poisoned.text();
      expect(poisoned.status).toBe(500);
      expect(poisoned.headers.get('content-type')).toMatch(/json/);
      expect(poisonedText).not.toMatch(STACK);
      expect(poisonedText).not.toContain('forced');
    } finally {
      server.db.table = table;
      logs.stop();
    }
    const failed = logs.entries().filter((entry) => entry.message === 'request failed');
    const causes = failed.map((entry) => JSON.stringify(entry.err ?? entry.error ?? entry));
    expect(failed).toHaveLength(3);
    expect(causes[0]).toContain('forced: cannot read properties of undefined');
    expect(causes[1]).toContain('forced: invalid array length');
    expect(causes[2]).toMatch(/could not be read|non-error/);
  });

  test("an error that escapes oidc-provider's own handling (the token response's audit line): 500 JSON without a stack, the cause logged", async () => {
    // A code exchange appends its audit line after oidc-provider answered (a refresh writes its
    // line with the tokens, inside oidc-provider's handling).
    const person = await authorizedApp(server, 'Koa Lapse');
    const again = await startAuthorization(person.app, { scope: 'openid patient/Observation.cruds offline_access' });
    const back = await authorizeInBrowser(person.browser, again.url, person.person);
    const code = new URL(back.location ?? '', server.issuer).searchParams.get('code') ?? '';
    expect(code).not.toBe('');
    const query = server.db.query;
    server.db.query = ((statement, values) => {
      if (statement.text.startsWith('insert into audit_events')) return Promise.reject(new TypeError('forced: the audit line'));
      return query(statement, values);
    }) as typeof query;
    const logs = captureLogs();
    let res: Response;
    try {
      res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${person.app.clientId}:${person.app.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: again.verifier }).toString(),
      });
    } finally {
      server.db.query = query;
      logs.stop();
    }
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(res.headers.get('x-request-id')).toEqual(expect.any(String));
    expect(text).not.toMatch(STACK);
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: expect.any(String) });
    const failed = logs.entries().filter((entry) => entry.message === 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ route: 'token', res: { status: 500 } });
    expect(JSON.stringify(failed[0])).toContain('forced: the audit line');
  });
});

describe('a resume address of the connect flow with no sign-in behind it', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  test('a typed, guessed or odd /connect/<uid> is the page that asks to start again (400), never a 500', async () => {
    for (const path of ['/connect/abc', '/connect/abcdefghijklmnopqrstu/', '/connect/..;/', `/connect/${'x'.repeat(3000)}`, '/connect/abc?x=1']) {
      const res = await fetch(`${server.issuer}${path}`, { redirect: 'manual' });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(await res.text()).toContain('Please start again');
    }
  });

  test('the code form posted with no sign-in session behind it (stale or forged) asks to start again (400)', async () => {
    const res = await fetch(`${server.issuer}/connect`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf: 'forged', user_code: 'BCDF-GHJK-LMNP-QRST-VWXZ', confirm: 'yes' }).toString(),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Please start again');
  });
});
