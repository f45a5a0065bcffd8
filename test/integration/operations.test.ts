/**
 * The operator's view: `/metrics` in Prometheus's text format behind METRICS_ENABLED and
 * a bearer token, moved by real traffic — a client-credentials token, a person's consent, a code
 * exchange, a refresh, FHIR reads, a DOPU drop-off — and `/readyz`, which answers 503 while a
 * migration this code knows has not run.
 */
import * as oidc from 'openid-client';
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { Browser } from '../support/browser';
import { clinicApp } from '../support/dopu';
import { startTestServer, type TestServer } from '../support/server';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef';

let server: TestServer;
let app: TestApp;

beforeAll(async () => {
  server = await startTestServer({ METRICS_ENABLED: 'true', METRICS_TOKEN });
  app = await registerTestApp(server);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Parses the Prometheus text format (the lines a scraper reads), checking each line's shape. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    // Values as Prometheus parses them (Go's ParseFloat: NaN and Inf in any case).
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]?[Ii]nf)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
    samples.push({ name: match[1] ?? '', labels: labels as Record<string, string>, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** The value of the sample named `name` whose labels include `labels` (0 when absent). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  return found?.value ?? 0;
}

test('/metrics answers in Prometheus format only with the metrics token', async () => {
  expect((await fetch(`${server.issuer}/metrics`)).status).toBe(401);
  const wrong = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN.replace('0', '1')}` } });
  expect(wrong.status).toBe(401);
  expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);

  const samples = await scrape();
  expect(valueOf(samples, 'carevault_database_up')).toBe(1);
  expect(valueOf(samples, 'carevault_db_pool_connections', { state: 'max' })).toBeGreaterThanOrEqual(1);
  expect(samples.some((sample) => sample.name === 'process_cpu_user_seconds_total')).toBe(true);
  // Every status is reported, at zero too.
  for (const status of ['pending', 'picked_up', 'declined', 'expired', 'locked', 'withdrawn']) {
    expect(samples.some((sample) => sample.name === 'carevault_dopu_packages' && sample.labels.status === status)).toBe(true);
  }
  for (const status of ['pending', 'authorized', 'denied', 'locked', 'expired', 'withdrawn']) {
    expect(samples.some((sample) => sample.name === 'carevault_connect_requests' && sample.labels.status === status)).toBe(true);
  }
});

test('a token request moves its counter; a drop-off moves the packages gauge', async () => {
  const before = await scrape();
  const clinic = await clinicApp(server);
  const bad = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret ?? '')}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-refresh-token' }),
  });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ error: 'invalid_grant' });
  await clinic.dropOff();

  const after = await scrape();
  const issued = { grant_type: 'client_credentials' };
  expect(valueOf(after, 'carevault_tokens_issued_total', issued)).toBe(valueOf(before, 'carevault_tokens_issued_total', issued) + 1);
  const refused = { grant_type: 'refresh_token', error: 'invalid_grant' };
  expect(valueOf(after, 'carevault_token_errors_total', refused)).toBe(valueOf(before, 'carevault_token_errors_total', refused) + 1);
  expect(valueOf(after, 'carevault_token_refreshes_total', { outcome: 'refused' })).toBe(
    valueOf(before, 'carevault_token_refreshes_total', { outcome: 'refused' }) + 1,
  );
  expect(valueOf(after, 'carevault_dopu_packages', { status: 'pending' })).toBe(valueOf(before, 'carevault_dopu_packages', { status: 'pending' }) + 1);
  const tokenLatency = { area: 'token', method: 'POST', status_class: '2xx' };
  expect(valueOf(after, 'carevault_http_request_duration_seconds_count', tokenLatency)).toBeGreaterThan(
    valueOf(before, 'carevault_http_request_duration_seconds_count', tokenLatency),
  );
}, 60_000);

test('a consent, a code exchange, a refresh and FHIR reads move their counters', async () => {
  const before = await scrape();
  const person = newPerson('Sam Metrics');
  const browser = new Browser(server.issuer);
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, person, { register: true });
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  const refreshed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
  const patient = String(tokens.patient);
  const read = await fetch(`${server.issuer}/fhir/Patient/${patient}`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
  expect(read.status).toBe(403); // the app holds Observation rules only
  const search = await fetch(`${server.issuer}/fhir/Observation?patient=${patient}`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
  expect(search.status).toBe(200);

  const after = await scrape();
  const moved = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
  expect(moved('carevault_consents_total', { flow: 'web', decision: 'allowed' })).toBe(1);
  expect(moved('carevault_tokens_issued_total', { grant_type: 'authorization_code' })).toBe(1);
  expect(moved('carevault_tokens_issued_total', { grant_type: 'refresh_token' })).toBe(1);
  expect(moved('carevault_token_refreshes_total', { outcome: 'issued' })).toBe(1);
  expect(moved('carevault_fhir_requests_total', { resource_type: 'Patient', interaction: 'read', status: '403' })).toBe(1);
  expect(moved('carevault_fhir_requests_total', { resource_type: 'Observation', interaction: 'search-type', status: '200' })).toBe(1);
  expect(moved('carevault_fhir_request_duration_seconds_count', { interaction: 'search-type' })).toBe(1);
}, 60_000);

test('/readyz is ready when migrations are applied, 503 while one is missing; /healthz stays alive', async () => {
  const ready = await fetch(`${server.issuer}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready' });

  // As if the code were newer than the database: the last migration's record is gone.
  const last = (await server.db.knex('knex_migrations').orderBy('id', 'desc').first()) as { id: number; name: string; batch: number; migration_time: Date };
  await server.db.knex('knex_migrations').where({ id: last.id }).delete();
  try {
    const behind = await fetch(`${server.issuer}/readyz`);
    expect(behind.status).toBe(503);
    expect(behind.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await behind.json()).toMatchObject({ status: 'unavailable', pending: [last.name] });
    expect((await fetch(`${server.issuer}/healthz`)).status).toBe(200);
  } finally {
    await server.db.knex('knex_migrations').insert(last);
  }
  expect((await fetch(`${server.issuer}/readyz`)).status).toBe(200);
});
