/**
 * The order in which oidc-provider calls its storage adapter, which src/oidc/route-lookups.ts
 * relies on to answer several lookups with one query: at the token endpoint the code or refresh
 * token is read before the grant it names; at introspection and revocation the presented value is
 * looked up in the token models one after another; at all three the client is read. The adapter's
 * other route-aware steps rely on it too: a rotated refresh token is stored before the access token
 * issued with it, and an app polling with a device code is known (its client read) before the code
 * is looked up; and a resume that renews the sign-in session's id removes the old id before it
 * stores the new one, which the adapter turns into one statement. Each request's
 * adapter calls are recorded and compared with the sequence seen on the oidc-provider version
 * carevault ships with: after an upgrade that changes one, check route-lookups.ts against the new
 * order before updating the sequence here. The queries show the planned lookups were made.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import * as oidc from 'openid-client';
import { appFromRegistration, authorizeInBrowser, exchangeCode, newPerson, startAuthorization, CALLBACK } from '../support/app';
import { Browser } from '../support/browser';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';

type AdapterCall = { route: string | undefined; call: string; id: string };
const mockCalls: AdapterCall[] = [];

jest.mock('../../src/oidc/adapter', () => {
  const actual = jest.requireActual<typeof import('../../src/oidc/adapter')>('../../src/oidc/adapter');
  const { default: Provider } = jest.requireActual<{ default: { ctx?: KoaContextWithOIDC } }>('oidc-provider');
  return {
    ...actual,
    createAdapterClass(...args: Parameters<typeof actual.createAdapterClass>) {
      const Recorded = actual.createAdapterClass(...args);
      const methods = ['find', 'findByUid', 'findByUserCode', 'upsert', 'consume', 'destroy', 'revokeByGrantId'] as const;
      for (const method of methods) {
        const original = Recorded.prototype[method] as (this: { model: string }, id: string, ...rest: unknown[]) => Promise<unknown>;
        Recorded.prototype[method] = function record(this: { model: string }, id: string, ...rest: unknown[]) {
          mockCalls.push({ route: Provider.ctx?.oidc?.route, call: `${this.model}.${method}`, id });
          return original.call(this, id, ...rest);
        } as never;
      }
      return Recorded;
    },
  };
});

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

/** The adapter calls and the database statements of `work` (one request). */
async function recorded(work: () => Promise<unknown>): Promise<{ calls: AdapterCall[]; statements: string[] }> {
  mockCalls.length = 0;
  const { statements } = await statementsOf(server.db, work);
  return { calls: mockCalls.splice(0), statements };
}

const sequence = (calls: readonly AdapterCall[]) => calls.map(({ route, call }) => `${route} ${call}`);
/** The query that reads a code or refresh token with its grant (ModelStore.findWithGrant). */
const withGrant = (statements: readonly string[]) => statements.filter((sql) => sql.includes("left join oidc_models g on g.model = 'Grant'")).length;
/** The query that looks a value up in every token model (ModelStore.findInModels). */
const inModels = (statements: readonly string[]) => statements.filter((sql) => sql.includes('model = any($1::text[])')).length;
/** The query that checks a self-contained token is live (its app or grant, not revoked). */
const liveApp = (statements: readonly string[]) => statements.filter((sql) => sql.includes("r.model = 'RevokedAccessToken'")).length;

