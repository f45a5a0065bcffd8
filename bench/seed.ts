/**
 * The bench's own data, made through carevault's public surface like an app and its users would:
 * an app registered by dynamic registration (client credentials with `dopu`, authorization code,
 * refresh tokens), people who register and authorize it (one refresh chain each), 41 Observations
 * in the first person's record, and a client-credentials token to introspect. The first person
 * also allows the app's optional Subscription rule, so the bench can measure notification lag.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Browser } from '../test/support/browser';

export const REDIRECT_URI = 'https://bench.example/callback';
export const SCOPE = 'openid patient/Observation.cruds offline_access';
/** The first person's scope: the same, and notifications of changes to their record. */
const SUBSCRIBER_SCOPE = `${SCOPE} patient/Subscription.cruds`;
const PASSWORD = 'bench password 123';

export const OBSERVATION = JSON.stringify({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
  effectiveDateTime: '2026-01-01T08:00:00Z',
  valueQuantity: { value: 72, unit: 'kg' },
});

export type Fixture = {
  clientId: string;
  clientSecret: string;
  people: { email: string; password: string }[];
  /** One per person: the chains the refresh measurement rotates. */
  refreshTokens: string[];
  /** The first person's access token (FHIR paths) and the record it reaches. */
  accessToken: string;
  recordId: string;
  /** A record no measured request reads (bulk rows go there). */
  otherRecordId: string;
  observationId: string;
  /** An app token the app introspects. */
  appToken: string;
};

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function registerApp(issuer: string, initialAccessToken: string): Promise<{ clientId: string; clientSecret: string }> {
  const res = await fetch(`${issuer}/oauth/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${initialAccessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Bench',
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      rules: [
        { scope: 'patient/Observation.cruds', required: true, reason: 'Benchmark' },
        { scope: 'offline_access', required: true, reason: 'Benchmark' },
        { scope: 'patient/Subscription.cruds', required: false, reason: 'Benchmark' },
      ],
      capabilities: ['dopu'],
    }),
  });
  const body = await json<{ client_id: string; client_secret: string }>(res, 'registration');
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

/** Registers a person, authorizes the app for their record, exchanges the code. */
async function authorizedPerson(issuer: string, app: { clientId: string; clientSecret: string }, index: number) {
  const email = `bench-${index}-${randomBytes(4).toString('hex')}@example.org`;
  const browser = new Browser(issuer);
  let page = await browser.visit('/register');
  page = await browser.submit(page, { name: `Bench Person ${index}`, email, password: PASSWORD });
  // "Check your email", then Continue signs the new person in.
  page = await browser.submit(page, {}, '/registered');
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL('/authorize', issuer);
  authorize.search = new URLSearchParams({
    client_id: app.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: index === 0 ? SUBSCRIBER_SCOPE : SCOPE,
    state: 'bench',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  page = await browser.visit(authorize.toString());
  page = await browser.submit(page, { decision: 'allow' }, '', index === 0 ? { check: ['patient/Subscription.cruds'] } : {});
  const code = page.location ? new URL(page.location).searchParams.get('code') : null;
  if (!code) throw new Error(`authorizing bench person ${index} gave no code (status ${page.status} at ${page.url})`);
  const tokens = await json<{ access_token: string; refresh_token: string; patient: string }>(
    await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
    }),
    'code exchange',
  );
  return { email, tokens };
}

export async function seed(issuer: string, initialAccessToken: string, chains: number): Promise<Fixture> {
  const app = await registerApp(issuer, initialAccessToken);
  const people: Awaited<ReturnType<typeof authorizedPerson>>[] = [];
  // The first person's tokens serve the FHIR paths; the others' refresh tokens are the chains.
  const count = chains + 1;
  for (let start = 0; start < count; start += 4) {
    const batch = Array.from({ length: Math.min(4, count - start) }, (_, i) => authorizedPerson(issuer, app, start + i));
    people.push(...(await Promise.all(batch)));
  }
  const [first, second] = people;
  if (!first || !second) throw new Error('no bench person');
  const headers = { authorization: `Bearer ${first.tokens.access_token}`, 'content-type': 'application/fhir+json' };
  const created = await json<{ id: string }>(await fetch(`${issuer}/fhir/Observation`, { method: 'POST', headers, body: OBSERVATION }), 'FHIR create');
  for (let i = 0; i < 40; i += 1) await json(await fetch(`${issuer}/fhir/Observation`, { method: 'POST', headers, body: OBSERVATION }), 'FHIR create');
  const appToken = await json<{ access_token: string }>(
    await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=dopu',
    }),
    'client credentials',
  );
  return {
    ...app,
    people: people.map((person) => ({ email: person.email, password: PASSWORD })),
    refreshTokens: people.slice(1).map((person) => person.tokens.refresh_token),
    accessToken: first.tokens.access_token,
    recordId: first.tokens.patient,
    otherRecordId: second.tokens.patient,
    observationId: created.id,
    appToken: appToken.access_token,
  };
}
