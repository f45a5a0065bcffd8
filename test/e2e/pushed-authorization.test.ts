/**
 * Pushed authorization requests (RFC 9126): every kind of app pushes its request with
 * openid-client and completes the flow, with and without the SMART `aud`; the SMART checks run when
 * the request is pushed and never see the stored request's JWT claims (its `aud` is the issuer);
 * what was pushed is what is asked, whatever the browser's URL adds; DPoP binds through PAR; and an
 * app registered with `require_pushed_authorization_requests` (CLI or dynamic registration) must push.
 */
import * as oidc from 'openid-client';
import { createAppCommand } from '../../src/cli-commands';
import { textOf } from '../support/browser';
import { CALLBACK, authorizeInBrowser, registerTestApp, type TestApp } from '../support/app';
import { keyPairFor, withAlg } from '../support/conformance/world';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';

const INITIAL_ACCESS_TOKEN = 'pushed-authorization-initial-access-token-0123456789';
const RULES = [
  { scope: 'patient/Patient.rs', required: true, reason: 'Show your name' },
  { scope: 'patient/Observation.cruds', required: false, reason: 'Chart your weight' },
  { scope: 'offline_access', required: false, reason: 'Sync while you are away' },
];
const SCOPE = 'openid fhirUser launch/patient patient/Patient.rs patient/Observation.cruds offline_access';

let server: TestServer;
let who: SignedUp;
let fhirBase: string;

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL_ACCESS_TOKEN });
  who = await signedUpPerson(server, 'Pat Pusher');
  fhirBase = `${server.issuer}/fhir`;
});

afterAll(async () => {
  await server?.stop();
});

/** An app of each client authentication method carevault offers. */
async function appWith(method: string): Promise<TestApp> {
  const document = { client_name: `Pusher ${method}`, redirect_uris: [CALLBACK], token_endpoint_auth_method: method, rules: RULES };
  if (method !== 'private_key_jwt' && method !== 'client_secret_post') return registerTestApp(server, document);
  const key = method === 'private_key_jwt' ? await keyPairFor('ES256') : undefined;
  const registered = await server.registerApp(key ? { ...document, jwks: { keys: [{ ...key.publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }] } } : document);
  const auth = key ? oidc.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }, withAlg('ES256')) : oidc.ClientSecretPost(registered.client_secret as string);
  const config = await oidc.discovery(new URL(server.issuer), registered.client_id as string, undefined, auth, { execute: [oidc.allowInsecureRequests] });
  return { clientId: registered.client_id as string, clientSecret: registered.client_secret as string | undefined, config, registered };
}

/** Pushes the request, sends the person's browser with the request_uri, and exchanges the code. */
async function pushedFlow(app: TestApp, params: Record<string, string>, options: { DPoP?: oidc.DPoPHandle; addToUrl?: Record<string, string> } = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = await oidc.buildAuthorizationUrlWithPAR(
    app.config,
    { redirect_uri: CALLBACK, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...params },
    options.DPoP ? { DPoP: options.DPoP } : undefined,
  );
  expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
  for (const [name, value] of Object.entries(options.addToUrl ?? {})) url.searchParams.set(name, value);
  const back = await authorizeInBrowser(who.browser, url, who.person);
  if (!back.location?.startsWith(CALLBACK)) throw new Error(`stopped at ${back.url}: ${textOf(back.html).slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(
    app.config,
    new URL(back.location),
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    options.DPoP ? { DPoP: options.DPoP } : undefined,
  );
  return { tokens, url, callback: back.location };
}

test('every kind of app pushes its request and gets its tokens, with and without aud', async () => {
  const results: string[] = [];
  for (const method of ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']) {
    const app = await appWith(method);
    for (const aud of [fhirBase, undefined, `${fhirBase}/`]) {
      const { tokens } = await pushedFlow(app, { scope: SCOPE, ...(aud ? { aud } : {}) });
      expect(tokens.patient).toBe(who.record);
      expect(tokens.scope?.split(' ').sort()).toEqual(SCOPE.split(' ').sort());
      expect(tokens.refresh_token).toEqual(expect.any(String));
      const read = await fetch(`${fhirBase}/Patient/${who.record}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(read.status).toBe(200);
      results.push(`${method}${aud ? ' + aud' : ''}`);
    }
  }
  process.stdout.write(`pushed flows completed: ${results.length} (${results.join(', ')})\n`);
  expect(results).toHaveLength(12);
});

