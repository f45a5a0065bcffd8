/**
 * SMART's own JavaScript client, `fhirclient`, as a real app: a standalone launch against carevault
 * through its Node adapter (discovery, PKCE S256, consent, the token response's `patient`), then a
 * Patient read and an Observation search. Also the discovery documents and CORS for browser apps.
 * https://docs.smarthealthit.org/client-js/
 */
import http from 'node:http';
import smart from 'fhirclient/lib/entry/node';
import type Client from 'fhirclient/lib/Client';
import { Browser, textOf } from '../support/browser';
import { authorizeInBrowser, exchangeCode, newPerson, registerTestApp, startAuthorization, CALLBACK, type TestApp } from '../support/app';
import { freePort } from '../support/scratch';
import { ownRecordOf, startTestServer, type TestServer } from '../support/server';
import { createAccountThrough } from '../support/forms';

const CAPABILITIES = [
  'launch-standalone',
  'client-public',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
];

const LAUNCH_SCOPE = 'openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs offline_access';

type Storage = { get(key: string): Promise<unknown>; set(key: string, value: unknown): Promise<unknown>; unset(key: string): Promise<boolean> };

/** The app's own sessions: an in-memory store per `app_sid` cookie, as fhirclient's Storage. */
class Sessions {
  private readonly sessions = new Map<string, Map<string, unknown>>();
  private counter = 0;

  storageFor(req: http.IncomingMessage, res: http.ServerResponse): Storage {
    let sid = /(?:^|;\s*)app_sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!sid || !this.sessions.has(sid)) {
      this.counter += 1;
      sid = `s${this.counter}${Math.random().toString(36).slice(2)}`;
      this.sessions.set(sid, new Map());
      res.setHeader('Set-Cookie', `app_sid=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    }
    const data = this.sessions.get(sid) as Map<string, unknown>;
    return {
      async get(key) {
        return data.get(key);
      },
      async set(key, value) {
        data.set(key, value);
        return value;
      },
      async unset(key) {
        return data.delete(key);
      },
    };
  }
}

type CallbackResult = {
  tokenResponse: Record<string, unknown>;
  state: { codeVerifier: boolean; codeChallengeMethods: unknown; authorizeUri: unknown; tokenUri: unknown; serverUrl: unknown };
  patientId: string | null;
  fhirUser: string | null;
  patient?: Record<string, unknown>;
  observations?: Record<string, unknown>;
  byPatient?: Record<string, unknown>;
  errors: Record<string, string>;
};

/** A tiny SMART app: `/launch` starts a standalone launch, `/callback` completes it and reads. */
function startSmartApp(options: { port: number; iss: () => string; clientId: () => string }) {
  const sessions = new Sessions();
  const redirectUri = `http://localhost:${options.port}/callback`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    const storage = sessions.storageFor(req, res);
    const fail = (error: unknown) => {
      if (res.headersSent) return;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
    };
    if (url.pathname === '/launch') {
      smart(req, res, storage).authorize({ iss: options.iss(), clientId: options.clientId(), scope: LAUNCH_SCOPE, redirectUri }).catch(fail);
      return;
    }
    if (url.pathname === '/callback') {
      (async () => {
        const client: Client = await smart(req, res, storage).ready();
        const errors: Record<string, string> = {};
        const attempt = async <T>(name: string, work: () => Promise<T>): Promise<T | undefined> => {
          try {
            return await work();
          } catch (error) {
            errors[name] = error instanceof Error ? error.message : String(error);
            return undefined;
          }
        };
        const patient = await attempt('patient', () => client.patient.read());
        const observations = await attempt('observations', () => client.request(`Observation?patient=${client.patient.id}`));
        const byPatient = await attempt('byPatient', () => client.patient.request('Observation'));
        const state = client.state as unknown as Record<string, unknown>;
        const result: CallbackResult = {
          tokenResponse: (client.state.tokenResponse ?? {}) as Record<string, unknown>,
          state: {
            codeVerifier: typeof state.codeVerifier === 'string',
            codeChallengeMethods: state.codeChallengeMethods,
            authorizeUri: state.authorizeUri,
            tokenUri: state.tokenUri,
            serverUrl: state.serverUrl,
          },
          patientId: client.getPatientId(),
          fhirUser: client.getFhirUser(),
          patient: patient as Record<string, unknown> | undefined,
          observations: observations as Record<string, unknown> | undefined,
          byPatient: byPatient as Record<string, unknown> | undefined,
          errors,
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result));
      })().catch(fail);
      return;
    }
    res.writeHead(404).end();
  });
  return {
    origin: `http://localhost:${options.port}`,
    redirectUri,
    server,
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, () => resolve());
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let server: TestServer;
let smartApp: ReturnType<typeof startSmartApp>;
let publicApp: TestApp;
/** Requests carevault answered, as `METHOD path status`. */
const seen: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  // Ahead of express, which rewrites req.url inside mounted routers.
  server.server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    res.on('finish', () => seen.push(`${req.method} ${path} ${res.statusCode}`));
  });
  // The support Browser tells its own origin by prefix: keep the app's port from extending carevault's.
  const carevaultPort = String(new URL(server.issuer).port);
  let appPort = await freePort();
  while (String(appPort).startsWith(carevaultPort)) appPort = await freePort();
  smartApp = startSmartApp({ port: appPort, iss: () => `${server.issuer}/fhir`, clientId: () => publicApp.clientId });
  await smartApp.listen();
  publicApp = await registerTestApp(server, {
    client_name: 'Weight Chart',
    redirect_uris: [smartApp.redirectUri],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    rules: [
      { scope: 'patient/Patient.rs', required: true, reason: 'Show who the chart is for' },
      { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
      { scope: 'offline_access', required: false, reason: 'Keep the chart up to date while you are away' },
    ],
  });
});

