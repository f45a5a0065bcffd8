/**
 * Hostile input at every route a person or an app can reach: wrong methods, unknown paths, broken
 * percent-encoding, odd ids, odd query strings, bodies of the wrong type or shape, NUL bytes and
 * invalid UTF-8 in form fields, odd FHIR resources and search values, garbage at the OAuth
 * endpoints, odd Authorization headers and cookies, other people's interactions and CSRF tokens.
 *
 * Errors: nothing a user sends produces a 500 or a stack trace; browser routes answer
 * pages, `/fhir` answers OperationOutcome, the OAuth endpoints answer RFC 6749 JSON errors. Every
 * request is sent raw (node:http, no URL normalisation) and checked for: a status below 500, no
 * `server_error`, no stack trace in the body, the right format for its route, the status expected
 * where one is certain, and no `unexpected error` logged by the server while it was answered.
 */
import http from 'node:http';
import Provider from 'oidc-provider';
import { Browser, textOf, type PageResponse } from '../support/browser';
import { CALLBACK, authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';
import { createAccountThrough } from '../support/forms';

const INITIAL_ACCESS_TOKEN = 'hostile-input-initial-access-token-0123456';

let server: TestServer;
let port: number;

/** Error lines the server logged (LOG_LEVEL error), and oidc-provider's server errors, in order. */
const logged: string[] = [];
const writeStderr = process.stderr.write.bind(process.stderr);
// oidc-provider answers its own unexpected errors (500 server_error) and only emits `server_error`;
// the test listens on every provider instance so the report can say what failed.
const emitOfProvider = Provider.prototype.emit;

// ---------------------------------------------------------------------------------------------
// Raw requests and the checks every answer must pass
// ---------------------------------------------------------------------------------------------

type Reply = { status: number; headers: http.IncomingHttpHeaders; text: string };

/** One request exactly as given: the path is not normalised, the body is sent as bytes. */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // An explicit Content-Length: without it Node sends a DELETE or OPTIONS body unframed.
    const length = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const req = http.request({ host: 'localhost', port, method, path, headers: { connection: 'close', ...length, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * What the answer must look like:
 * - `page`: a browser route, so an HTML page (redirects allowed);
 * - `fhir`: an OperationOutcome (application/fhir+json) for every error, WWW-Authenticate on 401;
 * - `oauth`: RFC 6749 §5.2 JSON `{ error, error_description? }` for every error;
 * - `json`: JSON `{ error, error_description }` for every error (carevault's own API style);
 * - `any`: an oidc-provider route that may answer a page or JSON; either is fine, text/plain is not.
 */
type Kind = 'page' | 'fhir' | 'oauth' | 'json' | 'any';

type Probe = {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  kind: Kind;
  /** The status (or statuses) that is right for this input, when it is certain. */
  status?: number | readonly number[];
  /** A short name for the report, when the request line does not say enough. */
  label?: string;
};

const STACK_LINE = /^\s*at (?:async )?(?:\S.*? \()?(?:\/|node:|file:)[^\s)]*:\d+:\d+\)?\s*$/m;
const FILE_POSITION = /[\w/.-]+\.(?:ts|js|mjs|cjs):\d+:\d+/;
const ERROR_WITH_PATH = /\b\w*Error: [^\n]*(?:\/work\/|\/src\/|node_modules|node:internal)/;

function leaksStack(text: string): boolean {
  return STACK_LINE.test(text) || FILE_POSITION.test(text) || ERROR_WITH_PATH.test(text) || text.includes('node_modules/');
}

function contentType(reply: Reply): string {
  return String(reply.headers['content-type'] ?? '');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function formatProblems(probe: Probe, reply: Reply): string[] {
  const method = probe.method ?? 'GET';
  const problems: string[] = [];
  // HEAD carries no body, and OPTIONS is a CORS preflight or an Allow list, not a page or an error.
  if (method === 'HEAD' || method === 'OPTIONS') return problems;
  const hasBody = reply.status !== 204 && reply.status !== 304 && reply.text.length > 0;
  const type = contentType(reply);
  if (probe.kind === 'page') {
    // Every page and error page is HTML; OPTIONS (Allow list) and HEAD carry no page.
    if (hasBody && (reply.status < 300 || reply.status >= 400) && !type.startsWith('text/html')) {
      problems.push(`expected an HTML page, got ${type || 'no content-type'}`);
    }
  } else if (probe.kind === 'fhir') {
    if (reply.status >= 400) {
      const body = parseJson(reply.text) as { resourceType?: unknown } | undefined;
      if (!type.startsWith('application/fhir+json')) problems.push(`expected application/fhir+json, got ${type || 'no content-type'}`);
      if (body?.resourceType !== 'OperationOutcome') problems.push('expected an OperationOutcome');
      if (reply.status === 401 && !reply.headers['www-authenticate']) problems.push('401 without WWW-Authenticate');
    }
  } else if (probe.kind === 'oauth' || probe.kind === 'json') {
    if (reply.status >= 400) {
      const body = parseJson(reply.text) as { error?: unknown; error_description?: unknown } | undefined;
      if (!type.startsWith('application/json')) problems.push(`expected application/json, got ${type || 'no content-type'}`);
      if (typeof body?.error !== 'string') problems.push('expected a JSON { error }');
      if (probe.kind === 'json' && typeof body?.error_description !== 'string') problems.push('expected a JSON { error_description }');
    }
  } else if (reply.status >= 400 && hasBody && !type.startsWith('text/html') && !type.startsWith('application/json')) {
    problems.push(`expected an HTML page or JSON, got ${type || 'no content-type'}`);
  }
  return problems;
}

/** The server's logged error, short: message, error, detail and the first frames in src/. */
function describeLogged(line: string): string {
  const entry = parseJson(line) as { message?: string; error?: string; detail?: string; stack?: string } | undefined;
  if (!entry) return line.slice(0, 300);
  const frames = (entry.stack ?? '')
    .split('\n')
    .filter((frame) => frame.includes('/src/') && !frame.includes('node_modules'))
    .slice(0, 3)
    .map((frame) =>
      frame
        .trim()
        .replace(/^.*\/src\//, 'src/')
        .replace(/\)$/, ''),
    );
  return `${entry.message}: ${entry.error}: ${entry.detail}${frames.length ? ` @ ${frames.join(' < ')}` : ''}`;
}

function labelOf(probe: Probe): string {
  const path = probe.path.length > 240 ? `${probe.path.slice(0, 120)}…${probe.path.slice(-100)} (${probe.path.length} chars)` : probe.path;
  return `${probe.method ?? 'GET'} ${path}${probe.label ? ` [${probe.label}]` : ''}`;
}

/** Sends one probe and returns what is wrong with the answer (nothing, when it is right). */
async function problemsOf(probe: Probe): Promise<string[]> {
  const before = logged.length;
  let reply: Reply;
  try {
    reply = await send(probe.method ?? 'GET', probe.path, probe.headers, probe.body);
  } catch (error) {
    return [`${labelOf(probe)} → no answer: ${(error as Error).message}`];
  }
  // Logging happens before the answer is written; give a late line a moment anyway.
  await new Promise((resolve) => setImmediate(resolve));
  const problems: string[] = [];
  if (reply.status >= 500) problems.push(`status ${reply.status}`);
  const expected = probe.status === undefined ? undefined : ([] as number[]).concat(probe.status);
  if (expected && reply.status < 500 && !expected.includes(reply.status)) problems.push(`status ${reply.status}, expected ${expected.join(' or ')}`);
  if (/server_error/.test(reply.text) || /error=server_error/.test(String(reply.headers.location ?? ''))) problems.push('server_error');
  if (leaksStack(reply.text)) problems.push('stack trace in the body');
  problems.push(...formatProblems(probe, reply));
  const lines = logged.slice(before);
  if (lines.length) problems.push(...lines.map((line) => `logged ${describeLogged(line)}`));
  if (!problems.length) return [];
  const body = reply.text.replace(/\s+/g, ' ').slice(0, 300);
  return [`${labelOf(probe)} → ${reply.status} ${contentType(reply)} | ${problems.join('; ')} | body: ${body}`];
}

/** Sends every probe in order and expects no problem with any answer. */
async function expectSane(probes: readonly Probe[]): Promise<void> {
  const problems: string[] = [];
  for (const probe of probes) problems.push(...(await problemsOf(probe)));
  expect(problems).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// People, apps and tokens to aim at
// ---------------------------------------------------------------------------------------------

type Person = { browser: Browser; person: ReturnType<typeof newPerson>; recordId: string };

let alice: Person;
let bob: Person;
let app: TestApp;
let token: string;
let refreshToken: string;
let authorizationId: string;
const NIL_UUID = '00000000-0000-4000-8000-000000000000';

async function registered(name: string): Promise<Person> {
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
  return { browser, person, recordId: row.record_id as string };
}

function cookiesOf(who: Person | Browser, path: string): Record<string, string> {
  const browser = who instanceof Browser ? who : who.browser;
  const cookie = browser.cookiesFor(path);
  return cookie ? { cookie } : {};
}

/** The CSRF token and action of a page's form. */
function formOf(page: PageResponse, actionContains = ''): { action: string; csrf: string } {
  const forms = [...page.html.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
  const form = forms.find((match) => (match[1] ?? '').includes(actionContains));
  if (!form) throw new Error(`no form with action containing "${actionContains}" on ${page.url}`);
  const csrf = /name="_csrf" value="([^"]*)"/.exec(form[2] ?? '')?.[1] ?? '';
  return { action: new URL((form[1] ?? '').replace(/&amp;/g, '&'), page.url).pathname, csrf };
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' } as const;
const HTML = { accept: 'text/html' } as const;

function bearer(value = token): Record<string, string> {
  return { authorization: `Bearer ${value}` };
}

function basic(credentials: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(credentials, 'latin1').toString('base64')}` };
}

function appAuth(): Record<string, string> {
  return basic(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret ?? '')}`);
}

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN, SIGNIN_FAILURES_PER_ADDRESS: '10000' });
  port = Number(new URL(server.issuer).port);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const errors = text.split('\n').filter((line) => line.includes('"level":"error"'));
    logged.push(...errors);
    if (errors.length) return true;
    return (writeStderr as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;

  Provider.prototype.emit = function emit(this: Provider, event: string | symbol, ...args: unknown[]) {
    if (event === 'server_error') {
      const error = args[1] as Error | undefined;
      logged.push(JSON.stringify({ message: 'oidc-provider server_error', error: error?.name, detail: error?.message, stack: error?.stack }));
    }
    return emitOfProvider.call(this, event, ...args);
  } as typeof Provider.prototype.emit;

  alice = await registered('Alice Hostile');
  bob = await registered('Bob Hostile');
  app = await registerTestApp(server, {
    client_name: 'Hostile Tester',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [
      { scope: 'patient/*.cruds', required: true, reason: 'Read and write everything' },
      { scope: 'offline_access', required: false, reason: 'Work while you are away' },
    ],
  });
  const authorization = await startAuthorization(app, { scope: 'openid patient/*.cruds offline_access' });
  const back = await authorizeInBrowser(alice.browser, authorization.url, alice.person);
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  token = tokens.access_token;
  refreshToken = tokens.refresh_token ?? '';
  authorizationId = (await server.db.knex('authorizations').where({ client_id: app.clientId, record_id: alice.recordId }).first('id')).id as string;
}, 40_000);

afterAll(async () => {
  process.stderr.write = writeStderr as typeof process.stderr.write;
  Provider.prototype.emit = emitOfProvider;
  await server?.stop();
});

// ---------------------------------------------------------------------------------------------
// Methods and paths
// ---------------------------------------------------------------------------------------------

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND'] as const;

function everyMethod(path: string, kind: Kind, headers: Record<string, string> = {}): Probe[] {
  return METHODS.flatMap((method): Probe[] => {
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE') return [{ method, path, kind, headers }];
    return [
      { method, path, kind, headers, label: 'no body' },
      { method, path, kind, headers: { ...headers, ...FORM }, body: 'a=b&_csrf=x', label: 'form body' },
      { method, path, kind, headers: { ...headers, 'content-type': 'application/json' }, body: '{"a":', label: 'broken JSON' },
    ];
  });
}

const PAGE_PATHS = () => [
  '/',
  '/login',
  '/register',
  '/logout',
  '/signed-in',
  '/records',
  `/records/${alice.recordId}`,
  `/records/${alice.recordId}/history`,
  `/records/${NIL_UUID}`,
  '/apps',
  `/apps/${authorizationId}/remove`,
  '/interaction/not-a-uid',
  '/interaction/not-a-uid/login',
  '/interaction/not-a-uid/register',
  '/interaction/not-a-uid/consent',
  '/pickup',
  '/connect',
  '/inbox',
  '/nothing-here',
  '/static/nothing.css',
  '/static/../package.json',
  '/static/%2e%2e/package.json',
  '/%2e%2e/%2e%2e/etc/passwd',
  '//evil.example/',
  '/records/',
  '/records//history',
  '/.env',
  '/index.html',
];

describe('wrong methods and unknown paths', () => {
  test('pages, signed out', async () => {
    await expectSane(PAGE_PATHS().flatMap((path) => everyMethod(path, 'page', HTML)));
  });

  test('pages, signed in', async () => {
    await expectSane(PAGE_PATHS().flatMap((path) => everyMethod(path, 'page', { ...HTML, ...cookiesOf(alice, path) })));
  });

  test('the records API, with and without a token', async () => {
    const paths = [
      '/fhir',
      '/fhir/',
      '/fhir/metadata',
      '/fhir/metadata/x',
      '/fhir/.well-known/smart-configuration',
      '/fhir/Observation',
      '/fhir/Observation/',
      '/fhir/Observation/abc',
      `/fhir/Patient/${alice.recordId}`,
      '/fhir/Observation/abc/_history/1',
      '/fhir/Observation/_search',
      '/fhir/Unknown',
      '/fhir/Unknown/1',
      '/fhir/$export',
      '/fhir/Observation/$validate',
      '/fhir/__proto__',
      '/fhir/constructor/1',
    ];
    await expectSane(paths.flatMap((path) => [...everyMethod(path, 'fhir'), ...everyMethod(path, 'fhir', bearer())]));
  });

  test('the app APIs (/api/…): JSON errors, whatever the method', async () => {
    const paths = [
      '/api/',
      '/api/dopu/packages',
      `/api/dopu/packages/${NIL_UUID}`,
      '/api/dopu/packages/%ZZ',
      '/api/connect/requests?status=%00&since=x',
      '/api/direct/messages',
      '/api/nothing',
    ];
    await expectSane(paths.flatMap((path) => [...everyMethod(path, 'json'), ...everyMethod(path, 'json', bearer())]));
  });

  test('the OAuth and OpenID endpoints', async () => {
    const oauth = ['/token', '/introspect', '/revoke', '/oauth/register', '/par', '/device/authorize', '/userinfo', '/oauth/register/nope'];
    const other = [
      '/authorize',
      '/session/end',
      '/session/end/confirm',
      '/device',
      '/jwks',
      '/.well-known/openid-configuration',
      '/.well-known/smart-configuration',
      '/healthz',
      '/authorize/resume',
      '/authorize/x',
    ];
    await expectSane([...oauth.flatMap((path) => everyMethod(path, 'oauth')), ...other.flatMap((path) => everyMethod(path, 'any', HTML))]);
  });
});

// ---------------------------------------------------------------------------------------------
// Broken percent-encoding, odd ids, odd query strings, big headers
// ---------------------------------------------------------------------------------------------

describe('malformed percent-encoding', () => {
  const BROKEN = ['%E0%A4%A', '%ZZ', '%', '%C0%AF', '%FF%FE', '%00', '%2F', '%25'];

  test('in the paths of pages', async () => {
    const probes = BROKEN.flatMap((bad): Probe[] => [
      { path: `/records/${bad}`, kind: 'page', headers: HTML },
      { path: `/records/${bad}`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, label: 'signed in' },
      { path: `/records/${bad}/history`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, label: 'signed in' },
      {
        method: 'POST',
        path: `/apps/${bad}/remove`,
        kind: 'page',
        headers: { ...HTML, ...FORM, ...cookiesOf(alice, '/apps') },
        body: '_csrf=x',
        label: 'signed in',
      },
      { path: `/interaction/${bad}`, kind: 'page', headers: HTML },
      { method: 'POST', path: `/interaction/${bad}/login`, kind: 'page', headers: { ...HTML, ...FORM }, body: 'email=a&password=b' },
      { path: `/${bad}`, kind: 'page', headers: HTML },
      { path: `/static/${bad}`, kind: 'page', headers: HTML },
    ]);
    await expectSane(probes);
  });

  test('in the paths of the records API', async () => {
    const probes = BROKEN.flatMap((bad): Probe[] => [
      { path: `/fhir/Observation/${bad}`, kind: 'fhir', headers: bearer(), status: [400, 404] },
      {
        method: 'PUT',
        path: `/fhir/Observation/${bad}`,
        kind: 'fhir',
        headers: { ...bearer(), 'content-type': 'application/fhir+json' },
        body: '{"resourceType":"Observation"}',
        status: [400, 404],
      },
      { method: 'DELETE', path: `/fhir/Observation/${bad}`, kind: 'fhir', headers: bearer(), status: [400, 404] },
      { path: `/fhir/${bad}`, kind: 'fhir', headers: bearer(), status: [400, 404] },
      { path: `/fhir/${bad}/1`, kind: 'fhir', status: [400, 404] },
    ]);
    await expectSane(probes);
  });

  test('in query strings', async () => {
    const probes = BROKEN.flatMap((bad): Probe[] => [
      { path: `/fhir/Observation?code=${bad}`, kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: `/fhir/Observation?${bad}=1`, kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: `/fhir/Observation?_count=${bad}`, kind: 'fhir', headers: bearer(), status: 400 },
      { path: `/login?return=${bad}`, kind: 'page', headers: HTML },
      { path: `/signed-in?state=${bad}&code=${bad}`, kind: 'page', headers: HTML },
      { path: `/?${bad}`, kind: 'page', headers: HTML },
      { path: `/authorize?client_id=${bad}&response_type=code&redirect_uri=${bad}`, kind: 'any', headers: HTML },
      {
        path: `/authorize?client_id=${encodeURIComponent(app.clientId)}&response_type=code&redirect_uri=${encodeURIComponent(CALLBACK)}&scope=${bad}&state=${bad}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
        kind: 'any',
        headers: HTML,
      },
      { path: `/session/end?id_token_hint=${bad}&post_logout_redirect_uri=${bad}`, kind: 'any', headers: HTML },
      { path: `/.well-known/openid-configuration?${bad}`, kind: 'any' },
      { method: 'POST', path: `/token?${bad}`, kind: 'oauth', headers: { ...appAuth(), ...FORM }, body: `grant_type=${bad}` },
    ]);
    await expectSane(probes);
  });
});

describe('odd ids in every :id path', () => {
  const ODD_IDS = () => [
    'abc',
    encodeURIComponent("1' OR '1'='1"),
    encodeURIComponent("1'; DROP TABLE resources; --"),
    encodeURIComponent('$1'),
    NIL_UUID,
    'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ',
    alice.recordId.toUpperCase(),
    bob.recordId,
    '%00',
    `${alice.recordId}%00`,
    '..',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    'a'.repeat(65),
    'a'.repeat(4000),
    '%F0%9F%92%A9',
    '-1',
    '1e309',
    '99999999999999999999999',
    'null',
    'undefined',
    '__proto__',
    'constructor',
    'toString',
    '%20',
  ];

  test('person pages: /records/:id, /records/:id/history, /apps/:id/remove', async () => {
    const records = await alice.browser.visit('/records');
    const { csrf } = formOf(records, '/records');
    const probes = ODD_IDS().flatMap((id): Probe[] => [
      { path: `/records/${id}`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, status: [400, 404] },
      { path: `/records/${id}/history`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, status: [400, 404] },
      {
        method: 'POST',
        path: `/apps/${id}/remove`,
        kind: 'page',
        headers: { ...HTML, ...FORM, ...cookiesOf(alice, '/apps') },
        body: `_csrf=${encodeURIComponent(csrf)}`,
        status: [400, 404],
      },
    ]);
    await expectSane(probes);
  });

  test('someone else’s record and authorization are not there (404/403), never a 500', async () => {
    const page = await bob.browser.visit('/apps');
    const { csrf } = formOf(await bob.browser.visit('/records'), '/records');
    expect(page.status).toBe(200);
    await expectSane([
      { path: `/records/${alice.recordId}`, kind: 'page', headers: { ...HTML, ...cookiesOf(bob, '/records') }, status: 404 },
      { path: `/records/${alice.recordId}/history`, kind: 'page', headers: { ...HTML, ...cookiesOf(bob, '/records') }, status: 404 },
      {
        method: 'POST',
        path: `/apps/${authorizationId}/remove`,
        kind: 'page',
        headers: { ...HTML, ...FORM, ...cookiesOf(bob, '/apps') },
        body: `_csrf=${encodeURIComponent(csrf)}`,
        status: [403, 404],
      },
    ]);
  });

  test('records API: /fhir/:type/:id', async () => {
    const probes = ODD_IDS().flatMap((id): Probe[] =>
      ['Observation', 'Patient'].flatMap((type): Probe[] => [
        { path: `/fhir/${type}/${id}`, kind: 'fhir', headers: bearer(), status: [400, 404] },
        {
          method: 'PUT',
          path: `/fhir/${type}/${id}`,
          kind: 'fhir',
          headers: { ...bearer(), 'content-type': 'application/fhir+json' },
          body: JSON.stringify({ resourceType: type, id: decodeURIComponent(id.includes('%0') ? 'x' : id), status: 'final', code: { text: 'x' } }),
          status: [400, 404, 405],
        },
        { method: 'DELETE', path: `/fhir/${type}/${id}`, kind: 'fhir', headers: bearer(), status: [400, 404, 405] },
      ]),
    );
    await expectSane(probes);
  });
});

describe('odd query strings and headers', () => {
  test('repeated and array-shaped parameters, prototype names, huge query strings', async () => {
    const signedIn = { ...HTML, ...cookiesOf(alice, '/') };
    await expectSane([
      { path: '/fhir/Observation?_count=1&_count=2', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?code[]=x', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?code[a]=x&code[b]=y', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?_count[a]=1', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?_count[]=1', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?__proto__=x&constructor=y&hasOwnProperty=z&toString=1', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?__proto__[_count]=1', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: '/fhir/Observation?=&&&=x&==', kind: 'fhir', headers: bearer(), status: [200, 400] },
      { path: `/fhir/Observation?code=${'x'.repeat(8000)}`, kind: 'fhir', headers: bearer(), status: [200, 400, 414] },
      { path: `/fhir/Observation?${Array.from({ length: 1500 }, (_, i) => `code=${i}`).join('&')}`, kind: 'fhir', headers: bearer(), status: [200, 400, 414] },
      { path: `/fhir/Observation?${Array.from({ length: 1500 }, (_, i) => `p${i}=${i}`).join('&')}`, kind: 'fhir', headers: bearer(), status: [200, 400, 414] },
      { path: '/login?return=/x&return=/y', kind: 'page', headers: HTML },
      { path: '/login?return[]=/x', kind: 'page', headers: HTML },
      { path: '/login?return=//evil.example', kind: 'page', headers: HTML },
      { path: `/login?return=/${'x'.repeat(8000)}`, kind: 'page', headers: HTML },
      { path: '/signed-in?state=a&state=b&code=c&code=d', kind: 'page', headers: HTML },
      { path: '/signed-in?state[]=a&code[]=b', kind: 'page', headers: signedIn },
      { path: `/?${'a=1&'.repeat(1500)}`, kind: 'page', headers: signedIn },
      { path: '/records?__proto__=1&constructor=2', kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') } },
      { path: '/authorize?client_id=a&client_id=b', kind: 'any', headers: HTML },
      {
        path: `/authorize?client_id=${encodeURIComponent(app.clientId)}&client_id=${encodeURIComponent(app.clientId)}&redirect_uri=${encodeURIComponent(CALLBACK)}&response_type=code`,
        kind: 'any',
        headers: HTML,
      },
      { path: `/authorize?${'x=1&'.repeat(1500)}client_id=${encodeURIComponent(app.clientId)}`, kind: 'any', headers: HTML },
      { path: '/.well-known/smart-configuration?a=1&a=2', kind: 'any' },
      { path: '/fhir/metadata?_format=xml&_format=json', kind: 'fhir' },
    ]);
  });

  test('huge, odd and garbage headers (within Node’s limits)', async () => {
    const junkCookie = Array.from({ length: 300 }, (_, i) => `junk${i}=${'v'.repeat(20)}`).join('; ');
    await expectSane([
      { path: '/', kind: 'page', headers: { ...HTML, 'x-junk': 'x'.repeat(12_000) } },
      { path: '/', kind: 'page', headers: { ...HTML, cookie: junkCookie } },
      { path: '/records', kind: 'page', headers: { ...HTML, cookie: `${cookiesOf(alice, '/records').cookie}; ${junkCookie}` } },
      { path: '/', kind: 'page', headers: { accept: '*/*;q=abc, text/html;q=2, ;;;' } },
      { path: '/nothing', kind: 'any', headers: { accept: 'application/json' } },
      { path: '/nothing', kind: 'any', headers: { accept: '' } },
      { path: '/', kind: 'page', headers: { ...HTML, 'accept-language': ';;;q=x,*-*-*' } },
      { path: '/', kind: 'page', headers: { ...HTML, 'accept-encoding': 'gzip;q=abc, br;q=-1' } },
      { path: '/', kind: 'page', headers: { ...HTML, 'x-forwarded-for': 'not an ip, , ,', 'x-forwarded-proto': 'gopher', 'x-forwarded-host': '%%%' } },
      { path: '/', kind: 'page', headers: { ...HTML, host: 'evil.example' } },
      { path: '/', kind: 'page', headers: { ...HTML, host: '[::1' } },
      { path: '/fhir/Observation', kind: 'fhir', headers: { ...bearer(), prefer: 'handling=strict'.repeat(500) } },
      { path: '/fhir/Observation?nope=1', kind: 'fhir', headers: { ...bearer(), prefer: 'handling=strict' }, status: 400 },
      { path: '/fhir/Observation', kind: 'fhir', headers: { ...bearer(), origin: 'null' } },
      { path: '/fhir/Observation', kind: 'fhir', headers: { ...bearer(), 'if-none-match': '*, W/"x", "' } },
      {
        method: 'OPTIONS',
        path: '/fhir/Observation',
        kind: 'fhir',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'x-'.repeat(3000) },
      },
      { path: '/.well-known/openid-configuration', kind: 'any', headers: { host: 'evil.example', 'x-forwarded-host': 'x' } },
    ]);
  });

  test('garbage and forged cookies', async () => {
    const cookies = [
      '_session=garbage; _session.sig=garbage',
      '_session=garbage; _session.legacy=garbage; _session.legacy.sig=x',
      `_session=${'a'.repeat(4000)}`,
      '_session=%ZZ; cv.browser=%ZZ; cv.csrf=%ZZ',
      'cv.signin=s:garbage; cv.signin=j:{}',
      'cv.signin=j:null',
      'cv.browser=j:{"a":1}',
      'cv.csrf=j:{"a":1}',
      'cv.csrf=j:[1,2]',
      'cv.csrf=j:5',
      'cv.csrf=s:x.y',
      '_interaction=garbage; _interaction.sig=garbage; _interaction_resume=x',
      ';;;=;=;;',
    ];
    const paths = ['/', '/records', '/apps', '/signed-in?state=x&code=y', '/interaction/not-a-uid', '/login'];
    const signedIn = ['/', '/records', '/apps', `/records/${alice.recordId}`].flatMap((path) =>
      [
        ['cv.csrf', 'j:{"a":1}'],
        ['cv.csrf', 'j:null'],
        ['cv.browser', 'j:{"a":1}'],
      ].map(([name = '', value = '']): Probe => ({
        path,
        kind: 'page',
        headers: withCookie({ ...HTML, ...cookiesOf(alice, path) }, name, value),
        label: `signed in, ${name}=${value}`,
      })),
    );
    await expectSane([
      ...cookies.flatMap((cookie) => paths.map((path): Probe => ({ path, kind: 'page', headers: { ...HTML, cookie }, label: cookie.slice(0, 40) }))),
      ...signedIn,
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// The records API: bodies and search values
// ---------------------------------------------------------------------------------------------

function observation(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { resourceType: 'Observation', status: 'final', code: { text: 'Body weight' }, valueQuantity: { value: 70, unit: 'kg' }, ...extra };
}

function create(
  body: string | Buffer,
  status: number | readonly number[],
  label: string,
  headers: Record<string, string> = { 'content-type': 'application/fhir+json' },
  type = 'Observation',
): Probe {
  return { method: 'POST', path: `/fhir/${type}`, kind: 'fhir', headers: { ...bearer(), ...headers }, body, status, label };
}

function nested(depth: number): string {
  return `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":${'[{"url":"http://x.example","extension":'.repeat(depth)}[]${'}]'.repeat(depth)}}`;
}

describe('records API bodies', () => {
  test('wrong content types, empty bodies and bodies that are not a resource', async () => {
    const valid = JSON.stringify(observation());
    await expectSane([
      create(valid, 415, 'text/plain', { 'content-type': 'text/plain' }),
      create(valid, 415, 'no content-type', {}),
      create('resourceType=Observation', 415, 'form', { ...FORM }),
      create('<Observation/>', 415, 'xml', { 'content-type': 'application/fhir+xml' }),
      create(valid, 415, 'multipart', { 'content-type': 'multipart/form-data; boundary=x' }),
      create(valid, [201, 400, 415], 'odd content-type parameters', { 'content-type': 'application/fhir+json;;; charset' }),
      create(valid, 415, 'unknown charset', { 'content-type': 'application/fhir+json; charset=klingon' }),
      create(valid, 415, 'latin1 charset', { 'content-type': 'application/fhir+json; charset=latin1' }),
      create(valid, [400, 415], 'garbage gzip', { 'content-type': 'application/fhir+json', 'content-encoding': 'gzip' }),
      create(valid, [400, 415], 'garbage deflate', { 'content-type': 'application/fhir+json', 'content-encoding': 'deflate' }),
      create(valid, 415, 'unknown encoding', { 'content-type': 'application/fhir+json', 'content-encoding': 'x-klingon' }),
      create('', 400, 'empty body'),
      create('   ', 400, 'blank body'),
      create('[]', 400, 'JSON array'),
      create('[{"resourceType":"Observation"}]', 400, 'JSON array of resources'),
      create('"Observation"', 400, 'JSON string'),
      create('42', 400, 'JSON number'),
      create('null', 400, 'JSON null'),
      create('true', 400, 'JSON true'),
      create('{', 400, 'truncated JSON'),
      create('{"resourceType":"Observation",}', 400, 'trailing comma'),
      create(`${valid}${valid}`, 400, 'two objects'),
      create(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from(valid)]), [201, 400], 'UTF-8 BOM'),
      create(Buffer.from(valid, 'utf16le'), [400, 415], 'UTF-16 bytes declared UTF-8'),
      create(nested(20), [201, 400], 'extensions nested 20 deep'),
      create(nested(5000), [400, 413], 'extensions nested 5000 deep'),
      create(`${'['.repeat(100_000)}${']'.repeat(100_000)}`, 400, 'arrays nested 100000 deep'),
      create(JSON.stringify(observation({ note: [{ text: 'x'.repeat(1_100_000) }] })), 413, 'over 1 MB'),
    ]);
  });

  test('conditional creates with odd conditions', async () => {
    const valid = JSON.stringify(observation());
    const json = { 'content-type': 'application/fhir+json' };
    await expectSane([
      create(valid, 400, 'empty If-None-Exist', { ...json, 'if-none-exist': '' }),
      create(valid, 400, 'If-None-Exist of an unknown parameter', { ...json, 'if-none-exist': 'identifier=x' }),
      create(valid, 400, 'If-None-Exist of a NUL', { ...json, 'if-none-exist': 'code=%00' }),
      create(valid, 400, 'If-None-Exist of a bad date', { ...json, 'if-none-exist': 'date=yesterday' }),
      create(valid, 400, 'If-None-Exist with _include', { ...json, 'if-none-exist': 'code=x&_include=Observation:patient' }),
      create(valid, [200, 201], 'If-None-Exist of 500 codes', { ...json, 'if-none-exist': `code=${Array.from({ length: 500 }, (_, i) => `c${i}`).join(',')}` }),
      create(valid, [200, 201, 400], 'If-None-Exist of __proto__', { ...json, 'if-none-exist': '__proto__=1&constructor=2' }),
      create(valid, [200, 201], 'If-None-Exist of another record', { ...json, 'if-none-exist': `patient=${bob.recordId}` }),
    ]);
  });

  test('resources of odd shapes', async () => {
    const codings = Array.from({ length: 2000 }, (_, i) => ({ system: 'http://loinc.org', code: `${i}-0` }));
    const deepContained = (depth: number): Record<string, unknown> =>
      depth === 0
        ? { resourceType: 'Basic', id: 'b0', code: { text: 'x' } }
        : { resourceType: 'Basic', id: `b${depth}`, code: { text: 'x' }, contained: [deepContained(depth - 1)] };
    const cases: [string, unknown, number | readonly number[]][] = [
      ['meta is a string', observation({ meta: 'x' }), 400],
      ['meta is an array', observation({ meta: [] }), 400],
      ['meta.versionId is a number', observation({ meta: { versionId: 7 } }), 400],
      ['id is a number', observation({ id: 5 }), 400],
      ['id is an object', observation({ id: {} }), 400],
      ['subject is a string', observation({ subject: 'Patient/x' }), 400],
      ['subject.reference is a number', observation({ subject: { reference: 7 } }), 400],
      ['subject is null', observation({ subject: null }), 400],
      ['subject is an array', observation({ subject: [{ reference: `Patient/${alice.recordId}` }] }), 400],
      ['subject names another record', observation({ subject: { reference: `Patient/${bob.recordId}` } }), 403],
      ['subject names this record', observation({ subject: { reference: `Patient/${alice.recordId}` } }), 201],
      ['subject is a contained reference', observation({ subject: { reference: '#p1' }, contained: [{ resourceType: 'Patient', id: 'p1' }] }), [400, 403]],
      [
        'subject ends like this record after another',
        observation({ subject: { reference: `Patient/${bob.recordId}/x/Patient/${alice.recordId}` } }),
        [400, 403],
      ],
      ['subject names this record on another server', observation({ subject: { reference: `https://evil.example/fhir/Patient/${alice.recordId}` } }), 403],
      ['a reference with a tail like another', observation({ hasMember: [{ reference: `Observation/x/y/Observation/z` }] }), 400],
      ['a reference 100000 characters long', observation({ hasMember: [{ reference: `Observation/${'x/'.repeat(50_000)}` }] }), 400],
      ['effectiveDateTime is an object', observation({ effectiveDateTime: {} }), 400],
      ['effectiveDateTime is February 30th', observation({ effectiveDateTime: '2024-02-30' }), [201, 400]],
      ['effectiveDateTime is year 0', observation({ effectiveDateTime: '0000-01-01' }), 400],
      ['effectivePeriod.start is year 1', observation({ effectivePeriod: { start: '0001-01-01T00:00:00Z' } }), [201, 400]],
      ['issued at the end of time', observation({ issued: '9999-12-31T23:59:59.999+14:00' }), [201, 400]],
      ['code is a number', observation({ code: 7 }), 400],
      ['code.coding is a string', observation({ code: { coding: 'x' } }), 400],
      ['code.coding holds null', observation({ code: { coding: [null] } }), 400],
      ['status is an array', observation({ status: ['final'] }), 400],
      ['2000 codings', observation({ code: { coding: codings } }), [201, 400, 413]],
      ['resourceType Condition at /Observation', { resourceType: 'Condition', subject: { reference: `Patient/${alice.recordId}` } }, 400],
      ['resourceType missing', { status: 'final', code: { text: 'x' } }, 400],
      ['resourceType a number', { resourceType: 5 }, 400],
      ['resourceType an object', { resourceType: { toString: 'Observation' } }, 400],
      ['resourceType __proto__', { resourceType: '__proto__' }, 400],
      ['contained Patient', observation({ contained: [{ resourceType: 'Patient', id: 'p1' }] }), [201, 400]],
      ['contained is a string', observation({ contained: 'x' }), 400],
      ['contained holds null', observation({ contained: [null] }), 400],
      ['contained holds an empty object', observation({ contained: [{}] }), 400],
      ['contained of an unknown type', observation({ contained: [{ resourceType: 'Nope', id: 'n' }] }), 400],
      ['contained with resourceType constructor', observation({ contained: [{ resourceType: 'constructor', id: 'n' }] }), 400],
      ['contained with resourceType __proto__', observation({ contained: [{ resourceType: '__proto__', id: 'n' }] }), 400],
      ['contained nested 200 deep', observation({ contained: [deepContained(200)] }), [201, 400]],
      ['__proto__ element', JSON.parse('{"resourceType":"Observation","status":"final","code":{"text":"x"},"__proto__":{"status":"x"}}'), 400],
      ['constructor element', observation({ constructor: { prototype: 1 } }), 400],
      ['value 1e400', JSON.parse(JSON.stringify(observation()).replace('"value":70', '"value":1e400')), [201, 400]],
      ['NUL in code.text', observation({ code: { text: 'a\u0000b' } }), [201, 400]],
      ['NUL in a coding', observation({ code: { coding: [{ system: 'http://x.example', code: 'a\u0000b' }] } }), [201, 400]],
      ['NUL in an element name', JSON.parse('{"resourceType":"Observation","status":"final","code":{"text":"x"},"a\\u0000b":1}'), 400],
      ['lone surrogate in code.text', JSON.parse('{"resourceType":"Observation","status":"final","code":{"text":"\\ud800"}}'), [201, 400]],
      ['control characters in code.text', observation({ code: { text: '\u0001\u0002\u001b[31m' } }), [201, 400]],
    ];
    await expectSane(cases.map(([label, body, status]) => create(JSON.stringify(body), status, label)));
  });

  test('invalid UTF-8 inside a resource', async () => {
    const prefix = Buffer.from('{"resourceType":"Observation","status":"final","code":{"text":"');
    const suffix = Buffer.from('"}}');
    await expectSane([
      create(Buffer.concat([prefix, Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), suffix]), [201, 400], 'invalid bytes'),
      create(Buffer.concat([prefix, Buffer.from([0xed, 0xa0, 0x80]), suffix]), [201, 400], 'encoded surrogate'),
      create(Buffer.concat([prefix, Buffer.from([0x00]), suffix]), 400, 'raw NUL byte in a string'),
    ]);
  });

  test('updates: odd bodies, ids and If-Match', async () => {
    const created = await send('POST', '/fhir/Observation', { ...bearer(), 'content-type': 'application/fhir+json' }, JSON.stringify(observation()));
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.text) as { id: string }).id;
    const json = { ...bearer(), 'content-type': 'application/fhir+json' };
    const put = (
      body: unknown,
      status: number | readonly number[],
      label: string,
      headers: Record<string, string> = {},
      path = `/fhir/Observation/${id}`,
    ): Probe => ({
      method: 'PUT',
      path,
      kind: 'fhir',
      headers: { ...json, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      status,
      label,
    });
    const patient = (extra: Record<string, unknown>) => ({ resourceType: 'Patient', id: alice.recordId, ...extra });
    await expectSane([
      put(observation({ id }), 400, 'If-Match garbage', { 'if-match': 'garbage' }),
      put(observation({ id }), 400, 'If-Match unquoted', { 'if-match': 'W/1' }),
      put(observation({ id }), 400, 'If-Match letters', { 'if-match': 'W/"abc"' }),
      put(observation({ id }), [400, 412], 'If-Match list', { 'if-match': 'W/"1", W/"2"' }),
      put(observation({ id }), [200, 400, 412], 'If-Match *', { 'if-match': '*' }),
      put(observation({ id }), 412, 'If-Match huge version', { 'if-match': 'W/"99999999999999999999999"' }),
      put(observation({ id }), [400, 412], 'If-Match empty', { 'if-match': '' }),
      put(observation({ id }), [400, 412], 'If-Match very long', { 'if-match': `W/"${'9'.repeat(5000)}"` }),
      put(observation({ id: 5 }), 400, 'id a number'),
      put(observation(), 400, 'no id'),
      put(observation({ id: 'other' }), 400, 'id differs from the URL'),
      put(observation({ id: 'nothing-here' }), 404, 'no such resource', {}, '/fhir/Observation/nothing-here'),
      put({ ...observation({ id }), resourceType: 'Condition' }, 400, 'resourceType mismatch'),
      put([observation({ id })], 400, 'JSON array'),
      put('null', 400, 'JSON null'),
      put('', 400, 'empty body'),
      put(observation({ id }), 415, 'text/plain', { 'content-type': 'text/plain' }),
      put(observation({ id, meta: 'x' }), 400, 'meta a string'),
      put(observation({ id, subject: 'Patient/x' }), 400, 'subject a string'),
      put(observation({ id, subject: { reference: 7 } }), 400, 'subject.reference a number'),
      put(observation({ id, code: { text: 'a\u0000b' } }), [200, 400], 'NUL in code.text'),
      put(patient({ name: 'x' }), 400, 'Patient name a string', {}, `/fhir/Patient/${alice.recordId}`),
      put(patient({ name: [null] }), 400, 'Patient name holds null', {}, `/fhir/Patient/${alice.recordId}`),
      put(patient({ name: [{ given: [5], family: {} }] }), 400, 'Patient name parts of the wrong type', {}, `/fhir/Patient/${alice.recordId}`),
      put(patient({ name: [{ text: 'a\u0000b' }] }), [200, 400], 'NUL in the Patient name', {}, `/fhir/Patient/${alice.recordId}`),
      put(patient({ name: [{ text: 'x'.repeat(20_000) }] }), [200, 400], 'very long Patient name', {}, `/fhir/Patient/${alice.recordId}`),
      put(patient({ name: [{ text: 'Alice Hostile' }] }), 200, 'back to the real name', {}, `/fhir/Patient/${alice.recordId}`),
      put({ resourceType: 'Patient', id: bob.recordId }, [403, 404], 'someone else’s Patient', {}, `/fhir/Patient/${bob.recordId}`),
      { method: 'POST', path: '/fhir/Patient', kind: 'fhir', headers: json, body: JSON.stringify(patient({})), status: 405 },
      { method: 'DELETE', path: `/fhir/Patient/${alice.recordId}`, kind: 'fhir', headers: bearer(), status: 405 },
      { method: 'DELETE', path: `/fhir/Observation/${id}`, kind: 'fhir', headers: { ...bearer(), 'if-match': 'garbage' }, status: [204, 400] },
      { method: 'DELETE', path: `/fhir/Observation/${id}`, kind: 'fhir', headers: bearer(), status: [204, 404, 410] },
    ]);
  });
});

describe('records API search values', () => {
  const search = (query: string, status: number | readonly number[] = [200, 400], type = 'Observation'): Probe => ({
    path: `/fhir/${type}?${query}`,
    kind: 'fhir',
    headers: bearer(),
    status,
  });

  test('dates, counts, cursors, references and tokens', async () => {
    await expectSane([
      search('date=ge', 400),
      search('date=', [200, 400]),
      search('date=2024-02-30', 400),
      search('date=2023-02-29', 400),
      search('date=2024-13', 400),
      search('date=2024-00-10', 400),
      search('date=2024-01-01T25:00', 400),
      search('date=2024-01-01T10:00:00+99:00', 400),
      search('date=0000', [200, 400]),
      search('date=0000-01-01', [200, 400]),
      search('date=lt0001', [200, 400]),
      search('date=9999-12', [200, 400]),
      search('date=gt9999-12-31T23:59:59-14:00', [200, 400]),
      search('date=eb2024&date=sa2025&date=ne2024-05', 200),
      search('date=xx2024', 400),
      search(`date=${'9'.repeat(5000)}`, 400),
      search('_lastUpdated=eq9999-99', 400),
      search('_lastUpdated=0000', [200, 400]),
      search('_lastUpdated=ge2024-01-01T00:00:00.1234567890123Z', [200, 400]),
      search('_count=-1', 400),
      search('_count=1e3', [200, 400]),
      search('_count=abc', 400),
      search('_count=', [200, 400]),
      search('_count=1.5', 400),
      search('_count=Infinity', 400),
      search('_count=0x10', [200, 400]),
      search('_count=99999999999999999999999', [200, 400]),
      search('_count=0', 200),
      search('_cursor=-5', 400),
      search('_cursor=99999999999999999999', 400),
      search('_cursor=9007199254740991', 200),
      search('_cursor=1e3', [200, 400]),
      search('_cursor=abc', 400),
      search('patient=', 200),
      search(`patient=${NIL_UUID}`, 200),
      search(`patient=${bob.recordId}`, 200),
      search(`subject=Patient/${alice.recordId}`, 200),
      search('subject=Patient/%00', 400),
      search(`patient=${'x'.repeat(5000)}`, 200),
      search('code=', 200),
      search('code=,,,', 200),
      search('code=a%22b%2Cc%5Cd%7Be%7D', 200),
      search('code=http://loinc.org|29463-7', 200),
      search('code=|||', 200),
      search('code=%00', [200, 400]),
      search('code=a%00b', [200, 400]),
      search('status=%00', [200, 400]),
      search('_id=%00', [200, 400]),
      search('_id=', 200),
      search(`_id=${Array.from({ length: 500 }, (_, i) => `id${i}`).join(',')}`, 200),
      search("_id=1'%20OR%20'1'='1", 200),
      search('vaccine-code=%00', [200, 400], 'Immunization'),
      search('type=%00', [200, 400], 'DocumentReference'),
      search('date=2024', 200, 'Patient'),
      search('_lastUpdated=%00', 400, 'Patient'),
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Authorization headers
// ---------------------------------------------------------------------------------------------

describe('Authorization headers', () => {
  const HEADERS = () => [
    'Bearer',
    'Bearer ',
    'Bearer  x',
    'Bearer x y',
    `Bearer ${token} extra`,
    `Bearer  ${token}`,
    `bearer ${token}`,
    `BEARER ${token}`,
    'Basic !!!',
    'Basic',
    `Basic ${Buffer.from(':').toString('base64')}`,
    'Digest username="x"',
    'Bearer %00%00%00%00%00%00%00%00%00%00%00',
    `Bearer ${'a'.repeat(10_000)}`,
    `Bearer ${'a'.repeat(100)}`,
    `Bearer ${'-'.repeat(30)}`,
    `Bearer ${token.slice(0, -1)}`,
    `Bearer ${refreshToken}`,
    'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
    'Bearer \u00ff\u00fe\u00fd',
  ];

  test('on the records API: 401 with WWW-Authenticate, or the answer', async () => {
    await expectSane(
      HEADERS().flatMap((authorization): Probe[] => [
        { path: '/fhir/Observation', kind: 'fhir', headers: { authorization }, status: [200, 400, 401], label: authorization.slice(0, 40) },
        { path: `/fhir/Patient/${alice.recordId}`, kind: 'fhir', headers: { authorization }, status: [200, 400, 401], label: authorization.slice(0, 40) },
        {
          method: 'POST',
          path: '/fhir/Observation',
          kind: 'fhir',
          headers: { authorization, 'content-type': 'application/fhir+json' },
          body: '{"resourceType":"Observation"}',
          status: [400, 401],
          label: authorization.slice(0, 40),
        },
      ]),
    );
  });

  test('on userinfo, introspection, revocation and registration: OAuth JSON errors', async () => {
    await expectSane(
      HEADERS().flatMap((authorization): Probe[] => [
        { path: '/userinfo', kind: 'oauth', headers: { authorization }, label: authorization.slice(0, 40) },
        { method: 'POST', path: '/introspect', kind: 'oauth', headers: { authorization, ...FORM }, body: `token=${token}`, label: authorization.slice(0, 40) },
        { method: 'POST', path: '/revoke', kind: 'oauth', headers: { authorization, ...FORM }, body: 'token=nothing', label: authorization.slice(0, 40) },
        {
          method: 'POST',
          path: '/oauth/register',
          kind: 'oauth',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: [CALLBACK] }),
          status: [400, 401],
          label: authorization.slice(0, 40),
        },
        {
          method: 'POST',
          path: '/token',
          kind: 'oauth',
          headers: { authorization, ...FORM },
          body: 'grant_type=client_credentials',
          status: [400, 401],
          label: authorization.slice(0, 40),
        },
      ]),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The OAuth endpoints
// ---------------------------------------------------------------------------------------------

describe('token, introspection and revocation endpoints', () => {
  const tokenProbe = (body: string, status: number | readonly number[], label: string, headers: Record<string, string> = { ...appAuth(), ...FORM }): Probe => ({
    method: 'POST',
    path: '/token',
    kind: 'oauth',
    headers,
    body,
    status,
    label,
  });

  test('garbage grant types, missing parameters, wrong bodies, huge and NUL values', async () => {
    const id = encodeURIComponent(app.clientId);
    await expectSane([
      tokenProbe('', 400, 'empty body'),
      tokenProbe('grant_type=garbage', 400, 'garbage grant type'),
      tokenProbe('grant_type=', 400, 'empty grant type'),
      tokenProbe('grant_type=authorization_code&grant_type=refresh_token', 400, 'grant type twice'),
      tokenProbe('grant_type[]=authorization_code', 400, 'grant type as an array'),
      tokenProbe('grant_type=authorization_code', 400, 'no code'),
      tokenProbe(`grant_type=authorization_code&code=x&redirect_uri=${encodeURIComponent(CALLBACK)}`, 400, 'unknown code'),
      tokenProbe(
        `grant_type=authorization_code&code=${'a'.repeat(40_000)}&redirect_uri=${encodeURIComponent(CALLBACK)}&code_verifier=${'a'.repeat(43)}`,
        [400, 413],
        'huge code',
      ),
      tokenProbe(`grant_type=authorization_code&code=%00&redirect_uri=${encodeURIComponent(CALLBACK)}&code_verifier=${'a'.repeat(43)}`, 400, 'NUL code'),
      tokenProbe(`grant_type=authorization_code&code=a%00b&redirect_uri=%00&code_verifier=%00`, 400, 'NUL code, redirect_uri and verifier'),
      tokenProbe(
        `grant_type=authorization_code&code=%FF%FE&redirect_uri=${encodeURIComponent(CALLBACK)}&code_verifier=${'a'.repeat(43)}`,
        400,
        'invalid UTF-8 code',
      ),
      tokenProbe('grant_type=refresh_token', 400, 'no refresh token'),
      tokenProbe('grant_type=refresh_token&refresh_token=%00', 400, 'NUL refresh token'),
      tokenProbe(`grant_type=refresh_token&refresh_token=${'r'.repeat(40_000)}`, [400, 413], 'huge refresh token'),
      tokenProbe(`grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}`, 400, 'an access token as refresh token'),
      tokenProbe(`grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}&scope=%00`, 400, 'NUL scope on refresh'),
      tokenProbe(`grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}&scope=patient/Nope.zz`, 400, 'unknown scope on refresh'),
      tokenProbe('grant_type=client_credentials&scope=%00', [400, 401], 'client credentials, NUL scope'),
      tokenProbe('grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=%00', 400, 'NUL device code'),
      tokenProbe('grant_type=urn:ietf:params:oauth:grant-type:device_code', 400, 'no device code'),
      tokenProbe('grant_type=password&username=a&password=b', 400, 'password grant'),
      tokenProbe('grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=x', 400, 'jwt-bearer grant'),
      tokenProbe(`${'x=1&'.repeat(2000)}grant_type=client_credentials`, [400, 413], 'many parameters'),
      tokenProbe(`grant_type=client_credentials&pad=${'p'.repeat(200_000)}`, [400, 413], 'oversized body'),
      tokenProbe('{"grant_type":"authorization_code","code":"x"}', 400, 'JSON body', { ...appAuth(), 'content-type': 'application/json' }),
      tokenProbe('[1,2]', 400, 'JSON array body', { ...appAuth(), 'content-type': 'application/json' }),
      tokenProbe('grant_type=authorization_code', 400, 'text/plain body', { ...appAuth(), 'content-type': 'text/plain' }),
      tokenProbe('grant_type=authorization_code', 400, 'no content-type', { ...appAuth() }),
      tokenProbe('grant_type=authorization_code', [400, 415], 'form with unknown charset', {
        ...appAuth(),
        'content-type': 'application/x-www-form-urlencoded; charset=klingon',
      }),
      tokenProbe('grant_type=authorization_code', [400, 415], 'garbage gzip', { ...appAuth(), ...FORM, 'content-encoding': 'gzip' }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'no client authentication', { ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic !!!', { authorization: 'Basic !!!', ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic without a colon', { ...basic('nocolon'), ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic with broken percent-encoding', { ...basic('%ZZ:%ZZ'), ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic with NUL client_id', { ...basic('%00:%00'), ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic with raw NUL client_id', { ...basic('\u0000:x'), ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic with invalid UTF-8', { ...basic('\u00ff\u00fe:\u00ff'), ...FORM }),
      tokenProbe('grant_type=client_credentials', [400, 401], 'Basic with a 10 kB id', { ...basic(`${'i'.repeat(10_000)}:x`), ...FORM }),
      tokenProbe(`grant_type=client_credentials&client_id=${id}&client_id=${id}`, [400, 401], 'client_id twice', { ...FORM }),
      tokenProbe('grant_type=client_credentials&client_id=%00', [400, 401], 'NUL client_id in the body', { ...FORM }),
      tokenProbe('grant_type=client_credentials&client_id=a%00b&client_secret=%00', [400, 401], 'NUL client_id and secret in the body', { ...FORM }),
      tokenProbe(`grant_type=client_credentials&client_id=${'i'.repeat(5000)}`, [400, 401], 'long client_id in the body', { ...FORM }),
      tokenProbe(`grant_type=client_credentials&client_id=${id}&client_secret=x`, [400, 401], 'client_secret_post for a basic client', { ...FORM }),
      tokenProbe(
        `grant_type=client_credentials&client_id=${id}&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=garbage`,
        [400, 401],
        'garbage client assertion',
        { ...FORM },
      ),
      tokenProbe(
        `grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=eyJhbGciOiJub25lIn0.eyJzdWIiOiIlMDAiLCJpc3MiOiJcdTAwMDAifQ.`,
        [400, 401],
        'unsigned client assertion naming a NUL client',
        { ...FORM },
      ),
      tokenProbe('grant_type=client_credentials', [400, 401], 'two authentication methods', { ...appAuth(), ...FORM }),
    ]);
  });

  test('introspection and revocation with odd tokens', async () => {
    const probes = [
      '',
      '%00',
      'a%00b',
      '%FF%FE',
      'x'.repeat(40_000),
      encodeURIComponent(token),
      `${encodeURIComponent(token)}&token=${encodeURIComponent(token)}`,
    ].flatMap((value): Probe[] => [
      {
        method: 'POST',
        path: '/introspect',
        kind: 'oauth',
        headers: { ...appAuth(), ...FORM },
        body: `token=${value}`,
        status: [200, 400, 413],
        label: `token=${value.slice(0, 30)}`,
      },
      {
        method: 'POST',
        path: '/introspect',
        kind: 'oauth',
        headers: { ...appAuth(), ...FORM },
        body: `token=${value}&token_type_hint=%00`,
        status: [200, 400, 413],
        label: 'NUL hint',
      },
      {
        method: 'POST',
        path: '/revoke',
        kind: 'oauth',
        headers: { ...appAuth(), ...FORM },
        body: `token=${value}&token_type_hint=garbage`,
        status: [200, 400, 413],
        label: `token=${value.slice(0, 30)}`,
      },
      { method: 'POST', path: '/revoke', kind: 'oauth', headers: { ...FORM }, body: `token=${value}`, status: [400, 401, 413], label: 'no client' },
    ]);
    probes.push(
      {
        method: 'POST',
        path: '/introspect',
        kind: 'oauth',
        headers: { ...appAuth(), 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        status: 400,
        label: 'JSON body',
      },
      {
        method: 'POST',
        path: '/revoke',
        kind: 'oauth',
        headers: { ...appAuth(), 'content-type': 'application/json' },
        body: '[]',
        status: 400,
        label: 'JSON body',
      },
    );
    await expectSane(probes);
  });
});

describe('dynamic registration', () => {
  const register = (body: string, status: number | readonly number[], label: string, headers: Record<string, string> = {}): Probe => ({
    method: 'POST',
    path: '/oauth/register',
    kind: 'oauth',
    headers: { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}`, 'content-type': 'application/json', ...headers },
    body,
    status,
    label,
  });
  const doc = (extra: Record<string, unknown>) => JSON.stringify({ client_name: 'Odd', redirect_uris: ['https://odd.example/cb'], ...extra });

  test('bodies that are not a registration document', async () => {
    await expectSane([
      register('', 400, 'empty body'),
      register('[]', 400, 'JSON array'),
      register('"x"', 400, 'JSON string'),
      register('5', 400, 'JSON number'),
      register('null', 400, 'JSON null'),
      register('{', 400, 'truncated JSON'),
      register('{}', 400, 'empty object'),
      register(`${'['.repeat(50_000)}${']'.repeat(50_000)}`, [400, 413], 'arrays nested 50000 deep'),
      register(`{"client_name":"x","a":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, [400, 413], 'objects nested 5000 deep'),
      register('client_name=x&redirect_uris=https://a.example/cb', 400, 'form body', { ...FORM }),
      register(doc({}), [400, 415], 'text/plain', { 'content-type': 'text/plain' }),
      register(doc({ client_name: 'x'.repeat(1_000_000) }), [400, 413], 'over 1 MB'),
    ]);
  });

  test('documents with odd fields', async () => {
    await expectSane([
      register(doc({ rules: 'x' }), 400, 'rules a string'),
      register(doc({ rules: [null] }), 400, 'rules hold null'),
      register(doc({ rules: [{ scope: 5 }] }), 400, 'rule scope a number'),
      register(doc({ rules: [{ scope: 'patient/Observation.rs', required: 'yes', reason: 'x' }] }), 400, 'required a string'),
      register(doc({ rules: [{ scope: 'patient/Observation.rs', reason: 'x', __proto__: { admin: true } }] }), [201, 400], '__proto__ in a rule'),
      register(doc({ rules: Array.from({ length: 5000 }, (_, i) => ({ scope: `patient/Observation.rs`, reason: `${i}` })) }), [400, 413], '5000 rules'),
      register(doc({ capabilities: {} }), 400, 'capabilities an object'),
      register(doc({ capabilities: ['nope'] }), 400, 'unknown capability'),
      register(doc({ capabilities: 'dopu' }), 400, 'capabilities a string'),
      register(doc({ redirect_uris: 'https://odd.example/cb' }), 400, 'redirect_uris a string'),
      register(doc({ redirect_uris: ['javascript:alert(1)'] }), 400, 'javascript: redirect'),
      register(doc({ redirect_uris: [null] }), 400, 'redirect_uris hold null'),
      register(doc({ redirect_uris: ['https://odd.example/cb\u0000'] }), 400, 'NUL in a redirect_uri'),
      register(doc({ client_name: 'a\u0000b' }), [201, 400], 'NUL in client_name'),
      register(doc({ client_name: 'x'.repeat(10_000) }), [201, 400], 'long client_name'),
      register(doc({ client_name: 5 }), 400, 'client_name a number'),
      register(doc({ grant_types: 'authorization_code' }), 400, 'grant_types a string'),
      register(doc({ grant_types: ['nope'] }), 400, 'unknown grant type'),
      register(doc({ token_endpoint_auth_method: 'nope' }), 400, 'unknown auth method'),
      register(doc({ token_endpoint_auth_method: 'private_key_jwt', jwks: 'x' }), 400, 'jwks a string'),
      register(doc({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [null] } }), 400, 'jwks keys hold null'),
      register(doc({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'RSA' }] } }), 400, 'incomplete RSA key'),
      register(doc({ jwks_uri: 'http://odd.example/jwks' }), 400, 'http jwks_uri'),
      register(doc({ scope: '%00 patient/*.cruds' }), [201, 400], 'scope field'),
      register(doc({ contacts: [{}], logo_uri: 5, policy_uri: 'x' }), 400, 'odd contact and URLs'),
      register(doc({ response_types: ['token'] }), 400, 'implicit response type'),
      register(doc({ subject_type: 'nope' }), 400, 'unknown subject type'),
      // RFC 7591 §2.3: a server that does not support software statements may ignore them.
      register(doc({ software_statement: 'garbage' }), [201, 400], 'garbage software statement'),
    ]);
  });

  test('the registration access token and client management paths', async () => {
    await expectSane([
      register(doc({}), 401, 'wrong initial access token', { authorization: 'Bearer wrong-token' }),
      register(doc({}), [400, 401], 'no initial access token', { authorization: '' }),
      register(doc({}), [400, 401], 'initial access token with a NUL', { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}%00` }),
      { path: '/oauth/register/nope', kind: 'oauth', headers: { authorization: 'Bearer garbage' }, status: [400, 401, 404] },
      { path: `/oauth/register/${encodeURIComponent(app.clientId)}`, kind: 'oauth', headers: { authorization: 'Bearer garbage' }, status: [400, 401] },
      { path: '/oauth/register/%00', kind: 'oauth', headers: { authorization: 'Bearer garbage' }, status: [400, 401, 404] },
      {
        method: 'PUT',
        path: `/oauth/register/${encodeURIComponent(app.clientId)}`,
        kind: 'oauth',
        headers: { authorization: 'Bearer garbage', 'content-type': 'application/json' },
        body: '{}',
        status: [400, 401, 404],
      },
      {
        method: 'DELETE',
        path: `/oauth/register/${encodeURIComponent(app.clientId)}`,
        kind: 'oauth',
        headers: { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` },
        status: [400, 401, 404],
      },
    ]);
  });
});

describe('authorization, device and logout endpoints', () => {
  test('odd authorization requests end at an error page or go back to the app, never a 500', async () => {
    const id = encodeURIComponent(app.clientId);
    const cb = encodeURIComponent(CALLBACK);
    const ok = `client_id=${id}&redirect_uri=${cb}&response_type=code&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
    const queries = [
      '',
      'client_id=',
      'client_id=%00',
      'client_id=a%00b&response_type=code',
      `client_id=${'c'.repeat(5000)}`,
      'client_id=unknown&redirect_uri=https://evil.example/',
      `client_id=${id}&redirect_uri=garbage`,
      `client_id=${id}&redirect_uri=%00`,
      `client_id=${id}&redirect_uri=${cb}%00`,
      `client_id=${id}&redirect_uri=${cb}&response_type=token`,
      `client_id=${id}&redirect_uri=${cb}&response_type=%00`,
      `${ok}&scope=%00`,
      `${ok}&scope=openid%20%00`,
      `${ok}&scope=openid&state=%00`,
      `${ok}&scope=openid&state=${'s'.repeat(6000)}`,
      `${ok}&scope=openid&nonce=a%00b`,
      `${ok}&scope=openid&login_hint=%00`,
      `${ok}&scope=openid&ui_locales=%00&claims_locales=%00&acr_values=%00`,
      `${ok}&scope=openid&claims=notjson`,
      `${ok}&scope=openid&claims=%7B%22userinfo%22%3A5%7D`,
      `${ok}&scope=openid&claims=%7B%22id_token%22%3A%7B%22a%5Cu0000b%22%3Anull%7D%7D`,
      `${ok}&scope=openid&max_age=-1`,
      `${ok}&scope=openid&max_age=abc`,
      `${ok}&scope=openid&prompt=none`,
      `${ok}&scope=openid&prompt=garbage`,
      `${ok}&scope=openid&prompt=%00`,
      `${ok}&scope=openid&request=garbage`,
      `${ok}&scope=openid&request=eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IlxcdTAwMDAifQ.`,
      `${ok}&scope=openid&request_uri=urn:ietf:params:oauth:request_uri:nope`,
      `${ok}&scope=openid&aud=a&aud=b`,
      `${ok}&scope=openid&aud=%00`,
      `${ok}&scope=openid&screen_hint=%00`,
      `${ok}&scope=openid&id_token_hint=garbage`,
      `${ok}&scope=openid&resource=%00`,
      `${ok}&scope=openid&code_challenge_method=plain`,
      `client_id=${id}&redirect_uri=${cb}&response_type=code&scope=openid&code_challenge=%00&code_challenge_method=S256`,
      `client_id=${id}&redirect_uri=${cb}&response_type=code&scope=openid&code_challenge=${'a'.repeat(5000)}&code_challenge_method=S256`,
      `${ok}&scope=openid&response_mode=%00`,
      `${ok}&scope=openid&response_mode=web_message`,
    ];
    const probes = queries.flatMap((query): Probe[] => [
      { path: `/authorize?${query}`, kind: 'any', headers: HTML },
      { path: `/authorize?${query}`, kind: 'any', headers: { ...HTML, ...cookiesOf(alice, '/authorize') }, label: 'signed in' },
      { method: 'POST', path: '/authorize', kind: 'any', headers: { ...HTML, ...FORM }, body: query, label: 'POST' },
    ]);
    probes.push(
      {
        method: 'POST',
        path: '/authorize',
        kind: 'any',
        headers: { ...HTML, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: app.clientId }),
        label: 'JSON body',
      },
      { method: 'POST', path: '/par', kind: 'oauth', headers: { ...appAuth(), ...FORM }, body: `${ok}&scope=openid&state=%00`, label: 'PAR with NUL state' },
      { method: 'POST', path: '/par', kind: 'oauth', headers: { ...appAuth(), ...FORM }, body: 'request=garbage', label: 'PAR garbage request' },
      { path: '/authorize?request_uri=urn:ietf:params:oauth:request_uri:%00&client_id=' + id, kind: 'any', headers: HTML },
    );
    await expectSane(probes);
  });

  test('device authorization, device verification and sign-out with odd input', async () => {
    await expectSane([
      // Patient Connect (the device flow) may not be switched on yet: then a 404, still as an OAuth error.
      { method: 'POST', path: '/device/authorize', kind: 'oauth', headers: { ...FORM }, body: '', status: [400, 401, 404] },
      { method: 'POST', path: '/device/authorize', kind: 'oauth', headers: { ...appAuth(), ...FORM }, body: 'scope=%00', status: [400, 401, 404] },
      {
        method: 'POST',
        path: '/device/authorize',
        kind: 'oauth',
        headers: { ...appAuth(), ...FORM },
        body: 'scope=openid&external_id=%00&friendly_name=%00&question=%00&answer=%00',
        status: [200, 400, 401, 404],
      },
      { method: 'POST', path: '/device/authorize', kind: 'oauth', headers: { ...FORM }, body: 'client_id=%00', status: [400, 401, 404] },
      {
        method: 'POST',
        path: '/device/authorize',
        kind: 'oauth',
        headers: { ...appAuth(), 'content-type': 'application/json' },
        body: '{}',
        status: [400, 401, 404],
      },
      { path: '/device', kind: 'any', headers: HTML },
      { path: '/device?user_code=%00', kind: 'any', headers: HTML },
      { path: `/device?user_code=${'A'.repeat(5000)}`, kind: 'any', headers: HTML },
      { method: 'POST', path: '/device', kind: 'any', headers: { ...HTML, ...FORM }, body: 'user_code=%00&xsrf=%00' },
      { method: 'POST', path: '/device', kind: 'any', headers: { ...HTML, ...FORM }, body: 'user_code=ABCD-EFGH&xsrf=garbage' },
      { method: 'POST', path: '/device', kind: 'any', headers: { ...HTML, 'content-type': 'application/json' }, body: '[]' },
      { path: '/session/end', kind: 'any', headers: HTML },
      { path: '/session/end?id_token_hint=garbage', kind: 'any', headers: HTML },
      { path: '/session/end?id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', kind: 'any', headers: HTML },
      { path: '/session/end?post_logout_redirect_uri=https://evil.example/&client_id=%00', kind: 'any', headers: HTML },
      { path: '/session/end?client_id=a%00b&state=%00&ui_locales=%00', kind: 'any', headers: HTML },
      { path: '/session/end', kind: 'any', headers: { ...HTML, ...cookiesOf(bob, '/session/end') }, label: 'signed in' },
      { method: 'POST', path: '/session/end/confirm', kind: 'any', headers: { ...HTML, ...FORM }, body: 'xsrf=garbage&logout=yes' },
      {
        method: 'POST',
        path: '/session/end/confirm',
        kind: 'any',
        headers: { ...HTML, ...FORM, ...cookiesOf(bob, '/session/end/confirm') },
        body: 'xsrf=%00&logout=%00',
        label: 'signed in',
      },
      { method: 'POST', path: '/session/end/confirm', kind: 'any', headers: { ...HTML, 'content-type': 'application/json' }, body: 'null' },
      { path: '/userinfo?access_token=%00', kind: 'oauth', status: [400, 401] },
      { method: 'POST', path: '/userinfo', kind: 'oauth', headers: { ...FORM }, body: 'access_token=%00', status: [400, 401] },
      { path: '/jwks?x=%00', kind: 'any' },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Forms: registration, sign-in, consent, records; interactions; CSRF
// ---------------------------------------------------------------------------------------------

/** A fresh browser on a fresh registration or sign-in form. */
async function freshForm(path: '/register' | '/login'): Promise<{ browser: Browser; action: string; csrf: string; headers: Record<string, string> }> {
  const browser = new Browser(server.issuer);
  const page = await browser.visit(path);
  expect(page.status).toBe(200);
  const { action, csrf } = formOf(page);
  return { browser, action, csrf, headers: { ...HTML, ...FORM, ...cookiesOf(browser, action) } };
}

/** The headers with one cookie's value replaced (or added). */
function withCookie(headers: Record<string, string>, name: string, value: string): Record<string, string> {
  const others = (headers.cookie ?? '').split('; ').filter((pair) => pair && !pair.startsWith(`${name}=`));
  return { ...headers, cookie: [...others, `${name}=${value}`].join('; ') };
}

describe('registration and sign-in forms', () => {
  const LONG = 'x'.repeat(30_000);
  // A form the handler refuses answers 303 back to its page, which shows why once; what the body
  // parser refuses (too large, not a form) is answered at once.

  test('registration: NUL bytes, invalid UTF-8, arrays, long values, wrong bodies', async () => {
    const cases: [string, string, number | readonly number[], Record<string, string>?][] = [
      ['NUL in the name', 'name=a%00b&email=NEW&password=a+long+enough+password', [303, 400]],
      ['only NUL as the name', 'name=%00&email=NEW&password=a+long+enough+password', [303, 400]],
      ['NUL in the email', 'name=Nul+Mail&email=a%00b%40example.org&password=a+long+enough+password', 303],
      ['NUL in the password', 'name=Nul+Pass&email=NEW&password=a+long%00enough+password', [303, 400]],
      ['invalid UTF-8 in the name', 'name=%FF%FE%C0%AF&email=NEW&password=a+long+enough+password', [303, 400]],
      ['invalid UTF-8 in the email', 'name=Bad+Mail&email=%FF%40example.org&password=a+long+enough+password', 303],
      ['invalid UTF-8 in the password', 'name=Bad+Pass&email=NEW&password=%FF%FE%FD%FC%FB%FA%F9%F8%F7%F6%F5', [303, 400]],
      ['broken percent-encoding', 'name=%E0%A4%A&email=%ZZ&password=%', 303],
      ['a lone surrogate in the name', 'name=%ED%A0%80&email=NEW&password=a+long+enough+password', [303, 400]],
      ['control characters in the name', 'name=%01%02%1B%5B31m&email=NEW&password=a+long+enough+password', [303, 400]],
      ['fields repeated', 'name=a&name=b&email=NEW&email=NEW&password=x&password=y', 303],
      ['array-shaped fields', 'name[]=a&email[]=NEW&password[]=a+long+enough+password', 303],
      ['prototype fields', '__proto__=x&constructor=y&name=Proto&email=NEW&password=a+long+enough+password', [303, 400]],
      ['no fields', '', 303],
      ['a 30 kB name', `name=${LONG.slice(0, 30_000)}&email=NEW&password=a+long+enough+password`, [303, 413]],
      ['an 8 kB password', `name=Long+Pass&email=NEW&password=${'p'.repeat(8_000)}`, 303],
      ['a body over the limit', `name=${LONG}${LONG}&email=NEW&password=x`, 413],
      ['too many fields', `${Array.from({ length: 300 }, (_, i) => `f${i}=1`).join('&')}`, [400, 413]],
      ['JSON body', '{"name":"J","email":"j@example.org","password":"a long enough password"}', [400, 403, 415], { 'content-type': 'application/json' }],
      ['text/plain body', 'name=T&email=t@example.org&password=a+long+enough+password', [400, 403, 415], { 'content-type': 'text/plain' }],
      [
        'unknown charset',
        'name=C&email=NEW&password=a+long+enough+password',
        [400, 403, 415],
        { 'content-type': 'application/x-www-form-urlencoded; charset=klingon' },
      ],
      ['garbage gzip', 'name=G&email=NEW&password=a+long+enough+password', [400, 403, 415], { 'content-encoding': 'gzip' }],
    ];
    const probes: Probe[] = [];
    for (const [label, fields, status, headers] of cases) {
      const form = await freshForm('/register');
      const email = encodeURIComponent(newPerson().email);
      const body = `_csrf=${encodeURIComponent(form.csrf)}&${fields.replace(/NEW/g, email)}`;
      probes.push({ method: 'POST', path: form.action, kind: 'page', headers: { ...form.headers, ...headers }, body, status, label });
    }
    await expectSane(probes);
  });

  test('sign-in: NUL bytes, invalid UTF-8, arrays, long values, wrong bodies', async () => {
    const email = encodeURIComponent(alice.person.email);
    const cases: [string, string, number | readonly number[], Record<string, string>?][] = [
      ['NUL in the email', 'email=a%00b%40example.org&password=whatever+it+is', 303],
      ['NUL in a known email', `email=${email}%00&password=whatever+it+is`, 303],
      ['only NUL as the email', 'email=%00&password=%00', 303],
      ['NUL in the password', `email=${encodeURIComponent(newPerson().email)}&password=a%00b`, 303],
      ['invalid UTF-8 in the email', 'email=%FF%FE%40example.org&password=whatever+it+is', 303],
      ['invalid UTF-8 in the password', `email=${encodeURIComponent(newPerson().email)}&password=%FF%FE`, 303],
      ['broken percent-encoding', 'email=%E0%A4%A&password=%ZZ', 303],
      ['SQL in the email', `email=${encodeURIComponent("' OR 1=1 --")}&password=x`, 303],
      ['fields repeated', `email=${email}&email=${email}&password=a&password=b`, 303],
      ['array-shaped fields', `email[]=${email}&password[]=x`, 303],
      ['no fields', '', 303],
      ['a 10 kB email', `email=${'e'.repeat(10_000)}%40example.org&password=x`, 303],
      ['a 10 kB password', `email=${encodeURIComponent(newPerson().email)}&password=${'p'.repeat(10_000)}`, 303],
      ['a body over the limit', `email=x&password=${'p'.repeat(40_000)}`, 413],
      ['JSON body', JSON.stringify({ email: alice.person.email, password: 'x' }), [400, 403, 415], { 'content-type': 'application/json' }],
    ];
    const probes: Probe[] = [];
    for (const [label, fields, status, headers] of cases) {
      const form = await freshForm('/login');
      const body = `_csrf=${encodeURIComponent(form.csrf)}&${fields}`;
      probes.push({ method: 'POST', path: form.action, kind: 'page', headers: { ...form.headers, ...headers }, body, status, label });
    }
    await expectSane(probes);
  });

  test('CSRF: missing, repeated, array-shaped, another browser’s, forged', async () => {
    const mine = await freshForm('/login');
    const theirs = await freshForm('/login');
    const fields = 'email=x%40example.org&password=whatever+it+is';
    const post = (body: string, label: string, headers = mine.headers, path = mine.action): Probe => ({
      method: 'POST',
      path,
      kind: 'page',
      headers,
      body,
      status: 403,
      label,
    });
    await expectSane([
      post(fields, 'no token'),
      post(`_csrf=&${fields}`, 'empty token'),
      post(`_csrf=${encodeURIComponent(theirs.csrf)}&${fields}`, 'another browser’s token'),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'my token with their cookies', theirs.headers),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'my token without cookies', { ...HTML, ...FORM }),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'token twice'),
      post(`_csrf[]=${encodeURIComponent(mine.csrf)}&${fields}`, 'array-shaped token'),
      post(`_csrf=%00&${fields}`, 'NUL token'),
      post(`_csrf=${'a'.repeat(10_000)}&${fields}`, 'long token'),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'token with a forged csrf cookie', withCookie(mine.headers, 'cv.csrf', 'j:{"a":1}')),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'token with an array csrf cookie', withCookie(mine.headers, 'cv.csrf', 'j:[1]')),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'token with a csrf cookie of another browser', withCookie(mine.headers, 'cv.csrf', theirs.csrf)),
      post(`_csrf=${encodeURIComponent(theirs.csrf)}&${fields}`, 'their token and csrf cookie', withCookie(mine.headers, 'cv.csrf', theirs.csrf)),
      post(`_csrf=${encodeURIComponent(mine.csrf)}&${fields}`, 'token with another browser id', withCookie(mine.headers, 'cv.browser', 'forged')),
      post(`_csrf=${encodeURIComponent(theirs.csrf)}&${fields}`, 'their token on /records', { ...HTML, ...FORM, ...cookiesOf(alice, '/records') }, '/records'),
      post(
        `_csrf=${encodeURIComponent(theirs.csrf)}`,
        'their token on /apps/:id/remove',
        { ...HTML, ...FORM, ...cookiesOf(alice, '/apps') },
        `/apps/${authorizationId}/remove`,
      ),
    ]);
  });
});

describe('interactions and consent', () => {
  test('other people’s, unknown and finished interactions; odd consent forms', async () => {
    const consentApp = await registerTestApp(server, {
      client_name: 'Consent Target',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
      rules: [
        { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
        { scope: 'patient/Condition.rs', required: false, reason: 'See your conditions' },
      ],
    });
    const authorization = await startAuthorization(consentApp, { scope: 'openid patient/Observation.rs patient/Condition.rs' });
    const consent = await alice.browser.visit(authorization.url.toString());
    expect(consent.html).toContain('>Allow</button>');
    const { action, csrf } = formOf(consent, '/consent');
    const uid = /\/interaction\/([^/]+)\/consent/.exec(action)?.[1] ?? '';
    const mine: Record<string, string> = { ...HTML, ...FORM, ...cookiesOf(alice, action) };
    const bobsRecords = await bob.browser.visit('/records');
    const bobsCsrf = formOf(bobsRecords, '/records').csrf;
    const theirs = { ...HTML, ...FORM, ...cookiesOf(bob, action) };
    const post = (body: string, status: number | readonly number[], label: string, headers: Record<string, string> = mine, path = action): Probe => ({
      method: 'POST',
      path,
      kind: 'page',
      headers,
      body,
      status,
      label,
    });
    const csrfField = `_csrf=${encodeURIComponent(csrf)}`;

    await expectSane([
      // Another person at this interaction: not theirs (no interaction cookie), never a 500.
      {
        path: `/interaction/${uid}`,
        kind: 'page',
        headers: { ...HTML, ...cookiesOf(bob, `/interaction/${uid}`) },
        status: 400,
        label: 'Bob at Alice’s interaction',
      },
      post(`_csrf=${encodeURIComponent(bobsCsrf)}&decision=allow&record=${bob.recordId}`, 400, 'Bob posts to Alice’s consent', theirs),
      post(`_csrf=${encodeURIComponent(bobsCsrf)}&email=x&password=y`, 400, 'Bob signs in at Alice’s interaction', theirs, `/interaction/${uid}/login`),
      post(`${csrfField}&email=x&password=y`, [303, 400], 'sign-in posted at the consent step', mine, `/interaction/${uid}/login`),
      post(`${csrfField}&name=x&email=y&password=z`, [303, 400], 'registration posted at the consent step', mine, `/interaction/${uid}/register`),
      { path: `/interaction/${uid}/register`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, `/interaction/${uid}/register`) }, status: [200, 303] },
      // Unknown uids, with and without an interaction cookie of another uid.
      { path: '/interaction/AAAAAAAAAAAAAAAAAAAAA', kind: 'page', headers: HTML, status: 400 },
      { path: `/interaction/${'u'.repeat(5000)}`, kind: 'page', headers: HTML, status: [400, 404, 414] },
      // The interaction is the cookie's; the uid in the path is only where the browser sends it.
      { path: `/interaction/${uid}x`, kind: 'page', headers: { ...HTML, cookie: mine.cookie ?? '' }, status: [200, 400] },
      // Odd consent forms: each is refused with the consent page again, and the interaction lives on.
      post(`${csrfField}`, 400, 'no decision'),
      post(`${csrfField}&decision=%00`, 400, 'NUL decision'),
      post(`${csrfField}&decision=allow%00`, 400, 'decision with a NUL'),
      post(`${csrfField}&decision=%FF%FE`, 400, 'invalid UTF-8 decision'),
      post(`${csrfField}&decision=allow&decision=deny`, 400, 'two decisions'),
      post(`${csrfField}&decision[]=allow`, 400, 'array-shaped decision'),
      post(`${csrfField}&decision=${'a'.repeat(20_000)}`, [400, 413], 'long decision'),
      post(`${csrfField}&decision=allow&record=%00`, 400, 'NUL record'),
      post(`${csrfField}&decision=allow&record=${alice.recordId}%00`, 400, 'record with a NUL'),
      post(`${csrfField}&decision=allow&record=${bob.recordId}`, 400, 'someone else’s record'),
      post(`${csrfField}&decision=allow&record=${alice.recordId}&record=${alice.recordId}`, 400, 'record twice'),
      post(`${csrfField}&decision=allow&record=%FF`, 400, 'invalid UTF-8 record'),
      post(`${csrfField}&decision=allow&record=${encodeURIComponent("' OR 1=1 --")}`, 400, 'SQL record'),
      post(`${csrfField}&decision=allow&record=${alice.recordId}&rules=%00&rules=${'r'.repeat(3000)}&rules[]=x`, [303, 400], 'odd rules'),
      post(`${csrfField}&${Array.from({ length: 250 }, () => 'rules=patient%2FCondition.rs').join('&')}&decision=deny`, [303, 400, 413], 'too many fields'),
      post('{"decision":"allow"}', [400, 403, 415], 'JSON body', { ...mine, 'content-type': 'application/json' }),
      post(`${csrfField}&decision=allow`, [400, 403, 415], 'garbage gzip', { ...mine, 'content-encoding': 'gzip' }),
    ]);

    // Finish it (deny), then the finished interaction is refused with a page.
    const denied = await send('POST', action, mine, `${csrfField}&decision=deny&record=%00`);
    expect(denied.status).toBeLessThan(500);
    await expectSane([
      post(`${csrfField}&decision=allow&record=${alice.recordId}`, [303, 400], 'consent posted again after finishing'),
      {
        path: `/interaction/${uid}`,
        kind: 'page',
        headers: { ...HTML, ...cookiesOf(alice, `/interaction/${uid}`) },
        status: [303, 400],
        label: 'finished interaction',
      },
      {
        path: `/interaction/${uid}/register`,
        kind: 'page',
        headers: { ...HTML, ...cookiesOf(alice, `/interaction/${uid}/register`) },
        status: [303, 400],
        label: 'finished interaction',
      },
    ]);
  });
});

describe('records pages forms', () => {
  test('adding someone in care: NUL bytes, invalid UTF-8, odd dates and relationships, arrays, long values', async () => {
    const page = await alice.browser.visit('/records');
    const { csrf } = formOf(page, '/records');
    const headers = { ...HTML, ...FORM, ...cookiesOf(alice, '/records') };
    const csrfField = `_csrf=${encodeURIComponent(csrf)}`;
    const cases: [string, string, number | readonly number[]][] = [
      ['NUL in the name', 'name=a%00b&birth_date=2020-02-02&relationship=child', [303, 400]],
      ['only NUL as the name', 'name=%00&birth_date=2020-02-02&relationship=child', [303, 400]],
      ['invalid UTF-8 in the name', 'name=%FF%FE&birth_date=2020-02-02&relationship=child', [303, 400]],
      ['a lone surrogate in the name', 'name=%ED%A0%80&birth_date=2020-02-02&relationship=child', [303, 400]],
      ['NUL in the birth date', 'name=Kid&birth_date=2020-02-02%00&relationship=child', 400],
      ['February 30th', 'name=Kid&birth_date=2020-02-30&relationship=child', 400],
      ['year 0', 'name=Kid&birth_date=0000-01-01&relationship=child', 400],
      ['year 9999', 'name=Kid&birth_date=9999-12-31&relationship=child', 400],
      ['a far-future birth date with many digits', 'name=Kid&birth_date=275760-09-13&relationship=child', 400],
      ['a birth date with a time', 'name=Kid&birth_date=2020-02-02T10:00:00Z&relationship=child', 400],
      ['NUL relationship', 'name=Kid&birth_date=2020-02-02&relationship=%00', 400],
      ['relationship self', 'name=Kid&birth_date=2020-02-02&relationship=self', 400],
      ['relationship __proto__', 'name=Kid&birth_date=2020-02-02&relationship=__proto__', 400],
      ['relationship toString', 'name=Kid&birth_date=2020-02-02&relationship=toString', 400],
      ['fields repeated', 'name=a&name=b&birth_date=2020-02-02&birth_date=2020-02-03&relationship=child&relationship=other', 400],
      ['array-shaped fields', 'name[]=a&birth_date[]=2020-02-02&relationship[]=child', 400],
      ['broken percent-encoding', 'name=%E0%A4%A&birth_date=%ZZ&relationship=%', 400],
      ['no fields', '', 400],
      ['a 10 kB name', `name=${'n'.repeat(10_000)}&birth_date=2020-02-02&relationship=child`, 400],
      ['a body over the limit', `name=${'n'.repeat(20_000)}&birth_date=2020-02-02&relationship=child`, 413],
      ['too many fields', `${Array.from({ length: 80 }, (_, i) => `f${i}=1`).join('&')}`, [400, 413]],
    ];
    const probes: Probe[] = cases.map(([label, fields, status]) => ({
      method: 'POST',
      path: '/records',
      kind: 'page',
      headers,
      body: `${csrfField}&${fields}`,
      status,
      label,
    }));
    probes.push(
      {
        method: 'POST',
        path: '/records',
        kind: 'page',
        headers: { ...headers, 'content-type': 'application/json' },
        body: '{"name":"J"}',
        status: [400, 403, 415],
        label: 'JSON body',
      },
      {
        method: 'POST',
        path: '/records',
        kind: 'page',
        headers: { ...headers, 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x--',
        status: [400, 403, 415],
        label: 'multipart body',
      },
      {
        method: 'POST',
        path: '/records',
        kind: 'page',
        headers: { ...headers, 'content-encoding': 'gzip' },
        body: `${csrfField}&name=G`,
        status: [400, 403, 415],
        label: 'garbage gzip',
      },
      {
        method: 'POST',
        path: '/records',
        kind: 'page',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded; charset=klingon' },
        body: `${csrfField}&name=C`,
        status: [400, 403, 415],
        label: 'unknown charset',
      },
      {
        method: 'POST',
        path: `/apps/${NIL_UUID}/remove`,
        kind: 'page',
        headers: { ...HTML, ...FORM, ...cookiesOf(alice, '/apps') },
        body: `${csrfField}&${'x'.repeat(5000)}=1`,
        status: [404, 413],
        label: 'body over the limit',
      },
      {
        method: 'POST',
        path: `/apps/${NIL_UUID}/remove`,
        kind: 'page',
        headers: { ...HTML, ...FORM, ...cookiesOf(alice, '/apps') },
        body: `${csrfField}&${Array.from({ length: 20 }, (_, i) => `f${i}=1`).join('&')}`,
        status: [404, 413],
        label: 'too many fields',
      },
    );
    await expectSane(probes);
    // Whatever was accepted, the pages that list it still render.
    await expectSane([
      { path: '/records', kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, status: 200 },
      { path: '/', kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/') }, status: 200 },
      { path: '/apps', kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/apps') }, status: 200 },
      { path: `/records/${alice.recordId}`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, status: 200 },
      { path: `/records/${alice.recordId}/history`, kind: 'page', headers: { ...HTML, ...cookiesOf(alice, '/records') }, status: 200 },
    ]);
  });
});
