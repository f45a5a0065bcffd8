/**
 * Transaction and batch Bundles (`POST /fhir`), and the plan behind a record import: a Bundle's
 * entries become create, update, delete, read or search steps on one record's repository.
 *
 * A transaction is all or nothing: every entry is checked against the caller's permissions before
 * anything is written, new resources get their ids up front so `urn:uuid:` (and any other fullUrl)
 * references between entries are rewritten to them, every resource is accepted (acceptance.ts)
 * before the database transaction opens (a few milliseconds at a time, so other requests are served in
 * between), and the steps then run in one database transaction in the order R4 prescribes —
 * deletes, creates, updates, then reads, whatever the order of the entries — one invalid entry
 * and nothing is written. A batch runs each entry on its own and answers each with its own status.
 * A create may be conditional (`request.ifNoneExist`): the one match stands in for it, and
 * references to its fullUrl point at that match.
 *
 * What one Bundle may make the server read is bounded: at most `maxReads` entries that read or
 * search (refused with 413 before any work), and at most about `maxResources` resources returned
 * by them in all (a search gets a smaller page when little is left; past it, a read or search
 * answers 413 — the whole transaction, or that batch entry).
 * https://hl7.org/fhir/R4/http.html#transaction · https://hl7.org/fhir/R4/http.html#trules ·
 * https://hl7.org/fhir/R4/http.html#ccreate · https://hl7.org/fhir/R4/bundle.html
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DomainError, STATUS_OF } from '../errors';
import { isRecordType, type RecordType } from '../rules/catalogue';
import type { Permission } from '../rules/scopes';
import { ChangedMeanwhile, InvalidResource, TooCostly } from './errors';
import { asObject, relativeReference } from './indexing';
import type { RecordRepository, StoredResource } from './repository';
import { parseCondition, parseSearch, type SearchCriteria, type SearchQuery } from './search';
import { searchsetBundle } from './searchset';

type Json = Record<string, unknown>;

/** At most this many entries in one Bundle. */
const MAX_ENTRIES = 1000;

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

export type Step =
  | { method: 'POST'; type: RecordType; resource: Json; id: string; ifNoneExist?: SearchCriteria }
  | { method: 'PUT'; type: RecordType; id: string; resource: Json; ifMatch: number | undefined }
  | { method: 'DELETE'; type: RecordType; id: string }
  | { method: 'GET'; type: RecordType; id: string }
  | { method: 'SEARCH'; type: RecordType; query: SearchQuery };

/** What each step needs of the caller's scopes. */
const PERMISSION_OF: Readonly<Record<Step['method'], Permission>> = { POST: 'c', PUT: 'u', DELETE: 'd', GET: 'r', SEARCH: 's' };

/** The permissions a step needs: a conditional create also searches. */
function permissionsFor(step: Step): Permission[] {
  return step.method === 'POST' && step.ifNoneExist ? ['c', 's'] : [PERMISSION_OF[step.method]];
}

/** R4's transaction order (http.html#trules): deletes, creates, updates, then reads and searches. */
const PROCESSING_ORDER: Readonly<Record<Step['method'], number>> = { DELETE: 0, POST: 1, PUT: 2, GET: 3, SEARCH: 3 };

export type Outcome = { status: number; resource?: StoredResource; location?: string; outcome?: Json; bundle?: Json };

/** What one Bundle may make the server read (config `fhirBundles`). */
export type BundleBounds = { maxReads: number; maxResources: number };

/** How many more resources a Bundle's reads and searches may return. */
type ResourceBudget = { left: number };

/** The work is handed back to the event loop after this long, so one large Bundle never holds it. */
const TURN_MS = 10;

/** `fn` on each item in order, letting other requests run every {@link TURN_MS} ms. */
async function inTurns<T, R>(items: readonly T[], fn: (item: T, index: number) => R): Promise<R[]> {
  const results: R[] = [];
  let turn = performance.now();
  for (const [index, item] of items.entries()) {
    results.push(fn(item, index));
    if (performance.now() - turn > TURN_MS) {
      await nextTurn();
      turn = performance.now();
    }
  }
  return results;
}

/** `Bundle.entry[3]: message`, keeping the kind of refusal (and its FHIRPath locations). */
function atEntry(index: number, error: unknown): unknown {
  if (error instanceof InvalidResource)
    return new InvalidResource(
      `Bundle.entry[${index}]: ${error.message}`,
      error.expression.map((path) => `Bundle.entry[${index}].resource.${path}`),
    );
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
  if (typeof name !== 'string' || !isRecordType(name))
    throw new InvalidResource(`Bundle.entry[${index}]: carevault does not hold ${String(name)} resources.`, [`Bundle.entry[${index}].request.url`]);
  return name;
}