afterAll(async () => {
  await smartApp?.close();
  await server?.stop();
});

function weight(kg: number, effectiveDateTime: string) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
    effectiveDateTime,
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}

/** Two weights in the person's record, written through the FHIR API by another (confidential) app. */
async function addWeights(browser: Browser, person: { name: string; email: string; password: string }): Promise<string[]> {
  const scale: TestApp = await registerTestApp(server, {
    client_name: 'Smart Scale',
    redirect_uris: [CALLBACK],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    rules: [{ scope: 'patient/Observation.cruds', required: true, reason: 'Send your weight from the scale' }],
  });
  const authorization = await startAuthorization(scale, { scope: 'openid patient/Observation.cruds' });
  const back = await authorizeInBrowser(browser, authorization.url, person);
  expect(back.location).toMatch(/^https:\/\/app\.example\/callback\?code=/);
  const tokens = await exchangeCode(scale, authorization, back.location ?? '');
  const ids: string[] = [];
  for (const observation of [weight(72.4, '2026-11-01T07:30:00Z'), weight(71.9, '2026-11-08T07:30:00Z')]) {
    const res = await fetch(`${server.issuer}/fhir/Observation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
      body: JSON.stringify(observation),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect({ status: res.status, body }).toMatchObject({ status: 201, body: { resourceType: 'Observation' } });
    ids.push(String(body.id));
  }
  return ids;
}

/**
 * The person's browser across both origins: the support Browser (with the person's cookies) for
 * carevault, plain fetch (with the app's session cookie) for the app, until a page answers.
 */
async function launchInBrowser(browser: Browser, person: { name: string; email: string; password: string }) {
  let appCookie = '';
  let target = `${smartApp.origin}/launch`;
  const visited: string[] = [];
  for (let hops = 0; hops < 20; hops += 1) {
    visited.push(target.split('?')[0] ?? target);
    if (new URL(target).origin === new URL(server.issuer).origin) {
      const page = await authorizeInBrowser(browser, new URL(target), person);
      if (!page.location) throw new Error(`carevault stopped at ${page.url} (${page.status}): ${textOf(page.html).slice(0, 500)}`);
      target = page.location;
      continue;
    }
    const res = await fetch(target, { redirect: 'manual', headers: appCookie ? { cookie: appCookie } : {} });
    const setCookie = res.headers.getSetCookie().find((line) => line.startsWith('app_sid='));
    if (setCookie) appCookie = setCookie.split(';')[0] ?? '';
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      target = new URL(location, target).toString();
      continue;
    }
    return { status: res.status, url: target, body: (await res.json()) as CallbackResult & { error?: string }, visited };
  }
  throw new Error(`too many redirects: ${visited.join(' → ')}`);
}

test('fhirclient completes a standalone launch, reads the Patient and searches the Observations', async () => {
  const person = newPerson('Rowan Ellis');
  const browser = new Browser(server.issuer);
  let page = await browser.visit('/register');
  page = await createAccountThrough(browser, page, person);
  expect(textOf(page.html)).toContain('Hello, Rowan Ellis');
  const recordId = await ownRecordOf(server, person.email);
  const observationIds = await addWeights(browser, person);

  seen.length = 0;
  const done = await launchInBrowser(browser, person);
  expect({ status: done.status, error: done.body.error }).toEqual({ status: 200, error: undefined });
  expect(done.url).toMatch(new RegExp(`^${smartApp.redirectUri}\\?`));
  // Through carevault's authorization endpoint and consent, and back to the app.
  expect(done.visited[0]).toBe(`${smartApp.origin}/launch`);
  expect(done.visited).toContain(`${server.issuer}/authorize`);
  const result = done.body;
  expect(result.errors).toEqual({});

  // Discovery: fhirclient found the endpoints in the SMART configuration, with PKCE S256.
  expect(seen).toContain('GET /fhir/.well-known/smart-configuration 200');
  expect(result.state).toEqual({
    codeVerifier: true,
    codeChallengeMethods: ['S256'],
    authorizeUri: `${server.issuer}/authorize`,
    tokenUri: `${server.issuer}/token`,
    serverUrl: `${server.issuer}/fhir`,
  });
  expect(seen).toContain('POST /token 200');
  // The person saw the consent page and allowed.
  expect(seen.some((line) => /^POST \/interaction\/[^/]+\/consent 303$/.test(line))).toBe(true);

  // The token response: the person's own record as the patient context, what was granted.
  const tokens = result.tokenResponse;
  expect(tokens.patient).toBe(recordId);
  expect(tokens.token_type).toMatch(/^bearer$/i);
  expect(String(tokens.scope).split(' ').sort()).toEqual(
    ['fhirUser', 'launch/patient', 'offline_access', 'openid', 'patient/Observation.rs', 'patient/Patient.rs'].sort(),
  );
  expect(tokens.id_token).toEqual(expect.any(String));
  expect(tokens.refresh_token).toEqual(expect.any(String));
  expect(result.patientId).toBe(recordId);
  expect(result.fhirUser).toBe(`Patient/${recordId}`);

  // The Patient read.
  expect(result.patient).toMatchObject({ resourceType: 'Patient', id: recordId });
  expect(JSON.stringify(result.patient?.name)).toContain('Rowan Ellis');

  // The Observation search: a searchset Bundle with the two weights.
  for (const bundle of [result.observations, result.byPatient]) {
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 2 });
    const entries = (bundle?.entry ?? []) as { fullUrl: string; resource: Record<string, unknown> }[];
    expect(entries.map((entry) => entry.resource.id).sort()).toEqual([...observationIds].sort());
    for (const entry of entries) {
      expect(entry.fullUrl).toBe(`${server.issuer}/fhir/Observation/${String(entry.resource.id)}`);
      expect(entry.resource).toMatchObject({
        resourceType: 'Observation',
        status: 'final',
        subject: { reference: `Patient/${recordId}` },
        code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
        valueQuantity: { unit: 'kg', code: 'kg' },
      });
    }
    const values = entries.map((entry) => (entry.resource.valueQuantity as { value: number }).value).sort();
    expect(values).toEqual([71.9, 72.4]);
  }

  // CORS for a browser app, at the token endpoint: a foreign origin is refused (and the refresh
  // token survives), the app's own origin is allowed.
  const refresh = (origin: string, refreshToken: string) =>
    fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: publicApp.clientId }).toString(),
    });
  const foreign = await refresh('https://elsewhere.example', String(tokens.refresh_token));
  expect(foreign.status).toBe(400);
  expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  expect(await foreign.json()).toMatchObject({ error: 'invalid_request' });

  const own = await refresh(smartApp.origin, String(tokens.refresh_token));
  const refreshed = (await own.json()) as Record<string, unknown>;
  expect({ status: own.status, body: refreshed }).toMatchObject({ status: 200, body: { access_token: expect.any(String), patient: recordId } });
  expect(own.headers.get('access-control-allow-origin')).toBe(smartApp.origin);

  // The refreshed access token reads the record from the browser app's origin too.
  const read = await fetch(`${server.issuer}/fhir/Patient/${recordId}`, {
    headers: { origin: smartApp.origin, authorization: `Bearer ${String(refreshed.access_token)}`, accept: 'application/fhir+json' },
  });
  expect(read.status).toBe(200);
  expect(read.headers.get('access-control-allow-origin')).toBe(smartApp.origin);
  expect(await read.json()).toMatchObject({ resourceType: 'Patient', id: recordId });
});

test('the FHIR CapabilityStatement and both SMART configuration documents answer', async () => {
  const metadata = await fetch(`${server.issuer}/fhir/metadata`, { headers: { accept: 'application/fhir+json' } });
  expect(metadata.status).toBe(200);
  const capability = (await metadata.json()) as Record<string, unknown>;
  expect(capability).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance' });
  const security = JSON.stringify((capability.rest as Record<string, unknown>[])[0]?.security);
  expect(security).toContain('SMART-on-FHIR');
  expect(security).toContain(`${server.issuer}/authorize`);
  expect(security).toContain(`${server.issuer}/token`);

  const documents: Record<string, unknown>[] = [];
  for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
    const res = await fetch(`${server.issuer}${path}`, { headers: { accept: 'application/json', origin: 'https://any-app.example' } });
    expect({ path, status: res.status }).toEqual({ path, status: 200 });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('access-control-allow-origin')).toMatch(/^(\*|https:\/\/any-app\.example)$/);
    const document = (await res.json()) as Record<string, unknown>;
    expect(document).toMatchObject({
      issuer: server.issuer,
      authorization_endpoint: `${server.issuer}/authorize`,
      token_endpoint: `${server.issuer}/token`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(document.capabilities).toEqual(expect.arrayContaining(CAPABILITIES));
    expect(document.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
    expect(document.scopes_supported).toEqual(expect.arrayContaining(['openid', 'fhirUser', 'launch/patient', 'offline_access']));
    documents.push(document);
  }
  expect(documents[0]).toEqual(documents[1]);
});

test('CORS preflight for a browser app on the FHIR API', async () => {
  const res = await fetch(`${server.issuer}/fhir/Observation`, {
    method: 'OPTIONS',
    headers: {
      origin: smartApp.origin,
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'authorization',
    },
  });
  expect(res.status).toBeGreaterThanOrEqual(200);
  expect(res.status).toBeLessThan(300);
  expect(res.headers.get('access-control-allow-origin')).toMatch(new RegExp(`^(\\*|${smartApp.origin})$`));
  expect((res.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('authorization');
  expect(res.headers.get('access-control-allow-methods')).toContain('GET');
});
