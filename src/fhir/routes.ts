/**
 * `/fhir`: the FHIR R4 RESTful API over the records — the bearer gate resolves the token to the
 * record it reaches, the route checks the token's scopes, and the record repository does the work
 * (a read, search or create reads the token's liveness in its own statement: `gate.forRecordData`).
 * JSON only (application/fhir+json; XML asked for by `_format` or Accept is 406), 1 MB bodies, ETags
 * and If-Match, conditional create (If-None-Exist), search by GET or by POST to `_search` with a
 * form, CORS for browser apps, Bundles within their bounds (limits.ts), and every error an
 * OperationOutcome. https://hl7.org/fhir/R4/http.html · https://hl7.org/fhir/R4/search.html
 */
import cors from 'cors';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import { InsufficientScope, InvalidToken, challengeOf } from '../api/errors';
import { recordCallerOf, settleBeforeRefusing, type BearerGate, type RecordCaller } from '../api/gate';
import { DomainError, STATUS_OF, TooManyAttempts, type FailureKind } from '../errors';
import { fromBodyParser } from '../http/error-handler';
import { RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable';
import { noteFailure } from '../http/request-log';
import { entryOf, requestEntry, setEntry } from '../http/request-context';
import type { FhirPart } from '../feature';
import { isRecordType, type RecordType } from '../rules/catalogue';
import { allows, demand, permissionsOf } from './access';
import { InvalidResource, ResourceNotFound } from './errors';
import { formatRefusal } from './formats';
import { everythingBundle, parseEverything } from './everything';
import { historyBundle, historyPaging } from './history';
import { isLargeBundle, type FhirLimits } from './limits';
import { processBundle } from './transaction';
import type { RecordRepositories, StoredResource } from './repository';
import { parseCondition, parseSearch, type SearchQuery } from './search';
import { searchsetBundle } from './searchset';
import { capabilityStatement, smartConfiguration, type Endpoints } from './smart-configuration';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The size of a Bundle's body as sent, in bytes (a large Bundle counts against its app's hourly rate). */
const BUNDLE_BYTES = requestEntry('bundle bytes', () => 0);

/** `parts`: the features' own FHIR types (feature.ts, FhirPart). */
type Deps = { endpoints: Endpoints; repositories: RecordRepositories; gate: BearerGate; version: string; limits: FhirLimits; parts: readonly FhirPart[] };

/** The OperationOutcome issue type for each kind of refusal (https://hl7.org/fhir/R4/valueset-issue-type.html). */
const ISSUE_TYPE: Readonly<Record<FailureKind, string>> = {
  invalid: 'invalid',
  unauthenticated: 'login',
  forbidden: 'forbidden',
  not_found: 'not-found',
  conflict: 'conflict',
  precondition_failed: 'conflict',
  gone: 'deleted',
  too_large: 'too-costly',
  unsupported: 'not-supported',
  too_many_attempts: 'throttled',
};

/** An HTTP-level refusal of the FHIR API (unknown type or interaction, wrong media type). */
class FhirHttpError extends Error {
  constructor(
    readonly status: number,
    readonly issueType: string,
    message: string,
  ) {
    super(message);
  }
}

function operationOutcome(code: string, diagnostics: string, expression: readonly string[] = []) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics, ...(expression.length ? { expression } : {}) }],
  };
}

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
  if (!isRecordType(type)) throw new FhirHttpError(404, 'not-supported', `carevault does not hold ${type} resources.`);
  return type;
}

