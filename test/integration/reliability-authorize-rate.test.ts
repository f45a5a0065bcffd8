/**
 * Anonymous work is bounded: authorization requests from one client address (played
 * through a trusted proxy's X-Forwarded-For) are counted before oidc-provider stores anything;
 * past the limit they are answered 429 with Retry-After, as a page and never a redirect, and no
 * interaction is stored for them; other addresses are not affected. Prints its figures.
 */
import { registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';

const LIMIT = 20;
let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startTestServer({ TRUST_PROXY: 'true', AUTHORIZATION_REQUESTS_PER_ADDRESS: String(LIMIT) });
  app = await registerTestApp(server);
});

afterAll(async () => {
  await server?.stop();
});

async function interactionsStored(): Promise<number> {
  const [{ count }] = (await server.db.knex('oidc_models').where({ model: 'Interaction' }).count({ count: '*' })) as [{ count: string }];
  return Number(count);
}

test('authorization requests per address are limited before an interaction is stored', async () => {
  const url = (await startAuthorization(app)).url.toString();
  const before = await interactionsStored();
  const statuses: number[] = [];
  let refusal: Response | undefined;
  for (let i = 0; i < LIMIT * 3; i += 1) {
    const res = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '203.0.113.9', accept: 'text/html' } });
    statuses.push(res.status);
    if (res.status === 429) refusal ??= res;
    await res.arrayBuffer().catch(() => undefined);
  }
  const stored = (await interactionsStored()) - before;
  const elsewhere = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '198.51.100.20' } });
  console.log(
    `authorization requests from one address: ${statuses.length} sent, ${statuses.filter((s) => s === 303).length} answered, ` +
      `${statuses.filter((s) => s === 429).length} refused (429), interactions stored ${stored}; another address → ${elsewhere.status}`,
  );
  expect(statuses.slice(0, LIMIT).every((status) => status === 303)).toBe(true);
  expect(statuses.slice(LIMIT).every((status) => status === 429)).toBe(true);
  expect(stored).toBe(LIMIT);
  expect(Number(refusal?.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(refusal?.headers.get('location')).toBeNull();
  expect(refusal?.headers.get('content-type')).toContain('text/html');
  expect(elsewhere.status).toBe(303);
});
