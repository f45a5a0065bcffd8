/**
 * The one bearer gate in front of /fhir and /api/*: DPoP-bound tokens need their proof
 * (RFC 9449 §7) and are refused as Bearer; client-credentials tokens pass only with the capability
 * an app API asks for; a request resolves in at most two queries and a whole FHIR read, audit
 * included, in at most three. Also: the record's name and birth date are its Patient's.
 */
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import express from 'express';
import * as oidc from 'openid-client';
import { createBearerGate } from '../../src/api/gate';
import { errorHandler } from '../../src/http/error-handler';
import { createOidcStorage } from '../../src/oidc/storage';
import { createAccessTokens } from '../../src/oidc/access-tokens';
import { loadSigningJwks } from '../../src/oidc/keys';
import { textOf } from '../support/browser';
import { CALLBACK, authorizeInBrowser, registerTestApp, startAuthorization, type TestApp } from '../support/app';
import { signedUpPerson, type SignedUp } from '../support/people';
import { startTestServer, type TestServer } from '../support/server';
import { statementsOf } from '../support/statements';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

const READER = {
  client_name: 'Chart Reader',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  rules: [
    { scope: 'patient/Patient.rus', required: true, reason: 'Show your name' },
    { scope: 'patient/Observation.cruds', required: true, reason: 'Chart your weight' },
  ],
};

/** Runs the code flow for `who`, optionally binding the tokens to a DPoP key. */
async function tokensFor(app: TestApp, who: SignedUp, DPoP?: oidc.DPoPHandle) {
  const authorization = await startAuthorization(app, { scope: 'openid patient/Patient.rus patient/Observation.cruds' });
  const back = await authorizeInBrowser(who.browser, authorization.url, who.person);
  return oidc.authorizationCodeGrant(
    app.config,
    new URL(back.location ?? ''),
    { pkceCodeVerifier: authorization.verifier, expectedState: authorization.state, expectedNonce: authorization.nonce },
    undefined,
    DPoP ? { DPoP } : undefined,
  );
}

const WEIGHT = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  effectiveDateTime: '2026-03-01T08:00:00Z',
  valueQuantity: { value: 71.5, unit: 'kg' },
};

/** The bearer gate as the server composes it, on the server's database and signing keys. */
async function gateOf(target: TestServer) {
  const accessTokens = createAccessTokens(target.db, target.config);
  await accessTokens.useKeys(await loadSigningJwks(target.db, target.config.keyEncryptionSecret));
  return createBearerGate({ tokens: createOidcStorage(target.db, accessTokens), issuer: target.issuer });
}

