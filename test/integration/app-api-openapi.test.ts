/**
 * The OpenAPI 3.1 document of the app APIs at `/api/openapi.json`: public, readable from any
 * origin and cacheable; valid OpenAPI 3.1 (@readme/openapi-parser); naming every app API route the
 * server's routers mount — every route registered in this process under `/api/` is recorded as
 * the server starts — and nothing it does not serve; each operation secured by the OAuth 2.0
 * client-credentials scheme with its capability's scope at the advertised token endpoint, and
 * every answer, errors included, described.
 */
import { validate, compileErrors } from '@readme/openapi-parser';
import { fetchOpenApi, type OpenApiDocument } from '../support/openapi';
import { startTestServer, type TestServer } from '../support/server';

type Route = { path: unknown; methods: Record<string, boolean> };

// Every route any express router registers while the server starts (express's own Router).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Router = require('router') as { prototype: { route(this: unknown, path: unknown): Route } };
const registered: Route[] = [];
const route = Router.prototype.route;
Router.prototype.route = function recorded(this: unknown, path: unknown) {
  const made = route.call(this, path);
  registered.push(made);
  return made;
};

let server: TestServer;
let document: OpenApiDocument;

beforeAll(async () => {
  server = await startTestServer();
  Router.prototype.route = route;
  document = await fetchOpenApi(server);
});

afterAll(async () => {
  await server?.stop();
});

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function documented(): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((method) => METHODS.includes(method))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );
}

test('served without a token, to any origin, cacheable', async () => {
  const res = await fetch(`${server.issuer}/api/openapi.json`, { headers: { origin: 'https://app.example' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  expect(res.headers.get('cache-control')).toBe('public, max-age=3600');
});

test('valid OpenAPI 3.1', async () => {
  expect(document.openapi).toBe('3.1.0');
  const result = await validate(structuredClone(document) as never);
  if (!result.valid) throw new Error(compileErrors(result));
  expect(result.valid).toBe(true);
});

test('every app API route the routers mount is in the document, and every documented operation is mounted', () => {
  const mounted = registered
    .filter(
      (entry): entry is Route & { path: string } => typeof entry.path === 'string' && entry.path.startsWith('/api/') && entry.path !== '/api/openapi.json',
    )
    .flatMap((entry) =>
      Object.keys(entry.methods)
        .filter((method) => METHODS.includes(method))
        .map((method) => `${method.toUpperCase()} ${entry.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`),
    );
  expect(mounted.length).toBeGreaterThan(0);
  expect([...new Set(mounted)].sort()).toEqual(documented().sort());
  expect(documented()).toEqual(
    expect.arrayContaining([
      'POST /api/dopu/packages',
      'GET /api/dopu/packages',
      'GET /api/dopu/packages/{id}',
      'DELETE /api/dopu/packages/{id}',
      'GET /api/connect/requests',
      'DELETE /api/connect/requests/{id}',
      'POST /api/direct/messages',
    ]),
  );
});

test('secured by client credentials at the advertised token endpoint, one scope per capability', async () => {
  const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const schemes = Object.values(document.components.securitySchemes) as {
    type: string;
    flows: { clientCredentials: { tokenUrl: string; scopes: Record<string, string> } };
  }[];
  expect(schemes).toHaveLength(1);
  const [scheme] = schemes;
  expect(scheme?.type).toBe('oauth2');
  expect(scheme?.flows.clientCredentials.tokenUrl).toBe(discovery.token_endpoint);
  expect(Object.keys(scheme?.flows.clientCredentials.scopes ?? {}).sort()).toEqual(['connect', 'direct', 'dopu']);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const operation of Object.values(item)) {
      const [requirement] = operation.security ?? [];
      const [scope] = Object.values(requirement ?? {}).flat();
      expect({ path, scope }).toEqual({ path, scope: path.split('/')[2] });
    }
  }
});

test('every answer is described, errors as { error, error_description }', () => {
  const error = document.components.schemas.Error as { properties: Record<string, unknown>; required: string[] };
  expect(error.required.sort()).toEqual(['error', 'error_description']);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const statuses = Object.keys(operation.responses);
      expect({ operation: `${method} ${path}`, shared: ['401', '403', '500', '503'].filter((status) => !statuses.includes(status)) }).toEqual({
        operation: `${method} ${path}`,
        shared: [],
      });
      if (method === 'post') expect(statuses).toEqual(expect.arrayContaining(['400', '413', '415']));
      for (const status of statuses.filter((status) => Number(status) >= 400)) {
        expect(operation.responses[status]?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/Error' });
      }
    }
  }
  // The lists take one paging contract.
  for (const list of ['/api/dopu/packages', '/api/connect/requests']) {
    const parameters = (
      document.paths[list]?.get as unknown as { parameters: { name: string; schema: { minimum?: number; maximum?: number; default?: number } }[] }
    ).parameters;
    expect(parameters.find((parameter) => parameter.name === 'limit')?.schema).toMatchObject({ minimum: 1, maximum: 100, default: 50 });
    expect(parameters.map((parameter) => parameter.name)).toEqual(expect.arrayContaining(['limit', 'cursor', 'status', 'since']));
  }
});
