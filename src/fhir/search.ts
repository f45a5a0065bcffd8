/**
 * FHIR search parameters carevault supports, parsed into criteria the store turns into SQL.
 * Unknown parameters are ignored (and left out of the Bundle's self link), unless the client asks
 * `Prefer: handling=strict`; `_format` is content negotiation (formats.ts), never a criterion. https://hl7.org/fhir/R4/search.html
 */
import { CATALOGUE, RECORD_TYPES, isRecordType, type RecordType } from '../rules/catalogue';
import { isCleanText } from '../security/storable-text';
import { InvalidResource } from './errors';
import { relativeReference } from './indexing';

export type DateComparison = { prefix: 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb'; start: Date; end: Date };

/** Where the next page starts: after this sequence number, and after this sort key (ms) when sorted. */
export type Cursor = { seq: number; key?: number };

/** `_include` (from the matches out) or `_revinclude` (from other resources to the matches), along one reference parameter. */
type Inclusion = { source: RecordType; param: string; target: RecordType };

export type SearchSort = { by: 'date' | 'lastUpdated'; descending: boolean };

export type SearchCriteria = {
  ids: string[][];
  /** Each inner list is one parameter: any of its values may match (OR); all lists must (AND). */
  tokens: string[][];
  dates: DateComparison[];
  lastUpdated: DateComparison[];
  /** `patient`/`subject` values; they must name the token's record or nothing matches. */
  patients: string[];
  count: number;
  /** Keyset cursor: only resources after this one in the search's order. */
  after: Cursor | undefined;
  /** `_sort`: one key; ties (and no `_sort`) in the order resources were created. */
  sort: SearchSort | undefined;
  includes: Inclusion[];
  revincludes: Inclusion[];
  /** `_summary=count`: the total only. */
  countOnly: boolean;
  /** `_elements`: the top-level elements to return of each match. */
  elements: string[] | undefined;
  /** The parameters used, for the Bundle's links. */
  used: [string, string][];
};

/** Search parameters by name, as a query string or a search form parses them (a repeated name gives a list). */
export type SearchQuery = Record<string, unknown>;

const DEFAULT_COUNT = 20;
const MAX_COUNT = 100;

/** A search with no parameters (every resource of the type, `DEFAULT_COUNT` a page): what parseSearch fills in, and what in-process readers start from. */
export function emptyCriteria(): SearchCriteria {
  return {
    ids: [],
    tokens: [],
    dates: [],
    lastUpdated: [],
    patients: [],
    count: DEFAULT_COUNT,
    after: undefined,
    sort: undefined,
    includes: [],
    revincludes: [],
    countOnly: false,
    elements: undefined,
    used: [],
  };
}

/** `_count` of a history or `$everything` page (absent: `DEFAULT_COUNT`; at least 1, at most `MAX_COUNT`). A search's own `_count` may be 0. */
export function pageCount(raw: unknown): number {
  if (raw === undefined) return DEFAULT_COUNT;
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1) throw new InvalidResource(`_count must be a whole number from 1 to ${MAX_COUNT}.`);
  return Math.min(count, MAX_COUNT);
}

/** The search parameters of a type, for the CapabilityStatement. */
export function searchParamsOf(type: RecordType): { name: string; type: 'token' | 'date' | 'reference' }[] {
  return [
    { name: '_id', type: 'token' },
    { name: '_lastUpdated', type: 'date' },
    ...Object.keys(CATALOGUE[type].tokens).map((name) => ({ name, type: 'token' as const })),
    ...(CATALOGUE[type].date ? [{ name: 'date', type: 'date' as const }] : []),
    ...CATALOGUE[type].patientParams.map((name) => ({ name, type: 'reference' as const })),
    ...Object.keys(CATALOGUE[type].references ?? {}).map((name) => ({ name, type: 'reference' as const })),
  ];
}

const DATE_VALUE = /^(eq|ne|gt|lt|ge|le|sa|eb)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** A FHIR date search value as the range its precision covers. */
export function parseDate(param: string, raw: string): DateComparison {
  const match = DATE_VALUE.exec(raw);
  if (!match) throw new InvalidResource(`${param}=${raw} is not a FHIR date, like 2024-05-01 or ge2024-05-01T10:00:00Z.`);
  const [, prefix = 'eq', year, month, day, hour, minute, second, zone] = match;
  const y = Number(year);
  const start = (mo: number, d: number, h: number, mi: number, s: number) =>
    new Date(
      `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:${String(s).padStart(2, '0')}${zone ?? 'Z'}`,
    );
  let from: Date;
  let to: Date;
  if (!month) {
    from = start(1, 1, 0, 0, 0);
    to = new Date(Date.UTC(y + 1, 0, 1));
  } else if (!day) {
    from = start(Number(month), 1, 0, 0, 0);
    to = new Date(Date.UTC(y, Number(month), 1));
  } else if (!hour) {
    from = start(Number(month), Number(day), 0, 0, 0);
    to = new Date(from.getTime() + 86_400_000);
  } else {
    from = start(Number(month), Number(day), Number(hour), Number(minute), Number(second ?? 0));
    to = new Date(from.getTime() + (second ? 1_000 : 60_000));
  }
  // Date rolls 2024-02-30 over to March: a date that does not survive the round trip is not real.
  const real = !month || !day || new Date(Date.UTC(y, Number(month) - 1, Number(day))).getUTCDate() === Number(day);
  if (Number.isNaN(from.getTime()) || !real || Number(month ?? 1) > 12) throw new InvalidResource(`${param}=${raw} is not a real date.`);
  return { prefix: prefix as DateComparison['prefix'], start: from, end: to };
}

