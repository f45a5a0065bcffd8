/**
 * What the conformance checks share: one carevault with dynamic registration on, one
 * person signed in through the pages, apps registered once each, and the code flow played by
 * openid-client — plain, pushed (RFC 9126), with DPoP, with any response mode — so each check
 * names only what it proves. Everything is made lazily and remembered, so a check pays only for
 * what it needs and the whole walk stays fast.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { textOf, type PageResponse } from '../browser';
import { CALLBACK, authorizeInBrowser } from '../app';
import { launchChromium, type Chromium } from '../chromium';
import { signedUpPerson, type SignedUp } from '../people';
import type { TestServer } from '../server';

export type Json = Record<string, unknown>;

export const INITIAL_ACCESS_TOKEN = 'conformance-initial-access-token-0123456789abcdef';
export const LOGGED_OUT = 'https://app.example/signed-out';

/** What an app is, as its registration document says, plus how it authenticates. */
export type AppSpec = {
  document: Json;
  /** For private_key_jwt: the private keys, by kid; the first one signs unless a check picks another. */
  keys?: { kid: string; alg: string; privateKey: CryptoKey }[];
};

export type RegisteredApp = {
  name: string;
  clientId: string;
  clientSecret: string | undefined;
  config: oidc.Configuration;
  keys: NonNullable<AppSpec['keys']>;
};

export type FlowOptions = {
  scope?: string;
  params?: Record<string, string>;
  /** Push the request first (RFC 9126) and send the browser with only its request_uri. */
  pushed?: boolean;
  /** Send the authorization request as a form POST (OIDC Core §3.1.2.1) instead of a GET. */
  post?: boolean;
  DPoP?: oidc.DPoPHandle;
  who?: SignedUp;
};

export type Flow = {
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  idToken: JWTPayload | undefined;
  /** The authorization response's parameters as the app received them. */
  response: URLSearchParams;
  authorizationUrl: URL;
};

type AppRule = { scope: string; required: boolean; reason: string };

export const rule = (scope: string, required = true): AppRule => ({ scope, required, reason: `Needs ${scope}` });

/** A key pair for `alg` (a JWS algorithm name), as WebCrypto keys. */
export async function keyPairFor(alg: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK }> {
  const jwsAlg = alg === 'Ed25519' ? 'EdDSA' : alg;
  const { privateKey, publicKey } = await generateKeyPair(jwsAlg, {
    extractable: true,
    ...(jwsAlg.startsWith('RS') || jwsAlg.startsWith('PS') ? { modulusLength: 2048 } : {}),
  });
  return { privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey, publicJwk: await exportJWK(publicKey) };
}

/** openid-client signs with the algorithm its key implies; EdDSA needs saying (it picks Ed25519). */
export function withAlg(alg: string) {
  return alg === 'EdDSA' ? { [oidc.modifyAssertion]: (header: Json) => void Object.assign(header, { alg: 'EdDSA' }) } : undefined;
}

export class World {
  readonly issuer: string;
  readonly fhirBase: string;
  private readonly memos = new Map<string, Promise<unknown>>();
  private chromium: Chromium | undefined;

  constructor(
    readonly server: TestServer,
    readonly openid: Json,
    readonly smart: Json,
    readonly capability: Json,
  ) {
    this.issuer = server.issuer;
    this.fhirBase = `${server.issuer}/fhir`;
  }

  /** `make()` once per key; every later call gets the same promise. */
  memo<T>(key: string, make: () => Promise<T>): Promise<T> {
    let found = this.memos.get(key) as Promise<T> | undefined;
    if (!found) {
      found = make();
      this.memos.set(key, found);
    }
    return found;
  }

  /** The person every flow acts for, signed in through /register. */
  person(name = 'Casey Conform'): Promise<SignedUp> {
    return this.memo(`person:${name}`, () => signedUpPerson(this.server, name));
  }

  browser(): Promise<Chromium> {
    return this.memo('chromium', async () => {
      this.chromium = await launchChromium();
      return this.chromium;
    });
  }

  async close(): Promise<void> {
    await this.chromium?.close();
  }

  /** Registers `spec` once under `name` (through the CLI's path) and builds its openid-client configuration. */
  app(name: string, spec: () => Promise<AppSpec> | AppSpec): Promise<RegisteredApp> {
    return this.memo(`app:${name}`, async () => {
      const { document, keys = [] } = await spec();
      const registered = await this.server.registerApp({ client_name: name, ...document });
      return this.configure(name, registered, keys);
    });
  }

