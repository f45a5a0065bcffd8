/**
 * Collecting a Patient Connect approval (RFC 8628 §3.4) is safe to retry: a background job that
 * polls one approved `device_code` several times at once — from one instance or two — gets the
 * tokens once, the other polls `invalid_grant`, and the winner's access and refresh tokens keep
 * working, so the person's approval is not lost while the request lists as authorized. A device
 * code presented again long after it was collected is a replay, and ends the authorization as
 * oidc-provider does for any used grant source; a poll naming a resource the code was not issued for
 * is refused before it uses the code up. The clinic is openid-client; the person validates
 * the request through carevault's pages.
 */
import * as oidc from 'openid-client';
import { textOf } from '../support/browser';
import { registerTestApp, type TestApp } from '../support/app';
import { signedUpPerson } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { loadConfig } from '../../src/config';

const ON_POSTGRES = Boolean(loadConfig().databaseUrl);

const CLINIC = {
  client_name: 'Hillside Clinic',
  token_endpoint_auth_method: 'client_secret_basic',
  capabilities: ['connect'],
  rules: [
    { scope: 'patient/Observation.cruds', required: true, reason: 'Send you lab results after each visit' },
    { scope: 'offline_access', required: true, reason: 'Send results while you are away' },
  ],
};

let server: TestServer;
let clinic: TestApp;

beforeAll(async () => {
  server = await startTestServer({ CONNECT_POLL_INTERVAL: '1' });
  clinic = await registerTestApp(server, CLINIC);
});

afterAll(async () => {
  await server?.stop();
});

let requests = 0;

/** A connect request the clinic made and a person validated and approved (their own record). */
async function approvedRequest(name: string) {
  requests += 1;
  const since = new Date(Date.now() - 1000);
  const request = await oidc.initiateDeviceAuthorization(clinic.config, {
    scope: 'patient/Observation.cruds offline_access',
    external_id: `MRN-${Date.now()}-${requests}`,
    friendly_name: name,
    question: 'Which street did you grow up on?',
    answer: 'Maple Grove',
  });
  const who = await signedUpPerson(server, name);
  let page = await who.browser.submit(await who.browser.visit('/connect'), { user_code: request.user_code });
  page = await who.browser.submit(page, { answer: 'maple grove' });
  page = await who.browser.submit(page, { decision: 'allow' }, '/consent');
  expect(textOf(page.html)).toContain('Connected');
  return { request, who, since };
}

/** One poll of the token endpoint with `deviceCode` (and any `extra` parameters), as the clinic (raw, so every answer is seen). */
async function poll(issuer: string, deviceCode: string, extra: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clinic.clientId}:${clinic.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, ...extra }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function readsRecord(accessToken: string): Promise<number> {
  return (await fetch(`${server.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

async function listedAuthorized(since: Date): Promise<Record<string, unknown>[]> {
  const token = await oidc.clientCredentialsGrant(clinic.config, { scope: 'connect' });
  const res = await fetch(`${server.issuer}/api/connect/requests?status=authorized&since=${encodeURIComponent(since.toISOString())}`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  return ((await res.json()) as { requests: Record<string, unknown>[] }).requests;
}

/** Polls `deviceCode` `count` times at once (spread over `issuers`), and checks the outcome a retrying job needs. */
async function collectAtOnce(issuers: string[], count: number, approved: Awaited<ReturnType<typeof approvedRequest>>) {
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => poll(issuers[i % issuers.length] ?? '', approved.request.device_code)));
  const winners = answers.filter((answer) => answer.status === 200);
  const refused = answers.filter((answer) => answer.status === 400 && answer.body.error === 'invalid_grant');
  const winner = winners[0]?.body ?? {};
  const reads = await readsRecord(String(winner.access_token));
  console.log(
    `${count} polls of one approved device_code at once on ${issuers.length} instance(s): ${winners.length} got tokens, ${refused.length} invalid_grant, other: ${answers.length - winners.length - refused.length}; winner's token on /fhir: ${reads}`,
  );
  expect(winners).toHaveLength(1);
  expect(refused).toHaveLength(count - 1);
  expect(winner.patient).toBe(approved.who.record);
  // The approval stands: the winner's access token reads the record, its refresh token refreshes…
  expect(reads).toBe(200);
  const refreshed = await oidc.refreshTokenGrant(clinic.config, String(winner.refresh_token));
  expect(await readsRecord(refreshed.access_token)).toBe(200);
  // …and the request lists as authorized, truthfully.
  expect(await listedAuthorized(approved.since)).toEqual(
    expect.arrayContaining([expect.objectContaining({ external_id: expect.any(String), patient: approved.who.record, status: 'authorized' })]),
  );
  return { winner, refreshed };
}

test('two polls of one approved device_code at once: one gets the tokens, the other invalid_grant, and the tokens keep working', async () => {
  for (let round = 0; round < 3; round += 1) {
    await collectAtOnce([server.issuer], 2, await approvedRequest(`Rory Twice${round}`));
  }
});

test('a poll naming another resource (RFC 8707) is invalid_target and collects nothing: the next poll without it gets the tokens', async () => {
  const approved = await approvedRequest('Ria Source');
  for (const resource of ['https://elsewhere.example/fhir', `${server.issuer}/api`]) {
    const refused = await poll(server.issuer, approved.request.device_code, { resource });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid_target', error_description: expect.stringContaining(`${server.issuer}/fhir`) });
  }
  const collected = await poll(server.issuer, approved.request.device_code);
  expect(collected.status).toBe(200);
  expect(collected.body.patient).toBe(approved.who.record);
  expect(await readsRecord(String(collected.body.access_token))).toBe(200);
});

test('eight polls at once: exactly one collects, and nothing the winner holds is revoked', async () => {
  await collectAtOnce([server.issuer], 8, await approvedRequest('Mina Eight'));
});

test('polls spread over two instances of the issuer (PostgreSQL): exactly one collects, and the approval stands', async () => {
  if (!ON_POSTGRES) return; // the embedded database serves one instance (instances.test.ts)
  const second = await startTestServer({ CONNECT_POLL_INTERVAL: '1' }, server);
  try {
    await collectAtOnce([server.issuer, second.issuer], 8, await approvedRequest('Theo Twin'));
  } finally {
    await second.stop();
  }
});

test('a device code presented again long after its collection is a replay: refused, and the authorization it gave ends', async () => {
  const approved = await approvedRequest('Ada Later');
  const { winner, refreshed } = await collectAtOnce([server.issuer], 1, approved);
  // The test clock: the collection happened an hour ago.
  await server.db
    .knex('oidc_models')
    .where({ model: 'DeviceCode' })
    .whereNotNull('consumed_at')
    .update({ consumed_at: new Date(Date.now() - 3600_000) });
  expect(await poll(server.issuer, approved.request.device_code)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  expect(await readsRecord(refreshed.access_token)).toBe(401);
  await expect(oidc.refreshTokenGrant(clinic.config, String(refreshed.refresh_token))).rejects.toMatchObject({ error: 'invalid_grant' });
  expect(winner.access_token).toEqual(expect.any(String));
});
