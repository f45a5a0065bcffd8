/**
 * A person's access token for an app is self-contained (RFC 9068, for the FHIR API's resource,
 * stored nowhere): issuing one writes no token row, the token response still says exactly what
 * was granted, and what a stored token gave for free still holds at once through the one
 * liveness read on every use — its grant, the person's hold on the record, the grant's rules, and
 * revocation of the one token (RFC 7009). Ending an authorization (Remove access, sign-out for
 * online access, a replayed refresh token, a closed account, a stopped share) is tested where each
 * is built; this file checks the token's own shape and limits.
 */
import * as oidc from 'openid-client';
import { decodeJwt, jwtVerify } from 'jose';
import { clinicApp } from '../support/dopu';
import { authorizedApp, weight } from '../support/authorized';
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

function fhirRead(token: string, path = '/fhir/Observation?_count=1') {
  return fetch(`${server.issuer}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

test('a person token is signed for the FHIR API, under 1 KB, names its grant and record, and no token row is stored', async () => {
  const holder = await authorizedApp(server, 'Sid Signed');
  const { payload, protectedHeader } = await jwtVerify(asJws(holder.accessToken), await signingKeyOf(server, holder.accessToken), {
    issuer: server.issuer,
    audience: `${server.issuer}/fhir`,
    typ: 'at+jwt',
  });
  expect(protectedHeader.alg).toBe('HS256');
  expect(payload).toMatchObject({ client_id: holder.app.clientId, patient: holder.record, scope: 'openid patient/Observation.cruds offline_access' });
  expect(typeof payload.gid).toBe('string');
  expect(holder.accessToken.length).toBeLessThan(1024);

  const stored = await server.db.knex('oidc_models').where({ model: 'AccessToken', grant_id: payload.gid as string });
  expect(stored).toEqual([]);
  expect((await fhirRead(holder.accessToken)).status).toBe(200);

  // A refresh: the response says exactly what was granted, and writes no access token either.
  const { result: refreshed, statements } = await statementsOf(server.db, () => oidc.refreshTokenGrant(holder.app.config, holder.refreshToken));
  expect(refreshed.scope).toBe('openid patient/Observation.cruds offline_access');
  expect(refreshed.patient).toBe(holder.record);
  expect(statements.filter((sql) => /insert into oidc_models/i.test(sql) && /'AccessToken'/.test(sql))).toEqual([]);
  expect(decodeJwt(asJws(refreshed.access_token)).rtk).toEqual(expect.any(String));
  expect((await fhirRead(refreshed.access_token)).status).toBe(200);
});

test('userinfo and introspection answer for a person token as for a stored one', async () => {
  const holder = await authorizedApp(server, 'Una Userinfo');
  const claims = await oidc.fetchUserInfo(holder.app.config, holder.accessToken, oidc.skipSubjectCheck);
  expect(claims.sub).toEqual(expect.any(String));
  const introspected = (await oidc.tokenIntrospection(holder.app.config, holder.accessToken)) as Record<string, unknown>;
  expect(introspected).toMatchObject({
    active: true,
    client_id: holder.app.clientId,
    scope: 'openid patient/Observation.cruds offline_access',
    patient: holder.record,
  });
  expect(introspected.sub).toBe(claims.sub);
  // Another app learns nothing of it.
  const other = await clinicApp(server, 'Nosy Clinic');
  expect(await oidc.tokenIntrospection(other.config, holder.accessToken)).toEqual({ active: false });
});

test('revoking a person token (RFC 7009) ends it at once, and with it the authorization, as oidc-provider ends a grant', async () => {
  const holder = await authorizedApp(server, 'Rhea Revoke');
  const other = await authorizedApp(server, 'Oto Unrevoked');
  await oidc.tokenRevocation(holder.app.config, holder.accessToken);
  const refused = await fhirRead(holder.accessToken);
  expect(refused.status).toBe(401);
  expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
  expect((await oidc.tokenIntrospection(holder.app.config, holder.accessToken)).active).toBe(false);
  await expect(oidc.refreshTokenGrant(holder.app.config, holder.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  // Another person's authorization of the same kind of app is untouched.
  expect((await fhirRead(other.accessToken)).status).toBe(200);
});

test('a rule taken out of the grant ends the tokens that carry it at once; offline access taken out leaves them working', async () => {
  const holder = await authorizedApp(server, 'Nia Narrow');
  const { gid } = decodeJwt(asJws(holder.accessToken));
  const grant = (await server.db
    .knex('oidc_models')
    .where({ model: 'Grant', id: gid as string })
    .first('payload')) as { payload: { openid: { scope: string } } };
  const withScope = (scope: string) =>
    server.db
      .knex('oidc_models')
      .where({ model: 'Grant', id: gid as string })
      .update({ payload: { ...grant.payload, openid: { ...grant.payload.openid, scope } } });

  await withScope('openid patient/Observation.cruds');
  expect((await fhirRead(holder.accessToken)).status).toBe(200);
  await withScope('openid offline_access');
  expect((await fhirRead(holder.accessToken)).status).toBe(401);
});

test('a token altered after signing, or one for the app APIs, does not reach a record; a person token does not reach the app APIs', async () => {
  const holder = await authorizedApp(server, 'Tad Tamper');
  const [header, payload, signature] = asJws(holder.accessToken).split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const other = await authorizedApp(server, 'Ola Other');
  const altered = `${header}.${Buffer.from(JSON.stringify({ ...claims, patient: other.record })).toString('base64url')}.${signature}`.replaceAll('.', '~');
  expect((await fhirRead(altered)).status).toBe(401);
  const theirs = (await (
    await fetch(`${server.issuer}/fhir/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.accessToken}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(weight(80)),
    })
  ).json()) as { id: string };
  expect((await fhirRead(other.accessToken, `/fhir/Observation/${theirs.id}`)).status).toBe(200);
  expect((await fhirRead(holder.accessToken, `/fhir/Observation/${theirs.id}`)).status).toBe(404);

  const clinic = await clinicApp(server, 'Token Swap Clinic');
  expect((await fhirRead(clinic.token)).status).toBe(401);
  const appApi = await fetch(`${server.issuer}/api/dopu/packages`, { headers: { authorization: `Bearer ${holder.accessToken}` } });
  expect(appApi.status).toBe(403);

  // The holder's own record is still theirs to write.
  const created = await fetch(`${server.issuer}/fhir/Observation`, {
    method: 'POST',
    headers: { authorization: `Bearer ${holder.accessToken}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(weight(71)),
  });
  expect(created.status).toBe(201);
});

test('a token that ended reads and writes nothing: every interaction is refused with 401 before its work, with no audit line and nothing written', async () => {
  const holder = await authorizedApp(server, 'Enid Ended');
  const bearer = { authorization: `Bearer ${holder.accessToken}` };
  const json = { ...bearer, 'content-type': 'application/fhir+json' };
  const kept = (await (await fetch(`${server.issuer}/fhir/Observation`, { method: 'POST', headers: json, body: JSON.stringify(weight(70)) })).json()) as {
    id: string;
  };
  const { gid } = decodeJwt(asJws(holder.accessToken));
  await server.db
    .knex('oidc_models')
    .where({ model: 'Grant', id: gid as string })
    .delete();
  const before = {
    audit: await server.db.knex('audit_events').where({ record_id: holder.record }).count({ n: '*' }),
    resources: await server.db.knex('resources').where({ record_id: holder.record }).count({ n: '*' }),
    versions: await server.db.knex('resource_versions').where({ record_id: holder.record }).count({ n: '*' }),
  };

  const attempts: [string, string, RequestInit?][] = [
    ['read', `/fhir/Observation/${kept.id}`],
    ['read of what is not there (else 404)', '/fhir/Observation/not-there'],
    ['search', '/fhir/Observation?_count=5'],
    [
      'search by POST',
      '/fhir/Observation/_search',
      { method: 'POST', headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' }, body: '_count=5' },
    ],
    ['search of a type not allowed (else 403)', '/fhir/Condition'],
    ['create', '/fhir/Observation', { method: 'POST', headers: json, body: JSON.stringify(weight(71)) }],
    ['create of a bad resource (else 400)', '/fhir/Observation', { method: 'POST', headers: json, body: JSON.stringify({ resourceType: 'Observation' }) }],
    ['create of a type not allowed (else 403)', '/fhir/Condition', { method: 'POST', headers: json, body: JSON.stringify({ resourceType: 'Condition' }) }],
    ['create as text (else 415)', '/fhir/Observation', { method: 'POST', headers: { ...bearer, 'content-type': 'text/plain' }, body: 'weight 71' }],
    ['conditional create', '/fhir/Observation', { method: 'POST', headers: { ...json, 'if-none-exist': 'code=29463-7' }, body: JSON.stringify(weight(72)) }],
    ['update', `/fhir/Observation/${kept.id}`, { method: 'PUT', headers: json, body: JSON.stringify({ ...weight(73), id: kept.id }) }],
    ['delete', `/fhir/Observation/${kept.id}`, { method: 'DELETE', headers: bearer }],
    ['history', `/fhir/Observation/${kept.id}/_history`],
    ['everything', `/fhir/Patient/${holder.record}/$everything`],
  ];
  for (const [what, path, init] of attempts) {
    const res = await fetch(`${server.issuer}${path}`, { headers: bearer, ...init });
    expect({ what, status: res.status, challenge: res.headers.get('www-authenticate') }).toEqual({
      what,
      status: 401,
      challenge: expect.stringContaining('error="invalid_token"'),
    });
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  }
  expect({
    audit: await server.db.knex('audit_events').where({ record_id: holder.record }).count({ n: '*' }),
    resources: await server.db.knex('resources').where({ record_id: holder.record }).count({ n: '*' }),
    versions: await server.db.knex('resource_versions').where({ record_id: holder.record }).count({ n: '*' }),
  }).toEqual(before);
});
