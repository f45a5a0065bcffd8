/**
 * An app's client-credentials token is self-contained (RFC 9068, signed with an HMAC key derived
 * from the server's signing key, stored nowhere): issuing one writes nothing, and what a stored token gave for free still
 * holds at once — revocation (RFC 7009), the app's removal, the loss of a capability — through the
 * one liveness read on every use; introspection (RFC 7662) answers for it like for any token. It
 * is for the app APIs only: a request naming another resource (RFC 8707) is refused.
 */
import * as oidc from 'openid-client';
import { randomBytes } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, jwtVerify } from 'jose';
import { loadConfig } from '../../src/config';
import { rotateSigningKeys } from '../../src/oidc/keys';
import { clinicApp, type Dropper } from '../support/dopu';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';
import { asJws, signingKeyOf } from '../support/tokens';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

/** The key the server signs `token` with. */
const serverKeyOf = (token: string) => signingKeyOf(server, token);

async function introspect(app: Dropper, token: string) {
  return (await oidc.tokenIntrospection(app.config, token)) as Record<string, unknown>;
}

async function modelRows(): Promise<number> {
  return Number((await server.db.knex('oidc_models').count({ n: '*' }))[0]?.n ?? 0);
}

test('a client-credentials token is signed by the server for the app APIs, under 1 KB, and issuing it writes nothing', async () => {
  const app = await clinicApp(server, 'Signed Clinic');
  const before = await modelRows();
  const { result: issued, statements } = await statementsOf(server.db, () => oidc.clientCredentialsGrant(app.config, { scope: 'dopu' }));
  expect(statements.filter((sql) => /\b(insert|update|delete)\b/i.test(sql))).toEqual([]);
  expect(await modelRows()).toBe(before);

  const token = issued.access_token;
  expect(token.length).toBeLessThan(1024);
  expect(token).not.toContain('.');
  const { payload, protectedHeader } = await jwtVerify(asJws(token), await serverKeyOf(token), { issuer: server.issuer, audience: `${server.issuer}/api` });
  expect(protectedHeader).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
  expect(payload).toMatchObject({ client_id: app.clientId, scope: 'dopu' });
  expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
  expect(issued.expires_in).toBeLessThanOrEqual(600);
  expect(issued.scope).toBe('dopu');

  expect((await app.call('/api/dopu/packages')).status).toBe(200);
  expect(await introspect(app, token)).toMatchObject({
    active: true,
    client_id: app.clientId,
    scope: 'dopu',
    token_type: 'Bearer',
    aud: `${server.issuer}/api`,
  });
});

test('a client-credentials request naming a resource other than the app APIs is 400 invalid_target, naming the app APIs', async () => {
  const app = await clinicApp(server, 'Targeting Clinic');
  for (const resource of ['https://elsewhere.example/api', `${server.issuer}/fhir`]) {
    const refused = oidc.clientCredentialsGrant(app.config, { scope: 'dopu', resource });
    await expect(refused).rejects.toMatchObject({ status: 400, error: 'invalid_target' });
    await expect(refused).rejects.toMatchObject({ error_description: expect.stringContaining(`${server.issuer}/api`) });
  }
  // Naming the app APIs is what naming none means.
  const issued = await oidc.clientCredentialsGrant(app.config, { scope: 'dopu', resource: `${server.issuer}/api` });
  const { payload } = await jwtVerify(asJws(issued.access_token), await serverKeyOf(issued.access_token), { audience: `${server.issuer}/api` });
  expect(payload.scope).toBe('dopu');
  expect((await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${issued.access_token}` } })).status).toBe(200);
});

test('a revoked token ends at once, for the API and introspection, and only its own app may revoke or introspect it', async () => {
  const app = await clinicApp(server, 'Revoking Clinic');
  const other = await clinicApp(server, 'Other Clinic');
  const sibling = (await oidc.clientCredentialsGrant(app.config, { scope: 'dopu' })).access_token;

  expect(await introspect(other, app.token)).toEqual({ active: false });
  await oidc.tokenRevocation(other.config, app.token);
  expect((await app.call('/api/dopu/packages')).status).toBe(200);

  await oidc.tokenRevocation(app.config, app.token);
  const refused = await app.call('/api/dopu/packages');
  expect(refused.status).toBe(401);
  expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
  expect(await introspect(app, app.token)).toEqual({ active: false });

  // Revoking one token leaves the app's other tokens alone.
  const res = await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${sibling}` } });
  expect(res.status).toBe(200);
});

test('removing the app, or taking a capability away, ends its tokens at once', async () => {
  const app = await clinicApp(server, 'Two Capabilities Clinic', ['dopu', 'direct']);
  const dopuOnly = (await oidc.clientCredentialsGrant(app.config, { scope: 'dopu' })).access_token;
  const client = (await server.db.knex('oidc_models').where({ model: 'Client', id: app.clientId }).first('payload')) as { payload: Record<string, unknown> };

  await server.db
    .knex('oidc_models')
    .where({ model: 'Client', id: app.clientId })
    .update({ payload: { ...client.payload, capabilities: ['dopu'] } });
  // The token naming the capability taken away ends; one naming only what the app still has goes on.
  expect((await app.call('/api/dopu/packages')).status).toBe(401);
  expect(await introspect(app, app.token)).toEqual({ active: false });
  expect((await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${dopuOnly}` } })).status).toBe(200);

  await server.db.knex('oidc_models').where({ model: 'Client', id: app.clientId }).delete();
  expect((await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${dopuOnly}` } })).status).toBe(401);
});