  /** An openid-client configuration for a registered client, authenticating as it registered. */
  async configure(name: string, registered: Json, keys: RegisteredApp['keys'], signWith = keys[0]): Promise<RegisteredApp> {
    const clientId = registered.client_id as string;
    const clientSecret = registered.client_secret as string | undefined;
    const method = registered.token_endpoint_auth_method as string;
    const auth =
      method === 'client_secret_basic'
        ? oidc.ClientSecretBasic(clientSecret ?? '')
        : method === 'client_secret_post'
          ? oidc.ClientSecretPost(clientSecret ?? '')
          : method === 'private_key_jwt' && signWith
            ? oidc.PrivateKeyJwt({ key: signWith.privateKey, kid: signWith.kid }, withAlg(signWith.alg))
            : oidc.None();
    const config = await oidc.discovery(new URL(this.issuer), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
    return { name, clientId, clientSecret, config, keys };
  }

  /**
   * The code flow with PKCE S256 from the app's redirect to its tokens: the person consents in
   * carevault's pages (or has before), the app exchanges the code with openid-client.
   */
  async codeFlow(app: RegisteredApp, options: FlowOptions = {}): Promise<Flow> {
    const who = options.who ?? (await this.person());
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const params = {
      redirect_uri: CALLBACK,
      scope: options.scope ?? 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...options.params,
    };
    let authorizationUrl = options.pushed
      ? await oidc.buildAuthorizationUrlWithPAR(app.config, params, options.DPoP ? { DPoP: options.DPoP } : undefined)
      : oidc.buildAuthorizationUrl(app.config, params);
    if (options.post) {
      const endpoint = `${authorizationUrl.origin}${authorizationUrl.pathname}`;
      const posted = await who.browser.request(endpoint, { method: 'POST', form: Object.fromEntries(authorizationUrl.searchParams) });
      if (posted.status !== 303 || !posted.location)
        throw new Error(`POST ${endpoint} answered ${posted.status}, not 303 to the GET: ${textOf(posted.html).slice(0, 200)}`);
      const get = new URL(posted.location);
      if (get.pathname !== authorizationUrl.pathname || [...get.searchParams].sort().join('&') !== [...authorizationUrl.searchParams].sort().join('&')) {
        throw new Error(`POST ${endpoint} redirected to ${posted.location}, not to the same request as a GET`);
      }
      authorizationUrl = get;
    }
    const back = await authorizeInBrowser(who.browser, authorizationUrl, who.person);
    const response = responseOf(back);
    const callback = new URL(CALLBACK);
    for (const [key, value] of response) callback.searchParams.append(key, value);
    const tokens = await oidc.authorizationCodeGrant(
      app.config,
      callback,
      { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce },
      undefined,
      options.DPoP ? { DPoP: options.DPoP } : undefined,
    );
    return { tokens, idToken: tokens.claims(), response, authorizationUrl };
  }

  /** Verifies an ID token's signature against the published JWKS; returns its header and claims. */
  async verifyIdToken(idToken: string, clientId: string) {
    const jwks = (await (await fetch(String(this.openid.jwks_uri))).json()) as { keys: JWK[] };
    return jwtVerify(idToken, createLocalJWKSet(jwks), { issuer: this.issuer, audience: clientId });
  }

  /** A FHIR request with an access token (Bearer unless a DPoP handle is given). */
  async fhir(
    token: string,
    method: string,
    path: string,
    body?: unknown,
    options: { DPoP?: oidc.DPoPHandle; app?: RegisteredApp; headers?: Record<string, string> } = {},
  ) {
    const url = new URL(path.startsWith('http') ? path : `${this.fhirBase}/${path}`);
    const headers = new Headers({ accept: 'application/fhir+json', ...options.headers });
    let payload: string | undefined;
    if (typeof body === 'string') payload = body;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers.set('content-type', 'application/fhir+json');
    }
    if (options.DPoP && options.app) {
      return oidc.fetchProtectedResource(options.app.config, token, url, method, payload, headers, { DPoP: options.DPoP });
    }
    headers.set('authorization', `Bearer ${token}`);
    return fetch(url, { method, headers, body: payload });
  }
}

/** The authorization response's parameters: from the query, or from the fragment (response_mode=fragment). */
export function responseOf(back: PageResponse): URLSearchParams {
  if (!back.location?.startsWith(CALLBACK)) {
    throw new Error(`the flow stopped at ${back.url} (${back.status}): ${textOf(back.html).slice(0, 300)}`);
  }
  const url = new URL(back.location);
  return url.hash ? new URLSearchParams(url.hash.slice(1)) : url.searchParams;
}
