/**
 * `/fhir`: the FHIR R4 RESTful API over the records — thin HTTP over fhir/service.ts. JSON only
 * (application/fhir+json), 1 MB bodies, ETags and If-Match, CORS for browser apps, and every error
 * an OperationOutcome. https://hl7.org/fhir/R4/http.html
 */
import cors from 'cors';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import { fromBodyParser } from '../http/error-handler';
import { describeError, log } from '../log';
import { isRecordType, type RecordType } from '../rules/catalogue';
import type { RecordAccess, RecordAccessResolver } from './access';
import { FhirError, InvalidResource, TooLarge, UnsupportedMediaType, operationOutcome } from './outcome';
import type { FhirService, StoredResource } from './service';
import { capabilityStatement, smartConfiguration, type Endpoints } from './smart-configuration';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

type Deps = { endpoints: Endpoints; service: FhirService; access: RecordAccessResolver; version: string };

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

function sendResource(res: Response, status: number, resource: StoredResource): void {
  res.set('ETag', `W/"${resource.versionId}"`);
  res.set('Last-Modified', resource.lastUpdated.toUTCString());
  send(res, status, resource.content);
}

function typeOf(req: Request): RecordType {
  const type = String(req.params.type);
  if (!isRecordType(type)) throw new FhirError(404, 'not-supported', `carevault does not hold ${type} resources.`);
  return type;
}

function idOf(req: Request): string {
  const id = String(req.params.id);
  if (!ID.test(id)) throw new FhirError(404, 'not-found', `${id} is not a FHIR id.`);
  return id;
}

/** `If-Match: W/"3"` → 3. */
function ifMatchVersion(req: Request): number | undefined {
  const header = req.get('If-Match');
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
  if (!match) throw new InvalidResource('If-Match must be an ETag like W/"1".');
  return Number(match[1]);
}

export function fhirRoutes({ endpoints, service, access, version }: Deps): express.Router {
  const router = express.Router();
  // Bearer tokens, no cookies: any origin may call, as SMART browser apps do.
  router.use(
    cors({
      origin: true,
      methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'If-Match', 'Prefer'],
      exposedHeaders: ['ETag', 'Location', 'Last-Modified', 'WWW-Authenticate'],
      maxAge: 600,
    }),
  );
  // Readable by apps on other origins (helmet's default is same-origin).
  router.use((_req, res, next) => {
    res.set('Cross-Origin-Resource-Policy', 'cross-origin');
    next();
  });
  const json = express.json({ type: ['application/fhir+json', 'application/json'], limit: '1mb', strict: true });
  const recordAccess = (req: Request) => access.fromHeader(req.get('Authorization'));

  router.get('/metadata', (_req, res) => send(res, 200, capabilityStatement(endpoints, version)));
  router.get('/.well-known/smart-configuration', (_req, res) => {
    res.json(smartConfiguration(endpoints));
  });

  router.get('/:type', async (req, res) => {
    const type = typeOf(req);
    const granted = await recordAccess(req);
    const strict = /handling=strict/.test(req.get('Prefer') ?? '');
    const result = await service.search(granted, type, req.query as Record<string, unknown>, strict);
    const link = (cursor?: number) => {
      const params = new URLSearchParams(result.criteria.used);
      params.set('_count', String(result.criteria.count));
      if (cursor !== undefined) params.set('_cursor', String(cursor));
      return `${endpoints.fhirBase}/${type}?${params.toString()}`;
    };
    send(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: result.total,
      link: [
        { relation: 'self', url: link(result.criteria.after) },
        ...(result.nextCursor !== undefined ? [{ relation: 'next', url: link(result.nextCursor) }] : []),
      ],
      entry: result.resources.map((resource) => ({
        fullUrl: `${endpoints.fhirBase}/${type}/${String(resource.content.id)}`,
        resource: resource.content,
        search: { mode: 'match' },
      })),
    });
  });

  router.get('/:type/:id', async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    const resource = await service.read(await recordAccess(req), type, id);
    if (req.get('If-None-Match') === `W/"${resource.versionId}"`) {
      res.status(304).set('ETag', `W/"${resource.versionId}"`).end();
      return;
    }
    sendResource(res, 200, resource);
  });

  // Writes: the token first (a refused app sends its body for nothing), then the media type, then the body.
  const authorize: RequestHandler = async (req, res, next) => {
    res.locals.access = await recordAccess(req);
    next();
  };
  const jsonOnly: RequestHandler = (req, _res, next) => {
    if (!req.is(['application/fhir+json', 'application/json'])) throw new UnsupportedMediaType();
    next();
  };

  router.post('/:type', authorize, jsonOnly, json, async (req, res) => {
    const type = typeOf(req);
    const created = await service.create(res.locals.access as RecordAccess, type, req.body);
    res.set('Location', `${endpoints.fhirBase}/${type}/${String(created.content.id)}/_history/${created.versionId}`);
    sendResource(res, 201, created);
  });

  router.put('/:type/:id', authorize, jsonOnly, json, async (req, res) => {
    sendResource(res, 200, await service.update(res.locals.access as RecordAccess, typeOf(req), idOf(req), req.body, ifMatchVersion(req)));
  });

  router.delete('/:type/:id', async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    await service.remove(await recordAccess(req), type, id);
    res.status(204).end();
  });

  router.use((req, _res, next) => {
    next(new FhirError(404, 'not-supported', `carevault has no FHIR interaction ${req.method} ${req.path}.`));
  });

  const errors: ErrorRequestHandler = (error, req, res, _next) => {
    const client = error instanceof FhirError ? undefined : fromBodyParser(error);
    let failure: FhirError;
    if (error instanceof FhirError) failure = error;
    else if (client?.status === 413) failure = new TooLarge('1 MB');
    else if (client?.status === 415) failure = new UnsupportedMediaType();
    else if (client) failure = new FhirError(client.status, client.status === 404 ? 'not-found' : 'invalid', client.description);
    else {
      log.error('unexpected FHIR error', { method: req.method, path: req.originalUrl.split('?')[0], ...describeError(error) });
      send(res, 500, operationOutcome([{ severity: 'error', code: 'exception', diagnostics: 'Something went wrong on our side. Please try again.' }]));
      return;
    }
    res.set(failure.headers);
    send(res, failure.status, failure.toOutcome());
  };
  router.use(errors);
  return router;
}
