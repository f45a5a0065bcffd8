/**
 * One lost refresh response does not cost the person's authorization: an app retrying
 * with the same refresh token within REFRESH_REUSE_GRACE gets a working pair from the same chain,
 * once (the lost pair — its refresh and its access token — is withdrawn, so the chain stays one line); a second retry is
 * refused without ending anything; reuse after the grace still ends the whole authorization. A
 * refresh costs two statements: one reads the refresh token with its grant, person and
 * authorization; one consumes it, stores its successor and access token, and appends the audit line.
 */
import * as oidc from 'openid-client';
import { authorizedApp, type Authorized } from '../support/authorized';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';

const GRACE = 2;
let server: TestServer;
let person: Authorized;

beforeAll(async () => {
  server = await startTestServer({ REFRESH_REUSE_GRACE: String(GRACE) });
  person = await authorizedApp(server, 'Mo Bile');
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const refresh = (token: string) => oidc.refreshTokenGrant(person.app.config, token);

async function readsRecord(accessToken: string): Promise<number> {
  return (await fetch(`${server.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

async function authorizationLive(): Promise<boolean> {
  return (await server.db.knex('authorizations').where({ record_id: person.record, client_id: person.app.clientId }).whereNull('revoked_at')).length === 1;
}

test('a retry within the grace gets a working pair once; reuse after the grace ends the authorization', async () => {
  const first = person.refreshToken;
  const lost = await refresh(first); // the response the mobile network lost
  const retried = await refresh(first);
  expect(retried.refresh_token).toBeDefined();
  expect(retried.refresh_token).not.toBe(lost.refresh_token);
  expect(await readsRecord(retried.access_token)).toBe(200);

  // A second retry is refused, and ends nothing.
  await expect(refresh(first)).rejects.toMatchObject({ error: 'invalid_grant' });
  expect(await authorizationLive()).toBe(true);

  // The lost pair's refresh token was withdrawn; the retried one carries the chain on.
  await expect(refresh(lost.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
  expect(await authorizationLive()).toBe(true);
  const next = await refresh(retried.refresh_token ?? '');
  expect(await readsRecord(next.access_token)).toBe(200);

  // After the grace, presenting a rotated token is a replay: the whole authorization ends.
  await new Promise((resolve) => setTimeout(resolve, (GRACE + 0.5) * 1000));
  await expect(refresh(retried.refresh_token ?? '')).rejects.toMatchObject({
    error: 'invalid_grant',
    error_description: expect.stringContaining('the refresh token was already used'),
  });
  expect(await authorizationLive()).toBe(false);
  expect(await readsRecord(next.access_token)).toBe(401);
  await expect(refresh(next.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
  console.log('refresh retry: lost response → retry answered once, second retry refused, lost token withdrawn, replay after the grace ended the authorization');
});

test('a retry within the grace withdraws the pair it replaces whole: the lost access token stops working too', async () => {
  const holder = await authorizedApp(server, 'Lena Lost');
  const again = (token: string) => oidc.refreshTokenGrant(holder.app.config, token);
  const lost = await again(holder.refreshToken); // the response the mobile network lost
  expect(await readsRecord(lost.access_token)).toBe(200);
  const retried = await again(holder.refreshToken);
  const lostAccess = await readsRecord(lost.access_token);
  const introspected = await oidc.tokenIntrospection(holder.app.config, lost.access_token);
  console.log(`refresh retry: the replaced pair's access token on /fhir ${lostAccess}, introspection active: ${introspected.active}`);
  expect(lostAccess).toBe(401);
  expect(introspected.active).toBe(false);
  await expect(again(lost.refresh_token ?? '')).rejects.toMatchObject({ error: 'invalid_grant' });
  // The pair that replaced it works, and nothing else ended.
  expect(await readsRecord(retried.access_token)).toBe(200);
  expect(await readsRecord((await again(retried.refresh_token ?? '')).access_token)).toBe(200);
});

test('a refresh is two statements: the read, then the rotation with its audit line', async () => {
  const holder = await authorizedApp(server, 'Count Trips');
  const { result: tokens, statements } = await statementsOf(server.db, () => oidc.refreshTokenGrant(holder.app.config, holder.refreshToken));
  console.log(`refresh: ${statements.length} queries\n  ${statements.join('\n  ')}`);
  expect(statements.length).toBeLessThanOrEqual(2);
  expect(statements.filter((sql) => sql.includes('insert into audit_events'))).toHaveLength(1);
  const [rotation] = statements.filter((sql) => sql.includes('insert into audit_events'));
  expect(rotation).toContain('update oidc_models set consumed_at = now()');
  expect((await fetch(`${server.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
});
