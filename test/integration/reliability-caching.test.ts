/**
 * Nothing with health data or tokens is cacheable: the person's pages (records, a
 * record, its history, connected apps, the consent page), the records API, the token and userinfo
 * endpoints all say `Cache-Control: no-store`; the stylesheet stays cacheable.
 */
import * as oidc from 'openid-client';
import { startAuthorization } from '../support/app';
import { authorizedApp, weight, type Authorized } from '../support/authorized';
import { startTestServer, type TestServer } from '../support/server';

let server: TestServer;
let person: Authorized;

beforeAll(async () => {
  server = await startTestServer();
  person = await authorizedApp(server, 'Casey Private');
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

test('pages and APIs carrying health data or tokens are no-store; static files are cacheable', async () => {
  const bearer = { authorization: `Bearer ${person.accessToken}` };
  const created = await fetch(`${server.issuer}/fhir/Observation`, {
    method: 'POST',
    headers: { ...bearer, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(weight(71)),
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  // A second authorization from another app stops at the consent page.
  const other = await startAuthorization(person.app, { scope: 'openid patient/Observation.cruds', prompt: 'consent' });
  const consent = await person.browser.visit(other.url.toString());
  expect(consent.html).toContain('>Allow</button>');

  const refreshed = await oidc.refreshTokenGrant(person.app.config, person.refreshToken);
  person.refreshToken = refreshed.refresh_token ?? person.refreshToken;
  const token = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${person.app.clientId}:${person.app.clientSecret ?? ''}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: person.refreshToken }),
  });
  expect(token.status).toBe(200);

  const answers: Record<string, Headers> = {
    '/records': (await person.browser.request('/records')).headers,
    '/records/<id>': (await person.browser.request(`/records/${person.record}`)).headers,
    '/records/<id>/history': (await person.browser.request(`/records/${person.record}/history`)).headers,
    '/apps': (await person.browser.request('/apps')).headers,
    '/': (await person.browser.request('/')).headers,
    'consent page': consent.headers,
    'GET /fhir/Observation/<id>': (await fetch(`${server.issuer}/fhir/Observation/${id}`, { headers: bearer })).headers,
    'GET /fhir/Observation': (await fetch(`${server.issuer}/fhir/Observation`, { headers: bearer })).headers,
    'POST /fhir/Observation': created.headers,
    'POST /token': token.headers,
    '/userinfo': (await fetch(`${server.issuer}/userinfo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } })).headers,
  };
  const cacheable = Object.entries(answers).filter(([, headers]) => !/\bno-store\b/.test(headers.get('cache-control') ?? ''));
  console.log(`no-store checked on ${Object.keys(answers).length} answers; without it: ${cacheable.length}`);
  expect(cacheable.map(([name]) => name)).toEqual([]);

  const stylesheet = await fetch(`${server.issuer}/static/carevault.css`);
  expect(stylesheet.headers.get('cache-control')).toContain('max-age');
});
