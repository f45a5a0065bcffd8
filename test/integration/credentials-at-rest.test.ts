/**
 * A copy of the database is no lasting access: every credential oidc-provider stores (access,
 * refresh and client-credentials tokens, codes, device and user codes, session ids, registration
 * access tokens, pushed requests, interactions) is kept under the SHA-256 of its value, and a
 * payload field that must come back in clear is sealed under the credential presented to read it.
 * The attack: every value of every column of `oidc_models` and `connect_requests`, tried as a
 * Bearer token, a refresh token, a signed session cookie (signed with the cookie key from the same
 * copy), a device code and a registration access token — all refused, while the real values work.
 * Upgrading keeps people signed in and apps' tokens working: the migration hashes the rows an
 * earlier version stored with their values as ids.
 */
import { createHmac } from 'node:crypto';
import * as oidc from 'openid-client';
import { migrate } from '../../src/db';
import { credentialKey } from '../../src/security/credential-keys';
import { textOf, type Browser } from '../support/browser';
import { appFromRegistration, CALLBACK, registerTestApp, type TestApp } from '../support/app';
import { authorizedApp, type Authorized } from '../support/authorized';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

const INITIAL_ACCESS_TOKEN = 'initial-access-token-for-the-credentials-at-rest-tests';
const MIGRATION = '20261206_010_hashed_credentials';

const CLINIC = {
  client_name: 'Lakeside Clinic',
  token_endpoint_auth_method: 'client_secret_basic',
  capabilities: ['connect'],
  rules: [
    { scope: 'patient/Observation.cruds', required: true, reason: 'Send you lab results' },
    { scope: 'offline_access', required: true, reason: 'Send results while you are away' },
  ],
};

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN, CONNECT_POLL_INTERVAL: '1' });
});

afterAll(async () => {
  await server?.stop();
});

