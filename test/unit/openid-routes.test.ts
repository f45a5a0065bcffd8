/**
 * The table of OpenID routes (src/oidc/routes.ts) that both request pipelines read: every route and
 * discovery is oidc-provider's, with its sub-paths; the endpoints apps call and the published
 * documents skip express, the pages people visit do not; only the endpoints apps call answer errors
 * in JSON; a path with an encoded dot segment is never handed over.
 */
import { OIDC_ROUTES, answersInJson, isAppEndpoint, isProviderPath } from '../../src/oidc/routes';

const DISCOVERY = '/.well-known/openid-configuration';
const APP_CALLED = ['/token', '/userinfo', '/introspect', '/revoke', '/oauth/register', '/par', '/device/authorize'];
const DOCUMENTS = ['/jwks', DISCOVERY];
const PAGES = ['/authorize', '/session/end', '/connect'];

test('the table holds every endpoint oidc-provider is configured with', () => {
  expect(Object.values(OIDC_ROUTES).sort()).toEqual([...APP_CALLED, ...PAGES, '/jwks'].sort());
});

test.each([...APP_CALLED, ...DOCUMENTS, ...PAGES])('%s and its sub-paths are oidc-provider’s', (path) => {
  expect(isProviderPath(path)).toBe(true);
  expect(isProviderPath(`${path}/x`)).toBe(true);
  expect(isProviderPath(`${path}x`)).toBe(false);
});

test('the endpoints apps call and the published documents go straight to oidc-provider; pages go through express', () => {
  for (const path of [...APP_CALLED, ...DOCUMENTS]) expect([path, isAppEndpoint(path)]).toEqual([path, true]);
  for (const path of PAGES) expect([path, isAppEndpoint(path)]).toEqual([path, false]);
  // A registered client's configuration endpoint (RFC 7592).
  expect(isAppEndpoint('/oauth/register/client-123')).toBe(true);
});

test('only the endpoints apps call answer their errors in JSON', () => {
  for (const path of APP_CALLED) expect([path, answersInJson(path), answersInJson(`${path}/x`)]).toEqual([path, true, true]);
  for (const path of [...DOCUMENTS, ...PAGES, '/fhir', '/records']) expect([path, answersInJson(path)]).toEqual([path, false]);
});

test('carevault’s own paths and encoded dot segments are never handed over', () => {
  for (const path of ['/', '/fhir/Patient', '/records', '/api/dopu/packages', '/connected', '/tokens']) {
    expect([path, isProviderPath(path), isAppEndpoint(path)]).toEqual([path, false, false]);
  }
  for (const path of ['/connect/%2e%2e/records', '/oauth/register/%2E%2E', '/token/.%2e/x']) {
    expect([path, isProviderPath(path), isAppEndpoint(path)]).toEqual([path, false, false]);
  }
});
