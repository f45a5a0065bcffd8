/**
 * Transaction and batch Bundles (`POST /fhir`), and the plan behind a record import: a Bundle's
 * entries become create, update, delete, read or search steps on one record's repository.
 *
 * A transaction is all or nothing: every entry is checked against the caller's permissions before
 * anything is written, new resources get their ids up front so `urn:uuid:` (and any other fullUrl)
 * references between entries are rewritten to them, and the steps run in one database transaction —
 * one invalid entry and nothing is written. A batch runs each entry on its own and answers each
 * with its own status. https://hl7.org/fhir/R4/http.html#transaction · https://hl7.org/fhir/R4/bundle.html
 */
import { randomUUID } from 'node:crypto';
import { DomainError, STATUS_OF } from '../errors';
import { isRecordType, type RecordType } from '../rules/catalogue';
import type { Permission } from '../rules/scopes';
import { findUnstorable } from '../security/storable-text';
import { InvalidResource } from './errors';
import { asObject, relativeReference } from './indexing';
import type { RecordRepository, StoredResource } from './repository';
import { parseSearch, type SearchQuery } from './search';
import { searchsetBundle } from './searchset';

type Json = Record<string, unknown>;

/** At most this many entries in one Bundle. */
export const MAX_ENTRIES = 1000;

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

export type Step =
  | { method: 'POST'; type: RecordType; resource: Json; id: string }
  | { method: 'PUT'; type: RecordType; id: string; resource: Json; ifMatch: number | undefined }
  | { method: 'DELETE'; type: RecordType; id: string }
  | { method: 'GET'; type: RecordType; id: string }
  | { method: 'SEARCH'; type: RecordType; query: SearchQuery };

/** What each step needs of the caller's scopes. */
export const PERMISSION_OF: Readonly<Record<Step['method'], Permission>> = { POST: 'c', PUT: 'u', DELETE: 'd', GET: 'r', SEARCH: 's' };

export type Outcome = { status: number; resource?: StoredResource; location?: string; outcome?: Json; bundle?: Json };

/** `Bundle.entry[3]: message`, keeping the kind of refusal (and its FHIRPath locations). */
export function atEntry(index: number, error: unknown): unknown {
  if (error instanceof InvalidResource) return new InvalidResource(`Bundle.entry[${index}]: ${error.message}`, error.expression.map((path) => `Bundle.entry[${index}].resource.${path}`));
  // Other refusals keep their class (a 403 keeps its WWW-Authenticate challenge); only the sentence says where.
  if (error instanceof DomainError) error.message = `Bundle.entry[${index}]: ${error.message}`;
  return error;
}

/** The Bundle's entries, checked for shape; `types` says which Bundle types are accepted. */
export function entriesOf(body: unknown, types: readonly string[]): { type: string; entries: Json[] } {
  const bundle = asObject(body);
  if (!bundle || bundle.resourceType !== 'Bundle') throw new InvalidResource('The body must be a FHIR Bundle.', ['Bundle.resourceType']);
  if (typeof bundle.type !== 'string' || !types.includes(bundle.type)) throw new InvalidResource(`Bundle.type must be ${types.join(' or ')}.`, ['Bundle.type']);
  const entries = bundle.entry ?? [];
  if (!Array.isArray(entries)) throw new InvalidResource('Bundle.entry must be a list.', ['Bundle.entry']);
  if (entries.length > MAX_ENTRIES) throw new InvalidResource(`A Bundle may hold at most ${MAX_ENTRIES} entries.`, ['Bundle.entry']);
  return {
    type: bundle.type,
    entries: entries.map((entry, index) => {
      const object = asObject(entry);
      if (!object) throw new InvalidResource(`Bundle.entry[${index}] must be an object.`, [`Bundle.entry[${index}]`]);
      return object;
    }),
  };
}

function typeAt(index: number, name: unknown): RecordType {
  if (typeof name !== 'string' || !isRecordType(name)) throw new InvalidResource(`Bundle.entry[${index}]: carevault does not hold ${String(name)} resources.`, [`Bundle.entry[${index}].request.url`]);
  return name;
}

