/**
 * Fuzz with figures: more than 10,000 malformed requests across every endpoint and form
 * — broken JSON and forms, huge and deep bodies, wrong types, unicode edge cases, header
 * injection, duplicate parameters, wrong methods and content types — with real credentials where
 * an endpoint needs them, so the malformed part reaches the code behind the gate. It prints the
 * requests sent, the 5xx seen and the crashes (the server process ending, or no longer answering),
 * both of which must be 0. The generator is seeded: a failure names the request and replays.
 * Found so far: a multi-megabyte `code` overflowing the stack in the schema's pattern
 * (fhir/patterns.ts), and `/connect/%2e%2e/` failing inside oidc-provider (oidc/runtime.ts).
 */
import http from 'node:http';
import net from 'node:net';
import { authorizeInBrowser, exchangeCode, newPerson, startAuthorization, type TestApp } from '../support/app';
import { RECORD_KEEPER } from '../support/authorized';
import { Browser } from '../support/browser';
import { newServerTarget, registerAppOver, type ServerProcess, type ServerTarget } from '../support/process';

const TOTAL = 10_500;
const CONCURRENCY = 8;
const INITIAL_ACCESS_TOKEN = 'f'.repeat(40);

// The server runs as a process of its own (as in production, and on its own core): a crash is
// the process ending.
let target: ServerTarget;
let server: ServerProcess;
let port: number;
let person: { app: TestApp; accessToken: string };
let appToken: string;
let csrf: { cookie: string; token: string };
let interactionPath: string;

function registerApp(document: Record<string, unknown>): Promise<TestApp> {
  return registerAppOver(server.issuer, INITIAL_ACCESS_TOKEN, document);
}

beforeAll(async () => {
  target = await newServerTarget();
  server = await target.start({
    LOG_LEVEL: 'error',
    REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN,
    SIGNIN_FAILURES_PER_ADDRESS: '1000000',
    SIGNIN_FAILURES_PER_ACCOUNT: '1000000',
    AUTHORIZATION_REQUESTS_PER_ADDRESS: '1000000',
  });
  port = target.port;
  const app = await registerApp(RECORD_KEEPER);
  const browser = new Browser(server.issuer);
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.cruds offline_access' });
  const back = await authorizeInBrowser(browser, authorization.url, newPerson('Fuzz Target'), { register: true });
  person = { app, accessToken: (await exchangeCode(app, authorization, back.location ?? '')).access_token };
  const clinic = await registerApp({
    client_name: 'Fuzz Clinic',
    redirect_uris: ['https://clinic.example/cb'],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Read' },
      { scope: 'offline_access', required: true, reason: 'Offline' },
    ],
    capabilities: ['dopu', 'connect', 'direct'],
  });
  const token = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basicOf(clinic), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=dopu%20connect%20direct',
  });
  appToken = ((await token.json()) as { access_token: string }).access_token;
  const records = await browser.request('/records');
  csrf = { cookie: browser.cookiesFor('/records'), token: /name="_csrf" value="([^"]+)"/.exec(records.html)?.[1] ?? '' };
  const pending = await fetch((await startAuthorization(app, { scope: 'openid patient/Observation.cruds' })).url, { redirect: 'manual' });
  interactionPath = new URL(pending.headers.get('location') ?? '/interaction/none', server.issuer).pathname;
  if (!appToken || !csrf.token || !interactionPath.startsWith('/interaction/')) {
    throw new Error(
      `fuzz set-up incomplete: ${JSON.stringify({ appToken: Boolean(appToken), csrf: Boolean(csrf.token), interactionPath, status: pending.status })}`,
    );
  }
}, 120_000);

afterAll(async () => {
  await target?.remove();
});

