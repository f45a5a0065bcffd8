/**
 * Failures are seen: every response carries a request id (`X-Request-Id`, the caller's
 * when it is a plain token), every 5xx — from oidc-provider's endpoints and from carevault's own
 * routes — is logged exactly once as a JSON line with that id, the path and the cause, nothing on
 * stderr is unstructured, and the log of a whole authorization (debug level) never carries the
 * password, client secret, code or tokens it used. An https issuer without TRUST_PROXY is refused
 * at start with one line saying why, and a start without KEY_ENCRYPTION_SECRET warns once that the
 * keys lie in the database in clear.
 */
import * as oidc from 'openid-client';
import { startCarevault } from '../../src/carevault';
import { ConfigError, loadConfig } from '../../src/config';
import { setLogLevel } from '../../src/log';
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { Browser } from '../support/browser';
import { captureLogs, type CapturedLogs } from '../support/logs';
import { startTestServer, type TestServer } from '../support/server';
import { createAccountThrough } from '../support/forms';

let server: TestServer;
let logs: CapturedLogs;

beforeAll(async () => {
  server = await startTestServer({ LOG_LEVEL: 'debug' });
  logs = captureLogs();
});

afterAll(async () => {
  logs?.stop();
  await server?.stop();
});

function linesWithId(id: string) {
  return logs.entries().filter((entry) => entry.request_id === id);
}

test('each response carries a request id; a plain one offered by the caller is kept', async () => {
  const fresh = await fetch(`${server.issuer}/healthz`);
  expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  const kept = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: { 'x-request-id': 'lb-7f3a.92:1' } });
  expect(kept.headers.get('x-request-id')).toBe('lb-7f3a.92:1');
  const replaced = await fetch(`${server.issuer}/healthz`, { headers: { 'x-request-id': 'not "a" plain id' } });
  expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
});

