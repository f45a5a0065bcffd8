/**
 * The front's step (http/front.ts) that times requests for the metrics: every request by area (a bounded label,
 * never the raw path), and FHIR requests by resource type, interaction (FHIR R4 RESTful API
 * §3.1.0: read, search-type, create, update, delete, capabilities) and status.
 */
import { pathOf, type FrontStep } from '../http/front';
import { OIDC_ROUTES, isProviderPath } from '../oidc/routes';
import { isRecordType } from '../rules/catalogue';
import type { Metrics } from './registry';

const API_PREFIXES = ['/api/'];
const OPERATIONS_PATHS = ['/metrics', '/readyz', '/healthz'];

/** Which part of carevault a path belongs to. */
function areaOf(path: string): string {
  if (path === OIDC_ROUTES.token) return 'token';
  if (path === OIDC_ROUTES.authorization || path.startsWith(`${OIDC_ROUTES.authorization}/`)) return 'authorization';
  if (isProviderPath(path)) return 'oauth';
  if (path === '/fhir' || path.startsWith('/fhir/')) return 'fhir';
  if (API_PREFIXES.some((prefix) => path.startsWith(prefix))) return 'api';
  if (path.startsWith('/static/')) return 'static';
  if (OPERATIONS_PATHS.includes(path)) return 'operations';
  return 'pages';
}

/** The FHIR interaction and resource type of a request under /fhir (path relative to /fhir). */
function fhirInteractionOf(method: string, path: string): { resourceType: string; interaction: string } {
  const [type = '', id, more] = path.split('/').filter(Boolean);
  if (type === 'metadata' && !id) return { resourceType: 'none', interaction: 'capabilities' };
  if (type === '.well-known') return { resourceType: 'none', interaction: 'discovery' };
  const resourceType = isRecordType(type) ? type : 'other';
  if (more !== undefined) return { resourceType, interaction: 'other' };
  if (id === '_search' && method === 'POST') return { resourceType, interaction: 'search-type' };
  if (!id) return { resourceType, interaction: method === 'GET' ? 'search-type' : method === 'POST' ? 'create' : 'other' };
  const byMethod: Record<string, string> = { GET: 'read', PUT: 'update', DELETE: 'delete' };
  return { resourceType, interaction: byMethod[method] ?? 'other' };
}

/** Times every request; mounted first so oidc-provider's answers are timed too. */
export function timeRequests(metrics: Metrics): FrontStep {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const path = pathOf(req);
    const method = req.method ?? 'GET';
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const area = areaOf(path);
      metrics.httpRequest({ area, method, status: res.statusCode }, seconds);
      if (area === 'fhir') metrics.fhirRequest({ ...fhirInteractionOf(method, path.slice('/fhir'.length)), status: res.statusCode }, seconds);
    });
    next();
  };
}