function basicOf(app: TestApp): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret ?? '')}`).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so every run sends the same requests. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(13);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

type Probe = { label: string; method: string; path: string; headers: Record<string, string>; body?: Buffer; raw?: Buffer };

type Auth = 'none' | 'bearer' | 'app' | 'client' | 'registration' | 'page';
type Target = { method: string; path: string; kind: 'json' | 'fhir' | 'form' | 'none'; auth: Auth };

const ID = '00000000-0000-4000-8000-000000000000';
const TARGETS: Target[] = [
  { method: 'GET', path: '/authorize', kind: 'none', auth: 'none' },
  { method: 'POST', path: '/authorize', kind: 'form', auth: 'none' },
  { method: 'POST', path: '/token', kind: 'form', auth: 'client' },
  { method: 'POST', path: '/token', kind: 'form', auth: 'none' },
  { method: 'POST', path: '/introspect', kind: 'form', auth: 'client' },
  { method: 'POST', path: '/revoke', kind: 'form', auth: 'client' },
  { method: 'GET', path: '/userinfo', kind: 'none', auth: 'bearer' },
  { method: 'POST', path: '/userinfo', kind: 'form', auth: 'bearer' },
  { method: 'POST', path: '/oauth/register', kind: 'json', auth: 'registration' },
  { method: 'POST', path: '/par', kind: 'form', auth: 'client' },
  { method: 'POST', path: '/device/authorize', kind: 'form', auth: 'client' },
  { method: 'GET', path: '/session/end', kind: 'none', auth: 'none' },
  { method: 'POST', path: '/session/end', kind: 'form', auth: 'none' },
  { method: 'GET', path: '/connect', kind: 'none', auth: 'none' },
  { method: 'POST', path: '/connect', kind: 'form', auth: 'none' },
  { method: 'GET', path: '/jwks', kind: 'none', auth: 'none' },
  { method: 'GET', path: '/.well-known/openid-configuration', kind: 'none', auth: 'none' },
  { method: 'GET', path: '/.well-known/smart-configuration', kind: 'none', auth: 'none' },
  { method: 'GET', path: '/', kind: 'none', auth: 'page' },
  { method: 'GET', path: '/login', kind: 'none', auth: 'none' },
  { method: 'GET', path: '/register', kind: 'none', auth: 'none' },
  { method: 'GET', path: '/logout', kind: 'none', auth: 'page' },
  { method: 'GET', path: '/records', kind: 'none', auth: 'page' },
  { method: 'POST', path: '/records', kind: 'form', auth: 'page' },
  { method: 'GET', path: `/records/${ID}`, kind: 'none', auth: 'page' },
  { method: 'GET', path: `/records/${ID}/history`, kind: 'none', auth: 'page' },
  { method: 'GET', path: '/apps', kind: 'none', auth: 'page' },
  { method: 'POST', path: `/apps/${ID}/remove`, kind: 'form', auth: 'page' },
  { method: 'GET', path: '/pickup', kind: 'none', auth: 'page' },
  { method: 'POST', path: '/pickup', kind: 'form', auth: 'page' },
  { method: 'POST', path: '/pickup/answer', kind: 'form', auth: 'page' },
  { method: 'GET', path: '/pickup/record', kind: 'none', auth: 'page' },
  { method: 'POST', path: '/pickup/record', kind: 'form', auth: 'page' },
  { method: 'GET', path: '/pickup/review', kind: 'none', auth: 'page' },
  { method: 'POST', path: '/pickup/finish', kind: 'form', auth: 'page' },
  { method: 'GET', path: '/pickup/done', kind: 'none', auth: 'page' },
  { method: 'GET', path: '/inbox', kind: 'none', auth: 'page' },
  { method: 'POST', path: `/inbox/${ID}/send`, kind: 'form', auth: 'page' },
  { method: 'GET', path: `/inbox/${ID}/messages/${ID}/delete`, kind: 'none', auth: 'page' },
  { method: 'POST', path: `/inbox/${ID}/messages/${ID}/delete`, kind: 'form', auth: 'page' },
  { method: 'POST', path: `/inbox/${ID}/messages/${ID}/restore`, kind: 'form', auth: 'page' },
  { method: 'GET', path: `/inbox/${ID}/sent`, kind: 'none', auth: 'page' },
  { method: 'GET', path: `/records/${ID}/documents/${ID}`, kind: 'none', auth: 'page' },
  { method: 'GET', path: `/records/${ID}/documents/${ID}/file`, kind: 'none', auth: 'page' },
  { method: 'GET', path: '/interaction/{uid}', kind: 'none', auth: 'page' },
  { method: 'POST', path: '/interaction/{uid}/login', kind: 'form', auth: 'page' },
  { method: 'POST', path: '/interaction/{uid}/register', kind: 'form', auth: 'page' },
  { method: 'POST', path: '/interaction/{uid}/consent', kind: 'form', auth: 'page' },
  { method: 'GET', path: '/fhir/metadata', kind: 'none', auth: 'none' },
  { method: 'GET', path: '/fhir/Observation', kind: 'none', auth: 'bearer' },
  { method: 'POST', path: '/fhir/Observation', kind: 'fhir', auth: 'bearer' },
  { method: 'POST', path: '/fhir/Observation/_search', kind: 'form', auth: 'bearer' },
  { method: 'PUT', path: `/fhir/Observation/${ID}`, kind: 'fhir', auth: 'bearer' },
  { method: 'GET', path: `/fhir/Observation/${ID}`, kind: 'none', auth: 'bearer' },
  { method: 'DELETE', path: `/fhir/Observation/${ID}`, kind: 'none', auth: 'bearer' },
  { method: 'POST', path: '/fhir/DocumentReference', kind: 'fhir', auth: 'bearer' },
  { method: 'GET', path: '/fhir/Patient', kind: 'none', auth: 'bearer' },
  { method: 'POST', path: '/api/dopu/packages', kind: 'json', auth: 'app' },
  { method: 'GET', path: '/api/dopu/packages', kind: 'none', auth: 'app' },
  { method: 'GET', path: `/api/dopu/packages/${ID}`, kind: 'none', auth: 'app' },
  { method: 'DELETE', path: `/api/dopu/packages/${ID}`, kind: 'none', auth: 'app' },
  { method: 'GET', path: '/api/connect/requests', kind: 'none', auth: 'app' },
  { method: 'DELETE', path: `/api/connect/requests/${ID}`, kind: 'none', auth: 'app' },
  { method: 'POST', path: '/api/direct/messages', kind: 'json', auth: 'app' },
];

const ODD_TEXT = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u202eevil',
  '\u200b',
  '😀'.repeat(50),
  '\ufeff',
  '\ud800',
  'é'.normalize('NFD'),
  '%',
  '%zz',
  '%00',
  '%C3%28',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' or 1=1 --",
  '${7*7}',
  '{{7*7}}',
  'null',
  'true',
  '-1',
  '1e309',
  'NaN',
  'x'.repeat(5000),
  'Patient/../Observation',
  'urn:uuid:zzz',
  '\r\nSet-Cookie: x=y',
  'a\tb',
  '\\',
  '"',
  "'",
];
const PARAMS = [
  'client_id',
  'grant_type',
  'code',
  'redirect_uri',
  'scope',
  'state',
  'response_type',
  'code_challenge',
  'code_challenge_method',
  'refresh_token',
  'token',
  'email',
  'password',
  'name',
  'code_verifier',
  'user_code',
  'decision',
  'record',
  'rules',
  'pickup_code',
  'answer',
  'to',
  'subject',
  'text',
  'birthDate',
  'relationship',
  '_count',
  '_id',
  'subject:Patient',
  'date',
  'code:text',
  '_sort',
  'patient',
  'xsrf',
  'logout',
  'request',
  'request_uri',
  'prompt',
  'aud',
  'nonce',
  'max_age',
];

function encodeOdd(value: string): string {
  // Keep deliberate bad escapes as they are; encode the rest.
  if (/^%/.test(value)) return value;
  // A lone surrogate cannot be encoded: send the bytes a broken encoder would (invalid UTF-8).
  return encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '\u0001')).replace(/%01/g, '%ED%A0%80');
}

function oddForm(): string {
  const shapes = [
    () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => `${pick(PARAMS)}=${encodeOdd(pick(ODD_TEXT))}`).join('&'),
    () => `${pick(PARAMS)}=1&${pick(PARAMS)}=2&${pick(PARAMS)}=${encodeOdd(pick(ODD_TEXT))}&${pick(PARAMS)}=${encodeOdd(pick(ODD_TEXT))}`,
    () => {
      const p = pick(PARAMS);
      return `${p}=a&${p}=b&${p}=c`;
    },
    () => `${pick(PARAMS)}[]=1&${pick(PARAMS)}[a][b]=2&__proto__[x]=1&constructor[prototype][y]=2`,
    () => Array.from({ length: 1500 }, (_, i) => `f${i}=${i}`).join('&'),
    () => pick(['%', '=', '&&&', '=&=', 'a=%E0%A4%A', 'a=%FF%FE', '%00=%00', 'a', '==a==', '&'.repeat(3000)]),
    () => `${pick(PARAMS)}=${'A'.repeat(40_000)}`,
  ];
  return pick(shapes)();
}

function deepJson(depth: number, open: string, close: string): string {
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
}

function oddJson(kind: 'json' | 'fhir'): string {
  const resource = () => ({
    resourceType: pick(['Observation', 'DocumentReference', 'Patient', 'Bogus', '', 7, null]),
    status: pick(['final', 'bogus', 7, null, [], {}]),
    code: pick([{ text: pick(ODD_TEXT) }, 'x', 1, [], null]),
    subject: pick([{ reference: pick(ODD_TEXT) }, 'Patient/x', null, 5]),
  });
  const shapes = [
    () => '{',
    () => '{"a":',
    () => '{"a":1,}',
    () => "{'a':1}",
    () => '[1,2',
    () => 'nul',
    () => '\ufeff{"a":1}',
    () => '{"a":NaN}',
    () => `{"a":1e99999}`,
    () => `{"a":"\\ud800"}`,
    () => `{"a":"\\u0000"}`,
    () => `{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}`,
    () => deepJson(200 + Math.floor(random() * 5000), '[', ']'),
    () => deepJson(200 + Math.floor(random() * 5000), '{"a":', '}'),
    () => JSON.stringify(pick([null, 7, 'x', [], true, [resource()], { resources: 'x' }])),
    () => JSON.stringify(resource()),
    () => JSON.stringify({ ...resource(), extra: pick(ODD_TEXT), text: { div: pick(ODD_TEXT) }, meta: { versionId: pick(ODD_TEXT) } }),
    () =>
      JSON.stringify(
        kind === 'fhir'
          ? { ...resource(), resourceType: 'Observation', valueQuantity: { value: pick(['x', 1e308, -0, null, []]) } }
          : {
              friendly_name: pick(ODD_TEXT),
              question: pick(ODD_TEXT),
              answer: pick(ODD_TEXT),
              resources: pick([[], [resource()], 'x', null]),
              to: pick(ODD_TEXT),
              subject: pick(ODD_TEXT),
              text: pick(ODD_TEXT),
              attachments: pick([[{ filename: pick(ODD_TEXT), content_type: pick(ODD_TEXT), data: pick(ODD_TEXT) }], 'x', [null]]),
              client_name: pick(ODD_TEXT),
              redirect_uris: pick([[pick(ODD_TEXT)], 'x', null]),
              rules: pick([[{ scope: pick(ODD_TEXT) }], 'x']),
            },
      ),
    () =>
      JSON.stringify({
        resourceType: 'DocumentReference',
        status: 'current',
        content: [{ attachment: { contentType: 'a\n'.repeat(300_000), data: 'QUJD'.repeat(200_000) } }],
      }),
    () =>
      JSON.stringify({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'x' },
        note: Array.from({ length: 5000 }, () => ({ text: pick(ODD_TEXT) })),
      }),
  ];
  return pick(shapes)();
}

const CONTENT_TYPES = [
  'application/json',
  'application/fhir+json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/json; charset=bogus',
  'application/xml',
  '*/*',
  '',
  'application/x-www-form-urlencoded; charset=iso-8859-1',
  'application/fhir+json; fhirVersion=9',
];
const ACCEPTS = ['*/*', 'text/html', 'application/json', 'application/fhir+json', 'application/xml', 'image/png', '', 'text/html;q=0, */*;q=0'];

function authHeaders(auth: Auth): Record<string, string> {
  const corrupt = random() < 0.2;
  switch (auth) {
    case 'bearer':
      return {
        authorization: corrupt
          ? pick(['Bearer', 'Bearer ', `Bearer ${person.accessToken}x`, `bearer  ${person.accessToken}`, `DPoP ${person.accessToken}`, 'Basic Og=='])
          : `Bearer ${person.accessToken}`,
      };
    case 'app':
      return { authorization: corrupt ? pick(['Bearer \u0000', `Bearer ${appToken.slice(1)}`, 'Bearer a b c']) : `Bearer ${appToken}` };
    case 'client':
      return {
        authorization: corrupt
          ? pick(['Basic', 'Basic %%%', `Basic ${Buffer.from(':').toString('base64')}`, `Basic ${Buffer.from('a:b:c').toString('base64')}`])
          : basicOf(person.app),
      };
    case 'registration':
      return { authorization: corrupt ? 'Bearer nope' : `Bearer ${INITIAL_ACCESS_TOKEN}` };
    case 'page':
      return corrupt
        ? { cookie: pick(['_session=%%%', 'a=j:{"x":1}', `${csrf.cookie}; ${csrf.cookie}`, '\u00ff=\u00ff'.replace(/[^\x20-\x7e]/g, 'x')]) }
        : { cookie: csrf.cookie };
    default:
      return {};
  }
}

function probeFor(index: number): Probe {
  const target = pick(TARGETS);
  const path = target.path.replace('{uid}', interactionPath.split('/')[2] ?? 'none');
  const headers: Record<string, string> = { ...authHeaders(target.auth), accept: pick(ACCEPTS) };
  if (random() < 0.1) headers['x-request-id'] = pick(['a'.repeat(200), 'ok-id', '%00', '😀'.replace(/[^\x20-\x7e]/g, '?')]);
  if (random() < 0.05) headers['x-forwarded-for'] = pick(['1.2.3.4', 'not an ip', '::1, 10.0.0.1']);
  const roll = random();
  let method = target.method;
  let query = '';
  let body: string | Buffer | undefined;
  if (roll < 0.1) {
    // The wrong method.
    method = pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND']);
  }
  if (target.kind === 'none' || random() < 0.3) query = `?${oddForm()}`;
  if (method !== 'GET' && method !== 'HEAD') {
    if (target.kind === 'form') {
      const form = oddForm();
      body = target.auth === 'page' && random() < 0.7 ? `_csrf=${encodeURIComponent(csrf.token)}&${form}` : form;
      headers['content-type'] = random() < 0.8 ? 'application/x-www-form-urlencoded' : pick(CONTENT_TYPES);
    } else if (target.kind === 'json' || target.kind === 'fhir') {
      body = oddJson(target.kind);
      headers['content-type'] = random() < 0.8 ? (target.kind === 'fhir' ? 'application/fhir+json' : 'application/json') : pick(CONTENT_TYPES);
    } else if (random() < 0.3) {
      body = random() < 0.5 ? oddForm() : oddJson('json');
      headers['content-type'] = pick(CONTENT_TYPES);
    }
  }
  // Now and then: a huge body, a gzip claim, or a path with odd escapes.
  const extra = random();
  if (extra < 0.004 && method !== 'GET' && method !== 'HEAD') body = Buffer.alloc(6 * 1024 * 1024, 0x61);
  else if (extra < 0.01) headers['content-encoding'] = pick(['gzip', 'deflate', 'br', 'bogus']);
  const oddPath =
    random() < 0.08
      ? pick([`${path}%`, `${path}/%2e%2e/`, `${path}%00`, `//${path}`, `${path}/..;/`, `${path}/${'x'.repeat(3000)}`, path.replace(/\/[^/]*$/, '/%E0%A4%A')])
      : path;
  const buffer = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return { label: `#${index} ${method} ${oddPath.slice(0, 80)}`, method, path: `${oddPath}${query}`, headers, body: buffer };
}