test('a whole authorization logs structured lines only, and none of its secrets', async () => {
  const app = await registerTestApp(server);
  const person = newPerson('Logan Quiet');
  const authorization = await startAuthorization(app);
  const browser = new Browser(server.issuer);
  const landed = await authorizeInBrowser(browser, authorization.url, person, { register: true });
  const callback = landed.location ?? '';
  const code = new URL(callback).searchParams.get('code') ?? '';
  const tokens = await exchangeCode(app, authorization, callback);
  const refreshed = await oidc.refreshTokenGrant(app.config, tokens.refresh_token ?? '');
  const read = await fetch(`${server.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
  expect(read.status).toBe(200);
  await fetch(`${server.issuer}/pickup?code=JKYZ-QNMN-VHRX-ZGNR-GZNH`);

  const secrets = {
    password: person.password,
    client_secret: app.clientSecret ?? '',
    code,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token ?? '',
    id_token: tokens.id_token ?? '',
    second_access_token: refreshed.access_token,
    pickup_code: 'JKYZ-QNMN-VHRX-ZGNR-GZNH',
  };
  const entries = logs.entries(); // throws on any line that is not JSON
  const text = logs.text();
  const leaked = Object.entries(secrets).filter(([, secret]) => secret.length >= 8 && text.includes(secret));
  console.log(`log lines: ${entries.length}, secrets searched: ${Object.keys(secrets).length}, found: ${leaked.length}`);
  expect(entries.length).toBeGreaterThan(10);
  expect(entries.some((entry) => entry.message === 'request completed')).toBe(true);
  expect(leaked.map(([name]) => name)).toEqual([]);
});

test('a 500 at the token endpoint is logged once, with the request id, the route and the cause', async () => {
  await server.db.knex.raw('alter table oidc_models rename to oidc_models_away');
  let response: Response;
  try {
    response = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=whatever&client_id=nobody',
    });
  } finally {
    await server.db.knex.raw('alter table oidc_models_away rename to oidc_models');
  }
  expect(response.status).toBe(500);
  expect(await response.json()).toMatchObject({ error: 'server_error' });
  const id = response.headers.get('x-request-id') ?? '';
  await new Promise((resolve) => setTimeout(resolve, 50));
  const lines = linesWithId(id).filter((entry) => entry.level === 'error');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ route: 'token', req: { method: 'POST', path: '/token' }, res: { status: 500 } });
  expect(JSON.stringify(lines[0])).toContain('oidc_models');
});

test("a 500 on carevault's own pages is logged once, and answered without a stack trace", async () => {
  const browser = new Browser(server.issuer);
  const signedIn = await browser.visit('/register');
  await createAccountThrough(browser, signedIn, newPerson('Pat Broken'));
  await server.db.knex.raw('alter table people rename to people_away');
  let page;
  try {
    page = await browser.request('/records');
  } finally {
    await server.db.knex.raw('alter table people_away rename to people');
  }
  expect(page.status).toBe(500);
  expect(page.html).not.toMatch(/at .*\.ts:\d+/);
  const id = page.headers.get('x-request-id') ?? '';
  await new Promise((resolve) => setTimeout(resolve, 50));
  const lines = linesWithId(id).filter((entry) => entry.level === 'error');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ req: { method: 'GET', path: '/records' }, res: { status: 500 } });
  expect(JSON.stringify(lines[0])).toContain('people');
});

test('an https issuer without TRUST_PROXY is refused at start, naming the setting', async () => {
  const config = loadConfig({ ISSUER: 'https://vault.example.org', TRUST_PROXY: 'false', PORT: '0', DATABASE_URL: '' });
  await expect(startCarevault(config)).rejects.toThrow(ConfigError);
  await expect(startCarevault(config)).rejects.toThrow(/TRUST_PROXY/);
});

test('a start without KEY_ENCRYPTION_SECRET warns once that the keys are stored in clear, saying what to set; a start with it does not', async () => {
  const unsealedWarnings = (captured: CapturedLogs) => captured.entries().filter((entry) => entry.setting === 'KEY_ENCRYPTION_SECRET');
  let captured = captureLogs();
  let target: TestServer | undefined;
  try {
    target = await startTestServer({ LOG_LEVEL: 'warn' });
    const warnings = unsealedWarnings(captured);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn' });
    expect(warnings[0]?.message).toEqual(expect.stringContaining('KEY_ENCRYPTION_SECRET is not set'));
    expect(warnings[0]?.message).toEqual(expect.stringContaining('can sign access and ID tokens'));
    expect(warnings[0]?.message).toEqual(expect.stringContaining('at least 32 characters'));
    captured.stop();

    // The operator sets it and restarts on the same data: the keys are sealed, and nothing is said.
    captured = captureLogs();
    target = await target.restart({ KEY_ENCRYPTION_SECRET: 'a-key-encryption-secret-for-this-test-0123456789' });
    expect((await fetch(`${target.issuer}/healthz`)).status).toBe(200);
    expect(unsealedWarnings(captured)).toEqual([]);
    expect(captured.entries().filter((entry) => entry.level === 'warn')).toEqual([]);
  } finally {
    captured.stop();
    await target?.stop();
    setLogLevel(server.config.logLevel);
  }
});

test("every test server's log is searched for the tokens it issued when it stops (so the whole suite checks it)", async () => {
  logs.stop(); // this file's own capture would keep the line below from stderr
  const other = await startTestServer();
  const app = await registerTestApp(other);
  const authorization = await startAuthorization(app);
  const landed = await authorizeInBrowser(new Browser(other.issuer), authorization.url, newPerson('Lee Kage'), { register: true });
  const tokens = await exchangeCode(app, authorization, landed.location ?? '');
  // What a careless log line would look like; stopping the server must refuse to pass it.
  process.stderr.write(`${JSON.stringify({ level: 'error', message: 'refresh failed', token: tokens.refresh_token })}\n`);
  await expect(other.stop()).rejects.toThrow(/the server's log holds 1 credential\(s\): RefreshToken/);
});
