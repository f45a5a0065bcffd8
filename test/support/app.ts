/**
 * Plays a third-party app with openid-client: registers it, starts an authorization with PKCE,
 * and exchanges the code the person's browser brings back; and the person who answers it.
 */
import * as oidc from 'openid-client';
import type { TestServer } from './server';
import { Browser, type PageResponse } from './browser';
import { createAccountThrough } from './forms';

export const CALLBACK = 'https://app.example/callback';

export type TestApp = {
  clientId: string;
  clientSecret: string | undefined;
  config: oidc.Configuration;
  registered: Record<string, unknown>;
};

export const WEIGHT_TRACKER = {
  client_name: 'Weight Tracker',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'],
  rules: [
    { scope: 'patient/Observation.rs', required: true, reason: 'Chart your weight' },
    { scope: 'patient/MedicationStatement.cruds', required: false, reason: 'Keep your medicines list' },
    { scope: 'offline_access', required: false, reason: 'Sync your scale while you are away' },
  ],
};

/** A public app that keeps access only while the person is signed in (online_access). */
export const CLINIC_PORTAL = {
  client_name: 'Clinic Portal',
  redirect_uris: [CALLBACK],
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  rules: [
    { scope: 'patient/Observation.rs', required: true, reason: 'Show your results' },
    { scope: 'online_access', required: true, reason: 'Stay connected while you use it' },
  ],
};

export async function registerTestApp(server: TestServer, document: Record<string, unknown> = WEIGHT_TRACKER): Promise<TestApp> {
  return appFromRegistration(server.issuer, await server.registerApp(document));
}

/** The openid-client view of an app from its registration response (RFC 7591), however it was registered. */
export async function appFromRegistration(issuer: string, registered: Record<string, unknown>): Promise<TestApp> {
  const clientId = registered.client_id as string;
  const clientSecret = registered.client_secret as string | undefined;
  const auth = clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None();
  const config = await oidc.discovery(new URL(issuer), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
  return { clientId, clientSecret, config, registered };
}

export type Authorization = { url: URL; verifier: string; state: string; nonce: string };

export async function startAuthorization(app: TestApp, params: Record<string, string> = {}): Promise<Authorization> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(app.config, {
    redirect_uri: CALLBACK,
    scope: 'openid profile email patient/Observation.rs offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

export function exchangeCode(app: TestApp, authorization: Authorization, callback: string) {
  return oidc.authorizationCodeGrant(app.config, new URL(callback), {
    pkceCodeVerifier: authorization.verifier,
    expectedState: authorization.state,
    expectedNonce: authorization.nonce,
  });
}

let counter = 0;

export function newPerson(name = 'Alex Morgan') {
  counter += 1;
  return { name, email: `person${Date.now()}${counter}@example.org`, password: 'correct horse battery staple' };
}

/**
 * The person's side of web-based authorization: from the app's URL through registration (or
 * sign-in) and consent, to the redirect back to the app. Returns the last response (the redirect
 * to the app's callback, or the page where it stopped). The consent page asks rather than assumes,
 * so this person ticks every optional rule except those in `uncheck`, and with several records
 * chooses `record`, else the first one listed.
 */
export async function authorizeInBrowser(
  browser: Browser,
  url: URL,
  person: { name: string; email: string; password: string },
  options: { register?: boolean; uncheck?: string[]; record?: string; decision?: 'allow' | 'deny' } = {},
): Promise<PageResponse> {
  let page = await browser.visit(url.toString());
  if (page.html.includes('>Sign in</button>')) {
    if (options.register) {
      page = await browser.visit(page.html.match(/href="(\/interaction\/[^"]+\/register)"/)?.[1] ?? '');
      page = await createAccountThrough(browser, page, person);
    } else {
      page = await browser.submit(page, { email: person.email, password: person.password });
    }
  }
  if (page.html.includes('>Allow</button>')) {
    const valuesOf = (name: string) =>
      [...page.html.matchAll(/<input\b[^>]*>/g)]
        .map(([tag]) => tag)
        .filter((tag) => tag.includes(`name="${name}"`) && !tag.includes('type="hidden"'))
        .map((tag) => /\bvalue="([^"]*)"/.exec(tag)?.[1] ?? '');
    const record = options.record ?? valuesOf('record')[0];
    const fields = { decision: options.decision ?? 'allow', ...(record ? { record } : {}) };
    const check = valuesOf('rules').filter((scope) => !options.uncheck?.includes(scope));
    page = await browser.submit(page, fields, '/consent', { uncheck: options.uncheck, check });
  }
  return page;
}