/** The page link's `_cursor`: `seq`, or `key_seq` when sorted. */
export function formatCursor(cursor: Cursor): string {
  return cursor.key === undefined ? String(cursor.seq) : `${cursor.key}_${cursor.seq}`;
}

function parseCursor(raw: string, sorted: boolean): Cursor {
  const match = /^(?:(-?\d{1,16})_)?(\d{1,16})$/.exec(raw);
  if (!match || Boolean(match[1]) !== sorted) throw new InvalidResource('The page link is not valid; start the search again.');
  return { seq: Number(match[2]), ...(match[1] ? { key: Number(match[1]) } : {}) };
}

/** The reference parameters of `source` and the types each reaches: the patient ones, then the others. */
export function referenceParamsOf(source: RecordType): Map<string, readonly RecordType[]> {
  const entry = CATALOGUE[source];
  const params = new Map<string, readonly RecordType[]>(entry.patientParams.map((name) => [name, ['Patient'] as const]));
  for (const [name, reference] of Object.entries(entry.references ?? {})) params.set(name, reference.targets);
  return params;
}

/** The `_include` values a search of `type` takes (CapabilityStatement `searchInclude`). */
export function includesOf(type: RecordType): string[] {
  return [...referenceParamsOf(type)].flatMap(([param, targets]) =>
    targets.length === 1 ? [`${type}:${param}`] : targets.map((target) => `${type}:${param}:${target}`),
  );
}

/** The `_revinclude` values a search of `type` takes: every reference parameter of any type that reaches it. */
export function revincludesOf(type: RecordType): string[] {
  return RECORD_TYPES.flatMap((source) =>
    [...referenceParamsOf(source)].filter(([, targets]) => targets.includes(type)).map(([param]) => `${source}:${param}`),
  );
}

/**
 * `Observation:subject` or `Observation:subject:Patient`, checked against the catalogue. Without a
 * target type, a `_revinclude` along a parameter that reaches several types (`Provenance:target`)
 * reaches the type searched.
 */
function parseInclusion(name: string, raw: string, searched?: RecordType): Inclusion {
  const [source = '', param = '', target, ...rest] = raw.split(':');
  const refuse = () =>
    new InvalidResource(
      `${name}=${raw} is not supported: use Type:parameter along a reference carevault knows, like Observation:subject or DiagnosticReport:result.`,
    );
  if (rest.length || !isRecordType(source)) throw refuse();
  const targets = referenceParamsOf(source).get(param);
  if (!targets) throw refuse();
  const implied = searched !== undefined && targets.includes(searched) ? searched : targets.length === 1 ? targets[0] : undefined;
  const chosen = target === undefined ? implied : targets.find((type) => type === target);
  if (!chosen) throw refuse();
  return { source, param, target: chosen };
}

function sameInclusion(a: Inclusion, b: Inclusion): boolean {
  return a.source === b.source && a.param === b.param && a.target === b.target;
}

function values(raw: string): string[] {
  return raw
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
}

/**
 * Parses a search query for `type`.
 * @param strict `Prefer: handling=strict`: unknown parameters are an error.
 */