function idOf(req: Request): string {
  const id = String(req.params.id);
  if (!ID.test(id)) throw new FhirHttpError(404, 'not-found', `${id} is not a FHIR id.`);
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

/** The types the caller's token may read: what `_include`, `_revinclude` and `$everything` may return. */
function readableBy(caller: RecordCaller): (type: RecordType) => boolean {
  const permissions = permissionsOf(caller.scopes);
  return (type) => allows(permissions, type, 'r');
}

export function fhirRoutes({ endpoints, repositories, gate, version, limits, parts }: Deps): express.Router {
  const router = express.Router();
  // Bearer tokens, no cookies: any origin may call, as SMART browser apps do.
  router.use(
    cors({
      origin: true,
      methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'If-Match', 'If-None-Match', 'If-None-Exist', 'Prefer', 'DPoP'],
      exposedHeaders: ['ETag', 'Location', 'Last-Modified', 'WWW-Authenticate', 'DPoP-Nonce'],
      maxAge: 600,
    }),
  );
  // Readable by apps on other origins (helmet's default is same-origin).
  router.use((_req, res, next) => {
    res.set('Cross-Origin-Resource-Policy', 'cross-origin');
    next();
  });
  const json = express.json({ type: ['application/fhir+json', 'application/json'], limit: '1mb', strict: true });
  /** The record the token reaches, as the token's app, refused unless the token is live (read with the work when the gate left it). */
  const repository = (res: Response) => {
    const caller = recordCallerOf(res);
    return repositories.forRecord(caller.recordId, { kind: 'app', clientId: caller.clientId }, { liveness: caller.liveness });
  };

  router.get('/.well-known/smart-configuration', (_req, res) => {
    res.json(smartConfiguration(endpoints));
  });
  // SMART discovery above is not FHIR content; everything below is held to FHIR JSON.
  router.use((req, _res, next) => {
    const refusal = formatRefusal(req.query._format, req.get('Accept'));
    if (refusal) throw new FhirHttpError(406, 'not-supported', refusal);
    next();
  });
  const featureResources = parts.flatMap((part) => part.resources);
  router.get('/metadata', (_req, res) => send(res, 200, capabilityStatement(endpoints, version, limits.bounds, featureResources)));
  for (const part of parts) router.use(part.router);

  // Reads and deletes check the address before the token (writes check the token before their body).
  const address: RequestHandler = (req, _res, next) => {
    typeOf(req);
    if (req.params.id !== undefined) idOf(req);
    next();
  };

  /** search-type: a searchset Bundle, paged with `next` links (GET links, whichever way the search came). */
  const search = async (req: Request, res: Response, query: SearchQuery) => {
    const type = typeOf(req);
    demand(recordCallerOf(res), type, 's');
    const strict = /handling=strict/.test(req.get('Prefer') ?? '');
    const criteria = parseSearch(type, query, strict);
    const readable = readableBy(recordCallerOf(res));
    const result = await repository(res).search(type, criteria, readable);
    send(res, 200, searchsetBundle(endpoints.fhirBase, type, criteria, result));
  };

  router.get('/:type', address, gate.forRecordData, async (req, res) => {
    await search(req, res, req.query as SearchQuery);
  });

  // Search by POST (search.html#Introduction): the parameters in a form body, and any in the URL
  // too; both count as if they had all been in the query.
  const parseSearchForm = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 200 });
  const searchForm: RequestHandler = (req, res, next) => {
    parseSearchForm(req, res, (error?: unknown) => {
      const type = (error as { type?: unknown } | undefined)?.type;
      if (type === 'entity.too.large') next(new FhirHttpError(413, 'too-costly', 'The search form is larger than 16 KB.'));
      else if (type === 'parameters.too.many') next(new FhirHttpError(413, 'too-costly', 'The search form has more than 200 fields.'));
      else next(error);
    });
  };
  const formOnly: RequestHandler = (req, _res, next) => {
    if (req.is('application/x-www-form-urlencoded') === false) {
      throw new FhirHttpError(415, 'not-supported', 'Send search parameters as a form, with Content-Type application/x-www-form-urlencoded.');
    }
    next();
  };
  router.post('/:type/_search', address, gate.forRecordData, formOnly, searchForm, async (req, res) => {
    const query: SearchQuery = Object.create(null) as SearchQuery;
    for (const source of [req.query as SearchQuery, (req.body ?? {}) as SearchQuery]) {
      for (const [name, value] of Object.entries(source)) {
        query[name] = [...[query[name] ?? []].flat(), ...[value].flat()];
      }
    }
    const refusal = formatRefusal(query._format, req.get('Accept'));
    if (refusal) throw new FhirHttpError(406, 'not-supported', refusal);
    await search(req, res, query);
  });

  router.get('/:type/:id', address, gate.forRecordData, async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    demand(recordCallerOf(res), type, 'r');
    const resource = await repository(res).read(type, id);
    if (req.get('If-None-Match') === `W/"${resource.versionId}"`) {
      res.status(304).set('ETag', `W/"${resource.versionId}"`).end();
      return;
    }
    sendResource(res, 200, resource);
  });

  // vread and history-instance (http.html#vread, #history): versions, deletions included.
  router.get('/:type/:id/_history/:vid', address, gate.forRecords, async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    demand(recordCallerOf(res), type, 'r');
    const versionId = Number(req.params.vid);
    if (!/^\d{1,9}$/.test(String(req.params.vid)) || versionId < 1) throw new FhirHttpError(404, 'not-found', `${String(req.params.vid)} is not a version id.`);
    sendResource(res, 200, await repository(res).readVersion(type, id, versionId));
  });

  router.get('/:type/:id/_history', address, gate.forRecords, async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    demand(recordCallerOf(res), type, 'r');
    const paging = historyPaging(req.query);
    const page = await repository(res).history(type, id, paging);
    send(res, 200, historyBundle(endpoints.fhirBase, page, { type, id, ...paging }));
  });

  // Operations on one resource; only Patient/<id>/$everything is offered.
  router.get('/:type/:id/:operation', address, gate.forRecords, async (req, res) => {
    const caller = recordCallerOf(res);
    if (req.params.operation !== '$everything' || typeOf(req) !== 'Patient') {
      throw new FhirHttpError(404, 'not-supported', `carevault has no FHIR interaction GET ${req.path}.`);
    }
    // The token's record is its only Patient; any other id is not there for it.
    if (idOf(req) !== caller.recordId) throw new ResourceNotFound('Patient', idOf(req));
    const request = parseEverything(req.query, readableBy(caller));
    if (request.types.length === 0) throw new InsufficientScope('This app was not allowed to read any of the types asked for.', 'patient/*.r', caller.scheme);
    const page = await repository(res).everything(request.types, request);
    send(res, 200, everythingBundle(endpoints.fhirBase, caller.recordId, request, page));
  });

  // Writes: the token first (a refused app sends its body for nothing), then the media type, then the body.
  const jsonOnly: RequestHandler = (req, _res, next) => {
    if (!req.is(['application/fhir+json', 'application/json'])) {
      throw new FhirHttpError(415, 'not-supported', 'Send FHIR resources as JSON, with Content-Type application/fhir+json.');
    }
    next();
  };

  // Transaction and batch Bundles (http.html#transaction): larger bodies than one resource.
  const bundleJson = express.json({
    type: ['application/fhir+json', 'application/json'],
    limit: '5mb',
    strict: true,
    verify: (req, _res, buffer) => {
      setEntry(req, BUNDLE_BYTES, buffer.length);
    },
  });
  router.post('/', gate.forRecords, jsonOnly, bundleJson, async (req, res) => {
    const caller = recordCallerOf(res);
    const large = isLargeBundle(req.body, entryOf(req, BUNDLE_BYTES));
    const answer = await processBundle(
      {
        atomically: repositories.atomically,
        fhirBase: endpoints.fhirBase,
        bounds: limits.bounds,
        // A large Bundle counts once it is within bounds, before the work, outside any transaction.
        admit: large ? () => limits.largeBundles.consume(caller.clientId) : undefined,
        demand: (type, permission) => demand(caller, type, permission),
        readable: readableBy(caller),
        outcomeOf: (error) => operationOutcome(ISSUE_TYPE[error.kind], error.message, error instanceof InvalidResource ? error.expression : []),
      },
      repository(res),
      req.body,
    );
    send(res, 200, answer);
  });

  // create, or conditional create with If-None-Exist (http.html#ccreate): the one match is 200.
  router.post('/:type', gate.forRecordData, jsonOnly, json, async (req, res) => {
    const type = typeOf(req);
    const caller = recordCallerOf(res);
    demand(caller, type, 'c');
    const condition = req.get('If-None-Exist');
    if (condition !== undefined) {
      demand(caller, type, 's');
      const { created, resource } = await repository(res).createIfNoneExist(type, req.body, parseCondition(type, condition, 'If-None-Exist'));
      res.set('Location', `${endpoints.fhirBase}/${type}/${String(resource.content.id)}/_history/${resource.versionId}`);
      sendResource(res, created ? 201 : 200, resource);
      return;
    }
    const created = await repository(res).create(type, req.body);
    res.set('Location', `${endpoints.fhirBase}/${type}/${String(created.content.id)}/_history/${created.versionId}`);
    sendResource(res, 201, created);
  });

  router.put('/:type/:id', gate.forRecords, jsonOnly, json, async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    demand(recordCallerOf(res), type, 'u');
    sendResource(res, 200, await repository(res).update(type, id, req.body, ifMatchVersion(req)));
  });

  router.delete('/:type/:id', address, gate.forRecords, async (req, res) => {
    const type = typeOf(req);
    const id = idOf(req);
    demand(recordCallerOf(res), type, 'd');
    await repository(res).remove(type, id);
    res.status(204).end();
  });

  router.use((req, _res, next) => {
    next(new FhirHttpError(404, 'not-supported', `carevault has no FHIR interaction ${req.method} ${req.path}.`));
  });

  const render = (error: unknown, req: Request, res: Response): void => {
    if (error instanceof InvalidToken || error instanceof InsufficientScope) res.set('WWW-Authenticate', challengeOf(error));
    if (error instanceof TooManyAttempts) res.set('Retry-After', String(error.retryAfterSeconds));
    if (error instanceof DomainError) {
      send(res, STATUS_OF[error.kind], operationOutcome(ISSUE_TYPE[error.kind], error.message, error instanceof InvalidResource ? error.expression : []));
      return;
    }
    if (error instanceof FhirHttpError) {
      send(res, error.status, operationOutcome(error.issueType, error.message));
      return;
    }
    const client = fromBodyParser(error);
    if (client) {
      const issue = client.status === 413 ? 'too-costly' : client.status === 415 ? 'not-supported' : client.status === 404 ? 'not-found' : 'invalid';
      const message =
        client.status === 413
          ? req.path === '/'
            ? 'The Bundle is larger than 5 MB.'
            : 'The resource is larger than 1 MB.'
          : client.status === 415
            ? 'Send FHIR resources as JSON, with Content-Type application/fhir+json.'
            : client.description;
      send(res, client.status, operationOutcome(issue, message));
      return;
    }
    noteFailure(res, error);
    if (isDatabaseUnavailable(error)) {
      res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      send(res, 503, operationOutcome('transient', UNAVAILABLE_MESSAGE));
      return;
    }
    send(res, 500, operationOutcome('exception', 'Something went wrong on our side. Please try again.'));
  };
  const errors: ErrorRequestHandler = (error, req, res, next) => {
    settleBeforeRefusing(res, error)
      .then((refusal) => render(refusal, req, res))
      .catch(next);
  };
  router.use(errors);
  return router;
}