describe('DPoP-bound tokens at /fhir', () => {
  test('read with a proof (openid-client), refused as Bearer, refused with a replayed or misdirected proof', async () => {
    const app = await registerTestApp(server, READER);
    const who = await signedUpPerson(server, 'Dee Pop');
    const DPoP = oidc.getDPoPHandle(app.config, await oidc.randomDPoPKeyPair());
    const tokens = await tokensFor(app, who, DPoP);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');

    const url = new URL(`${server.issuer}/fhir/Patient/${who.record}`);
    const read = await oidc.fetchProtectedResource(app.config, tokens.access_token, url, 'GET', undefined, undefined, { DPoP });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { id: string }).id).toBe(who.record);

    const created = await oidc.fetchProtectedResource(
      app.config,
      tokens.access_token,
      new URL(`${server.issuer}/fhir/Observation`),
      'POST',
      JSON.stringify(WEIGHT),
      new Headers({ 'content-type': 'application/fhir+json' }),
      { DPoP },
    );
    expect(created.status).toBe(201);

    // The same token as a plain Bearer token: refused, and the challenge says DPoP.
    const asBearer = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token"/);
    expect(((await asBearer.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');

    // A proof is single-use, names its URL, and must come with the DPoP scheme.
    const proofs: string[] = [];
    const recording = await oidc.fetchProtectedResource(app.config, tokens.access_token, url, 'GET', undefined, undefined, {
      DPoP,
      [oidc.customFetch]: async (target: string, init: RequestInit) => {
        proofs.push(new Headers(init.headers).get('dpop') ?? '');
        return fetch(target, init);
      },
    } as oidc.DPoPOptions);
    expect(recording.status).toBe(200);
    const [proof = ''] = proofs;
    const replayed = await fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
    expect(replayed.status).toBe(401);
    expect(replayed.headers.get('www-authenticate')).toContain('invalid_dpop_proof');
    const elsewhere = await fetch(`${server.issuer}/fhir/Observation?_count=1`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
    expect(elsewhere.status).toBe(401);
    const withoutProof = await fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(withoutProof.status).toBe(401);
    expect(withoutProof.headers.get('www-authenticate')).toContain('invalid_dpop_proof');

    // A proof made with another key does not unlock the bound token.
    const other = oidc.getDPoPHandle(app.config, await oidc.randomDPoPKeyPair());
    const stolen = oidc.fetchProtectedResource(app.config, tokens.access_token, url, 'GET', undefined, undefined, { DPoP: other });
    await expect(stolen).rejects.toMatchObject({
      status: 401,
      cause: [expect.objectContaining({ scheme: 'dpop', parameters: expect.objectContaining({ error: 'invalid_token' }) })],
    });
  });

  test('an unbound token keeps working as Bearer', async () => {
    const app = await registerTestApp(server, READER);
    const who = await signedUpPerson(server, 'Bea Rer');
    const tokens = await tokensFor(app, who);
    const res = await fetch(`${server.issuer}/fhir/Patient/${who.record}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.status).toBe(200);
  });
});

describe('client-credentials tokens and capabilities', () => {
  let api: http.Server;
  let apiUrl: string;

  beforeAll(async () => {
    // An app API behind the gate, as the DOPU, Connect and Direct routers mount it.
    const gate = await gateOf(server);
    const app = express();
    app.get('/api/dopu/ping', gate.forApps('dopu'), (_req, res) => {
      res.json({ client_id: (res.locals.caller as { clientId: string }).clientId });
    });
    app.use(errorHandler);
    api = http.createServer(app);
    await new Promise<void>((resolve) => api.listen(0, resolve));
    apiUrl = `http://localhost:${(api.address() as AddressInfo).port}/api/dopu/ping`;
  });

  afterAll(async () => {
    await new Promise((resolve) => api?.close(resolve));
  });

  const clinic = (capabilities: string[]) =>
    registerTestApp(server, { client_name: 'Riverside Clinic', token_endpoint_auth_method: 'client_secret_basic', capabilities });

  test('a token with the capability passes; one without it gets 403 insufficient_scope', async () => {
    const dropper = await clinic(['dopu']);
    const token = await oidc.clientCredentialsGrant(dropper.config, { scope: 'dopu' });
    const ok = await fetch(apiUrl, { headers: { authorization: `Bearer ${token.access_token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ client_id: dropper.clientId });

    const messenger = await clinic(['direct']);
    const other = await oidc.clientCredentialsGrant(messenger.config, { scope: 'direct' });
    const refused = await fetch(apiUrl, { headers: { authorization: `Bearer ${other.access_token}` } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(await refused.json()).toMatchObject({ error: 'insufficient_scope' });

    // The app asked for nothing: no token at all, rather than one that reaches nothing.
    await expect(oidc.clientCredentialsGrant(dropper.config, {})).rejects.toMatchObject({ error: 'invalid_scope' });
  });

  test('no token, an unknown token, and a person token at an app API', async () => {
    const none = await fetch(apiUrl);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="carevault"/);
    const unknown = await fetch(apiUrl, { headers: { authorization: 'Bearer abcdefghijklmnopqrstuvwxyz0123456789' } });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const app = await registerTestApp(server, READER);
    const who = await signedUpPerson(server, 'Per Son');
    const tokens = await tokensFor(app, who);
    expect((await fetch(apiUrl, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(403);
  });

  test('an app token does not reach any record', async () => {
    const dropper = await clinic(['dopu']);
    const token = await oidc.clientCredentialsGrant(dropper.config, { scope: 'dopu' });
    const res = await fetch(`${server.issuer}/fhir/Observation`, { headers: { authorization: `Bearer ${token.access_token}` } });
    expect(res.status).toBe(401);
  });
});

describe('round trips', () => {
  /** Counts the statements sent to the database while `work` runs. */
  async function countQueries(work: () => Promise<unknown>): Promise<{ count: number; statements: string[] }> {
    const { statements } = await statementsOf(server.db, work);
    return { count: statements.length, statements };
  }

  test("a FHIR read by id, a search and a create are each one statement: the token's liveness, the work and its audit line", async () => {
    const app = await registerTestApp(server, READER);
    const who = await signedUpPerson(server, 'Count Queries');
    const tokens = await tokensFor(app, who);
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    const created = (await (
      await fetch(`${server.issuer}/fhir/Observation`, {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/fhir+json' },
        body: JSON.stringify(WEIGHT),
      })
    ).json()) as { id: string };

    const read = await countQueries(async () => {
      const res = await fetch(`${server.issuer}/fhir/Observation/${created.id}`, { headers: bearer });
      expect(res.status).toBe(200);
    });
    console.log(`FHIR read by id: ${read.count} queries\n  ${read.statements.join('\n  ')}`);
    expect(read.count).toBe(1);
    expect(read.statements.filter((sql) => sql.includes('insert into audit_events'))).toHaveLength(1);
    const logged = (await server.db.table('audit_events').where({ kind: 'fhir.read' }).orderBy('id', 'desc').first()) as {
      record_id: string;
      client_id: string;
      details: { type: string };
    };
    expect(logged).toMatchObject({ record_id: who.record, client_id: app.clientId, details: { type: 'Observation' } });

    // A search: the count, its audit line and the page in one statement.
    const searched = await countQueries(async () => {
      const res = await fetch(`${server.issuer}/fhir/Observation?_count=1`, { headers: bearer });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { total: number }).total).toBe(1);
    });
    console.log(`FHIR search: ${searched.count} queries\n  ${searched.statements.join('\n  ')}`);
    expect(searched.count).toBe(1);
    expect(await server.db.table('audit_events').where({ kind: 'fhir.searched', record_id: who.record }).orderBy('id', 'desc').first()).toMatchObject({
      details: { type: 'Observation', count: 1 },
    });

    // A create: the resource, its first version and its audit line in one statement.
    const create = await countQueries(async () => {
      const res = await fetch(`${server.issuer}/fhir/Observation`, {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/fhir+json' },
        body: JSON.stringify(WEIGHT),
      });
      expect(res.status).toBe(201);
    });
    console.log(`FHIR create: ${create.count} queries\n  ${create.statements.join('\n  ')}`);
    expect(create.count).toBe(1);
    const newest = (await server.db.table('audit_events').where({ kind: 'fhir.created' }).orderBy('id', 'desc').first()) as {
      record_id: string;
      details: { type: string };
    };
    expect(newest).toMatchObject({ record_id: who.record, details: { type: 'Observation', count: 1 } });
    const [stored] = (await server.db.table('resources').where({ record_id: who.record, type: 'Observation' }).orderBy('seq', 'desc').limit(1)) as {
      id: string;
    }[];
    expect(
      await server.db.table('resource_versions').where({ record_id: who.record, type: 'Observation', id: stored?.id, version_id: 1 }).first(),
    ).toBeDefined();
  });
});

test("a Patient update by an app shows on the person's records page: the record's name and birth date are its Patient's", async () => {
  const app = await registerTestApp(server, READER);
  const who = await signedUpPerson(server, 'Sam Lee');
  const tokens = await tokensFor(app, who);
  const bearer = { authorization: `Bearer ${tokens.access_token}` };
  const patient = (await (await fetch(`${server.issuer}/fhir/Patient/${who.record}`, { headers: bearer })).json()) as Record<string, unknown>;
  const updated = await fetch(`${server.issuer}/fhir/Patient/${who.record}`, {
    method: 'PUT',
    headers: { ...bearer, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ ...patient, name: [{ given: ['Samantha'], family: 'Lee' }], birthDate: '1990-07-14' }),
  });
  expect(updated.status).toBe(200);
  const records = textOf((await who.browser.visit('/records')).html);
  expect(records).toContain('Samantha Lee');
  expect(records).toContain('1990-07-14');
  expect(records).not.toContain('Sam Lee');
});
