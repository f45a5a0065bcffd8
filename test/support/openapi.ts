/**
 * The served OpenAPI document as a test reads it: fetched from `/api/openapi.json`, and turned
 * into a check of real answers — each body against the schema the document gives for that
 * operation and status (JSON Schema 2020-12, as OpenAPI 3.1 writes it; ajv). So a test that calls
 * the app APIs also proves the document describes what they answer.
 */
import Ajv2020 from 'ajv/dist/2020';
import type { TestServer } from './server';

export type OpenApiDocument = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { operationId: string; security?: Record<string, string[]>[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

export async function fetchOpenApi(server: TestServer): Promise<OpenApiDocument> {
  const res = await fetch(`${server.issuer}/api/openapi.json`);
  if (res.status !== 200) throw new Error(`/api/openapi.json answered ${res.status}`);
  return (await res.json()) as OpenApiDocument;
}

/** `/api/dopu/packages/6b…` → the document's `/api/dopu/packages/{id}`. */
function templateOf(document: OpenApiDocument, path: string): string | undefined {
  const bare = path.split('?')[0] ?? '';
  return Object.keys(document.paths).find((template) => new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare));
}

/** Checks answers against the document; `check` returns what does not conform (empty when it does). */
export function answerChecker(document: OpenApiDocument) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema({ $id: 'carevault-openapi', components: document.components });
  return function check(method: string, path: string, status: number, body: unknown): string[] {
    const template = templateOf(document, path);
    if (!template) return [`${path} is not in the document`];
    const operation = document.paths[template]?.[method.toLowerCase()];
    if (!operation) return [`${method} ${template} is not in the document`];
    const schema = operation.responses[String(status)]?.content?.['application/json']?.schema;
    if (!schema) return [`${method} ${template} does not document ${status}`];
    const rewritten = JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"carevault-openapi#/components/')) as object;
    const validate = ajv.compile(rewritten);
    return validate(body) ? [] : (validate.errors ?? []).map((error) => `${method} ${template} ${status}: ${error.instancePath} ${error.message ?? ''}`);
  };
}
