/**
 * The app APIs speak one dialect: DOPU (`/api/dopu`), Patient Connect (`/api/connect`) and Direct
 * (`/api/direct`) refuse a missing or wrong token, a body that is not JSON, too large or malformed,
 * a field that is not right (naming its path), a list parameter that is not right, an unknown id,
 * a conflict and a rate limit the same way — JSON `{ error, error_description }` and the same
 * status — and their lists page the same way (`limit` 1–100, an opaque `cursor`, an absolute
 * `next`); Connect's earlier `count` still works. Every answer here is also checked against the
 * served OpenAPI document.
 */
import * as oidc from 'openid-client';
import { registerTestApp, type TestApp } from '../support/app';
import { sampleResources } from '../support/dopu';
import { answerChecker, fetchOpenApi } from '../support/openapi';
import { startTestServer, type TestServer } from '../support/server';

const NIL = '00000000-0000-4000-8000-000000000000';
const CAPABILITIES = ['dopu', 'connect', 'direct'] as const;
type Capability = (typeof CAPABILITIES)[number];

let server: TestServer;
let check: ReturnType<typeof answerChecker>;

type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

/** An app with every capability and the rules a connect request asks for. */
async function clinic(name: string): Promise<TestApp & { tokens: Record<Capability, string> }> {
  const app = await registerTestApp(server, {
    client_name: name,
    token_endpoint_auth_method: 'client_secret_basic',
    capabilities: [...CAPABILITIES],
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Read your results' },
      { scope: 'offline_access', required: true, reason: 'Send results while you are away' },
    ],
  });
  const tokens = {} as Record<Capability, string>;
  for (const capability of CAPABILITIES) tokens[capability] = (await oidc.clientCredentialsGrant(app.config, { scope: capability })).access_token;
  return { ...app, tokens };
}

let riverside: Awaited<ReturnType<typeof clinic>>;

