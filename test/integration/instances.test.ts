/**
 * Scale-out and keeping state: two instances on one PostgreSQL database serve one issuer (tokens,
 * sessions and keys are shared) while the embedded database refuses a second server, keys are
 * sealed under KEY_ENCRYPTION_SECRET, rotation publishes new keys before they sign, expired rows
 * are swept, and the audit log cannot be edited.
 */
import * as oidc from 'openid-client';
import { loadCookieKeys, loadSigningJwks, rotateSigningKeys } from '../../src/oidc/keys';
import { loadConfig } from '../../src/config';
import { Browser, textOf } from '../support/browser';
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';

const SECRET = 'a-key-encryption-secret-of-more-than-32-characters';

const ON_POSTGRES = Boolean(loadConfig().databaseUrl);

let first: TestServer;

beforeAll(async () => {
  first = await startTestServer({ KEY_ENCRYPTION_SECRET: SECRET });
});

afterAll(async () => {
  await first?.stop();
});

function at(server: TestServer, path: string): string {
  return `${server.url}${path}`;
}

test('a second instance serves the same issuer on PostgreSQL (keys, apps, tokens, session), and is refused on the embedded database', async () => {
  if (!ON_POSTGRES) {
    await expect(startTestServer({ KEY_ENCRYPTION_SECRET: SECRET }, first)).rejects.toThrow(
      /already served by process \d+; to run several instances, use a PostgreSQL server/,
    );
    return;
  }
  const second = await startTestServer({ KEY_ENCRYPTION_SECRET: SECRET }, first);
  try {
    await servesTheSameIssuer(second);
  } finally {
    await second.stop();
  }
});

async function servesTheSameIssuer(second: TestServer) {
  const jwks = async (server: TestServer) => (await (await fetch(at(server, '/jwks'))).json()) as { keys: { kid: string }[] };
  expect((await jwks(second)).keys.map((key) => key.kid)).toEqual((await jwks(first)).keys.map((key) => key.kid));
  const discovery = (await (await fetch(at(second, '/.well-known/openid-configuration'))).json()) as { issuer: string };
  expect(discovery.issuer).toBe(first.issuer);

  const app = await registerTestApp(first);
  const person = newPerson('Shared Session');
  const browser = new Browser(first.issuer);
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, person, { register: true });
  const tokens = await exchangeCode(app, authorization, back.location ?? '');

  // The second instance knows the token, the session and the app.
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret ?? '')}`).toString('base64')}`;
  const introspection = await fetch(at(second, '/introspect'), {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: tokens.access_token }),
  });
  expect(((await introspection.json()) as { active: boolean }).active).toBe(true);
  const refreshed = await fetch(at(second, '/token'), {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token ?? '' }),
  });
  expect(refreshed.status).toBe(200);
  const home = await fetch(at(second, '/'), { headers: { cookie: browser.cookiesFor('/') } });
  expect(textOf(await home.text())).toContain('Hello, Shared Session');
  const fhir = await fetch(at(second, '/fhir/Observation'), { headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(fhir.status).toBe(200);

  // An app registered through the second instance is known to the first.
  const other = await registerTestApp(second);
  const config = await oidc.discovery(new URL(first.issuer), other.clientId, undefined, oidc.ClientSecretBasic(other.clientSecret ?? ''), {
    execute: [oidc.allowInsecureRequests],
  });
  const started = await startAuthorization({ ...other, config });
  expect((await new Browser(first.issuer).visit(started.url.toString())).html).toContain('>Sign in</button>');
}

test('signing keys are sealed under KEY_ENCRYPTION_SECRET, and a wrong secret stops start-up with a clear message', async () => {
  const rows = await first.db.knex('signing_keys').select('private_jwk');
  expect(rows.length).toBeGreaterThanOrEqual(2);
  for (const row of rows) {
    expect(row.private_jwk.startsWith('{')).toBe(false);
    expect(row.private_jwk.split('.')).toHaveLength(5);
    expect(row.private_jwk).not.toContain('"d"');
  }
  const secrets = await first.db.knex('server_secrets').select('name', 'value');
  for (const secret of secrets) expect(secret.value.split('.')).toHaveLength(5);

  const wrong = 'a-different-secret-that-is-long-enough-too';
  await expect(loadSigningJwks(first.db, wrong)).rejects.toThrow(/KEY_ENCRYPTION_SECRET is not the secret they were encrypted with/);
  await expect(loadCookieKeys(first.db, undefined, wrong)).rejects.toThrow(/KEY_ENCRYPTION_SECRET is not the secret they were encrypted with/);
  await expect(loadSigningJwks(first.db, undefined)).rejects.toThrow(/set KEY_ENCRYPTION_SECRET/);
});

test('rotated keys are published at once and sign only from their activation', async () => {
  const before = (await (await fetch(at(first, '/jwks'))).json()) as { keys: { kid: string; alg: string }[] };
  const rotation = await rotateSigningKeys(first.db, SECRET, 3600);
  const newKids = rotation.keys.map((key) => key.kid);
  expect(newKids).toHaveLength(2);
  // Instances reload keys on a timer; the test asks for the reload now.
  await first.reloadKeys();
  const after = (await (await fetch(at(first, '/jwks'))).json()) as { keys: { kid: string }[] };
  const kids = after.keys.map((key) => key.kid);
  for (const kid of [...newKids, ...before.keys.map((key) => key.kid)]) expect(kids).toContain(kid);

  // ID tokens are still signed with the current key until the new ones activate.
  const app = await registerTestApp(first);
  const browser = new Browser(first.issuer);
  const authorization = await startAuthorization(app);
  const back = await authorizeInBrowser(browser, authorization.url, newPerson('Key Person'), { register: true });
  const tokens = await exchangeCode(app, authorization, back.location ?? '');
  const header = JSON.parse(Buffer.from((tokens.id_token ?? '').split('.')[0] ?? '', 'base64url').toString()) as { kid: string };
  expect(newKids).not.toContain(header.kid);
  expect(kids).toContain(header.kid);
});

test('expired codes, tokens and counters are swept; the audit log refuses edits', async () => {
  const knex = first.db.knex;
  await knex('oidc_models').insert({ model: 'AccessToken', id: 'expired-token-for-sweep-test', payload: {}, expires_at: new Date(Date.now() - 60_000) });
  await knex('rate_limits').insert({ key: 'sweep-test', points: 1, expire: Date.now() - 60_000 });
  const swept = await first.sweepOnce();
  expect(swept.models).toBeGreaterThanOrEqual(1);
  expect(swept.rateLimits).toBeGreaterThanOrEqual(1);
  expect(await knex('oidc_models').where({ id: 'expired-token-for-sweep-test' })).toHaveLength(0);

  const [event] = await knex('audit_events').select('id').limit(1);
  expect(event).toBeDefined();
  await expect(knex('audit_events').where({ id: event.id }).update({ kind: 'edited' })).rejects.toThrow(/append-only/);
  await expect(knex('audit_events').where({ id: event.id }).delete()).rejects.toThrow(/append-only/);
});