export function parseSearch(type: RecordType, query: SearchQuery, strict: boolean): SearchCriteria {
  const entry = CATALOGUE[type];
  const criteria = emptyCriteria();
  let cursor: string | undefined;
  for (const [name, rawValue] of Object.entries(query)) {
    for (const raw of Array.isArray(rawValue) ? rawValue : [rawValue]) {
      if (typeof raw !== 'string') continue;
      if (!isCleanText(raw) || !isCleanText(name)) throw new InvalidResource(`The search parameter ${name} holds characters that are not allowed.`);
      if (name === '_count') {
        const count = Number(raw);
        if (!Number.isInteger(count) || count < 0) throw new InvalidResource(`_count must be a whole number, at most ${MAX_COUNT}.`);
        criteria.count = Math.min(count, MAX_COUNT);
      } else if (name === '_cursor') {
        // Read once the sort is known (the cursor carries the sort key).
        cursor = raw;
        continue;
      } else if (name === '_sort') {
        const keys = values(raw);
        const [key = ''] = keys;
        const by = key.replace(/^-/, '');
        if (keys.length !== 1 || !((by === 'date' && entry.date) || by === '_lastUpdated')) {
          throw new InvalidResource(
            `_sort=${raw} is not supported on ${type}: sort by one of ${entry.date ? 'date, -date, ' : ''}_lastUpdated or -_lastUpdated.`,
          );
        }
        criteria.sort = { by: by === 'date' ? 'date' : 'lastUpdated', descending: key.startsWith('-') };
      } else if (name === '_include') {
        const inclusion = parseInclusion(name, raw);
        if (inclusion.source !== type) throw new InvalidResource(`_include=${raw} must start with ${type}, the type searched.`);
        // Each inclusion is one query: the same one twice is followed once.
        if (!criteria.includes.some((known) => sameInclusion(known, inclusion))) criteria.includes.push(inclusion);
      } else if (name === '_revinclude') {
        const inclusion = parseInclusion(name, raw, type);
        if (inclusion.target !== type) throw new InvalidResource(`_revinclude=${raw} must be a reference to ${type}, the type searched.`);
        if (!criteria.revincludes.some((known) => sameInclusion(known, inclusion))) criteria.revincludes.push(inclusion);
      } else if (name === '_summary') {
        if (raw !== 'count' && raw !== 'false')
          throw new InvalidResource(`_summary=${raw} is not supported: use _summary=count, or _elements to choose elements.`);
        criteria.countOnly = raw === 'count';
      } else if (name === '_elements') {
        const elements = values(raw);
        if (!elements.every((element) => /^[a-z][A-Za-z0-9]*(\[x\])?$/.test(element)))
          throw new InvalidResource('_elements lists top-level element names, like code,valueQuantity.');
        criteria.elements = [...(criteria.elements ?? []), ...elements];
      } else if (name === '_format') {
        // Content negotiation, checked before the search (formats.ts); not a criterion.
        continue;
      } else if (name === '_id') {
        criteria.ids.push(values(raw));
      } else if (name === '_lastUpdated') {
        criteria.lastUpdated.push(parseDate(name, raw));
      } else if (name === 'date' && entry.date) {
        criteria.dates.push(parseDate(name, raw));
      } else if (Object.hasOwn(entry.tokens, name)) {
        criteria.tokens.push(values(raw).map((value) => `${name}:${value}`));
      } else if (entry.references && Object.hasOwn(entry.references, name)) {
        // Indexed as `result:Observation/123` and `result:123` (indexing.ts); absolute URLs match by their tail.
        criteria.tokens.push(values(raw).map((value) => `${name}:${relativeReference(value) ?? value}`));
      } else if (entry.patientParams.includes(name)) {
        criteria.patients.push(...values(raw).map((value) => value.replace(/^.*Patient\//, '')));
      } else if (strict) {
        throw new InvalidResource(`carevault does not support the search parameter ${name} on ${type}.`);
      } else {
        continue;
      }
      criteria.used.push([name, raw]);
    }
  }
  if (cursor !== undefined) criteria.after = parseCursor(cursor, criteria.sort !== undefined);
  return criteria;
}

/** Parameters that shape a search's answer, not which resources match. */
const RESULT_PARAMETERS = new Set(['_count', '_cursor', '_sort', '_include', '_revinclude', '_summary', '_elements', '_format']);

/**
 * The condition of a conditional create (`If-None-Exist`, a transaction entry's
 * `request.ifNoneExist`): search parameters of `type` that say which resources match, every one
 * known (an ignored parameter would widen the match), at least one.
 * https://hl7.org/fhir/R4/http.html#ccreate
 */
export function parseCondition(type: RecordType, raw: string, where: string): SearchCriteria {
  const text = raw.trim().replace(new RegExp(`^(?:${type})?\\?`), '');
  const query: SearchQuery = Object.create(null) as SearchQuery;
  for (const [name, value] of new URLSearchParams(text)) {
    if (RESULT_PARAMETERS.has(name))
      throw new InvalidResource(`${where} takes search criteria only, like identifier=http://example.org|123; ${name} is not one.`);
    if (value.trim() === '') throw new InvalidResource(`${where}: ${name} has no value.`);
    query[name] = [...[query[name] ?? []].flat(), value];
  }
  let criteria: SearchCriteria;
  try {
    criteria = parseSearch(type, query, true);
  } catch (error) {
    throw error instanceof InvalidResource ? new InvalidResource(`${where}: ${error.message}`) : error;
  }
  if (criteria.used.length === 0)
    throw new InvalidResource(`${where} must name at least one search parameter of ${type}, like identifier=http://example.org|123.`);
  return criteria;
}