test('token, refresh, introspection, revocation and client credentials call the adapter in the order route-lookups.ts relies on', async () => {
  const registered = await server.registerApp({
    client_name: 'Call Order',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    rules: [
      { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
      { scope: 'offline_access', required: false, reason: 'Sync while you are away' },
    ],
    capabilities: ['dopu'],
  });
  const app = await appFromRegistration(server.issuer, registered);
  const authorization = await startAuthorization(app, { scope: 'openid patient/Observation.rs offline_access' });
  const back = await authorizeInBrowser(new Browser(server.issuer), authorization.url, newPerson('Cal Order'), { register: true });

  // A code exchange: the code, then the grant it names (read with it, no query of its own); the
  // access token is self-contained, so only the refresh token is stored.
  let tokens: Awaited<ReturnType<typeof exchangeCode>> | undefined;
  const exchange = await recorded(async () => {
    tokens = await exchangeCode(app, authorization, back.location ?? '');
  });
  console.log(`code exchange:\n  ${sequence(exchange.calls).join('\n  ')}`);
  expect(sequence(exchange.calls)).toEqual([
    'token Client.find',
    'token AuthorizationCode.find',
    'token Grant.find',
    'token AuthorizationCode.consume',
    'token RefreshToken.upsert',
  ]);
  const grantId = exchange.calls.find((call) => call.call === 'Grant.find')?.id;
  expect(grantId).toBeDefined();
  expect(await server.db.knex('oidc_models').where({ model: 'Grant', id: grantId }).first()).toBeDefined();
  expect(withGrant(exchange.statements)).toBe(1);

  // A refresh: the refresh token, then its grant (read with it); the refresh token is consumed
  // and its successor stored in one statement. The access token is self-contained, and names the
  // successor (a retry within the grace withdraws the pair).
  let refreshed: Awaited<ReturnType<typeof oidc.refreshTokenGrant>> | undefined;
  const refresh = await recorded(async () => {
    refreshed = await oidc.refreshTokenGrant(app.config, tokens?.refresh_token ?? '');
  });
  console.log(`refresh:\n  ${sequence(refresh.calls).join('\n  ')}`);
  expect(sequence(refresh.calls)).toEqual([
    'token Client.find',
    'token RefreshToken.find',
    'token Grant.find',
    'token RefreshToken.consume',
    'token RefreshToken.upsert',
  ]);
  expect(refresh.calls.find((call) => call.call === 'Grant.find')?.id).toBe(grantId);
  expect(withGrant(refresh.statements)).toBe(1);

  // Introspection: the presented value in each token model (one query looks in the two stored
  // ones; an app's self-contained token is read from its value), then the grant of a person's
  // token, to see it is still live.
  const introspectionOf = async (token: string, stored = true) => {
    const seen = await recorded(() => oidc.tokenIntrospection(app.config, token));
    console.log(`introspection:\n  ${sequence(seen.calls).join('\n  ')}`);
    const tokenModels = seen.calls.filter((call) => /^(AccessToken|ClientCredentials|RefreshToken)\.find$/.test(call.call));
    expect(new Set(tokenModels.map((call) => call.id))).toEqual(new Set([token]));
    expect(inModels(seen.statements)).toBe(stored ? 1 : 0);
    expect(liveApp(seen.statements)).toBe(stored ? 0 : 1);
    // A self-contained person token's grant is read with its liveness.
    if (!stored) expect(seen.statements).toHaveLength(1);
    return sequence(seen.calls);
  };
  const inEveryModel = ['Client', 'AccessToken', 'ClientCredentials', 'RefreshToken'].map((model) => `introspection ${model}.find`);
  expect(await introspectionOf(refreshed?.access_token ?? '', false)).toEqual([...inEveryModel, 'introspection Grant.find']);
  expect(await introspectionOf(refreshed?.refresh_token ?? '')).toEqual([...inEveryModel, 'introspection Grant.find']);

  // Client credentials: the client, and nothing stored (the token is self-contained).
  let appToken = '';
  const credentials = await recorded(async () => {
    appToken = (await oidc.clientCredentialsGrant(app.config, { scope: 'dopu' })).access_token;
  });
  console.log(`client credentials:\n  ${sequence(credentials.calls).join('\n  ')}`);
  expect(sequence(credentials.calls)).toEqual(['token Client.find']);
  expect(credentials.statements.filter((sql) => /\binsert\b/i.test(sql))).toEqual([]);
  expect(await introspectionOf(appToken, false)).toEqual(inEveryModel);

  // Revocation: the same lookups as introspection, then the token goes.
  const revocation = await recorded(() => oidc.tokenRevocation(app.config, refreshed?.refresh_token ?? ''));
  console.log(`revocation:\n  ${sequence(revocation.calls).join('\n  ')}`);
  expect(sequence(revocation.calls)).toEqual([
    'revocation Client.find',
    'revocation AccessToken.find',
    'revocation ClientCredentials.find',
    'revocation RefreshToken.find',
    'revocation RefreshToken.destroy',
    'revocation AccessToken.revokeByGrantId',
    'revocation RefreshToken.revokeByGrantId',
    'revocation AuthorizationCode.revokeByGrantId',
    'revocation Grant.destroy',
  ]);
  expect(inModels(revocation.statements)).toBe(1);
});

test("a resume removes the sign-in session's old id before it stores the new one, and the adapter does both in one statement", async () => {
  const app = await appFromRegistration(
    server.issuer,
    await server.registerApp({
      client_name: 'Call Order Renewal',
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      rules: [{ scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' }],
    }),
  );
  const browser = new Browser(server.issuer);
  const person = newPerson('Ren Ewal');
  await authorizeInBrowser(browser, (await startAuthorization(app, { scope: 'openid patient/Observation.rs' })).url, person, { register: true });

  // Signed in already: the consent's answer resumes the session, which gets a new id.
  const again = await startAuthorization(app, { scope: 'openid patient/Observation.rs', prompt: 'consent' });
  const { calls, statements } = await recorded(() => authorizeInBrowser(browser, again.url, person));
  const resumed = calls.filter((call) => call.route === 'resume' && call.call.startsWith('Session.'));
  console.log(`resume:\n  ${resumed.map(({ call, id }) => `${call} ${id.slice(0, 6)}…`).join('\n  ')}`);
  const removed = resumed.findIndex((call) => call.call === 'Session.destroy');
  const stored = resumed.findIndex((call, index) => index > removed && call.call === 'Session.upsert');
  expect(removed).toBeGreaterThanOrEqual(0);
  expect(stored).toBeGreaterThan(removed);
  expect(resumed[stored]?.id).not.toBe(resumed[removed]?.id);
  // No statement removes a session on its own: the old id goes with the new one's write.
  const deletes = statements.filter((sql) => /^delete from "oidc_models"/i.test(sql.trim())).length;
  const otherDestroys = calls.filter((call) => call.call.endsWith('.destroy') && !call.call.startsWith('Session.')).length;
  expect(deletes).toBe(otherDestroys);
  expect(statements.filter((sql) => sql.includes("delete from oidc_models where model = 'Session' and id = $8"))).toHaveLength(1);
});

test('a device code poll reads the polling app before the device code (its pace is counted for that app)', async () => {
  const clinic = await appFromRegistration(
    server.issuer,
    await server.registerApp({
      client_name: 'Call Order Clinic',
      token_endpoint_auth_method: 'client_secret_basic',
      capabilities: ['connect'],
      rules: [
        { scope: 'patient/Observation.cruds', required: true, reason: 'Send you lab results' },
        { scope: 'offline_access', required: true, reason: 'Send results while you are away' },
      ],
    }),
  );
  const request = await oidc.initiateDeviceAuthorization(clinic.config, {
    scope: 'patient/Observation.cruds offline_access',
    external_id: 'MRN-call-order',
    friendly_name: 'Cal Order',
    question: 'Which street did you grow up on?',
    answer: 'Maple Grove',
  });
  const polled = await recorded(() =>
    fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clinic.clientId}:${clinic.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: request.device_code }).toString(),
    }),
  );
  console.log(`device code poll:\n  ${sequence(polled.calls).join('\n  ')}`);
  expect(sequence(polled.calls)).toEqual(['token Client.find', 'token DeviceCode.find']);
});