/** Requests no well-behaved client library would send: written to the socket as they are. */
function rawProbe(index: number): Probe {
  const host = `localhost:${port}`;
  const bearer = `Bearer ${person.accessToken}`;
  const raws = [
    `GET /fhir/Observation HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${bearer}\r\nX-Injected: a\r\n b\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-A: a\rb\r\n\r\n`,
    `POST /token HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef`,
    `POST /token HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
    `POST /fhir/Observation HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${bearer}\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    `GET /authorize?client_id=${person.app.clientId}&client_id=other&response_type=code&response_type=token HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    `GET /\u0000 HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    `GET /records HTTP/1.1\r\nHost: ${host}\r\nCookie: ${csrf.cookie}\r\nCookie: ${csrf.cookie}\r\n\r\n`,
    `GET /userinfo HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${bearer}\r\nAuthorization: Bearer other\r\n\r\n`,
    `GET /fhir/Observation HTTP/1.0\r\n\r\n`,
    `GET / HTTP/9.9\r\nHost: ${host}\r\n\r\n`,
    `BREW /coffee HTCPCP/1.0\r\n\r\n`,
    `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\xff\xfe\r\n\r\n`,
    `POST /api/dopu/packages HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${appToken}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`,
  ];
  const text = pick(raws);
  return { label: `#${index} raw ${JSON.stringify(text.slice(0, 60))}`, method: 'RAW', path: '', headers: {}, raw: Buffer.from(text, 'latin1') };
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

type Outcome = { status: number } | { error: string };
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function send(probe: Probe): Promise<Outcome> {
  if (probe.raw) return sendRaw(probe.raw);
  return new Promise((resolve) => {
    const headers = { ...probe.headers, ...(probe.body ? { 'content-length': String(probe.body.length) } : {}) };
    let req: http.ClientRequest;
    try {
      req = http.request({ host: 'localhost', port, method: probe.method, path: probe.path, headers, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (error) => resolve({ error: error.message }));
      });
    } catch (error) {
      // The client library refuses to send it (an invalid header character): nothing to learn.
      resolve({ error: `not sent: ${(error as Error).message}` });
      return;
    }
    req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(probe.body);
  });
}