/** One transaction or batch entry as a step (ids for new resources chosen here). */
export function stepOf(entry: Json, index: number, fhirBase?: string): Step {
  const request = asObject(entry.request);
  const method = request?.method;
  // Relative to the base, as FHIR asks; carevault's own absolute URLs are taken too.
  const rawUrl = typeof request?.url === 'string' ? request.url : undefined;
  const url = rawUrl === undefined ? undefined : (fhirBase && rawUrl.startsWith(`${fhirBase}/`) ? rawUrl.slice(fhirBase.length + 1) : rawUrl.replace(/^\//, ''));
  if (!request || typeof method !== 'string' || url === undefined) {
    throw new InvalidResource(`Bundle.entry[${index}] needs a request with a method and a url.`, [`Bundle.entry[${index}].request`]);
  }
  const [path = '', queryText] = url.split('?', 2);
  const [typeName, id, ...rest] = path.split('/');
  const resource = asObject(entry.resource);
  const needsResource = () => {
    if (!resource) throw new InvalidResource(`Bundle.entry[${index}] (${method} ${url}) needs a resource.`, [`Bundle.entry[${index}].resource`]);
    return resource;
  };
  const needsId = () => {
    if (id === undefined || !ID.test(id) || rest.length) throw new InvalidResource(`Bundle.entry[${index}]: ${method} needs a url like Observation/<id>.`, [`Bundle.entry[${index}].request.url`]);
    return id;
  };
  switch (method) {
    case 'POST':
      if (id !== undefined) throw new InvalidResource(`Bundle.entry[${index}]: POST goes to the type, like Observation.`, [`Bundle.entry[${index}].request.url`]);
      return { method, type: typeAt(index, typeName), resource: needsResource(), id: randomUUID() };
    case 'PUT': {
      const ifMatch = typeof request.ifMatch === 'string' ? /^(?:W\/)?"(\d+)"$/.exec(request.ifMatch.trim())?.[1] : undefined;
      return { method, type: typeAt(index, typeName), id: needsId(), resource: needsResource(), ifMatch: ifMatch === undefined ? undefined : Number(ifMatch) };
    }
    case 'DELETE':
      return { method, type: typeAt(index, typeName), id: needsId() };
    case 'GET':
      if (id === undefined) return { method: 'SEARCH', type: typeAt(index, typeName), query: Object.fromEntries(new URLSearchParams(queryText ?? '')) };
      return { method, type: typeAt(index, typeName), id: needsId() };
    default:
      throw new InvalidResource(`Bundle.entry[${index}]: the method must be POST, PUT, DELETE or GET.`, [`Bundle.entry[${index}].request.method`]);
  }
}

/** Rewrites every `reference` in `value` found in `targets` (fullUrl → `Type/id`). */
export function rewriteReferences(value: unknown, targets: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => rewriteReferences(item, targets));
  const object = asObject(value);
  if (!object) return value;
  const copy: Json = {};
  for (const [key, inner] of Object.entries(object)) {
    copy[key] = key === 'reference' && typeof inner === 'string' && targets.has(inner) ? targets.get(inner) : rewriteReferences(inner, targets);
  }
  return copy;
}

/**
 * Where each entry will live, by the names other entries may use for it: its fullUrl
 * (`urn:uuid:…` or an absolute URL) and, when the fullUrl ends in `Type/id`, that relative form.
 */
export function referenceTargets(entries: readonly Json[], steps: readonly Step[]): Map<string, string> {
  const targets = new Map<string, string>();
  steps.forEach((step, index) => {
    if (step.method !== 'POST' && step.method !== 'PUT') return;
    const fullUrl = entries[index]?.fullUrl;
    const to = `${step.type}/${step.id}`;
    if (typeof fullUrl === 'string') {
      targets.set(fullUrl, to);
      const relative = fullUrl.startsWith('urn:') ? undefined : relativeReference(fullUrl);
      if (relative && relative.startsWith(`${step.type}/`)) targets.set(relative, to);
    }
  });
  return targets;
}

/** What a search step needs: the base of its links and entries' fullUrl, and the types its `_include`/`_revinclude` may bring (the token's read scopes). */
export type SearchContext = { fhirBase: string; readable: (type: RecordType) => boolean };

async function run(repository: RecordRepository, step: Step, search: SearchContext): Promise<Outcome> {
  switch (step.method) {
    case 'POST': {
      const created = await repository.create(step.type, step.resource, { id: step.id });
      return { status: 201, resource: created, location: `${step.type}/${step.id}/_history/${created.versionId}` };
    }
    case 'PUT': {
      const updated = await repository.update(step.type, step.id, step.resource, step.ifMatch);
      return { status: 200, resource: updated, location: `${step.type}/${step.id}/_history/${updated.versionId}` };
    }
    case 'DELETE':
      await repository.remove(step.type, step.id);
      return { status: 204 };
    case 'GET':
      return { status: 200, resource: await repository.read(step.type, step.id) };
    case 'SEARCH': {
      const criteria = parseSearch(step.type, step.query, false);
      // The same searchset the search endpoint answers: fullUrl, _elements, self and next links.
      return { status: 200, bundle: searchsetBundle(search.fhirBase, step.type, criteria, await repository.search(step.type, criteria, search.readable)) };
    }
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 200: '200 OK', 201: '201 Created', 204: '204 No Content' };

function responseEntry(fhirBase: string, outcome: Outcome): Json {
  const resource = outcome.bundle ?? outcome.resource?.content;
  return {
    ...(outcome.resource ? { fullUrl: `${fhirBase}/${String(outcome.resource.content.resourceType)}/${String(outcome.resource.content.id)}` } : {}),
    ...(resource ? { resource } : {}),
    response: {
      status: STATUS_TEXT[outcome.status] ?? String(outcome.status),
      ...(outcome.location ? { location: outcome.location } : {}),
      ...(outcome.resource ? { etag: `W/"${outcome.resource.versionId}"`, lastModified: outcome.resource.lastUpdated.toISOString() } : {}),
      ...(outcome.outcome ? { outcome: outcome.outcome } : {}),
    },
  };
}

/** Runs `fn` in one database transaction (the repositories' own, so every write joins it). */
export type Atomically = <T>(fn: () => Promise<T>) => Promise<T>;

export type BundleDeps = {
  atomically: Atomically;
  fhirBase: string;
  /** Throws (403) unless the caller may do `permission` on `type`. */
  demand(type: RecordType, permission: Permission): void;
  /** The types the caller may read, for searches' `_include` and `_revinclude`. */
  readable(type: RecordType): boolean;
  /** The OperationOutcome for a refusal, as the API renders one. */
  outcomeOf(error: DomainError): Json;
};

/**
 * Runs a transaction's steps in one database transaction (nothing is written if one fails);
 * `options.targets` adds names for entries (an import's old ids); `options.after` runs inside it
 * too (an import's audit event).
 */
export async function runTransaction(
  atomically: Atomically,
  repository: RecordRepository,
  entries: readonly Json[],
  steps: readonly Step[],
  options: { search: SearchContext; targets?: ReadonlyMap<string, string>; after?: (outcomes: Outcome[]) => Promise<void> },
): Promise<Outcome[]> {
  const targets = new Map([...referenceTargets(entries, steps), ...(options.targets ?? [])]);
  // Rewriting walks each resource: refuse one nested too deeply (or holding unstorable text) first.
  steps.forEach((step, index) => {
    const unstorable = 'resource' in step ? findUnstorable(step.resource, step.type) : undefined;
    if (unstorable) {
      const problem = unstorable.problem === 'depth' ? 'the resource is nested too deeply' : 'text cannot contain NUL characters or broken Unicode';
      throw new InvalidResource(`Bundle.entry[${index}]: ${unstorable.path}: ${problem}.`, [`Bundle.entry[${index}].resource`]);
    }
  });
  const resolved = steps.map((step) => ('resource' in step ? { ...step, resource: rewriteReferences(step.resource, targets) as Json } : step));
  return atomically(async () => {
    const outcomes: Outcome[] = [];
    for (const [index, step] of resolved.entries()) {
      try {
        outcomes.push(await run(repository, step, options.search));
      } catch (error) {
        throw atEntry(index, error);
      }
    }
    await options.after?.(outcomes);
    return outcomes;
  });
}

/** `POST /fhir` with a transaction or batch Bundle: the response Bundle. */
export async function processBundle(deps: BundleDeps, repository: RecordRepository, body: unknown): Promise<Json> {
  const { type, entries } = entriesOf(body, ['transaction', 'batch']);
  if (type === 'transaction') {
    const steps = entries.map((entry, index) => stepOf(entry, index, deps.fhirBase));
    // Every entry's permission first: a refused one stops the transaction before any write.
    steps.forEach((step) => deps.demand(step.type, PERMISSION_OF[step.method]));
    const outcomes = await runTransaction(deps.atomically, repository, entries, steps, { search: deps });
    return { resourceType: 'Bundle', type: 'transaction-response', entry: outcomes.map((outcome) => responseEntry(deps.fhirBase, outcome)) };
  }
  const responses: Json[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const step = stepOf(entry, index, deps.fhirBase);
      deps.demand(step.type, PERMISSION_OF[step.method]);
      responses.push(responseEntry(deps.fhirBase, await run(repository, step, deps)));
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      responses.push({ response: { status: String(STATUS_OF[error.kind]), outcome: deps.outcomeOf(error) } });
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}
