/**
 * SMART App Launch discovery (`.well-known/smart-configuration`) and the FHIR CapabilityStatement
 * (`/fhir/metadata`). https://build.fhir.org/ig/HL7/smart-app-launch/conformance.html
 */
import { CLIENT_ASSERTION_ALGS, CLIENT_AUTH_METHODS, DPOP_ALGS, GRANT_TYPES } from '../oidc/protocol';
import { RECORD_TYPES } from '../rules/catalogue';
import { advertisedScopes } from '../rules/scopes';
import { includesOf, revincludesOf, searchParamsOf } from './search';
import type { BundleBounds } from './transaction';

export type Endpoints = {
  issuer: string;
  fhirBase: string;
  authorization: string;
  token: string;
  jwks: string;
  introspection: string;
  revocation: string;
  userinfo: string;
  registration: string | undefined;
  management: string;
};

export function smartConfiguration(endpoints: Endpoints) {
  return {
    issuer: endpoints.issuer,
    jwks_uri: endpoints.jwks,
    authorization_endpoint: endpoints.authorization,
    token_endpoint: endpoints.token,
    token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGS],
    dpop_signing_alg_values_supported: [...DPOP_ALGS],
    grant_types_supported: [...GRANT_TYPES],
    ...(endpoints.registration ? { registration_endpoint: endpoints.registration } : {}),
    userinfo_endpoint: endpoints.userinfo,
    introspection_endpoint: endpoints.introspection,
    revocation_endpoint: endpoints.revocation,
    management_endpoint: endpoints.management,
    scopes_supported: advertisedScopes(),
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [
      'launch-standalone',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-v1',
      'permission-v2',
      'sso-openid-connect',
    ],
  };
}

/** How to search, for clients reading the statement (search.html: GET, or POST to `_search` with a form). */
const SEARCH_DOCUMENTATION =
  'GET [base]/[type]?params, or POST [base]/[type]/_search with the parameters as a form (application/x-www-form-urlencoded); ' +
  'results are paged with next links (_count at most 100). Unknown parameters are ignored unless the request says Prefer: handling=strict. ' +
  '_sort takes date, _lastUpdated or their descending forms (-date); _include and _revinclude follow the references listed, within the record and only to types the token may read; ' +
  '_summary=count gives the total alone; _elements returns the listed elements and those the type requires (marked SUBSETTED).';

/**
 * `bounds`: what one Bundle may read (config `fhirBundles`), told to apps in the interaction's
 * documentation; `extra`: the features' own resource entries (a Subscription), after the record's.
 */
export function capabilityStatement(endpoints: Endpoints, version: string, bounds: BundleBounds, extra: readonly Record<string, unknown>[] = []) {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-28',
    kind: 'instance',
    software: { name: 'carevault', version },
    implementation: { description: 'carevault personal health records', url: endpoints.fhirBase },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        security: {
          cors: true,
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          description: 'Every request needs a SMART access token; it reaches one record, within its scopes.',
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'authorize', valueUri: endpoints.authorization },
                { url: 'token', valueUri: endpoints.token },
                { url: 'revoke', valueUri: endpoints.revocation },
                { url: 'introspect', valueUri: endpoints.introspection },
                { url: 'manage', valueUri: endpoints.management },
                ...(endpoints.registration ? [{ url: 'register', valueUri: endpoints.registration }] : []),
              ],
            },
          ],
        },
        interaction: [
          {
            code: 'transaction',
            documentation:
              "POST [base] with a transaction Bundle: all or nothing, urn:uuid references resolved, conditional creates (ifNoneExist), run in R4 order (deletes, creates, updates, reads), every entry within the token's scopes. " +
              `At most ${bounds.maxReads} entries that read or search, and about ${bounds.maxResources} resources returned by them (413 too-costly beyond).`,
          },
          {
            code: 'batch',
            documentation:
              'POST [base] with a batch Bundle: each entry on its own, each answered with its own status; the same bounds as a transaction, a read past them answering 413.',
          },
        ],
        resource: [
          ...RECORD_TYPES.map((type) => ({
            type,
            interaction: (type === 'Patient'
              ? ['read', 'vread', 'history-instance', 'update', 'search-type']
              : ['read', 'vread', 'history-instance', 'create', 'update', 'delete', 'search-type']
            ).map((code) => (code === 'search-type' ? { code, documentation: SEARCH_DOCUMENTATION } : { code })),
            versioning: 'versioned-update',
            readHistory: true,
            updateCreate: false,
            // If-None-Exist on POST and ifNoneExist in transactions (no Patient is ever created).
            conditionalCreate: type !== 'Patient',
            conditionalUpdate: false,
            conditionalDelete: 'not-supported',
            ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}),
            searchInclude: includesOf(type),
            searchRevInclude: revincludesOf(type),
            searchParam: searchParamsOf(type).map(({ name, type: paramType }) => ({ name, type: paramType })),
          })),
          ...extra,
        ],
      },
    ],
  };
}
