/**
 * The OpenAPI 3.1 document of the app APIs (https://spec.openapis.org/oas/v3.1.0), generated from
 * the operation table: each operation's path, query and body parameters come from the zod schemas
 * that check them (zod-openapi), its answer from the schema its work must return, and its refusals
 * from what every app API shares (the bearer gate, the body rules, a lost database) plus its own.
 * Security: OAuth 2.0 client credentials at the token endpoint, one scope per capability.
 */
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import type { AppOperation, Refusal } from './operations';

export const OPENAPI_PATH = '/api/openapi.json';

const SECURITY_SCHEME = 'appToken';

const apiError = z
  .object({
    error: z.string().meta({ description: 'A machine-readable code, such as `invalid_request`, `not_found` or `insufficient_scope`.' }),
    error_description: z
      .string()
      .meta({ description: 'What went wrong, in a sentence a person can read; for a refused field it starts with the field’s path.' }),
  })
  .meta({ id: 'Error', description: 'Every refusal of the app APIs.' });

const retryAfter = { description: 'Seconds to wait before trying again.', schema: { type: 'integer' as const, minimum: 0 } };
const challenge = { description: 'The Bearer (and DPoP) challenges, RFC 6750 §3 and RFC 9449 §7.1.', schema: { type: 'string' as const } };

type Documented = { description: string; headers?: Record<string, typeof retryAfter | typeof challenge> };

/** What every app API may answer, whatever it does. */
const SHARED: Readonly<Record<number, Documented>> = {
  401: {
    description: 'No access token, or one that expired, was revoked, or came without its DPoP proof (`invalid_token`, `invalid_dpop_proof`).',
    headers: { 'WWW-Authenticate': challenge },
  },
  403: {
    description: 'The token is not an app’s client-credentials token holding this API’s scope (`insufficient_scope`).',
    headers: { 'WWW-Authenticate': challenge },
  },
  500: { description: 'Something went wrong on carevault’s side (`server_error`).' },
  503: { description: 'The database does not answer for now (`temporarily_unavailable`).', headers: { 'Retry-After': retryAfter } },
};

const INVALID_INPUT =
  'A parameter or a field is not valid (`invalid_request`); the description starts with its path, such as `resources[2].resourceType:` or `limit:`.';

function refusalsOf(operation: AppOperation): Map<number, Documented> {
  const found = new Map<number, Documented>(Object.entries(SHARED).map(([status, documented]) => [Number(status), documented]));
  const add = ({ status, description }: Refusal) => {
    const before = found.get(status);
    found.set(status, { ...before, description: before ? `${before.description} ${description}` : description });
  };
  if (operation.params || operation.query || operation.body) add({ status: 400, description: INVALID_INPUT });
  if (operation.body) {
    add({ status: 400, description: 'The body is not well-formed JSON.' });
    add({ status: 413, description: `The body is larger than the API takes (\`payload_too_large\`): ${operation.body.tooLarge}` });
    add({ status: 415, description: 'The body is not JSON (`unsupported_media_type`).' });
  }
  for (const refusal of operation.refusals ?? []) add(refusal);
  const limited = found.get(429);
  if (limited) found.set(429, { ...limited, headers: { 'Retry-After': retryAfter } });
  return found;
}

function operationObject(operation: AppOperation): ZodOpenApiOperationObject {
  const responses: ZodOpenApiResponsesObject = {
    [String(operation.answer.status)]: { description: operation.answer.description, content: { 'application/json': { schema: operation.answer.schema } } },
  };
  for (const [status, documented] of [...refusalsOf(operation)].sort(([a], [b]) => a - b)) {
    responses[String(status) as `4${string}`] = { ...documented, content: { 'application/json': { schema: apiError } } };
  }
  return {
    operationId: operation.id,
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    tags: [operation.capability],
    security: [{ [SECURITY_SCHEME]: [operation.capability] }],
    requestParams: { ...(operation.params ? { path: operation.params } : {}), ...(operation.query ? { query: operation.query } : {}) },
    ...(operation.body ? { requestBody: { required: true, content: { 'application/json': { schema: operation.body.schema } } } } : {}),
    responses,
  };
}

/** `/api/dopu/packages/:id` as OpenAPI writes it: `/api/dopu/packages/{id}`. */
function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

type DocumentSettings = { issuer: string; tokenEndpoint: string; version: string; operations: readonly AppOperation[] };

export function openApiDocument({ issuer, tokenEndpoint, version, operations }: DocumentSettings) {
  const paths: ZodOpenApiPathsObject = {};
  for (const operation of operations) {
    const item = (paths[openApiPath(operation.path)] ??= {});
    item[operation.method] = operationObject(operation);
  }
  const capabilities = [...new Set(operations.map((operation) => operation.capability))];
  const document = {
    openapi: '3.1.0' as const,
    info: {
      title: 'carevault app APIs',
      version,
      description:
        'The APIs an app calls with its own client-credentials token. Lists page with `limit` and follow `next`; every refusal is JSON `{ error, error_description }`.',
    },
    servers: [{ url: issuer }],
    tags: capabilities.map((capability) => ({ name: capability, description: `Operations for apps registered with the \`${capability}\` capability.` })),
    components: {
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'oauth2' as const,
          description:
            'A client-credentials token (RFC 6749 §4.4) for the capability’s scope, from the token endpoint in the OpenID discovery document. Send it as `Authorization: Bearer …`, or as `Authorization: DPoP …` with a DPoP proof (RFC 9449) — which a DPoP-bound token requires.',
          flows: {
            clientCredentials: {
              tokenUrl: tokenEndpoint,
              scopes: Object.fromEntries(
                capabilities.map((capability) => [capability, `Call the ${capability} API (an app registered with the ${capability} capability).`]),
              ),
            },
          },
        },
      },
    },
    paths,
  };
  return createDocument(document, {
    // A `date-time` or `uuid` format says what the value is; zod's regular expression for it only
    // makes every such field a screen long.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time' || jsonSchema.format === 'uuid') delete jsonSchema.pattern;
    },
  });
}