test('a token the server did not sign as issued is refused: altered, signed with another key, expired, or for another audience', async () => {
  const app = await clinicApp(server, 'Forging Clinic');
  const [header, payload, signature] = asJws(app.token).split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const kid = JSON.parse(Buffer.from(header, 'base64url').toString()).kid as string;
  const withClaims = (changes: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...claims, ...changes })).toString('base64url');

  const serverKey = await serverKeyOf(app.token);
  const signedByServer = (changes: Record<string, unknown>, header: Record<string, unknown> = { typ: 'at+jwt' }) =>
    new SignJWT({ ...claims, ...changes }).setProtectedHeader({ alg: 'HS256', kid, ...header }).sign(serverKey);
  const now = Math.floor(Date.now() / 1000);

  const forged = {
    'more scope, same signature': `${header}.${withClaims({ scope: 'dopu connect direct' })}.${signature}`,
    'another key, same kid': await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(randomBytes(32)),
    'no signature': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid })).toString('base64url')}.${payload}.`,
    expired: await signedByServer({ iat: now - 700, exp: now - 100 }),
    'another audience': await signedByServer({ aud: `${server.issuer}/fhir` }),
    'another issuer': await signedByServer({ iss: 'https://elsewhere.example' }),
    'not an access token (typ)': await signedByServer({}, { typ: 'JWT' }),
  };
  // The control: the server's key signs what the server would, and it is accepted.
  const control = await signedByServer({});
  const statusOf = async (value: string) =>
    (await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${value.replaceAll('.', '~')}` } })).status;
  expect(await statusOf(control)).toBe(200);
  for (const [kind, value] of Object.entries(forged)) {
    expect([kind, await statusOf(value)]).toEqual([kind, 401]);
    expect([kind, await introspect(app, value.replaceAll('.', '~'))]).toEqual([kind, { active: false }]);
  }
});

test('a DPoP-bound app token carries its key thumbprint and is refused as a plain Bearer token', async () => {
  const app = await clinicApp(server, 'Bound Clinic');
  const key = await oidc.randomDPoPKeyPair('ES256');
  const bound = await oidc.clientCredentialsGrant(app.config, { scope: 'dopu' }, { DPoP: oidc.getDPoPHandle(app.config, key) });
  expect(bound.token_type.toLowerCase()).toBe('dpop');
  const { payload } = await jwtVerify(asJws(bound.access_token), await serverKeyOf(bound.access_token));
  expect((payload.cnf as { jkt?: string }).jkt).toBe(await calculateJwkThumbprint(await exportJWK(key.publicKey)));
  const asBearer = await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${bound.access_token}` } });
  expect(asBearer.status).toBe(401);
  const withProof = await oidc.fetchProtectedResource(
    app.config,
    bound.access_token,
    new URL(`${server.issuer}/api/dopu/packages`),
    'GET',
    undefined,
    undefined,
    {
      DPoP: oidc.getDPoPHandle(app.config, key),
    },
  );
  expect(withProof.status).toBe(200);
});

test('tokens signed before a key rotation keep working after it, and tokens signed with the new key work at once', async () => {
  const target = await startTestServer();
  try {
    const app = await clinicApp(target, 'Rotating Clinic');
    await rotateSigningKeys(target.db, target.config.keyEncryptionSecret, 0);
    await target.reloadKeys();
    const after = (await oidc.clientCredentialsGrant(app.config, { scope: 'dopu' })).access_token;
    const kidOf = (token: string) => JSON.parse(Buffer.from(asJws(token).split('.')[0] ?? '', 'base64url').toString()).kid as string;
    expect(kidOf(after)).not.toBe(kidOf(app.token));
    for (const token of [app.token, after]) {
      expect((await fetch(`${target.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    }
  } finally {
    await target.stop();
  }
});

// The embedded database belongs to one instance (integration/instances.test.ts), so two run only on PostgreSQL.
const onTwoInstances = loadConfig().databaseUrl ? test : () => undefined;
onTwoInstances('a token issued by one instance works on another, and a revocation on one holds on the other at once', async () => {
  const second = await startTestServer({}, server);
  try {
    const app = await clinicApp(server, 'Two Instance Clinic');
    const onSecond = () => fetch(`${second.url}/api/dopu/packages`, { headers: { authorization: `Bearer ${app.token}` } });
    expect((await onSecond()).status).toBe(200);
    await oidc.tokenRevocation(app.config, app.token);
    expect((await onSecond()).status).toBe(401);
  } finally {
    await second.stop();
  }
});