/** Every live credential kind carevault hands out, obtained the way apps and people get them. */
async function issueEverything(target: TestServer, name: string) {
  const holder = await authorizedApp(target, name);
  const clinic = await registerTestApp(target, CLINIC);
  const appToken = (await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' })).access_token;
  const connect = await oidc.initiateDeviceAuthorization(clinic.config, {
    scope: 'patient/Observation.cruds offline_access',
    external_id: `MRN-${Date.now()}`,
    friendly_name: name,
    question: 'Which street did you grow up on?',
    answer: 'Maple Grove',
  });
  const registered = (await (
    await fetch(`${target.issuer}/oauth/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${INITIAL_ACCESS_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Self Registered', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic' }),
    })
  ).json()) as Record<string, unknown>;
  const selfRegistered = await appFromRegistration(target.issuer, registered);
  // A pushed authorization request, and a sign-in left half-way (its interaction).
  const pushed = await oidc.buildAuthorizationUrlWithPAR(selfRegistered.config, {
    redirect_uri: CALLBACK,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const halfWay = await holder.browser.request(pushed.toString());
  const interaction = /\/interaction\/([\w-]+)/.exec(halfWay.location ?? '')?.[1] ?? '';
  expect(interaction).not.toBe('');
  return {
    holder,
    clinic,
    connect,
    selfRegistered,
    values: {
      AccessToken: holder.accessToken,
      RefreshToken: holder.refreshToken,
      Session: sessionCookieOf(holder.browser, target),
      ClientCredentials: appToken,
      DeviceCode: connect.device_code,
      UserCode: connect.user_code.replace(/-/g, ''),
      RegistrationAccessToken: String(registered.registration_access_token),
      PushedAuthorizationRequest: pushed.searchParams.get('request_uri')?.split(':').at(-1) ?? '',
      Interaction: interaction,
      ClientSecret: String(registered.client_secret),
    },
  };
}

function sessionCookieOf(browser: Browser, target: TestServer): string {
  return /(?:^|; )_session=([^;]+)/.exec(browser.cookiesFor(`${target.issuer}/`))?.[1] ?? '';
}

/** What an attacker holding the copy does: signs a session cookie with the cookie key it holds too (keygrip's HMAC-SHA1). */
async function forgedSessionCookie(target: TestServer, sessionId: string): Promise<string> {
  const { value: key } = (await target.db.knex('server_secrets').where({ name: 'cookie_key' }).first('value')) as { value: string };
  const sig = createHmac('sha1', key).update(`_session=${sessionId}`).digest('base64url');
  return `_session=${sessionId}; _session.sig=${sig}`;
}

/** Every string of every column of the tables that hold credentials, and every token-shaped piece of them. */
async function everyStoredValue(target: TestServer): Promise<string[]> {
  const rows = [...(await target.db.knex('oidc_models').select('*')), ...(await target.db.knex('connect_requests').select('*'))] as Record<string, unknown>[];
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      found.add(value);
      for (const piece of value.split(/[^\w-]+/)) if (piece.length >= 16) found.add(piece);
    } else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object' && !(value instanceof Date)) Object.values(value).forEach(walk);
  };
  rows.forEach(walk);
  return [...found].filter((value) => value.length >= 16 && value.length <= 2000);
}

type Tries = { bearer: number; appApi: number; refresh: number; deviceCode: number; registration: number; session: boolean };

/** One stored value tried as each kind of credential. */
async function tryEverywhere(target: TestServer, value: string, who: { holder: Authorized; clinic: TestApp; selfRegistered: TestApp }): Promise<Tries> {
  const basic = (app: TestApp) => `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`;
  const token = (app: TestApp, form: Record<string, string>) =>
    fetch(`${target.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(app), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  const bearer = { authorization: `Bearer ${value}` };
  const [fhir, appApi, refresh, deviceCode, registration, home] = await Promise.all([
    fetch(`${target.issuer}/fhir/Observation?_count=1`, { headers: bearer }),
    fetch(`${target.issuer}/api/connect/requests`, { headers: bearer }),
    token(who.holder.app, { grant_type: 'refresh_token', refresh_token: value }),
    token(who.clinic, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: value }),
    fetch(`${target.issuer}/oauth/register/${who.selfRegistered.clientId}`, { headers: bearer }),
    fetch(`${target.issuer}/`, { headers: { cookie: await forgedSessionCookie(target, value) }, redirect: 'manual' }),
  ]);
  const pollAnswer = (await deviceCode.json()) as { error?: string };
  await Promise.all([fhir, appApi, refresh, registration].map((res) => res.arrayBuffer()));
  return {
    bearer: fhir.status,
    appApi: appApi.status,
    refresh: refresh.status,
    // Pending or paced means the code was found.
    deviceCode: deviceCode.status === 400 && pollAnswer.error !== 'invalid_grant' ? 200 : deviceCode.status,
    registration: registration.status,
    session: textOf(await home.text()).includes(`Hello, ${who.holder.person.name}`),
  };
}

test('a copy of the credential tables holds nothing that works: every value, as every kind of credential, is refused', async () => {
  const issued = await issueEverything(server, 'Quinn Copy');

  // Controls: the real values work the way the attempts below try them, so a refusal means something.
  const real = (value: string) => tryEverywhere(server, value, issued);
  expect((await real(issued.values.AccessToken)).bearer).toBe(200);
  expect((await real(issued.values.ClientCredentials)).appApi).toBe(200);
  expect((await real(issued.values.Session)).session).toBe(true);
  expect((await real(issued.values.DeviceCode)).deviceCode).toBe(200);
  expect((await real(issued.values.RegistrationAccessToken)).registration).toBe(200);

  // The attack: every stored value, as every kind of credential.
  const candidates = await everyStoredValue(server);
  const worked: string[] = [];
  for (let i = 0; i < candidates.length; i += 8) {
    const batch = candidates.slice(i, i + 8);
    const outcomes = await Promise.all(batch.map((value) => tryEverywhere(server, value, issued)));
    outcomes.forEach((outcome, j) => {
      const kinds = Object.entries(outcome)
        .filter(([, result]) => result === 200 || result === true)
        .map(([kind]) => kind);
      if (kinds.length) worked.push(`${batch[j]?.slice(0, 12)}… as ${kinds.join(', ')}`);
    });
  }
  console.log(`stored values tried: ${candidates.length} × 6 uses; accepted: ${worked.length}${worked.length ? `\n  ${worked.join('\n  ')}` : ''}`);
  expect(candidates.length).toBeGreaterThan(20);
  expect(worked).toEqual([]);

  // The copy holds none of the values handed out.
  const dump = JSON.stringify([await server.db.knex('oidc_models').select('*'), await server.db.knex('connect_requests').select('*')]);
  const held = Object.entries(issued.values).filter(([, value]) => value.length >= 16 && dump.includes(value));
  console.log(`credentials handed out: ${Object.keys(issued.values).length}; found in the copy: ${held.map(([kind]) => kind).join(', ') || 'none'}`);
  expect(held.map(([kind]) => kind)).toEqual([]);
});

test('credentials stored by an earlier version (values as ids) keep working once the migration has hashed them', async () => {
  const target = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN, CONNECT_POLL_INTERVAL: '1' });
  try {
    const issued = await issueEverything(target, 'Uma Upgrade');
    const { values } = issued;
    const knex = target.db.knex;

    // Back to how the earlier version stored them: the value is the id and the payload's jti, a
    // user code in clear, a connect request keyed by its device code; rows whose values this
    // test does not hold go (a consumed code, the first session id).
    const kept: [string, string][] = [
      ['RefreshToken', values.RefreshToken],
      ['Session', values.Session],
      ['DeviceCode', values.DeviceCode],
      ['RegistrationAccessToken', values.RegistrationAccessToken],
    ];
    for (const [model, value] of kept) {
      const row = (await knex('oidc_models')
        .where({ model, id: credentialKey(value) })
        .first()) as { payload: Record<string, unknown> } | undefined;
      expect(row).toBeDefined();
      const { sealed: _sealed, idUnderUserCode: _idUnderUserCode, ...payload } = row?.payload ?? {};
      await knex('oidc_models')
        .where({ model, id: credentialKey(value) })
        .update({
          id: value,
          payload: { ...payload, jti: value, ...(model === 'DeviceCode' ? { userCode: values.UserCode } : {}) },
          ...(model === 'DeviceCode' ? { user_code: values.UserCode } : {}),
        });
    }
    await knex('oidc_models')
      .whereNotIn('model', ['Client', 'Grant'])
      .whereNotIn(
        'id',
        kept.map(([, value]) => value),
      )
      .delete();
    await knex.raw('alter table connect_requests rename column device_code_hash to device_code');
    await knex('connect_requests')
      .where({ device_code: credentialKey(values.DeviceCode) })
      .update({ device_code: values.DeviceCode });
    await knex('knex_migrations').where({ name: MIGRATION }).delete();
    expect(JSON.stringify(await knex('oidc_models').select('id'))).toContain(values.RefreshToken);

    expect(await migrate(target.db)).toEqual([MIGRATION]);

    // Nothing in clear any more…
    const dump = JSON.stringify([await knex('oidc_models').select('*'), await knex('connect_requests').select('*')]);
    expect(Object.entries(values).filter(([kind, value]) => kept.some(([model]) => model === kind) && dump.includes(value))).toEqual([]);
    expect(dump).not.toContain(values.UserCode);

    // …and everything still works: the token reads the record, the app's token reaches its API,
    // the refresh token refreshes, the person is still signed in, the registration can be read,
    // and the clinic's connect request is validated with its identity code and collected.
    const fhir = await fetch(`${target.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `Bearer ${values.AccessToken}` } });
    expect(fhir.status).toBe(200);
    const api = await fetch(`${target.issuer}/api/connect/requests`, { headers: { authorization: `Bearer ${values.ClientCredentials}` } });
    expect(api.status).toBe(200);
    const refreshed = await oidc.refreshTokenGrant(issued.holder.app.config, values.RefreshToken);
    expect((await fetch(`${target.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `Bearer ${refreshed.access_token}` } })).status).toBe(200);
    expect(textOf((await issued.holder.browser.visit('/')).html)).toContain(`Hello, ${issued.holder.person.name}`);
    const registration = await fetch(`${target.issuer}/oauth/register/${issued.selfRegistered.clientId}`, {
      headers: { authorization: `Bearer ${values.RegistrationAccessToken}` },
    });
    expect(registration.status).toBe(200);
    const parent = await signedUpPerson(target, 'Ivo Upgrade');
    let page = await parent.browser.submit(await parent.browser.visit('/connect'), { user_code: issued.connect.user_code });
    page = await parent.browser.submit(page, { answer: 'maple grove' });
    page = await parent.browser.submit(page, { decision: 'allow' }, '/consent');
    expect(textOf(page.html)).toContain('Connected');
    const collected = await oidc.pollDeviceAuthorizationGrant(issued.clinic.config, issued.connect, undefined, { signal: AbortSignal.timeout(20_000) });
    expect(collected.patient).toBe(parent.record);
    console.log(
      'upgrade: access, client-credentials and refresh tokens, the session, the registration access token and a pending connect request all work after the migration',
    );
  } finally {
    await target.stop();
  }
});
