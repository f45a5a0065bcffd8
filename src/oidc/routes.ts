/**
 * The OpenID core's routes, in one table: each endpoint's path (oidc-provider is configured with
 * them and discovery advertises them) and who calls it, from which both request pipelines decide
 * what to hand to oidc-provider:
 * - `api`: called by apps; the front (http/front.ts) hands it to oidc-provider without express, and
 *   oidc-provider's own 404s there are JSON;
 * - `document`: published documents anyone fetches (discovery, the JWKS); straight from the front too;
 * - `page`: visited by people's browsers; through express, which turns form POSTs into GETs and
 *   limits anonymous authorization requests (app.ts), then to oidc-provider.
 * A route's path answers its sub-paths too (a registered client's configuration endpoint, RFC 7592,
 * is the registration path and the client's id).
 * https://openid.net/specs/openid-connect-discovery-1_0.html · https://www.rfc-editor.org/rfc/rfc8414
 */
import { VERIFICATION_PATH } from './device-flow';

type Route = { path: string; by: 'api' | 'document' | 'page' };

const ROUTES = {
  authorization: { path: '/authorize', by: 'page' },
  token: { path: '/token', by: 'api' },
  userinfo: { path: '/userinfo', by: 'api' },
  jwks: { path: '/jwks', by: 'document' },
  introspection: { path: '/introspect', by: 'api' },
  revocation: { path: '/revoke', by: 'api' },
  registration: { path: '/oauth/register', by: 'api' },
  end_session: { path: '/session/end', by: 'page' },
  pushed_authorization_request: { path: '/par', by: 'api' },
  // The device authorization grant (RFC 8628): the app asks here; the person enters the code at the verification page.
  device_authorization: { path: '/device/authorize', by: 'api' },
  code_verification: { path: VERIFICATION_PATH, by: 'page' },
} as const satisfies Record<string, Route>;

/** oidc-provider's discovery document: its path is fixed, not one of its configurable routes. */
const DISCOVERY: Route = { path: '/.well-known/openid-configuration', by: 'document' };

type RouteName = keyof typeof ROUTES;

/** The endpoint paths by oidc-provider's route names (its `routes` configuration). */
export const OIDC_ROUTES = Object.fromEntries(Object.entries(ROUTES).map(([name, route]) => [name, route.path])) as {
  readonly [name in RouteName]: (typeof ROUTES)[name]['path'];
};

/** Every route, with the prefix of its sub-paths (looked up on every request). */
const ALL: readonly (Route & { under: string })[] = [...Object.values(ROUTES), DISCOVERY].map((route) => ({ ...route, under: `${route.path}/` }));

function routeOf(path: string): Route | undefined {
  return ALL.find((route) => path === route.path || path.startsWith(route.under));
}

/**
 * A path with an encoded dot segment (`/connect/%2e%2e/`) is never handed to oidc-provider: browsers
 * never send one, and oidc-provider takes it for a route parameter it then fails on.
 */
function hasDotSegment(path: string): boolean {
  return /%2e/i.test(path) && path.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
}

/** A path oidc-provider answers (as sent, without its query); everything else is carevault's own. */
export function isProviderPath(path: string): boolean {
  return routeOf(path) !== undefined && !hasDotSegment(path);
}

/** A path oidc-provider answers without express: the endpoints apps call and the published documents. */
export function isAppEndpoint(path: string): boolean {
  const route = routeOf(path);
  return route !== undefined && route.by !== 'page' && !hasDotSegment(path);
}

/** A path whose errors oidc-provider answers in JSON (its 404s included): the endpoints apps call. */
export function answersInJson(path: string): boolean {
  return routeOf(path)?.by === 'api';
}