/** One call to an app API; the answer must be one the OpenAPI document describes. */
async function call(method: string, path: string, options: { token?: string | undefined; body?: string; type?: string } = {}): Promise<Answer> {
  const res = await fetch(`${server.issuer}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': options.type ?? 'application/json' }),
    },
    body: options.body,
  });
  const text = await res.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(check(method, path, res.status, body)).toEqual([]);
  return { status: res.status, body, headers: res.headers };
}

beforeAll(async () => {
  server = await startTestServer({ PICKUP_EMAILS_PER_APP: '2' });
  check = answerChecker(await fetchOpenApi(server));
  riverside = await clinic('Riverside Clinic');
});

afterAll(async () => {
  await server?.stop();
});

const OPERATIONS: { method: string; path: string; capability: Capability; body?: string }[] = [
  { method: 'POST', path: '/api/dopu/packages', capability: 'dopu', body: '{}' },
  { method: 'GET', path: '/api/dopu/packages', capability: 'dopu' },
  { method: 'GET', path: `/api/dopu/packages/${NIL}`, capability: 'dopu' },
  { method: 'DELETE', path: `/api/dopu/packages/${NIL}`, capability: 'dopu' },
  { method: 'GET', path: '/api/connect/requests', capability: 'connect' },
  { method: 'DELETE', path: `/api/connect/requests/${NIL}`, capability: 'connect' },
  { method: 'POST', path: '/api/direct/messages', capability: 'direct', body: '{}' },
];

describe('every operation refuses a caller alike', () => {
  test.each(OPERATIONS)('$method $path', async ({ method, path, capability, body }) => {
    const none = await call(method, path, { ...(body ? { body } : {}) });
    expect([none.status, none.body]).toEqual([
      401,
      { error: 'invalid_token', error_description: 'An access token is required (Authorization: Bearer … or DPoP …).' },
    ]);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="carevault"/);

    const unknown = await call(method, path, { token: 'not-a-token', ...(body ? { body } : {}) });
    expect([unknown.status, unknown.body]).toEqual([
      401,
      { error: 'invalid_token', error_description: 'The access token is not valid: it expired or was revoked.' },
    ]);

    const other = CAPABILITIES.find((each) => each !== capability) as Capability;
    const elsewhere = await call(method, path, { token: riverside.tokens[other], ...(body ? { body } : {}) });
    expect([elsewhere.status, elsewhere.body]).toEqual([
      403,
      {
        error: 'insufficient_scope',
        error_description: `This API needs a client-credentials token with the scope ${capability}, for an app registered with that capability.`,
      },
    ]);
    expect(elsewhere.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });
});

const DROP_OFF = { friendly_name: 'Your results', question: 'Your favourite colour?', answer: 'Blue Whale', resources: sampleResources().slice(0, 1) };
const MESSAGE = { to: 'nobody@direct.carevault.test', subject: 'Results', text: 'Attached.', attachments: [] };

const BODIES = [
  {
    api: 'DOPU',
    path: '/api/dopu/packages',
    capability: 'dopu' as const,
    noun: 'package',
    valid: DROP_OFF,
    text: 'question',
    maxBytes: 5 * 1024 * 1024,
    tooLarge: 'A package can be at most 5 MB of JSON.',
  },
  {
    api: 'Direct',
    path: '/api/direct/messages',
    capability: 'direct' as const,
    noun: 'message',
    valid: MESSAGE,
    text: 'subject',
    maxBytes: 38 * 1024 * 1024,
    tooLarge: 'A message can be at most 25 MB with its attachments.',
  },
];

describe('every body is read alike', () => {
  test.each(BODIES)('$api', async ({ path, capability, noun, valid, text, maxBytes, tooLarge }) => {
    const token = riverside.tokens[capability];
    const send = (body: string, type?: string) => call('POST', path, { token, body, ...(type ? { type } : {}) });
    const refusal = (status: number, error: string, description: string) => ({ status, body: { error, error_description: description } });
    const cases: [string, Promise<Answer>, ReturnType<typeof refusal>][] = [
      [
        'not JSON',
        send(JSON.stringify(valid), 'text/plain'),
        refusal(415, 'unsupported_media_type', `Send the ${noun} as JSON, with Content-Type application/json.`),
      ],
      [
        'a form',
        send('to=x', 'application/x-www-form-urlencoded'),
        refusal(415, 'unsupported_media_type', `Send the ${noun} as JSON, with Content-Type application/json.`),
      ],
      ['malformed JSON', send('{"to": '), refusal(400, 'invalid_request', 'The request body is not valid: check that it is well-formed JSON or form data.')],
      ['not an object', send('[1, 2]'), refusal(400, 'invalid_request', `The body must be a JSON object describing the ${noun}.`)],
      ['a field it does not have', send(JSON.stringify({ ...valid, colour: 'red' })), refusal(400, 'invalid_request', `colour: not a field of a ${noun}`)],
      ['a field that is not text', send(JSON.stringify({ ...valid, [text]: 7 })), refusal(400, 'invalid_request', `${text}: must be a string`)],
      [
        'a field deep inside',
        send(
          JSON.stringify(
            capability === 'dopu'
              ? { ...valid, resources: [...valid.resources, 'text'] }
              : { ...valid, attachments: [{ filename: 'a.pdf', content_type: 'application/pdf', data: '%%%' }] },
          ),
        ),
        capability === 'dopu'
          ? refusal(400, 'invalid_resource', 'resources[1]: must be a FHIR resource (a JSON object).')
          : refusal(400, 'invalid_request', 'attachments[0].data: must be base64 (RFC 4648, with padding)'),
      ],
      ['too large', send(JSON.stringify({ ...valid, padding: 'x'.repeat(maxBytes) })), refusal(413, 'payload_too_large', tooLarge)],
    ];
    for (const [name, answer, expected] of cases) {
      const { status, body } = await answer;
      expect({ name, status, body }).toEqual({ name, ...expected });
    }
  });
});

const LISTS = [
  { api: 'DOPU', path: '/api/dopu/packages', items: 'packages', statuses: 'pending, picked_up, declined, expired, locked, withdrawn' },
  { api: 'Connect', path: '/api/connect/requests', items: 'requests', statuses: 'pending, opened, authorized, denied, locked, expired, withdrawn' },
];

describe('every list takes its parameters alike', () => {
  test.each(LISTS)('$api', async ({ path, statuses }) => {
    const token = riverside.tokens[path.split('/')[2] as Capability];
    for (const [query, description] of [
      ['limit=0', 'limit: must be at least 1'],
      ['limit=101', 'limit: must be at most 100'],
      ['limit=abc', 'limit: must be a number'],
      ['limit=2.5', 'limit: must be a whole number'],
      ['cursor=abc', 'cursor: is not one this list gave; start again without it.'],
      [`cursor=${'a'.repeat(300)}`, 'cursor: is not one this list gave; start again without it.'],
      ['since=yesterday', 'since: must be a date and time like 2026-01-02T08:00:00Z'],
      ['status=lost', `status: must be one of ${statuses}`],
      ['colour=red', 'colour: not a parameter of this list'],
    ]) {
      const answer = await call('GET', `${path}?${query}`, { token });
      expect({ query, status: answer.status, body: answer.body }).toEqual({
        query,
        status: 400,
        body: { error: 'invalid_request', error_description: description },
      });
    }
  });
});

describe('every list pages alike', () => {
  let pager: Awaited<ReturnType<typeof clinic>>;

  beforeAll(async () => {
    pager = await clinic('Pager Clinic');
    for (let i = 0; i < 5; i += 1) {
      const dropped = await call('POST', '/api/dopu/packages', { token: pager.tokens.dopu, body: JSON.stringify({ ...DROP_OFF, external_id: `pkg-${i}` }) });
      expect(dropped.status).toBe(201);
      await oidc.initiateDeviceAuthorization(pager.config, {
        scope: 'patient/Observation.rs offline_access',
        external_id: `MRN-${i}`,
        friendly_name: 'You',
        question: 'Your favourite colour?',
        answer: 'Blue Whale',
      });
    }
  });

  /** Follows `next` from `first`; returns the pages' item ids and each `next`. */
  async function walk(first: string, token: string, items: string) {
    const ids: string[] = [];
    const nexts: string[] = [];
    let next: string | undefined = first;
    while (next) {
      const answer = await call('GET', next.replace(server.issuer, ''), { token });
      expect(answer.status).toBe(200);
      const page = answer.body[items] as { id: string }[];
      ids.push(...page.map((item) => item.id));
      next = answer.body.next as string | undefined;
      if (next) nexts.push(next);
    }
    return { ids, nexts };
  }

  test.each(LISTS)('$api: `limit` a page, an absolute `next` to follow, the last page without one', async ({ path, items }) => {
    const token = pager.tokens[path.split('/')[2] as Capability];
    const whole = await call('GET', path, { token });
    const all = (whole.body[items] as { id: string }[]).map((item) => item.id);
    expect(all).toHaveLength(5);
    expect(whole.body.next).toBeUndefined();

    const { ids, nexts } = await walk(`${path}?limit=2`, token, items);
    expect(ids).toEqual(all);
    expect(nexts).toHaveLength(2);
    for (const next of nexts) {
      const url = new URL(next);
      expect(`${url.origin}${url.pathname}`).toBe(`${server.issuer}${path}`);
      expect(url.searchParams.get('limit')).toBe('2');
      expect(url.searchParams.get('cursor')).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  test('Connect: `count`, the earlier name of `limit`, still pages (up to 200)', async () => {
    const { ids, nexts } = await walk('/api/connect/requests?count=2', pager.tokens.connect, 'requests');
    expect(ids).toHaveLength(5);
    expect(nexts).toHaveLength(2);
    expect(new URL(nexts[0] ?? '').searchParams.get('count')).toBe('2');
    expect((await call('GET', '/api/connect/requests?count=200', { token: pager.tokens.connect })).status).toBe(200);
    expect((await call('GET', '/api/connect/requests?count=201', { token: pager.tokens.connect })).body.error_description).toBe('count: must be at most 200');
  });
});

describe('unknown ids, conflicts and rate limits are refused alike', () => {
  test('unknown ids: 404', async () => {
    for (const [method, path, capability, error] of [
      ['GET', `/api/dopu/packages/${NIL}`, 'dopu', 'not_found'],
      ['DELETE', `/api/dopu/packages/${NIL}`, 'dopu', 'not_found'],
      ['GET', '/api/dopu/packages/not-an-id', 'dopu', 'not_found'],
      ['DELETE', `/api/connect/requests/${NIL}`, 'connect', 'not_found'],
      ['DELETE', '/api/connect/requests/not-an-id', 'connect', 'not_found'],
    ] as const) {
      const answer = await call(method, path, { token: riverside.tokens[capability] });
      expect({ path, status: answer.status, error: answer.body.error, keys: Object.keys(answer.body).sort() }).toEqual({
        path,
        status: 404,
        error,
        keys: ['error', 'error_description'],
      });
    }
    const nobody = await call('POST', '/api/direct/messages', { token: riverside.tokens.direct, body: JSON.stringify(MESSAGE) });
    expect([nobody.status, nobody.body.error]).toEqual([404, 'unknown_recipient']);
  });

  test('what is no longer pending: 409 not_pending', async () => {
    const dropped = await call('POST', '/api/dopu/packages', { token: riverside.tokens.dopu, body: JSON.stringify(DROP_OFF) });
    expect(dropped.headers.get('location')).toBe(`/api/dopu/packages/${String(dropped.body.id)}`);
    await oidc.initiateDeviceAuthorization(riverside.config, {
      scope: 'patient/Observation.rs offline_access',
      external_id: 'MRN-conflict',
      friendly_name: 'You',
      question: 'Your favourite colour?',
      answer: 'Blue Whale',
    });
    const listed = await call('GET', '/api/connect/requests?status=pending', { token: riverside.tokens.connect });
    const [request] = listed.body.requests as { id: string }[];
    for (const [path, capability] of [
      [`/api/dopu/packages/${String(dropped.body.id)}`, 'dopu'],
      [`/api/connect/requests/${request?.id ?? NIL}`, 'connect'],
    ] as const) {
      expect((await call('DELETE', path, { token: riverside.tokens[capability] })).body.status).toBe('withdrawn');
      const again = await call('DELETE', path, { token: riverside.tokens[capability] });
      expect({ path, status: again.status, error: again.body.error }).toEqual({ path, status: 409, error: 'not_pending' });
    }
  });

  test('rate limits: 429 too_many_requests with Retry-After', async () => {
    const limited = await clinic('Busy Clinic');
    const answers: Answer[] = [];
    for (let i = 0; i < 3; i += 1)
      answers.push(await call('POST', '/api/dopu/packages', { token: limited.tokens.dopu, body: JSON.stringify({ ...DROP_OFF, email: `p${i}@example.org` }) }));
    for (let i = 0; i < 101; i += 1)
      answers.push(
        await call('POST', '/api/direct/messages', {
          token: limited.tokens.direct,
          body: JSON.stringify({ ...MESSAGE, to: `nobody${i}@direct.carevault.test` }),
        }),
      );
    for (const answer of [answers[2], answers[103]] as Answer[]) {
      expect(answer.status).toBe(429);
      expect(answer.body).toEqual({ error: 'too_many_requests', error_description: expect.stringMatching(/ Try again in \d+ (seconds?|minutes?)\.$/) });
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});
