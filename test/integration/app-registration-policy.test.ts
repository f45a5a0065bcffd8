/**
 * What an app may register and use, by the registration call (the CLI's `apps create`) and dynamic
 * registration (RFC 7591) alike: the text people are shown (`client_name`, each rule's `reason`)
 * carries no control characters and no invisible formatting (U+202E shows "scan\u202Efdp.js" as
 * "scansj.pdf"); app-level grants need an app that authenticates — a public app gets neither
 * `client_credentials` nor the device grant, at registration (invalid_client_metadata) nor at the
 * token endpoint, even when stored before this rule (unauthorized_client, RFC 6749 §5.2) — and the
 * device grant is Patient Connect, which comes only with the `connect` capability.
 */
import { randomBytes } from 'node:crypto';
import { CALLBACK } from '../support/app';
import { startTestServer, type TestServer } from '../support/server';

const REGISTRATION_TOKEN = 'initial-access-token-for-the-registration-policy-test';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ REGISTRATION_INITIAL_ACCESS_TOKEN: REGISTRATION_TOKEN });
});

afterAll(async () => {
  await server?.stop();
});

const PUBLIC_APP = {
  client_name: 'Pocket Diary',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'none',
  rules: [{ scope: 'patient/Observation.rs', required: true, reason: 'Show your readings' }],
};

const CLINIC = {
  client_name: 'Riverside Clinic',
  token_endpoint_auth_method: 'client_secret_basic',
  rules: [{ scope: 'offline_access', required: true, reason: 'Send results while you are away' }],
};

/** Dynamic registration (RFC 7591) of `document`: status and body. */
async function registerDynamically(document: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.issuer}/oauth/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${REGISTRATION_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(document),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Both ways of registering refuse `document`, with invalid_client_metadata and a description matching `words`. */
async function refusedBothWays(document: Record<string, unknown>, words: RegExp): Promise<void> {
  await expect(server.registerApp(document)).rejects.toMatchObject({ code: 'invalid_client_metadata', message: expect.stringMatching(words) });
  const dynamic = await registerDynamically(document);
  expect(dynamic).toEqual({ status: 400, body: { error: 'invalid_client_metadata', error_description: expect.stringMatching(words) } });
}

async function tokenRequest(form: Record<string, string>, secret?: { clientId: string; clientSecret: string }) {
  const res = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(secret ? { authorization: `Basic ${Buffer.from(`${secret.clientId}:${secret.clientSecret}`).toString('base64')}` } : {}),
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('text shown to people', () => {
  test.each([
    ['a line break (CR LF)', 'Weight Tracker\r\nVerified by carevault', /client_name: .*U\+000D/],
    ['a line feed alone', 'Weight\nTracker', /client_name: .*U\+000A/],
    ['a tab', 'Weight\tTracker', /client_name: .*U\+0009/],
    ['a right-to-left override', 'Tracker \u202Egnp.exe', /client_name: .*U\+202E/],
    ['a zero-width space', 'Mayo\u200BClinic', /client_name: .*U\+200B/],
    ['a C1 control', 'Tracker\u0085', /client_name: .*U\+0085/],
    ['a line separator', 'Tracker\u2028Inc', /client_name: .*U\+2028/],
  ])('a client_name with %s is refused, naming the character', async (_what, name, words) => {
    await refusedBothWays({ ...PUBLIC_APP, client_name: name }, words);
  });

  test("a rule's reason with a control or format character is refused too", async () => {
    const rules = [{ scope: 'patient/Observation.rs', required: true, reason: 'Show your readings\u202E' }];
    await refusedBothWays({ ...PUBLIC_APP, rules }, /rules\[0\]\.reason: .*U\+202E/);
  });

  test('names in any script, with accents, emoji and joiners, are registered as they are', async () => {
    for (const name of ['Clínica São José', 'مستشفى الأمل', 'می\u200Cخواهم', '👩\u200D⚕️ Care Team', 'Dr. O’Brien & Partners']) {
      const registered = await server.registerApp({ ...PUBLIC_APP, client_name: name });
      expect(registered.client_name).toBe(name);
      const dynamic = await registerDynamically({ ...PUBLIC_APP, client_name: name });
      expect(dynamic).toMatchObject({ status: 201, body: { client_name: name } });
    }
  });
});

describe('app-level grants need an app that authenticates', () => {
  test('a public app listing client_credentials or the device grant is refused at registration', async () => {
    await refusedBothWays(
      { ...PUBLIC_APP, grant_types: ['authorization_code', 'client_credentials'] },
      /^grant_types: client_credentials needs a confidential app/,
    );
    await refusedBothWays({ ...PUBLIC_APP, grant_types: ['authorization_code', DEVICE_CODE] }, /^grant_types: .*device_code needs a confidential app/);
  });

  test('the device grant comes with the connect capability only', async () => {
    await refusedBothWays({ ...CLINIC, grant_types: [DEVICE_CODE] }, /^grant_types: .*device_code is Patient Connect/);
    const connect = await server.registerApp({ ...CLINIC, capabilities: ['connect'] });
    expect(connect.grant_types).toEqual(expect.arrayContaining(['client_credentials', DEVICE_CODE]));
  });

  test('a public app stored with client_credentials before this rule gets unauthorized_client, and no token', async () => {
    const clientId = `legacy-${randomBytes(8).toString('hex')}`;
    // As an operator's database from before would hold it: grant_types with client_credentials, no secret.
    await server.db.knex('oidc_models').insert({
      model: 'Client',
      id: clientId,
      payload: {
        client_id: clientId,
        client_name: 'Legacy Public App',
        redirect_uris: [CALLBACK],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'client_credentials', DEVICE_CODE],
        response_types: ['code'],
        rules: [],
        capabilities: [],
        scope: 'openid profile email fhirUser launch/patient',
      },
    });
    // With its client_id alone, as the probe did.
    const refused = await tokenRequest({ grant_type: 'client_credentials', client_id: clientId });
    expect(refused).toEqual({ status: 400, body: { error: 'unauthorized_client', error_description: expect.stringContaining('confidential') } });
    const device = await fetch(`${server.issuer}/device/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: clientId,
        scope: 'offline_access',
        external_id: 'x',
        friendly_name: 'x',
        question: 'x?',
        answer: 'blue whale',
      }).toString(),
    });
    expect(device.status).toBe(400);
    expect(await device.json()).toMatchObject({ error: 'unauthorized_client' });
    expect(await server.db.knex('oidc_models').where({ model: 'ClientCredentials' }).whereRaw(`payload->>'clientId' = ?`, [clientId])).toHaveLength(0);
    expect(await server.db.knex('connect_requests').where({ client_id: clientId })).toHaveLength(0);

    // What it may do still works: web-based authorization goes on to sign-in.
    const authorize = new URL(`${server.issuer}/authorize`);
    authorize.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const started = await fetch(authorize, { redirect: 'manual' });
    expect(started.status).toBe(303);
    expect(started.headers.get('location')).toMatch(/^\/interaction\//);
  });

  test('a confidential app with a capability still gets its client-credentials token', async () => {
    const clinic = await server.registerApp({ ...CLINIC, capabilities: ['dopu'] });
    const issued = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'dopu' },
      { clientId: clinic.client_id as string, clientSecret: clinic.client_secret as string },
    );
    expect(issued).toMatchObject({ status: 200, body: { access_token: expect.any(String), scope: 'dopu' } });
  });
});