test('the SMART checks run at the push: a wrong aud or an unregistered scope is refused at /par', async () => {
  const app = await appWith('client_secret_basic');
  const push = (params: Record<string, string>) =>
    oidc.buildAuthorizationUrlWithPAR(app.config, { redirect_uri: CALLBACK, code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', ...params });
  await expect(push({ scope: 'openid', aud: 'https://other.example/fhir' })).rejects.toMatchObject({
    error: 'invalid_request',
    error_description: `aud must be this server's FHIR base URL, ${fhirBase}`,
  });
  // The issuer is not the FHIR base either: the pushed request's JWT audience cannot stand in for it.
  await expect(push({ scope: 'openid', aud: server.issuer })).rejects.toMatchObject({ error: 'invalid_request' });
  await expect(push({ scope: 'openid patient/Condition.rs' })).rejects.toMatchObject({ error: 'invalid_scope' });
  await expect(push({ scope: 'openid dopu' })).rejects.toMatchObject({ error: 'invalid_scope' });
});

test('what was pushed is what is asked: parameters added to the browser URL change nothing', async () => {
  const app = await appWith('client_secret_basic');
  const { tokens } = await pushedFlow(
    app,
    { scope: 'openid patient/Patient.rs', aud: fhirBase },
    { addToUrl: { scope: 'openid patient/Observation.cruds offline_access', aud: 'https://other.example/fhir' } },
  );
  expect(tokens.scope?.split(' ').sort()).toEqual(['openid', 'patient/Patient.rs']);
  expect(tokens.refresh_token).toBeUndefined();
  // No scope pushed means every rule the app registered, as at the plain endpoint.
  const all = await pushedFlow(app, {});
  expect(all.tokens.scope?.split(' ').sort()).toEqual(['offline_access', 'patient/Observation.cruds', 'patient/Patient.rs']);
  // A request_uri is used once.
  const again = await who.browser.visit(all.url.toString());
  expect(again.location ?? textOf(again.html)).toMatch(/invalid_request_uri|request_uri is invalid/);
});

test('DPoP through PAR: the pushed request carries the key, the tokens are bound to it', async () => {
  const app = await appWith('none');
  const DPoP = oidc.getDPoPHandle(app.config, await oidc.randomDPoPKeyPair('ES256'));
  const { tokens } = await pushedFlow(app, { scope: 'openid patient/Patient.rs', aud: fhirBase }, { DPoP });
  expect(tokens.token_type.toLowerCase()).toBe('dpop');
  const url = new URL(`${fhirBase}/Patient/${who.record}`);
  expect((await oidc.fetchProtectedResource(app.config, tokens.access_token, url, 'GET', undefined, undefined, { DPoP })).status).toBe(200);
  expect((await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
});

test('require_pushed_authorization_requests: registered by the CLI or dynamically, a plain request is refused and a pushed one works', async () => {
  const document = {
    client_name: 'Strict Pusher',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    rules: RULES,
    require_pushed_authorization_requests: true,
  };
  const viaCli = await createAppCommand(server.config, document);
  expect(viaCli.require_pushed_authorization_requests).toBe(true);
  const viaRegistration = await fetch(`${server.issuer}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${INITIAL_ACCESS_TOKEN}` },
    body: JSON.stringify({ ...document, client_name: 'Strict Pusher Too' }),
  });
  expect(viaRegistration.status).toBe(201);
  const dynamic = (await viaRegistration.json()) as Record<string, unknown>;
  expect(dynamic.require_pushed_authorization_requests).toBe(true);

  for (const registered of [viaCli, dynamic]) {
    const config = await oidc.discovery(
      new URL(server.issuer),
      registered.client_id as string,
      undefined,
      oidc.ClientSecretBasic(registered.client_secret as string),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const app = { clientId: registered.client_id as string, clientSecret: registered.client_secret as string, config, registered };
    const plain = oidc.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: 'a'.repeat(43),
      code_challenge_method: 'S256',
    });
    const refused = await who.browser.visit(plain.href);
    const error = refused.location ? new URL(refused.location).searchParams : undefined;
    expect(error?.get('error') ?? textOf(refused.html)).toMatch(/invalid_request/);
    expect(error?.get('error_description') ?? textOf(refused.html)).toContain('Pushed Authorization Request must be used');
    const { tokens } = await pushedFlow(app, { scope: 'openid patient/Patient.rs', aud: fhirBase });
    expect(tokens.patient).toBe(who.record);
  }

  // The registration document says what is wrong with a value that is not a boolean.
  await expect(server.registerApp({ ...document, require_pushed_authorization_requests: 'yes' })).rejects.toThrow(
    'require_pushed_authorization_requests: must be true or false',
  );
});
