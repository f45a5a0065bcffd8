/**
 * The apps and flows the conformance checks share: an app for each client authentication method,
 * each ID token algorithm, each family of record scopes, Patient Connect, and the main code flow
 * (SMART standalone launch with `aud`, `launch/patient`, OpenID claims, offline access) — each
 * registered or run once, on first use.
 */
import { CALLBACK } from '../app';
import { keyPairFor, rule, LOGGED_OUT, type AppSpec, type Flow, type RegisteredApp, type World } from './world';

const CATALOGUE_TYPES = [
  'Patient',
  'Observation',
  'Condition',
  'MedicationStatement',
  'AllergyIntolerance',
  'Immunization',
  'Procedure',
  'DocumentReference',
  'DiagnosticReport',
  'Encounter',
  'Provenance',
];

/** The rules most apps here register: the person's details, weights, and optional offline access. */
const EVERYDAY_RULES = [rule('patient/Patient.rs'), rule('patient/Observation.cruds'), rule('offline_access', false)];
export const EVERYDAY_SCOPE = 'openid profile email fhirUser launch/patient patient/Patient.rs patient/Observation.cruds offline_access';

const web = (method: string, extra: Record<string, unknown> = {}): AppSpec => ({
  document: {
    redirect_uris: [CALLBACK],
    post_logout_redirect_uris: [LOGGED_OUT],
    token_endpoint_auth_method: method,
    rules: EVERYDAY_RULES,
    ...extra,
  },
});

async function withKey(method: string, alg: string, extra: Record<string, unknown> = {}): Promise<AppSpec> {
  const { privateKey, publicJwk } = await keyPairFor(alg);
  const kid = `key-${alg}`;
  return { ...web(method, { jwks: { keys: [{ ...publicJwk, kid, alg, use: 'sig' }] }, ...extra }), keys: [{ kid, alg, privateKey }] };
}

export const apps = {
  basic: (w: World) => w.app('Conformance Basic', () => web('client_secret_basic')),
  post: (w: World) => w.app('Conformance Post', () => web('client_secret_post')),
  public: (w: World) => w.app('Conformance Public', () => web('none')),
  /** SMART's asymmetric confidential client: ES384 (SMART Backend Services names RS384 and ES384). */
  key: (w: World) => w.app('Conformance Key', () => withKey('private_key_jwt', 'ES384')),
  idTokenAlg: (w: World, alg: string) => w.app(`Conformance ID ${alg}`, () => web('client_secret_basic', { id_token_signed_response_alg: alg })),
  online: (w: World) => w.app('Conformance Online', () => web('client_secret_basic', { rules: [rule('patient/Patient.rs'), rule('online_access')] })),
  /** Must push its requests (RFC 9126 §6). */
  pushOnly: (w: World) => w.app('Conformance Push Only', () => web('client_secret_basic', { require_pushed_authorization_requests: true })),
  /** A clinic: Patient Connect (the device grant) and client credentials. */
  clinic: (w: World) =>
    w.app('Conformance Clinic', () => ({
      document: {
        token_endpoint_auth_method: 'client_secret_basic',
        capabilities: ['connect', 'dopu'],
        rules: [rule('patient/Observation.cruds'), rule('offline_access')],
      },
    })),
  /** One key per client assertion algorithm, for private_key_jwt at the token endpoint. */
  assertions: (w: World, algs: readonly string[]) =>
    w.app('Conformance Assertions', async () => {
      const keys = await Promise.all(
        algs.map(async (alg) => {
          const { privateKey, publicJwk } = await keyPairFor(alg);
          return { kid: `key-${alg}`, alg, privateKey, publicJwk: { ...publicJwk, kid: `key-${alg}`, alg, use: 'sig' } };
        }),
      );
      return {
        document: { token_endpoint_auth_method: 'private_key_jwt', capabilities: ['dopu'], jwks: { keys: keys.map((key) => key.publicJwk) } },
        keys: keys.map(({ kid, alg, privateKey }) => ({ kid, alg, privateKey })),
      };
    }),
  /** Record scopes: one app per family, each registering every scope of its family. */
  scopes: (w: World, family: ScopeFamily) =>
    w.app(`Conformance Scopes ${family}`, () => ({
      document: { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'client_secret_basic', rules: scopesOf(family).map((scope) => rule(scope)) },
    })),
};

export type ScopeFamily = 'rs' | 'cruds' | 'wild-rs' | 'wild-cruds' | 'v1';

function scopesOf(family: ScopeFamily): string[] {
  if (family === 'rs' || family === 'cruds') return CATALOGUE_TYPES.map((type) => `patient/${type}.${family}`);
  if (family === 'v1') return ['patient/Patient.read', 'patient/Observation.read'];
  return [`patient/*.${family.slice(5)}`];
}

/** The main flow: a SMART standalone launch with OpenID claims and offline access, as a confidential app. */
export function mainFlow(w: World): Promise<Flow & { app: RegisteredApp }> {
  return w.memo('flow:main', async () => {
    const app = await apps.basic(w);
    const flow = await w.codeFlow(app, { scope: EVERYDAY_SCOPE, params: { aud: w.fhirBase, max_age: '3600' } });
    return { ...flow, app };
  });
}

/** An access token holding one family of record scopes, for the person's own record. */
export function scopeToken(w: World, family: ScopeFamily): Promise<{ token: string; granted: string[] }> {
  return w.memo(`token:${family}`, async () => {
    const app = await apps.scopes(w, family);
    const flow = await w.codeFlow(app, { scope: `openid ${scopesOf(family).join(' ')}` });
    return { token: flow.tokens.access_token, granted: (flow.tokens.scope ?? '').split(' ') };
  });
}
