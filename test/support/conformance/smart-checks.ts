/**
 * The checks for `/.well-known/smart-configuration` (SMART App Launch 2.x, "Conformance"): the
 * fields it shares with OpenID discovery must say the same and pass the same checks; SMART's own —
 * the management endpoint and each capability — have checks of their own.
 * https://build.fhir.org/ig/HL7/smart-app-launch/conformance.html
 */
import { Browser, textOf } from '../browser';
import { mainFlow } from './apps';
import { onlineEndsAtSignOut } from './flows';
import { recordScopeCheck } from './scope-checks';
import type { Check, FieldEntry, Table } from './walk';
import type { World } from './world';

/** A field OpenID discovery also has: the same value, proven by the same (remembered) check. */
function shared(w: World, openid: Table, field: string): FieldEntry {
  const entry = openid[field];
  if (!entry) throw new Error(`OpenID discovery has no check for ${field}`);
  if ('each' in entry) {
    return {
      each: (member) => {
        const check = entry.each(member);
        return (
          check &&
          (async () => {
            expect(w.openid[field]).toContain(member);
            await check();
          })
        );
      },
    };
  }
  return {
    value: (value) => {
      const check = entry.value(value);
      return async () => {
        expect(value).toEqual(w.openid[field]);
        await check();
      };
    },
  };
}

/** Each SMART capability, by what it lets an app do. */
function capabilityCheck(w: World, openid: Table, sample: (type: string) => Promise<string>, capability: string): Check | undefined {
  const member = (field: string, value: string) => {
    const entry = openid[field];
    const check = entry && 'each' in entry ? entry.each(value) : undefined;
    if (!check) throw new Error(`no OpenID check for ${field}=${value}`);
    return check();
  };
  switch (capability) {
    case 'launch-standalone':
    case 'context-standalone-patient':
      return async () => {
        const { tokens, authorizationUrl } = await mainFlow(w);
        expect(authorizationUrl.searchParams.get('aud')).toBe(w.fhirBase);
        expect(authorizationUrl.searchParams.get('scope')).toContain('launch/patient');
        expect(tokens.patient).toBe((await w.person()).record);
      };
    case 'client-public':
      return () => member('token_endpoint_auth_methods_supported', 'none');
    case 'client-confidential-symmetric':
      return async () => {
        await member('token_endpoint_auth_methods_supported', 'client_secret_basic');
        await member('token_endpoint_auth_methods_supported', 'client_secret_post');
      };
    case 'client-confidential-asymmetric':
      return () => member('token_endpoint_auth_methods_supported', 'private_key_jwt');
    case 'permission-offline':
      return () => member('scopes_supported', 'offline_access');
    case 'permission-online':
      return () => onlineEndsAtSignOut(w);
    case 'permission-patient':
      return () => recordScopeCheck(w, 'patient/Observation.rs', sample);
    case 'permission-v1':
      return async () => {
        await recordScopeCheck(w, 'patient/Observation.read', sample);
        await recordScopeCheck(w, 'patient/Patient.read', sample);
      };
    case 'permission-v2':
      return async () => {
        await recordScopeCheck(w, 'patient/Observation.rs', sample);
        await recordScopeCheck(w, 'patient/Observation.cruds', sample);
      };
    case 'sso-openid-connect':
      return async () => {
        const { tokens, app } = await mainFlow(w);
        const { payload } = await w.verifyIdToken(tokens.id_token ?? '', app.clientId);
        expect(payload.fhirUser).toBe(`${w.fhirBase}/Patient/${(await w.person()).record}`);
      };
    default:
      return undefined;
  }
}

export function smartChecks(w: World, openid: Table, sample: (type: string) => Promise<string>): Table {
  const fields = [
    'issuer',
    'jwks_uri',
    'authorization_endpoint',
    'token_endpoint',
    'token_endpoint_auth_methods_supported',
    'token_endpoint_auth_signing_alg_values_supported',
    'dpop_signing_alg_values_supported',
    'grant_types_supported',
    'registration_endpoint',
    'userinfo_endpoint',
    'introspection_endpoint',
    'revocation_endpoint',
    'scopes_supported',
    'response_types_supported',
    'code_challenge_methods_supported',
  ];
  return {
    ...Object.fromEntries(fields.map((field) => [field, shared(w, openid, field)])),
    // Where the person manages the apps that can reach their records.
    management_endpoint: {
      value: (value) => async () => {
        expect(value).toBe(`${w.issuer}/apps`);
        const { app } = await mainFlow(w);
        const page = await (await w.person()).browser.visit(String(value));
        expect(page.status).toBe(200);
        expect(textOf(page.html)).toContain(app.name);
        expect(page.html).toContain('Remove access');
        // Nobody signed in: the sign-in page, not the list.
        const stranger = await new Browser(w.issuer).visit(String(value));
        expect(textOf(stranger.html)).toContain('Sign in');
        expect(stranger.html).not.toContain('Remove access');
      },
    },
    capabilities: { each: (capability) => capabilityCheck(w, openid, sample, capability) },
  };
}