/** One transaction or batch entry as a step (ids for new resources chosen here). */
export function stepOf(entry: Json, index: number, fhirBase?: string): Step {
  const request = asObject(entry.request);
  const method = request?.method;
  // Relative to the base, as FHIR asks; carevault's own absolute URLs are taken too.
  const rawUrl = typeof request?.url === 'string' ? request.url : undefined;
  const url = rawUrl === undefined ? undefined : fhirBase && rawUrl.startsWith(`${fhirBase}/`) ? rawUrl.slice(fhirBase.length + 1) : rawUrl.replace(/^\//, '');
  if (!request || typeof method !== 'string' || url === undefined) {
    throw new InvalidResource(`Bundle.entry[${index}] needs a request with a method and a url.`, [`Bundle.entry[${index}].request`]);
  }
  const [path = '', queryText] = url.split('?', 2);
  const [typeName, id, ...rest] = path.split('/');
  const resource = asObject(entry.resource);
  const ifNoneExist = request?.ifNoneExist;
  if (ifNoneExist !== undefined && method !== 'POST') {
    throw new InvalidResource(`Bundle.entry[${index}]: ifNoneExist goes with a POST (a conditional create).`, [`Bundle.entry[${index}].request.ifNoneExist`]);
  }
  if (ifNoneExist !== undefined && typeof ifNoneExist !== 'string') {
    throw new InvalidResource(`Bundle.entry[${index}]: ifNoneExist must be search parameters as text, like identifier=http://example.org|123.`, [
      `Bundle.entry[${index}].request.ifNoneExist`,
    ]);
  }
  const needsResource = () => {
    if (!resource) throw new InvalidResource(`Bundle.entry[${index}] (${method} ${url}) needs a resource.`, [`Bundle.entry[${index}].resource`]);
    return resource;
  };
  const needsId = () => {
    if (id === undefined || !ID.test(id) || rest.length)
      throw new InvalidResource(`Bundle.entry[${index}]: ${method} needs a url like Observation/<id>.`, [`Bundle.entry[${index}].request.url`]);
    return id;
  };
  switch (method) {
    case 'POST': {
      if (id !== undefined)
        throw new InvalidResource(`Bundle.entry[${index}]: POST goes to the type, like Observation.`, [`Bundle.entry[${index}].request.url`]);
      const type = typeAt(index, typeName);
      const step = { method, type, resource: needsResource(), id: randomUUID() } as const;
      if (ifNoneExist === undefined) return step;
      try {
        return { ...step, ifNoneExist: parseCondition(type, ifNoneExist, 'ifNoneExist') };
      } catch (error) {
        throw atEntry(index, error);
      }
    }
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
 * A conditional create that found its match (`matched`: entry index → id) lives there.
 */
export function referenceTargets(entries: readonly Json[], steps: readonly Step[], matched: ReadonlyMap<number, string> = new Map()): Map<string, string> {
  const targets = new Map<string, string>();
  steps.forEach((step, index) => {
    if (step.method !== 'POST' && step.method !== 'PUT') return;
    const fullUrl = entries[index]?.fullUrl;
    const to = `${step.type}/${matched.get(index) ?? step.id}`;
    if (typeof fullUrl === 'string') {
      targets.set(fullUrl, to);
      const relative = fullUrl.startsWith('urn:') ? undefined : relativeReference(fullUrl);
      if (relative && relative.startsWith(`${step.type}/`)) targets.set(relative, to);
    }
  });
  return targets;
}

/**
 * What a search step needs: the base of its links and entries' fullUrl, the types its
 * `_include`/`_revinclude` may bring (the token's read scopes), and how many resources the
 * Bundle's reads may still return (none: no bound, as for an import, which reads nothing).
 */
export type SearchContext = { fhirBase: string; readable: (type: RecordType) => boolean; budget?: ResourceBudget };

/** Refuses a read once the Bundle's reads have returned all they may. */
function assertBudgetLeft(budget: ResourceBudget | undefined): void {
  if (budget && budget.left <= 0)
    throw new TooCostly("This Bundle's reads and searches have returned as many resources as one Bundle may: ask for the rest in another request.");
}

async function run(repository: RecordRepository, step: Step, search: SearchContext): Promise<Outcome> {
  const { budget } = search;
  switch (step.method) {
    case 'POST': {
      if (step.ifNoneExist) {
        const { created, resource } = await repository.createIfNoneExist(step.type, step.resource, step.ifNoneExist, { id: step.id });
        return { status: created ? 201 : 200, resource, location: `${step.type}/${String(resource.content.id)}/_history/${resource.versionId}` };
      }
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
    case 'GET': {
      assertBudgetLeft(budget);
      const resource = await repository.read(step.type, step.id);
      if (budget) budget.left -= 1;
      return { status: 200, resource };
    }
    case 'SEARCH': {
      const criteria = parseSearch(step.type, step.query, false);
      assertBudgetLeft(budget);
      // A smaller page when little is left: its next link brings the rest.
      if (budget) criteria.count = Math.min(criteria.count, budget.left);
      const result = await repository.search(step.type, criteria, search.readable);
      if (budget) budget.left -= result.resources.length + result.included.length;
      // The same searchset the search endpoint answers: fullUrl, _elements, self and next links.
      return { status: 200, bundle: searchsetBundle(search.fhirBase, step.type, criteria, result) };
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
  bounds: BundleBounds;
  /** What the caller must pass once the Bundle is within its bounds, before any work (a per-app rate). */
  admit?: () => Promise<void>;
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
 * too (an import's audit event). Outcomes come in the order of the steps.
 */
export async function runTransaction(
  atomically: Atomically,
  repository: RecordRepository,
  entries: readonly Json[],
  steps: readonly Step[],
  options: { search: SearchContext; targets?: ReadonlyMap<string, string>; after?: (outcomes: Outcome[]) => Promise<void> },
): Promise<Outcome[]> {
  // Conditional creates first: a match stands in for its entry, in references too. Checked again
  // inside the transaction, where conditional creates take turns.
  const matched = new Map<number, string>();
  for (const [index, step] of steps.entries()) {
    if (step.method !== 'POST' || !step.ifNoneExist) continue;
    const match = await repository.conditionalMatch(step.type, step.ifNoneExist).catch((error: unknown) => {
      throw atEntry(index, error);
    });
    if (match) matched.set(index, String(match.content.id));
  }
  const targets = new Map([...referenceTargets(entries, steps, matched), ...(options.targets ?? [])]);
  // Every resource accepted before the transaction opens (it holds the embedded database's one
  // connection), a few milliseconds at a time, its references rewritten to the entries' ids. A
  // matched create writes nothing: not checked.
  const checked = await inTurns(steps, (step, index): Step => {
    if (!('resource' in step) || matched.has(index)) return step;
    try {
      const rewrite = (resource: Json) => rewriteReferences(resource, targets) as Json;
      const resource = repository.check(step.type, step.resource, { id: step.method === 'PUT' ? step.id : undefined, rewrite });
      return { ...step, resource };
    } catch (error) {
      throw atEntry(index, error);
    }
  });
  const order = [...checked.keys()].sort((a, b) => PROCESSING_ORDER[(checked[a] as Step).method] - PROCESSING_ORDER[(checked[b] as Step).method] || a - b);
  return atomically(async () => {
    const outcomes: Outcome[] = [];
    for (const index of order) {
      const step = checked[index] as Step;
      try {
        const outcome = await run(repository, step, options.search);
        if (step.method === 'POST' && step.ifNoneExist) {
          const found = outcome.status === 200 ? String(outcome.resource?.content.id) : undefined;
          if (found !== matched.get(index)) throw new ChangedMeanwhile('What ifNoneExist matches changed while the Bundle was being checked; send it again.');
        }
        outcomes[index] = outcome;
      } catch (error) {
        throw atEntry(index, error);
      }
    }
    await options.after?.(outcomes);
    return outcomes;
  });
}

/**
 * A Bundle with more entries that read or search (a conditional create searches too) than one may
 * hold is refused before any work.
 */
function assertReadsWithin(entries: readonly Json[], bounds: BundleBounds): void {
  const reads = entries.filter((entry) => {
    const request = asObject(entry.request);
    return request?.method === 'GET' || request?.ifNoneExist !== undefined;
  }).length;
  if (reads > bounds.maxReads) {
    throw new TooCostly(
      `A Bundle may hold at most ${bounds.maxReads} entries that read or search; this one has ${reads}. Send them in several Bundles, or page through one search.`,
    );
  }
}

/** `POST /fhir` with a transaction or batch Bundle: the response Bundle. */
export async function processBundle(deps: BundleDeps, repository: RecordRepository, body: unknown): Promise<Json> {
  const { type, entries } = entriesOf(body, ['transaction', 'batch']);
  assertReadsWithin(entries, deps.bounds);
  await deps.admit?.();
  const search: SearchContext = { fhirBase: deps.fhirBase, readable: deps.readable, budget: { left: deps.bounds.maxResources } };
  if (type === 'transaction') {
    const steps = await inTurns(entries, (entry, index) => stepOf(entry, index, deps.fhirBase));
    // Every entry's permission first: a refused one stops the transaction before any write.
    steps.forEach((step) => permissionsFor(step).forEach((permission) => deps.demand(step.type, permission)));
    const outcomes = await runTransaction(deps.atomically, repository, entries, steps, { search });
    return { resourceType: 'Bundle', type: 'transaction-response', entry: outcomes.map((outcome) => responseEntry(deps.fhirBase, outcome)) };
  }
  const responses: Json[] = [];
  for (const [index, entry] of entries.entries()) {
    try {
      const step = stepOf(entry, index, deps.fhirBase);
      permissionsFor(step).forEach((permission) => deps.demand(step.type, permission));
      responses.push(responseEntry(deps.fhirBase, await run(repository, step, search)));
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      responses.push({ response: { status: String(STATUS_OF[error.kind]), outcome: deps.outcomeOf(error) } });
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}