function sendRaw(raw: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, 'localhost', () => socket.end(raw));
    let head = '';
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => (head += chunk.toString('latin1')));
    socket.on('close', () => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      resolve(status ? { status: Number(status) } : { error: 'closed without an answer' });
    });
    socket.on('error', () => undefined);
  });
}

test(`${TOTAL} malformed requests across every endpoint and form: no 5xx, no crash`, async () => {
  const probes = Array.from({ length: TOTAL }, (_, i) => (i % 25 === 24 ? rawProbe(i) : probeFor(i)));

  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  const transport = new Map<string, number>();
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < probes.length) {
        const probe = probes[next++] as Probe;
        const outcome = await send(probe);
        if ('status' in outcome) {
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
          if (outcome.status >= 500) serverErrors.push(`${outcome.status} ${probe.label}`);
        } else {
          const kind = outcome.error.startsWith('not sent') ? 'not sent (client refused)' : outcome.error;
          transport.set(kind, (transport.get(kind) ?? 0) + 1);
        }
      }
    }),
  );
  agent.destroy();
  const seconds = (Date.now() - started) / 1000;
  const exited = await Promise.race([
    server.exited.then((exit) => `exited ${JSON.stringify(exit)}`),
    new Promise<undefined>((resolve) => setTimeout(resolve, 100)),
  ]);
  const crashes = exited ? [exited] : [];
  const alive = exited ? 0 : (await fetch(`${server.issuer}/healthz`)).status;
  const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
  const byClass = [...statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}×${count}`)
    .join(' ');
  console.log(
    `fuzz: ${probes.length} requests sent in ${seconds.toFixed(1)} s across ${TARGETS.length} endpoints and forms (+ raw), ${answered} answered [${byClass}]; ` +
      `without an answer: ${JSON.stringify(Object.fromEntries(transport))}; 5xx seen: ${serverErrors.length}; crashes: ${crashes.length}; /healthz afterwards: ${alive}`,
  );
  if (serverErrors.length) console.log(serverErrors.slice(0, 20).join('\n'));
  if (crashes.length) console.log(crashes.join('\n'), server.stderr().slice(-3000));
  expect(probes.length).toBeGreaterThanOrEqual(10_000);
  expect(serverErrors).toEqual([]);
  expect(crashes).toEqual([]);
  expect(alive).toBe(200);
  // The server's log: structured lines only, and none of the credentials the fuzz carried.
  const lines = server
    .stderr()
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('oidc-provider WARNING'));
  expect(lines.filter((line) => !line.startsWith('{'))).toEqual([]);
  const secrets = {
    access_token: person.accessToken,
    app_token: appToken,
    initial_access_token: INITIAL_ACCESS_TOKEN,
    client_secret: person.app.clientSecret ?? '',
    csrf: csrf.token,
  };
  expect(
    Object.entries(secrets)
      .filter(([, secret]) => server.stderr().includes(secret))
      .map(([name]) => name),
  ).toEqual([]);
  // Nearly everything is answered; a request cut short is only one the server refused mid-body.
  expect(answered).toBeGreaterThan(probes.length * 0.97);
}, 180_000);
